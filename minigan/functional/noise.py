"""Stochastic ops. Randomness always comes from a Generator the caller owns."""

import numpy as np

from minigan import backend, cuda
from minigan.dispatch import kernels_for
from minigan.errors import MiniganError
from minigan.function import Function
from minigan.tensor import Tensor, raw


class Dropout(Function):
    """x * mask, mask = (u >= p) / (1 - p) for u ~ U[0, 1)."""

    def __init__(self, p, u):
        self.p, self.u = p, u

    def forward(self, x):
        y, mask = kernels_for(x).dropout(x, self.u, self.p)
        self.save_for_backward(mask)
        return y

    def release(self):
        super().release()
        self.u = None  # as large as x (Note [freed graph])

    def backward(self, gy):
        (mask,) = self.saved
        return gy * mask  # dy/dx = mask

    def backward_graph(self, gy):
        (mask,) = self.saved
        return gy * mask


def dropout(x, p=0.5, training=True, rng=None):
    """Zero each element with probability p and scale the rest by 1 / (1 - p).

    Args:
        x (Tensor): any shape.
        p (float): drop probability in [0, 1).
        training (bool): identity when False.
        rng: a ``numpy.random.Generator`` -- for a GPU tensor it gives one key and the
            uniforms are drawn on the GPU (Note [device draws] in kernels/random.cu) -- or a
            ``cupy.random.Generator`` for GPU tensors; required in training mode, so runs are
            reproducible.
    Returns:
        Tensor of the same shape.
    """
    if not 0 <= p < 1:
        raise MiniganError(f"dropout probability must be in [0, 1), got {p}.")
    if not training or p == 0:
        return x
    if rng is None:
        raise ValueError("dropout in training mode needs rng= (a seeded random Generator).")
    return Dropout(p, _uniform(rng, x))(x)


def gaussian_noise(x, std, training=True, rng=None):
    """x + N(0, std^2) noise, elementwise, in training mode only (improved-gan's GaussianNoiseLayer).

    The noise is a constant of the graph: dy/dx = 1, at every order.

    Args:
        x (Tensor): any shape.
        std (float): the noise's standard deviation, 0 or more.
        training (bool): identity when False.
        rng: a ``numpy.random.Generator`` (for a GPU tensor it gives one key and the normals are
            drawn on the GPU, as ``dropout``'s uniforms); required in training mode.
    Returns:
        Tensor of the same shape.
    """
    if std < 0:
        raise MiniganError(f"Gaussian noise needs a standard deviation of 0 or more, got {std}.")
    if not training or std == 0:
        return x
    if rng is None:
        raise ValueError("gaussian_noise in training mode needs rng= (a seeded random Generator).")
    data = raw(x)
    if backend.is_gpu_array(data) and isinstance(rng, np.random.Generator):
        rng = cuda.DeviceDraws(rng)
    noise = backend.to_device(rng.standard_normal(data.shape, dtype=data.dtype), backend.device_of(data))
    noise *= data.dtype.type(std)
    return x + Tensor(noise)


def _uniform(rng, x):
    """U[0, 1) of x's shape and dtype, where x lives (a numpy Generator draws on the GPU for a GPU x)."""
    data = raw(x)
    if backend.is_gpu_array(data) and isinstance(rng, np.random.Generator):
        rng = cuda.DeviceDraws(rng)
    return backend.to_device(rng.random(data.shape, dtype=data.dtype), backend.device_of(data))
