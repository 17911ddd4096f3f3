"""Data-parallel training for real: `mpiexec -n 2` over MPI (mpi4py + MPICH's wheel, the dev extra).

One module-wide set of tiny runs (synthetic 16x16 images, DCGAN, batch 16, 10 steps an epoch):
    one      1 process, 2 epochs                         the reference
    two      2 ranks, 1 epoch                             = one after epoch 1
    two_one  `two` resumed on 1 process up to 2 epochs    = one
    one_two  one's epoch-1 checkpoint resumed on 2 ranks  = one
Parameters must agree to 1e-5 relative (float32: only the summation order differs). The learning
rate is small (1e-5) because a GAN in float32 is chaotic: one process whose weights are moved by
1e-7 drifts 1e-4 away from its twin within 10 steps at Adam's lr 2e-4 (a ReLU that flips, then
Adam's steps of about lr whatever the gradient), and two ranks sum in another order than one process;
tests/test_distributed.py shows the steps equal to 1e-10 in float64. Then how a run stops:
SIGTERM, a rank killed outright, a setting that cannot split.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="mpi4py is not installed; `pip install -e '.[dev]'` brings it with MPICH's wheel")

from minigan.distributed import launch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = ["synthetic", "--image-size", "16", "--nz", "8", "--batch-size", "16", "--limit", "160", "--log-every", "5",
        "--lr", "1e-5"]
TOLERANCE = 1e-5


def environment():
    env = launch.clean_environment()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def command(args, ranks=1):
    program = [sys.executable, "-m", "minigan", *args]
    return launch.mpiexec_command(ranks) + program if ranks > 1 else program


def minigan(args, ranks=1, timeout=300):
    done = subprocess.run(command(args, ranks), env=environment(), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    return done


def parameters(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k.startswith(("net/", "optim/"))}, \
            {k: f[k] for k in f.files if k.startswith(("rng/", "data/"))}


def assert_same_state(path, reference):
    """Every parameter, buffer and optimizer moment of ``path`` within TOLERANCE of ``reference``
    (relative to its norm), random streams and data position identical."""
    (mine, streams), (theirs, streams_ref) = parameters(path), parameters(reference)
    assert mine.keys() == theirs.keys()
    for key, value in theirs.items():
        value, other = value.astype(np.float64), mine[key].astype(np.float64)
        assert np.linalg.norm(other - value) <= TOLERANCE * max(np.linalg.norm(value), 1e-6), key
    for key, value in streams_ref.items():
        assert np.array_equal(streams[key], value), key


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ranks")
    done = {"one": minigan(["train", *TINY, "--epochs", "2", "--out", str(folder / "one")])}
    done["two"] = minigan(["train", *TINY, "--epochs", "1", "--out", str(folder / "two")], ranks=2)
    done["two_one"] = minigan(["train", *TINY, "--epochs", "2", "--resume", str(folder / "two")])
    done["one_two"] = minigan(["train", *TINY, "--epochs", "2", "--resume",
                               str(folder / "one" / "checkpoints" / "epoch_001.npz"), "--out",
                               str(folder / "one_two")], ranks=2)
    for name, result in done.items():
        assert result.returncode == 0, f"{name}: {result.stdout}\n{result.stderr}"
    return folder, done


def test_sync_batch_norm_under_mpiexec_is_batch_norm_on_the_global_batch():
    done = subprocess.run(command([], 2)[:-3] + [sys.executable, str(ROOT / "tests" / "mpi_sync_batch_norm.py")],
                          env=environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 ranks over MPI" in done.stdout


def test_two_ranks_train_as_one_process(runs):
    folder, done = runs
    assert_same_state(folder / "two" / "checkpoints" / "epoch_001.npz",
                      folder / "one" / "checkpoints" / "epoch_001.npz")
    # the tolerance is tight: the 10 steps of epoch 2 move the parameters by far more than it
    (first, _), (last, _) = (parameters(folder / "one" / "checkpoints" / name) for name in ("epoch_001.npz", "last.npz"))
    moved = np.linalg.norm(np.concatenate([(last[k] - first[k]).ravel() for k in first if k.startswith("net/")]))
    size = np.linalg.norm(np.concatenate([last[k].ravel() for k in last if k.startswith("net/")]))
    assert moved > 100 * TOLERANCE * size


def test_only_rank_0_prints_and_writes(runs):
    folder, done = runs
    out = done["two"].stdout
    assert out.count("run folder:") == 1 and out.count("epoch 1/1 done") == 1
    assert "data-parallel: 2 ranks over MPI" in out and "8 images of every batch of 16 per rank" in out
    one = [line.split("(")[0] for line in done["one"].stdout.splitlines() if line.startswith("epoch 1/2 step")]
    two = [line.split("(")[0] for line in out.splitlines() if line.startswith("epoch 1/1 step")]
    assert len(two) == 2 and [t.split("  ", 1)[1] for t in two] == [o.split("  ", 1)[1] for o in one]  # same means
    assert sorted(p.name for p in (folder / "two").iterdir()) == ["checkpoints", "config.json", "loss.png",
                                                                  "metrics.jsonl", "samples"]
    assert not (ROOT / "runs").exists() or not any("synthetic" in p.name for p in (ROOT / "runs").iterdir())


def test_a_two_rank_run_resumes_on_one_process(runs):
    folder, _ = runs  # two_one continued in two's folder
    assert_same_state(folder / "two" / "checkpoints" / "last.npz", folder / "one" / "checkpoints" / "last.npz")


def test_a_one_process_run_resumes_on_two_ranks(runs):
    folder, _ = runs
    assert_same_state(folder / "one_two" / "checkpoints" / "last.npz", folder / "one" / "checkpoints" / "last.npz")


def descendants(pid):
    """Every process below ``pid`` (read from /proc)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


