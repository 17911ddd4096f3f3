"""Getting generated images into the form the judge reads, with one clear error for each bad input.

Samples are float32 (n, c, h, w) in [-1, 1], as a tanh generator makes them. A samples file is
an ``.npz`` (no pickle) holding ``images`` and optionally ``labels`` (the classes a conditional
generator was asked for); a lone ``.npy`` array of images works too.
"""

import os

import numpy as np

from minigan.data import resize_uint8
from minigan.errors import MiniganError
from minigan.images import to_numpy, to_uint8

RANGE_TOLERANCE = 1e-3  # float32 tanh can land a hair outside [-1, 1]
IMAGE_KEYS = ("images", "samples", "x")


def load_samples(path):
    """Images and labels from a samples file.

    Args:
        path (str): ``.npz`` with ``images`` (n, c, h, w) [and ``labels`` (n,)], or ``.npy`` images.
    Returns:
        (images numpy.ndarray, labels numpy.ndarray or None), not yet checked.
    Raises:
        MiniganError: missing, unreadable or pickled file, or no images in it.
    """
    if not os.path.isfile(path):
        raise MiniganError(f"{path} does not exist; write samples with `minigan sample CKPT --out samples.npz` "
                           f"or pass a checkpoint.")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise MiniganError(f"{path} is not a NumPy samples file ({e}); save images with "
                           f"numpy.savez(path, images=x, labels=y).") from e
    if isinstance(loaded, np.ndarray):
        return loaded, None
    with loaded:
        key = next((k for k in IMAGE_KEYS if k in loaded.files), None)
        if key is None:
            raise MiniganError(f"{path} holds {', '.join(loaded.files) or 'nothing'} but no 'images' array; "
                               f"save samples with numpy.savez(path, images=x, labels=y).")
        labels = loaded["labels"] if "labels" in loaded.files else None
        return loaded[key], labels


def check_labels(labels, n, num_classes):
    """Asked-for labels as int64 (n,), or None; MiniganError when they don't fit."""
    if labels is None:
        return None
    labels = np.asarray(to_numpy(labels))
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise MiniganError(f"labels must be {n} integers (one per image), got {labels.dtype} {labels.shape}.")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise MiniganError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}.")
    return labels.astype(np.int64)


def _check_range(x):
    low, high = float(x.min()), float(x.max())
    if not np.isfinite(x).all():
        raise MiniganError("the samples contain NaN or inf; the generator diverged -- evaluate an earlier "
                           "checkpoint.")
    if low >= 0 and high > 1 + RANGE_TOLERANCE:
        raise MiniganError(f"the samples lie in [{low:g}, {high:g}], which looks like pixels in [0, 255]; "
                           f"minigan images are in [-1, 1]: convert with x / 127.5 - 1.")
    if low >= 0:
        raise MiniganError(f"the samples lie in [{low:g}, {high:g}], which looks like [0, 1]; minigan images "
                           f"are in [-1, 1]: convert with x * 2 - 1.")
    if low < -1 - RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise MiniganError(f"the samples lie in [{low:g}, {high:g}], outside [-1, 1]; a tanh generator's "
                           f"images are in [-1, 1]: clip or rescale them first.")


def check_images(images, channels, image_size):
    """Validate generated images and bring them to the judge's size.

    Args:
        images: (n, c, h, w) or (n, h, w) array (numpy, cupy or Tensor) in [-1, 1].
        channels (int): channels the judge reads.
        image_size (int): side the judge reads; other square sizes are resized (bilinear).
    Returns:
        (images float32 (n, channels, image_size, image_size), note str or None saying what was changed).
    Raises:
        MiniganError: wrong number of dimensions or channels, non-square, too few, NaN, wrong range.
    """
    x = np.asarray(to_numpy(images))
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.dtype.kind != "f":
        raise MiniganError(f"samples must be float images of shape (n, c, h, w) in [-1, 1], got "
                           f"{x.dtype} {x.shape}; write them with `minigan sample CKPT --out samples.npz`.")
    n, c, h, w = x.shape
    if n < 2:
        raise MiniganError(f"metrics need at least 2 samples, got {n}; generate more (e.g. --num 10000).")
    if c != channels:
        raise MiniganError(f"the samples have {c} channels but the judge reads {channels}; evaluate them "
                           f"against a dataset with {c}-channel images.")
    if h != w:
        raise MiniganError(f"the samples are {h}x{w}; the judge reads square images.")
    _check_range(x)
    x = x.astype(np.float32, copy=False)
    if h == image_size:
        return np.ascontiguousarray(x), None
    pixels = to_uint8(x[:, 0] if c == 1 else x.transpose(0, 2, 3, 1))
    small = resize_uint8(pixels, image_size).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    small = small[:, None] if c == 1 else small.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(small), f"resized from {h}x{w} to {image_size}x{image_size}"


def is_checkpoint(path):
    """True for a run folder or an .npz with a checkpoint's 'meta' entry (a samples file has 'images')."""
    if os.path.isdir(path):
        return True
    try:
        with np.load(path, allow_pickle=False) as f:
            return "meta" in getattr(f, "files", ())
    except (OSError, ValueError):
        return False


def samples_from_checkpoint(path, n=10000, seed=0, device="cpu"):
    """n images from a checkpoint's generator (eval mode), noise seeded by ``seed``.

    Conditional models are asked for each class in turn (balanced labels, as ``minigan sample``).

    Returns:
        (images float32 (n, c, h, w), labels int64 (n,) or None, the dataset it was trained on).
    """
    from minigan.gan import checkpoint

    if n < 2:
        raise MiniganError(f"metrics need at least 2 samples, not {n}; use --num 10000.")
    trainer = checkpoint.build_trainer(path, device)
    labels = np.arange(n, dtype=np.int64) % trainer.num_classes if trainer.conditional else None
    images = trainer.sample(n=n, labels=labels, rng=np.random.default_rng(seed))
    return images, labels, trainer.config.dataset


def images_for(target, n=10000, seed=0, device="cpu"):
    """What ``minigan eval TARGET`` scores: a samples file as it is, or n fresh samples of a checkpoint.

    Returns:
        (images, labels or None, dataset name or None (a samples file does not say), description).
    """
    if os.path.exists(target) and is_checkpoint(target):
        images, labels, dataset = samples_from_checkpoint(target, n, seed, device)
        return images, labels, dataset, f"{len(images)} samples from {target} (seed {seed})"
    images, labels = load_samples(target)
    return images, labels, None, f"{len(images)} samples from {target}"
