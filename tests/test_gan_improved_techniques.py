"""The techniques of techniques.py and the T-GAN loss: values by hand, the trainer's wiring,
refusals, a few steps end to end of each, and exact resume with their saved state."""

import numpy as np
import pytest
from click.testing import CliRunner

from minigan import nn
from minigan.cli import main
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import losses, techniques, training
from minigan.gan.networks import Discriminator
from minigan.gradcheck import gradcheck
from minigan.tensor import Tensor
from gan_helpers import assert_same_networks, quiet, tiny, trainer_of


def softplus(x):
    return np.logaddexp(0, x)


def images(n=8, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, 16, 16)).astype(np.float32)


# -- T-GAN --------------------------------------------------------------------------------------
def test_turing_losses_by_hand_and_their_gradients():
    rf = np.array([[1.5], [-0.5], [0.2]])  # T(x_r, x_f)
    fr = np.array([[-1.0], [0.3], [2.0]])  # T(x_f, x_r)
    d = float(losses.bce_d_loss(Tensor(rf), Tensor(fr)).data)
    g = float(losses.turing_g_loss(Tensor(fr), Tensor(rf)).data)
    assert d == pytest.approx(np.mean(softplus(-rf)) + np.mean(softplus(fr)))
    assert g == pytest.approx(np.mean(softplus(-fr)) + np.mean(softplus(rf)))
    a, b = Tensor(fr.copy()), Tensor(rf.copy())
    assert gradcheck(lambda: losses.turing_g_loss(a, b), [a, b]).ok
    # d/d fake of BCE(fake, 1) = (sigmoid(fake) - 1) / n
    a.grad = None
    losses.turing_g_loss(a, Tensor(rf)).backward()
    np.testing.assert_allclose(a.grad.data, (1 / (1 + np.exp(-fr)) - 1) / 3)


def test_pairwise_logits_are_the_head_on_feature_differences():
    trainer = trainer_of("gan", loss="turing")
    D = trainer.networks["D"]
    assert isinstance(D, Discriminator) and isinstance(D.head, nn.Linear)
    f_r, f_f = np.random.default_rng(1).standard_normal((2, 4, D.num_features)).astype(np.float32)
    rf, fr = trainer.pairwise_logits(Tensor(f_r), Tensor(f_f))
    W, b = D.head.weight.data, D.head.bias.data
    np.testing.assert_allclose(rf.data, (f_r - f_f) @ W.T + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fr.data, (f_f - f_r) @ W.T + b, rtol=1e-5, atol=1e-5)


