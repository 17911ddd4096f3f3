"""Sequential and the shape/regularisation layers that sit between the others."""

import math

from minigan import backend
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.nn.module import Module, check_input


class Sequential(Module):
    """Layers applied one after another; ``model[i]`` and ``len(model)`` work."""

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
        for layer in self._modules.values():
            x = layer(x)
        return x


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


class Dropout(Module):
    """Zero elements with probability p in training mode (scaled by 1/(1-p)); identity in eval.

    The layer owns its random Generator, seeded by ``seed``; ``reseed(seed)`` resets it.
    """

    def __init__(self, p=0.5, seed=0):
        super().__init__()
        if not 0 <= p < 1:
            raise MiniganError(f"Dropout probability must be in [0, 1), got {p}.")
        self.p = p
        self.reseed(seed)

    def reseed(self, seed):
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "_rngs", {})

    def _rng(self, x):
        """One Generator per device, both from ``seed``."""
        device = backend.device_of(x.data)
        if device not in self._rngs:
            xp = backend.get_array_module(x.data)
            self._rngs[device] = xp.random.default_rng(self.seed)
        return self._rngs[device]

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return F.dropout(x, self.p, True, self._rng(x))

    def extra_repr(self):
        return f"p={self.p}"
