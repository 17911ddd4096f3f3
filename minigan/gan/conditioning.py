"""How a class label y enters a conditional GAN's D: ``--cond concat | acgan | projection``.

Notation: y a class label, ŷ its one-hot vector (K classes), phi(x) D's features of an image
(the output of its encoder, flattened to F numbers), psi a linear map F -> 1, sigma the sigmoid.
G is the same for all three: it always reads (z, ŷ).

    concat      (Mirza & Osindero 2014)  D(x, ŷ) = psi(phi(x, ŷ)): the label is one more input of D
                (a layer of its own in the MLP, K constant planes in the conv net; gan/cgan.py).
    acgan       (Odena et al. 2017)      D(x) = psi(phi(x)) and a classifier Q(y | x) = softmax(W phi(x)):
                D does not see y, it names it. Both players add the class cross-entropy
                L_C = -log Q(y | x):  D on the real images and the fakes (their asked labels),
                G on its fakes -- so G is paid for images whose class is plain to see.
    projection  (Miyato & Koyama 2018)   D(x, y) = psi(phi(x)) + ŷ^T V phi(x), V a (K, F) matrix:
                the label picks a row v_y = V^T ŷ, and the logit gains <v_y, phi(x)>. It is the form
                the log density ratio log p(x | y) / q(x | y) takes when the class posteriors are
                log-linear in phi, so D spends no capacity learning how to mix y in.

``ClassConditioning`` is the Trainer part that makes the three work in the base D and G steps: it
passes ŷ to D only where D takes it, splits an AC-GAN D's output into its logit and its class
logits, and adds L_C to the player's loss as the term ``class_D`` or ``class_G`` (so it is logged).
"""

import numpy as np

from minigan import backend, nn
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import losses, networks
from minigan.tensor import Tensor

CONDS = ("concat", "acgan", "projection")


def one_hot(labels, num_classes, dtype=np.float32):
    """Raw (n, K) array, row i the indicator of labels[i], on the labels' device."""
    xp = backend.get_array_module(labels)
    return xp.eye(num_classes, dtype=dtype)[labels]


def check(config, model):
    """Raise MiniganError when ``config.cond`` cannot work with ``model`` (a Trainer class) or the
    techniques of ``config``; before any data is loaded. StackGAN's own options (--kl-weight, --stage,
    --stage1) are refused on any other model here too."""
    if config.kl_weight is not None and model.name != "stackgan":
        raise MiniganError(f"--kl-weight weighs StackGAN's conditioning augmentation; drop it for --model {model.name}.")
    if config.kl_weight is not None and config.kl_weight < 0:
        raise MiniganError(f"--kl-weight must be 0 (off) or more, not {config.kl_weight}.")
    if model.name != "stackgan" and (config.stage != "both" or config.stage1 is not None):
        option = "--stage1" if config.stage1 is not None else "--stage"
        raise MiniganError(f"{option} picks the stages of --model stackgan; drop it for --model {model.name}.")
    if config.cond is None:
        return
    if config.cond not in CONDS:
        raise MiniganError(f"unknown --cond {config.cond!r}; choose one of {', '.join(CONDS)}.")
    if not model.conditional:
        raise MiniganError(f"--cond sets how a class label enters D, and --model {model.name} has no labels; "
                           "use it with --model cgan or stackgan.")
    if config.cond == "concat":
        return
    needs_head = [name for name, on in (("--feature-matching", config.feature_matching),
                                        ("--minibatch-discrimination", config.minibatch_discrimination),
                                        (f"--loss {config.loss}", losses.get_loss(config.loss).pairwise),
                                        ("--unroll", config.unroll)) if on]
    if needs_head:
        raise MiniganError(f"{needs_head[0]} reaches into D's head, which --cond {config.cond} gives the class; "
                           "use --cond concat with it.")


class ProjectionDiscriminator(networks.Discriminator):
    """D(x, ŷ) = psi(phi(x)) + ŷ^T V phi(x) (Miyato & Koyama 2018).

    Args:
        encoder (Module): x -> phi(x) of shape (n, *feature_shape); it never sees the label.
        feature_shape (tuple): phi's shape without the batch axis.
        num_classes (int): K.
        rng (numpy Generator): init of psi and V.
    """

    def __init__(self, encoder, feature_shape, num_classes, rng=None):
        n_features = int(np.prod(feature_shape))
        super().__init__(encoder, nn.Sequential(nn.Flatten(), nn.Linear(n_features, 1, rng=rng)), feature_shape)
        self.embed = nn.Linear(num_classes, n_features, bias=False, rng=rng)  # V^T: one-hot ŷ -> v_y

    def features(self, x, y=None):
        return self.encoder(x)

    def forward(self, x, y):
        phi = self.encoder(x)
        v = self.embed(y)  # (n, F): the row of V that y picks
        # d logit / d phi = w_psi + v_y; d logit / d v_y = phi
        return self.head(phi) + (F.flatten(phi) * v).sum(axis=1, keepdims=True)


