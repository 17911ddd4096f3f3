"""The epoch-end class check: a training hook that asks the cached judge how many classes G's samples cover."""

import json

import numpy as np

from minigan import MiniganError, gan, judge
from minigan.evaluate.class_check import ClassCheck
from gan_helpers import assert_same_networks, quiet


class OneClassJudge:
    """A stand-in judge that sees every sample as the same digit (a collapsed generator)."""

    def __init__(self):
        self.calls = 0

    def class_histogram(self, images):
        self.calls += 1
        hist = np.zeros(10)
        hist[3] = len(images)
        return hist


def config(tmp_path, name="run", epochs=2):
    """A seconds-long synthetic run of 1x28x28 images, the judges' size."""
    return gan.TrainConfig(dataset="synthetic", epochs=epochs, batch_size=32, limit=64, run_dir=str(tmp_path / name))


def class_rows(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "classes_covered" in r]


def test_epoch_end_warns_when_the_judge_sees_one_class(tmp_path, monkeypatch):
    one_class = OneClassJudge()
    loads = []
    monkeypatch.setattr(judge, "load_judge", lambda *a, **k: loads.append(a) or one_class)
    lines = []
    gan.train(config(tmp_path, epochs=3), echo=lines.append, on_epoch_end=[ClassCheck()])
    warnings = [line for line in lines if line.startswith("warning:")]
    assert any("collapsed" in w and "1 of 10 classes" in w for w in warnings), lines
    # from the second epoch on, one row per epoch; the judge is loaded once and asked each time
    assert class_rows(tmp_path / "run") == [{"epoch": 2, "classes_covered": 1, "top_class_share": 1.0},
                                            {"epoch": 3, "classes_covered": 1, "top_class_share": 1.0}]
    assert len(loads) == 1 and loads[0] == ("synthetic",) and one_class.calls == 2


def test_no_warning_and_no_row_without_a_judge(tmp_path, monkeypatch):
    asked = []

    def missing(*args, **kwargs):
        asked.append(args)
        raise MiniganError("no judge")

    monkeypatch.setattr(judge, "load_judge", missing)
    lines = []
    gan.train(config(tmp_path, epochs=3), echo=lines.append, on_epoch_end=[ClassCheck()])
    assert not any("collapsed" in line for line in lines)
    assert class_rows(tmp_path / "run") == []
    assert len(asked) == 2  # epochs 2 and 3: a judge trained meanwhile would be picked up


def test_training_without_the_hook_never_asks_the_judge(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("training asked for the judge by itself")

    monkeypatch.setattr(judge, "load_judge", forbidden)
    gan.train(config(tmp_path), echo=quiet)
    assert class_rows(tmp_path / "run") == []


def test_other_image_shapes_are_not_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(judge, "load_judge", lambda *a, **k: OneClassJudge())
    cfg = config(tmp_path)
    cfg.image_size = 16
    gan.train(cfg, echo=quiet, on_epoch_end=[ClassCheck()])
    assert class_rows(tmp_path / "run") == []


def test_a_checked_run_trains_exactly_like_an_unchecked_one(tmp_path, monkeypatch):
    """The samples come from a Generator of their own and G in eval mode: the run's streams, weights
    and batch-norm statistics are untouched."""
    monkeypatch.setattr(judge, "load_judge", lambda *a, **k: OneClassJudge())
    checked = gan.train(config(tmp_path, "a"), echo=quiet, on_epoch_end=[ClassCheck(n=50, first_epoch=1)])
    plain = gan.train(config(tmp_path, "b"), echo=quiet)
    assert len(class_rows(tmp_path / "a")) == 2
    assert_same_networks(checked, plain)
    assert all(checked.rngs[k].random() == plain.rngs[k].random() for k in plain.rngs)
