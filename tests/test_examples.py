"""Every script in examples/ runs to the end on a tiny budget and writes what it says it writes.

Each runs as a subprocess, as a reader would start it, in a temporary folder, on the synthetic
dataset (no files, no download) for one step or so. The "wrote PATH" lines it prints must name
files that exist and are valid PNGs or .npz archives, and the files each example's docstring
promises must be among them.
"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minigan import gan, judge
from minigan.gan import checkpoint

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TINY = ["--dataset", "synthetic", "--limit", "128", "--epochs", "1"]
WROTE = re.compile(r"^wrote (\S+?\.(?:png|npz))\b", re.MULTILINE)  # the script's own lines, not the trainer's


def run_example(name, args, cwd):
    """Run examples/<name> with args in cwd; its output, after checking it exited 0."""
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def check_png(path):
    """A PNG that decodes, with more than one pixel value (a picture, not an empty canvas); its size."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        pixels = np.asarray(image)
    assert pixels.size and len(np.unique(pixels)) > 1, path
    return image.size


def check_npz(path):
    """An .npz that loads without pickle and holds at least one array."""
    with np.load(path, allow_pickle=False) as archive:
        assert archive.files and all(archive[name].size for name in archive.files), path


def check_written(output, cwd, expected):
    """Every file the output says it wrote is valid; ``expected`` (relative to cwd) are among them."""
    written = {(cwd / p).resolve() for p in WROTE.findall(output)}
    assert {(cwd / p).resolve() for p in expected} <= written, output
    for path in written:
        (check_png if path.suffix == ".png" else check_npz)(path)
    return written


def test_every_example_is_run_here():
    assert {p.name for p in EXAMPLES.glob("*.py")} == {
        "dcgan_mnist.py", "cgan_per_class.py", "lapgan_pyramid.py", "latent_arithmetic.py", "penalty_step_cost.py",
        "unrolled_ring.py", "stackgan_two_stages.py"}


def test_dcgan_mnist(tmp_path):
    output = run_example("dcgan_mnist.py", TINY + ["--out", "out"], tmp_path)
    assert "epoch 1 step 1/1" in output
    check_written(output, tmp_path, ["out/epoch_001.png"])
    assert check_png(tmp_path / "out" / "epoch_001.png") == (8 * 30 + 2, 8 * 30 + 2)  # 64 samples, 28 + 2 px


@pytest.mark.parametrize("name, pictures", [
    ("cgan_per_class.py", ["per_class.png"]),
    ("lapgan_pyramid.py", ["real_pyramid.png", "generated_pyramid.png"]),
])
def test_examples_that_train_a_run_then_draw(tmp_path, name, pictures):
    output = run_example(name, TINY + ["--out", "out"], tmp_path)
    check_written(output, tmp_path, [f"out/{p}" for p in pictures])
    run = tmp_path / "out" / "run"
    check_npz(run / "checkpoints" / "last.npz")  # the run the example trained, a checkpoint like any other
    check_png(run / "samples" / "epoch_001.png")


def test_latent_arithmetic(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "cache"))  # a small judge of its own, also for the script
    judge.train_judge("synthetic", epochs=3, width=8, batch_size=64, out_path=judge.judge_path("synthetic"))
    cfg = gan.TrainConfig(dataset="synthetic", model="dcgan", epochs=1, limit=128, run_dir=str(tmp_path / "run"))
    gan.train(cfg, lambda line: None)
    # One step of training makes no confident digits: take the class the judge calls most samples,
    # as A and as B, with any confidence, one exemplar per concept.
    trainer = checkpoint.build_trainer(str(tmp_path / "run"))
    x = trainer.sample(z=trainer.draw_noise(200, np.random.default_rng(0)))
    _, log_p = judge.load_judge("synthetic", train_if_missing=False).outputs(x)
    digit = str(np.bincount(log_p.argmax(axis=1), minlength=10).argmax())
    args = ["run", "--from-digit", digit, "--to-digit", digit, "--pool", "200", "--exemplars", "1",
            "--confidence", "0", "--out", "arithmetic.png"]
    output = run_example("latent_arithmetic.py", args, tmp_path)
    check_written(output, tmp_path, ["arithmetic.png"])
    assert f"judged as {digit}" in output


def test_penalty_step_cost(tmp_path):
    output = run_example("penalty_step_cost.py", ["--batch", "8", "--steps", "1", "--rounds", "1"], tmp_path)
    rows = dict(re.findall(r"^(\S.*?)\s{2,}\s*[\d.]+ ms\s+([\d.]+)x base$", output, flags=re.MULTILINE))
    assert set(rows) == {"base", "wgan, weights clipped", "base, layer-norm D", "wgan-gp, layer-norm D", "dragan",
                         "r1", "spectral norm"}
    assert float(rows["base"]) == 1.0 and all(float(v) > 0 for v in rows.values())


def test_unrolled_ring(tmp_path):
    output = run_example("unrolled_ring.py", ["--steps", "4", "--every", "2", "--batch", "32", "--out", "out"], tmp_path)
    check_written(output, tmp_path, ["out/step_00002.png", "out/step_00004.png"])
    assert re.search(r"^step 4: \d of 8 modes, [\d.]+% high quality$", output, flags=re.MULTILINE), output


def test_stackgan_two_stages(tmp_path):
    output = run_example("stackgan_two_stages.py", TINY + ["--out", "out"], tmp_path)
    check_written(output, tmp_path, ["out/stages.png"])
    assert check_png(tmp_path / "out" / "stages.png") == (10 * 30 + 2, 10 * 30 + 2)  # 10 classes x 5 pairs
    stage2 = checkpoint.build_trainer(str(tmp_path / "out" / "stage2"))
    stage1 = checkpoint.build_trainer(str(tmp_path / "out" / "stage1"))
    for key, value in stage1.networks["G1"].state_dict().items():  # stage II's run kept stage I as it was
        np.testing.assert_array_equal(stage2.networks["G1"].state_dict()[key], value)
