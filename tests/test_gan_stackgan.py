"""StackGAN: conditioning augmentation, the two stages' shapes, the matching-aware D, stage II on a
frozen stage I, the side-by-side grid."""

import numpy as np
import pytest

from minigan import Tensor, gan
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import checkpoint, stackgan, training
from minigan.gan import stackgan_networks as nets
from minigan.gan.stackgan import StackGANTrainer
from minigan.gradcheck import gradcheck
from gan_helpers import quiet


@pytest.fixture(autouse=True)
def tiny_networks(monkeypatch):
    """Small enough for CI; the structure (stages, layers, names) stays the real one."""
    for name, value in (("c_dim", 4), ("g_width", 8), ("d_width", 8), ("res_blocks", 1)):
        monkeypatch.setattr(StackGANTrainer, name, value)


def config(tmp_path=None, name="run", **kw):
    base = {"dataset": "synthetic", "model": "stackgan", "batch_size": 16, "nz": 8, "limit": 32, "log_every": 1,
            "image_size": 28}
    if tmp_path is not None:
        base["run_dir"] = str(tmp_path / name)
    base.update(kw)
    return gan.TrainConfig(**base)


def build(shape=(1, 28, 28), **kw):
    return StackGANTrainer(config(**kw), shape, 10)


def test_kl_is_the_closed_form_and_its_gradient_is_right():
    rng = np.random.default_rng(0)
    mu, log_sigma = rng.standard_normal((5, 3)), 0.3 * rng.standard_normal((5, 3))
    kl = nets.kl_divergence(Tensor(mu), Tensor(log_sigma)).data
    sigma2 = np.exp(2 * log_sigma)
    assert kl == pytest.approx(0.5 * np.mean(np.sum(mu ** 2 + sigma2 - 1 - np.log(sigma2), axis=1)))
    assert nets.kl_divergence(Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 3)))).data == 0  # N(0, I) itself
    leaves = [Tensor(mu, requires_grad=True), Tensor(log_sigma, requires_grad=True)]
    assert gradcheck(lambda: nets.kl_divergence(*leaves), leaves, "kl").ok


def test_conditioning_augmentation_draws_around_mu_with_sigma():
    ca = nets.CondAugment(3, 2, embed_dim=4, rng=np.random.default_rng(0))
    y = Tensor(np.eye(3, dtype=np.float32)[[1] * 20000])
    with no_grad():
        c = ca(y, Tensor(np.random.default_rng(1).standard_normal((20000, 2)).astype(np.float32))).data
        h = ca.fc(ca.embed(y)).data[0]
    mu, sigma = h[:2], np.exp(h[2:])
    np.testing.assert_allclose(c.mean(axis=0), mu, atol=4 * sigma.max() / np.sqrt(20000))
    np.testing.assert_allclose(c.std(axis=0), sigma, rtol=0.03)


@pytest.mark.parametrize("shape, s1", [((1, 28, 28), 14), ((3, 32, 32), 16), ((1, 64, 64), 16)])
def test_stages_draw_at_their_sizes_and_ds_give_one_logit(shape, s1):
    trainer = build(shape)
    assert list(trainer.networks) == ["G1", "D1", "G2", "D2"] and trainer.sizes == (s1, shape[-1])
    labels = trainer.draw_labels(4)
    with no_grad():
        x1, x2 = trainer.generate_stages(trainer.draw_noise(4), labels)
        assert x1.shape == (4, shape[0], s1, s1) and x2.shape == (4,) + shape
        assert trainer.discriminate(x1, labels).shape == (4, 1) and trainer.discriminate(x2, labels).shape == (4, 1)
    assert trainer.sample(3).shape == (3,) + shape


def test_wrong_labels_are_always_wrong():
    y = np.array([0, 0, 3, 3, 3, 9, 1])
    wrong = stackgan.wrong_labels(y, 10)
    assert np.all(wrong != y) and np.all((wrong >= 0) & (wrong < 10))
    np.testing.assert_array_equal(stackgan.wrong_labels(np.array([1, 2, 3]), 10), [3, 1, 2])  # a plain roll


def test_matching_aware_d_loss_is_real_plus_half_fake_plus_half_wrong():
    trainer = build()
    for net in trainer.networks.values():
        net.eval()
    rng = np.random.default_rng(0)
    real, fake = (Tensor(rng.uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)) for _ in range(2))
    y, y_fake = rng.integers(0, 10, 6), rng.integers(0, 10, 6)
    with no_grad():
        real_logits, stacked = trainer.d_logits(real, y, fake, y_fake, d="D2")
        loss = float(trainer.loss.d_loss(real_logits, stacked).data)
        r = trainer.discriminate(real, y).data
        f = trainer.discriminate(fake, y_fake).data
        w = trainer.discriminate(real, stackgan.wrong_labels(y, 10)).data
    softplus = lambda v: np.logaddexp(0, v)  # noqa: E731  (BCE of a logit: -log sigma(v) = softplus(-v))
    expected = softplus(-r).mean() + 0.5 * (softplus(f).mean() + softplus(w).mean())
    assert loss == pytest.approx(float(expected), rel=1e-5)


