"""Synchronised batch normalization: the statistics of the global batch of a data-parallel run,
whose ranks each hold a part of it (ChainerMN's MultiNodeBatchNormalization, PyTorch's SyncBatchNorm).

Notation as functional/normalization.py, per rank r: x3 (n_r, c, l) its part, m_r = n_r*l values
per channel, mean_r and var_r their statistics; M = sum_r m_r; N ranks. ``comm`` is a
Communicator (minigan.distributed), called by every rank in the same order.

Forward, one all-reduce of 2c + 1 numbers in float64 (each rank's mean_r and var_r come from the
batch-norm kernel's two passes over its rows):
    mean = sum_r m_r mean_r / M,    var = sum_r m_r (var_r + mean_r^2) / M - mean^2
E[x^2] - E[x]^2 cancels when |mean| is large against the spread; in float64 that costs about
1e-16 mean^2 / var of var, harmless for float32 activations (it would not be in float32).
Backward: gbeta = sum gy and ggamma = sum gy xhat over the global batch (one all-reduce of 2c
numbers, each rank's sums taken by ``batch_norm_backward_sums``), then as batch norm
    gx = gamma invstd / M (M gy - gbeta - xhat ggamma)
Note [sync batch norm sums]: the sums travel in float64. Where batch norm is followed by layers
that undo a shift (another batch norm), gbeta of the whole batch is near 0 while each rank's part
is not: added in float32 they would keep float32's rounding of the parts, and Adam, which moves
each weight by about lr whatever its gradient's size, makes such a rounding error a visible
difference within steps. For the same reason every rank returns dgamma = ggamma / N and
dbeta = gbeta / N (the same on every rank): the data-parallel gradient mean then gives ggamma / N
exactly, the gradient of the mean loss over the global batch.
"""

import numpy as np

from minigan import backend
from minigan.dispatch import kernels_for
from minigan.errors import MiniganError
from minigan.functional.normalization import BatchNorm


def global_moments(comm, mean_r, var_r, m_r):
    """(mean, var, M) of the global batch from each rank's (mean_r, var_r, m_r); float64, on mean_r's device."""
    xp = backend.get_array_module(mean_r)
    mean_r, var_r, c = mean_r.astype(np.float64), var_r.astype(np.float64), mean_r.shape[0]
    sums = comm.all_reduce(xp.concatenate([m_r * mean_r, m_r * (var_r + mean_r * mean_r), xp.full(1, m_r, np.float64)]))
    total = sums[-1]
    mean = sums[:c] / total
    return mean, xp.maximum(sums[c:2 * c] / total - mean * mean, 0.0), total


def backward_sums(x3, gy3, mean, invstd):
    """(sum gy, sum gy xhat) per channel in float64: the Numba kernel on the CPU; on the GPU CuPy's
    reductions stand in until kernels/batch_norm.cu has float64 sums of its own."""
    k = kernels_for(x3)
    if hasattr(k, "batch_norm_backward_sums"):
        return k.batch_norm_backward_sums(x3, gy3, mean, invstd)
    xhat = (x3 - mean[:, None]) * invstd[:, None]
    return gy3.sum(axis=(0, 2), dtype=np.float64), (gy3 * xhat).sum(axis=(0, 2), dtype=np.float64)


def backward_data(x3, gy3, mean, invstd, gamma, gbeta, ggamma, m):
    """gx = gamma invstd / m (m gy - gbeta - xhat ggamma): the Numba kernel on the CPU, CuPy on the GPU."""
    k = kernels_for(x3)
    if hasattr(k, "batch_norm_backward_data"):
        return k.batch_norm_backward_data(x3, gy3, mean, invstd, gamma, gbeta, ggamma, m)
    col = (1, -1, 1)
    xhat = (x3 - mean.reshape(col)) * invstd.reshape(col)
    scale = (gamma * invstd).reshape(col) / m
    return (scale * (m * gy3 - gbeta.reshape(col) - xhat * ggamma.reshape(col))).astype(x3.dtype)


class SyncBatchNorm(BatchNorm):
    """BatchNorm whose train-mode statistics and gradients span every rank of ``comm``."""

    def __init__(self, comm, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        super().__init__(running_mean, running_var, training, momentum, eps)
        self.comm = comm

    def forward(self, x, gamma, beta):
        if not self.training:
            return super().forward(x, gamma, beta)
        xp = backend.get_array_module(x)
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        k = kernels_for(x)
        mean_r, var_r = k.batch_norm_stats(x3)
        mean, var, total = global_moments(self.comm, mean_r, var_r, x3.shape[0] * x3.shape[2])
        self.total = total
        self._update_running_global(mean, var, total)
        mean = mean.astype(x.dtype)
        invstd = (1.0 / xp.sqrt(var + self.eps)).astype(x.dtype)
        self.save_for_backward(x3, gamma, mean, invstd)
        return k.batch_norm_forward(x3, mean, invstd, gamma, beta).reshape(x.shape)

    def _update_running_global(self, mean, var, total):
        """As BatchNorm's update, with the global count M in the unbiased variance M / (M - 1)."""
        if self.running_mean is None:
            return
        xp, mo = backend.get_array_module(mean), self.momentum
        self.running_mean *= 1 - mo
        self.running_mean += (mo * mean).astype(self.running_mean.dtype)
        self.running_var *= 1 - mo
        unbiased = total / xp.maximum(total - 1, 1)  # M stays on the device: no trip to the host
        self.running_var += (mo * unbiased * var).astype(self.running_var.dtype)

    def backward(self, gy):
        if not self.training:
            return super().backward(gy)
        x3, gamma, mean, invstd = self.saved
        gy3 = gy.reshape(x3.shape)
        xp, c = backend.get_array_module(gy), x3.shape[1]
        sums = self.comm.all_reduce(xp.concatenate(backward_sums(x3, gy3, mean, invstd)))  # Note [sync batch norm sums]
        gbeta, ggamma = sums[:c], sums[c:]
        gx3 = backward_data(x3, gy3, mean, invstd, gamma, gbeta, ggamma, self.total)
        share = 1.0 / self.comm.size
        return gx3.reshape(gy.shape), (ggamma * share).astype(gamma.dtype), (gbeta * share).astype(gamma.dtype)

    def backward_graph(self, gy):
        if self.training and self.comm.size > 1:
            raise MiniganError("second-order gradients through synchronised batch norm are not implemented; "
                               "train with one process, or use a norm without batch statistics (--d-norm layer).")
        return super().backward_graph(gy)


def sync_batch_norm(x, gamma, beta, comm, running_mean=None, running_var=None, training=True, momentum=0.1,
                    eps=1e-5):
    """Batch normalization with the statistics of the global batch spread over the ranks of ``comm``.

    Args:
        x (Tensor): this rank's part of the batch, (n, c) or (n, c, h, w).
        gamma, beta (Tensor): (c,) scale and shift, equal on every rank.
        comm (Communicator): the ranks; every rank calls this in the same order.
        running_mean, running_var, training, momentum, eps: as ``batch_norm``; the running
            statistics are updated from the global mean and (unbiased, over M values) variance.
    Returns:
        Tensor of x's shape: this rank's rows of ``batch_norm`` on the global batch. Its gradients
        for gamma and beta are those of the global batch divided by the number of ranks, the same
        on every rank (Note [sync batch norm sums]).
    """
    if not training and running_mean is None:
        raise MiniganError("batch_norm in eval mode needs running_mean and running_var.")
    return SyncBatchNorm(comm, running_mean, running_var, training, momentum, eps)(x, gamma, beta)
