"""minigan: a GAN engine written from scratch -- autograd, layers, kernels and trainers.

    from minigan import Tensor, nn, optim, functional as F
"""

__version__ = "0.1.0"

import os as _os

# Note [OpenBLAS's idle threads]
#     After a GEMM, OpenBLAS's worker threads spin for up to 2^28 clock ticks (~0.1 s) waiting for the
#     next one, and take the cores from the Numba loops that run between GEMMs (im2col, col2im, batch
#     norm). Measured on the 2-core box: im2col of dcgan28's D took 5.95 ms (median) right after a GEMM
#     and 2.99 ms after a pause. OPENBLAS_THREAD_TIMEOUT=4 (its minimum, 2^4 ticks) sends them to sleep
#     at once: 2.88 ms right after a GEMM, and the GEMMs as fast. OpenBLAS reads it when NumPy is first
#     imported, so it is set here, before minigan imports NumPy: a value the user set wins, and a program
#     that imported NumPy before minigan keeps OpenBLAS's default.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from minigan.tensor import Tensor  # noqa: E402  (floor 3 first: the rest builds on it)
from minigan.function import Function, is_grad_enabled, no_grad  # noqa: E402
from minigan.backward import grad  # noqa: E402
from minigan import functional, nn, optim  # noqa: E402
from minigan.errors import MiniganError  # noqa: E402

__all__ = ["Function", "MiniganError", "Tensor", "__version__", "functional", "grad", "is_grad_enabled", "nn",
           "no_grad", "optim"]
