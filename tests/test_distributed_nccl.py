"""The NCCL backend without a GPU: NcclCommunicator driven by a stand-in for ``cupy.cuda.nccl`` whose
communicator moves the bytes behind the pointers it is given between thread ranks, and NumPy arrays
standing in for CuPy arrays. What this proves: the unique id goes from rank 0 to every rank, each rank
takes the GPU of its place on its machine, device arrays go by NCCL calls with the right pointers,
counts, types and operations, host arrays by MPI, and a machine with too few GPUs is refused by
every rank in one sentence. What it cannot: NCCL and CuPy themselves (to be proven on GPUs)."""

import ctypes
import types

import numpy as np
import pytest
from distributed_fakes import ThreadWorld

from minigan import backend, distributed
from minigan.distributed import nccl as nccl_backend
from minigan.errors import MiniganError

TYPES = {1: np.float16, 2: np.float32, 3: np.float64, 4: np.int32, 5: np.int64}


class DeviceArray(np.ndarray):
    """A NumPy array that this test's backend takes for a GPU array."""


def device(values, dtype=np.float32):
    return np.array(values, dtype=dtype).view(DeviceArray)


def memory(pointer, count, code):
    """The ``count`` elements of NCCL type ``code`` at ``pointer``, as a NumPy view."""
    dtype = np.dtype(TYPES[code])
    raw = (ctypes.c_byte * (count * dtype.itemsize)).from_address(pointer)
    return np.frombuffer(raw, dtype=dtype)


class StandInNccl(types.SimpleNamespace):
    """What NcclCommunicator uses of cupy.cuda.nccl, over the thread ranks of ``world``."""

    def __init__(self, world):
        super().__init__(NCCL_FLOAT16=1, NCCL_FLOAT32=2, NCCL_FLOAT64=3, NCCL_INT32=4, NCCL_INT64=5,
                         NCCL_SUM=10, NCCL_MAX=11, world=world, ids=0, calls=[])

    def get_unique_id(self):
        self.ids += 1
        return ("nccl-id", self.ids)

    def NcclCommunicator(self, size, uid, rank):  # noqa: N802 -- cupy's name
        nccl = self

        class Communicator:
            def __init__(self):
                self.size, self.uid, self.rank = size, uid, rank

            def meet(self, value, combine):
                return nccl.world.meet(rank, value, combine)

            def allReduce(self, send, recv, count, code, op, stream):  # noqa: N802
                nccl.calls.append(("allReduce", rank, count, code, op))
                combine = (lambda xs: np.sum(xs, axis=0)) if op == nccl.NCCL_SUM else (lambda xs: np.max(xs, axis=0))
                memory(recv, count, code)[...] = self.meet(memory(send, count, code).copy(), combine)

            def bcast(self, buffer, count, code, root, stream):
                nccl.calls.append(("bcast", rank, count, code, root))
                memory(buffer, count, code)[...] = self.meet(memory(buffer, count, code).copy(), lambda xs: xs[root])

            def allGather(self, send, recv, count, code, stream):  # noqa: N802
                nccl.calls.append(("allGather", rank, count, code))
                memory(recv, count * size, code)[...] = self.meet(memory(send, count, code).copy(), np.concatenate)

        return Communicator()


class MpiStandIn(distributed.Communicator):
    """The MPI side of NcclCommunicator: a thread rank plus mpi4py's object broadcast (``comm.bcast``)."""

    def __init__(self, thread_comm, local_size):
        self.thread, self.host_calls = thread_comm, 0
        self.rank, self.size = thread_comm.rank, thread_comm.size
        self.local_rank, self.local_size = thread_comm.rank % local_size, local_size
        self.name = "MPI (threads)"
        self.comm = types.SimpleNamespace(bcast=lambda obj, root=0: thread_comm.world.meet(
            thread_comm.rank, obj, lambda xs: xs[root]))

    def all_reduce(self, x, op="sum"):
        self.host_calls += 1
        return self.thread.all_reduce(x, op)

    def broadcast(self, x, root=0):
        return self.thread.broadcast(x, root)

    def gather(self, x, root=0):
        return self.thread.gather(x, root)

    def barrier(self):
        self.thread.barrier()


