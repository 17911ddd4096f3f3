"""Floor 1: the communicators of a data-parallel run -- one model trained by several processes.

A communicator is what the ranks of a run share: ``rank`` (0 .. size - 1), ``size``, and three
collective operations on arrays, which every rank calls in the same order:

    all_reduce(x, op="sum")   x <- the elementwise sum (or max) of every rank's x, in place
    broadcast(x, root=0)      x <- root's x, in place
    gather(x, root=0)         root gets [x of rank 0, x of rank 1, ...]; the others get None

plus ``barrier()``, ``abort(code)`` and ``rendezvous(seconds)`` (Note [stopping together]).

Three backends, picked by ``world(device)``:

    communicator  SingleProcess: size 1, every operation a no-op (a plain ``minigan train``)
    mpi           MpiCommunicator: mpi4py on NumPy arrays (Open MPI, MPICH, ... through mpiexec)
    nccl          NcclCommunicator: NCCL through CuPy on GPU arrays, host arrays over MPI;
                  the NCCL unique id is broadcast over MPI, as ChainerMN does
    buckets       all_reduce_arrays: many arrays in a few large all-reduce calls
    rows          local_rows and ShardedGenerator: this rank's rows of a global batch's draws
    launch        world(device): the communicator of this process, and its thread count

``minigan/gan/data_parallel.py`` builds data-parallel training on these.
"""

from minigan.distributed.buckets import all_reduce_arrays
from minigan.distributed.communicator import SINGLE, Communicator, SingleProcess, stopping_together
from minigan.distributed.launch import launched_by_mpi, world
from minigan.distributed.rows import ShardedGenerator, local_rows

__all__ = ["SINGLE", "Communicator", "ShardedGenerator", "SingleProcess", "all_reduce_arrays", "launched_by_mpi",
           "local_rows", "stopping_together", "world"]
