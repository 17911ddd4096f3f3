"""BEGAN (Berthelot, Schumm & Metz 2017, "Boundary Equilibrium GANs"): D is an autoencoder, and the
game is played over its reconstruction losses, balanced by a proportional controller.

Notation: L(v) = mean |v - D(v)| the L1 reconstruction loss of D (per pixel, over the batch),
x real images, G(z) fakes, gamma = --gamma, lambda_k = 0.001 (the paper's):

    L_D = L(x) - k_t L(G(z))            D reconstructs data and fails on fakes
    L_G = L(G(z))                       G makes what D reconstructs well
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1),   k_0 = 0
    M_global = L(x) + |gamma L(x) - L(G(z))|        the convergence measure (falls as samples improve)

k_t is the equilibrium term: while fakes reconstruct better than gamma times the data (D too weak
on fakes) it grows, and D pushes them up more; gamma = E L(G(z)) / E L(x) at equilibrium trades
diversity (high) for sharpness (low). The paper's networks use ELU convolutions; here D's encoder
is DCGAN's discriminator without batch norm (strided 4x4 convolutions, LeakyReLU) to an
embedding of ``HIDDEN`` numbers, and its decoder, like G, is DCGAN's generator from that
embedding. On 2-D points both are tanh MLPs (gan.tanh_mlp).

Logged per step: loss_D, loss_G, L_x = L(x), L_G_z = L(G(z)), k, M_global; M_global is plotted in
convergence.png beside loss.png. k_t is saved in checkpoints (a resumed run continues exactly).
"""

import math

import numpy as np

from minigan import backend, nn
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.gan import losses, networks
from minigan.gan.base import Trainer
from minigan.gan.dcgan import check_square
from minigan.gan.gan import POINT_HIDDEN, tanh_mlp
from minigan.tensor import Tensor

HIDDEN = 64  # D's embedding (the paper's N_h for 32 px)
POINT_HIDDEN_CODE = 8
LAMBDA_K = 0.001
# BEGAN's losses are reconstructions, not logits: logged as they are, and its D loss may go below 0
BEGAN_LOSS = losses.GANLoss("began", d_loss=None, g_loss=None, scores=True)


class AutoEncoder(nn.Module):
    """D of BEGAN: ``decoder(encoder(x))``, the reconstruction of x."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x):
        return self.decoder(self.encoder(x))


class Equilibrium:
    """k_t, BEGAN's equilibrium term, as a checkpointed state (see the module docstring)."""

    def __init__(self, gamma, lambda_k=LAMBDA_K):
        self.gamma, self.lambda_k, self.k = gamma, lambda_k, 0.0

    def update(self, l_real, l_fake):
        """k_t after one step with the (host float) losses L(x), L(G(z)); returns M_global."""
        balance = self.gamma * l_real - l_fake
        self.k = min(max(self.k + self.lambda_k * balance, 0.0), 1.0)
        return l_real + abs(balance)

    def state_dict(self):
        return {"k": np.array(self.k, dtype=np.float64)}

    def load_state_dict(self, state):
        self.k = float(state["k"])


class BEGANTrainer(Trainer):
    """BEGAN: an autoencoder D, L1 reconstruction losses, the k_t controller."""

    name = "began"
    has_encoder = False  # D reconstructs; no features-then-logit head for feature matching, T-GAN, ...
    unrollable = False  # G's loss is a reconstruction, not D's verdict after a step
    packable = False
    draws_points = True

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        if config.gamma <= 0 or config.gamma > 1:
            raise MiniganError(f"--gamma must be in (0, 1] (the paper: 0.3 to 0.7), not {config.gamma}.")
        changed = [name for name, on in (
            (f"--loss {config.loss}", config.loss != "non-saturating"),
            ("--label-smoothing", config.label_smoothing), ("--gp", config.gp), ("--clip", config.clip),
            ("--spectral-norm", config.spectral_norm), ("--d-norm", config.d_norm), ("--replay", config.replay),
            ("--instance-noise", config.instance_noise)) if on]
        if changed:
            raise MiniganError(f"--model began plays its own game over D's reconstruction losses; {changed[0]} "
                               "changes a logit-based D, so drop it.")
        if config.image_size is not None:
            networks.check_image_size(config.image_size)

    @classmethod
    def check_data(cls, image_shape, num_classes):
        if len(image_shape) == 3:
            check_square(image_shape, cls.name)

    def __init__(self, config, image_shape, num_classes=0):
        super().__init__(config, image_shape, num_classes)
        self.loss = BEGAN_LOSS
        self.states["equilibrium"] = self.equilibrium = Equilibrium(config.gamma)

    def build(self):
        rng = self.rngs["init"]
        if len(self.image_shape) == 1:  # 2-D points
            d = self.image_shape[0]
            G = nn.Sequential(*tanh_mlp(self.nz, d, rng=rng))
            encoder = nn.Sequential(*tanh_mlp(d, POINT_HIDDEN_CODE, rng=rng))
            decoder = nn.Sequential(*tanh_mlp(POINT_HIDDEN_CODE, d, hidden=POINT_HIDDEN, rng=rng))
            self.add_network("G", G, "G")
            self.add_network("D", AutoEncoder(encoder, decoder), "D")
            return
        c, size, _ = self.image_shape
        G = networks.dcgan_generator(self.nz, size, c)
        parts = networks.dcgan_discriminator_parts(size, c, norm="none")
        encoder = nn.Sequential(parts.encoder, nn.Flatten(), nn.Linear(math.prod(parts.feature_shape), HIDDEN, rng=rng))
        decoder = networks.dcgan_generator(HIDDEN, size, c)
        D = AutoEncoder(encoder, decoder)
        for net in (G, D):
            nn.init.dcgan_(net, rng)
        self.add_network("G", G, "G")
        self.add_network("D", D, "D")

    def reconstruction_loss(self, x):
        """L(x) = mean |x - D(x)|, a scalar Tensor."""
        return F.mean(F.abs(x - self.networks["D"](x)))

    def train_step(self, real, labels=None):
        """A D step on L_D = L(x) - k_t L(G(z)), then (every --d-steps) a G step on L(G(z)) and k_t's update."""
        n = real.shape[0]
        z = Tensor(self.to_device(self.draw_noise(n)))
        fake = self.generate(z)
        real = Tensor(real)
        l_real, l_fake_d = self.reconstruction_loss(real), self.reconstruction_loss(fake.detach())
        loss_d = l_real - l_fake_d * self.equilibrium.k
        out = {"loss_D": loss_d.data, "L_x": l_real.data, **self.minimize(loss_d, "D")}
        if (self.step + 1) % self.config.d_steps:
            return out
        D = self.networks["D"]
        D.requires_grad_(False)
        try:
            l_fake = self.reconstruction_loss(fake)
            out.update({"loss_G": l_fake.data, "L_G_z": l_fake.data, **self.minimize(l_fake, "G")})
        finally:
            D.requires_grad_(True)
        xp = backend.get_array_module(l_fake.data)
        m_global = self.equilibrium.update(float(l_real.data), float(l_fake.data))
        out.update({"k": xp.asarray(self.equilibrium.k), "M_global": xp.asarray(m_global)})
        return out

    def extra_curves(self):
        return {"convergence": {"M_global": self.history.get("M_global", [])}}
