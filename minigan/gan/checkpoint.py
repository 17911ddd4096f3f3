"""Checkpoints: a whole training state in one .npz file, no pickle, written atomically.

Entries of the archive (each a plain array; text is a 0-d unicode array):

    meta                 JSON: format, format_version, minigan version, model, dataset, image_shape,
                         num_classes, epoch, step, networks, config
    net/<name>/<key>     each network's state_dict: parameters and batch-norm buffers
    optim/<name>/<key>   each optimizer's state_dict: step, exp_avg.<i>, exp_avg_sq.<i>
    rng/<name>           JSON of each Generator's bit_generator.state (data order, noise, dropout, ...)
    data/<key>           the BatchIterator position: epoch, index, this epoch's permutation
    fixed/<name>         the sample grid's inputs (noise, labels)
    history/<name>       the per-step metrics so far (for the loss curve)
    state/<name>/<key>   the techniques' state: historical averages, the replay buffer

Networks and optimizers are saved by name, so a model with several G/D pairs (LAPGAN) needs
nothing special. Arrays are stored on the host; loading puts them on the trainer's device.

``format_version`` counts changes to this layout that an older minigan could not read; a
checkpoint of a newer version is refused with both versions named (one without it is version 1).
"""

import json
import os
import shutil

import numpy as np

from minigan import __version__, backend, files
from minigan.errors import MiniganError

FORMAT = "minigan-checkpoint"
FORMAT_VERSION = 1  # raise it when a checkpoint written now could not be read by the previous code
LAST = "last.npz"
FOLDER = "checkpoints"


def epoch_name(epoch):
    return f"epoch_{epoch:03d}.npz"


def _text(value):
    return np.array(json.dumps(value))


def state_arrays(trainer):
    """Every entry of the checkpoint of ``trainer``, as {name: numpy array}."""
    arrays = {"meta": _text(meta_of(trainer))}
    for name, net in trainer.networks.items():
        arrays.update({f"net/{name}/{k}": backend.to_cpu(v) for k, v in net.state_dict().items()})
    for name, opt in trainer.optimizers.items():
        arrays.update({f"optim/{name}/{k}": backend.to_cpu(v) for k, v in opt.state_dict().items()})
    arrays.update({f"rng/{name}": _text(g.bit_generator.state) for name, g in trainer.rngs.items()})
    arrays.update({f"data/{k}": np.asarray(v) for k, v in (trainer.data_state or {}).items()})
    arrays.update({f"fixed/{k}": np.asarray(v) for k, v in trainer.fixed.items()})
    arrays.update({f"history/{k}": np.asarray(v, dtype=np.float64) for k, v in trainer.history.items()})
    for name, state in trainer.states.items():
        arrays.update({f"state/{name}/{k}": backend.to_cpu(v) for k, v in state.state_dict().items()})
    return arrays


def meta_of(trainer):
    config = trainer.config.to_dict()
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "minigan_version": __version__, "model": trainer.name,
            "dataset": config["dataset"], "image_shape": list(trainer.image_shape),
            "num_classes": trainer.num_classes, "epoch": trainer.epoch, "step": trainer.step,
            "networks": list(trainer.networks), "config": config}


FIX = "free some disk space or choose a writable run folder."


def write_npz(path, arrays):
    """np.savez, atomically (minigan.files): never half a checkpoint."""
    with files.atomic_open(path, "checkpoint", FIX) as f:
        np.savez(f, **arrays)


def copy_atomic(src, dst):
    """Copy a finished checkpoint to another name, atomically as well."""
    with open(src, "rb") as source, files.atomic_open(dst, "checkpoint", FIX) as f:
        shutil.copyfileobj(source, f)


def save(trainer, path):
    """Write the trainer's whole state to ``path`` (.npz)."""
    write_npz(path, state_arrays(trainer))


def prune(folder, keep):
    """Delete all but the newest ``keep`` epoch_NNN.npz in ``folder`` (keep 0: delete none)."""
    if keep <= 0:
        return
    names = sorted(n for n in os.listdir(folder) if n.startswith("epoch_") and n.endswith(".npz"))
    for name in names[:-keep]:
        os.remove(os.path.join(folder, name))


def find(path):
    """The .npz a path means: the file itself, or a run folder's checkpoints/last.npz."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for candidate in (os.path.join(path, FOLDER, LAST), os.path.join(path, LAST)):
            if os.path.isfile(candidate):
                return candidate
        raise MiniganError(f"{path} holds no checkpoint ({FOLDER}/{LAST}); pass a run folder of "
                           "`minigan train` or a checkpoint .npz file.")
    if not os.path.isfile(path):
        raise MiniganError(f"no checkpoint at {path}; pass a run folder of `minigan train` or a "
                           "checkpoint .npz file.")
    return path


def run_folder_of(path):
    """The run folder a checkpoint file belongs to (RUN for RUN/checkpoints/x.npz)."""
    folder = os.path.dirname(os.path.abspath(path))
    run = os.path.dirname(folder) if os.path.basename(folder) == FOLDER else folder
    relative = os.path.relpath(run)
    return run if relative.startswith("..") else relative  # as short as the user would write it


class Checkpoint:
    """A loaded checkpoint: ``meta`` (dict), ``arrays`` (dict of numpy arrays), ``path``."""

    def __init__(self, path, meta, arrays):
        self.path, self.meta, self.arrays = path, meta, arrays

    def group(self, prefix):
        """{key: array} of the entries named ``prefix/key``."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.arrays.items() if k.startswith(prefix + "/")}

    @property
    def config(self):
        from minigan.gan.base import TrainConfig

        return TrainConfig.from_dict(self.meta["config"])


