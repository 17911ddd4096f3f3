"""The Wasserstein family in the trainer: --loss wasserstein, --clip, --gp, --spectral-norm, --d-norm, RMSprop."""

import copy

import numpy as np
import pytest
from gan_helpers import assert_same_networks, quiet, tiny, trainer_of

from minigan import MiniganError, nn, optim
from minigan.gan import penalties, training


def batch(n=8, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, 16, 16)).astype(np.float32)


SETTINGS = {
    "wgan": {"loss": "wasserstein", "clip": 0.01, "d_steps": 2},
    "wgan-gp": {"loss": "wasserstein", "gp": "wgan-gp", "d_norm": "layer", "d_steps": 2},
    "dragan": {"gp": "dragan"},
    "r1": {"gp": "r1"},
    "r2": {"gp": "r2", "model": "cgan"},
    "spectral-norm": {"spectral_norm": True},
    "wgan-gp gan": {"loss": "wasserstein", "gp": "wgan-gp", "model": "gan"},
    "wgan-gp cgan conv": {"loss": "wasserstein", "gp": "wgan-gp", "model": "cgan", "arch": "conv",
                          "d_norm": "instance"},
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_each_option_trains_end_to_end(tmp_path, name):
    trainer = training.train(tiny(tmp_path, "run", epochs=2, **SETTINGS[name]), quiet)
    losses = np.array(trainer.history["loss_D"])
    assert trainer.step == 4 and np.isfinite(losses).all()
    if "gp" in SETTINGS[name]:
        assert np.isfinite(trainer.history["gp"]).all() and max(trainer.history["gp"]) > 0
    assert (tmp_path / "run" / "checkpoints" / "epoch_002.npz").exists()


def test_clip_keeps_every_weight_of_d_in_the_box_and_uses_rmsprop():
    trainer = trainer_of(loss="wasserstein", clip=0.01)
    assert all(isinstance(o, optim.RMSprop) for o in trainer.optimizers.values())
    trainer.train_step(batch())
    weights = np.concatenate([p.data.ravel() for p in trainer.networks["D"].parameters()])
    assert np.abs(weights).max() <= 0.01 + 1e-9 and (np.abs(weights) == np.float32(0.01)).any()
    assert isinstance(trainer_of(loss="wasserstein", clip=0.01, optimizer="adam").optimizers["D"], optim.Adam)


def test_r1_term_of_the_step_is_the_penalty_of_d_before_its_update():
    trainer = trainer_of(gp="r1", gp_weight=3.0)
    D_before, real = copy.deepcopy(trainer.networks["D"]), batch()
    out = trainer.train_step(real)
    expected = penalties.zero_centred(lambda x: D_before(x), real, 3.0)
    assert float(out["gp"]) == pytest.approx(expected.item(), rel=1e-5)


def test_the_penalty_reaches_d_weights_through_the_double_backward():
    """Same step with and without R1 at a huge weight: D's update must differ (the penalty's gradient
    w.r.t. D's weights exists only through the recorded backward)."""
    plain, penalised = trainer_of(), trainer_of(gp="r1", gp_weight=1000.0)
    plain.train_step(batch()), penalised.train_step(batch())
    a = plain.networks["D"].parameters()[0].data
    b = penalised.networks["D"].parameters()[0].data
    assert not np.allclose(a, b, atol=1e-6)


def test_spectral_norm_wraps_every_conv_and_linear_of_d():
    D = trainer_of(spectral_norm=True).networks["D"]
    wrapped = [m for m in D.modules() if isinstance(m, nn.utils.SpectralNorm)]
    bare = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(wrapped) == len(bare) == 3  # two convolutions and the head's Linear
    assert all(any(w.module is m for w in wrapped) for m in bare)


@pytest.mark.parametrize("norm, kind", [("layer", nn.LayerNorm), ("instance", nn.InstanceNorm2d), ("none", None)])
def test_d_norm_swaps_batch_norm_of_d(norm, kind):
    D = trainer_of(d_norm=norm).networks["D"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert (kind is None) or any(isinstance(m, kind) for m in D.modules())


BAD = [
    ({"clip": 0.01}, "--clip bounds a Wasserstein critic"),
    ({"loss": "wasserstein", "clip": -1.0}, "--clip must be 0"),
    ({"gp": "wgan-gp"}, "use it with --loss wasserstein"),
    ({"loss": "wasserstein", "gp": "wgan-gp"}, "batch norm in D mixes the images"),
    ({"loss": "wasserstein", "gp": "wgan-gp", "d_norm": "layer", "clip": 0.01}, "replaces weight clipping"),
    ({"loss": "turing", "gp": "r1"}, "judges pairs of images"),
    ({"gp": "r1", "gp_weight": 0.0}, "--gp-weight must be positive"),
    ({"gp": "r3"}, "unknown --gp 'r3'"),
    ({"optimizer": "adagrad"}, "unknown --optimizer 'adagrad'"),
    ({"d_norm": "group"}, "unknown --d-norm 'group'"),
    ({"model": "gan", "d_norm": "layer"}, "--d-norm chooses the norm in DCGAN's discriminator"),
    ({"model": "lapgan", "image_size": 28, "gp": "r1"}, "--gp r1 works with one generator and one discriminator"),
    ({"model": "lapgan", "image_size": 28, "spectral_norm": True}, "--spectral-norm works with one generator"),
]


@pytest.mark.parametrize("settings, message", BAD, ids=[m for _, m in BAD])
def test_impossible_combinations_are_refused_before_any_data_loads(tmp_path, monkeypatch, settings, message):
    from minigan import data

    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data was loaded"))
    with pytest.raises(MiniganError, match=message):
        training.train(tiny(tmp_path, "run", **settings), quiet)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("settings", [
    {"loss": "wasserstein", "gp": "wgan-gp", "d_norm": "layer", "spectral_norm": True, "d_steps": 2},
    {"loss": "wasserstein", "clip": 0.02},
    {"gp": "dragan", "model": "cgan", "arch": "conv"},
])
def test_resume_is_bit_exact(tmp_path, settings):
    straight = training.train(tiny(tmp_path, "a", epochs=3, **settings), quiet)
    half = str(tmp_path / "a" / "checkpoints" / "epoch_001.npz")
    resumed = training.resume(half, quiet, run_dir=str(tmp_path / "b"))
    assert resumed.step == straight.step == 6
    assert_same_networks(straight, resumed)
    assert straight.history["loss_D"] == resumed.history["loss_D"]
