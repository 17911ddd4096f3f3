"""Batch normalization layers."""

import numpy as np

from minigan import functional as F
from minigan.nn import init
from minigan.nn.module import Module, Parameter, check_input


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

    def forward(self, x):
        ndim = x.ndim if x.ndim in self.input_ndims else self.input_ndims[0]
        check_input(self, x, ndim, self.num_features)
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                            self.training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(BatchNorm):
    """Batch norm over (n, c) input. Shape: (n, num_features) -> same."""

    input_ndims = (2,)


class BatchNorm2d(BatchNorm):
    """Batch norm over (n, c, h, w) input, per channel. Shape: unchanged."""

    input_ndims = (4,)
