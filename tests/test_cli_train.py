"""The train, sample and interpolate commands, run through click's test runner."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from minigan.cli import main

TINY = ["--epochs", "1", "--limit", "32", "--batch-size", "16", "--image-size", "16", "--nz", "8"]


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "cgan"
    result = CliRunner().invoke(main, ["train", "synthetic", "--model", "cgan", "--out", str(run),
                                       "--log-every", "1", *TINY])
    return run, result


def test_train_writes_grids_checkpoints_and_metrics(cgan_run):
    run, result = cgan_run
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"run folder: {run}"
    assert "loss_D" in result.output and "D(G(z))" in result.output
    for name in ("samples/real.png", "samples/epoch_001.png", "loss.png", "checkpoints/last.npz",
                 "checkpoints/epoch_001.npz", "metrics.jsonl", "config.json"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]


def test_sample_png_and_npz(cgan_run, tmp_path):
    run, _ = cgan_run
    runner = CliRunner()
    result = runner.invoke(main, ["sample", str(run), "--n", "20", "--out", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.png").is_file() and "20 images of 1x16x16" in result.output
    result = runner.invoke(main, ["sample", str(run / "checkpoints" / "epoch_001.npz"), "--n", "8",
                                  "--label", "3", "--out", str(tmp_path / "s.npz")])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (8, 1, 16, 16) and f["labels"].tolist() == [3] * 8
    result = runner.invoke(main, ["interpolate", str(run), "--out", str(tmp_path / "w.png"), "--mode", "slerp",
                                  "--steps", "4", "--rows", "2"])
    assert result.exit_code == 0 and (tmp_path / "w.png").is_file()


def test_resume_through_the_cli(cgan_run):
    run, _ = cgan_run
    result = CliRunner().invoke(main, ["train", "synthetic", "--resume", str(run), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "resuming from" in result.output and (run / "checkpoints" / "epoch_002.npz").is_file()


@pytest.mark.parametrize("args, words", [
    (["train", "imagenet"], "unknown dataset 'imagenet'"),
    (["train", "synthetic", "--model", "dcgan", "--image-size", "20"], "cannot build 20x20"),
    (["train", "synthetic", "--resume", "no/such/run"], "no checkpoint at no/such/run"),
    (["train", "synthetic", "--model", "vae"], "unknown model 'vae'"),
    (["train", "folder"], "needs the image folder"),
    (["sample", "no/such.npz"], "no checkpoint at"),
])
def test_bad_input_is_one_line_without_traceback(args, words, tmp_path):
    out = tmp_path / ("out.png" if args[0] == "sample" else "r")
    result = CliRunner().invoke(main, args + ["--out", str(out)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and lines[0].startswith("Error: ")
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not (tmp_path / "r").exists()


def test_bad_resume_checkpoint_is_one_line(cgan_run, tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes((cgan_run[0] / "checkpoints" / "last.npz").read_bytes()[:1000])
    result = CliRunner().invoke(main, ["train", "synthetic", "--resume", str(broken), "--epochs", "3"])
    assert result.exit_code != 0 and "damaged or truncated" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["train", "sample", "interpolate"])
def test_help_has_examples(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and f"minigan {command}" in result.output
