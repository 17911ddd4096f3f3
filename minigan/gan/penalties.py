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
after each critic step every weight is clamped to [-C, C]. Spectral normalisation (Miyato et al.
2018, ``--spectral-norm``) divides each of D's weights by its largest singular value instead.
"""

import numpy as np

from minigan import backend, nn
from minigan.errors import MiniganError
from minigan.backward import grad
from minigan.function import enable_grad, no_grad
from minigan.gan import losses, networks
from minigan.tensor import Tensor

PENALTIES = ("wgan-gp", "dragan", "r1", "r2")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
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


def spectral_normalize(D, rng):
    """Wrap every convolution and linear layer of D in ``nn.utils.spectral_norm``, in place.

    Returns:
        int: the number of layers wrapped (u, v drawn from ``rng``).
    """
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    return nn.replace_modules(D, lambda m: isinstance(m, kinds), lambda m: nn.utils.spectral_norm(m, rng=rng))


def optimizer_name(config):
    """adam, rmsprop or sgd: --optimizer when given, else RMSprop for a clipped critic (the WGAN paper's)."""
    return config.optimizer or ("rmsprop" if config.clip else "adam")


def check(config, model):
    """Raise MiniganError when the Wasserstein options cannot work together or with ``model``."""
    wasserstein, loss = config.loss == "wasserstein", losses.get_loss(config.loss)
    if config.clip < 0:
        raise MiniganError(f"--clip must be 0 (off) or more, not {config.clip}.")
    if config.clip and not wasserstein:
        raise MiniganError(f"--clip bounds a Wasserstein critic; use it with --loss wasserstein, not --loss {config.loss}.")
    if config.optimizer is not None and config.optimizer not in OPTIMIZERS:
        raise MiniganError(f"unknown --optimizer {config.optimizer!r}; choose adam, rmsprop or sgd.")
    if config.gp is not None and config.gp not in PENALTIES:
        raise MiniganError(f"unknown --gp {config.gp!r}; choose one of {', '.join(PENALTIES)}.")
    if config.gp_weight <= 0:
        raise MiniganError(f"--gp-weight must be positive, not {config.gp_weight}.")
    if config.d_norm is not None and config.d_norm not in networks.D_NORMS:
        raise MiniganError(f"unknown --d-norm {config.d_norm!r}; choose one of {', '.join(networks.D_NORMS)}.")
    norm = model.critic_norm(config)
    if config.d_norm is not None and norm is None:
        raise MiniganError(f"--d-norm chooses the norm in DCGAN's discriminator (--model dcgan, or cgan --arch "
                           f"conv), not in --model {model.name}{' --arch mlp' if model.name == 'cgan' else ''}'s.")
    constrained = [name for name, on in (("--loss wasserstein", wasserstein), (f"--gp {config.gp}", config.gp),
                                         ("--spectral-norm", config.spectral_norm)) if on]
    if constrained and not model.single_pair:
        raise MiniganError(f"{constrained[0]} works with one generator and one discriminator, and --model "
                           f"{model.name} has a pair per pyramid level; use --model gan, dcgan or cgan.")
    if config.gp and loss.pairwise:
        raise MiniganError(f"--gp {config.gp} penalises D's gradient per image, but --loss {config.loss}'s D "
                           "judges pairs of images; use another --loss.")
    if config.gp == "wgan-gp" and not wasserstein:
        raise MiniganError(f"--gp wgan-gp keeps a Wasserstein critic 1-Lipschitz; use it with --loss wasserstein "
                           f"(for --loss {config.loss}, --gp dragan or r1 fit).")
    if config.gp == "wgan-gp" and config.clip:
        raise MiniganError("--gp wgan-gp replaces weight clipping; drop --clip.")
    if config.gp == "wgan-gp" and norm == "batch":
        raise MiniganError("--gp wgan-gp penalises each image's gradient, and batch norm in D mixes the images "
                           "of a batch; add --d-norm layer (the paper's), instance or none.")
