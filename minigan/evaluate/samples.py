"""Getting generated images into the form the judge reads, with one clear error for each bad input.

Samples are (n, c, h, w) images (or (n, h, w) for one channel): floats in [-1, 1], as a tanh
generator makes them, or uint8 pixels in [0, 255], as image files hold them (scaled with
x / 127.5 - 1). Anything else is refused with the conversion to make: NaN or inf, floats outside
[-1, 1], other integer types. A samples file is an ``.npz`` (no pickle) holding ``images`` and
optionally ``labels`` (the classes a conditional generator was asked for); a lone ``.npy`` array
of images works too.

``open_target`` checks everything ``minigan eval`` is given -- the file's headers (no object
arrays, nothing larger than memory), the images' shape, range and labels against the dataset's
judge (``judge.input_spec``, known without the judge), the number of samples against memory --
before a generator is built or a judge is loaded or trained; ``draw`` then produces the images.
"""

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from minigan import files, judge, limits
from minigan.data import resize_uint8
from minigan.data.dataset import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from minigan.errors import MiniganError
from minigan.images import to_numpy, to_uint8

RANGE_TOLERANCE = 1e-3  # float32 tanh can land a hair outside [-1, 1]
IMAGE_KEYS = ("images", "samples", "x")
FIX = "save samples with numpy.savez(path, images=x, labels=y), or write them with `minigan sample CKPT --out x.npz`."


def load_samples(path):
    """Images and labels from a samples file, its headers checked before anything is loaded.

    Args:
        path (str): ``.npz`` with ``images`` (n, c, h, w) [and ``labels`` (n,)], or ``.npy`` images.
    Returns:
        (images numpy.ndarray, labels numpy.ndarray or None), not yet checked.
    Raises:
        MiniganError: missing, damaged, truncated or pickled file, arrays too large for memory,
            or no images in it.
    """
    if not os.path.isfile(path):
        raise MiniganError(f"{path} does not exist; write samples with `minigan sample CKPT --out samples.npz` "
                           f"or pass a checkpoint.")
    arrays = files.load_arrays(path, "NumPy samples file", FIX)
    if None in arrays:
        return arrays[None], None
    key = next((k for k in IMAGE_KEYS if k in arrays), None)
    if key is None:
        raise MiniganError(f"{path} holds {', '.join(arrays) or 'nothing'} but no 'images' array; "
                           f"save samples with numpy.savez(path, images=x, labels=y).")
    return arrays[key], arrays.get("labels")


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
    """Floats must be finite and in [-1, 1] (within RANGE_TOLERANCE); say which conversion fits."""
    if not np.isfinite(x).all():
        raise MiniganError("the samples contain NaN or inf; the generator diverged -- evaluate an earlier "
                           "checkpoint.")
    low, high = float(x.min()), float(x.max())
    if low >= 0 and high > 1 + RANGE_TOLERANCE:
        raise MiniganError(f"the samples lie in [{low:g}, {high:g}], which looks like pixels in [0, 255]; "
                           f"minigan images are in [-1, 1]: convert with x / 127.5 - 1 (or pass uint8 pixels).")
    if low >= 0:
        raise MiniganError(f"the samples lie in [{low:g}, {high:g}], which looks like [0, 1]; minigan images "
                           f"are in [-1, 1]: convert with x * 2 - 1.")
    if low < -1 - RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise MiniganError(f"the samples lie in [{low:g}, {high:g}], outside [-1, 1]; a tanh generator's "
                           f"images are in [-1, 1]: clip or rescale them first.")


def _as_nchw(images):
    x = np.asarray(to_numpy(images))
    return x[:, None] if x.ndim == 3 else x


def validate_images(images, channels):
    """Raise MiniganError unless ``images`` are what a judge of ``channels`` channels can score.

    That is: at least 2 square images (n, c, h, w) or (n, h, w) with c == channels and a side
    from MIN_IMAGE_SIZE to MAX_IMAGE_SIZE, floats in [-1, 1] or uint8 pixels.
    """
    x = _as_nchw(images)
    if x.ndim != 4 or x.dtype.kind not in "fiu":
        raise MiniganError(f"samples must be images of shape (n, c, h, w), floats in [-1, 1] or uint8 in [0, 255], "
                           f"got {x.dtype} {x.shape}; write them with `minigan sample CKPT --out samples.npz`.")
    if x.dtype.kind in "iu" and x.dtype != np.uint8:
        raise MiniganError(f"the samples are {x.dtype} integers; give uint8 pixels in [0, 255] "
                           f"(x.astype(numpy.uint8)) or floats in [-1, 1] (x / 127.5 - 1).")
    n, c, h, w = x.shape
    if n < 2:
        raise MiniganError(f"metrics need at least 2 samples, got {n}; generate more (e.g. --num 10000).")
    if c != channels:
        raise MiniganError(f"the samples have {c} channels but the judge reads {channels}; evaluate them "
                           f"against a dataset with {c}-channel images.")
    if h != w:
        raise MiniganError(f"the samples are {h}x{w}; the judge reads square images.")
    if not MIN_IMAGE_SIZE <= h <= MAX_IMAGE_SIZE:
        raise MiniganError(f"the samples are {h}x{w} pixels; the judge resizes square images of "
                           f"{MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} pixels a side, not these.")
    if x.dtype.kind == "f":
        _check_range(x)


