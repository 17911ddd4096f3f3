"""A tiny generated dataset for smoke tests and CI: ten classes of simple shapes, no files needed.

Notation: pixel centres have coordinates u (across) and v (down) in [-1, 1]; each image draws
its class's shape around a jittered centre (cx, cy) with a jittered size r, so a generator
has something to learn (position, size, brightness) and a conditional GAN a class to follow.
"""

import numpy as np

DEFAULT_IMAGE_SIZE = 28
NUM_CLASSES = 10
CLASS_NAMES = ("disc", "ring", "square", "frame", "horizontal bar", "vertical bar", "cross",
               "diagonal", "triangle", "two dots")
# one colour per class for the RGB variant, so a 3-channel model sees colour as well as shape
PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]],
                   dtype=np.float64) / 255.0


def shape_mask(k, dx, dy, r):
    """Boolean mask of class k's shape, with dx, dy the pixel offsets from its centre."""
    a, b = np.abs(dx), np.abs(dy)
    d = np.hypot(dx, dy)
    box = np.maximum(a, b)
    masks = {
        0: lambda: d < r,
        1: lambda: np.abs(d - 0.75 * r) < 0.2 * r,
        2: lambda: box < 0.75 * r,
        3: lambda: (box < 0.8 * r) & (box > 0.5 * r),
        4: lambda: (b < 0.22 * r) & (a < r),
        5: lambda: (a < 0.22 * r) & (b < r),
        6: lambda: ((b < 0.2 * r) | (a < 0.2 * r)) & (box < r),
        7: lambda: (np.abs(dx - dy) < 0.3 * r) & (box < 0.8 * r),
        8: lambda: (dy <= 0.8 * r) & (a <= (dy + 0.8 * r) / 1.6),
        9: lambda: np.hypot(a - 0.5 * r, dy) < 0.35 * r,
    }
    return masks[k]()


def make_synthetic(image_size=None, channels=None, split="train", seed=0, n_per_class=50):
    """Generate the shapes dataset deterministically from a seed.

    Args:
        image_size (int or None): side in pixels; None means 28.
        channels (int or None): 1 (white shapes, the default) or 3 (one colour per class).
        split (str): "train" or "test"; the test split uses other random draws (seed + 1).
        seed (int): the same seed gives the same images.
        n_per_class (int): images per class; classes alternate 0, 1, ..., 9, 0, 1, ...
    Returns:
        (raw, labels): raw uint8 (n, s, s) or (n, s, s, 3), labels int64 (n,), n = 10 * n_per_class.
    """
    s = image_size or DEFAULT_IMAGE_SIZE
    rng = np.random.default_rng([seed, 1 if split == "test" else 0])
    n = NUM_CLASSES * n_per_class
    labels = np.arange(n, dtype=np.int64) % NUM_CLASSES
    centre = rng.uniform(-0.15, 0.15, size=(n, 2))
    size = rng.uniform(0.5, 0.75, size=n)
    brightness = rng.uniform(0.7, 1.0, size=n)
    coords = (np.arange(s) + 0.5) / s * 2 - 1
    v, u = np.meshgrid(coords, coords, indexing="ij")
    gray = np.empty((n, s, s))
    for i in range(n):
        gray[i] = brightness[i] * shape_mask(labels[i], u - centre[i, 0], v - centre[i, 1], size[i])
    if channels == 3:
        gray = gray[..., None] * PALETTE[labels][:, None, None, :]
    return np.rint(gray * 255).astype(np.uint8), labels
