"""Floor 2: the kernel module that serves an array.

``minigan.cpu_kernels`` (Numba) and ``minigan.cuda`` (raw CUDA C through CuPy)
expose the same functions under the same names; an op asks ``kernels_for(x)``
and calls the one that matches where ``x`` lives.
"""

from minigan import backend, cpu_kernels


def kernels_for(x):
    """cpu_kernels for a NumPy array, cuda for a CuPy array."""
    if backend.is_gpu_array(x):
        from minigan import cuda

        return cuda
    return cpu_kernels
