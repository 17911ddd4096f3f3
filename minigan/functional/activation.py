"""Elementwise nonlinearities. Each kernel call lives in cpu_kernels / cuda."""

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


def sigmoid(x):
    """Logistic sigmoid, elementwise, stable for any x."""
    return Sigmoid()(x)
