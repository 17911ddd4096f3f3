"""This rank's rows of a global batch, and of the random draws one process makes for it.

Notation: N ranks split a global batch of n rows evenly; rank r holds rows r * n/N up to
(r + 1) * n/N, in the single-process order. Every rank draws the global batch's random numbers
(noise, dropout masks, instance noise) from the same seeded Generator and keeps its rows: a
draw costs little next to a step, every Generator advances as one process's does, and so a
checkpoint, and a resume on any number of ranks, is the same as a single process's.
"""

import numpy as np


def local_rows(comm, array):
    """This rank's rows of ``array`` (a global batch, split evenly in rank order); None stays None.

    Raises:
        ValueError: the rows do not split evenly over the ranks.
    """
    if array is None or comm.size == 1:
        return array
    n = array.shape[0]
    if n % comm.size:
        raise ValueError(f"{n} rows do not split evenly over {comm.size} ranks")
    k = n // comm.size
    return array[comm.rank * k:(comm.rank + 1) * k]


class ShardedGenerator:
    """A random Generator whose every draw is this rank's rows of a single process's draw.

    Asked for an array of shape (k, ...), it draws (k * N, ...) from ``rng`` and keeps this rank's
    rows, so ``rng`` advances exactly as it would in one process (a Dropout layer's Generator,
    wrapped, drops the same units as in one process). Draws without a batch dimension are refused.

    Args:
        rng: a numpy (or cupy) ``Generator``.
        comm (Communicator): the ranks.
    """

    def __init__(self, rng, comm):
        self.rng, self.comm = rng, comm

    def _global(self, size):
        if size is None:
            raise TypeError("a sharded draw needs a batch dimension (size=(rows, ...))")
        shape = (size,) if np.isscalar(size) else tuple(size)
        return (shape[0] * self.comm.size,) + shape[1:]

    def random(self, size=None, dtype=np.float64):
        return local_rows(self.comm, self.rng.random(self._global(size), dtype=dtype))

    def standard_normal(self, size=None, dtype=np.float64):
        return local_rows(self.comm, self.rng.standard_normal(self._global(size), dtype=dtype))

    def uniform(self, low=0.0, high=1.0, size=None):
        return local_rows(self.comm, self.rng.uniform(low, high, self._global(size)))

    def integers(self, low, high=None, size=None, dtype=np.int64):
        return local_rows(self.comm, self.rng.integers(low, high, self._global(size), dtype=dtype))
