"""Floor 4: every differentiable op, one class each, forward directly above backward.

Use as ``from minigan import functional as F``; ``F.conv2d(x, W)``.
"""

from minigan.functional.activation import leaky_relu, relu, sigmoid, softplus, tanh
from minigan.functional.conv import conv2d, conv_transpose2d
from minigan.functional.linear import embedding, linear
from minigan.functional.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
)
from minigan.functional.math import abs, add, div, exp, log, logsumexp, matmul, mean, mul, neg, pow, sqrt, sub, sum
from minigan.functional.noise import dropout, gaussian_noise
from minigan.functional.normalization import batch_norm
from minigan.functional.pooling import avg_pool2d, upsample_nearest2d
from minigan.functional.shape import broadcast_to, concat, flatten, get_item, reshape, sum_to, transpose
from minigan.functional.sync_batch_norm import sync_batch_norm

__all__ = [
    "abs", "add", "avg_pool2d", "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "broadcast_to", "concat", "conv2d", "conv_transpose2d", "cross_entropy", "div", "dropout",
    "embedding", "exp", "flatten", "gaussian_noise", "get_item", "leaky_relu", "linear", "log", "logsumexp", "matmul",
    "mean",
    "mse_loss", "mul", "neg", "pow", "relu", "reshape", "sigmoid", "softplus", "sqrt", "sub", "sum", "sum_to",
    "sync_batch_norm", "tanh", "transpose", "upsample_nearest2d",
]
