"""Sampling from checkpoints: grids, arrays, labels, latent walks."""

import numpy as np
import pytest
from PIL import Image

from minigan import gan, sampling
from minigan.errors import MiniganError
from minigan.gan import training


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for model in ("dcgan", "cgan"):
        cfg = gan.TrainConfig(dataset="synthetic", model=model, epochs=1, batch_size=16, nz=8, image_size=16,
                              limit=16, run_dir=str(root / model))
        training.train(cfg, lambda line: None)
        out[model] = str(root / model)
    return out


def test_sample_png_and_npz(runs, tmp_path):
    x, labels = sampling.sample(runs["dcgan"], n=10, out=str(tmp_path / "grid.png"))
    assert x.shape == (10, 1, 16, 16) and labels is None
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size == (4 * 18 + 2, 3 * 18 + 2)  # near-square: 4 per row, 2 px padding
    sampling.sample(runs["dcgan"], n=6, out=str(tmp_path / "s.npz"))
    with np.load(tmp_path / "s.npz") as f:
        assert f.files == ["images"] and f["images"].shape == (6, 1, 16, 16)
        assert f["images"].dtype == np.float32 and np.abs(f["images"]).max() <= 1


def test_conditional_samples_carry_their_labels(runs, tmp_path):
    _, labels = sampling.sample(runs["cgan"], n=12, out=str(tmp_path / "c.npz"))
    np.testing.assert_array_equal(labels, np.arange(12) % 10)
    sampling.sample(runs["cgan"], n=5, out=str(tmp_path / "sevens.npz"), label=7)
    with np.load(tmp_path / "sevens.npz") as f:
        assert f["images"].shape == (5, 1, 16, 16) and f["labels"].tolist() == [7] * 5


def test_same_seed_same_samples(runs, tmp_path):
    a, _ = sampling.sample(runs["dcgan"], n=4, out=str(tmp_path / "a.npz"), seed=3)
    b, _ = sampling.sample(runs["dcgan"], n=4, out=str(tmp_path / "b.npz"), seed=3)
    c, _ = sampling.sample(runs["dcgan"], n=4, out=str(tmp_path / "c.npz"), seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_bad_requests(runs, tmp_path):
    with pytest.raises(MiniganError, match="must end in .png"):
        sampling.sample(runs["dcgan"], out=str(tmp_path / "x.jpg"))
    with pytest.raises(MiniganError, match="needs a conditional model"):
        sampling.sample(runs["dcgan"], out=str(tmp_path / "x.png"), label=1)
    with pytest.raises(MiniganError, match="not a class"):
        sampling.sample(runs["cgan"], out=str(tmp_path / "x.png"), label=10)
    with pytest.raises(MiniganError, match="unknown --mode"):
        sampling.interpolate(runs["dcgan"], out=str(tmp_path / "w.png"), mode="cubic")


def test_interpolate_walks_between_two_end_points(runs, tmp_path):
    x = sampling.interpolate(runs["cgan"], out=str(tmp_path / "w.png"), steps=5, rows=3, mode="slerp")
    assert x.shape == (15, 1, 16, 16)
    assert Image.open(tmp_path / "w.png").size == (5 * 18 + 2, 3 * 18 + 2)


def test_lerp_and_slerp():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 64)).astype(np.float32), rng.standard_normal((4, 64)).astype(np.float32)
    for walk in (sampling.lerp, sampling.slerp):
        np.testing.assert_allclose(walk(a, b, 0.0), a, atol=1e-5)
        np.testing.assert_allclose(walk(a, b, 1.0), b, atol=1e-5)
    unit_a, unit_b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(sampling.slerp(unit_a, unit_b, 0.5), axis=1), 1.0, rtol=1e-5)
    assert np.all(np.linalg.norm(sampling.lerp(unit_a, unit_b, 0.5), axis=1) < 0.99)  # lerp cuts the corner
    np.testing.assert_allclose(sampling.slerp(a, a, 0.3), a, rtol=1e-5)  # parallel: falls back to lerp
