"""The semi-supervised GAN (gan/ssgan.py): its losses against the paper's formulas, the labelled
images, the shuffled streams, the moving averages (gan/averaging.py), training, exact resume, the
supervised-only baseline and `minigan eval`'s test errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from minigan import Tensor, gan
from minigan.cli import main
from minigan.errors import MiniganError
from minigan.gan import averaging, checkpoint, ssgan, training
from minigan.evaluate.report import classifier_report

from gan_helpers import assert_same_networks, press_ctrl_c_after_one_step, quiet, tiny


def ss_config(tmp_path, name, **kw):
    """A seconds-long semi-supervised run on the synthetic shapes (10 classes, 16 px)."""
    settings = {"model": "ssgan", "labels": 20, "batch_size": 20, "lr": 0.003, "ema_d": 0.9999, "limit": 100}
    settings.update(kw)
    return tiny(tmp_path, name, **settings)


def test_losses_are_the_papers_in_terms_of_d():
    rng = np.random.default_rng(0)
    lab, unl, fake = (rng.standard_normal((6, 10)) for _ in range(3))
    y = rng.integers(0, 10, 6)
    loss_lab, loss_unl = ssgan.semi_supervised_losses(Tensor(lab), y, Tensor(unl), Tensor(fake))
    softmax = np.exp(lab) / np.exp(lab).sum(1, keepdims=True)
    np.testing.assert_allclose(loss_lab.data, -np.log(softmax[np.arange(6), y]).mean(), rtol=1e-10)

    def d(logits):  # D(x) = Z / (Z + 1): the fake class's logit is 0
        z = np.exp(logits).sum(1)
        return z / (z + 1)

    expected = -0.5 * np.log(d(unl)).mean() - 0.5 * np.log(1 - d(fake)).mean()
    np.testing.assert_allclose(loss_unl.data, expected, rtol=1e-10)


def test_labelled_images_are_balanced_seeded_and_refused_when_short():
    labels = np.arange(1000) % 10
    a = ssgan.select_labelled(labels, 50, 10, seed=0)
    assert len(set(a)) == 50 and np.bincount(labels[a], minlength=10).tolist() == [5] * 10
    np.testing.assert_array_equal(a, ssgan.select_labelled(labels, 50, 10, seed=0))
    assert set(a) != set(ssgan.select_labelled(labels, 50, 10, seed=1))
    with pytest.raises(MiniganError, match="needs 200 images of class 0"):
        ssgan.select_labelled(labels, 2000, 10, seed=0)


def test_shuffled_stream_visits_every_item_once_per_cycle_and_resumes_exactly():
    stream = ssgan.Shuffled(6, 4, np.random.default_rng(0))
    first = np.concatenate([stream.next() for _ in range(3)])  # 12 = two cycles of 6
    assert sorted(first[:6]) == list(range(6)) and sorted(first[6:]) == list(range(6))
    state = {k: v.copy() for k, v in stream.state_dict().items()}
    rng_state = stream.rng.bit_generator.state
    ahead = [stream.next() for _ in range(3)]
    again = ssgan.Shuffled(6, 4, np.random.default_rng(99))
    again.load_state_dict(state)
    again.rng.bit_generator.state = rng_state
    for want in ahead:
        np.testing.assert_array_equal(again.next(), want)


def test_the_moving_average_warms_up_then_follows_the_decay():
    p = Tensor(np.zeros(3), requires_grad=True)
    average = averaging.ExponentialAverage([p], 0.9)
    p.data[...] = 1.0
    average.update()  # the first update copies
    np.testing.assert_array_equal(average.averages[0], 1.0)
    p.data[...] = 3.0
    average.update()  # b_2 = min(0.9, 3 / 12) = 0.25
    np.testing.assert_allclose(average.averages[0], 0.25 * 1 + 0.75 * 3)
    for _ in range(200):
        average.update()
    with average.swapped_in():
        np.testing.assert_allclose(p.data, 3.0)
        p.data[...] = -1.0  # what happens inside stays inside
    np.testing.assert_array_equal(p.data, 3.0)


def test_training_logs_test_errors_and_draws_their_curve(tmp_path):
    lines = []
    trainer = training.train(ss_config(tmp_path, "a", epochs=2), lines.append)
    rows = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    per_epoch = [r for r in rows if "test_errors" in r]
    assert [r["epoch"] for r in per_epoch] == [1, 2] and all(0 <= r["test_errors"] <= 500 for r in per_epoch)
    assert any(line.startswith("epoch 2: test errors") for line in lines)
    assert (tmp_path / "a" / "test_error.png").stat().st_size > 0
    assert trainer.states["test_errors"].errors == [r["test_errors"] for r in per_epoch]
    step_rows = [r for r in rows if "loss_lab" in r]
    assert {"loss_unl", "loss_G", "train_err", "D_x", "D_G_z"} <= set(step_rows[-1])


def test_new_runs_take_the_codes_adam_and_runs_saved_before_keep_pytorchs(tmp_path):
    # Note [Adam's epsilon]: `minigan train --model ssgan` divides by sqrt(v_hat + 1e-8), as the paper's code
    result = CliRunner().invoke(main, ["train", "synthetic", "--model", "ssgan", "--labels", "20", "--epochs", "1",
                                       "--limit", "40", "--batch-size", "20", "--image-size", "16",
                                       "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "eps 1e-08 under the root" in result.output
    trainer = training.resume(str(tmp_path / "a"), quiet, epochs=2)  # a resumed run keeps it
    for opt in trainer.optimizers.values():
        assert (opt.eps, opt.eps_root) == (0.0, 1e-8)
    saved = dict(trainer.config.to_dict())
    del saved["adam_eps_root"]  # a run from before the option: PyTorch's rule, which it was trained with
    assert gan.TrainConfig.from_dict(saved).adam_eps_root == 0.0


def test_the_labelled_images_and_their_seed_are_in_the_checkpoint(tmp_path):
    training.train(ss_config(tmp_path, "a", label_seed=3), quiet)
    ckpt = checkpoint.load(tmp_path / "a")
    indices = ckpt.group("state/labelled")["indices"]
    assert ckpt.config.label_seed == 3 and len(indices) == 20
    from minigan import data

    labels = data.load_dataset("synthetic", image_size=16, limit=100).labels
    np.testing.assert_array_equal(indices, ssgan.select_labelled(labels, 20, 10, 3))


def test_ctrl_c_and_resume_match_a_straight_run(tmp_path, monkeypatch):
    straight = training.train(ss_config(tmp_path, "a", epochs=2), quiet)
    press_ctrl_c_after_one_step(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        training.train(ss_config(tmp_path, "b", epochs=2), quiet)
    monkeypatch.undo()
    resumed = training.resume(str(tmp_path / "b"), quiet)
    assert_same_networks(straight, resumed)
    for name in ("ema:D", "labelled", "unlabelled", "test_errors"):
        for key, value in straight.states[name].state_dict().items():
            np.testing.assert_array_equal(resumed.states[name].state_dict()[key], value, err_msg=f"{name}.{key}")


def test_supervised_only_trains_d_alone(tmp_path):
    config = ss_config(tmp_path, "a", supervised_only=True)
    fresh = gan.get_trainer_class("ssgan")(config, (1, 16, 16), 10)
    trainer = training.train(config, quiet)
    assert_same_networks(fresh, type(fresh)(config, (1, 16, 16), 10))  # construction is seeded
    for key, value in fresh.networks["G"].state_dict().items():  # G never stepped
        np.testing.assert_array_equal(trainer.networks["G"].state_dict()[key], value)
    assert "loss_G" not in trainer.history and "loss_unl" not in trainer.history


def test_the_test_error_uses_the_averaged_weights(tmp_path):
    trainer = training.train(ss_config(tmp_path, "a", epochs=2), quiet)
    from minigan import data

    test = data.load_dataset("synthetic", image_size=16, split="test")
    averaged = trainer.test_errors(test.images, test.labels)
    ema = trainer.states.pop("ema:D")
    raw = trainer.test_errors(test.images, test.labels)
    with ema.swapped_in():
        assert trainer.test_errors(test.images, test.labels) == averaged
    assert averaged != raw or not np.allclose(ema.averages[0], ema.params[0].data)
    report = classifier_report(checkpoint.load(tmp_path / "a"))
    assert report["test_errors"] == averaged and report["averaged"] and report["labels"] == 20


@pytest.mark.parametrize("model", ["gan", "lapgan"])
def test_ema_of_g_is_what_samples_are_drawn_with(tmp_path, model):
    trainer = training.train(tiny(tmp_path, "a", model=model, ema=0.9, image_size=28 if model == "lapgan" else 16), quiet)
    z = trainer.fixed["z"][:4]
    averaged = trainer.sample(z=z)
    with averaging.swapped_in(trainer, "G"):
        np.testing.assert_array_equal(trainer.sample(z=z), averaged)  # the swap nests: still the average
    with averaging.without_averages(trainer, "G"):
        assert not np.array_equal(trainer.sample(z=z), averaged)
    np.testing.assert_array_equal(trainer.sample(z=z), averaged)


def test_eval_as_trained_samples_gs_weights_not_their_average(tmp_path):
    from minigan.evaluate import samples_from_checkpoint

    trainer = training.train(tiny(tmp_path, "a", ema=0.9), quiet)
    default, _, _ = samples_from_checkpoint(str(tmp_path / "a"), n=8, seed=3)
    trained, _, _ = samples_from_checkpoint(str(tmp_path / "a"), n=8, seed=3, as_trained=True)
    assert not np.allclose(default, trained)
    # the same noise on the trainer in memory: its average by default, its weights without the average
    np.testing.assert_allclose(default, trainer.sample(n=8, rng=np.random.default_rng(3)), atol=1e-6)
    with averaging.without_averages(trainer, "G"):
        np.testing.assert_allclose(trained, trainer.sample(n=8, rng=np.random.default_rng(3)), atol=1e-6)
    np.save(tmp_path / "s.npy", default)
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "s.npy"), "--as-trained"])
    assert result.exit_code != 0 and "--as-trained picks a checkpoint's weights" in result.output


@pytest.mark.parametrize("kw, words", [
    ({"labels": 5}, "must be a multiple of the 10 classes"),
    ({"labels": 15}, "must be a multiple of the 10 classes"),
    ({"labels": 200}, "more than the 100 training images"),
    ({"labels": None}, "needs --labels N"),
    ({"loss": "hinge"}, "the paper's losses"),
    ({"feature_matching": True}, "drop --feature-matching"),
    ({"ema_d": 1.0}, "a decay in [0, 1)"),
])
def test_bad_settings_are_refused(tmp_path, kw, words):
    with pytest.raises(MiniganError, match=words.replace("[", r"\[").replace(")", r"\)")):
        training.train(ss_config(tmp_path, "a", **kw), quiet)


def test_labels_need_a_classifier(tmp_path):
    with pytest.raises(MiniganError, match="--model dcgan's D has none"):
        training.train(tiny(tmp_path, "a", labels=20), quiet)
    with pytest.raises(MiniganError, match="give their number with --labels"):
        training.train(tiny(tmp_path, "b", model="ssgan", supervised_only=True), quiet)

