"""The GAN objectives, as small functions on D's logits.

Notation: D(x) = sigmoid(l) is D's probability that x is real, l its logit; ``real`` are the
logits D gives a batch of data, ``fake`` those it gives G(z). Every loss is a mean over the
batch, written with BCE-with-logits so that no log(sigmoid(l)) is ever taken of a rounded 0:

    BCE(l, 1) = -log D = softplus(-l)        BCE(l, 0) = -log(1 - D) = softplus(l)

A loss is a pair (d_loss, g_loss) registered under a name; the trainer looks it up with
``get_loss(config.loss)``, and ``--loss`` offers every registered name. To add one (LSGAN,
hinge, relativistic, ...), write its two functions below and call ``register``.
"""

from collections.abc import Callable
from dataclasses import dataclass

from minigan import functional as F
from minigan.errors import MiniganError


def bce_d_loss(real, fake):
    """D's loss of the 2014 paper: maximise log D(x) + log(1 - D(G(z))), i.e. minimise

        L_D = -mean(log D(x)) - mean(log(1 - D(G(z)))) = BCE(real, 1) + BCE(fake, 0).

    Args:
        real (Tensor): D's logits on data, (n, 1).
        fake (Tensor): D's logits on G(z), (n, 1).
    Returns:
        scalar Tensor.
    """
    return F.binary_cross_entropy_with_logits(real, 1.0) + F.binary_cross_entropy_with_logits(fake, 0.0)


def non_saturating_g_loss(fake, real=None):
    """G's non-saturating loss (Goodfellow et al. 2014, section 3): maximise log D(G(z)),

        L_G = -mean(log D(G(z))) = BCE(fake, 1).

    Its gradient is strong exactly when D rejects the fakes, early in training.

    Args:
        fake (Tensor): D's logits on G(z), (n, 1).
        real: unused (present so every g_loss has the same signature).
    Returns:
        scalar Tensor.
    """
    return F.binary_cross_entropy_with_logits(fake, 1.0)


def minimax_g_loss(fake, real=None):
    """G's loss of the minimax game as written in 2014: minimise log(1 - D(G(z))),

        L_G = mean(log(1 - D(G(z)))) = -BCE(fake, 0) = -mean(softplus(fake)).

    It saturates (vanishing gradient) while D confidently rejects the fakes; kept to show why
    the non-saturating form is the default.

    Args:
        fake (Tensor): D's logits on G(z), (n, 1).
        real: unused.
    Returns:
        scalar Tensor (negative: it falls towards -inf as G fools D).
    """
    return -F.binary_cross_entropy_with_logits(fake, 0.0)


@dataclass(frozen=True)
class GANLoss:
    """A named pair of objectives.

    Attributes:
        name (str): the ``--loss`` value.
        d_loss (callable): (real, fake) logits -> scalar Tensor, minimised by D.
        g_loss (callable): (fake, real) logits -> scalar Tensor, minimised by G.
        g_needs_real (bool): G's loss reads D's logits on data (relativistic losses); the
            trainer then evaluates D(x) in the G step too, without a gradient.
    """

    name: str
    d_loss: Callable
    g_loss: Callable
    g_needs_real: bool = False


LOSSES = {}


def register(name, d_loss, g_loss, g_needs_real=False):
    """Make a loss available by name (to the trainer and to ``--loss``)."""
    LOSSES[name] = GANLoss(name, d_loss, g_loss, g_needs_real)
    return LOSSES[name]


def get_loss(name):
    """The GANLoss registered as ``name``; a MiniganError lists the others."""
    if name not in LOSSES:
        raise MiniganError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}.")
    return LOSSES[name]


register("non-saturating", bce_d_loss, non_saturating_g_loss)
register("minimax", bce_d_loss, minimax_g_loss)
