"""Arithmetic, elementwise math, matmul and reductions.

Broadcasting is undone in one place: ``sum_to`` reduces a gradient back to the
shape of the input it belongs to.
"""

from minigan import backend
from minigan.function import Function, LinearFunction
from minigan.functional.shape import sum_to
from minigan.tensor import as_tensor


class Add(Function):
    """x0 + x1, broadcasting."""

    def forward(self, x0, x1):
        self.save_for_backward(x0.shape, x1.shape)
        return x0 + x1

    def backward(self, gy):
        s0, s1 = self.saved
        return sum_to(gy, s0), sum_to(gy, s1)  # d(x0+x1)/dx0 = d/dx1 = 1

    def backward_graph(self, gy):
        s0, s1 = self.saved
        return sum_to(gy, s0), sum_to(gy, s1)


def add(x0, x1):
    x0, x1 = _pair(x0, x1)
    return Add()(x0, x1)


class Sub(Function):
    """x0 - x1, broadcasting."""

    def forward(self, x0, x1):
        self.save_for_backward(x0.shape, x1.shape)
        return x0 - x1

    def backward(self, gy):
        s0, s1 = self.saved
        return sum_to(gy, s0), sum_to(-gy, s1)

    def backward_graph(self, gy):
        s0, s1 = self.saved
        return sum_to(gy, s0), sum_to(-gy, s1)


def sub(x0, x1):
    x0, x1 = _pair(x0, x1)
    return Sub()(x0, x1)


class Mul(Function):
    """x0 * x1, elementwise, broadcasting."""

    def forward(self, x0, x1):
        self.save_for_backward(x0, x1)
        return x0 * x1

    def backward(self, gy):
        x0, x1 = self.saved
        g0 = sum_to(gy * x1, x0.shape) if self.needs_input_grad[0] else None
        g1 = sum_to(gy * x0, x1.shape) if self.needs_input_grad[1] else None
        return g0, g1

    def backward_graph(self, gy):
        x0, x1 = self.inputs
        g0 = sum_to(gy * x1, x0.shape) if self.needs_input_grad[0] else None
        g1 = sum_to(gy * x0, x1.shape) if self.needs_input_grad[1] else None
        return g0, g1


def mul(x0, x1):
    x0, x1 = _pair(x0, x1)
    return Mul()(x0, x1)


class Div(Function):
    """x0 / x1, elementwise, broadcasting."""

    def forward(self, x0, x1):
        self.save_for_backward(x0, x1)
        return x0 / x1

    def backward(self, gy):
        x0, x1 = self.saved
        g0 = sum_to(gy / x1, x0.shape) if self.needs_input_grad[0] else None
        g1 = sum_to(-gy * x0 / (x1 * x1), x1.shape) if self.needs_input_grad[1] else None
        return g0, g1  # d(x0/x1)/dx1 = -x0 / x1^2

    def backward_graph(self, gy):
        x0, x1 = self.inputs
        g0 = sum_to(gy / x1, x0.shape) if self.needs_input_grad[0] else None
        g1 = sum_to(-gy * x0 / (x1 * x1), x1.shape) if self.needs_input_grad[1] else None
        return g0, g1


def div(x0, x1):
    x0, x1 = _pair(x0, x1)
    return Div()(x0, x1)


class Neg(LinearFunction):
    """-x."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


def neg(x):
    return Neg()(x)


class Pow(Function):
    """x ** c for a constant exponent c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        self.save_for_backward(x)
        return x**self.c

    def backward(self, gy):
        (x,) = self.saved
        return gy * self.c * x ** (self.c - 1)  # d(x^c)/dx = c x^(c-1)

    def backward_graph(self, gy):
        (x,) = self.inputs
        return gy * self.c * x ** (self.c - 1)


def pow(x, c):
    return Pow(c)(x)


class Exp(Function):
    """e ** x."""

    def forward(self, x):
        y = backend.get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * y  # d(e^x)/dx = e^x

    def backward_graph(self, gy):
        (x,) = self.inputs
        return gy * exp(x)


