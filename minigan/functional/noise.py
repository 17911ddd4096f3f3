"""Stochastic ops. Randomness always comes from a Generator the caller owns."""

from minigan.dispatch import kernels_for
from minigan.errors import MiniganError
from minigan.function import Function


class Dropout(Function):
    """x * mask, mask = (u >= p) / (1 - p) for u ~ U[0, 1)."""

    def __init__(self, p, u):
        self.p, self.u = p, u

    def forward(self, x):
        y, mask = kernels_for(x).dropout(x, self.u, self.p)
        self.save_for_backward(mask)
        return y

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
        rng: a ``numpy.random.Generator`` (or ``cupy.random.Generator`` for GPU
            tensors) -- required in training mode, so runs are reproducible.
    Returns:
        Tensor of the same shape.
    """
    if not 0 <= p < 1:
        raise MiniganError(f"dropout probability must be in [0, 1), got {p}.")
    if not training or p == 0:
        return x
    if rng is None:
        raise ValueError("dropout in training mode needs rng= (a seeded random Generator).")
    u = rng.random(x.shape, dtype=x.dtype)
    return Dropout(p, u)(x)
