"""Shuffled mini-batches with a position that a checkpoint can save and restore exactly.

Notation: an epoch visits ``permutation`` (drawn from the rng when the epoch starts) in slices
of ``batch_size``; the position (epoch, index) says that ``index`` batches of epoch ``epoch``
have been handed out. Resuming from a saved position hands out the same remaining batches.
"""

import numpy as np

from minigan.errors import MiniganError


class BatchIterator:
    """Mini-batches of a Dataset in a fresh random order each epoch.

    ``for x, y in it`` runs the rest of the current epoch (a whole epoch when one just ended);
    ``next_batch()`` runs on across epochs for step-counted training. Both share the position.

    The rng is the caller's (the trainer owns every Generator and saves its state with the
    checkpoint); ``state_dict()`` holds the position and the current epoch's permutation.

    Args:
        dataset (minigan.data.Dataset): images (n, c, h, w) float32, labels (n,) or None.
        batch_size (int): images per batch.
        rng (numpy.random.Generator): draws each epoch's permutation.
        drop_last (bool): skip the final short batch, so every batch has batch_size images.
    """

    def __init__(self, dataset, batch_size, rng, drop_last=True):
        n = len(dataset)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise MiniganError(f"batch size must be a positive whole number, not {batch_size!r}.")
        if n == 0:
            raise MiniganError("the dataset is empty; there is nothing to train on.")
        if drop_last and batch_size > n:
            raise MiniganError(f"batch size {batch_size} is larger than the dataset ({n} images); "
                               f"use a batch size of at most {n}.")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.rng = rng
        self.drop_last = drop_last
        self.epoch = 0
        self.index = 0
        self.permutation = None  # drawn lazily, when the epoch's first batch is asked for

    def __len__(self):
        """Batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batch(self, i):
        rows = self.permutation[i * self.batch_size:(i + 1) * self.batch_size]
        labels = self.dataset.labels
        return self.dataset.images[rows], None if labels is None else labels[rows]

    def next_batch(self):
        """The next (images, labels) batch, starting a new epoch when the current one is done.

        Returns:
            (images float32 (b, c, h, w), labels int64 (b,) or None), fresh arrays.
        """
        if self.index >= len(self):
            self.epoch += 1
            self.index = 0
            self.permutation = None
        if self.permutation is None:
            self.permutation = self.rng.permutation(len(self.dataset))
        self.index += 1  # counted before the batch is used: a checkpoint after it skips it
        return self._batch(self.index - 1)

    def __iter__(self):
        yield self.next_batch()  # moves on to a new epoch when the current one is done
        while self.index < len(self):
            yield self.next_batch()

    @property
    def position(self):
        """(epoch, index within epoch, permutation or None)."""
        return self.epoch, self.index, self.permutation

    def state_dict(self):
        """The position as plain ints and numpy arrays (savable in an .npz, no pickle).

        Returns:
            dict: epoch, index, permutation (int64; empty before the epoch's first batch),
            plus num_examples and batch_size to catch a resume on other data.
        """
        perm = np.zeros(0, dtype=np.int64) if self.permutation is None else self.permutation.astype(np.int64)
        return {"epoch": self.epoch, "index": self.index, "permutation": perm,
                "num_examples": len(self.dataset), "batch_size": self.batch_size}

    def load_state_dict(self, state):
        """Restore a position saved by ``state_dict()`` (values may be 0-d arrays, as from an .npz).

        Raises:
            MiniganError: the state was saved for another dataset size or batch size.
        """
        n, b = int(state["num_examples"]), int(state["batch_size"])
        if n != len(self.dataset) or b != self.batch_size:
            raise MiniganError(f"the checkpoint's data position is for {n} images in batches of {b}, "
                               f"but this run has {len(self.dataset)} images in batches of "
                               f"{self.batch_size}; resume with the same dataset and batch size.")
        perm = np.asarray(state["permutation"], dtype=np.int64)
        if perm.size not in (0, n) or not 0 <= int(state["index"]) <= len(self):
            raise MiniganError("the checkpoint's data position is damaged (bad permutation or index); "
                               "resume from another checkpoint.")
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self.permutation = perm.copy() if perm.size else None