@contextlib.contextmanager
def long_run(folder):
    """A 2-rank run of 1000 epochs, its output in folder/out.txt and err.txt; killed if still alive at the end."""
    with open(folder / "out.txt", "w") as out, open(folder / "err.txt", "w") as err:
        process = subprocess.Popen(command(["train", *TINY, "--epochs", "1000", "--out", str(folder / "run")], 2),
                                   env=environment(), cwd=ROOT, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "run" / "metrics.jsonl").exists():  # the first log line: both ranks are training
            assert process.poll() is None, (folder / "err.txt").read_text()
            assert time.monotonic() < deadline, "no log line within 120 s"
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            for pid in descendants(process.pid) + [process.pid]:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        process.wait()


def test_sigterm_stops_every_rank_after_the_same_step(tmp_path):
    with long_run(tmp_path) as process:
        process.send_signal(signal.SIGTERM)  # mpiexec hands it to every rank
        process.wait(timeout=120)
    out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert process.returncode == 130, out + err
    assert out.count("Stopped after step") == 1 and err.count("Interrupted.") == 1
    assert (tmp_path / "run" / "checkpoints" / "last.npz").is_file()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the ranks through /proc (Linux)")
def test_a_killed_rank_ends_the_whole_run(tmp_path):
    with long_run(tmp_path) as process:
        ranks = [p for p in descendants(process.pid)
                 if b"minigan" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(ranks) == 2
        os.kill(ranks[-1], signal.SIGKILL)
        process.wait(timeout=120)  # no hang: the launcher ends the other rank
    assert process.returncode != 0


def test_a_setting_that_cannot_split_is_one_message(tmp_path):
    done = minigan(["train", *TINY, "--minibatch-discrimination", "5", "--out", str(tmp_path / "run")], ranks=2)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: --minibatch-discrimination compares each image with the rest of its batch, which a rank "
                      "holding part of the batch cannot do; train with one process, or drop "
                      "--minibatch-discrimination."]
    assert not (tmp_path / "run").exists()


def test_bench_ranks_times_the_three_configurations(tmp_path):
    done = minigan(["bench", "--ranks", "2", "--threads", "2", "--batch", "8", "--steps", "1", "--warmup", "0",
                    "--rounds", "1", "--json", str(tmp_path / "scaling.json")])
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split()[0] for line in done.stdout.splitlines() if line.startswith(("A  ", "B  ", "C  "))]
    assert rows == ["A", "B", "C"] and "scaling efficiency" in done.stdout
    figures = __import__("json").loads((tmp_path / "scaling.json").read_text())
    assert [(r["ranks"], r["threads_per_rank"]) for r in figures["rows"]] == [(1, 2), (2, 1), (1, 1)]
