"""Activation layers: parameter-free wrappers of the functional ops."""

from minigan import functional as F
from minigan.nn.module import Module


class ReLU(Module):
    """max(x, 0). Shape: unchanged."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """max(x, negative_slope * x). Shape: unchanged."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    """tanh(x). Shape: unchanged."""

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)). Shape: unchanged."""

    def forward(self, x):
        return F.sigmoid(x)


class Softplus(Module):
    """log(1 + exp(x)), a smooth ReLU (the semi-supervised GAN's G uses it)."""

    def forward(self, x):
        return F.softplus(x)
