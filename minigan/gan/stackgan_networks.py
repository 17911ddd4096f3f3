"""The networks of StackGAN (Zhang et al. 2017), class-conditioned: conditioning augmentation, the
stage-I and stage-II generators, and the matching-aware discriminator.

Notation: ŷ the one-hot class (n, K), e = E ŷ its learned embedding, c the condition vector of
``c_dim`` numbers, eps ~ N(0, I) of the same size, s1 the stage-I side (14 or 16), s the full side.

Conditioning augmentation (CA, section 3.1 of the paper): instead of feeding e itself, G draws

    c = mu(e) + sigma(e) * eps,      mu, log sigma = W e + b,

and pays KL(N(mu, sigma^2) || N(0, I)) = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - 2 log sigma_j), averaged
over the batch. The draw turns each class into a small cloud of conditions (more variety for the
same class, a smoother condition manifold); the KL term keeps that cloud near N(0, I) so that it
cannot shrink to a point. (With text the paper's e is a sentence embedding; here there is no text,
so e is a learned vector per class.)
"""

import math

from minigan import functional as F
from minigan import nn

COARSEST = 8  # D halves its input until the side is at most this


class CondAugment(nn.Module):
    """(ŷ, eps) -> c = mu + sigma * eps; the KL of N(mu, sigma^2) from N(0, I) is left in ``self.kl``.

    Args:
        num_classes (int): K.
        c_dim (int): the size of c (and of eps).
        embed_dim (int): the size of the class embedding e.
    """

    def __init__(self, num_classes, c_dim, embed_dim=64, rng=None):
        super().__init__()
        self.c_dim = c_dim
        self.embed = nn.Linear(num_classes, embed_dim, bias=False, rng=rng)  # e = E ŷ: one row of E per class
        self.fc = nn.Linear(embed_dim, 2 * c_dim, rng=rng)
        self.kl = None

    def forward(self, y, eps):
        h = self.fc(self.embed(y))
        mu, log_sigma = h[:, :self.c_dim], h[:, self.c_dim:]
        sigma = F.exp(log_sigma)
        # the reparameterisation: dc/dmu = 1, dc/dsigma = eps, so the gradient reaches E and W
        self.kl = kl_divergence(mu, log_sigma)
        return mu + sigma * eps


def kl_divergence(mu, log_sigma):
    """KL(N(mu, sigma^2) || N(0, I)) = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - 2 log sigma_j), batch mean."""
    per_dim = mu * mu + F.exp(2 * log_sigma) - 1 - 2 * log_sigma
    return 0.5 * per_dim.sum(axis=1).mean()


class ResBlock(nn.Module):
    """x -> ReLU(x + BN(Conv(ReLU(BN(Conv(x)))))), 3x3 convolutions that keep the shape (the paper's
    stage-II residual block)."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return F.relu(x + self.body(x))


class StageIGenerator(nn.Module):
    """G1(z, ŷ, eps1): concat(z, c) -> Linear -> (2w, s1/2, s1/2) -> ConvT to s1 -> 3x3 conv -> Tanh."""

    def __init__(self, nz, num_classes, c_dim, size, channels, width=64, rng=None):
        super().__init__()
        self.ca = CondAugment(num_classes, c_dim, rng=rng)
        h = size // 2
        self.body = nn.Sequential(
            nn.Linear(nz + c_dim, 2 * width * h * h, rng=rng), nn.Unflatten(1, (2 * width, h, h)),
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z, y, eps):
        return self.body(F.concat([z, self.ca(y, eps)], axis=1))


class StageIIGenerator(nn.Module):
    """G2(x1, ŷ, eps2): the stage-I image's features at s1, joined with c tiled over them, residual
    blocks, then one ConvT doubling per factor of 2 up to s, 3x3 conv -> Tanh. No noise z: the
    stage-I image and c are all it reads, as in the paper."""

    def __init__(self, num_classes, c_dim, size1, size, channels, width=64, blocks=2, rng=None):
        super().__init__()
        self.ca = CondAugment(num_classes, c_dim, rng=rng)
        self.encode = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU())
        self.joint = nn.Sequential(nn.Conv2d(width + c_dim, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU(), *[ResBlock(width) for _ in range(blocks)])
        ups, w = [], width
        for _ in range(int(math.log2(size // size1))):
            ups += [nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU()]
            w //= 2
        self.up = nn.Sequential(*ups, nn.Conv2d(w, channels, 3, 1, 1), nn.Tanh())

    def forward(self, x1, y, eps):
        f = self.encode(x1)
        return self.up(self.joint(F.concat([f, tile(self.ca(y, eps), f.shape[-1])], axis=1)))


def tile(v, side):
    """A vector per image (n, m) as m constant planes (n, m, side, side); gradients sum back over them."""
    n, m = v.shape
    return F.broadcast_to(v.reshape(n, m, 1, 1), (n, m, side, side))


def image_encoder(size, channels, width=64):
    """(encoder, its output shape): strided 4x4 convolutions (LeakyReLU 0.2, batch norm after the first)
    until the side is at most COARSEST, then a 3x3 convolution at that side."""
    layers, c_in, convs = [], channels, 0
    while size > COARSEST or convs < 2:
        kernel, stride = (4, 2) if size > COARSEST else (3, 1)
        norm = [nn.BatchNorm2d(width)] if convs else []
        layers += [nn.Conv2d(c_in, width, kernel, stride, 1, bias=False), *norm, nn.LeakyReLU(0.2)]
        c_in, size, convs = width, size // stride, convs + 1
        width = width * 2 if stride == 2 else width
    return nn.Sequential(*layers), (c_in, size, size)


class MatchingDiscriminator(nn.Module):
    """D(x, ŷ): the image's feature map (C, h, w), D's own class embedding (m numbers) tiled over it
    and concatenated, a 3x3 convolution on the joint map, then one logit (the paper's D, whose
    compressed text embedding is replicated spatially the same way)."""

    def __init__(self, num_classes, size, channels, width=64, embed_dim=16, rng=None):
        super().__init__()
        self.encoder, (c, h, _) = image_encoder(size, channels, width)
        self.embed = nn.Linear(num_classes, embed_dim, rng=rng)
        self.joint = nn.Sequential(nn.Conv2d(c + embed_dim, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c),
                                   nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(c * h * h, 1))

    def forward(self, x, y):
        f = self.encoder(x)
        return self.joint(F.concat([f, tile(F.leaky_relu(self.embed(y), 0.2), f.shape[-1])], axis=1))
