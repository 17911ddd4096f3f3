"""Thread counts, machine facts and the SGEMM peak for the benchmark, so that every figure says where it came from.

Both sides of a comparison must run with the same number of threads: PyTorch's intra-op pool,
Numba's parallel loops (minigan's kernels) and the BLAS behind NumPy's matmul (minigan's GEMMs).
``set_threads`` may be called again with another count (``--threads 2 --threads 1``); 0 puts every
library back to the count it had before the first call.
"""

import os
import platform
import sys
import time

import numpy as np

from minigan.errors import MiniganError

# The threadpoolctl limiter must stay referenced for the whole run: it is what holds the limit.
_blas_limit = None
# Numba's and PyTorch's thread counts before the first set_threads, what --threads 0 goes back to.
_defaults = {}
SGEMM_SIZE = 2048


def torch_problem(device="cpu"):
    """Why PyTorch cannot be the peer on ``device``, as one sentence, or None when it can."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install raising at import
        return f"PyTorch is not importable ({type(e).__name__}: {e}); install it with `pip install torch`"
    if device == "gpu" and not torch.cuda.is_available():
        return f"this PyTorch ({torch.__version__}) cannot use the GPU (torch.cuda.is_available() is False)"
    return None


def check_threads(threads):
    """Raise MiniganError, before anything runs, for a thread count that ``set_threads`` would refuse."""
    import numba

    if threads < 0:
        raise MiniganError(f"--threads must be 0 (each library's default) or more, not {threads}.")
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise MiniganError(f"--threads {threads} is more than Numba's pool of {numba.config.NUMBA_NUM_THREADS}; "
                           "ask for fewer, or start with NUMBA_NUM_THREADS set higher.")


def set_threads(threads, with_torch=False):
    """Use ``threads`` threads in Numba, the BLAS and (``with_torch``) PyTorch; 0: each library's default.

    May be called again with another count: the previous BLAS limit is lifted first, and 0 restores
    the counts in effect before the first call. The counts are read back afterwards.

    Returns:
        list of str: notes for the report (e.g. that the BLAS could not be limited, or a library that
        did not take the count).
    """
    global _blas_limit
    check_threads(threads)
    import numba

    _defaults.setdefault("numba", numba.get_num_threads())
    if with_torch:
        import torch

        _defaults.setdefault("torch", torch.get_num_threads())
    if _blas_limit is not None:
        _blas_limit.restore_original_limits()
        _blas_limit = None
    numba.set_num_threads(threads or _defaults["numba"])
    if with_torch:
        torch.set_num_threads(threads or _defaults["torch"])
    if threads == 0:
        return ["threads left at each library's default"]
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return [("threadpoolctl is not installed: BLAS threads were left at the default "
                 "(`pip install threadpoolctl` to set them)")]
    _blas_limit = threadpool_limits(limits=threads, user_api="blas")
    return thread_problems(threads, thread_counts(with_torch))


def thread_counts(with_torch=False):
    """The thread counts in effect: {'numba': n, 'blas': [(library, n), ...] or None, 'torch': n (with_torch)}."""
    import numba

    counts = {"numba": numba.get_num_threads(), "blas": blas_threads()}
    if counts["blas"] is not None:
        counts["blas"] = [(api, n) for api, _, n in counts["blas"]]
    if with_torch:
        import torch

        counts["torch"] = torch.get_num_threads()
    return counts


def thread_problems(threads, counts):
    """Notes, one per library of ``thread_counts`` whose count is not ``threads``."""
    found = [("Numba", counts["numba"])] + [(f"BLAS {api}", n) for api, n in counts["blas"] or []]
    if "torch" in counts:
        found.append(("PyTorch", counts["torch"]))
    return [f"asked for {threads} threads, but {name} uses {n}" for name, n in found if n != threads]


def sgemm_peak(xp=np, n=SGEMM_SIZE, repeats=5, budget_s=1.0):
    """The machine's float32 GEMM rate: an n x n x n matmul, a warm-up, then the best of ``repeats``.

    Runs in the threads set by ``set_threads``; on the GPU (``xp`` CuPy) the device is synchronized
    around each product. Stops early, after at least one timed product, once ``budget_s`` seconds
    have gone (a slow CPU).

    Args:
        xp: NumPy or CuPy.
        n (int): the size of the square matrices.
        repeats (int): timed products at most.
        budget_s (float): seconds the measurement may take, warm-up included.
    Returns:
        dict: gflops (the best rate, GFLOP/s, 2 n^3 FLOPs per product), n, best_of (products timed).
    """
    host = np.random.default_rng(0).standard_normal((2, n, n), dtype=np.float32)
    a, b = xp.asarray(host[0]), xp.asarray(host[1])
    c = xp.empty((n, n), dtype=np.float32)
    start, times = time.perf_counter(), []
    for i in range(repeats + 1):
        _synchronize(xp)
        t0 = time.perf_counter()
        xp.matmul(a, b, out=c)
        _synchronize(xp)
        if i > 0:  # the first product is the warm-up
            times.append(time.perf_counter() - t0)
            if time.perf_counter() - start > budget_s:
                break
    return {"gflops": 2 * n**3 / min(times) / 1e9, "n": n, "best_of": len(times)}


def _synchronize(xp):
    if xp is not np:
        xp.cuda.Device().synchronize()


def blas_threads():
    """[(library name, version, threads)] of the BLAS libraries loaded, or None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [(i.get("internal_api", "?"), i.get("version", "?"), i.get("num_threads"))
            for i in threadpool_info() if i.get("user_api") == "blas"]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def facts(device="cpu"):
    """Machine, library versions and thread counts in effect, as a flat dict."""
    import numba

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "cpu": _cpu_model(), "cpu_count": os.cpu_count(), "cpus_usable": usable,
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(), "blas": blas_threads(),
        "load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    if device == "gpu":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        info.update(cupy=cupy.__version__, gpu=name.decode() if isinstance(name, bytes) else name)
    return info


def threads_line(info):
    """'threads: numba 2, openblas 0.3.31 2, torch 2': the thread counts of ``facts``."""
    line = f"threads: numba {info['numba_threads']}"
    if info["blas"] is None:
        line += ", BLAS unknown (no threadpoolctl)"
    else:
        line += "".join(f", {api} {version} {n}" for api, version, n in info["blas"])
    if "torch_threads" in info:
        line += f", torch {info['torch_threads']}"
    return line


def describe(info):
    """The facts as lines of text: machine, versions, threads, and a warning on a busy machine."""
    line1 = (f"machine: {info['cpu']}, {info['cpu_count']} CPUs ({info['cpus_usable']} usable)"
             + (f", GPU {info['gpu']} (cupy {info['cupy']})" if "gpu" in info else ""))
    versions = f"python {info['python']}, numpy {info['numpy']}, numba {info['numba']}"
    if "torch" in info:
        versions += f", torch {info['torch']}"
    lines = [line1, f"versions: {versions}", threads_line(info)]
    load = info.get("load_1min")
    if load is not None and load > 0.75 * info["cpus_usable"]:
        lines.append(f"warning: load average {load:.2f} on {info['cpus_usable']} usable CPUs before the run: "
                     "other work shares this machine, so the timings are noisy (the ratios less so)")
    return lines
