"""Convolution layers (NCHW, PyTorch's weight layouts)."""

import numpy as np

from minigan import functional as F
from minigan.nn import init
from minigan.nn.module import Module, Parameter, check_input


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


class _ConvNd(Module):
    """Shared bookkeeping of Conv2d and ConvTranspose2d."""

    def __init__(self, in_channels, out_channels, weight_shape, stride, padding, bias, rng):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.padding = _pair(stride), _pair(padding)
        self.weight = Parameter(np.zeros(weight_shape, np.float32))
        self.bias = Parameter(np.zeros(out_channels, np.float32)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        init.pytorch_default_(self.weight, self.bias, rng)

    def extra_repr(self):
        kernel = tuple(self.weight.shape[2:])
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={kernel}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """2-d convolution.

    Args:
        in_channels, out_channels (int), kernel_size (int or pair),
        stride, padding (int or pair), bias (bool), rng (numpy Generator).
    Shape:
        (n, in_channels, h, w) -> (n, out_channels, (h + 2p - k) // s + 1, ...).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, rng=None):
        kh, kw = _pair(kernel_size)
        super().__init__(in_channels, out_channels, (out_channels, in_channels, kh, kw), stride, padding, bias, rng)

    def forward(self, x):
        check_input(self, x, 4, self.in_channels)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


class ConvTranspose2d(_ConvNd):
    """2-d transposed convolution; weight (in_channels, out_channels, kh, kw).

    Shape:
        (n, in_channels, h, w) -> (n, out_channels, (h - 1) s - 2p + k + output_padding, ...).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 bias=True, rng=None):
        kh, kw = _pair(kernel_size)
        super().__init__(in_channels, out_channels, (in_channels, out_channels, kh, kw), stride, padding, bias, rng)
        self.output_padding = _pair(output_padding)

    def forward(self, x):
        check_input(self, x, 4, self.in_channels)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)
