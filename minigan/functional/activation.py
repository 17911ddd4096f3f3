"""Elementwise nonlinearities. Each kernel call lives in cpu_kernels / cuda."""

from minigan import backend
from minigan.dispatch import kernels_for
from minigan.function import Function


class ReLU(Function):
    """max(x, 0)."""

    def forward(self, x):
        y = kernels_for(x).relu(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return kernels_for(y).relu_backward(y, gy)  # dy/dx = 1 if y > 0 else 0

    def backward_graph(self, gy):
        (y,) = self.saved
        return gy * (y > 0).astype(y.dtype)  # a constant mask: relu'' = 0 away from the kink


def relu(x):
    """Rectified linear unit, max(x, 0), elementwise."""
    return ReLU()(x)


class LeakyReLU(Function):
    """max(x, slope * x), elementwise."""

    def __init__(self, slope=0.2):
        self.slope = slope

    def forward(self, x):
        self.save_for_backward(x)
        return kernels_for(x).leaky_relu(x, self.slope)

    def backward(self, gy):
        (x,) = self.saved
        return kernels_for(x).leaky_relu_backward(x, gy, self.slope)  # 1 if x > 0 else slope

    def backward_graph(self, gy):
        (x,) = self.saved
        xp = backend.get_array_module(x)
        return gy * xp.where(x > 0, 1, self.slope).astype(x.dtype)  # piecewise constant slope


def leaky_relu(x, slope=0.2):
    """Leaky ReLU.

    Args:
        x (Tensor): any shape.
        slope (float): gradient for x < 0 (DCGAN uses 0.2).
    Returns:
        Tensor of the same shape.
    """
    return LeakyReLU(slope)(x)


class Tanh(Function):
    """tanh(x)."""

    def forward(self, x):
        y = kernels_for(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return kernels_for(y).tanh_backward(y, gy)  # dy/dx = 1 - y^2

    def backward_graph(self, gy):
        y = tanh(self.inputs[0])
        return gy * (1 - y * y)


def tanh(x):
    """Hyperbolic tangent, elementwise; G's output layer maps to [-1, 1] with it."""
    return Tanh()(x)


class Sigmoid(Function):
    """1 / (1 + exp(-x)), computed without overflow."""

    def forward(self, x):
        y = kernels_for(x).sigmoid(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return kernels_for(y).sigmoid_backward(y, gy)  # dy/dx = y (1 - y)

    def backward_graph(self, gy):
        y = sigmoid(self.inputs[0])
        return gy * y * (1 - y)


def sigmoid(x):
    """Logistic sigmoid, elementwise, stable for any x."""
    return Sigmoid()(x)


class Softplus(Function):
    """log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)): no overflow."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.save_for_backward(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        (x,) = self.saved
        return gy * kernels_for(x).sigmoid(x)  # d softplus(x)/dx = sigmoid(x)

    def backward_graph(self, gy):
        return gy * sigmoid(self.inputs[0])


def softplus(x):
    """Softplus, a smooth ReLU: log(1 + exp(x)), elementwise, stable for any x."""
    return Softplus()(x)