def check_images(images, channels, image_size):
    """Validate generated images and bring them to the judge's size and range.

    Args:
        images: (n, c, h, w) or (n, h, w) array (numpy, cupy or Tensor), floats in [-1, 1] or uint8.
        channels (int): channels the judge reads.
        image_size (int): side the judge reads; other square sizes are resized (bilinear).
    Returns:
        (images float32 (n, channels, image_size, image_size) in [-1, 1], note str or None saying
        what was changed).
    Raises:
        MiniganError: see ``validate_images``.
    """
    validate_images(images, channels)
    x = _as_nchw(images)
    n, c, h, w = x.shape
    notes = []
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        notes.append("uint8 pixels scaled to [-1, 1]")
    x = x.astype(np.float32, copy=False)
    if h != image_size:
        pixels = to_uint8(x[:, 0] if c == 1 else x.transpose(0, 2, 3, 1))
        small = resize_uint8(pixels, image_size).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        x = small[:, None] if c == 1 else small.transpose(0, 3, 1, 2)
        notes.append(f"resized from {h}x{w} to {image_size}x{image_size}")
    return np.ascontiguousarray(x), "; ".join(notes) or None


def check_for_judge(images, labels, dataset):
    """Raise MiniganError unless the images (and labels) suit ``dataset``'s judge; needs no judge."""
    channels, _, num_classes, _ = judge.input_spec(dataset)
    validate_images(images, channels)
    check_labels(labels, len(images), num_classes)


def is_checkpoint(path):
    """True for a run folder or an .npz with a checkpoint's 'meta' entry (a samples file has 'images')."""
    if os.path.isdir(path):
        return True
    try:
        return "meta" in files.array_headers(path, "NumPy file", FIX)
    except MiniganError:
        return False


def check_checkpoint(ckpt, dataset, n):
    """Raise MiniganError unless n samples of the checkpoint can be scored by ``dataset``'s judge."""
    if n < 2:
        raise MiniganError(f"metrics need at least 2 samples, not {n}; use --num 10000.")
    channels, _, num_classes, _ = judge.input_spec(dataset)
    meta = ckpt.meta
    c = meta["image_shape"][0]
    if c != channels:
        raise MiniganError(f"checkpoint {ckpt.path} makes {c}-channel images but the {dataset} judge reads "
                           f"{channels}; evaluate it against a dataset of {c}-channel images (--dataset).")
    from minigan import gan

    if gan.get_trainer_class(meta["model"]).conditional and int(meta["num_classes"]) > num_classes:
        raise MiniganError(f"checkpoint {ckpt.path} is conditioned on {meta['num_classes']} classes but the "
                           f"{dataset} judge knows {num_classes}; evaluate it against its own dataset.")
    limits.check_images_fit(n, meta["image_shape"], f"--num {n}", "score fewer samples (10000 is the usual).")


def check_stage(ckpt, stage):
    """Raise MiniganError unless ``stage`` (None, 1 or 2) is a stage the checkpoint's model can be sampled at."""
    if stage is None:
        return
    model = ckpt.meta["model"]
    if model != "stackgan":
        raise MiniganError(f"--stage picks a StackGAN stage, and {ckpt.path} is a {model} run; drop --stage.")
    if stage == 2 and ckpt.config.stage == "1":
        raise MiniganError(f"{ckpt.path} trained stage I alone (--stage 1), so it has no stage II to score; "
                           "use --stage 1.")


@dataclass
class Target:
    """What ``minigan eval`` scores, checked: a checkpoint (``checkpoint`` set) or samples (``images`` set).

    Attributes:
        path (str): as given.
        dataset (str): the canonical name of the dataset whose judge scores it.
        checkpoint (Checkpoint or None): the loaded checkpoint.
        images, labels (numpy.ndarray or None): a samples file's arrays.
        stage (int or None): the StackGAN stage a checkpoint is sampled at (None: its last).
    """

    path: str
    dataset: str
    checkpoint: object = None
    images: np.ndarray = None
    labels: np.ndarray = None
    stage: int = None


