"""Training diagnostics: gradient-norm bookkeeping and the warnings printed at an epoch's end."""

import numpy as np

from minigan import MiniganError, gan, judge
from minigan.gan import diagnostics


class OneClassJudge:
    """A stand-in judge that sees every sample as the same digit (a collapsed generator)."""

    def class_histogram(self, images):
        hist = np.zeros(10)
        hist[3] = len(images)
        return hist


def test_epoch_end_warns_when_the_judge_sees_one_class(tmp_path, monkeypatch):
    monkeypatch.setattr(judge, "load_judge", lambda *a, **k: OneClassJudge())
    lines = []
    config = gan.TrainConfig(dataset="synthetic", epochs=2, batch_size=32, limit=64, run_dir=str(tmp_path / "run"))
    gan.train(config, echo=lines.append)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert any("collapsed" in w and "1 of 10 classes" in w for w in warnings), lines
    rows = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert '"classes_covered": 1' in rows and '"top_class_share": 1.0' in rows


def test_no_warning_without_a_judge(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise MiniganError("no judge")

    monkeypatch.setattr(judge, "load_judge", missing)
    lines = []
    config = gan.TrainConfig(dataset="synthetic", epochs=1, batch_size=32, limit=64, run_dir=str(tmp_path / "run"))
    gan.train(config, echo=lines.append)
    assert not any("collapsed" in line for line in lines)


def test_d_collapse_and_exploding_gradients_are_named():
    history = {"loss_D": [0.5] * 20 + [1e-4] * 20, "D_x": [0.999] * 40, "D_G_z": [1e-4] * 40,
               "grad_norm_G": [1.0] * 39 + [1e5]}
    text = " ".join(diagnostics.diagnose(history))
    assert "D's loss has collapsed" in text and "grad_norm_G is 1e+05" in text
    assert diagnostics.diagnose({"loss_D": [0.7] * 40, "grad_norm_G": [1.0] * 40}) == []
