"""Training techniques: one-sided label smoothing and instance noise."""

import numpy as np
import pytest
from click.testing import CliRunner

from minigan import gan
from minigan.cli import main
from minigan.errors import MiniganError
from minigan.gan import base, losses, training
from minigan.tensor import Tensor
from gan_helpers import assert_same_networks, press_ctrl_c_after_one_step, quiet, tiny, trainer_of


def softplus(x):
    return np.logaddexp(0, x)


def bce(logits, t):
    """BCE-with-logits by hand: t softplus(-l) + (1 - t) softplus(l)."""
    return np.mean(t * softplus(-logits) + (1 - t) * softplus(logits))


# -- one-sided label smoothing -------------------------------------------------------------
def test_label_smoothing_makes_the_real_target_0_9_and_leaves_fakes_alone():
    real = np.array([[2.0], [-1.0], [0.5], [-3.0]], dtype=np.float32)
    fake = np.array([[-2.0], [1.5], [0.0], [4.0]], dtype=np.float32)
    smoothed = float(losses.bce_d_loss(Tensor(real), Tensor(fake), real_target=0.9).data)
    plain = float(losses.bce_d_loss(Tensor(real), Tensor(fake)).data)
    assert smoothed == pytest.approx(bce(real, 0.9) + bce(fake, 0.0), rel=1e-6)
    assert plain == pytest.approx(bce(real, 1.0) + bce(fake, 0.0), rel=1e-6)
    # only the real term moved
    assert smoothed - plain == pytest.approx(bce(real, 0.9) - bce(real, 1.0), rel=1e-5)


def test_the_trainer_passes_the_smoothed_target_to_the_d_loss(monkeypatch):
    trainer = trainer_of(label_smoothing=0.1)
    seen = {}
    real_loss = trainer.loss.d_loss

    def spy(real, fake, **kw):
        seen.update(kw, real=real.data.copy(), fake=fake.data.copy())
        return real_loss(real, fake, **kw)

    monkeypatch.setattr(trainer, "loss", losses.GANLoss("spy", spy, trainer.loss.g_loss))
    x = np.random.default_rng(0).uniform(-1, 1, (8, 1, 16, 16)).astype(np.float32)
    out = trainer.train_step(x)
    assert seen["real_target"] == pytest.approx(0.9)
    expected = bce(seen["real"], 0.9) + bce(seen["fake"], 0.0)
    assert float(out["loss_D"]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("loss", ["hinge", "least-squares", "relativistic", "relativistic-average"])
def test_label_smoothing_is_refused_with_non_bce_losses(tmp_path, loss):
    with pytest.raises(MiniganError, match=f"--label-smoothing.*--loss {loss}"):
        training.train(tiny(tmp_path, "a", label_smoothing=0.1, loss=loss), quiet)
    assert not (tmp_path / "a").exists()


def test_label_smoothing_and_instance_noise_refuse_bad_values(tmp_path):
    with pytest.raises(MiniganError, match="--instance-noise must be 0 or more"):
        training.train(tiny(tmp_path, "a", instance_noise=-0.1), quiet)
    with pytest.raises(MiniganError, match="--label-smoothing must be 0 or more"):
        training.train(tiny(tmp_path, "a", label_smoothing=-0.1), quiet)
    with pytest.raises(MiniganError, match="--label-smoothing must be below 1"):
        training.train(tiny(tmp_path, "a", label_smoothing=1.0), quiet)


def test_cli_refuses_label_smoothing_with_hinge(tmp_path):
    result = CliRunner().invoke(main, ["train", "synthetic", "--loss", "hinge", "--label-smoothing", "0.1",
                                       "--out", str(tmp_path / "r")])
    assert result.exit_code != 0 and "--label-smoothing" in result.output and "hinge" in result.output
    help_text = CliRunner().invoke(main, ["train", "--help"]).output
    assert "--label-smoothing" in help_text and "--instance-noise" in help_text


# -- instance noise --------------------------------------------------------------------------
def capture_d_inputs(trainer, monkeypatch):
    seen = []
    original = trainer.discriminate

    def spy(x, cond=None):
        seen.append(np.array(x.data))
        return original(x, cond)

    monkeypatch.setattr(trainer, "discriminate", spy)
    return seen


def test_instance_noise_is_added_to_real_and_fake_in_both_steps(monkeypatch):
    trainer = trainer_of(instance_noise=0.5, batch_size=64, epochs=4)
    trainer.steps_per_epoch, trainer.step = 10, 10  # a quarter done: sigma = 0.5 * 0.75
    sigma = trainer.instance_noise_sigma()
    assert sigma == pytest.approx(0.375)
    x = np.random.default_rng(0).uniform(-1, 1, (64, 1, 16, 16)).astype(np.float32)
    z = Tensor(trainer.draw_noise(64))
    fake = trainer.generate(z)
    seen = capture_d_inputs(trainer, monkeypatch)
    trainer.d_step(Tensor(x), None, fake, None)
    trainer.g_step(fake, None, Tensor(x), None)
    assert len(seen) == 3  # D step: real, fake; G step: fake
    clean = [x, fake.data, fake.data]
    for got, want in zip(seen, clean):
        diff = got - want
        assert abs(diff.mean()) < 0.02 and diff.std() == pytest.approx(sigma, rel=0.03)
    assert not np.array_equal(seen[1], seen[2])  # fresh noise in each step


def test_instance_noise_anneals_to_zero_and_is_off_by_default(monkeypatch):
    trainer = trainer_of(instance_noise=0.2, epochs=2)
    assert trainer.instance_noise_sigma() == pytest.approx(0.2)  # the first step: S
    trainer.epoch = 1  # steps per epoch unknown: anneal over epochs
    assert trainer.instance_noise_sigma() == pytest.approx(0.1)
    trainer.steps_per_epoch, trainer.step = 5, 10  # all 2 * 5 steps done
    assert trainer.instance_noise_sigma() == 0.0
    plain = trainer_of()
    seen = capture_d_inputs(plain, monkeypatch)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 1, 16, 16)).astype(np.float32)
    plain.d_step(Tensor(x), None, plain.generate(Tensor(plain.draw_noise(8))), None)
    np.testing.assert_array_equal(seen[0], x)  # no noise at all when off


