"""`minigan doctor --gpu`: one line without a GPU; on the host emulator, every step and the report."""

import json

import pytest
from click.testing import CliRunner

from minigan import backend, doctor
from minigan.bench import suite
from minigan.cli import doctor as doctor_cli
from minigan.cli import main


def test_without_a_gpu_it_says_so_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(backend, "cupy", None)
    result = CliRunner().invoke(main, ["doctor", "--gpu", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert result.output == ("Error: minigan doctor --gpu needs a usable GPU: CuPy is not installed; install the GPU "
                             "extra with `pip install 'minigan[gpu]'`.\n")
    assert not (tmp_path / "d").exists()


def test_without_gpu_flag_it_points_to_it():
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "minigan doctor --gpu" in result.output


def test_the_command_lists_the_library_steps():
    assert doctor_cli.STEPS == doctor.STEPS


@pytest.fixture
def no_memory_subprocess(monkeypatch):
    """The bench measures memory in fresh processes, which the stand-in CuPy does not reach."""
    monkeypatch.setattr(suite, "_memory", lambda *args: None)


def test_the_gpu_proof_runs_every_step_and_writes_its_report(fake_gpu, no_memory_subprocess, tmp_path):
    out = tmp_path / "doctor"
    lines = []
    outcomes = doctor.run(str(out), skip=("tests",), dataset="synthetic", limit=32, bench_steps=1, bench_batch=4,
                          echo=lines.append)
    status = {o.step: o.status for o in outcomes}
    assert status == {"environment": "ok", "tests": "skipped", "agreement": "ok", "train": "ok", "sample": "ok",
                      "round-trip": "ok", "bench": "ok"}, [o.detail for o in outcomes]
    report = json.loads((out / "report.json").read_text())
    assert report["summary"] == "every step passed"
    assert report["steps"][2]["figures"]["float64"]["relative_grad_error"]  # every gradient compared
    assert set(report["steps"][6]["figures"]) == {"fp32", "tf32"}
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# minigan doctor --gpu: every step passed")
    assert all(f"| {step} |" in markdown for step in doctor.STEPS)
    assert all((out / name).is_file() for name in ("samples.png", "bench_fp32.json", "bench_tf32.json"))


def test_failed_steps_are_reported_and_the_next_ones_still_run(fake_gpu, monkeypatch, tmp_path):
    """Data that cannot be loaded (offline without MNIST): train fails with the loader's message and the
    proof goes on with a synthetic run; a step that raises is recorded; the exit status is 1."""
    def broken(context):
        raise RuntimeError("the samples are not finite values in [-1, 1]")

    monkeypatch.setattr(doctor, "step_sample", broken)
    result = CliRunner().invoke(main, ["doctor", "--gpu", "--out", str(tmp_path / "d"), "--dataset", "folder",
                                       "--data-dir", str(tmp_path / "no-images-here"), "--limit", "16",
                                       "--skip", "tests", "--skip", "agreement", "--skip", "bench"])
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    steps = {s["step"]: s for s in report["steps"]}
    assert steps["train"]["status"] == "failed" and "no-images-here" in steps["train"]["detail"]
    assert steps["train"]["figures"]["dataset"] == "synthetic"
    assert steps["sample"]["status"] == "failed" and steps["round-trip"]["status"] == "ok"
    assert report["summary"] == "failed: train, sample"
    assert "RuntimeError: the samples are not finite" in result.output
