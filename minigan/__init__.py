"""minigan: a GAN engine written from scratch -- autograd, layers, kernels and trainers.

    from minigan import Tensor, nn, optim, functional as F
"""

__version__ = "0.1.0"

from minigan.tensor import Tensor  # noqa: E402  (floor 3 first: the rest builds on it)
from minigan.function import Function, is_grad_enabled, no_grad  # noqa: E402
from minigan.backward import grad  # noqa: E402
from minigan import functional, nn, optim  # noqa: E402
from minigan.errors import MiniganError  # noqa: E402

__all__ = ["Function", "MiniganError", "Tensor", "__version__", "functional", "grad", "is_grad_enabled", "nn",
           "no_grad", "optim"]
