"""The DCGAN networks (Radford et al. 2015), shared by the trainer and the benchmark.

Rules of the paper: strided convolutions instead of pooling, batch norm everywhere
except G's output and D's input, ReLU + Tanh in G, LeakyReLU(0.2) in D.

- 28x28 (MNIST-native) is exactly ``dcgan28`` of the benchmarks:
  G: Linear(nz, 128*7*7) -> BN -> ReLU -> ConvT(128, 64, 4, 2, 1) -> BN -> ReLU -> ConvT(64, c, 4, 2, 1) -> Tanh
  D: Conv(c, 64, 4, 2, 1) -> LReLU -> Conv(64, 128, 4, 2, 1) -> BN -> LReLU -> Linear(128*7*7, 1)
- a power of two 16..128 follows pytorch/examples (64 is ``dcgan64``): a 4x4 seed
  from ConvT(nz, ., 4, 1, 0), then one ConvT(4, 2, 1) doubling per level; D mirrors it.
D returns logits (n, 1): the sigmoid lives in the loss (BCE-with-logits).

The trainers hold their D as a ``Discriminator``: an encoder (image, and condition if any, to
features) and a head (features to one logit). Feature matching, minibatch discrimination and
the T-GAN loss reach into D there. The benchmark keeps the plain Sequential of
``dcgan_discriminator``, whose state_dict names its PyTorch twin copies.
"""

import math

from minigan import nn
from minigan.errors import MiniganError

SUPPORTED_SIZES = (16, 28, 32, 64, 128)


def check_image_size(image_size):
    if image_size not in SUPPORTED_SIZES:
        sizes = ", ".join(map(str, SUPPORTED_SIZES))
        raise MiniganError(f"DCGAN cannot build {image_size}x{image_size} images; use --image-size one of {sizes}.")


def _levels(image_size):
    """Number of doubling layers after the 4x4 seed: 64 -> 4 (4, 8, 16, 32, 64)."""
    return (image_size // 4).bit_length() - 1


def dcgan_generator(nz=100, image_size=28, channels=1, ngf=64):
    """G: z (n, nz) -> images (n, channels, image_size, image_size) in [-1, 1]."""
    check_image_size(image_size)
    if image_size == 28:
        return nn.Sequential(
            nn.Linear(nz, 128 * 7 * 7), nn.Unflatten(1, (128, 7, 7)), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, channels, 4, 2, 1, bias=False), nn.Tanh())
    levels = _levels(image_size)
    width = ngf * 2 ** (levels - 1)
    layers = [nn.Unflatten(1, (nz, 1, 1)), nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False),
              nn.BatchNorm2d(width), nn.ReLU()]
    for _ in range(levels - 1):
        layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU()]
        width //= 2
    layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


D_NORMS = ("batch", "layer", "instance", "none")


def norm_layers(kind, channels, size):
    """The normalisation layer after one of D's convolutions, as a list (empty for 'none').

    Batch norm (DCGAN's) mixes the images of a batch, so D's output for one image depends on
    the others and its input gradient is not per image: the WGAN-GP critic uses layer norm
    (over channels x size x size, as Gulrajani et al.'s code) or none.
    """
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "layer":
        return [nn.LayerNorm((channels, size, size))]
    if kind == "instance":
        return [nn.InstanceNorm2d(channels, affine=True)]
    if kind == "none":
        return []
    raise MiniganError(f"unknown discriminator norm {kind!r}; choose one of {', '.join(D_NORMS)}.")


def dcgan_discriminator(image_size=28, channels=1, ndf=64, norm="batch"):
    """D: images (n, channels, image_size, image_size) -> logits (n, 1).

    ``norm`` is the layer after each inner convolution: batch (DCGAN), layer, instance or none."""
    check_image_size(image_size)
    if image_size == 28:
        return nn.Sequential(
            nn.Conv2d(channels, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), *norm_layers(norm, 128, 7), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    levels = _levels(image_size)
    layers = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    width, size = ndf, image_size // 2
    for _ in range(levels - 1):
        size //= 2
        layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), *norm_layers(norm, width * 2, size),
                   nn.LeakyReLU(0.2)]
        width *= 2
    layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    """D(x, *cond) = head(encoder(x, *cond)): features f, then one logit per image.

    Args:
        encoder (Module): (x, *cond) -> features f of shape (n, *feature_shape).
        head (Module): f -> logits (n, 1).
        feature_shape (tuple): f's shape without the batch axis, e.g. (6272,) or (512, 4, 4).
    """

    def __init__(self, encoder, head, feature_shape):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.feature_shape = tuple(feature_shape)

    @property
    def num_features(self):
        return math.prod(self.feature_shape)

    def features(self, x, *cond):
        return self.encoder(x, *cond)

    def forward(self, x, *cond):
        return self.head(self.encoder(x, *cond))

    def load_state_dict(self, state, strict=True):
        """As Module's; a checkpoint saved before D was split into encoder and head (a plain
        Sequential: "0.weight", ... instead of "encoder.0.weight", ...) holds the same arrays in the
        same order, and is matched entry by entry when every shape agrees."""
        own = self.state_dict()
        if set(state) != set(own) and len(state) == len(own) and not any(k.startswith("encoder.") for k in state):
            pairs = list(zip(own, state.values()))
            if all(tuple(v.shape) == tuple(own[k].shape) for k, v in pairs):
                state = dict(pairs)
        super().load_state_dict(state, strict)

    @classmethod
    def split(cls, sequential, head_layers, feature_shape):
        """The Discriminator of a Sequential D whose last ``head_layers`` layers are its head."""
        layers = list(sequential)
        head = layers[-1] if head_layers == 1 else nn.Sequential(*layers[-head_layers:])
        return cls(nn.Sequential(*layers[:-head_layers]), head, feature_shape)


def dcgan_discriminator_parts(image_size=28, channels=1, ndf=64, norm="batch"):
    """``dcgan_discriminator`` as a Discriminator. At 28 px the features are the flattened
    128x7x7 maps before the Linear; at other sizes the (ndf * 2^(levels-1), 4, 4) maps before the
    last 4x4 convolution (512x4x4 at 64 px)."""
    D = dcgan_discriminator(image_size, channels, ndf, norm)
    if image_size == 28:
        return Discriminator.split(D, 1, (128 * 7 * 7,))
    width = ndf * 2 ** (_levels(image_size) - 1)
    return Discriminator.split(D, 2, (width, 4, 4))


def benchmark_models(arch, nz=100):
    """(G, D, image shape) of a benchmark architecture: 'dcgan28' or 'dcgan64' (nc=1)."""
    sizes = {"dcgan28": 28, "dcgan64": 64}
    if arch not in sizes:
        raise MiniganError(f"unknown benchmark model {arch!r}; use dcgan28 or dcgan64.")
    size = sizes[arch]
    return dcgan_generator(nz, size, 1), dcgan_discriminator(size, 1), (1, size, size)
