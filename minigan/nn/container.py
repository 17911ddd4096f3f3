"""Sequential and the shape/regularisation layers that sit between the others."""

import numpy as np

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
    """(n, prod(shape)) -> (n, *shape), e.g. Unflatten((128, 7, 7))."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        size = int(np.prod(self.shape))
        if x.ndim != 2 or x.shape[1] != size:
            raise MiniganError(f"{self!r} expects input of shape (n, {size}) but got {tuple(x.shape)}.")
        return F.reshape(x, (x.shape[0],) + self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


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
