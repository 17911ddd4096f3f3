"""Ops that move elements around without changing them."""

import itertools

from minigan import backend
from minigan.function import Function, LinearFunction
from minigan.tensor import Tensor, raw


def sum_to(gx, shape):
    """Sum ``gx`` over the axes that broadcasting added or stretched, giving ``shape``.

    On a raw array (a backward pass) it sums in place of the op; on a Tensor (a
    recorded backward, Note [second order]) it is the op ``SumTo``.
    """
    if gx.shape == tuple(shape):
        return gx
    if isinstance(gx, Tensor):
        return SumTo(shape)(gx)
    lead = gx.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and gx.shape[i + lead] != 1)
    gx = gx.sum(axis=axes, keepdims=True)
    return gx.reshape(shape) if lead else gx


class SumTo(LinearFunction):
    """x summed down to ``shape`` over its broadcast axes: broadcast_to's adjoint."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.save_for_backward(x.shape)
        return sum_to(x, self.shape)

    def backward(self, gy):
        (shape,) = self.saved
        return backend.get_array_module(gy).broadcast_to(gy, shape)


class Reshape(LinearFunction):
    """The same elements in a new shape."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.save_for_backward(x.shape)
        return x.reshape(self.shape)

    def backward(self, gy):
        (shape,) = self.saved
        return gy.reshape(shape)


def reshape(x, shape):
    return Reshape(shape)(x)


def flatten(x, start_dim=1):
    """Merge the dimensions from ``start_dim`` on: (n, c, h, w) -> (n, c*h*w)."""
    return reshape(x, tuple(x.shape[:start_dim]) + (-1,))


class Transpose(LinearFunction):
    """Permute axes (reverse them when ``axes`` is None)."""

    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return gy.transpose(inverse)


def transpose(x, axes=None):
    return Transpose(axes)(x)


class GetItem(LinearFunction):
    """x[key] for any NumPy index (slices, integers, index arrays)."""

    def __init__(self, key):
        self.key = key

    def forward(self, x):
        self.save_for_backward(x.shape, x.dtype)
        return x[self.key]

    def backward(self, gy):
        shape, dtype = self.saved
        xp = backend.get_array_module(gy)
        gx = xp.zeros(shape, dtype=dtype)
        backend.scatter_add(gx, self.key, gy)  # not =: repeated indices must accumulate
        return gx


def get_item(x, key):
    key = raw(key)
    return GetItem(key)(x)


class Concat(Function):
    """Join tensors along ``axis``."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.save_for_backward([x.shape[self.axis] for x in xs])
        return backend.get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        (sizes,) = self.saved
        xp = backend.get_array_module(gy)
        cuts = list(itertools.accumulate(sizes[:-1]))
        return tuple(xp.split(gy, cuts, axis=self.axis))

    def backward_graph(self, gy):
        (sizes,) = self.saved
        ends = list(itertools.accumulate(sizes))
        lead = (slice(None),) * (self.axis % gy.ndim)
        return tuple(get_item(gy, lead + (slice(end - size, end),)) for size, end in zip(sizes, ends))


def concat(xs, axis=0):
    """Concatenate a sequence of tensors along ``axis``."""
    return Concat(axis)(*xs)


class BroadcastTo(LinearFunction):
    """x repeated to ``shape`` by NumPy broadcasting."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.save_for_backward(x.shape)
        return backend.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        (shape,) = self.saved
        return sum_to(gy, shape)


def broadcast_to(x, shape):
    return BroadcastTo(shape)(x)