@pytest.fixture
def stand_in(monkeypatch):
    """Device arrays are DeviceArrays; pointers are their addresses; the GPU chosen is recorded."""
    chosen = []
    monkeypatch.setattr(backend, "is_gpu_array", lambda x: isinstance(x, DeviceArray))
    monkeypatch.setattr(nccl_backend.NcclCommunicator, "pointer", staticmethod(lambda x: x.ctypes.data))
    monkeypatch.setattr(nccl_backend.NcclCommunicator, "stream", staticmethod(lambda: 0))
    monkeypatch.setattr(nccl_backend.NcclCommunicator, "use_device", staticmethod(chosen.append))
    monkeypatch.setattr(nccl_backend.NcclCommunicator, "empty",
                        staticmethod(lambda shape, dtype: np.empty(shape, dtype).view(DeviceArray)))
    return chosen


def run(size, fn, local_size=None, gpus=8):
    world = ThreadWorld(size)
    nccl = StandInNccl(world)

    def rank(comm):
        mpi = MpiStandIn(comm, local_size or size)
        return fn(nccl_backend.NcclCommunicator(mpi, nccl=nccl, gpus=gpus), mpi)

    return world.run(rank), nccl


def test_device_arrays_go_by_nccl_and_host_arrays_by_mpi(stand_in):
    def rank(comm, mpi):
        summed = comm.all_reduce(device([1.0, 2.0 + comm.rank]))
        biggest = comm.all_reduce(device([comm.rank, 5 - comm.rank], np.int64), "max")
        root = comm.broadcast(device([10.0 * comm.rank, 1.0], np.float64), root=1)
        gathered = comm.gather(device([comm.rank + 0.5]), root=0)
        flag = comm.all_reduce(np.array([comm.rank], np.int32), "max")  # a host array: MPI
        return summed, biggest, root, gathered, flag, mpi.host_calls, comm.comm.uid, comm.local_rank

    (r0, r1), nccl = run(2, rank)
    np.testing.assert_array_equal(r0[0], [2.0, 5.0])
    np.testing.assert_array_equal(r1[1], [1, 5])
    np.testing.assert_array_equal(r0[2], [10.0, 1.0])
    assert [g.tolist() for g in r0[3]] == [[0.5], [1.5]] and r1[3] is None
    assert r0[4][0] == r1[4][0] == 1
    assert r0[5] == r1[5] == 2  # the GPU check and the flag went by MPI; no device array did
    assert r0[6] == r1[6] == ("nccl-id", 1) and nccl.ids == 1  # rank 0's id reached rank 1
    assert ("allReduce", 0, 2, 2, 10) in nccl.calls and ("allReduce", 1, 2, 5, 11) in nccl.calls
    assert ("bcast", 1, 2, 3, 1) in nccl.calls and ("allGather", 0, 1, 2) in nccl.calls


def test_each_rank_takes_the_gpu_of_its_place_on_its_machine(stand_in):
    run(4, lambda comm, mpi: comm.local_rank, local_size=2)
    assert sorted(stand_in) == [0, 0, 1, 1]


def test_bucketed_gradients_through_nccl(stand_in, monkeypatch):
    as_device = types.SimpleNamespace(concatenate=lambda arrays: np.concatenate(arrays).view(DeviceArray))
    numpy_module = backend.get_array_module
    monkeypatch.setattr(backend, "get_array_module",
                        lambda *a: as_device if any(isinstance(x, DeviceArray) for x in a) else numpy_module(*a))

    def rank(comm, mpi):
        grads = [device(np.full((2, 3), comm.rank + 1.0)), device(np.full(4, 2.0 * comm.rank))]
        return distributed.all_reduce_arrays(comm, grads, mean=True)

    (g0, g1), nccl = run(2, rank)
    np.testing.assert_array_equal(g0[0], np.full((2, 3), 1.5))
    np.testing.assert_array_equal(g1[1], np.full(4, 1.0))
    assert sum(call[0] == "allReduce" for call in nccl.calls) == 2  # one bucket per rank


def test_more_ranks_on_a_machine_than_gpus_is_one_sentence_on_every_rank(stand_in):
    with pytest.raises(MiniganError) as refused:
        run(2, lambda comm, mpi: None, local_size=2, gpus=1)
    assert str(refused.value) == ("2 ranks of this run share a machine with 1 GPU, and each rank needs a GPU of its "
                                  "own for NCCL; start at most 1 per machine (a hostfile line `host slots=1`), or "
                                  "train with --device cpu.")
    assert nccl_backend.gpu_shortage(2, 2) is None
