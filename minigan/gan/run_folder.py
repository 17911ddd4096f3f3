"""The run folder: everything one training run writes, in one place printed at the start.

    runs/mnist-dcgan-20250101-120000/
        config.json             the settings (also stored in every checkpoint)
        metrics.jsonl           one JSON object per log line: epoch, step, loss_D, loss_G, D_x, D_G_z
        loss.png                the loss curves, redrawn after every epoch
        samples/real.png        training images, to compare the samples with
        samples/epoch_001.png   the fixed-noise sample grid after each epoch
        checkpoints/last.npz    the newest checkpoint; epoch_001.npz ... one per epoch

A new run never writes into a folder that already holds files; only a resumed run continues one.
"""

import datetime
import json
import os

from minigan import files
from minigan.errors import MiniganError
from minigan.gan import checkpoint

DEFAULT_ROOT = "runs"


def default_path(config, root=DEFAULT_ROOT, now=None):
    """runs/<dataset>-<model>-<YYYYmmdd-HHMMSS>, with -2, -3, ... when that name is taken."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = os.path.join(root, f"{config.dataset}-{config.model}-{stamp}")
    path, k = base, 2
    while os.path.exists(path):
        path, k = f"{base}-{k}", k + 1
    return path


def check_fresh(path):
    """Raise MiniganError when ``path`` exists and is not an empty folder, or cannot be created."""
    if os.path.isdir(path) and os.listdir(path):
        raise MiniganError(f"run folder {path} already holds files and a new run never overwrites them; "
                           f"choose another --out, or continue that run with --resume {path}.")
    if os.path.exists(path) and not os.path.isdir(path):
        raise MiniganError(f"{path} is a file, not a folder; choose another --out.")
    files.check_writable(path, "--out", folder=True, what="run folder")


class RunFolder:
    """Paths inside one run folder, and the metrics log.

    Args:
        path (str): the folder; use ``create`` for a new run, ``open`` to continue one.
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    @classmethod
    def create(cls, path):
        """Make a new, empty run folder (refusing one that holds files)."""
        check_fresh(path)
        return cls._make(path)

    @classmethod
    def open(cls, path):
        """An existing run folder, to continue writing into."""
        return cls._make(path)

    @classmethod
    def _make(cls, path):
        try:
            for sub in ("samples", checkpoint.FOLDER):
                os.makedirs(os.path.join(path, sub), exist_ok=True)
        except OSError as e:
            raise MiniganError(f"cannot create run folder {path} ({e.strerror or e}); "
                               "choose a writable --out.") from e
        return cls(path)

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    @property
    def checkpoints(self):
        return self.file(checkpoint.FOLDER)

    @property
    def last_checkpoint(self):
        return self.file(checkpoint.FOLDER, checkpoint.LAST)

    def write_config(self, config):
        with open(self.file("config.json"), "w") as f:
            json.dump(config.to_dict(), f, indent=2)
            f.write("\n")

    def append_metrics(self, row):
        """Add one JSON line to metrics.jsonl."""
        with open(self.file("metrics.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")

    def metrics(self):
        """Every row of metrics.jsonl (an empty list when there is none yet)."""
        path = self.file("metrics.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def truncate_metrics(self, step):
        """Drop rows logged after ``step``: a resumed run logs those steps again."""
        rows = [r for r in self.metrics() if r.get("step", 0) <= step]
        tmp = self.file(".metrics.jsonl.tmp")
        with open(tmp, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        os.replace(tmp, self.file("metrics.jsonl"))
