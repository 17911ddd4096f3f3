"""The layers of the GAN training techniques.

Minibatch discrimination and virtual batch normalization are from Salimans et al. 2016,
"Improved Techniques for Training GANs" (sections 3.2 and 3.5); the mixture-of-Gaussians
latent space is DeLiGAN's (Gurumurthy et al. 2017, "DeLiGAN: Generative Adversarial
Networks for Diverse and Limited Data").
"""

import numpy as np

from minigan import functional as F
from minigan.errors import MiniganError
from minigan.nn import init
from minigan.nn.module import Module, Parameter, check_input, replace_modules
from minigan.nn.normalization import BatchNorm
from minigan.tensor import Tensor, raw


class MinibatchDiscrimination(Module):
    """Features that tell the discriminator how close each example is to the rest of its batch.

    Notation: A in_features, B num_kernels, C kernel_dim, n the batch size. With the
    learned tensor T (A, B*C) and the input features f (n, A):

        M_i = f_i T, viewed as (B, C)
        c_b(i, j) = exp(-|| M_i,b - M_j,b ||_1)                  (L1 over the C axis)
        o(i)_b = sum_{j != i} c_b(i, j) = sum_j c_b(i, j) - 1      (the j = i term is e^0 = 1)
        output_i = [f_i, o(i)]

    A generator that collapses onto one mode makes o large for every fake, which the
    discriminator can see. The pairwise tensor is (n, n, B, C): memory grows with n^2.

    Args:
        in_features (int): A.
        num_kernels (int): B, the number of closeness features appended.
        kernel_dim (int): C, the length of each kernel's projection.
        rng: numpy Generator for T's initial N(0, 0.05^2) values (default: ``init.default_generator()``).
    Shape:
        (n, A) -> (n, A + B).
    """

    def __init__(self, in_features, num_kernels=100, kernel_dim=5, rng=None):
        super().__init__()
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.T = Parameter(np.zeros((in_features, num_kernels * kernel_dim), np.float32))
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        init.normal_(self.T, 0.0, 0.05, rng)

    def forward(self, f):
        check_input(self, f, 2, self.in_features)
        n, b, c = f.shape[0], self.num_kernels, self.kernel_dim
        M = F.reshape(F.matmul(f, self.T), (n, 1, b, c))
        l1 = F.sum(F.abs(F.sub(M, F.reshape(M, (1, n, b, c)))), axis=3)  # (n, n, B)
        o = F.sum(F.exp(-l1), axis=1) - 1.0
        return F.concat([f, o], axis=1)

    def extra_repr(self):
        return f"{self.in_features}, num_kernels={self.num_kernels}, kernel_dim={self.kernel_dim}"


class VirtualBatchNorm(Module):
    """Batch norm whose statistics come from a fixed reference batch R plus the example itself.

    Reference pass (``recording = True``): R is normalised with its own per-channel
    mean mu_R and mean of squares sq_R (over the batch and spatial axes; biased
    variance), which are kept in ``self.reference`` as Tensors of the graph, so the
    gradient flows through them as in the paper's code. Normal pass: each example x,
    with N = |R|, is normalised on its own:

        mu = 1/(N+1) * mean_x   + N/(N+1) * mu_R      (mean_x: x's per-channel mean over
        sq = 1/(N+1) * meansq_x + N/(N+1) * sq_R       its spatial positions; x for (n, C))
        y  = gamma * (x - mu) / sqrt(sq - mu^2 + eps) + beta

    so an example's output does not depend on the rest of its batch. There are no
    running statistics: train and eval mode behave the same. ``ReferenceBatch`` runs
    the reference pass for a whole network.

    Args:
        num_features (int): channels C.
        eps (float): added to the variance.
    Shape:
        (n, C) or (n, C, H, W) -> same.
    """

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.weight = Parameter(np.ones(num_features, np.float32))
        self.bias = Parameter(np.zeros(num_features, np.float32))
        self.recording = False
        self.reference = None  # (mu_R, sq_R), set by a reference pass
        self.reference_size = 0

    def reset_parameters(self, rng=None):
        init.constant_(self.weight, 1.0)
        init.constant_(self.bias, 0.0)

    def forward(self, x):
        check_input(self, x, x.ndim if x.ndim in (2, 4) else 2, self.num_features)
        spatial = tuple(range(2, x.ndim))
        if self.recording:
            axes = (0,) + spatial
            mu, sq = F.mean(x, axes, keepdims=True), F.mean(x * x, axes, keepdims=True)
            self.reference, self.reference_size = (mu, sq), x.shape[0]
            return self._normalise(x, mu, sq)
        if self.reference is None:
            raise MiniganError(f"{self!r} has no reference statistics: run a reference pass first "
                               "(wrap the network in ReferenceBatch(body, *reference_inputs)).")
        mu_r, sq_r = self.reference
        mean_x = F.mean(x, spatial, keepdims=True) if spatial else x
        meansq_x = F.mean(x * x, spatial, keepdims=True) if spatial else x * x
        new = 1.0 / (self.reference_size + 1)
        mu = mean_x * new + mu_r * (1.0 - new)
        sq = meansq_x * new + sq_r * (1.0 - new)
        return self._normalise(x, mu, sq)

    def _normalise(self, x, mu, sq):
        channel = (1, self.num_features) + (1,) * (x.ndim - 2)
        gamma, beta = F.reshape(self.weight, channel), F.reshape(self.bias, channel)
        return gamma * (x - mu) / F.sqrt(sq - mu * mu + self.eps) + beta

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}"


