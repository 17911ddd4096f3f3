"""Every op and layer's gradient check, as a catalogue.

``minigan gradcheck`` prints one row per case; tests/test_gradcheck_cases.py runs the
same list. Each case maps a numpy Generator to ``(fn, leaves)`` for ``gradcheck``.
Inputs are float64; where an op has a kink (relu at 0) the inputs are moved away from it.
"""

import numpy as np

from minigan import functional as F
from minigan import nn
from minigan.errors import MiniganError
from minigan.function import Adjoint, enable_grad
from minigan.functional.conv import Conv2dGradW
from minigan.functional.pooling import AvgPool2d
from minigan.gradcheck import gradcheck, gradgradcheck
from minigan.tensor import Tensor


def _t(rng, *shape, low=None, away_from_zero=False):
    x = rng.standard_normal(shape)
    if low is not None:
        x = np.abs(x) + low
    if away_from_zero:
        x = np.sign(x) * (np.abs(x) + 0.1)
    return Tensor(x)


def _op(f, *shapes, **kw):
    """A case applying ``f`` to fresh random leaves of the given shapes."""
    def build(rng):
        leaves = [_t(rng, *s, **kw) for s in shapes]
        return (lambda: f(*leaves)), leaves
    return build


def _layer(make, in_shape, integer_input=None):
    """A case for a layer: leaves are its input and every parameter, all float64."""
    def build(rng):
        nn.init.manual_seed(int(rng.integers(1 << 31)))
        layer = make().double()
        if integer_input is not None:
            x = rng.integers(0, integer_input, size=in_shape)
            return (lambda: layer(x)), layer.parameters()
        x = _t(rng, *in_shape, away_from_zero=True)
        return (lambda: layer(x)), [x] + layer.parameters()
    return build


def _run(op, shape):
    """``op`` after one forward on zeros of ``shape``: it holds what its backward needs (for Adjoint)."""
    with enable_grad():  # also inside the finite differences' no_grad: the op must save
        op(Tensor(np.zeros(shape), requires_grad=True))
    return op


def _dropout(rng):
    x = _t(rng, 4, 5)
    return (lambda: F.dropout(x, 0.3, True, np.random.default_rng(7))), [x]  # reseeded each call


def _gaussian_noise(rng):
    x = _t(rng, 4, 5)
    return (lambda: F.gaussian_noise(x, 0.5, True, np.random.default_rng(7))), [x]  # reseeded each call


def _bce_logits(rng):
    x, t = _t(rng, 6, 1), Tensor(rng.uniform(0, 1, (6, 1)))
    return (lambda: F.binary_cross_entropy_with_logits(x, t)), [x, t]


def _bce(rng):
    p, t = Tensor(rng.uniform(0.1, 0.9, (6, 1))), Tensor(rng.uniform(0, 1, (6, 1)))
    return (lambda: F.binary_cross_entropy(p, t)), [p, t]


def _cross_entropy(rng):
    x, labels = _t(rng, 5, 4), rng.integers(0, 4, size=5)
    return (lambda: F.cross_entropy(x, labels)), [x]


def _batch_norm(shape, training, activation=None):
    def build(rng):
        c = shape[1]
        x, gamma, beta = _t(rng, *shape), _t(rng, c), _t(rng, c)
        mean, var = rng.standard_normal(c), rng.uniform(0.5, 2, c)
        return (lambda: F.batch_norm(x, gamma, beta, mean.copy(), var.copy(), training, activation=activation)), [
            x, gamma, beta]
    return build


def _getitem(rng):
    x = _t(rng, 4, 3)
    return (lambda: x[np.array([0, 2, 2]), 1:]), [x]  # the repeated row must get both gradients


def _reference_batch(make_body, ref_shape, in_shape):
    """A VirtualBatchNorm network under ReferenceBatch: leaves are x and every parameter;
    the reference batch is a fixed buffer."""
    def build(rng):
        nn.init.manual_seed(int(rng.integers(1 << 31)))
        model = nn.ReferenceBatch(make_body(), rng.standard_normal(ref_shape)).double()
        x = _t(rng, *in_shape)
        return (lambda: model(x)), [x] + model.parameters()
    return build


def _mixture_latent(rng):
    nn.init.manual_seed(int(rng.integers(1 << 31)))
    layer = nn.MixtureLatent(3, 4).double()
    eps, w = rng.standard_normal((5, 4)), np.eye(3)[rng.integers(0, 3, size=5)]
    v = Tensor(np.concatenate([eps, w], axis=1))  # a leaf: the gradient reaches eps and w
    return (lambda: layer(v)), [v] + layer.parameters()


def _sigma_penalty(rng):
    layer = nn.MixtureLatent(3, 4, rng=rng).double()
    layer.sigma.data = rng.uniform(0.1, 2.0, (3, 4))
    return layer.sigma_penalty, [layer.sigma]


