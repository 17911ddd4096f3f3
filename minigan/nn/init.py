"""Weight initialisations: PyTorch's defaults and the DCGAN scheme.

Every draw comes from a ``numpy.random.Generator``. Layers built without one use
``default_generator()``, which ``manual_seed`` resets; trainers pass their own.
"""

import math

import numpy as np

from minigan import backend

_default = np.random.default_rng(0)


def manual_seed(seed):
    """Reseed the generator that layers use when not given one."""
    global _default
    _default = np.random.default_rng(seed)


def default_generator():
    return _default


def _fill(param, values):
    """Write CPU-drawn values into a parameter on its own device and dtype."""
    param.data = backend.to_device(values.astype(param.data.dtype), param.device)


def uniform_(param, low, high, rng=None):
    rng = rng or _default
    _fill(param, rng.uniform(low, high, size=param.shape))


def normal_(param, mean=0.0, std=1.0, rng=None):
    rng = rng or _default
    _fill(param, rng.normal(mean, std, size=param.shape))


def constant_(param, value):
    _fill(param, np.full(param.shape, value))


def fan_in(param, transposed=False):
    """Inputs feeding one output: in_features for Linear, c*kh*kw for a conv.

    PyTorch computes ConvTranspose2d's fan from W.shape[1] (its out channels); we follow it.
    """
    shape = param.shape
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive


def pytorch_default_(weight, bias=None, rng=None):
    """PyTorch's Linear/Conv init: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias likewise."""
    bound = 1.0 / math.sqrt(fan_in(weight))
    uniform_(weight, -bound, bound, rng)
    if bias is not None:
        uniform_(bias, -bound, bound, rng)


def dcgan_(module, rng=None):
    """The DCGAN paper's init (Radford et al. 2015), as in pytorch/examples:
    conv and linear weights N(0, 0.02), (virtual) batch-norm weight N(1, 0.02), biases 0.
    """
    from minigan.nn.conv import _ConvNd  # the layer modules import init: resolve at call time
    from minigan.nn.gan_layers import VirtualBatchNorm
    from minigan.nn.linear import Linear
    from minigan.nn.normalization import BatchNorm

    for m in module.modules():
        if isinstance(m, (_ConvNd, Linear)):
            normal_(m.weight, 0.0, 0.02, rng)
            if m.bias is not None:
                constant_(m.bias, 0.0)
        elif isinstance(m, (BatchNorm, VirtualBatchNorm)):
            normal_(m.weight, 1.0, 0.02, rng)
            constant_(m.bias, 0.0)
    return module


def reset_parameters(module, rng):
    """Re-draw every layer's parameters with its default init from ``rng``."""
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters(rng)
    return module
