"""Normalization layers: batch norm, layer norm, instance norm."""

import numpy as np

from minigan import backend
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.nn import init
from minigan.nn.module import Module, Parameter, check_input
from minigan.tensor import raw


class BatchNorm(Module):
    """Shared body of BatchNorm1d and BatchNorm2d: learnable weight (gamma) and bias (beta),
    running_mean and running_var buffers (momentum 0.1, unbiased variance, as PyTorch)."""

    input_ndims = (2, 4)

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, np.float32))
        self.bias = Parameter(np.zeros(num_features, np.float32))
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))

    def reset_parameters(self, rng=None):
        init.constant_(self.weight, 1.0)
        init.constant_(self.bias, 0.0)

    def forward(self, x, activation=None, slope=0.2):
        """y = batch_norm(x), or act(y) with ``activation`` "relu"/"leaky_relu" in the same pass."""
        ndim = x.ndim if x.ndim in self.input_ndims else self.input_ndims[0]
        check_input(self, x, ndim, self.num_features)
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                            self.training, self.momentum, self.eps, activation, slope)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(BatchNorm):
    """Batch norm over (n, c) input. Shape: (n, num_features) -> same."""

    input_ndims = (2,)


class BatchNorm2d(BatchNorm):
    """Batch norm over (n, c, h, w) input, per channel. Shape: unchanged."""

    input_ndims = (4,)


def _normalise(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over ``axes``, biased variance, from differentiable ops."""
    centred = F.sub(x, F.mean(x, axes, keepdims=True))
    var = F.mean(F.mul(centred, centred), axes, keepdims=True)
    return F.div(centred, F.sqrt(F.add(var, eps)))


class LayerNorm(Module):
    """Layer normalization (Ba et al. 2016): each example normalised over its last dims.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the mean and biased variance
    taken over the last len(normalized_shape) axes; weight and bias have normalized_shape
    (init 1 and 0). The same in train and eval mode.

    Args:
        normalized_shape (int or tuple): the trailing shape to normalise over.
        eps (float): added to the variance.
        elementwise_affine (bool): learn weight and bias.
    Shape:
        (*, *normalized_shape) -> same.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = Parameter(np.ones(shape, np.float32)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, np.float32)) if elementwise_affine else None

    def reset_parameters(self, rng=None):
        if self.elementwise_affine:
            init.constant_(self.weight, 1.0)
            init.constant_(self.bias, 0.0)

    def forward(self, x):
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise MiniganError(f"{self!r} expects input of shape (*, {', '.join(map(str, self.normalized_shape))}) "
                               f"but got {tuple(x.shape)}.")
        y = _normalise(x, tuple(range(x.ndim - k, x.ndim)), self.eps)
        return F.add(F.mul(y, self.weight), self.bias) if self.elementwise_affine else y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class InstanceNorm2d(Module):
    """Instance normalization (Ulyanov et al. 2016): each (n, c) plane normalised over h, w.

    y = (x - mean) / sqrt(var + eps) [* weight[c] + bias[c]], biased variance over the h*w
    values of the plane. With track_running_stats, training mode also updates running_mean
    and running_var (momentum, unbiased variance, averaged over the batch) and eval mode
    normalises with them instead, as PyTorch does.

    Args:
        num_features (int): channels C.
        eps (float): added to the variance.
        momentum (float): of the running statistics.
        affine (bool): learn a per-channel weight (init 1) and bias (init 0).
        track_running_stats (bool): keep running statistics for eval mode.
    Shape:
        (n, C, h, w) -> same.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, np.float32)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, np.float32))
            self.register_buffer("running_var", np.ones(num_features, np.float32))

    def reset_parameters(self, rng=None):
        if self.affine:
            init.constant_(self.weight, 1.0)
            init.constant_(self.bias, 0.0)

    def forward(self, x):
        check_input(self, x, 4, self.num_features)
        n, c, h, w = x.shape
        if self.training and h * w == 1:
            raise MiniganError(f"{self!r} needs more than one spatial element per plane in training mode, "
                               f"got input of shape {tuple(x.shape)}.")
        if self.training or not self.track_running_stats:
            if self.training and self.track_running_stats:
                self._update_running_stats(raw(x))
            y = _normalise(x, (2, 3), self.eps)
        else:
            xp = backend.get_array_module(self.running_var)
            mean = self.running_mean.reshape(1, c, 1, 1)
            std = xp.sqrt(self.running_var.reshape(1, c, 1, 1) + self.eps)  # constants: raw arrays
            y = F.div(F.sub(x, mean), std)
        if not self.affine:
            return y
        return F.add(F.mul(y, F.reshape(self.weight, (1, c, 1, 1))), F.reshape(self.bias, (1, c, 1, 1)))

    def _update_running_stats(self, x):
        """running <- (1 - momentum) running + momentum * (the batch's mean of per-plane statistics)."""
        m = x.shape[2] * x.shape[3]
        mean = x.mean(axis=(2, 3))
        var = x.var(axis=(2, 3)) * (m / (m - 1))  # unbiased, as batch norm's running_var
        for running, batch in ((self.running_mean, mean.mean(axis=0)), (self.running_var, var.mean(axis=0))):
            running[...] = (1 - self.momentum) * running + self.momentum * batch

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")
