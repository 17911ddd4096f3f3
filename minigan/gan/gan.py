"""GAN (Goodfellow et al. 2014): a generator and a discriminator that are both multilayer perceptrons.

The paper's G mixes rectifiers and sigmoids and its D uses maxout units with dropout; here both
are LeakyReLU(0.2) MLPs, G with a Tanh output (images live in [-1, 1]) and D with dropout, the
form most reimplementations settled on. Both see an image as one flat vector.

    G: z (n, nz) -> 256 -> 512 -> 1024 -> c*h*w -> Tanh -> (n, c, h, w)
    D: (n, c, h, w) -> flatten -> 512 -> 256 -> 1 logit      (dropout 0.3 after each hidden layer;
       the 256 features before the logit are D's encoder output, see networks.Discriminator)

G's 512 and 1024 layers are batch-normalised. Batch norm came a year after the paper, but
without it this G, trained with Adam as here, collapsed on MNIST to one blurred image for every
z within a few epochs; with it, digits appear in the first epochs.

On 2-D points (the ring and grid of data/modes.py) both are the unrolled GAN paper's MLPs
(Metz et al. 2016, and poolio/unrolled_gan): two hidden layers of 128 tanh units each, G's
output linear (points are not bounded to [-1, 1]), z of 256 by the ring's recipe (cli/train.py):

    G: z (n, nz) -> 128 -> 128 -> 2        D: (n, 2 M) -> 128 -> 128 -> 1 logit  (M = --pack)
"""

import math

from minigan import nn
from minigan.gan.base import Trainer
from minigan.gan.networks import Discriminator

G_HIDDEN = (256, 512, 1024)
D_HIDDEN = (512, 256)
D_DROPOUT = 0.3


def mlp_generator(n_in, image_shape, hidden=G_HIDDEN, rng=None, batch_norm_from=1):
    """An MLP from n_in inputs to images of ``image_shape`` (c, h, w) in [-1, 1].

    Hidden layer i is Linear -> BatchNorm1d (when i >= batch_norm_from) -> LeakyReLU(0.2).
    """
    layers, width = [], n_in
    for i, size in enumerate(hidden):
        layers.append(nn.Linear(width, size, rng=rng))
        if i >= batch_norm_from:
            layers.append(nn.BatchNorm1d(size))
        layers.append(nn.LeakyReLU(0.2))
        width = size
    layers += [nn.Linear(width, math.prod(image_shape), rng=rng), nn.Tanh(), nn.Unflatten(1, image_shape)]
    return nn.Sequential(*layers)


def mlp_encoder_layers(n_in, hidden=D_HIDDEN, p=D_DROPOUT, rng=None):
    """Linear -> LeakyReLU(0.2) -> Dropout(p) for each hidden size: D's layers before its output."""
    layers, width = [], n_in
    for size in hidden:
        layers += [nn.Linear(width, size, rng=rng), nn.LeakyReLU(0.2), nn.Dropout(p)]
        width = size
    return layers


def mlp_discriminator(n_in, hidden=D_HIDDEN, p=D_DROPOUT, rng=None):
    """An MLP from n_in inputs (a flat image) to one logit, with dropout after each hidden layer."""
    layers = mlp_encoder_layers(n_in, hidden, p, rng)
    return nn.Sequential(*layers, nn.Linear(hidden[-1], 1, rng=rng))


POINT_HIDDEN = (128, 128)


def tanh_mlp(n_in, n_out, hidden=POINT_HIDDEN, rng=None):
    """Linear -> Tanh per hidden size, then a linear output: the 2-D experiments' G and D (without the head)."""
    layers, width = [], n_in
    for size in hidden:
        layers += [nn.Linear(width, size, rng=rng), nn.Tanh()]
        width = size
    return layers + ([nn.Linear(width, n_out, rng=rng)] if n_out else [])


class GANTrainer(Trainer):
    """The 2014 GAN: MLP G and D, PyTorch's default init drawn from the run's seed; on 2-D points the
    unrolled GAN paper's tanh MLPs."""

    name = "gan"
    draws_points = True

    def build(self):
        rng = self.rngs["init"]
        if len(self.image_shape) == 1:  # 2-D points
            self.add_network("G", nn.Sequential(*tanh_mlp(self.nz, self.image_shape[0], rng=rng)), "G")
            encoder = nn.Sequential(*tanh_mlp(self.d_input_shape[0], 0, rng=rng))
            D = Discriminator(encoder, nn.Linear(POINT_HIDDEN[-1], 1, rng=rng), (POINT_HIDDEN[-1],))
            self.add_network("D", D, "D")
            return
        self.add_network("G", mlp_generator(self.nz, self.image_shape, rng=rng), "G")
        encoder = nn.Sequential(nn.Flatten(), *mlp_encoder_layers(math.prod(self.d_input_shape), rng=rng))
        D = Discriminator(encoder, nn.Linear(D_HIDDEN[-1], 1, rng=rng), (D_HIDDEN[-1],))
        self.add_network("D", D, "D")