class ReferenceBatch(Module):
    """A network with VirtualBatchNorm layers, run on its fixed reference batch before every call.

    The reference batch is chosen once at the start of training and kept fixed (as in
    the paper). The reference inputs are buffers ``reference_0``, ``reference_1``, ...,
    so ``state_dict``, ``to_gpu`` and ``double`` carry them. Each call costs one extra
    forward (and backward) of N examples.

    Args:
        body (Module): the network; ``replace_batch_norm(body)`` converts a batch-norm one.
        *reference_inputs: raw arrays, one per argument of ``body`` (e.g. a fixed noise
            batch z_ref (N, nz), and a one-hot label batch for a conditional generator).
    """

    def __init__(self, body, *reference_inputs):
        super().__init__()
        if not reference_inputs:
            raise MiniganError("ReferenceBatch needs at least one reference input (e.g. a fixed noise batch).")
        self.body = body
        self.num_references = len(reference_inputs)
        for i, r in enumerate(reference_inputs):
            self.register_buffer(f"reference_{i}", raw(r))

    def references(self):
        """The reference inputs as Tensors (constants of the graph)."""
        return [Tensor(getattr(self, f"reference_{i}")) for i in range(self.num_references)]

    def forward(self, *inputs):
        layers = [m for m in self.body.modules() if isinstance(m, VirtualBatchNorm)]
        if not layers:
            raise MiniganError(f"ReferenceBatch wraps {type(self.body).__name__}, which has no VirtualBatchNorm "
                               "layer; call replace_batch_norm(body) first.")
        for m in layers:
            m.recording = True
        try:
            self.body(*self.references())
        finally:
            for m in layers:
                m.recording = False
        try:
            return self.body(*inputs)
        finally:
            for m in layers:
                m.reference = None  # the output's graph keeps what backward needs

    def extra_repr(self):
        shapes = ", ".join(str(tuple(r.shape)) for r in self.references())
        return f"references={shapes}"


def replace_batch_norm(module):
    """Swap every BatchNorm1d/BatchNorm2d inside ``module`` for a VirtualBatchNorm, in place.

    Each new layer keeps the attribute name and position (Sequential order), num_features
    and eps, and takes over the old layer's weight and bias Parameters (their values,
    device and dtype, and any optimizer already holding them). Running statistics are dropped.

    Returns:
        int: the number of layers replaced.
    """
    def virtual(bn):
        vbn = VirtualBatchNorm(bn.num_features, bn.eps)
        vbn.weight, vbn.bias = bn.weight, bn.bias
        return vbn

    return replace_modules(module, lambda m: isinstance(m, BatchNorm), virtual)


class MixtureLatent(Module):
    """DeLiGAN's latent space: a learned mixture of K Gaussians, sampled by reparameterisation.

    The input v = [eps, w] (n, nz + K) holds eps ~ N(0, I) (n, nz) and w, a one-hot (n, K)
    choice of component drawn uniformly. With the learned means mu (K, nz) and scales
    sigma (K, nz):

        z = w mu + (w sigma) * eps

    For a one-hot w this is exactly mu_k + sigma_k * eps (DeLiGAN's sampling); for a
    convex combination w (latent interpolation) it blends the components smoothly.

    Args:
        num_components (int): K >= 1.
        nz (int): the size of z.
        init_sigma (float): the initial value of every scale.
        rng: numpy Generator for mu's initial U(-1, 1) values (default: ``init.default_generator()``).
    Shape:
        (n, nz + K) -> (n, nz). ``latent_dim`` is nz + K.
    """

    def __init__(self, num_components, nz, init_sigma=0.2, rng=None):
        super().__init__()
        if num_components < 1:
            raise MiniganError(f"MixtureLatent needs at least one component, got num_components={num_components}.")
        self.num_components, self.nz, self.init_sigma = num_components, nz, init_sigma
        self.latent_dim = nz + num_components
        self.mu = Parameter(np.zeros((num_components, nz), np.float32))
        self.sigma = Parameter(np.zeros((num_components, nz), np.float32))
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        init.uniform_(self.mu, -1.0, 1.0, rng)
        init.constant_(self.sigma, self.init_sigma)

    def forward(self, v):
        check_input(self, v, 2, self.latent_dim)
        eps, w = v[:, : self.nz], v[:, self.nz:]
        return F.matmul(w, self.mu) + F.matmul(w, self.sigma) * eps

    def sigma_penalty(self):
        """DeLiGAN's regulariser mean_{k,d} (1 - sigma_kd)^2 (as its MNIST code, which weighs it by
        1/3 in G's loss): it stops the scales collapsing to 0, which would leave G K points."""
        return F.mean((1.0 - self.sigma) ** 2)

    def extra_repr(self):
        return f"{self.num_components}, nz={self.nz}, init_sigma={self.init_sigma}"
