"""Datasets whose modes are known, for measuring mode collapse (Metz et al. 2016, VEEGAN, PacGAN).

    ring           8 Gaussians on a circle of radius 2, std 0.02 (the unrolled GAN's figure 2)
    grid           25 Gaussians on a 5 x 5 grid at {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN, PacGAN)
    stacked-mnist  three MNIST digits as the R, G and B planes of one 28 x 28 image: 1000 modes

Notation: a *point* dataset holds float32 points (n, 2) (not images in [-1, 1]); its label is the
index of the mode each point was drawn from. Stacked MNIST's label is 100 a + 10 b + c for the
digits (a, b, c) of its R, G and B planes, so a mode is a number in 0..999.

Every draw comes from a Generator seeded by the dataset's seed, so a run's data is reproducible
and a resumed run sees the same points. ``--limit`` sizes a point set (default ``POINTS``) and
stacked MNIST (default one triple per MNIST training image).
"""

import math

import numpy as np

POINT_DATASETS = ("ring", "grid")
MODE_DATASETS = POINT_DATASETS + ("stacked-mnist",)
POINTS = {"train": 100_000, "test": 10_000}  # a point set's size when --limit does not say
STD = {"ring": 0.02, "grid": 0.05}
SEED_OFFSET = {"train": 0, "test": 1}  # the test split is drawn from another stream
STACKED_MODES = 1000
# `minigan train` settings a dataset brings when the command line does not give them: the unrolled
# GAN's ring recipe (poolio/unrolled_gan: z 256, batch 512, lr 1e-3 for G and 1e-4 for D, Adam beta1 0.5)
RECIPES = {name: {"nz": 256, "batch_size": 512, "lr_g": 1e-3, "lr_d": 1e-4} for name in POINT_DATASETS}


def check_options(name, image_size=None, channels=None, limit_per_class=None):
    """Raise MiniganError for image options a dataset of known modes cannot take."""
    from minigan.errors import MiniganError

    if name in POINT_DATASETS:
        for value, option in ((image_size, "--image-size"), (channels, "--channels"),
                              (limit_per_class, "--limit-per-class")):
            if value is not None:
                raise MiniganError(f"{name} is a set of 2-D points, not images: drop {option}.")
    if name == "stacked-mnist" and channels == 1:
        raise MiniganError("stacked MNIST is three digits as the R, G and B planes: it needs --channels 3 "
                           "(its own), not 1.")


def mode_centres(name):
    """The (k, 2) float64 centres of a point dataset's Gaussians."""
    if name == "ring":
        angles = 2 * math.pi * np.arange(8) / 8
        return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if name == "grid":
        axis = np.arange(-4.0, 5.0, 2.0)
        return np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    raise ValueError(f"{name!r} is not a point dataset; choose one of {', '.join(POINT_DATASETS)}")


def num_modes(name):
    return STACKED_MODES if name == "stacked-mnist" else len(mode_centres(name))


def make_points(name, n, split="train", seed=0):
    """n points of a point dataset: a uniformly drawn mode each, plus N(0, std^2) noise.

    Returns:
        (points float32 (n, 2), mode index int64 (n,)).
    """
    rng = np.random.default_rng([seed, SEED_OFFSET[split]])
    centres = mode_centres(name)
    modes = rng.integers(0, len(centres), n)
    points = centres[modes] + STD[name] * rng.standard_normal((n, 2))
    return points.astype(np.float32), modes.astype(np.int64)


def stack_digits(raw, labels, n, split="train", seed=0):
    """n stacked-MNIST images from MNIST's uint8 digits (m, 28, 28) and their labels.

    Each image is a seeded triple (i, j, k) of indices into ``raw``: R = raw[i], G = raw[j], B = raw[k].

    Returns:
        (uint8 (n, 28, 28, 3), int64 mode 100 labels[i] + 10 labels[j] + labels[k]).
    """
    rng = np.random.default_rng([seed, SEED_OFFSET[split]])
    triples = rng.integers(0, len(raw), (n, 3))
    stacked = np.stack([raw[triples[:, c]] for c in range(3)], axis=-1)
    modes = 100 * labels[triples[:, 0]] + 10 * labels[triples[:, 1]] + labels[triples[:, 2]]
    return stacked, modes.astype(np.int64)
