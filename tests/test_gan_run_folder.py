"""Run folders: fresh ones only, default names, the metrics log."""

import pytest

from minigan import gan
from minigan.errors import MiniganError
from minigan.gan import run_folder


def test_create_refuses_files_and_non_empty_folders(tmp_path):
    run = run_folder.RunFolder.create(tmp_path / "a")
    assert (tmp_path / "a" / "samples").is_dir() and (tmp_path / "a" / "checkpoints").is_dir()
    with pytest.raises(MiniganError, match="already holds files"):
        run_folder.RunFolder.create(tmp_path / "a")
    (tmp_path / "f").write_text("x")
    with pytest.raises(MiniganError, match="is a file"):
        run_folder.RunFolder.create(tmp_path / "f")
    assert run.path == str(tmp_path / "a")


def test_unwritable_place_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MiniganError, match="cannot create run folder"):
        run_folder.RunFolder.create(tmp_path / "file" / "run")


def test_metrics_append_and_truncate(tmp_path):
    run = run_folder.RunFolder.create(tmp_path / "a")
    for step in (10, 20, 30):
        run.append_metrics({"step": step, "loss_D": 1.0})
    run.truncate_metrics(20)
    assert [r["step"] for r in run.metrics()] == [10, 20]
    run.write_config(gan.TrainConfig(dataset="synthetic"))
    assert '"dataset": "synthetic"' in (tmp_path / "a" / "config.json").read_text()
