"""Weight normalization (Salimans & Kingma 2016, "Weight Normalization: A Simple Reparameterization
to Accelerate Training of Deep Neural Networks"), with the semantics of ``torch.nn.utils.weight_norm``,
and the paper's data-dependent initialisation.

Notation: v the layer's direction parameter (its weight's shape), g its scale (one number per
output unit, shape (out, 1, ...) as PyTorch's ``weight_g``), ||v|| the norm of each output unit's
slice of v (over every axis but ``dim``). The layer computes with

    w = g * v / ||v||

so the length of each unit's weight vector is g, whatever v's. Differentiating through the
formula gives the paper's gradients: dL/dg = (dL/dw . v) / ||v|| and dL/dv = g / ||v|| (I - w w^T / g^2) dL/dw.

Data-dependent init (the paper's section 3; improved-gan's ``nn.DenseLayer(init=True)``): run a
batch through the network; at each weight-normed layer, in order, with t its output on that batch
before the bias (per unit: mean mu, standard deviation s over the batch and the spatial axes),
set g <- g / s and b <- -mu / s, so every unit starts with zero mean and unit variance on the data,
and the layers above see those standardised values. ``data_dependent_init(net, x)`` does it.

Design as ``spectral_norm`` (minigan/nn/spectral_norm.py): ``weight_norm(layer)`` returns a
``WeightNorm`` module holding the layer as its child ``module``; the layer keeps ``weight_g``
and ``weight_v`` (the state_dict holds ``module.weight_g``, ``module.weight_v``, ``module.bias``),
and each forward sets the layer's ``weight`` to g v / ||v|| for the call (outside a forward it is v). ``train_g=False`` keeps
g as a buffer that only the data-dependent init sets (improved-gan's D trains g only in its last layer).
"""

from minigan import backend
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.nn.module import Module, Parameter
from minigan.tensor import Tensor


class WeightNorm(Module):
    """A layer whose weight is g * v / ||v|| (see the module docstring).

    Args:
        module (Module): the layer (Linear, Conv2d, ...); changed in place.
        name (str): the weight's attribute name.
        dim (int): the weight axis of the output units (0 for Linear and Conv2d).
        train_g (bool): g is a Parameter (PyTorch); False: a buffer the optimizer never moves.
    """

    def __init__(self, module, name="weight", dim=0, train_g=True):
        super().__init__()
        weight = module._parameters.get(name)
        if weight is None:
            raise MiniganError(f"weight_norm: {type(module).__name__} has no parameter {name!r} "
                               f"(its parameters are {list(module._parameters)}).")
        self.name, self.dim, self.train_g = name, dim % weight.ndim, train_g
        self.module = module
        xp = backend.get_array_module(weight.data)
        g = xp.sqrt((weight.data * weight.data).sum(axis=self._axes(weight.ndim), keepdims=True))
        module._parameters.pop(name)
        if train_g:
            setattr(module, name + "_g", Parameter(g))
        else:
            module.register_buffer(name + "_g", g)
        setattr(module, name + "_v", Parameter(weight.data))
        object.__setattr__(module, name, module._parameters[name + "_v"])  # outside a forward an alias of v
        object.__setattr__(self, "_initializing", False)

    def _axes(self, ndim):
        return tuple(a for a in range(ndim) if a != self.dim)

    def compute_weight(self):
        """g * v / ||v|| as a Tensor of the graph, differentiable in v (and g when trained)."""
        v = getattr(self.module, self.name + "_v")
        g = getattr(self.module, self.name + "_g")
        g = g if isinstance(g, Tensor) else Tensor(g)
        norm = F.sqrt(F.sum(F.mul(v, v), axis=self._axes(v.ndim), keepdims=True))
        return F.mul(v, F.div(g, norm))

    def forward(self, *args, **kwargs):
        if self._initializing:
            self._init_from(*args, **kwargs)
        object.__setattr__(self.module, self.name, self.compute_weight())
        try:
            return self.module(*args, **kwargs)
        finally:
            object.__setattr__(self.module, self.name, getattr(self.module, self.name + "_v"))

    def _init_from(self, *args, **kwargs):
        """The data-dependent init on this batch: g <- g / s, b <- -mu / s (module docstring)."""
        bias = getattr(self.module, "bias", None)
        if bias is not None:
            bias.data[...] = 0
        object.__setattr__(self.module, self.name, self.compute_weight())
        try:
            t = self.module(*args, **kwargs).data
        finally:
            object.__setattr__(self.module, self.name, getattr(self.module, self.name + "_v"))
        xp = backend.get_array_module(t)
        axes = tuple(a for a in range(t.ndim) if a != 1)  # all but the unit (channel) axis
        mu, s = t.mean(axis=axes), t.std(axis=axes)
        s = xp.where(s > 0, s, 1).astype(t.dtype)  # a dead unit keeps its scale
        g = getattr(self.module, self.name + "_g")
        g_data = g.data if isinstance(g, Tensor) else g
        g_data /= s.reshape(g_data.shape)
        if bias is not None:
            bias.data[...] = -mu / s

    def extra_repr(self):
        return f"name={self.name!r}, dim={self.dim}, train_g={self.train_g}"


def weight_norm(module, name="weight", dim=0, train_g=True):
    """Reparameterise ``module``'s weight as g * v / ||v|| (Salimans & Kingma 2016), as
    ``torch.nn.utils.weight_norm``: g starts at ||w||, v at w, so the layer's output is unchanged.

    Returns:
        WeightNorm, the module to put in the network in place of ``module``.

    Example:
        >>> layer = nn.utils.weight_norm(nn.Linear(784, 1000))
        >>> nn.utils.data_dependent_init(net, x[:500])       # optional: the paper's init
    """
    return WeightNorm(module, name, dim, train_g)


def data_dependent_init(net, *inputs):
    """The paper's data-dependent init of every weight-normed layer of ``net``, bottom to top, on one
    batch (``net(*inputs)`` runs once, in the mode ``net`` is in, without a graph).

    Returns:
        int: how many layers were initialised.
    """
    layers = [m for m in net.modules() if isinstance(m, WeightNorm)]
    if not layers:
        raise MiniganError(f"data_dependent_init: {type(net).__name__} has no weight-normed layer (nn.utils.weight_norm).")
    for m in layers:
        object.__setattr__(m, "_initializing", True)
    try:
        with no_grad():
            net(*inputs)
    finally:
        for m in layers:
            object.__setattr__(m, "_initializing", False)
    return len(layers)
