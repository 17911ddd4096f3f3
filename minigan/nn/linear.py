"""Fully connected and embedding layers."""

import numpy as np

from minigan import functional as F
from minigan.errors import MiniganError
from minigan.nn import init
from minigan.nn.module import Module, Parameter, check_input
from minigan.tensor import raw


class Linear(Module):
    """y = x W^T + b.

    Args:
        in_features, out_features (int): sizes.
        bias (bool): learn an additive bias.
        rng: numpy Generator for the initial weights (default: ``init.default_generator()``).
    Shape:
        (n, in_features) -> (n, out_features).
    """

    def __init__(self, in_features, out_features, bias=True, rng=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.zeros((out_features, in_features), np.float32))
        self.bias = Parameter(np.zeros(out_features, np.float32)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        init.pytorch_default_(self.weight, self.bias, rng)

    def forward(self, x):
        check_input(self, x, 2, self.in_features)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim`` (init N(0, 1)).

    Shape:
        integer indices of any shape -> indices.shape + (embedding_dim,).
    """

    def __init__(self, num_embeddings, embedding_dim, rng=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(np.zeros((num_embeddings, embedding_dim), np.float32))
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        init.normal_(self.weight, 0.0, 1.0, rng)

    def forward(self, indices):
        data = raw(indices)
        if data.dtype.kind not in "iu":
            raise MiniganError(f"{self!r} expects integer indices but got dtype {data.dtype}.")
        if data.size and (int(data.min()) < 0 or int(data.max()) >= self.num_embeddings):
            raise MiniganError(f"{self!r} got an index outside [0, {self.num_embeddings}).")
        return F.embedding(data, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
