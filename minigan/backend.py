"""Floor 1: which array module holds the data (NumPy on the CPU, CuPy on the GPU).

There is no global device flag: the arrays decide. Every op asks
``get_array_module(*arrays)`` and works with what it gets back.
"""

import numpy as np

from minigan.errors import MiniganError

try:  # CuPy is the optional `gpu` extra.
    import cupy

    _cupy_import_error = None
except Exception as e:  # ImportError, or a broken CUDA install raising at import
    cupy, _cupy_import_error = None, e

DEFAULT_DTYPE = np.float32


GPU_FIX = ("install the GPU extra, which brings the CUDA runtime libraries as wheels: `pip install 'minigan[gpu]'` "
           "(cupy-cuda13x[ctk]), or a CUDA 13 toolkit; `nvidia-smi` must show a driver for CUDA 13")
# A kernel compiled and launched as minigan.cuda does, and a matmul (cuBLAS): what needs more than the driver.
_PROBE_KERNEL = r'''extern "C" __global__ void minigan_probe(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = 2.0f * x[i] + 1.0f;
}'''
_toolkit_checked = {}  # id(cupy module) -> the problem found (None: none), checked once per process


def gpu_problem():
    """Why the GPU cannot be used, as one sentence, or None when it can (a quick check: CuPy and a device)."""
    if cupy is None:
        if isinstance(_cupy_import_error, ModuleNotFoundError) and _cupy_import_error.name == "cupy":
            return "CuPy is not installed; install the GPU extra with `pip install 'minigan[gpu]'`."
        return f"CuPy is installed but does not import ({_cupy_import_error}); {GPU_FIX}."
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, or a driver/runtime mismatch
        return f"CuPy is installed but the CUDA driver is not usable ({e}); {GPU_FIX}."
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


def toolkit_problem():
    """Why CuPy cannot compile, run and multiply on the GPU, as one sentence, or None; checked once.

    With only a driver, CuPy imports and sees the GPU; the CUDA libraries are needed later, NVRTC
    and the CUDA headers at the first kernel compiled, cuBLAS at the first matmul: without this
    check a run would fail with a traceback at its first batch norm.
    """
    key = id(cupy)
    if key not in _toolkit_checked:
        _toolkit_checked[key] = _check_toolkit()
    return _toolkit_checked[key]


def _check_toolkit():
    try:
        x = cupy.arange(6, dtype=np.float32)
        kernel = cupy.RawModule(code=_PROBE_KERNEL, options=("-std=c++17",)).get_function("minigan_probe")
        kernel((1,), (32,), (x, np.int32(6)))
        got = cupy.asnumpy(x.reshape(2, 3) @ x.reshape(3, 2))
    except Exception as e:  # CompileException, a missing library, a driver too old for the runtime
        lines = str(e).strip().splitlines() or [""]
        what = f"{type(e).__name__}: {lines[0][:160]}".rstrip(": ")
        return f"CuPy cannot compile and run a CUDA kernel here ({what}); {GPU_FIX}."
    x = 2 * np.arange(6, dtype=np.float32) + 1
    if not np.allclose(got, x.reshape(2, 3) @ x.reshape(3, 2)):
        return f"a CUDA kernel and a matmul ran but computed wrong values; {GPU_FIX}."
    return None


def require_gpu():
    """Raise a clear MiniganError when the GPU cannot be used: no CuPy, no device, or a CUDA
    installation that cannot compile and run a kernel (``toolkit_problem``)."""
    problem = gpu_problem() or toolkit_problem()
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
