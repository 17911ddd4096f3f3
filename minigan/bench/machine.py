"""Thread counts and machine facts for the benchmark, so that every figure says where it came from.

Both sides of a comparison must run with the same number of threads: PyTorch's intra-op pool,
Numba's parallel loops (minigan's kernels) and the BLAS behind NumPy's matmul (minigan's GEMMs).
"""

import os
import platform
import sys

import numpy as np

from minigan.errors import MiniganError

# The threadpoolctl limiter must stay referenced for the whole run: it is what holds the limit.
_blas_limit = None


def torch_problem(device="cpu"):
    """Why PyTorch cannot be the peer on ``device``, as one sentence, or None when it can."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install raising at import
        return f"PyTorch is not importable ({type(e).__name__}: {e}); install it with `pip install torch`"
    if device == "gpu" and not torch.cuda.is_available():
        return f"this PyTorch ({torch.__version__}) cannot use the GPU (torch.cuda.is_available() is False)"
    return None


def set_threads(threads, with_torch=False):
    """Use ``threads`` threads in Numba, the BLAS and (``with_torch``) PyTorch; 0 leaves all as they are.

    Returns:
        list of str: notes for the report (e.g. that the BLAS could not be limited).
    """
    global _blas_limit
    if threads <= 0:
        return ["threads left at each library's default"]
    import numba

    if threads > numba.config.NUMBA_NUM_THREADS:
        raise MiniganError(f"--threads {threads} is more than Numba's pool of {numba.config.NUMBA_NUM_THREADS}; "
                           "ask for fewer, or start with NUMBA_NUM_THREADS set higher.")
    numba.set_num_threads(threads)
    notes = []
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        notes.append("threadpoolctl is not installed: BLAS threads were left at the default "
                     "(`pip install threadpoolctl` to set them)")
    else:
        _blas_limit = threadpool_limits(limits=threads, user_api="blas")
    if with_torch:
        import torch

        torch.set_num_threads(threads)
    return notes


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


def describe(info):
    """The facts as two lines of text."""
    line1 = (f"machine: {info['cpu']}, {info['cpu_count']} CPUs ({info['cpus_usable']} usable)"
             + (f", GPU {info['gpu']} (cupy {info['cupy']})" if "gpu" in info else ""))
    versions = f"python {info['python']}, numpy {info['numpy']}, numba {info['numba']}"
    if "torch" in info:
        versions += f", torch {info['torch']}"
    threads = f"threads: numba {info['numba_threads']}"
    if info["blas"] is None:
        threads += ", BLAS unknown (no threadpoolctl)"
    else:
        threads += "".join(f", {api} {version} {n}" for api, version, n in info["blas"])
    if "torch_threads" in info:
        threads += f", torch {info['torch_threads']}"
    lines = [line1, f"versions: {versions}", threads]
    load = info.get("load_1min")
    if load is not None and load > 0.75 * info["cpus_usable"]:
        lines.append(f"warning: load average {load:.2f} on {info['cpus_usable']} usable CPUs before the run: "
                     "other work shares this machine, so the timings are noisy (the ratios less so)")
    return lines
