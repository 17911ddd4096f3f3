"""Tests of minigan.images: grid layout and values, PNG writing, rows, loss curves."""

import os

import numpy as np
import pytest
from PIL import Image, ImageColor

from minigan import images
from minigan.errors import MiniganError


def constant_images(values, c=1, h=2, w=3):
    """Images whose pixels all hold one value each."""
    return np.stack([np.full((c, h, w), v, dtype=np.float32) for v in values])


def test_make_grid_layout_and_values():
    x = constant_images([-1.0, 1.0, 0.0, 0.5, 2.0])  # 2.0 overshoots and is clipped
    grid = images.make_grid(x, nrow=3, padding=1, pad_value=7)
    assert grid.shape == (2 * (2 + 1) + 1, 3 * (3 + 1) + 1) and grid.dtype == np.uint8
    expected = [0, 255, 128, 191, 255]  # rint((v + 1) * 127.5)
    for i, v in enumerate(expected):
        top, left = 1 + (i // 3) * 3, 1 + (i % 3) * 4
        assert (grid[top:top + 2, left:left + 3] == v).all()
    assert (grid[0] == 7).all() and (grid[:, 0] == 7).all() and (grid[3] == 7).all()
    assert (grid[4:6, 9:12] == 7).all()  # the sixth cell is empty: padding colour


def test_make_grid_rgb_keeps_channel_order_and_default_is_square():
    x = np.zeros((4, 3, 5, 5), dtype=np.float32) - 1
    x[:, 0] = 1  # pure red
    grid = images.make_grid(x, padding=0)
    assert grid.shape == (10, 10, 3)
    assert (grid[..., 0] == 255).all() and (grid[..., 1:] == 0).all()
    with pytest.raises(ValueError):
        images.make_grid(np.zeros((2, 2, 4, 4)))


class FakeCupy:
    """Stands for a cupy array: not numpy, copied to the host by .get()."""

    def __init__(self, x):
        self._x = x

    def get(self):
        return self._x


def test_save_grid_writes_a_png_pillow_reopens(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, size=(10, 1, 28, 28)).astype(np.float32)
    path = tmp_path / "new" / "folder" / "grid.png"
    images.save_grid(FakeCupy(x), path, nrow=5)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.mode == "L"
        assert img.size == (5 * 30 + 2, 2 * 30 + 2)
        np.testing.assert_array_equal(np.asarray(img), images.make_grid(x, 5))
    assert os.listdir(path.parent) == ["grid.png"]  # no temporary file left behind


def test_save_grid_with_labels_is_rgb_and_enlarged(tmp_path):
    x = constant_images([-1.0] * 4, h=16, w=16)
    images.save_grid(x, tmp_path / "g.png", nrow=2, padding=2, labels=["0", "1", "2", "3"])
    with Image.open(tmp_path / "g.png") as img:
        assert img.mode == "RGB" and img.size == (38 * 3, 38 * 3)  # 16-px cells enlarged x3 to 48
        pixels = np.asarray(img)
    assert (pixels[..., 0] > 200).any() and (pixels[..., 2] < 50).all()  # yellow text on black


def test_save_grid_unwritable_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(MiniganError, match="cannot write"):
        images.save_grid(constant_images([0.0]), blocker / "grid.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(MiniganError, match="cannot write"):
        images.save_grid(constant_images([0.0]), tmp_path / "dir.png")
    assert sorted(os.listdir(tmp_path)) == ["dir.png", "file"]


def test_save_rows_normalizes_each_band(tmp_path):
    rng = np.random.default_rng(0)
    bands = [rng.uniform(100, 200, size=(3, 1, 4, 4)), rng.uniform(-0.01, 0.01, size=(2, 3, 8, 8))]
    images.save_rows(bands, tmp_path / "rows.png", padding=1, normalize=True)
    with Image.open(tmp_path / "rows.png") as img:
        assert img.mode == "RGB" and img.size == (1 + 2 * 9, 1 + 5 + 9)
        pixels = np.asarray(img)
    first, second = pixels[1:5, 1:14], pixels[6:14, 1:18]
    for band in (first, second):
        assert band.min() == 0 and band.max() == 255  # each band stretched to the full range


def test_loss_curve_png(tmp_path):
    t = np.arange(500)
    history = {"loss_D": list(np.exp(-t / 100)), "loss_G": list(1 + 0.1 * np.sin(t / 20))}
    history["loss_G"][250] = float("nan")
    images.save_loss_curve(history, tmp_path / "loss.png", size=(640, 360))
    with Image.open(tmp_path / "loss.png") as img:
        assert img.size == (640, 360) and img.mode == "RGB"
        pixels = np.asarray(img).reshape(-1, 3)
    for colour in images.COLOURS[:2]:  # both lines are drawn in their own colours
        assert (pixels == ImageColor.getrgb(colour)).all(axis=1).sum() > 100
    assert not (pixels == ImageColor.getrgb(images.COLOURS[2])).all(axis=1).any()
    images.save_loss_curve({"loss_D": []}, tmp_path / "empty.png")
    assert Image.open(tmp_path / "empty.png").size == (800, 450)
