"""Losses, each reduced to a scalar mean (or sum) in one op.

Notation: x are logits or predictions of shape (n, ...), t the targets of the same
shape (class indices for cross_entropy), N the number of elements averaged over.
"""

from minigan import backend
from minigan.dispatch import kernels_for
from minigan.function import Function
from minigan.errors import MiniganError
from minigan.functional.activation import sigmoid
from minigan.tensor import Tensor, as_tensor, raw


def _scale(size, reduction):
    """d loss / d element: 1/N for a mean, 1 for a sum."""
    if reduction == "mean":
        return 1.0 / size
    if reduction == "sum":
        return 1.0
    raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")


def _reduce(loss, reduction):
    """(the reduced loss, d loss / d element)."""
    scale = _scale(loss.size, reduction)
    return (loss.mean() if reduction == "mean" else loss.sum()), scale


class BCEWithLogits(Function):
    """mean(max(x, 0) - x t + log(1 + exp(-|x|))): sigmoid and BCE in one stable op."""

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, x, t):
        scale = _scale(x.size, self.reduction)
        # the loss and its gradient (sigmoid(x) - t) * scale in one pass over x and t (a D step needs both)
        loss, gx = kernels_for(x).bce_with_logits_forward_backward(x, t, scale)
        self.save_for_backward(x, gx, scale)
        return _reduce(loss, self.reduction)[0]

    def backward(self, gy):
        x, gx, scale = self.saved
        gt = -x * (scale * gy) if self.needs_input_grad[1] else None  # d/dt = -x / N
        return gx * gy, gt  # d/dx = (sigmoid(x) - t) / N

    def backward_graph(self, gy):
        x, t = self.inputs
        scale = self.saved[2]
        gx = (sigmoid(x) - t) * (gy * scale)
        gt = -x * (gy * scale) if self.needs_input_grad[1] else None
        return gx, gt


def binary_cross_entropy_with_logits(x, t, reduction="mean"):
    """Binary cross-entropy on logits, computed stably (never exp of a large number).

    Args:
        x (Tensor): logits, any shape.
        t (Tensor or float): targets in [0, 1], x's shape (or a scalar, broadcast).
        reduction (str): 'mean' or 'sum'.
    Returns:
        scalar Tensor.
    """
    t = _target_like(t, x)
    return BCEWithLogits(reduction)(x, t)


class BCE(Function):
    """mean(-(t log p + (1 - t) log(1 - p))) on probabilities p, logs clamped at -100 like PyTorch."""

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, p, t):
        xp = backend.get_array_module(p)
        log_p = xp.maximum(xp.log(p), -100)
        log_q = xp.maximum(xp.log1p(-p), -100)
        loss, scale = _reduce(-(t * log_p + (1 - t) * log_q), self.reduction)
        self.save_for_backward(p, t, log_p, log_q, scale)
        return loss

    def backward(self, gy):
        p, t, log_p, log_q, scale = self.saved
        xp = backend.get_array_module(p)
        eps = xp.finfo(p.dtype).tiny
        gp = (p - t) / xp.maximum(p * (1 - p), eps) * (scale * gy)  # d/dp = (p - t) / (p (1 - p))
        gt = (log_q - log_p) * (scale * gy) if self.needs_input_grad[1] else None
        return gp, gt

    def backward_graph(self, gy):  # the twin leaves out the -100 clamp of the logs
        p, t = self.inputs
        scale = self.saved[4]
        gp = (p - t) / (p * (1 - p)) * (gy * scale)
        gt = ((1 - p).log() - p.log()) * (gy * scale) if self.needs_input_grad[1] else None
        return gp, gt


def binary_cross_entropy(p, t, reduction="mean"):
    """Binary cross-entropy on probabilities p in (0, 1). Prefer the logits version."""
    return BCE(reduction)(p, _target_like(t, p))


class MSE(Function):
    """mean((x - t)^2)."""

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, x, t):
        diff = x - t
        loss, scale = _reduce(diff * diff, self.reduction)
        self.save_for_backward(diff, scale)
        return loss

    def backward(self, gy):
        diff, scale = self.saved
        gx = diff * (2 * scale * gy)  # d/dx = 2 (x - t) / N
        return gx, -gx

    def backward_graph(self, gy):
        x, t = self.inputs
        gx = (x - t) * (gy * (2 * self.saved[1]))
        return gx, -gx


def mse_loss(x, t, reduction="mean"):
    """Mean squared error (least-squares GAN uses it on D's outputs)."""
    return MSE(reduction)(x, _target_like(t, x))


class CrossEntropy(Function):
    """mean(-log softmax(x)[label]) over the rows of x (n, classes)."""

    def __init__(self, labels, reduction="mean"):
        self.labels, self.reduction = labels, reduction

    def forward(self, x):
        xp = backend.get_array_module(x)
        shifted = x - x.max(axis=1, keepdims=True)  # log-sum-exp shift: no overflow
        log_z = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        log_softmax = shifted - log_z
        rows = xp.arange(x.shape[0])
        loss, scale = _reduce(-log_softmax[rows, self.labels], self.reduction)
        self.save_for_backward(log_softmax, scale)
        return loss

    def backward(self, gy):
        log_softmax, scale = self.saved
        xp = backend.get_array_module(log_softmax)
        gx = xp.exp(log_softmax)
        gx[xp.arange(gx.shape[0]), self.labels] -= 1  # d/dx = softmax - onehot
        return gx * (scale * gy)

    def backward_graph(self, gy):
        (x,) = self.inputs
        log_softmax, scale = self.saved
        xp = backend.get_array_module(log_softmax)
        e = (x - x.data.max(axis=1, keepdims=True)).exp()  # the shift is a constant: no overflow
        onehot = xp.zeros_like(log_softmax)
        onehot[xp.arange(onehot.shape[0]), self.labels] = 1
        return (e / e.sum(axis=1, keepdims=True) - onehot) * (gy * scale)


def cross_entropy(x, labels, reduction="mean"):
    """Softmax cross-entropy.

    Args:
        x (Tensor): logits (n, classes).
        labels: integer class indices (n,), array or Tensor.
    Returns:
        scalar Tensor.
    """
    labels = raw(labels)
    return CrossEntropy(labels, reduction)(x)


def _target_like(t, x):
    """A target as a Tensor of x's shape, dtype and device (a scalar is broadcast)."""
    t = as_tensor(t, like=x)
    if t.shape == x.shape:
        return t
    xp = backend.get_array_module(x.data)
    try:
        full = xp.ascontiguousarray(xp.broadcast_to(t.data, x.shape))
    except ValueError:
        full = None
    if full is None or t.requires_grad:
        raise MiniganError(f"loss target of shape {t.shape} does not match the input of shape {x.shape}.")
    return Tensor(full)
