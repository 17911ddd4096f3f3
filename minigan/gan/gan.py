"""GAN (Goodfellow et al. 2014): a generator and a discriminator that are both multilayer perceptrons.

The paper's G mixes rectifiers and sigmoids and its D uses maxout units with dropout; here G is
a ReLU MLP with a Tanh output (images live in [-1, 1]) and D a LeakyReLU(0.2) MLP with dropout,
the form most reimplementations settled on. Both see an image as one flat vector.

    G: z (n, nz) -> 256 -> 512 -> 1024 -> c*h*w -> Tanh -> (n, c, h, w)
    D: (n, c, h, w) -> flatten -> 512 -> 256 -> 1 logit      (dropout 0.3 after each hidden layer)
"""

import math

from minigan import nn
from minigan.gan.base import Trainer

G_HIDDEN = (256, 512, 1024)
D_HIDDEN = (512, 256)
D_DROPOUT = 0.3


def mlp_generator(n_in, image_shape, hidden=G_HIDDEN, rng=None):
    """An MLP from n_in inputs to images of ``image_shape`` (c, h, w) in [-1, 1]."""
    layers, width = [], n_in
    for size in hidden:
        layers += [nn.Linear(width, size, rng=rng), nn.ReLU()]
        width = size
    layers += [nn.Linear(width, math.prod(image_shape), rng=rng), nn.Tanh(), nn.Unflatten(image_shape)]
    return nn.Sequential(*layers)


def mlp_discriminator(n_in, hidden=D_HIDDEN, p=D_DROPOUT, rng=None):
    """An MLP from n_in inputs (a flat image) to one logit, with dropout after each hidden layer."""
    layers, width = [], n_in
    for size in hidden:
        layers += [nn.Linear(width, size, rng=rng), nn.LeakyReLU(0.2), nn.Dropout(p)]
        width = size
    layers.append(nn.Linear(width, 1, rng=rng))
    return nn.Sequential(*layers)


class GANTrainer(Trainer):
    """The 2014 GAN: MLP G and D, PyTorch's default init drawn from the run's seed."""

    name = "gan"

    def build(self):
        rng = self.rngs["init"]
        self.add_network("G", mlp_generator(self.nz, self.image_shape, rng=rng), "G")
        D = nn.Sequential(nn.Flatten(), mlp_discriminator(math.prod(self.image_shape), rng=rng))
        self.add_network("D", D, "D")
