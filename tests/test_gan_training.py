"""Training runs: run folders, NaN stops, Ctrl-C, mid-epoch resume and resume settings."""

import json
import os

import numpy as np
import pytest

from minigan import gan
from minigan.errors import MiniganError
from minigan.gan import checkpoint, training
from minigan.gan.base import Trainer
from gan_helpers import assert_same_networks, press_ctrl_c_after_one_step, quiet, tiny


def test_a_run_writes_its_folder(tmp_path):
    lines = []
    trainer = training.train(tiny(tmp_path, "run", epochs=2, log_every=2), lines.append)
    run = tmp_path / "run"
    assert lines[0] == f"run folder: {run}"
    for name in ("config.json", "metrics.jsonl", "loss.png", "samples/real.png", "samples/epoch_001.png",
                 "samples/epoch_002.png", "checkpoints/last.npz", "checkpoints/epoch_001.npz",
                 "checkpoints/epoch_002.npz"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert {"loss_D", "loss_G", "D_x", "D_G_z"} <= set(rows[0])
    for r in rows:  # means over the logged steps, which keep Jensen's bound: mean(-log s) >= -log(mean s)
        assert r["loss_D"] > -np.log(r["D_x"]) - np.log(1 - r["D_G_z"]) and np.isfinite(r["loss_G"])
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert len(trainer.history["loss_D"]) == 4


def test_a_new_run_never_overwrites_a_folder(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(MiniganError, match="already holds files"):
        training.train(tiny(tmp_path, "busy", epochs=1), quiet)
    assert os.listdir(tmp_path / "busy") == ["notes.txt"]
    training.train(tiny(tmp_path, "empty", epochs=1), quiet)  # an empty folder is fine
    before = (tmp_path / "empty" / "checkpoints" / "last.npz").read_bytes()
    with pytest.raises(MiniganError, match="already holds files"):
        training.train(tiny(tmp_path, "empty", epochs=1, seed=1), quiet)
    assert (tmp_path / "empty" / "checkpoints" / "last.npz").read_bytes() == before


def test_default_run_folder_names_do_not_collide(tmp_path):
    from minigan.gan import run_folder

    cfg = gan.TrainConfig(dataset="synthetic", model="gan")
    first = run_folder.default_path(cfg, root=str(tmp_path))
    os.makedirs(first)
    second = run_folder.default_path(cfg, root=str(tmp_path))
    assert os.path.basename(first).startswith("synthetic-gan-") and second == first + "-2"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = tiny(tmp_path, "nan", epochs=3)
    original = Trainer.train_step

    def poisoned(self, real, labels=None):
        out = original(self, real, labels)
        if self.step == 2:  # the first step of epoch 2
            out["loss_D"] = np.float32("nan")
        return out

    monkeypatch.setattr(Trainer, "train_step", poisoned)
    with pytest.raises(MiniganError) as info:
        training.train(cfg, quiet)
    message = str(info.value)
    assert "loss_D became nan at step 3" in message and "lower learning rate" in message
    assert "last.npz (epoch 1, step 2) is kept" in message
    ckpt = checkpoint.load(tmp_path / "nan")
    assert ckpt.meta["epoch"] == 1 and ckpt.meta["step"] == 2
    assert not (tmp_path / "nan" / "checkpoints" / "epoch_002.npz").exists()


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_a_huge_learning_rate_is_caught_not_trained_on(tmp_path):
    with pytest.raises(MiniganError, match="diverged"):
        training.train(tiny(tmp_path, "huge", epochs=2, lr=1e38, model="gan"), quiet)


def test_ctrl_c_saves_mid_epoch_and_resume_matches_a_straight_run(tmp_path, monkeypatch):
    straight = training.train(tiny(tmp_path, "a", epochs=1, limit=48), quiet)  # 3 steps
    press_ctrl_c_after_one_step(monkeypatch)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        training.train(tiny(tmp_path, "b", epochs=1, limit=48), lines.append)
    assert "Stopped after step 1" in lines[-1] and "--resume" in lines[-1]
    assert checkpoint.load(tmp_path / "b").meta["step"] == 1
    monkeypatch.undo()
    resumed = training.resume(str(tmp_path / "b"), quiet)
    assert_same_networks(straight, resumed)
    rows = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]


def test_resume_refuses_changed_settings_and_finished_runs(tmp_path):
    training.train(tiny(tmp_path, "a", epochs=1), quiet)
    with pytest.raises(MiniganError, match="--batch-size 8 differs from the checkpoint's 16"):
        training.resume(str(tmp_path / "a"), quiet, epochs=2, batch_size=8)
    with pytest.raises(MiniganError, match="trained on synthetic, not mnist"):
        training.resume(str(tmp_path / "a"), quiet, epochs=2, dataset="mnist")
    with pytest.raises(MiniganError, match="already trained 1 epoch of --epochs 1"):
        training.resume(str(tmp_path / "a"), quiet)
    trainer = training.resume(str(tmp_path / "a"), quiet, epochs=2, run_dir=str(tmp_path / "moved"), log_every=5)
    assert trainer.epoch == 2 and (tmp_path / "moved" / "checkpoints" / "epoch_002.npz").is_file()
    assert not (tmp_path / "a" / "checkpoints" / "epoch_002.npz").exists()


def test_bad_settings_fail_before_anything_is_written(tmp_path):
    cases = [({"batch_size": 0}, "--batch-size must be positive"), ({"beta1": 1.0}, "--beta1 must be in"),
             ({"loss": "hinge2"}, "unknown loss"), ({"dataset": "cifar"}, "unknown dataset"),
             ({"model": "vae"}, "unknown model"), ({"image_size": 20}, "cannot build 20x20"),
             ({"model": "gan", "arch": "conv"}, "--arch applies")]
    for kw, match in cases:
        with pytest.raises(MiniganError, match=match):
            training.train(tiny(tmp_path, "bad", epochs=1, **kw), quiet)
        assert not (tmp_path / "bad").exists()


def test_d_steps_gives_g_one_step_per_k_batches(tmp_path):
    trainer = training.train(tiny(tmp_path, "k", epochs=1, limit=48, d_steps=2), quiet)
    assert trainer.optimizers["D"].step_count == 3 and trainer.optimizers["G"].step_count == 1
    assert np.isnan(trainer.history["loss_G"][0]) and np.isfinite(trainer.history["loss_G"][1])


def test_epoch_end_hooks_run_after_each_epoch_and_on_resume(tmp_path):
    calls = []

    def hook(trainer, run, epoch):
        calls.append((epoch, trainer.epoch, run.path))
        return {"half_epoch": [np.float32(epoch) / 2], "nothing": []}

    training.train(tiny(tmp_path, "a", epochs=1), quiet, on_epoch_end=[hook])
    training.resume(str(tmp_path / "a"), quiet, on_epoch_end=(hook,), epochs=2)
    assert calls == [(1, 1, str(tmp_path / "a")), (2, 2, str(tmp_path / "a"))]
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in rows if "half_epoch" in r] == [{"epoch": 1, "half_epoch": 0.5}, {"epoch": 2, "half_epoch": 1.0}]