def test_g_pays_the_kl_weighted():
    trainer = build(kl_weight=2.0)
    with no_grad():
        trainer.generate_stages(trainer.draw_noise(4), trainer.draw_labels(4))
    kl = trainer.networks["G1"].ca.kl.data
    assert float(trainer.penalties("G1")["kl"].data) == pytest.approx(2 * float(kl))
    assert "kl" not in trainer.penalties("D1")
    assert "kl" not in build(kl_weight=0.0).penalties("G1")
    default = build()  # no --kl-weight: the paper's lambda = 1
    with no_grad():
        default.generate_stages(default.draw_noise(4), default.draw_labels(4))
    assert float(default.penalties("G1")["kl"].data) == pytest.approx(float(default.networks["G1"].ca.kl.data))


def test_a_run_of_both_stages_then_stage_two_on_its_frozen_stage_one(tmp_path):
    first = training.train(config(tmp_path, "both", epochs=1), quiet)
    assert {"loss_D1", "loss_G1", "kl1", "loss_D2", "loss_G2", "kl2"} <= set(first.history)
    second = training.train(config(tmp_path, "two", epochs=1, stage="2", stage1=str(tmp_path / "both")), quiet)
    assert list(second.networks) == ["G1", "G2", "D2"] and "loss_D1" not in second.history
    for key, value in first.networks["G1"].state_dict().items():  # copied, then never trained
        np.testing.assert_array_equal(second.networks["G1"].state_dict()[key], value, err_msg=key)
    assert any(np.any(v != first.networks["G2"].state_dict()[k]) for k, v in second.networks["G2"].state_dict().items())
    again = checkpoint.build_trainer(str(tmp_path / "two"))  # the run holds its G1: it samples on its own
    np.testing.assert_array_equal(again.sample(4, rng=np.random.default_rng(0)),
                                  second.sample(4, rng=np.random.default_rng(0)))


def test_grid_shows_stage_one_beside_stage_two_per_class():
    trainer = build()
    x, nrow = trainer.sample_grid()
    assert nrow == 2 * stackgan.GRID_PAIRS and len(x) == 10 * nrow and x.shape[1:] == (1, 28, 28)
    stage1 = x[0::2]
    np.testing.assert_array_equal(stage1[..., 0::2, 0::2], stage1[..., 1::2, 1::2])  # 14 px drawn in 2x2 blocks
    x1 = trainer.sample_stages(z=trainer.fixed["z"][:1], labels=trainer.fixed["labels"][:1])[0]
    np.testing.assert_allclose(stage1[0, :, ::2, ::2], x1[0], atol=1e-6)  # one image, or ten: other GEMM sums


def test_stage_one_run_samples_full_size_images():
    trainer = build(stage="1")
    assert list(trainer.networks) == ["G1", "D1"]
    assert trainer.sample(2).shape == (2, 1, 28, 28)
    assert trainer.sample_grid()[1] == stackgan.GRID_PAIRS


def test_stackgan_refuses_what_it_cannot_do():
    with pytest.raises(MiniganError, match="needs a dataset with class labels"):
        StackGANTrainer(config(), (1, 28, 28), 0)
    with pytest.raises(MiniganError, match="name its run with --stage1 RUN"):
        build(stage="2")
    with pytest.raises(MiniganError, match="drop it for --stage both"):
        build(stage1="somewhere")
    with pytest.raises(MiniganError, match="compares real and fake logits in pairs"):
        build(loss="relativistic-average")


def test_a_config_saved_when_every_model_held_the_kl_weight_still_loads():
    """Older checkpoints stored kl_weight 1.0 for every model; --kl-weight is now refused off StackGAN."""
    from minigan.gan.config import TrainConfig

    old = {**TrainConfig(model="cgan").to_dict(), "kl_weight": 1.0}
    assert TrainConfig.from_dict(old).kl_weight is None
    assert TrainConfig.from_dict({**old, "model": "stackgan"}).kl_weight == 1.0


def test_eval_scores_either_stage_of_a_run_and_refuses_a_stage_it_has_not(tmp_path):
    from minigan.evaluate import samples

    training.train(config(tmp_path, "both", epochs=1), quiet)
    run = str(tmp_path / "both")
    trainer = checkpoint.build_trainer(run)
    labels = np.arange(6) % 10
    x1, x2 = trainer.sample_stages(6, labels=labels, rng=np.random.default_rng(3))
    one, got_labels, _ = samples.samples_from_checkpoint(run, 6, seed=3, stage=1)
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_array_equal(one, x1.repeat(2, axis=2).repeat(2, axis=3))  # 14 px in 2x2 blocks
    for stage in (2, None):
        np.testing.assert_array_equal(samples.samples_from_checkpoint(run, 6, seed=3, stage=stage)[0], x2)

    training.train(config(tmp_path, "one", epochs=1, stage="1"), quiet)
    with pytest.raises(MiniganError, match="trained stage I alone .* use --stage 1"):
        samples.samples_from_checkpoint(str(tmp_path / "one"), 6, stage=2)
    training.train(config(tmp_path, "cgan", epochs=1, model="cgan"), quiet)
    with pytest.raises(MiniganError, match="picks a StackGAN stage, and .* is a cgan run"):
        samples.samples_from_checkpoint(str(tmp_path / "cgan"), 6, stage=1)
    np.savez(tmp_path / "drawn.npz", images=one)
    with pytest.raises(MiniganError, match="holds samples already drawn; drop --stage"):
        samples.open_target(str(tmp_path / "drawn.npz"), stage=1)