DAMAGED_FIX = "use another checkpoint (an epoch_NNN.npz beside it) or start a new run."


def load(path):
    """Read and check a checkpoint file (``allow_pickle=False``: no code runs on load).

    The headers are checked first (``files.array_headers``: no object arrays, nothing larger
    than the memory budget), then every entry is read, so the zip's CRCs are checked too.

    Raises:
        MiniganError: missing, damaged, truncated, not a minigan checkpoint, or of a newer format.
    """
    path = find(path)
    arrays = files.load_arrays(path, "minigan checkpoint", DAMAGED_FIX)
    try:
        meta = json.loads(str(arrays["meta"]))
        ok = meta.get("format") == FORMAT
    except (KeyError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise MiniganError(f"{path} is not a minigan checkpoint (no valid 'meta' entry); "
                           "pass a file written by `minigan train`.")
    check_version(meta, path)
    return Checkpoint(path, meta, arrays)


def check_version(meta, path):
    """Raise MiniganError when the checkpoint's format is newer than this minigan reads."""
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise MiniganError(f"checkpoint {path} has format version {version}, but this minigan ({__version__}) "
                           f"reads format versions up to {FORMAT_VERSION}; it was written by a newer minigan: "
                           "upgrade minigan (pip install -U minigan) to use it.")


def check_matches(ckpt, model, dataset, image_shape, num_classes):
    """Raise MiniganError naming the difference when ckpt is of another model, data or shape."""
    meta, where = ckpt.meta, ckpt.path
    if meta["model"] != model:
        raise MiniganError(f"checkpoint {where} is of a {meta['model']} model, not {model}; "
                           f"resume it with --model {meta['model']}, or start a new run.")
    if meta["dataset"] != dataset:
        raise MiniganError(f"checkpoint {where} was trained on {meta['dataset']}, not {dataset}; "
                           f"resume it with `minigan train {meta['dataset']} --resume ...`, or start a new run.")
    if tuple(meta["image_shape"]) != tuple(image_shape):
        raise MiniganError(f"checkpoint {where} makes images of shape {tuple(meta['image_shape'])} (c, h, w), "
                           f"but this data is {tuple(image_shape)}; use the same --image-size and --channels.")
    if int(meta["num_classes"]) != int(num_classes):
        raise MiniganError(f"checkpoint {where} has {meta['num_classes']} classes, this data {num_classes}; "
                           "resume on the same dataset.")


def restore(trainer, ckpt):
    """Load a checkpoint into a trainer built with the same settings (on any device)."""
    check_matches(ckpt, trainer.name, trainer.config.dataset, trainer.image_shape, trainer.num_classes)
    if sorted(ckpt.meta["networks"]) != sorted(trainer.networks):
        raise MiniganError(f"checkpoint {ckpt.path} holds networks {ckpt.meta['networks']}, this model "
                           f"{list(trainer.networks)}; it was saved by another version of the model.")
    try:
        for name, net in trainer.networks.items():
            net.load_state_dict(ckpt.group(f"net/{name}"))
        for name, opt in trainer.optimizers.items():
            opt.load_state_dict(ckpt.group(f"optim/{name}"))
    except MiniganError as e:
        raise MiniganError(f"checkpoint {ckpt.path} does not fit this model, it was saved with other "
                           f"settings (--nz, --arch, --image-size?): {e}") from e
    for name, text in ckpt.group("rng").items():
        if name in trainer.rngs:
            trainer.rngs[name].bit_generator.state = json.loads(str(text))
    trainer.fixed = {k: v.copy() for k, v in ckpt.group("fixed").items()}
    trainer.history = {k: v.tolist() for k, v in ckpt.group("history").items()}
    for name, state in trainer.states.items():
        state.load_state_dict(ckpt.group(f"state/{name}"))
    trainer.data_state = ckpt.group("data") or None
    trainer.epoch, trainer.step = int(ckpt.meta["epoch"]), int(ckpt.meta["step"])
    return trainer


def build_trainer(path, device="cpu"):
    """The trainer a checkpoint was saved from, rebuilt and restored (no data needed).

    Args:
        path (str or Checkpoint): a checkpoint .npz or a run folder, or a checkpoint already loaded.
        device (str): cpu or gpu -- a checkpoint loads on either.
    Returns:
        Trainer.
    """
    from minigan import gan

    ckpt = path if isinstance(path, Checkpoint) else load(path)
    config = ckpt.config
    config.device = device
    cls = gan.get_trainer_class(ckpt.meta["model"])
    trainer = cls(config, tuple(ckpt.meta["image_shape"]), int(ckpt.meta["num_classes"]))
    return restore(trainer, ckpt)
