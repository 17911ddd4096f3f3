"""A communicator of N ranks that are threads of one process, for fast in-process tests of
data-parallel code (tests/test_distributed*.py); the real backends are tested under mpiexec.

The ranks take turns: a rank holds the one lock while it computes and lets go only while it
waits inside a collective call, so two ranks never run Numba's parallel loops at once (Numba's
workqueue threading layer forbids that) and the results do not depend on thread timing. What a
process holds globally and a rank may change (autograd's grad mode: no_grad) is saved when a rank
lets go and restored when it takes its turn again, as if each rank were a process of its own.
"""

import threading

import numpy as np

from minigan import function
from minigan.distributed.communicator import Communicator

WAIT_S = 120.0


class ThreadWorld:
    """The meeting point of ``size`` thread ranks."""

    def __init__(self, size):
        self.size = size
        self.turn = threading.Condition()
        self.values, self.arrived, self.generation, self.result = [None] * size, 0, 0, None
        self.failed = False

    def meet(self, rank, value, combine):
        """Every rank hands in ``value``; all get ``combine(values in rank order)``. Call with ``turn`` held."""
        generation = self.generation
        self.values[rank] = value
        self.arrived += 1
        if self.arrived == self.size:
            self.result = combine(list(self.values))
            self.arrived, self.generation = 0, self.generation + 1
            self.turn.notify_all()
        else:
            grad_mode = function._grad_enabled  # this rank's, while another takes its turn
            while self.generation == generation:
                if self.failed or not self.turn.wait(WAIT_S):
                    raise RuntimeError("another thread rank failed or never came to the collective call")
            function._grad_enabled = grad_mode
        return self.result

    def run(self, fn):
        """fn(comm) on every rank, each in a thread; returns [result of rank 0, ...] or raises the first error."""
        results, errors = [None] * self.size, []

        def body(rank):
            with self.turn:
                try:
                    results[rank] = fn(ThreadComm(self, rank))
                except BaseException as e:  # noqa: BLE001 -- handed to the main thread
                    errors.append(e)
                    self.failed = True
                    self.turn.notify_all()

        threads = [threading.Thread(target=body, args=(r,)) for r in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


class ThreadComm(Communicator):
    """One thread rank of a ThreadWorld (NumPy arrays)."""

    name = "threads"

    def __init__(self, world, rank):
        self.world, self.rank, self.size = world, rank, world.size
        self.local_rank, self.local_size = rank, world.size

    def all_reduce(self, x, op="sum"):
        combine = (lambda xs: np.sum(xs, axis=0)) if op == "sum" else (lambda xs: np.max(xs, axis=0))
        x[...] = self.world.meet(self.rank, np.array(x, copy=True), combine)
        return x

    def broadcast(self, x, root=0):
        x[...] = self.world.meet(self.rank, np.array(x, copy=True), lambda xs: xs[root])
        return x

    def gather(self, x, root=0):
        values = self.world.meet(self.rank, np.array(x, copy=True), lambda xs: xs)
        return [v.copy() for v in values] if self.rank == root else None

    def barrier(self):
        self.world.meet(self.rank, None, lambda xs: None)

    def rendezvous(self, seconds):
        return True

    def abort(self, code):
        raise SystemExit(code)


def run_ranks(size, fn):
    """fn(comm) on ``size`` thread ranks; the list of their results."""
    return ThreadWorld(size).run(fn)
