"""The GAN objectives, as small functions on D's logits.

Notation: D(x) = sigmoid(l) is D's probability that x is real, l its logit; ``real`` are the
logits D gives a batch of data, ``fake`` those it gives G(z). Every loss is a mean over the
batch, written with BCE-with-logits so that no log(sigmoid(l)) is ever taken of a rounded 0:

    BCE(l, 1) = -log D = softplus(-l)        BCE(l, 0) = -log(1 - D) = softplus(l)

The least-squares and hinge losses read the raw logit l itself as D's output (no sigmoid);
the relativistic ones (RSGAN, RaSGAN) compare real and fake logits, so their G loss needs D's
logits on data too (``g_needs_real``); the T-GAN's discriminator judges pairs (``pairwise``).

A loss is a pair (d_loss, g_loss) registered under a name; the trainer looks it up with
``get_loss(config.loss)``, and ``--loss`` offers every registered name. To add one, write its
two functions below and call ``register``.
"""

from collections.abc import Callable
from dataclasses import dataclass

from minigan import functional as F
from minigan.errors import MiniganError


def bce_d_loss(real, fake, real_target=1.0):
    """D's loss of the 2014 paper: maximise log D(x) + log(1 - D(G(z))), i.e. minimise

        L_D = -mean(log D(x)) - mean(log(1 - D(G(z)))) = BCE(real, 1) + BCE(fake, 0).

    One-sided label smoothing (Salimans et al. 2016, ``--label-smoothing A``) lowers the real
    target only, L_D = BCE(real, 1 - A) + BCE(fake, 0); the fakes' target stays 0.

    Args:
        real (Tensor): D's logits on data, (n, 1).
        fake (Tensor): D's logits on G(z), (n, 1).
        real_target (float): D's target on data (1, or 1 - A when smoothed).
    Returns:
        scalar Tensor.
    """
    return F.binary_cross_entropy_with_logits(real, real_target) + F.binary_cross_entropy_with_logits(fake, 0.0)


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


def least_squares_d_loss(real, fake):
    """D's loss of the least-squares GAN (Mao et al. 2017), with targets a = 0 (fake), b = 1 (real):

        L_D = 1/2 mean((D(x) - 1)^2) + 1/2 mean(D(G(z))^2),

    where D(.) here is the raw logit l (no sigmoid): D regresses its output onto the labels.

    Args:
        real (Tensor): D's logits on data, (n, 1).
        fake (Tensor): D's logits on G(z), (n, 1).
    Returns:
        scalar Tensor.
    """
    return 0.5 * F.mse_loss(real, 1.0) + 0.5 * F.mse_loss(fake, 0.0)


def least_squares_g_loss(fake, real=None):
    """G's loss of the least-squares GAN (c = 1: G wants D to output the real label),

        L_G = 1/2 mean((D(G(z)) - 1)^2).

    Args:
        fake (Tensor): D's logits on G(z), (n, 1).
        real: unused.
    Returns:
        scalar Tensor.
    """
    return 0.5 * F.mse_loss(fake, 1.0)


def hinge_d_loss(real, fake):
    """D's hinge loss (Lim & Ye 2017; Miyato et al. 2018), on the raw logits:

        L_D = mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))).

    Args:
        real (Tensor): D's logits on data, (n, 1).
        fake (Tensor): D's logits on G(z), (n, 1).
    Returns:
        scalar Tensor.
    """
    return F.mean(F.relu(1.0 - real)) + F.mean(F.relu(1.0 + fake))


def hinge_g_loss(fake, real=None):
    """G's loss paired with the hinge D loss: raise D's logits on the fakes,

        L_G = -mean(D(G(z))).

    Args:
        fake (Tensor): D's logits on G(z), (n, 1).
        real: unused.
    Returns:
        scalar Tensor (unbounded below).
    """
    return -F.mean(fake)


def relativistic_d_loss(real, fake):
    """D's loss of the relativistic standard GAN (RSGAN, Jolicoeur-Martineau 2018): D estimates
    the probability that a real sample is more realistic than a paired fake one,

        L_D = -mean(log sigmoid(D(x) - D(G(z)))) = BCE(real - fake, 1).

    Args:
        real (Tensor): D's logits on data, (n, 1).
        fake (Tensor): D's logits on G(z), (n, 1), paired row by row with ``real``.
    Returns:
        scalar Tensor.
    """
    return F.binary_cross_entropy_with_logits(real - fake, 1.0)


def relativistic_g_loss(fake, real):
    """G's loss of RSGAN: the same comparison with the roles swapped,

        L_G = -mean(log sigmoid(D(G(z)) - D(x))) = BCE(fake - real, 1).

    Args:
        fake (Tensor): D's logits on G(z), (n, 1).
        real (Tensor): D's logits on data, (n, 1) (a constant in the G step).
    Returns:
        scalar Tensor.
    """
    return F.binary_cross_entropy_with_logits(fake - real, 1.0)


def relativistic_average_d_loss(real, fake):
    """D's loss of the relativistic average GAN (RaSGAN, Jolicoeur-Martineau 2018): each sample
    is compared with the mean logit of the other kind,

        L_D = BCE(D(x) - mean D(G(z)), 1) + BCE(D(G(z)) - mean D(x), 0).

    Args:
        real (Tensor): D's logits on data, (n, 1).
        fake (Tensor): D's logits on G(z), (m, 1).
    Returns:
        scalar Tensor.
    """
    return (F.binary_cross_entropy_with_logits(real - F.mean(fake), 1.0)
            + F.binary_cross_entropy_with_logits(fake - F.mean(real), 0.0))


