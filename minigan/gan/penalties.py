"""Gradient penalties on D's input gradient, and weight clipping: the Wasserstein family.

Notation: D the critic (logits, or Wasserstein scores, (n, 1)); x real images, G(z) fakes;
g(x) = dD(x)/dx, one gradient per image (D's outputs are independent per image when D has
no batch norm); ||g|| its L2 norm over all pixels of that image. Every penalty is built on
``minigan.grad(..., create_graph=True)`` (Note [second order] in function.py), so its gradient
reaches D's weights through a double backward.

    WGAN-GP (Gulrajani et al. 2017):  lambda E[(||g(x_hat)|| - 1)^2],  x_hat = e x + (1 - e) G(z), e ~ U(0, 1)
    DRAGAN  (Kodali et al. 2017):     lambda E[(||g(x_hat)|| - 1)^2],  x_hat = x + a * (c std(x) u), a, u ~ U(0, 1)
    R1, R2  (Mescheder et al. 2018):  gamma/2 E[||g(x)||^2] on reals (R1), on fakes (R2)

Weight clipping (Arjovsky et al. 2017, ``--clip C``) keeps the critic K-Lipschitz the crude way:
after each critic step every weight is clamped to [-C, C].
"""

import numpy as np

from minigan import backend
from minigan.function import enable_grad, grad, no_grad
from minigan.tensor import Tensor

PENALTIES = ("wgan-gp", "dragan", "r1", "r2")
DRAGAN_C = 0.5  # the perturbation's scale, in standard deviations of the batch (Kodali et al.'s code)


def input_gradient(critic, x):
    """g = d sum(critic(x)) / dx for a raw batch x, recorded so that it can be differentiated.

    Args:
        critic: callable, images (n, ...) Tensor -> scores (n, 1) Tensor.
        x: raw array (n, ...), taken as a new leaf.
    Returns:
        Tensor of x's shape.
    """
    leaf = Tensor(x, requires_grad=True)
    with enable_grad():  # D's graph is needed even where the caller records nothing (a check's probes)
        (g,) = grad(critic(leaf).sum(), leaf, create_graph=True)
    return g


def squared_norms(g):
    """||g_i||^2 per example: (n,) from (n, ...)."""
    return (g * g).reshape(g.shape[0], -1).sum(axis=1)


def unit_norm_penalty(critic, x_hat, weight):
    """lambda mean((||g(x_hat)|| - 1)^2), the two-sided penalty of WGAN-GP and DRAGAN.

    A tiny constant inside the square root keeps its gradient finite where g = 0."""
    norms = (squared_norms(input_gradient(critic, x_hat)) + 1e-12) ** 0.5
    return ((norms - 1.0) ** 2).mean() * weight


def wgan_gp(critic, real, fake, rng, weight=10.0):
    """WGAN-GP's penalty on random points between real and fake images (raw arrays)."""
    e = _uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real)
    return unit_norm_penalty(critic, e * real + (1 - e) * fake, weight)


def dragan(critic, real, rng, weight=10.0, c=DRAGAN_C):
    """DRAGAN's penalty on reals perturbed by up to c standard deviations of the batch."""
    noise = _uniform(rng, real.shape, real) * (c * float(real.std()))
    a = _uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real)
    return unit_norm_penalty(critic, real + a * noise, weight)


def zero_centred(critic, x, weight=10.0):
    """R1 (x real) or R2 (x fake): gamma/2 mean(||g(x)||^2)."""
    return squared_norms(input_gradient(critic, x)).mean() * (0.5 * weight)


def clip_weights(module, c):
    """Clamp every parameter of ``module`` to [-c, c] in place (the WGAN critic's Lipschitz bound)."""
    with no_grad():
        for p in module.parameters():
            xp = backend.get_array_module(p.data)
            xp.clip(p.data, -c, c, out=p.data)


def _uniform(rng, shape, like):
    """U(0, 1) draws from a host Generator, in ``like``'s dtype and on its device."""
    u = rng.random(shape, dtype=np.float64).astype(like.dtype)
    return backend.to_gpu(u) if backend.is_gpu_array(like) else u
