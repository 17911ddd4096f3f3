"""The Dataset container every loader returns, and the few transforms they share.

Notation: images are ``(n, c, h, w)`` float32 in [-1, 1] (the range of a tanh generator);
raw images, before scaling, are ``(n, h, w)`` or ``(n, h, w, c)`` uint8 in [0, 255].
"""

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from minigan.errors import MiniganError

MIN_IMAGE_SIZE = 4
MAX_IMAGE_SIZE = 1024


@dataclass
class Dataset:
    """Images in [-1, 1] (or 2-D points) with optional class labels, and a sentence saying where they came from.

    Attributes:
        images (numpy.ndarray): float32, shape (n, c, h, w), values in [-1, 1]; for a point
            dataset (ring, grid) float32 points of shape (n, 2), any values.
        labels (numpy.ndarray or None): int64, shape (n,), values in [0, num_classes).
        num_classes (int): number of classes; 0 when there are no labels.
        name (str): dataset name, e.g. "mnist".
        source (str): where the data came from, e.g. "MNIST from IDX files in ~/.cache/minigan".
    """

    images: np.ndarray
    labels: np.ndarray | None
    num_classes: int
    name: str
    source: str

    def __post_init__(self):
        if self.images.ndim not in (2, 4) or self.images.dtype != np.float32:
            raise ValueError(f"images must be float32 (n, c, h, w) or points (n, d), "
                             f"got {self.images.dtype} {self.images.shape}")
        if self.labels is not None and self.labels.shape != (len(self.images),):
            raise ValueError(f"labels shape {self.labels.shape} does not match {len(self.images)} images")

    def __len__(self):
        return len(self.images)

    @property
    def image_shape(self):
        """(c, h, w) of one image; (d,) of one point."""
        return tuple(self.images.shape[1:])

    @property
    def is_points(self):
        return self.images.ndim == 2

    def __repr__(self):
        if self.is_points:
            return (f"Dataset({self.name!r}, {len(self)} points of {self.image_shape[0]} dimensions, "
                    f"{self.num_classes} modes, source={self.source!r})")
        c, h, w = self.image_shape
        return (f"Dataset({self.name!r}, {len(self)} images of {c}x{h}x{w}, "
                f"{self.num_classes} classes, source={self.source!r})")


def tilde(path):
    """path with the home folder written as ~, for messages."""
    home, path = os.path.expanduser("~"), os.path.normpath(path)
    return "~" + path[len(home):] if home not in ("", "/") and path.startswith(home + os.sep) else path


def check_image_size(image_size):
    """Raise MiniganError unless image_size is None or a usable side length in pixels."""
    if image_size is None:
        return
    if not isinstance(image_size, (int, np.integer)) or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise MiniganError(f"image size {image_size!r} is impossible: give a whole number of pixels "
                           f"from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, e.g. 28, 32 or 64.")


def check_channels(channels):
    """Raise MiniganError unless channels is None, 1 (grayscale) or 3 (RGB)."""
    if channels not in (None, 1, 3):
        raise MiniganError(f"channels must be 1 (grayscale) or 3 (RGB), not {channels!r}.")


def check_limits(limit, limit_per_class):
    """Raise MiniganError unless each limit is None or a positive whole number."""
    for value, what in ((limit, "limit"), (limit_per_class, "limit_per_class")):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise MiniganError(f"{what} must be a positive whole number, not {value!r}.")


def select(raw, labels, limit=None, limit_per_class=None):
    """Keep the first ``limit_per_class`` images of each class, then the first ``limit``, in file order.

    Args:
        raw (numpy.ndarray): images, first axis n.
        labels (numpy.ndarray or None): shape (n,).
        limit (int or None): keep at most this many.
        limit_per_class (int or None): keep at most this many of each class; needs labels.
    Returns:
        (raw, labels) subsets; selection before resizing and scaling saves the work on dropped images.
    """
    check_limits(limit, limit_per_class)
    if limit_per_class is not None:
        if labels is None:
            raise MiniganError("--limit-per-class needs a labelled dataset; this one has no labels.")
        keep = np.zeros(len(labels), dtype=bool)
        for k in np.unique(labels):
            keep[np.flatnonzero(labels == k)[:limit_per_class]] = True
        raw, labels = raw[keep], labels[keep]
    if limit is not None:
        raw = raw[:limit]
        labels = None if labels is None else labels[:limit]
    return raw, labels


def resize_uint8(raw, image_size):
    """Resize every image of a uint8 batch to image_size x image_size with Pillow's bilinear filter.

    Args:
        raw (numpy.ndarray): uint8, shape (n, h, w) or (n, h, w, 3).
        image_size (int or None): target side; None or the current size returns raw unchanged.
    Returns:
        uint8 array of shape (n, image_size, image_size[, 3]).
    """
    n, h, w = raw.shape[:3]
    if image_size is None or (h == image_size and w == image_size):
        return raw
    out = np.empty((n, image_size, image_size) + raw.shape[3:], dtype=np.uint8)
    for i in range(n):
        img = Image.fromarray(raw[i]).resize((image_size, image_size), Image.Resampling.BILINEAR)
        out[i] = np.asarray(img)
    return out


def to_unit_range(raw, channels=None):
    """uint8 images -> float32 (n, c, h, w) in [-1, 1], as x / 127.5 - 1.

    Args:
        raw (numpy.ndarray): uint8, shape (n, h, w) (grayscale) or (n, h, w, 3) (RGB).
        channels (int or None): 1 or 3; None keeps the input's; gray -> RGB repeats the plane,
            RGB -> gray uses the ITU-R 601 luma weights (what Pillow's convert("L") uses).
    Returns:
        float32 array of shape (n, channels, h, w).
    """
    x = raw[:, None] if raw.ndim == 3 else raw.transpose(0, 3, 1, 2)
    x = x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    if channels == 3 and x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    elif channels == 1 and x.shape[1] == 3:
        luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        x = np.einsum("nchw,c->nhw", x, luma)[:, None]
    return np.ascontiguousarray(x)
