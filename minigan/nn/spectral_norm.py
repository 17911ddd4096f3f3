"""Spectral normalization (Miyato et al. 2018, "Spectral Normalization for Generative
Adversarial Networks"), with the semantics of PyTorch's ``torch.nn.utils.spectral_norm``.

Notation: W the layer's weight viewed as a matrix (h, w) -- W.shape[dim] rows, the other
axes flattened into columns (dim 1 for ConvTranspose2d, whose weight is (in, out, kh, kw),
so the rows are always the output channels); u (h,) and v (w,) estimates of W's first left
and right singular vectors; sigma = u^T W v, W's largest singular value. One power iteration:

    v = normalize(W^T u),  u = normalize(W v),  normalize(x) = x / max(||x||, eps)

and the layer computes with W / sigma, whose spectral norm is ~1.

Design: ``spectral_norm(layer)`` returns a ``SpectralNorm`` module that holds the layer as
its child ``module``. The layer keeps its unnormalised weight as the Parameter
``weight_orig`` and u, v as the buffers ``weight_u``, ``weight_v``, as in PyTorch, so the
state_dict holds ``module.weight_orig``, ``module.bias``, ``module.weight_u``,
``module.weight_v``; parameters(), train()/eval(), double(), to_gpu() and checkpoints reach
them through the ordinary module tree. Each forward of the wrapper sets the layer's
``weight`` to W / sigma, calls the layer, and sets ``weight`` back to ``weight_orig``
itself. A wrapper rather than a pre-forward hook: Module has no hook mechanism, and a
``forward`` attribute set on the layer (the trick of ``minigan.inspect.hooks``) would be
removed by ``inspect.watch`` on its way out. Outside a forward, ``layer.weight`` *is*
``weight_orig``, so initialisers that write ``layer.weight`` (``init.dcgan_``,
``reset_parameters``) reach the parameter; ``compute_weight()`` gives W / sigma.
"""

from minigan import backend
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.nn import init
from minigan.nn.conv import ConvTranspose2d
from minigan.nn.module import Module, Parameter
from minigan.tensor import Tensor


def _normalize(x, eps):
    xp = backend.get_array_module(x)
    return x / xp.maximum(xp.linalg.norm(x), eps)