def unconditional_encoder(arch, image_shape, norm, rng=None):
    """(encoder x -> phi(x), phi's shape) of an AC-GAN or projection D: cgan's own D without its label
    input -- the MLP x -> 512 -> 256 with dropout, or the DCGAN encoder."""
    from minigan.gan.gan import mlp_encoder_layers

    c, size, _ = image_shape
    if arch == "mlp":
        return nn.Sequential(nn.Flatten(), *mlp_encoder_layers(int(np.prod(image_shape)), (512, 256), rng=rng)), (256,)
    parts = networks.dcgan_discriminator_parts(size, c, norm=norm)
    return parts.encoder, parts.feature_shape


def build_discriminator(kind, encoder, feature_shape, num_classes, rng=None):
    """The D of an AC-GAN (head: 1 + K logits) or a projection discriminator, on ``encoder``."""
    n_features = int(np.prod(feature_shape))
    if kind == "acgan":
        head = nn.Sequential(nn.Flatten(), nn.Linear(n_features, 1 + num_classes, rng=rng))
        return networks.Discriminator(encoder, head, feature_shape)
    if kind == "projection":
        return ProjectionDiscriminator(encoder, feature_shape, num_classes, rng=rng)
    raise ValueError(f"no label-free D for --cond {kind}")


def class_loss(class_logits, labels):
    """L_C = mean over the batch of -log Q(y | x), the softmax cross-entropy of D's class logits."""
    return F.cross_entropy(class_logits, labels)


class ClassConditioning:
    """The Trainer part of a class-conditional model: y as G and D take it under ``--cond``.

    It reads the Trainer's ``config``, ``num_classes``, ``networks`` and ``loss``; ``d_network(x)``
    names the D that judges x (one D: "D"). Put it before Trainer in the bases.
    """

    conditional = True

    @property
    def cond_kind(self):
        return self.config.cond or "concat"

    def d_network(self, x):
        return "D"

    def cond_args(self, cond):
        """G's extra input: the one-hot labels."""
        return (Tensor(one_hot(cond, self.num_classes)),)

    def d_cond_args(self, cond):
        """D's extra inputs: the one-hot labels, except for an AC-GAN's D, which does not see them."""
        return () if self.cond_kind == "acgan" or cond is None else self.cond_args(cond)

    def judge(self, x, cond, d=None):
        """(adversarial logits (n, 1), class logits (n, K) or None) of D on x."""
        out = self.networks[d or self.d_network(x)](self.packed(x), *self.d_cond_args(cond))
        if self.cond_kind != "acgan":
            return out, None
        return out[:, :1], out[:, 1:]

    def discriminate(self, x, cond=None):
        return self.judge(x, cond)[0]

    def features(self, x, cond=None, d="D"):
        return self.networks[d].features(self.packed(x), *self.d_cond_args(cond))

    def d_logits(self, real_in, cond, fake_in, fake_cond, d="D"):
        """As Verdicts.d_logits; an AC-GAN's D also names the class of both: L_C(real) + L_C(fake)."""
        if self.cond_kind != "acgan":
            return super().d_logits(real_in, cond, fake_in, fake_cond, d)
        real, real_classes = self.judge(real_in, cond, d)
        fake, fake_classes = self.judge(fake_in, fake_cond, d)
        self._class_term = {"class_D": class_loss(real_classes, cond) + class_loss(fake_classes, fake_cond)}
        return real, fake

    def g_logits(self, fake_in, fake_cond, real, cond, d="D"):
        """As Verdicts.g_logits; an AC-GAN's G is also paid L_C(fake) for the class D names."""
        if self.cond_kind != "acgan":
            return super().g_logits(fake_in, fake_cond, real, cond, d)
        fake, fake_classes = self.judge(fake_in, fake_cond, d)
        self._class_term = {"class_G": class_loss(fake_classes, fake_cond)}
        real_logits = None
        if self.loss.g_needs_real:
            with no_grad():
                real_logits = self.judge(self.with_instance_noise(real), cond, d)[0]
        return fake, real_logits, None, None

    def penalties(self, net):
        """The Trainer's terms, plus the class cross-entropy the last verdict computed (AC-GAN)."""
        terms = super().penalties(net)
        terms.update(self.__dict__.pop("_class_term", {}))
        return terms
