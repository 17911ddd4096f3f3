"""The NCCL backend: GPU arrays all-reduced by NCCL through CuPy, one GPU per rank.

As ChainerMN's ``PureNcclCommunicator``: rank 0 makes the NCCL unique id, MPI broadcasts it,
and every rank joins the NCCL communicator with it. Each rank takes the GPU of its place on its
machine (``local_rank``), so a machine runs at most as many ranks as it has GPUs. CuPy arrays go
through NCCL on the current stream; host (NumPy) arrays -- the stop flag of the training loop,
error rendezvous -- go through the MPI communicator underneath.

Written and tested without a GPU (tests/test_distributed_nccl.py drives it with a stand-in NCCL
module over MPI); to be proven on GPUs.
"""

import numpy as np

from minigan import backend
from minigan.distributed.communicator import Communicator
from minigan.errors import MiniganError


def gpu_shortage(local_size, gpus):
    """The one sentence refusing ``local_size`` ranks on a machine of ``gpus`` GPUs, or None."""
    if local_size <= gpus:
        return None
    return (f"{local_size} ranks of this run share a machine with {gpus} GPU{'s' if gpus != 1 else ''}, and each "
            f"rank needs a GPU of its own for NCCL; start at most {gpus} per machine (a hostfile line "
            f"`host slots={gpus}`), or train with --device cpu.")


class NcclCommunicator(Communicator):
    """A Communicator whose CuPy arrays travel by NCCL and whose host arrays travel by MPI.

    Args:
        mpi (MpiCommunicator): the ranks, as MPI sees them.
        nccl: the ``cupy.cuda.nccl`` module (a stand-in in tests).
        gpus (int or None): GPUs on this machine (None: ask CUDA).
    Raises:
        MiniganError: on every rank, when some machine runs more ranks than it has GPUs.
    """

    def __init__(self, mpi, nccl=None, gpus=None):
        self.mpi = mpi
        self.rank, self.size = mpi.rank, mpi.size
        self.local_rank, self.local_size = mpi.local_rank, mpi.local_size
        if nccl is None:
            backend.require_gpu()
            from cupy.cuda import nccl
        self.nccl = nccl
        gpus = backend.cupy.cuda.runtime.getDeviceCount() if gpus is None else gpus
        problem = gpu_shortage(self.local_size, gpus)
        shortage = mpi.all_reduce(np.array([problem is not None], np.int32), "max")  # every rank refuses at once
        if shortage[0]:
            raise MiniganError(problem or "some machine of this run has more ranks than GPUs; start at most one "
                                          "rank per GPU on every machine, or train with --device cpu.")
        self.use_device(self.local_rank)
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi.comm.bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.types = {np.dtype(np.float16): nccl.NCCL_FLOAT16, np.dtype(np.float32): nccl.NCCL_FLOAT32,
                      np.dtype(np.float64): nccl.NCCL_FLOAT64, np.dtype(np.int32): nccl.NCCL_INT32,
                      np.dtype(np.int64): nccl.NCCL_INT64}
        self.ops = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX}
        self.name = f"NCCL on GPU {self.local_rank} of each machine, over {mpi.name}"

    # how CuPy names a device array's memory and the current stream (a stand-in replaces them in tests)
    @staticmethod
    def use_device(index):
        backend.cupy.cuda.Device(index).use()

    @staticmethod
    def pointer(x):
        return x.data.ptr

    @staticmethod
    def stream():
        return backend.cupy.cuda.get_current_stream().ptr

    @staticmethod
    def empty(shape, dtype):
        return backend.cupy.empty(shape, dtype)

    def _device(self, x):
        if not x.flags.c_contiguous:
            raise ValueError("collective operations work in place on C-contiguous arrays")
        return self.pointer(x), x.size, self.types[np.dtype(x.dtype)]

    def all_reduce(self, x, op="sum"):
        if not backend.is_gpu_array(x):
            return self.mpi.all_reduce(x, op)
        ptr, count, dtype = self._device(x)
        self.comm.allReduce(ptr, ptr, count, dtype, self.ops[op], self.stream())
        return x

    def broadcast(self, x, root=0):
        if not backend.is_gpu_array(x):
            return self.mpi.broadcast(x, root)
        ptr, count, dtype = self._device(x)
        self.comm.bcast(ptr, count, dtype, root, self.stream())
        return x

    def gather(self, x, root=0):
        """NCCL has no gather: every rank all-gathers, and only ``root`` keeps the result."""
        if not backend.is_gpu_array(x):
            return self.mpi.gather(x, root)
        ptr, count, dtype = self._device(x)
        received = self.empty((self.size,) + tuple(x.shape), x.dtype)
        self.comm.allGather(ptr, self.pointer(received), count, dtype, self.stream())
        return list(received) if self.rank == root else None

    def barrier(self):
        if backend.cupy is not None:
            backend.cupy.cuda.get_current_stream().synchronize()
        self.mpi.barrier()

    def rendezvous(self, seconds):
        return self.mpi.rendezvous(seconds)

    def abort(self, code):
        self.mpi.abort(code)
