"""--cond concat | acgan | projection: how each D takes the label, and the class loss of the AC-GAN."""

import numpy as np
import pytest

from minigan import Tensor, gan
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import conditioning


def build(cond, arch="mlp", shape=(1, 16, 16), classes=10, **kw):
    cfg = gan.TrainConfig(dataset="synthetic", model="cgan", batch_size=8, nz=8, cond=cond, arch=arch, **kw)
    return gan.get_trainer_class("cgan")(cfg, shape, classes)


def batch(trainer, n=8, seed=0):
    rng = np.random.default_rng(seed)
    real = rng.uniform(-1, 1, (n,) + trainer.image_shape).astype(np.float32)
    return real, rng.integers(0, trainer.num_classes, n)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("cond", ["concat", "acgan", "projection"])
def test_every_cond_trains_a_step_with_one_logit_per_image(cond, arch):
    trainer = build(cond, arch)
    real, labels = batch(trainer)
    with no_grad():
        logits = trainer.discriminate(Tensor(real), labels)
    assert logits.shape == (8, 1)
    out = trainer.train_step(real, labels)
    assert np.isfinite(float(out["loss_D"])) and np.isfinite(float(out["loss_G"]))
    assert ("class_D" in out and "class_G" in out) == (cond == "acgan")


def test_projection_logit_is_psi_of_phi_plus_the_class_row_times_phi():
    trainer = build("projection")
    D = trainer.networks["D"]
    D.eval()  # dropout off: phi is a function of x
    real, labels = batch(trainer)
    with no_grad():
        logits = trainer.discriminate(Tensor(real), labels).data
        phi = D.encoder(Tensor(real)).data.reshape(8, -1)
    w, b = D.head[1].weight.data, D.head[1].bias.data  # psi
    V = D.embed.weight.data.T  # (K, F): row y is v_y
    expected = phi @ w.T + b + (V[labels] * phi).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
    with no_grad():  # another label, another logit: D hears y
        other = trainer.discriminate(Tensor(real), (labels + 1) % 10).data
    assert np.abs(other - logits).max() > 1e-4


def test_acgan_d_does_not_see_the_label_but_names_it():
    trainer = build("acgan")
    trainer.networks["D"].eval()
    real, labels = batch(trainer)
    with no_grad():
        a, classes = trainer.judge(Tensor(real), labels)
        b, _ = trainer.judge(Tensor(real), (labels + 3) % 10)
    np.testing.assert_array_equal(a.data, b.data)
    assert classes.shape == (8, 10)


def test_acgan_class_loss_is_the_cross_entropy_of_both_batches():
    trainer = build("acgan")
    trainer.networks["D"].eval()
    real, labels = batch(trainer)
    fake, fake_labels = batch(trainer, seed=1)
    with no_grad():
        trainer.d_logits(Tensor(real), labels, Tensor(fake), fake_labels)
        term = float(trainer.penalties("D")["class_D"].data)
        _, rc = trainer.judge(Tensor(real), labels)
        _, fc = trainer.judge(Tensor(fake), fake_labels)

    def ce(logits, y):
        z = logits - logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    assert term == pytest.approx(ce(rc.data, labels) + ce(fc.data, fake_labels), rel=1e-5)
    assert "class_D" not in trainer.penalties("D")  # used once, by the step that computed it


def test_acgan_pays_g_for_its_class():
    """The G step's gradient holds the class term: with it, G's loss gradient differs from the pure GAN one."""
    trainer = build("acgan")
    real, labels = batch(trainer)
    out = trainer.train_step(real, labels)
    assert float(out["class_G"]) > 0
    z = Tensor(trainer.draw_noise(8))
    fake = trainer.generate(z, labels)
    _, classes = trainer.judge(fake, labels)
    F.cross_entropy(classes, labels).backward()
    assert any(np.abs(p.grad).max() > 0 for p in trainer.networks["G"].parameters())


def test_cond_is_refused_where_it_cannot_work():
    with pytest.raises(MiniganError, match="--model dcgan has no labels"):
        gan.get_trainer_class("dcgan").check_config(gan.TrainConfig(model="dcgan", cond="acgan"))
    with pytest.raises(MiniganError, match="unknown --cond 'film'"):
        build("film")
    with pytest.raises(MiniganError, match="--feature-matching reaches into D's head"):
        build("projection", feature_matching=True)
    with pytest.raises(MiniganError, match="--kl-weight weighs StackGAN's"):
        build("concat", kl_weight=2.0)
    build("concat", feature_matching=True)  # concat keeps today's D: feature matching works


def test_one_hot():
    np.testing.assert_array_equal(conditioning.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
