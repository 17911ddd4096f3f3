"""What D sees and says: its inputs (instance noise) and its verdicts in the D and G steps.

``Verdicts`` is a part of every Trainer (gan/base.py), as ``Sampler`` is for G's side: the logits
D gives real and fake images (or, for a pairwise loss, T(x_r, x_f) and T(x_f, x_r) from D's
encoded features), what the log reports of them, and --gp's penalty on D's input gradient.
It reads the Trainer's ``config``, ``networks``, ``rngs``, ``loss`` and ``cond_args``.
"""

import numpy as np

from minigan import backend, distributed
from minigan.function import no_grad
from minigan.gan import penalties
from minigan.tensor import Tensor


def _mean_sigmoid(logits):
    """mean(D) from logits, left on the device (converted only when logged).
    sigmoid(l) = (1 + tanh(l / 2)) / 2 cannot overflow; a (n, 1) array needs no kernel of its own."""
    xp = backend.get_array_module(logits)
    return ((xp.tanh(0.5 * logits) + 1) * 0.5).mean()


def _mean_score(logits):
    """A WGAN critic's mean score (no probability to take)."""
    return logits.mean()


class Verdicts:
    """D's side of a Trainer: instance noise on its inputs, its logits, features and penalties."""

    def instance_noise_sigma(self):
        """sigma = S * (1 - t), t the fraction of the run done: completed steps over
        epochs * steps_per_epoch (completed epochs over epochs when steps_per_epoch is unknown).
        S at the first step, 0 once the run is over."""
        s, epochs = self.config.instance_noise, self.config.epochs
        if not s:
            return 0.0
        t = self.epoch / epochs if not self.steps_per_epoch else self.step / (epochs * self.steps_per_epoch)
        return s * max(0.0, 1.0 - t)

    def with_instance_noise(self, x):
        """x + N(0, sigma^2) (drawn from ``draws('instance_noise')``, where x lives), or x itself when
        sigma is 0. Gradients flow through the sum to x (G's fakes in the G step)."""
        sigma = self.instance_noise_sigma()
        if sigma == 0:
            return x
        rows = distributed.ShardedGenerator(self.draws("instance_noise"), self.comm)  # the global batch's draw
        noise = rows.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma)
        return x + Tensor(self.to_device(noise))

    def packed(self, x):
        """PacGAN's packing (--pack M, Lin et al. 2018): samples i M .. i M + M - 1 of a batch (n, c, ...)
        become one input of M c channels (n / M, M c, ...), so D judges M samples at once; real
        samples are packed with real ones, fakes with fakes. M = 1: x itself."""
        m = self.config.pack
        return x if m == 1 else x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])

    @property
    def d_input_shape(self):
        """The shape of one input of D: the image (or point) shape, with M times the channels under --pack M."""
        c, *rest = self.image_shape
        return (c * self.config.pack, *rest)

    def discriminate(self, x, cond=None):
        """D(x) as logits (n, 1) (n / M with --pack M); ``cond`` as in ``generate``. A model with
        several D's picks the one that ``d_step``/``g_step`` are working on from x or cond (LAPGAN: x's size)."""
        return self.networks["D"](self.packed(x), *self.cond_args(cond))

    def features(self, x, cond=None, d="D"):
        """f(x): the output of D's encoder, the input of its head (networks.Discriminator)."""
        return self.networks[d].features(self.packed(x), *self.cond_args(cond))

    def pairwise_logits(self, f_real, f_fake, d="D"):
        """(T(x_r, x_f), T(x_f, x_r)) of the T-GAN from encoded features: T(a, b) = head(E(a) - E(b))."""
        head = self.networks[d].head
        return head(f_real - f_fake), head(f_fake - f_real)

    def mean_output(self, logits):
        """What D_x / D_G_z log: mean D = mean sigmoid(logit), or a critic's mean score (--loss wasserstein)."""
        return _mean_score(logits) if self.loss.scores else _mean_sigmoid(logits)

    def gradient_penalty(self, real, cond, fake, fake_cond):
        """--gp's term of D's loss (gan/penalties.py) on this step's images, drawing from rngs['penalty'].
        WGAN-GP's points between a real and a fake image are judged with the real one's condition."""
        cfg, rng = self.config, self.rngs["penalty"]
        if cfg.gp == "r2":
            return penalties.zero_centred(lambda x: self.discriminate(x, fake_cond), fake.data, cfg.gp_weight)
        critic = lambda x: self.discriminate(x, cond)  # noqa: E731
        if cfg.gp == "wgan-gp":
            return penalties.wgan_gp(critic, real.data, fake.data, rng, cfg.gp_weight)
        if cfg.gp == "dragan":
            return penalties.dragan(critic, real.data, rng, cfg.gp_weight)
        return penalties.zero_centred(critic, real.data, cfg.gp_weight)

    def d_logits(self, real_in, cond, fake_in, fake_cond, d="D"):
        """D's verdicts (real_logits, fake_logits) in the D step: D(x) and D(G(z)), or for a pairwise
        loss (T-GAN) T(x_r, x_f) and T(x_f, x_r) from D's encoded features."""
        if self.loss.pairwise:
            return self.pairwise_logits(self.features(real_in, cond, d), self.features(fake_in, fake_cond, d), d)
        return self.discriminate(real_in, cond), self.discriminate(fake_in, fake_cond)

    def g_logits(self, fake_in, fake_cond, real, cond, d="D"):
        """D's view in the G step: (fake_logits, real_logits, f_real, f_fake).

        G's gradient flows through fake_logits and f_fake; what D sees of data (real_logits, f_real)
        is computed without a graph, and only when needed: real_logits when the G loss compares
        with data (else None), the features f when the loss is pairwise or G matches features
        (else None)."""
        real_logits, f_real, f_fake = None, None, None
        if self.loss.pairwise or self.config.feature_matching:
            f_fake = self.features(fake_in, fake_cond, d)
            with no_grad():
                f_real = self.features(self.with_instance_noise(real), cond, d)
            if self.loss.pairwise:
                real_logits, fake_logits = self.pairwise_logits(f_real, f_fake, d)
            else:
                fake_logits = self.networks[d].head(f_fake)
                if self.loss.g_needs_real:
                    with no_grad():
                        real_logits = self.networks[d].head(f_real)
        else:
            fake_logits = self.discriminate(fake_in, fake_cond)
            if self.loss.g_needs_real:
                with no_grad():
                    real_logits = self.discriminate(self.with_instance_noise(real), cond)
        return fake_logits, real_logits, f_real, f_fake
