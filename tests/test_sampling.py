"""Sampling from checkpoints: grids, arrays, labels, latent walks."""

import numpy as np
import pytest
from PIL import Image

from minigan import gan, sampling
from minigan.errors import MiniganError
from minigan.gan import checkpoint, training


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


@pytest.mark.parametrize("mode", ["lerp", "slerp"])
def test_interpolate_walks_from_z0_to_z1(runs, tmp_path, monkeypatch, mode):
    seen = {}
    build = checkpoint.build_trainer

    def spying_build(path, device):  # the trainer interpolate uses, recording what it asks G for
        trainer = seen["trainer"] = build(path, device)
        sample = trainer.sample

        def record(**kw):
            seen.update(kw)
            return sample(**kw)

        trainer.sample = record
        return trainer

    monkeypatch.setattr(checkpoint, "build_trainer", spying_build)
    x = sampling.interpolate(runs["cgan"], out=str(tmp_path / "w.png"), steps=5, rows=3, mode=mode, seed=2)
    assert x.shape == (15, 1, 16, 16)
    assert Image.open(tmp_path / "w.png").size == (5 * 18 + 2, 3 * 18 + 2)
    trainer, z = seen["trainer"], seen["z"].reshape(3, 5, -1)  # (rows, steps, nz)
    rng = np.random.default_rng(2)
    z0, z1 = trainer.draw_noise(3, rng), trainer.draw_noise(3, rng)
    np.testing.assert_array_equal(z[:, 0], z0)  # each row starts at its z0 and ends at its z1, exactly
    np.testing.assert_array_equal(z[:, -1], z1)
    np.testing.assert_array_equal(seen["labels"], np.repeat(np.arange(3) % 10, 5))  # row r: class r
    np.testing.assert_allclose(z[:, 2], getattr(sampling, mode)(z0, z1, 0.5), rtol=1e-6)  # t = 0.5
    grid = x.reshape(3, 5, 1, 16, 16)  # image k of row r is G(z[r, k]): the grid shows the walk in order
    ends = trainer.sample(z=np.concatenate([z0, z1]), labels=np.tile(np.arange(3), 2))
    np.testing.assert_allclose(grid[:, 0], ends[:3], atol=1e-6)
    np.testing.assert_allclose(grid[:, -1], ends[3:], atol=1e-6)


def _unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_lerp_and_slerp_start_and_end_exactly_at_their_end_points():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 64)).astype(np.float32), rng.standard_normal((4, 64)).astype(np.float32)
    for walk in (sampling.lerp, sampling.slerp):
        np.testing.assert_array_equal(walk(a, b, 0.0), a)
        np.testing.assert_array_equal(walk(a, b, 1.0), b)
    np.testing.assert_allclose(sampling.lerp(a, b, 0.25), 0.75 * a.astype(np.float64) + 0.25 * b, rtol=1e-6,
                               atol=1e-7)


def test_slerp_moves_along_the_great_circle_at_constant_speed():
    rng = np.random.default_rng(1)
    a, b = _unit(rng.standard_normal((4, 64))), _unit(rng.standard_normal((4, 64)))
    omega = np.arccos(np.sum(a * b, axis=1))
    for t in np.linspace(0, 1, 9):
        z = sampling.slerp(a, b, t).astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-6)  # on the sphere
        # chord to a point at angle phi on the unit circle: 2 sin(phi / 2); angle t*omega from a, the rest to b
        np.testing.assert_allclose(np.linalg.norm(z - a, axis=1), 2 * np.sin(t * omega / 2), atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(z - b, axis=1), 2 * np.sin((1 - t) * omega / 2), atol=1e-6)
    np.testing.assert_allclose(sampling.slerp(a, b, 0.5), _unit(a + b), rtol=1e-5, atol=1e-7)  # the bisector
    # lerp's midpoint cuts the corner: |(a + b) / 2| = cos(omega / 2) < 1
    np.testing.assert_allclose(np.linalg.norm(sampling.lerp(a, b, 0.5), axis=1), np.cos(omega / 2), rtol=1e-6)
    assert np.all(np.cos(omega / 2) < 0.99)


def test_slerp_of_non_unit_rows_and_parallel_rows():
    rng = np.random.default_rng(2)
    a, b = _unit(rng.standard_normal((3, 8))) * 2.0, _unit(rng.standard_normal((3, 8))) * 2.0
    np.testing.assert_allclose(sampling.slerp(a, b, 0.5), 2.0 * _unit(a + b), rtol=1e-5, atol=1e-6)  # radius kept
    a32 = a.astype(np.float32)
    np.testing.assert_allclose(sampling.slerp(a32, a32, 0.3), a32, rtol=1e-6)  # parallel: falls back to lerp
    np.testing.assert_allclose(sampling.slerp(a32, 3 * a32, 0.5), 2 * a32, rtol=1e-6)
