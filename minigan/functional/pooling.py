"""Resampling: average pooling and nearest-neighbour upsampling (LAPGAN's pyramid)."""

from minigan.dispatch import kernels_for
from minigan.function import LinearFunction
from minigan.functional.conv import _pair, conv_output_size


class AvgPool2d(LinearFunction):
    """Mean over each kh x kw window (zero padding counted, as PyTorch's default)."""

    def __init__(self, kernel_size, stride, padding):
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)

    def forward(self, x):
        n, c, h, w = x.shape
        (kh, kw), (sy, sx), (ph, pw) = self.kernel_size, self.stride, self.padding
        out_h, out_w = conv_output_size(h, kh, sy, ph), conv_output_size(w, kw, sx, pw)
        # Each channel as its own one-channel image: col rows are then the kh*kw taps.
        col = kernels_for(x).im2col(x.reshape(n * c, 1, h, w), kh, kw, sy, sx, ph, pw, out_h, out_w)
        self.save_for_backward(x.shape, (out_h, out_w))
        return col.mean(axis=0).reshape(n, c, out_h, out_w)

    def backward(self, gy):
        (n, c, h, w), (out_h, out_w) = self.saved
        (kh, kw), (sy, sx), (ph, pw) = self.kernel_size, self.stride, self.padding
        share = gy.reshape(1, -1) / (kh * kw)  # each tap gets 1/(kh kw) of the window's gradient
        gcol = share.repeat(kh * kw, axis=0)
        gx = kernels_for(gy).col2im(gcol, n * c, 1, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w)
        return gx.reshape(n, c, h, w)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling.

    Args:
        x (Tensor): (n, c, h, w).
        kernel_size, stride (int or pair): stride defaults to kernel_size.
        padding (int or pair): zeros counted in the average.
    Returns:
        Tensor (n, c, out_h, out_w).
    """
    return AvgPool2d(kernel_size, kernel_size if stride is None else stride, padding)(x)


class UpsampleNearest2d(LinearFunction):
    """Each pixel repeated into a scale x scale block."""

    def __init__(self, scale):
        self.scale = scale

    def forward(self, x):
        s = self.scale
        return x.repeat(s, axis=2).repeat(s, axis=3)

    def backward(self, gy):
        n, c, h, w = gy.shape
        s = self.scale
        return gy.reshape(n, c, h // s, s, w // s, s).sum(axis=(3, 5))  # a block's gradients add up


def upsample_nearest2d(x, scale_factor=2):
    """Nearest-neighbour upsampling by an integer factor: (n, c, h, w) -> (n, c, h*s, w*s)."""
    return UpsampleNearest2d(int(scale_factor))(x)