class SpectralNorm(Module):
    """A layer whose weight is divided by its largest singular value before every forward.

    Args:
        module (Module): the layer (Linear, Conv2d, ConvTranspose2d, ...); it is changed in place.
        name (str): the weight's attribute name.
        n_power_iterations (int): power iterations per training-mode forward (at least 1).
        eps (float): floor of the norms in ``normalize``.
        dim (int or None): the weight axis of the output units; None picks 1 for
            ConvTranspose2d and 0 otherwise.
        rng: numpy Generator for u and v's initial N(0, 1) draw (default: ``init.default_generator()``).
    """

    def __init__(self, module, name="weight", n_power_iterations=1, eps=1e-12, dim=None, rng=None):
        super().__init__()
        if n_power_iterations <= 0:
            raise MiniganError(f"spectral_norm needs n_power_iterations > 0, got {n_power_iterations}.")
        weight = module._parameters.get(name)
        if weight is None:
            known = f"its parameters are {list(module._parameters)}"
            if f"{name}_orig" in module._parameters:
                known = f"{name}_orig is already spectral-normed"
            raise MiniganError(f"spectral_norm: {type(module).__name__} has no parameter {name!r} ({known}).")
        self.name, self.n_power_iterations, self.eps = name, n_power_iterations, eps
        self.dim = (1 if isinstance(module, ConvTranspose2d) else 0) if dim is None else dim % weight.ndim
        self.module = module
        h, w = self._matrix(weight.data).shape
        rng = rng or init.default_generator()
        u, v = (_normalize(rng.standard_normal(size), eps) for size in (h, w))
        module._parameters.pop(name)
        setattr(module, name + "_orig", weight)
        module.register_buffer(name + "_u", backend.to_device(u.astype(weight.dtype), weight.device))
        module.register_buffer(name + "_v", backend.to_device(v.astype(weight.dtype), weight.device))
        object.__setattr__(module, name, weight)  # an alias, not registered a second time

    def _matrix(self, W):
        """The raw weight as the (h, w) matrix of the docstring."""
        xp = backend.get_array_module(W)
        return xp.moveaxis(W, self.dim, 0).reshape(W.shape[self.dim], -1)

    def _power_iteration(self):
        """n_power_iterations on raw arrays, written into the buffers u and v in place."""
        W = self._matrix(getattr(self.module, self.name + "_orig").data)
        u, v = getattr(self.module, self.name + "_u"), getattr(self.module, self.name + "_v")
        for _ in range(self.n_power_iterations):
            v[...] = _normalize(W.T @ u, self.eps)
            u[...] = _normalize(W @ v, self.eps)

    def compute_weight(self, do_power_iteration=False):
        """W / sigma as a Tensor of the graph: differentiable in W, with u and v held fixed.

        Args:
            do_power_iteration (bool): update u and v first (what a training-mode forward does).
        Returns:
            Tensor of the weight's shape.
        """
        if do_power_iteration:
            self._power_iteration()
        W = getattr(self.module, self.name + "_orig")
        # Copies: a later forward updates the buffers in place, and this graph keeps u and v for backward.
        u = Tensor(getattr(self.module, self.name + "_u")[:, None].copy())
        v = Tensor(getattr(self.module, self.name + "_v")[:, None].copy())
        axes = (self.dim,) + tuple(a for a in range(W.ndim) if a != self.dim)
        matrix = F.reshape(F.transpose(W, axes) if self.dim else W, (W.shape[self.dim], -1))
        sigma = F.sum(F.mul(u, F.matmul(matrix, v)))  # u^T W v
        return F.div(W, sigma)

    def forward(self, *args, **kwargs):
        object.__setattr__(self.module, self.name, self.compute_weight(do_power_iteration=self.training))
        try:
            return self.module(*args, **kwargs)
        finally:
            object.__setattr__(self.module, self.name, getattr(self.module, self.name + "_orig"))

    def extra_repr(self):
        return f"name={self.name!r}, n_power_iterations={self.n_power_iterations}, dim={self.dim}, eps={self.eps}"


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None, rng=None):
    """Spectral-normalise ``module``'s weight (Miyato et al. 2018), as ``torch.nn.utils.spectral_norm``.

    In training mode every forward first runs ``n_power_iterations`` of the power method
    (no gradient flows through u and v; they are updated in place), then uses W / sigma with
    sigma = u^T W v differentiated through W. In eval mode the stored u and v are used as they are.

    Args:
        module (Module): a layer with a weight Parameter; changed in place and wrapped.
        name, n_power_iterations, eps, dim, rng: see ``SpectralNorm``.
    Returns:
        SpectralNorm, the module to put in the network in place of ``module``.

    Example:
        >>> D = nn.Sequential(nn.utils.spectral_norm(nn.Conv2d(1, 64, 4, 2, 1)), nn.LeakyReLU(0.2))
    """
    return SpectralNorm(module, name, n_power_iterations, eps, dim, rng)


def remove_spectral_norm(module):
    """Undo ``spectral_norm``: the layer, whose ``weight`` Parameter is now W / sigma (stored u, v).

    Args:
        module (SpectralNorm): what ``spectral_norm`` returned.
    Returns:
        The wrapped layer, with ``weight_orig``, ``weight_u`` and ``weight_v`` gone.
    """
    if not isinstance(module, SpectralNorm):
        raise MiniganError(f"remove_spectral_norm expects what spectral_norm returned, got {type(module).__name__}.")
    layer, name = module.module, module.name
    weight = module.compute_weight(do_power_iteration=False).data
    for suffix in ("_orig", "_u", "_v"):
        layer._parameters.pop(name + suffix, None)
        layer._buffers.pop(name + suffix, None)
        object.__delattr__(layer, name + suffix)
    setattr(layer, name, Parameter(weight))
    return layer