def exp(x):
    return Exp()(x)


class Abs(Function):
    """|x|, elementwise."""

    def forward(self, x):
        self.save_for_backward(x)
        return backend.get_array_module(x).abs(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy * backend.get_array_module(x).sign(x)  # d|x|/dx = sign(x), taken as 0 at the kink

    def backward_graph(self, gy):
        (x,) = self.saved
        return gy * backend.get_array_module(x).sign(x)  # sign is piecewise constant


def abs(x):
    return Abs()(x)


class Log(Function):
    """Natural logarithm."""

    def forward(self, x):
        self.save_for_backward(x)
        return backend.get_array_module(x).log(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy / x  # d(log x)/dx = 1/x

    def backward_graph(self, gy):
        (x,) = self.inputs
        return gy / x


def log(x):
    return Log()(x)


class Sqrt(Function):
    """Square root."""

    def forward(self, x):
        y = backend.get_array_module(x).sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy / (2 * y)  # d(sqrt x)/dx = 1 / (2 sqrt x)

    def backward_graph(self, gy):
        (x,) = self.inputs
        return gy / (2 * sqrt(x))


def sqrt(x):
    return Sqrt()(x)


class MatMul(Function):
    """x0 @ x1 for 2-d operands (or batched, with matching leading dims)."""

    def forward(self, x0, x1):
        self.save_for_backward(x0, x1)
        return x0 @ x1

    def backward(self, gy):
        x0, x1 = self.saved
        g0 = gy @ x1.swapaxes(-1, -2) if self.needs_input_grad[0] else None
        g1 = x0.swapaxes(-1, -2) @ gy if self.needs_input_grad[1] else None
        return g0, g1

    def backward_graph(self, gy):
        x0, x1 = self.inputs
        g0 = gy @ _swap_last(x1) if self.needs_input_grad[0] else None
        g1 = _swap_last(x0) @ gy if self.needs_input_grad[1] else None
        return g0, g1


def matmul(x0, x1):
    x0, x1 = _pair(x0, x1)
    return MatMul()(x0, x1)


class Sum(LinearFunction):
    """Sum over ``axis`` (all axes when None)."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.save_for_backward(x.shape)
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        (shape,) = self.saved
        xp = backend.get_array_module(gy)
        if not self.keepdims and self.axis is not None:
            axes = (self.axis,) if isinstance(self.axis, int) else self.axis
            gy = xp.expand_dims(gy, tuple(a % len(shape) for a in axes))
        return xp.broadcast_to(gy, shape)  # every summed element gets the same gradient


def sum(x, axis=None, keepdims=False):
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``: the sum scaled by 1/count."""
    x = as_tensor(x)
    shape = x.shape
    if axis is None:
        count = x.size
    else:
        axes = (axis,) if isinstance(axis, int) else axis
        count = 1
        for a in axes:
            count *= shape[a]
    return mul(sum(x, axis, keepdims), 1.0 / count)


def logsumexp(x, axis=-1):
    """log sum_k exp(x_k) over ``axis`` (that axis dropped), stable for large x: with m = max_k x_k
    (a constant of the graph; its gradient terms cancel), m + log sum_k exp(x_k - m). Composed of
    differentiable ops, so it has gradients of every order; d/dx_k = softmax(x)_k."""
    x = as_tensor(x)
    xp = backend.get_array_module(x.data)
    m = xp.max(x.data, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf: log 0 = -inf stays
    total = log(sum(exp(sub(x, m)), axis=axis))
    return add(total, xp.squeeze(m, axis=axis))


def _swap_last(x):
    """x with its last two axes swapped (a matrix transposed, batched or not)."""
    axes = list(range(x.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return x.transpose(axes)


def _pair(x0, x1):
    """Both operands as Tensors; a scalar or raw array takes the other's dtype and device."""
    if not hasattr(x0, "creator"):
        x0 = as_tensor(x0, like=x1)
    if not hasattr(x1, "creator"):
        x1 = as_tensor(x1, like=x0)
    return x0, x1