def test_a_trained_run_ends_with_sigma_zero(tmp_path):
    trainer = training.train(tiny(tmp_path, "a", epochs=2, instance_noise=0.3), quiet)
    assert trainer.steps_per_epoch == 2 and trainer.step == 4
    assert trainer.instance_noise_sigma() == 0.0


def test_resume_with_instance_noise_matches_a_straight_run(tmp_path):
    """Resuming a 2-epoch run from its epoch-1 checkpoint repeats the straight run bit for bit.
    (A 1-epoch run extended with --epochs 2 differs: its sigma was annealing over 1 epoch.)"""
    kw = {"instance_noise": 0.2, "label_smoothing": 0.1}
    straight = training.train(tiny(tmp_path, "a", epochs=2, **kw), quiet)
    half = str(tmp_path / "a" / "checkpoints" / "epoch_001.npz")
    resumed = training.resume(half, quiet, run_dir=str(tmp_path / "b"))
    assert resumed.step == straight.step == 4
    assert_same_networks(straight, resumed)
    assert (resumed.rngs["instance_noise"].bit_generator.state
            == straight.rngs["instance_noise"].bit_generator.state)
    with pytest.raises(MiniganError, match="--instance-noise 0.5 differs"):
        training.resume(half, quiet, run_dir=str(tmp_path / "c"), instance_noise=0.5)


def test_extending_a_run_anneals_over_the_new_total(tmp_path):
    training.train(tiny(tmp_path, "a", epochs=1, instance_noise=0.2), quiet)
    resumed = training.resume(str(tmp_path / "a"), quiet, epochs=2)
    assert resumed.step == 4 and resumed.instance_noise_sigma() == 0.0


def test_mid_epoch_resume_with_instance_noise_matches_a_straight_run(tmp_path, monkeypatch):
    straight = training.train(tiny(tmp_path, "a", epochs=1, limit=48, instance_noise=0.2), quiet)
    press_ctrl_c_after_one_step(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        training.train(tiny(tmp_path, "b", epochs=1, limit=48, instance_noise=0.2), quiet)
    monkeypatch.undo()
    resumed = training.resume(str(tmp_path / "b"), quiet)
    assert_same_networks(straight, resumed)


def test_end_to_end_with_both_techniques(tmp_path):
    trainer = gan.train(gan.TrainConfig(dataset="synthetic", epochs=1, batch_size=32, limit=64,
                                        label_smoothing=0.1, instance_noise=0.1, run_dir=str(tmp_path / "r")),
                        echo=quiet)
    assert trainer.step == 2
    for key in ("loss_D", "loss_G"):
        assert np.all(np.isfinite(trainer.history[key]))
    assert "instance_noise" in base.RNG_NAMES
