"""Images from a trained checkpoint: a sample grid or an array file, and walks through latent space.

    from minigan import sampling

    sampling.sample("runs/mnist-dcgan-.../checkpoints/last.npz", n=64, out="grid.png")
    sampling.sample("runs/mnist-cgan-...", n=16, out="sevens.npz", label=7)
    sampling.interpolate("runs/mnist-dcgan-...", out="walk.png", steps=10, rows=8, mode="slerp")

An output ending in .png is a grid; one ending in .npz holds ``images`` (n, c, h, w) float32 in
[-1, 1] and, for conditional models, ``labels`` (n,) int64.
"""

import os
import secrets

import numpy as np

from minigan import images
from minigan.errors import MiniganError
from minigan.gan import checkpoint

MODES = ("lerp", "slerp")


def _check_out(out):
    ext = os.path.splitext(os.fspath(out))[1].lower()
    if ext not in (".png", ".npz"):
        raise MiniganError(f"--out {out} must end in .png (a picture grid) or .npz (the image arrays).")
    return ext


def _write(out, x, labels=None, nrow=None):
    """A PNG grid or an .npz of the arrays, written atomically."""
    if _check_out(out) == ".png":
        images.save_grid(x, out, nrow=nrow)
        return
    arrays = {"images": x} if labels is None else {"images": x, "labels": np.asarray(labels, dtype=np.int64)}
    folder = os.path.dirname(os.path.abspath(out))
    tmp = os.path.join(folder, f".{os.path.basename(out)}.{secrets.token_hex(4)}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, out)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise MiniganError(f"cannot write {out} ({e.strerror or e}); choose a writable --out.") from e


def _labels_for(trainer, n, label):
    """Labels for n conditional samples: all ``label``, or each class in turn (None when unconditional)."""
    if label is not None and not trainer.conditional:
        raise MiniganError(f"--label needs a conditional model (cgan); this checkpoint is a {trainer.name} model.")
    if not trainer.conditional:
        return None
    if label is not None:
        if not 0 <= label < trainer.num_classes:
            raise MiniganError(f"--label {label} is not a class of this model; use 0 to {trainer.num_classes - 1}.")
        return np.full(n, label, dtype=np.int64)
    return None


def sample(ckpt_path, n=64, out="samples.png", label=None, device="cpu", seed=0):
    """Draw n images from a checkpoint's generator and save them.

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
    _check_out(out)
    if n < 1:
        raise MiniganError(f"--n must be positive, not {n}.")
    trainer = checkpoint.build_trainer(ckpt_path, device)
    labels, nrow = _labels_for(trainer, n, label), None
    if trainer.conditional and labels is None:  # classes in turn: grid column k shows class k
        labels, nrow = np.arange(n, dtype=np.int64) % trainer.num_classes, trainer.num_classes
    x = trainer.sample(n=n, labels=labels, rng=np.random.default_rng(seed))
    _write(out, x, labels, nrow)
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
    _check_out(out)
    if mode not in MODES:
        raise MiniganError(f"unknown --mode {mode!r}; choose lerp or slerp.")
    if steps < 2 or rows < 1:
        raise MiniganError(f"a walk needs --steps of at least 2 and --rows of at least 1 (got {steps}, {rows}).")
    trainer = checkpoint.build_trainer(ckpt_path, device)
    labels = _labels_for(trainer, rows, label)
    if trainer.conditional and labels is None:
        labels = np.arange(rows, dtype=np.int64) % trainer.num_classes
    rng = np.random.default_rng(seed)
    z0, z1 = trainer.draw_noise(rows, rng), trainer.draw_noise(rows, rng)
    walk = lerp if mode == "lerp" else slerp
    z = np.stack([walk(z0, z1, t) for t in np.linspace(0.0, 1.0, steps)], axis=1)  # (rows, steps, nz)
    labels = None if labels is None else np.repeat(labels, steps)
    x = trainer.sample(z=z.reshape(rows * steps, -1), labels=labels)
    _write(out, x, labels, nrow=steps)
    return x
