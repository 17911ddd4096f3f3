"""Floor 3: Tensor, a raw array plus what backward needs.

Notation: ``data`` is the raw array (numpy or cupy), ``grad`` the raw array of
d(loss)/d(data) accumulated by ``backward()`` on leaves (what the optimizers read),
``grad_tensor`` the same gradient as a differentiable Tensor when ``backward(create_graph=True)``
recorded it, ``creator`` the Function that produced it (None for leaves),
``generation`` its depth in the graph.

Arithmetic operators and methods are thin calls into ``minigan.functional``,
imported lazily because the ops themselves build Tensors.
"""

import numpy as np

from minigan import backend
from minigan.errors import MiniganError


def _F():
    from minigan import functional

    return functional


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Args:
        data: array-like; a Python scalar or list becomes float32 (``backend.DEFAULT_DTYPE``).
        requires_grad (bool): whether ``backward()`` should compute a gradient for it.
        name (str): optional, for graphs and error messages.
    """

    __array_priority__ = 200  # numpy_array * tensor -> Tensor.__rmul__

    def __init__(self, data, requires_grad=False, name=None):
        if isinstance(data, Tensor):
            data = data.data
        xp = backend.get_array_module(data)
        if isinstance(data, np.generic):  # a NumPy scalar (e.g. from .sum()) keeps its dtype
            data = np.asarray(data)
        elif not isinstance(data, xp.ndarray):
            data = np.asarray(data)
            if data.dtype.kind == "f":  # Python floats and lists become float32
                data = data.astype(backend.DEFAULT_DTYPE, copy=False)
        self.data = data
        self.grad = None
        self.grad_tensor = None
        self.creator = None
        self.generation = 0
        self.requires_grad = requires_grad
        self.name = name

    # -- properties ---------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def T(self):
        return self.transpose()

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = str(backend.to_cpu(self.data)).replace("\n", "\n       ")
        extra = ", requires_grad=True" if self.requires_grad else ""
        where = ", device='gpu'" if self.device == "gpu" else ""
        return f"tensor({body}{extra}{where})"

    # -- autograd -----------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Compute d(self)/d(leaf) for every leaf that requires a gradient.

        Args:
            grad: upstream gradient, same shape as self; may be omitted for a scalar.
            retain_graph (bool): keep the saved arrays for a second backward.
            create_graph (bool): record the backward pass as differentiable ops
                (Note [second order] in function.py): each leaf's ``.grad_tensor`` is
                then a Tensor that can be differentiated again; ``.grad`` stays its array.
        """
        from minigan import backward

        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise MiniganError(
                    f"backward() on a tensor of shape {self.shape} needs grad= of the same "
                    "shape; reduce it to a scalar first (e.g. .sum() or .mean())."
                )
            grad = xp.ones_like(self.data)
        else:
            if create_graph and isinstance(grad, Tensor):
                grad, grad_data = grad, grad.data
            else:
                grad = grad_data = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
            if grad_data.shape != self.shape:
                raise MiniganError(f"backward(grad) got shape {grad_data.shape}, expected {self.shape}.")
        if create_graph and not isinstance(grad, Tensor):
            grad = Tensor(grad)
        backward.run_backward(self, grad, retain_graph or create_graph, create_graph)

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self):
        self.grad = self.grad_tensor = None

    # -- conversion ---------------------------------------------------------------
    def numpy(self):
        return backend.to_cpu(self.data)

    def item(self):
        return self.numpy().item()

    def to_gpu(self):
        return Tensor(backend.to_gpu(self.data), requires_grad=self.requires_grad)

    def to_cpu(self):
        return Tensor(backend.to_cpu(self.data), requires_grad=self.requires_grad)

    def astype(self, dtype):
        return Tensor(self.data.astype(dtype), requires_grad=self.requires_grad)

    # -- shape --------------------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _F().reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return _F().transpose(self, axes or None)

    def flatten(self, start_dim=1):
        return _F().flatten(self, start_dim)

    def __getitem__(self, key):
        return _F().get_item(self, key)

    # -- reductions and elementwise ----------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return _F().sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _F().mean(self, axis, keepdims)

    def exp(self):
        return _F().exp(self)

    def log(self):
        return _F().log(self)

    def sqrt(self):
        return _F().sqrt(self)

    # -- operators ----------------------------------------------------------------
    def __add__(self, other):
        return _F().add(self, other)

    def __radd__(self, other):
        return _F().add(other, self)

    def __sub__(self, other):
        return _F().sub(self, other)

    def __rsub__(self, other):
        return _F().sub(other, self)

    def __mul__(self, other):
        return _F().mul(self, other)

    def __rmul__(self, other):
        return _F().mul(other, self)

    def __truediv__(self, other):
        return _F().div(self, other)

    def __rtruediv__(self, other):
        return _F().div(other, self)

    def __matmul__(self, other):
        return _F().matmul(self, other)

    def __rmatmul__(self, other):
        return _F().matmul(other, self)

    def __pow__(self, exponent):
        return _F().pow(self, exponent)

    def __neg__(self):
        return _F().neg(self)


def as_tensor(x, like=None):
    """``x`` as a Tensor; a scalar or array takes ``like``'s dtype and device."""
    if isinstance(x, Tensor):
        return x
    if like is not None:
        xp = backend.get_array_module(like.data)
        return Tensor(xp.asarray(x, dtype=like.dtype))
    return Tensor(x)


def raw(x):
    """The raw array of a Tensor; anything else unchanged (index arrays, labels)."""
    return x.data if isinstance(x, Tensor) else x