def test_turing_d_step_feeds_the_pairs_to_the_bce_loss(monkeypatch):
    trainer = trainer_of(loss="turing")
    seen = {}
    real_loss = trainer.loss

    def spy(real, fake):
        seen.update(real=real.data.copy(), fake=fake.data.copy())
        return real_loss.d_loss(real, fake)

    monkeypatch.setattr(trainer, "loss", losses.GANLoss("spy", spy, real_loss.g_loss, True, True))
    x = images()
    fake = trainer.generate(Tensor(trainer.draw_noise(8)))
    D = trainer.networks["D"]
    with no_grad():  # D before its update: the logits the step saw (D is in train mode: same BN batch stats)
        rf, fr = trainer.pairwise_logits(D.features(Tensor(x)), D.features(Tensor(fake.data)))
    out = trainer.d_step(Tensor(x), None, fake, None)
    np.testing.assert_allclose(seen["real"], rf.data, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(seen["fake"], fr.data, rtol=1e-5, atol=1e-5)
    assert float(out["loss_D"]) == pytest.approx(np.mean(softplus(-rf.data)) + np.mean(softplus(fr.data)), rel=1e-5)


# -- feature matching -----------------------------------------------------------------------
def test_feature_matching_loss_by_hand():
    rng = np.random.default_rng(0)
    f_r, f_f = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    value = float(techniques.feature_matching_loss(Tensor(f_r), Tensor(f_f)).data)
    assert value == pytest.approx(np.sum((f_r.mean(0) - f_f.mean(0)) ** 2) / 5)  # over F = 5 features
    fake = Tensor(f_f.copy())
    assert gradcheck(lambda: techniques.feature_matching_loss(Tensor(f_r), fake), [fake]).ok


def test_feature_matching_replaces_g_loss_and_moves_g_only(monkeypatch):
    trainer = trainer_of(feature_matching=True)
    seen = []
    original = techniques.feature_matching_loss

    def spy(f_real, f_fake):
        seen.append((f_real, f_fake))
        return original(f_real, f_fake)

    monkeypatch.setattr(techniques, "feature_matching_loss", spy)
    x = images()
    fake = trainer.generate(Tensor(trainer.draw_noise(8)))
    d_before = {k: v.copy() for k, v in trainer.networks["D"].state_dict().items() if "running" not in k}
    out = trainer.g_step(fake, None, Tensor(x), None)
    (f_real, f_fake), = seen
    assert f_real.creator is None and f_fake.creator is not None  # data's features are a constant
    assert f_real.shape == f_fake.shape == (8,) + trainer.networks["D"].feature_shape
    expected = np.mean((f_real.data.mean(0) - f_fake.data.mean(0)) ** 2)
    assert float(out["loss_G"]) == pytest.approx(expected, rel=1e-4)
    after = trainer.networks["D"].state_dict()
    assert all(np.array_equal(v, after[k]) for k, v in d_before.items())  # D frozen in the G step


# -- minibatch discrimination -------------------------------------------------------------------
def test_minibatch_discrimination_goes_into_d_head():
    trainer = trainer_of(minibatch_discrimination=6)
    D = trainer.networks["D"]
    mbd = [m for m in D.head.modules() if isinstance(m, nn.MinibatchDiscrimination)]
    assert len(mbd) == 1 and mbd[0].T.shape == (D.num_features, 6 * techniques.MBD_KERNEL_DIM)
    assert D.head[2].in_features == D.num_features + 6
    assert any(p is mbd[0].T for p in trainer.optimizers["D"].params)  # trained with D
    with no_grad():
        logits = trainer.discriminate(Tensor(images()))
    assert logits.shape == (8, 1)


def test_minibatch_discrimination_makes_d_see_the_batch():
    """The same image gets another logit in another batch: D sees how alike the batch is."""
    trainer, plain = trainer_of(minibatch_discrimination=6), trainer_of()
    x = images(8)
    x_same = np.repeat(x[:1], 8, axis=0)  # a collapsed batch
    for t, changes in ((trainer, True), (plain, False)):
        t.networks["D"].eval()
        with no_grad():
            a, b = t.discriminate(Tensor(x)).data[0], t.discriminate(Tensor(x_same)).data[0]
        assert (not np.allclose(a, b)) == changes


# -- virtual batch norm -----------------------------------------------------------------------
def test_vbn_replaces_g_batch_norm_and_makes_samples_independent_of_their_batch():
    trainer = trainer_of(vbn=True)
    G = trainer.networks["G"]
    assert isinstance(G, nn.ReferenceBatch)
    assert not any(isinstance(m, nn.BatchNorm) for m in G.modules())
    batch_norms = sum(isinstance(m, nn.BatchNorm) for m in trainer_of().networks["G"].modules())
    assert sum(isinstance(m, nn.VirtualBatchNorm) for m in G.modules()) == batch_norms == 2
    assert G.reference_0.shape == (techniques.VBN_REFERENCE_SIZE, 8)
    z = trainer.draw_noise(6)
    with no_grad():  # even in training mode, an example's image does not depend on its batch mates
        one = trainer.generate(Tensor(z[:1])).data
        all6 = trainer.generate(Tensor(z)).data
    np.testing.assert_allclose(one[0], all6[0], rtol=1e-5, atol=1e-6)


def test_vbn_for_cgan_keeps_reference_labels():
    trainer = trainer_of("cgan", vbn=True)
    G = trainer.networks["G"]
    assert G.reference_1.shape == (techniques.VBN_REFERENCE_SIZE, 10)
    np.testing.assert_array_equal(G.reference_1.sum(axis=1), 1)  # one-hot
    trainer.train_step(images(), np.arange(8) % 10)


# -- historical averaging -----------------------------------------------------------------------
def test_historical_average_penalty_and_gradient_by_hand():
    p = nn.Parameter(np.array([1.0, 2.0]))
    average = techniques.HistoricalAverage([p], weight=0.5)
    assert float(average.penalty().data) == 0.0  # the mean of theta[1] alone is theta
    p.data[...] = [3.0, 2.0]
    penalty = average.penalty()  # mean of (1, 2) and (3, 2) is (2, 2)
    assert float(penalty.data) == pytest.approx(0.5 * ((3 - 2) ** 2 + 0))
    penalty.backward()
    np.testing.assert_allclose(p.grad.data, [2 * 0.5 * (3 - 2), 0.0])
    p.data[...] = [5.0, 5.0]
    assert float(average.penalty().data) == pytest.approx(0.5 * ((5 - 3) ** 2 + (5 - 3) ** 2))  # mean (3, 3)
    state = average.state_dict()
    other = techniques.HistoricalAverage([nn.Parameter(np.zeros(2))], weight=0.5)
    other.load_state_dict(state)
    assert other.count == 3
    np.testing.assert_allclose(other.averages[0], [3.0, 3.0])


def test_historical_averaging_is_added_to_both_losses():
    trainer = trainer_of(historical_averaging=0.1)
    assert set(trainer.states) == {"historical_average:G", "historical_average:D"}
    first = trainer.train_step(images())
    assert float(first["hist_avg_D"]) == 0.0 and float(first["hist_avg_G"]) == 0.0
    second = trainer.train_step(images(seed=1))
    assert float(second["hist_avg_D"]) > 0 and float(second["hist_avg_G"]) > 0


# -- replay buffer -----------------------------------------------------------------------------
def test_replay_buffer_fills_then_swaps_half_a_batch():
    rng = np.random.default_rng(0)
    buffer = techniques.ReplayBuffer(6, rng)
    batches = [np.full((4, 1, 2, 2), float(i), np.float32) for i in range(4)]
    labels = [np.full(4, i, np.int64) for i in range(4)]
    x0, y0 = buffer.mix(Tensor(batches[0]), labels[0])
    np.testing.assert_array_equal(x0.data, batches[0])  # filling: D sees the current fakes
    buffer.mix(Tensor(batches[1]), labels[1])
    assert buffer.size == 6 and sorted(buffer.images[:, 0, 0, 0].tolist()) == [0, 0, 0, 0, 1, 1]
    x2, y2 = buffer.mix(Tensor(batches[2]), labels[2])
    old = x2.data[:2, 0, 0, 0]
    assert set(old.tolist()) <= {0.0, 1.0} and np.all(x2.data[2:] == 2)  # half old, half current
    np.testing.assert_array_equal(y2[:2], old.astype(np.int64))  # labels travel with their images
    np.testing.assert_array_equal(y2[2:], 2)
    assert sorted(buffer.images[:, 0, 0, 0].tolist()).count(2.0) == 2  # the current half took their slots
    np.testing.assert_array_equal(buffer.labels, buffer.images[:, 0, 0, 0].astype(np.int64))
    assert x2.creator is None  # no graph back into G
    np.testing.assert_array_equal(batches[2], 2)  # G's output is never written to
    state = buffer.state_dict()
    other = techniques.ReplayBuffer(6, np.random.default_rng(0))
    other.load_state_dict(state)
    assert other.size == 6
    np.testing.assert_array_equal(other.images, buffer.images)


def test_replay_feeds_d_and_leaves_g_its_fakes(monkeypatch):
    trainer = trainer_of(replay=8)
    calls = []
    d_step, g_step = trainer.d_step, trainer.g_step
    monkeypatch.setattr(trainer, "d_step", lambda real, cond, fake, fc: calls.append(("D", fake.data.copy()))
                        or d_step(real, cond, fake, fc))
    monkeypatch.setattr(trainer, "g_step", lambda fake, fc, real, cond: calls.append(("G", fake.data.copy()))
                        or g_step(fake, fc, real, cond))
    trainer.train_step(images(seed=0))  # fills the buffer (8 of 8)
    trainer.train_step(images(seed=1))
    (_, d1), (_, g1), (_, d2), (_, g2) = calls
    np.testing.assert_array_equal(d1, g1)
    assert not np.array_equal(d2[:4], g2[:4]) and np.array_equal(d2[4:], g2[4:])


# -- mixture latent -----------------------------------------------------------------------------
def test_mixture_latent_draws_noise_and_one_hot_and_trains_its_parameters():
    trainer = trainer_of(latent="mixture", components=3)
    v = trainer.draw_noise(50)
    assert v.shape == (50, 8 + 3)
    np.testing.assert_array_equal(v[:, 8:].sum(axis=1), 1)
    assert set(np.argmax(v[:, 8:], axis=1).tolist()) == {0, 1, 2}
    latent = techniques.mixture_latent_of(trainer.networks["G"])
    assert latent.mu.shape == latent.sigma.shape == (3, 8)
    mu0, sigma0 = latent.mu.data.copy(), latent.sigma.data.copy()
    out = trainer.train_step(images())
    assert float(out["sigma_penalty"]) == pytest.approx(np.mean((1 - sigma0) ** 2) / 3, rel=1e-5)
    assert not np.array_equal(latent.mu.data, mu0) and not np.array_equal(latent.sigma.data, sigma0)  # G's Adam
    x, _ = trainer.sample_grid()
    assert x.shape[0] == trainer.grid_size


def test_limit_per_class_trains_on_n_images_of_each_class(tmp_path):
    trainer = training.train(tiny(tmp_path, "a", limit=None, limit_per_class=3, latent="mixture", components=4),
                             quiet)
    assert trainer.steps_per_epoch == 30 // 16


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("settings, message", [
    ({"model": "lapgan", "image_size": 28, "loss": "turing"}, "--loss turing needs a discriminator with an encoder"),
    ({"model": "lapgan", "image_size": 28, "feature_matching": True}, "--feature-matching needs a discriminator"),
    ({"model": "lapgan", "image_size": 28, "minibatch_discrimination": 4}, "--minibatch-discrimination needs"),
    ({"model": "lapgan", "image_size": 28, "vbn": True}, "--vbn works with a model of one generator"),
    ({"model": "lapgan", "image_size": 28, "replay": 32}, "--replay works with a model of one generator"),
    ({"model": "lapgan", "image_size": 28, "latent": "mixture"}, "--latent mixture works with a model of one"),
    ({"latent": "mixture", "components": 0}, "a mixture latent needs --components K of 1 or more, not 0"),
    ({"loss": "turing", "minibatch_discrimination": 4}, "--minibatch-discrimination compares the images"),
    ({"replay": -1}, "--replay must be 0"),
    ({"replay": 8}, "--replay 8 holds less than one batch"),
    ({"historical_averaging": -0.1}, "--historical-averaging must be 0"),
    ({"limit_per_class": 0}, "--limit-per-class must be positive"),
])
def test_incompatible_options_are_refused_before_training(tmp_path, settings, message):
    with pytest.raises(MiniganError, match=message):
        training.train(tiny(tmp_path, "a", **settings), quiet)
    assert not (tmp_path / "a").exists()


def test_cli_refuses_a_pairwise_loss_without_an_encoder(tmp_path):
    result = CliRunner().invoke(main, ["train", "synthetic", "--model", "lapgan", "--loss", "turing",
                                       "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "needs a discriminator with an encoder" in result.output
    result = CliRunner().invoke(main, ["train", "synthetic", "--latent", "mixture", "--components", "0",
                                       "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--components K of 1 or more" in result.output


# -- end to end and resume -----------------------------------------------------------------------
@pytest.mark.parametrize("model, settings", [
    ("dcgan", {"feature_matching": True}),
    ("dcgan", {"minibatch_discrimination": 8}),
    ("dcgan", {"vbn": True}),
    ("dcgan", {"historical_averaging": 0.1}),
    ("dcgan", {"replay": 24}),
    ("dcgan", {"latent": "mixture", "components": 3}),
    ("dcgan", {"loss": "turing"}),
    ("gan", {"loss": "turing", "feature_matching": True, "historical_averaging": 0.01}),
    ("cgan", {"vbn": True, "replay": 24, "latent": "mixture", "minibatch_discrimination": 4}),
    ("lapgan", {"historical_averaging": 0.01, "image_size": 28}),
])
def test_each_technique_trains_end_to_end_on_synthetic_data(tmp_path, model, settings):
    trainer = training.train(tiny(tmp_path, "a", model=model, epochs=1, **settings), quiet)
    assert trainer.step == 2
    losses_seen = [k for k in trainer.history if k.startswith("loss_")]
    assert len(losses_seen) >= 2 and all(np.all(np.isfinite(trainer.history[k])) for k in losses_seen)
    assert (tmp_path / "a" / "samples" / "epoch_001.png").exists()


@pytest.mark.parametrize("model, settings", [
    ("dcgan", {"historical_averaging": 0.05, "replay": 20, "vbn": True, "latent": "mixture", "components": 3,
               "minibatch_discrimination": 4, "feature_matching": True}),
    ("cgan", {"replay": 20, "loss": "turing"}),
])
def test_resume_with_the_techniques_matches_a_straight_run(tmp_path, model, settings):
    straight = training.train(tiny(tmp_path, "a", model=model, epochs=3, **settings), quiet)
    half = str(tmp_path / "a" / "checkpoints" / "epoch_001.npz")
    resumed = training.resume(half, quiet, run_dir=str(tmp_path / "b"))
    assert resumed.step == straight.step == 6
    assert_same_networks(straight, resumed)
    for name, state in straight.states.items():
        for key, value in state.state_dict().items():
            np.testing.assert_array_equal(np.asarray(resumed.states[name].state_dict()[key]), np.asarray(value))
    assert straight.history["loss_G"] == resumed.history["loss_G"]


def test_a_discriminator_saved_before_the_encoder_head_split_still_loads():
    """A checkpoint of the previous layout (D the plain Sequential of dcgan_discriminator, keys "0.weight",
    ...) keeps loading: the same arrays in the same order."""
    from minigan.gan import networks

    old = networks.dcgan_discriminator(16, 1)
    nn.init.dcgan_(old, np.random.default_rng(3))
    D = trainer_of().networks["D"]
    D.load_state_dict(old.state_dict())
    old.eval(), D.eval()
    x = Tensor(images())
    with no_grad():
        np.testing.assert_array_equal(D(x).data, old(x).data)
    with pytest.raises(MiniganError, match="missing keys"):
        D.load_state_dict(dict(list(old.state_dict().items())[:-1]))
