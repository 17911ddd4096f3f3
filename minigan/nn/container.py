"""Sequential and the shape/regularisation layers that sit between the others."""

import math

import numpy as np

from minigan import functional as F
from minigan.errors import MiniganError
from minigan.nn.activation import LeakyReLU, ReLU
from minigan.nn.module import Module, check_input
from minigan.nn.normalization import BatchNorm1d, BatchNorm2d


class Sequential(Module):
    """Layers applied one after another; ``model[i]`` and ``len(model)`` work.

    A BatchNorm1d/2d followed by a ReLU or a LeakyReLU (slope > 0) runs as one op, the activation
    fused into batch norm's kernel pass (F.batch_norm's ``activation``): the same values, one pass
    over the activations fewer. Not when either layer is watched (``inspect.hooks.watch`` replaces
    a layer's forward): then each layer runs and is seen on its own.
    """

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        layers, i = list(self._modules.values()), 0
        while i < len(layers):
            fused = _batch_norm_activation(layers[i], layers[i + 1]) if i + 1 < len(layers) else None
            if fused is not None:
                x = layers[i](x, *fused)
                i += 2
            else:
                x = layers[i](x)
                i += 1
        return x


def _batch_norm_activation(layer, after):
    """(activation, slope) for F.batch_norm when ``layer`` is a BatchNorm that ``after``'s activation can
    join, else None. Exact types only: a subclass (VirtualBatchNorm ...) may compute something else."""
    if type(layer) not in (BatchNorm1d, BatchNorm2d) or "forward" in vars(layer) or "forward" in vars(after):
        return None
    if type(after) is ReLU:
        return ("relu", 0.0)
    if type(after) is LeakyReLU and after.negative_slope > 0:
        return ("leaky_relu", after.negative_slope)
    return None


class Flatten(Module):
    """(n, d1, d2, ...) -> (n, d1*d2*...)."""

    def forward(self, x):
        return F.flatten(x, 1)


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``, as ``torch.nn.Unflatten``.

    Args:
        dim (int): the dimension to split; negative counts from the end.
        unflattened_size (tuple of int): its new sizes, whose product must be that dimension's
            size; one entry may be -1 (inferred).
    Shape:
        ``Unflatten(1, (128, 7, 7))``: (n, 6272) -> (n, 128, 7, 7).
    """

    def __init__(self, dim, unflattened_size=None):
        super().__init__()
        if unflattened_size is None:
            size = tuple(dim) if isinstance(dim, (tuple, list)) else (128, 7, 7)
            raise MiniganError(f"nn.Unflatten takes (dim, unflattened_size) like PyTorch; "
                               f"write nn.Unflatten(1, {size}) instead of nn.Unflatten({dim!r}).")
        self.dim = int(dim)
        self.unflattened_size = tuple(int(s) for s in unflattened_size)
        if sum(s == -1 for s in self.unflattened_size) > 1 or any(s < -1 or s == 0 for s in self.unflattened_size):
            raise MiniganError(f"nn.Unflatten: unflattened_size {self.unflattened_size} must hold positive "
                               "sizes (at most one -1).")

    def forward(self, x):
        shape = tuple(x.shape)
        dim = self.dim + len(shape) if self.dim < 0 else self.dim
        if not 0 <= dim < len(shape):
            raise MiniganError(f"{self!r} cannot unflatten dim {self.dim} of an input of shape {shape}.")
        sizes = self._sizes(shape[dim])
        return F.reshape(x, shape[:dim] + sizes + shape[dim + 1:])

    def _sizes(self, total):
        """unflattened_size with a -1 resolved; its product must equal ``total``."""
        known = math.prod(s for s in self.unflattened_size if s != -1)
        sizes = self.unflattened_size
        if -1 in sizes and total % known == 0:
            sizes = tuple(total // known if s == -1 else s for s in sizes)
        if math.prod(sizes) != total:
            raise MiniganError(f"{self!r}: unflattened_size {self.unflattened_size} (product {known}) "
                               f"does not fit size {total} of dim {self.dim}.")
        return sizes

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Upsample(Module):
    """Nearest-neighbour upsampling by an integer ``scale_factor``."""

    def __init__(self, scale_factor=2):
        super().__init__()
        self.scale_factor = int(scale_factor)

    def forward(self, x):
        check_input(self, x, 4)
        return F.upsample_nearest2d(x, self.scale_factor)

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}"


class RandomLayer(Module):
    """A layer that draws random numbers in training mode (Dropout, GaussianNoise).

    The layer owns one host random Generator, seeded by ``seed``; ``reseed(seed)`` resets it. It
    serves both devices: on the GPU it gives one key per call and the numbers are drawn there
    (Note [device draws] in kernels/random.cu), so saving this Generator saves the layer's whole
    random state on either device (a resumed GPU run draws the same). ``gan.config.seed_dropout``
    seeds every RandomLayer of a run from the run's seed.
    """

    def __init__(self, seed=0):
        super().__init__()
        self.reseed(seed)

    def reseed(self, seed):
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "_rngs", {})

    def _rng(self):
        """The layer's host Generator, made from ``seed`` on first use (gan.config.seed_dropout sets it)."""
        if "cpu" not in self._rngs:
            self._rngs["cpu"] = np.random.default_rng(self.seed)
        return self._rngs["cpu"]


class GaussianNoise(RandomLayer):
    """x + N(0, std^2) in training mode, identity in eval (improved-gan's GaussianNoiseLayer: the
    semi-supervised GAN's D has it on its input and after every hidden layer)."""

    def __init__(self, std, seed=0):
        super().__init__(seed)
        if std < 0:
            raise MiniganError(f"GaussianNoise std must be 0 or more, got {std}.")
        self.std = std

    def forward(self, x):
        return F.gaussian_noise(x, self.std, self.training, self._rng() if self.training else None)

    def extra_repr(self):
        return f"std={self.std}"


class Dropout(RandomLayer):
    """Zero elements with probability p in training mode (scaled by 1/(1-p)); identity in eval."""

    def __init__(self, p=0.5, seed=0):
        super().__init__(seed)
        if not 0 <= p < 1:
            raise MiniganError(f"Dropout probability must be in [0, 1), got {p}.")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return F.dropout(x, self.p, True, self._rng())

    def extra_repr(self):
        return f"p={self.p}"
