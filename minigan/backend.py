"""Floor 1: which array module holds the data (NumPy on the CPU, CuPy on the GPU).

There is no global device flag: the arrays decide. Every op asks
``get_array_module(*arrays)`` and works with what it gets back.
"""

import numpy as np

from minigan.errors import MiniganError

try:  # CuPy is the optional `gpu` extra.
    import cupy
except Exception:  # ImportError, or a broken CUDA install raising at import
    cupy = None

DEFAULT_DTYPE = np.float32


def gpu_problem():
    """Why the GPU cannot be used, as one sentence, or None when it can."""
    if cupy is None:
        return "CuPy is not installed; install the GPU extra with `pip install 'minigan[gpu]'`."
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, or a driver/runtime mismatch
        return f"CuPy is installed but the CUDA driver is not usable ({e})."
    if count == 0:
        return "CuPy and the CUDA driver are installed but no GPU device is visible."
    return None


GPU_AVAILABLE = gpu_problem() is None


def get_array_module(*arrays):
    """numpy, or cupy when any argument is a CuPy array (or a Tensor holding one)."""
    if cupy is not None:
        for a in arrays:
            # A Tensor holds its array in .data (a raw ndarray's .data is a buffer, never a cupy array).
            if isinstance(a, cupy.ndarray) or isinstance(getattr(a, "data", None), cupy.ndarray):
                return cupy
    return np


def is_gpu_array(x):
    return cupy is not None and isinstance(x, cupy.ndarray)


def device_of(x):
    """'gpu' or 'cpu' for a raw array."""
    return "gpu" if is_gpu_array(x) else "cpu"


def require_gpu():
    """Raise a clear MiniganError when the GPU cannot be used."""
    problem = gpu_problem()
    if problem is not None:
        raise MiniganError(f"--device gpu is not usable: {problem}")


def to_gpu(x):
    """A raw array on the GPU (a no-op for CuPy arrays)."""
    if is_gpu_array(x):
        return x
    require_gpu()
    return cupy.asarray(x)


def to_cpu(x):
    """A raw NumPy array (a no-op for NumPy arrays)."""
    if is_gpu_array(x):
        return cupy.asnumpy(x)
    return np.asarray(x)


def to_device(x, device):
    """Move a raw array to 'cpu' or 'gpu'."""
    if device == "gpu":
        return to_gpu(x)
    if device == "cpu":
        return to_cpu(x)
    raise MiniganError(f"Unknown device {device!r}; use 'cpu' or 'gpu'.")


def scatter_add(a, index, values):
    """a[index] += values with repeated indices accumulating (numpy.add.at; cupyx.scatter_add on the GPU)."""
    if is_gpu_array(a):
        import cupyx

        cupyx.scatter_add(a, index, values)
    else:
        np.add.at(a, index, values)