def open_target(target, dataset=None, n=10000, stage=None):
    """Load and check what ``minigan eval TARGET`` scores, before any generator or judge work.

    Args:
        target (str): a run folder, a checkpoint .npz, or a samples .npz/.npy.
        dataset (str or None): whose judge scores it; None: the checkpoint's, or mnist for samples.
        n (int): samples that will be drawn from a checkpoint.
        stage (int or None): a StackGAN run's stage to score (1 or 2); None: its last.
    Returns:
        Target.
    Raises:
        MiniganError: any input that could not be scored, named in one sentence.
    """
    from minigan.gan import checkpoint

    if os.path.exists(target) and is_checkpoint(target):
        ckpt = checkpoint.load(target)
        key = judge.canonical_dataset(dataset or ckpt.meta["dataset"])
        check_checkpoint(ckpt, key, n)
        check_stage(ckpt, stage)
        return Target(target, key, checkpoint=ckpt, stage=stage)
    if stage is not None:
        raise MiniganError(f"--stage picks a StackGAN run's stage to sample, and {target} holds samples already "
                           "drawn; drop --stage.")
    key = judge.canonical_dataset(dataset or "mnist")
    images, labels = load_samples(target)
    check_for_judge(images, labels, key)
    return Target(target, key, images=images, labels=labels)


def draw(target, n=10000, seed=0, device="cpu", as_trained=False):
    """The images of an opened Target: a samples file's as they are, or n fresh samples of a checkpoint
    (``as_trained``: from G's weights as trained, not their --ema average).

    Returns:
        (images, labels or None, description).
    """
    if target.checkpoint is None:
        refuse_as_trained_samples(as_trained, target.path)
        return target.images, target.labels, f"{len(target.images)} samples from {target.path}"
    images, labels, _ = samples_from_checkpoint(target.checkpoint, n, seed, device, target.stage, as_trained)
    stage = {None: "", 1: f", stage I enlarged to {images.shape[-1]} px", 2: ", stage II"}[target.stage]
    return images, labels, f"{len(images)} samples from {target.path} (seed {seed}{stage}{weights_note(as_trained)})"


def refuse_as_trained_samples(as_trained, path):
    """--as-trained on a samples file (nothing left to sample): one sentence."""
    if as_trained:
        raise MiniganError(f"--as-trained picks a checkpoint's weights, and {path} holds samples already drawn; "
                           "drop --as-trained.")


def weights_note(as_trained):
    """What a description says of G's weights: nothing by default (its --ema average when it has one)."""
    return ", G's weights as trained" if as_trained else ""


def samples_from_checkpoint(path, n=10000, seed=0, device="cpu", stage=None, as_trained=False):
    """n images from a checkpoint's generator (eval mode), noise seeded by ``seed``.

    Conditional models are asked for each class in turn (balanced labels, as ``minigan sample``).
    G samples with the moving average of its weights when the run kept one (--ema), as in training.

    Args:
        path (str or Checkpoint): a checkpoint .npz, a run folder, or a loaded checkpoint.
        stage (int or None): a StackGAN run's stage (``check_stage``); None: its last.
        as_trained (bool): sample G's weights as trained, not their --ema average.
    Returns:
        (images float32 (n, c, h, w), labels int64 (n,) or None, the dataset it was trained on).
    """
    from minigan.gan import averaging, checkpoint

    if n < 2:
        raise MiniganError(f"metrics need at least 2 samples, not {n}; use --num 10000.")
    ckpt = path if isinstance(path, checkpoint.Checkpoint) else checkpoint.load(path)
    limits.check_images_fit(n, ckpt.meta["image_shape"], f"--num {n}", "score fewer samples (10000 is the usual).")
    check_stage(ckpt, stage)
    trainer = checkpoint.build_trainer(ckpt, device)
    labels = np.arange(n, dtype=np.int64) % trainer.num_classes if trainer.conditional else None
    options = {} if stage is None else {"stage": stage}
    with averaging.without_averages(trainer, "G") if as_trained else contextlib.nullcontext():
        images = trainer.sample(n=n, labels=labels, rng=np.random.default_rng(seed), **options)
    return images, labels, trainer.config.dataset


def images_for(target, n=10000, seed=0, device="cpu", dataset=None, stage=None):
    """What ``minigan eval TARGET`` scores, checked (``open_target``), then drawn (``draw``).

    Returns:
        (images, labels or None, the dataset whose judge scores them, description).
    """
    opened = open_target(target, dataset, n, stage)
    images, labels, description = draw(opened, n, seed, device)
    return images, labels, opened.dataset, description
