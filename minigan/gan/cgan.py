"""Conditional GAN (Mirza & Osindero 2014): G and D both see the class label y.

Notation: y is one-hot (n, K) for K classes. G models p(x | y), D tells real (x, y) pairs
from generated ones; the objectives are those of the GAN with y given to both players:

    min_G max_D  E[log D(x | y)] + E[log(1 - D(G(z | y) | y))]

Two architectures (``--arch``):
    mlp  (default, like the paper): z and y each pass a hidden layer of their own, then join --
         G: z -> 256, y -> 256, joined -> 512 -> 1024 -> image (the paper: z -> 200, y -> 1000)
         D: x -> 512, y -> 64, joined -> 256 -> 1 logit       (the paper: x -> 240, y -> 50)
         A label given its own layer is heard; one-hot y simply appended to 100 noise inputs
         was ignored by G on MNIST for several epochs (every row of the grid the same digit).
    conv (DCGAN networks): G(concat(z, y)), D(concat(x, planes(y))) where planes(y) is
         (n, K, h, w), plane k all ones for images of class k
``--cond acgan`` and ``--cond projection`` keep G and give D the label another way (an AC-GAN
classifier head, or a projection; gan/conditioning.py); D's encoder is then the one above without
its label input. Fakes get labels drawn uniformly; the sample grid shows one row per class, the
same noise in each column.
"""

import math

import numpy as np

from minigan import backend, nn
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.gan import conditioning, networks
from minigan.gan.base import Trainer
from minigan.gan.conditioning import ClassConditioning, one_hot  # noqa: F401 (cgan.one_hot, as before)
from minigan.gan.dcgan import check_square
from minigan.gan.gan import D_DROPOUT, mlp_encoder_layers, mlp_generator
from minigan.tensor import Tensor

ARCHS = ("mlp", "conv")
GRID_PER_CLASS = 10  # columns of the sample grid


class ConditionalGenerator(nn.Module):
    """G(concat(z, y)) for any body taking nz + K inputs (here a DCGAN generator)."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, z, y):
        return self.body(F.concat([z, y], axis=1))


class BranchGenerator(nn.Module):
    """G(z, y) = body(concat(LReLU(W_z z), LReLU(W_y y))): noise and label each get a layer first."""

    def __init__(self, nz, num_classes, image_shape, width=256, rng=None):
        super().__init__()
        self.z_in = nn.Sequential(nn.Linear(nz, width, rng=rng), nn.LeakyReLU(0.2))
        self.y_in = nn.Sequential(nn.Linear(num_classes, width, rng=rng), nn.LeakyReLU(0.2))
        self.body = mlp_generator(2 * width, image_shape, hidden=(512, 1024), rng=rng, batch_norm_from=0)

    def forward(self, z, y):
        return self.body(F.concat([self.z_in(z), self.y_in(y)], axis=1))


class BranchEncoder(nn.Module):
    """D's encoder (x, y) -> 256 features: concat(LReLU(W_x flatten(x)), LReLU(W_y y)), dropout on
    the joined features, then Linear -> LReLU -> Dropout. The head (one Linear) follows it."""

    def __init__(self, n_in, num_classes, x_width=512, y_width=64, width=256, rng=None):
        super().__init__()
        self.x_in = nn.Sequential(nn.Linear(n_in, x_width, rng=rng), nn.LeakyReLU(0.2))
        self.y_in = nn.Sequential(nn.Linear(num_classes, y_width, rng=rng), nn.LeakyReLU(0.2))
        self.body = nn.Sequential(nn.Dropout(D_DROPOUT), *mlp_encoder_layers(x_width + y_width, (width,), rng=rng))

    def forward(self, x, y):
        return self.body(F.concat([self.x_in(F.flatten(x)), self.y_in(y)], axis=1))


class LabelPlanesEncoder(nn.Module):
    """body(concat(x, planes(y))): the label joins the image as K constant planes (channels)."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x, y):
        n, _, h, w = x.shape
        xp = backend.get_array_module(y.data)
        planes = xp.broadcast_to(y.data[:, :, None, None], (n, y.shape[1], h, w))
        return self.body(F.concat([x, Tensor(planes)], axis=1))


class CGANTrainer(ClassConditioning, Trainer):
    """CGAN, MLP (default) or convolutional, D conditioned by --cond; needs a labelled dataset."""

    name = "cgan"

    @classmethod
    def check_config(cls, config):
        if config.arch not in (None,) + ARCHS:
            raise MiniganError(f"unknown --arch {config.arch!r} for cgan; choose mlp or conv.")
        if config.arch == "conv" and config.image_size is not None:
            networks.check_image_size(config.image_size)
        conditioning.check(config, cls)

    @classmethod
    def check_data(cls, image_shape, num_classes):
        if num_classes < 2:
            raise MiniganError("cgan needs a dataset with class labels and this one has none; "
                               "use --model gan or dcgan for unlabelled images.")

    @classmethod
    def critic_norm(cls, config):
        return (config.d_norm or "batch") if config.arch == "conv" else None

    @property
    def arch(self):
        return self.config.arch or "mlp"

    def build(self):
        rng, K, (c, size, _) = self.rngs["init"], self.num_classes, self.image_shape
        if self.arch == "conv":
            check_square(self.image_shape, "cgan --arch conv")
        if self.arch == "mlp":
            G = BranchGenerator(self.nz, K, self.image_shape, rng=rng)
        else:
            G = ConditionalGenerator(networks.dcgan_generator(self.nz + K, size, c))
        if self.cond_kind != "concat":  # AC-GAN or projection: D's encoder never sees the label
            encoder, shape = conditioning.unconditional_encoder(self.arch, self.image_shape,
                                                                self.critic_norm(self.config), rng=rng)
            D = conditioning.build_discriminator(self.cond_kind, encoder, shape, K, rng=rng)
        elif self.arch == "mlp":
            encoder = BranchEncoder(math.prod(self.image_shape), K, rng=rng)
            D = networks.Discriminator(encoder, nn.Linear(256, 1, rng=rng), (256,))
        else:
            parts = networks.dcgan_discriminator_parts(size, c + K, norm=self.critic_norm(self.config))
            D = networks.Discriminator(LabelPlanesEncoder(parts.encoder), parts.head, parts.feature_shape)
        if self.arch == "conv":
            for net in (G, D):
                nn.init.dcgan_(net, rng)
        self.add_network("G", G, "G")
        self.add_network("D", D, "D")

    def make_fixed_inputs(self):
        """One row per class, the same GRID_PER_CLASS noise vectors in every row."""
        z = self.draw_noise(GRID_PER_CLASS, self.rngs["sample"])
        labels = np.repeat(np.arange(self.num_classes, dtype=np.int64), GRID_PER_CLASS)
        return {"z": np.tile(z, (self.num_classes, 1)), "labels": labels}

    def sample_grid(self):
        return self.sample(z=self.fixed["z"], labels=self.fixed["labels"]), GRID_PER_CLASS
