"""Images from a trained checkpoint: a sample grid or an array file, and walks through latent space.

    from minigan import sampling

    sampling.sample("runs/mnist-dcgan-.../checkpoints/last.npz", n=64, out="grid.png")
    sampling.sample("runs/mnist-cgan-...", n=16, out="sevens.npz", label=7)
    sampling.interpolate("runs/mnist-dcgan-...", out="walk.png", steps=10, rows=8, mode="slerp")

An output ending in .png is a grid; one ending in .npz holds ``images`` (n, c, h, w) float32 in
[-1, 1] and, for conditional models, ``labels`` (n,) int64.
"""

import os

import numpy as np

from minigan import files, images, limits
from minigan.errors import MiniganError
from minigan.gan import checkpoint

MODES = ("lerp", "slerp")


def check_out(out):
    """The extension of ``out`` (.png or .npz), once it is known to be writable."""
    ext = os.path.splitext(os.fspath(out))[1].lower()
    if ext not in (".png", ".npz"):
        raise MiniganError(f"--out {out} must end in .png (a picture grid) or .npz (the image arrays).")
    files.check_writable(out, "--out", what="image file")
    return ext


def check_seed(seed):
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MiniganError(f"--seed must be a whole number of 0 or more, not {seed!r}.")


def check_label(ckpt, label):
    """Raise MiniganError unless ``label`` (None or a class) suits the checkpoint's model."""
    from minigan import gan

    if label is None:
        return
    meta = ckpt.meta
    if not gan.get_trainer_class(meta["model"]).conditional:
        raise MiniganError(f"--label needs a conditional model (cgan); this checkpoint is a {meta['model']} model.")
    if not 0 <= label < int(meta["num_classes"]):
        raise MiniganError(f"--label {label} is not a class of this model; use 0 to {int(meta['num_classes']) - 1}.")


def _write(out, x, labels=None, nrow=None, dataset=None):
    """A PNG grid (for 2-D points: a scatter over ``dataset``'s modes) or an .npz of the arrays, written atomically."""
    if os.path.splitext(os.fspath(out))[1].lower() == ".png":
        if x.ndim == 2:
            from minigan.data import modes

            images.save_scatter(x, modes.mode_centres(dataset), out, title=f"{len(x)} samples",
                                std=modes.STD[dataset])
            return
        images.save_grid(x, out, nrow=nrow)
        return
    arrays = {"images": x} if labels is None else {"images": x, "labels": np.asarray(labels, dtype=np.int64)}
    with files.atomic_open(out, "samples", "choose a writable --out.") as f:
        np.savez(f, **arrays)


def sample(ckpt_path, n=64, out="samples.png", label=None, device="cpu", seed=0):
    """Draw n images from a checkpoint's generator and save them.

    Every argument is checked (against the checkpoint's model, image shape and classes, and
    the memory budget of ``minigan.limits``) before the generator is built.

    Args:
        ckpt_path (str): a checkpoint .npz or a run folder (its checkpoints/last.npz).
        n (int): number of images.
        out (str): a .png (grid) or .npz (arrays) path.
        label (int or None): conditional models: the class of every image; None cycles
            through the classes (in the grid, column k shows class k).
        device (str): cpu or gpu.
        seed (int): seeds the noise (and nothing else).
    Returns:
        (images, labels): numpy float32 (n, c, h, w) in [-1, 1], int64 (n,) or None.
    """
    check_out(out)
    if n < 1:
        raise MiniganError(f"--n must be positive, not {n}.")
    check_seed(seed)
    ckpt = checkpoint.load(ckpt_path)
    check_label(ckpt, label)
    limits.check_images_fit(n, ckpt.meta["image_shape"], f"--n {n}", "draw fewer images, or several files with "
                            "different --seed.")
    trainer = checkpoint.build_trainer(ckpt, device)
    labels, nrow = None, None
    if trainer.conditional:  # one class for all, or classes in turn: grid column k shows class k
        if label is not None:
            labels = np.full(n, label, dtype=np.int64)
        else:
            labels, nrow = np.arange(n, dtype=np.int64) % trainer.num_classes, trainer.num_classes
    x = trainer.sample(n=n, labels=labels, rng=np.random.default_rng(seed))
    _write(out, x, labels, nrow, trainer.config.dataset)
    return x, labels


def lerp(a, b, t):
    """(1 - t) a + t b: a straight line between noise vectors."""
    return (1 - t) * a + t * b


def slerp(a, b, t):
    """Spherical interpolation of each row pair: the great circle from a to b (White 2016).

    Gaussian noise in many dimensions lies near a sphere; slerp stays near it, where the
    generator was trained, while lerp's midpoints are shorter than any z ever drawn.
    Rows that are (nearly) parallel fall back to lerp.
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = np.sum(a64 * b64, axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))[:, None]
    sin = np.sin(omega)
    safe = np.where(sin > 1e-6, sin, 1.0)
    path = np.where(sin > 1e-6, (np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / safe, lerp(a64, b64, t))
    return path.astype(np.float32)


def interpolate(ckpt_path, out="walk.png", steps=10, rows=8, mode="lerp", label=None, device="cpu", seed=0):
    """A grid walking the latent space: each row goes from one random z to another in ``steps``.

    Args:
        ckpt_path (str): a checkpoint .npz or a run folder.
        out (str): a .png (grid, one walk per row) or .npz path.
        steps (int): images per walk (>= 2), including both ends.
        rows (int): number of walks.
        mode (str): "lerp" (straight line) or "slerp" (great circle).
        label (int or None): conditional models: the class of every walk; None gives row r
            the class r mod K.
        device (str): cpu or gpu.
        seed (int): seeds the end points.
    Returns:
        numpy float32 (rows * steps, c, h, w).
    """
    check_out(out)
    if mode not in MODES:
        raise MiniganError(f"unknown --mode {mode!r}; choose lerp or slerp.")
    if steps < 2 or rows < 1:
        raise MiniganError(f"a walk needs --steps of at least 2 and --rows of at least 1 (got {steps}, {rows}).")
    check_seed(seed)
    ckpt = checkpoint.load(ckpt_path)
    check_label(ckpt, label)
    limits.check_images_fit(rows * steps, ckpt.meta["image_shape"], f"--rows {rows} --steps {steps}",
                            "ask for fewer walks or shorter ones.")
    trainer = checkpoint.build_trainer(ckpt, device)
    labels = None
    if trainer.conditional:  # one class for all walks, or row r of class r mod K
        labels = np.full(rows, label, dtype=np.int64) if label is not None else (
            np.arange(rows, dtype=np.int64) % trainer.num_classes)
    rng = np.random.default_rng(seed)
    z0, z1 = trainer.draw_noise(rows, rng), trainer.draw_noise(rows, rng)
    walk = lerp if mode == "lerp" else slerp
    z = np.stack([walk(z0, z1, t) for t in np.linspace(0.0, 1.0, steps)], axis=1)  # (rows, steps, nz)
    labels = None if labels is None else np.repeat(labels, steps)
    x = trainer.sample(z=z.reshape(rows * steps, -1), labels=labels)
    _write(out, x, labels, nrow=steps, dataset=trainer.config.dataset)
    return x