def _spectral_normed(layer):
    """``layer`` spectral-normed, after 20 power iterations, in eval mode: u and v stay fixed from call to call."""
    wrapped = nn.utils.spectral_norm(layer)
    for _ in range(20):
        wrapped.compute_weight(do_power_iteration=True)
    return wrapped.eval()


def _affine_randomised(layer, rng):
    """``layer`` with its (weight, bias) drawn at random instead of (1, 0), so both terms are exercised."""
    for p in layer.parameters():
        p.data = rng.standard_normal(p.shape)
    return layer


CASES = {
    "add (broadcast)": _op(F.add, (3, 4), (4,)),
    "sub (broadcast)": _op(F.sub, (3, 1), (3, 4)),
    "mul (broadcast)": _op(F.mul, (2, 3, 4), (3, 1)),
    "div": _op(F.div, (3, 4), (3, 4), low=0.5),
    "neg": _op(F.neg, (3, 4)),
    "pow": _op(lambda x: F.pow(x, 3), (3, 4), low=0.2),
    "exp": _op(F.exp, (3, 4)),
    "log": _op(F.log, (3, 4), low=0.2),
    "sqrt": _op(F.sqrt, (3, 4), low=0.2),
    "abs": _op(F.abs, (3, 4), away_from_zero=True),
    "matmul": _op(F.matmul, (3, 4), (4, 5)),
    "sum axis=1": _op(lambda x: F.sum(x, axis=1), (3, 4)),
    "mean keepdims": _op(lambda x: F.mean(x, axis=(0, 2), keepdims=True), (2, 3, 4)),
    "reshape": _op(lambda x: F.reshape(x, (4, 3)), (3, 4)),
    "transpose": _op(lambda x: F.transpose(x, (2, 0, 1)), (2, 3, 4)),
    "get_item (fancy, repeated)": _getitem,
    "concat": _op(lambda a, b: F.concat([a, b], axis=1), (2, 3), (2, 2)),
    "broadcast_to": _op(lambda x: F.broadcast_to(x, (3, 4)), (1, 4)),
    "linear": _op(F.linear, (3, 4), (5, 4), (5,)),
    "conv2d s1 p0": _op(F.conv2d, (2, 2, 5, 5), (3, 2, 3, 3), (3,)),
    "conv2d s2 p1": _op(lambda x, W: F.conv2d(x, W, None, 2, 1), (2, 2, 6, 6), (3, 2, 4, 4)),
    "conv2d s(2,1) p(0,1)": _op(lambda x, W: F.conv2d(x, W, None, (2, 1), (0, 1)), (1, 2, 5, 4), (2, 2, 3, 2)),
    "conv_transpose2d s1 p0": _op(F.conv_transpose2d, (2, 2, 3, 3), (2, 3, 3, 3), (3,)),
    "conv_transpose2d s2 p1": _op(lambda x, W: F.conv_transpose2d(x, W, None, 2, 1), (2, 3, 3, 3), (3, 2, 4, 4)),
    "conv_transpose2d s2 p1 op1": _op(lambda x, W: F.conv_transpose2d(x, W, None, 2, 1, 1),
                                      (1, 2, 3, 3), (2, 2, 3, 3)),
    "conv2d weight gradient (Conv2dGradW) s2 p1": _op(lambda x, gy: Conv2dGradW((3, 2, 4, 4), 2, 1)(x, gy),
                                                     (2, 2, 6, 6), (2, 3, 3, 3)),
    "sum_to": _op(lambda x: F.sum_to(x, (3, 1)), (2, 3, 4)),
    "adjoint of avg_pool2d k3 s2 p1": _op(lambda gy: Adjoint(_run(AvgPool2d(3, 2, 1), (1, 2, 5, 5)))(gy),
                                          (1, 2, 3, 3)),
    "batch_norm 2d train": _batch_norm((4, 3, 2, 2), True),
    "batch_norm 1d train": _batch_norm((5, 3), True),
    "batch_norm 2d eval": _batch_norm((3, 2, 2, 2), False),
    "batch_norm 2d train + relu (fused)": _batch_norm((4, 3, 2, 2), True, "relu"),
    "batch_norm 1d eval + leaky_relu (fused)": _batch_norm((5, 3), False, "leaky_relu"),
    "relu": _op(F.relu, (3, 4), away_from_zero=True),
    "leaky_relu": _op(lambda x: F.leaky_relu(x, 0.2), (3, 4), away_from_zero=True),
    "tanh": _op(F.tanh, (3, 4)),
    "sigmoid": _op(F.sigmoid, (3, 4)),
    "softplus": _op(F.softplus, (3, 4)),
    "nn.Softplus": _layer(nn.Softplus, (3, 4)),
    "dropout (reseeded)": _dropout,
    "gaussian_noise (reseeded)": _gaussian_noise,
    "logsumexp": _op(lambda x: F.logsumexp(x, axis=1), (3, 4)),
    "embedding": _layer(lambda: nn.Embedding(5, 3), (4,), integer_input=5),
    "avg_pool2d k2": _op(lambda x: F.avg_pool2d(x, 2), (2, 2, 4, 4)),
    "avg_pool2d k3 s2 p1": _op(lambda x: F.avg_pool2d(x, 3, 2, 1), (1, 2, 5, 5)),
    "upsample_nearest2d": _op(lambda x: F.upsample_nearest2d(x, 2), (2, 2, 3, 3)),
    "bce_with_logits": _bce_logits,
    "binary_cross_entropy": _bce,
    "mse_loss": _op(F.mse_loss, (4, 3), (4, 3)),
    "cross_entropy": _cross_entropy,
    "nn.Linear": _layer(lambda: nn.Linear(4, 3), (2, 4)),
    "nn.Conv2d": _layer(lambda: nn.Conv2d(2, 3, 4, 2, 1), (2, 2, 6, 6)),
    "nn.ConvTranspose2d": _layer(lambda: nn.ConvTranspose2d(3, 2, 4, 2, 1), (2, 3, 3, 3)),
    "nn.BatchNorm1d": _layer(lambda: nn.BatchNorm1d(3), (4, 3)),
    "nn.BatchNorm2d": _layer(lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    "nn.Sequential (DCGAN block)": _layer(lambda: nn.Sequential(
        nn.ConvTranspose2d(3, 2, 4, 2, 1, bias=False), nn.BatchNorm2d(2), nn.ReLU(),
        nn.Conv2d(2, 2, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8, 1), nn.Sigmoid()),
        (2, 3, 2, 2)),
    "nn.MinibatchDiscrimination": _layer(lambda: nn.MinibatchDiscrimination(4, 3, 2), (5, 4)),
    "nn.VirtualBatchNorm 1d": _reference_batch(lambda: nn.Sequential(
        nn.Linear(4, 3), nn.VirtualBatchNorm(3), nn.Tanh(), nn.Linear(3, 2), nn.VirtualBatchNorm(2)),
        (6, 4), (5, 4)),
    "nn.VirtualBatchNorm 2d": _reference_batch(lambda: nn.Sequential(
        nn.ConvTranspose2d(3, 2, 4, 2, 1), nn.VirtualBatchNorm(2)), (4, 3, 2, 2), (3, 3, 2, 2)),
    "nn.MixtureLatent": _mixture_latent,
    "nn.MixtureLatent sigma_penalty": _sigma_penalty,
    "nn.LayerNorm (5,)": _layer(lambda: _affine_randomised(nn.LayerNorm(5), np.random.default_rng(1)), (3, 5)),
    "nn.LayerNorm (3, 4)": _layer(lambda: _affine_randomised(nn.LayerNorm((3, 4)), np.random.default_rng(2)),
                                  (2, 2, 3, 4)),
    "nn.LayerNorm no affine": _layer(lambda: nn.LayerNorm((2, 3), elementwise_affine=False), (2, 2, 3)),
    "nn.InstanceNorm2d": _layer(lambda: nn.InstanceNorm2d(2), (2, 2, 3, 3)),
    "nn.InstanceNorm2d affine": _layer(lambda: _affine_randomised(nn.InstanceNorm2d(3, affine=True),
                                                                  np.random.default_rng(3)), (2, 3, 2, 3)),
    "nn.utils.spectral_norm Linear (eval)": _layer(lambda: _spectral_normed(nn.Linear(4, 3)), (2, 4)),
    "nn.utils.spectral_norm Conv2d (eval)": _layer(lambda: _spectral_normed(nn.Conv2d(2, 3, 3, 2, 1)), (2, 2, 4, 4)),
    "nn.utils.spectral_norm ConvTranspose2d (eval)": _layer(lambda: _spectral_normed(nn.ConvTranspose2d(3, 2, 4, 2, 1)),
                                                            (1, 3, 2, 2)),
    "nn.utils.weight_norm Linear": _layer(lambda: nn.utils.weight_norm(nn.Linear(4, 3)), (2, 4)),
    "nn.utils.weight_norm Conv2d": _layer(lambda: nn.utils.weight_norm(nn.Conv2d(2, 3, 3, 2, 1)), (2, 2, 4, 4)),
    "nn.utils.weight_norm Linear, g fixed": _layer(lambda: nn.utils.weight_norm(nn.Linear(4, 3), train_g=False), (2, 4)),
}


def run_all(seed=0, names=None, order=1):
    """Run every case (or those named) and return the list of CheckResult.

    Args:
        order (int): 1 checks the gradient, 2 the gradient of the gradient
            (``gradgradcheck``, which also proves the recorded backward equal to the array one).
    """
    if order not in (1, 2):
        raise MiniganError(f"gradcheck order must be 1 or 2, not {order}.")
    check = gradcheck if order == 1 else gradgradcheck
    results = []
    for i, (name, build) in enumerate(CASES.items()):
        if names and name not in names:
            continue
        fn, leaves = build(np.random.default_rng(seed + i))
        results.append(check(fn, leaves, name=name, seed=seed + i))
    return results