def relativistic_average_g_loss(fake, real):
    """G's loss of RaSGAN, the D loss with the labels swapped (so G also pushes real logits down):

        L_G = BCE(D(G(z)) - mean D(x), 1) + BCE(D(x) - mean D(G(z)), 0).

    Args:
        fake (Tensor): D's logits on G(z), (m, 1).
        real (Tensor): D's logits on data, (n, 1) (a constant in the G step).
    Returns:
        scalar Tensor.
    """
    return (F.binary_cross_entropy_with_logits(fake - F.mean(real), 1.0)
            + F.binary_cross_entropy_with_logits(real - F.mean(fake), 0.0))


def turing_g_loss(fake, real):
    """G's loss of the T-GAN (Su 2018, "Training GANs via Turing Test"), whose discriminator is
    pairwise: T(x_r, x_f) = head(E(x_r) - E(x_f)), E D's encoder. D's loss is ``bce_d_loss`` on
    real = T(x_r, x_f) and fake = T(x_f, x_r) -- "of this pair, which is the real one?":

        L_D = -mean(log sigmoid(T(x_r, x_f))) - mean(log(1 - sigmoid(T(x_f, x_r))))

    and G plays the same test with the labels swapped, so real images shape its gradient too:

        L_G = -mean(log sigmoid(T(x_f, x_r))) - mean(log(1 - sigmoid(T(x_r, x_f))))
            = BCE(fake, 1) + BCE(real, 0).

    (With a linear head, T(x_r, x_f) = D(x_r) - D(x_f): RSGAN is the special case.) The trainer
    builds the pairs (``Trainer.pairwise_logits``); these functions only see their logits.

    Args:
        fake (Tensor): T(x_f, x_r), (n, 1).
        real (Tensor): T(x_r, x_f), (n, 1).
    Returns:
        scalar Tensor.
    """
    return F.binary_cross_entropy_with_logits(fake, 1.0) + F.binary_cross_entropy_with_logits(real, 0.0)


def wasserstein_d_loss(real, fake):
    """The WGAN critic's loss (Arjovsky et al. 2017): maximise E[D(x)] - E[D(G(z))], i.e. minimise

        L_D = mean(D(G(z))) - mean(D(x)).

    D's output is a score, not a logit; the estimate of the Wasserstein-1 distance it gives
    means something only while D is kept Lipschitz (``--clip`` or ``--gp wgan-gp``).

    Args:
        real (Tensor): D's scores on data, (n, 1).
        fake (Tensor): D's scores on G(z), (n, 1).
    Returns:
        scalar Tensor (minus the distance estimate).
    """
    return fake.mean() - real.mean()


def wasserstein_g_loss(fake, real=None):
    """G's Wasserstein loss: maximise E[D(G(z))], L_G = -mean(D(G(z))).

    Args:
        fake (Tensor): D's scores on G(z), (n, 1).
        real: unused.
    Returns:
        scalar Tensor.
    """
    return -fake.mean()


@dataclass(frozen=True)
class GANLoss:
    """A named pair of objectives.

    Attributes:
        name (str): the ``--loss`` value.
        d_loss (callable): (real, fake) logits -> scalar Tensor, minimised by D.
        g_loss (callable): (fake, real) logits -> scalar Tensor, minimised by G.
        g_needs_real (bool): G's loss reads D's logits on data (relativistic losses); the
            trainer then evaluates D(x) in the G step too, without a gradient.
        pairwise (bool): the logits are T(x_r, x_f) and T(x_f, x_r) of a pairwise discriminator
            on D's encoded features (T-GAN), not D(x) and D(G(z)); needs a D with an encoder.
        scores (bool): D's outputs are a critic's unbounded scores (WGAN), not logits of a
            probability: logged as they are, and D's loss may go below 0.
    """

    name: str
    d_loss: Callable
    g_loss: Callable
    g_needs_real: bool = False
    pairwise: bool = False
    scores: bool = False


LOSSES = {}


def register(name, d_loss, g_loss, g_needs_real=False, pairwise=False, scores=False):
    """Make a loss available by name (to the trainer and to ``--loss``)."""
    LOSSES[name] = GANLoss(name, d_loss, g_loss, g_needs_real, pairwise, scores)
    return LOSSES[name]


def get_loss(name):
    """The GANLoss registered as ``name``; a MiniganError lists the others."""
    if name not in LOSSES:
        raise MiniganError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}.")
    return LOSSES[name]


register("non-saturating", bce_d_loss, non_saturating_g_loss)
register("minimax", bce_d_loss, minimax_g_loss)
register("least-squares", least_squares_d_loss, least_squares_g_loss)
register("hinge", hinge_d_loss, hinge_g_loss)
register("relativistic", relativistic_d_loss, relativistic_g_loss, g_needs_real=True)
register("relativistic-average", relativistic_average_d_loss, relativistic_average_g_loss, g_needs_real=True)
register("turing", bce_d_loss, turing_g_loss, g_needs_real=True, pairwise=True)
register("wasserstein", wasserstein_d_loss, wasserstein_g_loss, scores=True)
