"""Batch normalization (1d and 2d) with PyTorch's running statistics.

Notation: x is viewed as x3 of shape (n, c, l) -- l = h*w for 2d input, 1 for
(n, c) input -- and statistics are per channel over the m = n*l values.
xhat = (x - mean) * invstd, invstd = 1 / sqrt(var + eps), y = gamma * xhat + beta.
``BatchNormActivation`` is act(y) for the ReLU or leaky ReLU that follows batch norm in a DCGAN
block, made in the same kernel pass (on the GPU one read and write of y fewer).
"""

from minigan import backend
from minigan.dispatch import kernels_for
from minigan.errors import MiniganError
from minigan.function import Function


class BatchNorm(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel."""

    def __init__(self, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def forward(self, x, gamma, beta):
        xp = backend.get_array_module(x)
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        k = kernels_for(x)
        if self.training:
            mean, var = k.batch_norm_stats(x3)
            self._update_running(mean, var, x3.shape[0] * x3.shape[2])
        else:
            mean, var = self.running_mean, self.running_var
        invstd = 1.0 / xp.sqrt(var + self.eps)
        self.save_for_backward(x3, gamma, mean, invstd)
        return self.normalize(k, x3, mean, invstd, gamma, beta).reshape(x.shape)

    def normalize(self, k, x3, mean, invstd, gamma, beta):
        """y3 from the statistics, by the kernel module ``k``."""
        return k.batch_norm_forward(x3, mean, invstd, gamma, beta)

    def _update_running(self, mean, var, m):
        if self.running_mean is None:
            return
        if m < 2:
            raise MiniganError("batch_norm in training mode needs more than one value per channel.")
        mo = self.momentum
        self.running_mean *= 1 - mo
        self.running_mean += mo * mean
        self.running_var *= 1 - mo
        self.running_var += (mo * m / (m - 1)) * var  # the running variance is unbiased

    def backward(self, gy):
        x3, gamma, mean, invstd = self.saved
        gy3 = gy.reshape(x3.shape)
        if self.training:  # mean and var depend on x: the full formula
            gx3, ggamma, gbeta = kernels_for(gy).batch_norm_backward(x3, gy3, mean, invstd, gamma)
        else:  # running statistics are constants: y is affine in x
            xhat = (x3 - mean[:, None]) * invstd[:, None]
            gbeta = gy3.sum(axis=(0, 2))
            ggamma = (gy3 * xhat).sum(axis=(0, 2))
            gx3 = gy3 * (gamma * invstd)[:, None]
        return gx3.reshape(gy.shape), ggamma, gbeta

    def backward_graph(self, gy):
        x, gamma, _ = self.inputs
        _, _, mean, invstd = self.saved
        x3, gy3 = x.reshape(self.saved[0].shape), gy.reshape(self.saved[0].shape)
        axes, col = (0, 2), (1, -1, 1)  # per-channel sums; a (c,) vector as a column
        if self.training:  # recompute the statistics as ops, so they carry their gradient
            mean = x3.mean(axis=axes, keepdims=True)
            centred = x3 - mean
            invstd = ((centred * centred).mean(axis=axes, keepdims=True) + self.eps) ** -0.5
            xhat = centred * invstd
        else:  # running statistics: constants
            invstd = invstd.reshape(col)
            xhat = (x3 - mean.reshape(col)) * invstd
        gbeta = gy3.sum(axis=axes)
        ggamma = (gy3 * xhat).sum(axis=axes)
        if self.training:  # gx = gamma invstd (gy - mean(gy) - xhat mean(gy xhat))
            m = x3.shape[0] * x3.shape[2]
            inner = gy3 - gbeta.reshape(col) / m - xhat * ggamma.reshape(col) / m
        else:
            inner = gy3
        gx3 = inner * (gamma.reshape(col) * invstd)
        return gx3.reshape(gy.shape), ggamma, gbeta


class BatchNormActivation(BatchNorm):
    """relu(y) or leaky_relu(y, slope) of batch norm's y, in batch norm's kernel pass."""

    def __init__(self, slope, *args):
        super().__init__(*args)
        self.slope = slope  # 0: ReLU

    def normalize(self, k, x3, mean, invstd, gamma, beta):
        if self.slope == 0:
            self.y3 = k.batch_norm_forward_relu(x3, mean, invstd, gamma, beta)
        else:
            self.y3 = k.batch_norm_forward_leaky_relu(x3, mean, invstd, gamma, beta, self.slope)
        return self.y3

    def release(self):
        super().release()
        self.y3 = None  # the output itself (Note [freed graph])

    def backward(self, gy):  # through the activation, then batch norm
        y, k = self.y3.reshape(gy.shape), kernels_for(gy)
        # d act / dy = 1 if y > 0 else slope; with slope > 0, act(y) > 0 exactly where y > 0
        gy = k.relu_backward(y, gy) if self.slope == 0 else k.leaky_relu_backward(y, gy, self.slope)
        return super().backward(gy)

    def backward_graph(self, gy):
        xp = backend.get_array_module(self.y3)
        slope = xp.where(self.y3.reshape(gy.shape) > 0, 1, self.slope).astype(self.y3.dtype)  # a constant
        return super().backward_graph(gy * slope)


ACTIVATIONS = (None, "relu", "leaky_relu")


def batch_norm(x, gamma, beta, running_mean=None, running_var=None, training=True, momentum=0.1, eps=1e-5,
               activation=None, slope=0.2):
    """Batch normalization over (n, c) or (n, c, h, w) input, optionally followed by an activation.

    Args:
        x (Tensor): (n, c) or (n, c, h, w).
        gamma, beta (Tensor): (c,) scale and shift.
        running_mean, running_var: raw (c,) arrays updated in place in training mode
            (momentum 0.1, unbiased variance); used instead of batch statistics in eval mode.
        training (bool): batch statistics (True) or running statistics (False).
        activation (str or None): "relu" or "leaky_relu" applied to the output in the same kernel
            pass (nn.Sequential does this for a BatchNorm followed by ReLU or LeakyReLU); None: none.
        slope (float): leaky_relu's slope for x < 0, > 0.
    Returns:
        Tensor of x's shape.
    """
    if not training and running_mean is None:
        raise MiniganError("batch_norm in eval mode needs running_mean and running_var.")
    if activation not in ACTIVATIONS or (activation == "leaky_relu" and not slope > 0):
        raise MiniganError(f"batch_norm's activation must be one of {ACTIVATIONS} (leaky_relu with a slope > 0), "
                           f"not {activation!r} with slope {slope}.")
    if activation is None:
        return BatchNorm(running_mean, running_var, training, momentum, eps)(x, gamma, beta)
    slope = 0.0 if activation == "relu" else slope
    return BatchNormActivation(slope, running_mean, running_var, training, momentum, eps)(x, gamma, beta)
