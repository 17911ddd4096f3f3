"""The communicator interface, its single-process backend, and how the ranks of a run stop together."""

import contextlib
import sys
import traceback

from minigan.errors import MiniganError

# Note [stopping together]
#     A rank that raises must not leave the others blocked in a collective call forever. When
#     every rank stops at the same point -- the same bad option, the same NaN (the logged
#     metrics are averaged, so all ranks see it at the same step), a Ctrl-C or SIGTERM (mpiexec
#     forwards it to every rank; the training loop agrees on the step to stop at) -- the ranks
#     meet in ``rendezvous`` within seconds: rank 0 prints the one message and every rank exits
#     with the same status. A rank that stops alone (data missing on its machine, a disk full
#     on rank 0) waits STOP_WAIT_S for the others, prints its message naming its rank and calls
#     ``abort``, which ends every rank (the launcher adds a line of its own). A rank killed
#     outright (kill -9, out of memory) is the launcher's to clean up: mpiexec ends the others.
STOP_WAIT_S = 10.0


class Communicator:
    """What the ranks of a data-parallel run share (see the package docstring).

    Attributes:
        rank (int): this process, 0 .. size - 1; rank 0 writes the run folder.
        size (int): the number of processes.
        local_rank, local_size (int): this process among those on its machine.
        name (str): the backend, for the run's header.
    """

    rank, size, local_rank, local_size, name = 0, 1, 0, 1, "single process"

    def all_reduce(self, x, op="sum"):
        """x <- op over the ranks of x, elementwise and in place ("sum" or "max"); returns x."""
        raise NotImplementedError

    def broadcast(self, x, root=0):
        """x <- the x of rank ``root``, in place; returns x."""
        raise NotImplementedError

    def gather(self, x, root=0):
        """[x of rank 0, ..., x of rank size - 1] on ``root``, None on the other ranks."""
        raise NotImplementedError

    def barrier(self):
        """Return once every rank has called it."""
        raise NotImplementedError

    def rendezvous(self, seconds):
        """True when every rank calls this within ``seconds`` (Note [stopping together])."""
        raise NotImplementedError

    def abort(self, code):
        """End every rank of the run at once with exit status ``code``."""
        raise NotImplementedError


class SingleProcess(Communicator):
    """A run of one process: every collective operation leaves its array as it is."""

    def all_reduce(self, x, op="sum"):
        return x

    def broadcast(self, x, root=0):
        return x

    def gather(self, x, root=0):
        return [x]

    def barrier(self):
        pass

    def rendezvous(self, seconds):
        return True

    def abort(self, code):
        sys.exit(code)


SINGLE = SingleProcess()


def exit_status(error):
    """The status a command exits with for ``error``: 2 for a MiniganError, 130 for Ctrl-C or SIGTERM."""
    if isinstance(error, MiniganError):
        return 2
    if isinstance(error, KeyboardInterrupt):
        return 130
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, int) else 1
    return 1


def _say_alone(comm, error, stream):
    if isinstance(error, MiniganError):
        print(f"Error: rank {comm.rank} of {comm.size} stopped the run: {error}", file=stream)
    elif isinstance(error, KeyboardInterrupt):
        print(f"Interrupted on rank {comm.rank} of {comm.size}.", file=stream)
    elif not isinstance(error, SystemExit):
        print(f"Error: rank {comm.rank} of {comm.size} failed:", file=stream)
        traceback.print_exception(error, file=stream)
    stream.flush()


@contextlib.contextmanager
def stopping_together(comm, stream=None):
    """Run the body on every rank; when it raises, stop every rank without a hang (Note [stopping together]).

    On a single process the exception passes through unchanged. Otherwise rank 0 re-raises it
    when all ranks stopped together (the caller prints it) and the other ranks exit quietly with
    the same status; a rank that stopped alone prints its error on ``stream`` (stderr) and aborts the run.
    """
    try:
        yield
    except BaseException as error:
        if comm.size == 1 or (isinstance(error, SystemExit) and error.code in (0, None)):
            raise
        if comm.rendezvous(STOP_WAIT_S):
            if comm.rank == 0:
                raise
            sys.stdout.flush()
            raise SystemExit(exit_status(error)) from None
        _say_alone(comm, error, stream or sys.stderr)
        sys.stdout.flush()
        comm.abort(exit_status(error))
        raise  # abort does not return; should a backend's ever do, the error still stops this rank
