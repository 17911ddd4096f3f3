"""LAPGAN (Denton, Chintala, Szlam & Fergus 2015): a Laplacian pyramid of GANs, coarse to fine.

Notation: s_0 < s_1 < ... < s_L are the pyramid's sizes (7, 14, 28 for 28-px images; 8, 16, 32
for 32 px; 8, 16, 32, 64 for 64 px), I_j the images at size s_j, d the 2x2 mean
(``avg_pool2d(2)``), u nearest-neighbour doubling (``upsample_nearest2d(2)``), l_j = u(I_{j-1})
the conditioning image of level j, and h_j its band:

    I_L = x,   I_{j-1} = d(I_j),   h_j = I_j - u(I_{j-1}),   so   x = u(...u(u(I_0) + h_1)...) + h_L.

Note [pyramid filters]: the paper blurs before decimating and upsamples smoothly; here d is the
2x2 mean and u nearest neighbour, because then d(u(y)) = y and hence d(h_j) = 0: a band holds
exactly the detail that the coarser image cannot, and the conditioning image is the coarser image
itself, drawn in 2x2 blocks. The price: those blocks show in l_j, and the band has to undo them
(a smooth upsample would leave smoother bands).

One GAN per level, each its own G/D pair registered under the level's size ("G7", "D7", ...):
    coarsest s_0:  a plain GAN: G an MLP, as the paper's 8x8 CIFAR model: G(z) -> I_0, z (n, nz)
                   (with batch norm); D(I_0) -> logit a small convolutional net (Note [the coarse D]).
    finer s_j:     a conditional GAN: G(concat(l_j, z_j)) -> h_j, z_j a noise plane (n, 1, s_j, s_j)
                   (the paper's extra colour plane), three convolutions with a linear output (a band
                   is signed and mostly small); D(concat(h_j, l_j)) -> logit: D judges the band
                   together with the image it refines.
Training: every level on the real pyramid of the batch -- l_j is always made from the real
I_{j-1}, never a generated one -- so the levels are independent GANs trained side by side, each
with the Trainer's own D step and G step.
Sampling chains them: I_0 = G(z), I_j = clip(l_j + G(l_j, z_j), -1, 1) with l_j = u(I_{j-1});
the clip keeps each level in the range of the real images the next level was trained on.

Note [the coarse D]: the 7-px level's D used to be the paper's MLP (49 -> 512 -> 256 -> 1, dropout
0.3, lr 2e-4 like its G), and its loss sat at 2 ln 2 = 1.386 for whole runs: D at chance. It was not
beaten by a perfect G -- a fresh MLP trained for 200 steps on that G's frozen samples told them from
real 7x7 digits at a loss of 0.07 -- but by a G that moved as fast as it learned: after each D step,
G (341k parameters, batch norm) undid D's small lead, so D never got ahead and G got no signal
worth following (its samples half as varied as the data after 64 steps). An MLP sees 49 unordered
numbers; it has to learn from scratch that neighbouring pixels belong together. Measured on the
7-px level alone (MNIST, batch 64, 2000 steps, seed 0; FD49 = Frechet distance between Gaussians
fitted to 4096 real and 4096 generated 7x7 images, pixel space), mean loss_D7 of the last 100 steps:
    MLP D (the old one)                          1.383   FD49 0.88
    MLP D, no dropout                            1.382   FD49 0.93   (not a matter of dropout)
    MLP D, 4x D's lr                             1.339   FD49 0.26   (a faster D helps)
    conv D: 3x3 conv 64, 4x4/2 conv 128 + BN     1.038   FD49 0.13   (this one)
The convolutional D (DCGAN's init and rules) stays ahead of G at the same lr, and G's 7x7 images
come 6.7x closer to the data's in FD49. The finer levels were always convolutional.

Note [the pyramid's width]: every level's convolutions have --width channels (D's double at each
stride), 32 by default. At 64 a LAPGAN step costs 1.83x a DCGAN step on the CPU (CPU time of one
training step, one thread, batch 128, idle machine: 506 ms against DCGAN's 276); at 32 it costs 0.70x
(193-199 ms). Per epoch the narrow pyramid is behind the wide one (MNIST, seed 0, FID on the judge's
features: 14.4 at epoch 5 against 12.7); per unit of time it is ahead of DCGAN all the way (MNIST,
seeds 0-2, DCGAN 5 epochs, LAPGAN 7 in the same CPU time): at DCGAN's time for 1 to 5 epochs it
scores 31.7, 18.5, 15.5, 13.5 and 11.8 (read between its epochs) against DCGAN's 40.9, 25.3, 19.5,
14.4 and 13.3. At 64 it was behind DCGAN at equal time. On Fashion-MNIST (seeds 0-2) it stays a
little behind DCGAN at equal time (10.5 against 10.1 at DCGAN's 5 epochs). Measured in docs/conditional.md.

The latent is z and the planes z_j flattened into one vector of nz + s_1^2 + ... + s_L^2 numbers
(``trainer.nz``), so the base Trainer's fixed grid noise, sampling from given noise and latent
interpolation work unchanged. The noise is Gaussian (the paper's is uniform). Class conditioning
(the paper's class-conditional CIFAR model) is not implemented.
"""

import contextlib
import itertools
import math

import numpy as np

from minigan import backend, distributed, nn
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import averaging
from minigan.gan.base import SAMPLE_CHUNK, Trainer
from minigan.images import save_rows, to_numpy
from minigan.tensor import Tensor

SUPPORTED_SIZES = (28, 32, 64)
COARSEST = 8  # halve the image until its side is at most this


def check_image_size(image_size):
    if image_size not in SUPPORTED_SIZES:
        sizes = ", ".join(map(str, SUPPORTED_SIZES))
        raise MiniganError(f"LAPGAN cannot build a pyramid for {image_size}x{image_size} images; "
                           f"use --image-size one of {sizes}.")


def pyramid_sizes(image_size):
    """The pyramid's sides, coarse to fine: 28 -> (7, 14, 28), 32 -> (8, 16, 32)."""
    check_image_size(image_size)
    sizes = [image_size]
    while sizes[-1] > COARSEST:
        sizes.append(sizes[-1] // 2)
    return tuple(reversed(sizes))


def laplacian_pyramid(x, levels):
    """Split images into their coarsest version and one band per finer level.

    Args:
        x (Tensor or array): (n, c, s, s), s divisible by 2**(levels - 1).
        levels (int): number of sizes (3 for 28 -> 14 -> 7).
    Returns:
        (images, bands), lists of Tensors, coarse to fine: images[j] is I_j (images[-1] is x),
        bands[j - 1] is h_j = I_j - u(I_{j-1}) for j = 1 .. levels - 1.
    """
    images = [x if isinstance(x, Tensor) else Tensor(x)]
    for _ in range(levels - 1):
        images.insert(0, F.avg_pool2d(images[0], 2))
    bands = [fine - F.upsample_nearest2d(coarse, 2) for coarse, fine in itertools.pairwise(images)]
    return images, bands


def reconstruct(coarse, bands):
    """The inverse of ``laplacian_pyramid``: x = u(...u(u(I_0) + h_1)...) + h_L."""
    x = coarse
    for h in bands:
        x = F.upsample_nearest2d(x, 2) + h
    return x


def pyramid_image(images, bands, path, label="", scale=2):
    """Write a PNG of a pyramid: the coarsest images, then per finer size its band and its images.

    Every level is drawn at the full size (each pixel a block), so the columns line up and the
    resolution shows; each row is stretched to its own min..max (``save_rows(normalize=True)``),
    so that small, signed bands show.

    Args:
        images, bands: as returned by ``laplacian_pyramid`` or ``LAPGANTrainer.sample_pyramid``
            (Tensors or arrays, coarse to fine), one column per image of the batch.
        path (str): the PNG to write.
        label (str): prefix of the row captions (e.g. "real" or "generated").
        scale (int): integer enlargement of the whole picture.
    """
    prefix, full = f"{label} " if label else "", images[-1].shape[-1]
    rows = [images[0]] + [r for pair in zip(bands, images[1:]) for r in pair]
    kinds = ["image"] + ["band", "image"] * len(bands)
    captions = [f"{prefix}{r.shape[-1]}x{r.shape[-1]} {kind}" for r, kind in zip(rows, kinds)]
    blocks = [to_numpy(r).repeat(full // r.shape[-1], axis=2).repeat(full // r.shape[-1], axis=3) for r in rows]
    save_rows(blocks, path, normalize=True, row_labels=captions, scale=scale)


def coarse_generator(nz, image_shape, hidden, rng=None):
    """G of the coarsest level: z (n, nz) -> [Linear, BatchNorm1d, ReLU] per hidden width -> Linear
    -> Tanh -> images (n, *image_shape). The batch norm keeps this small MLP from collapsing: without
    it, every 7x7 MNIST sample was the same image after 400 steps; with it they vary like the data."""
    layers, width = [], nz
    for size in hidden:
        layers += [nn.Linear(width, size, rng=rng), nn.BatchNorm1d(size), nn.ReLU()]
        width = size
    layers += [nn.Linear(width, math.prod(image_shape), rng=rng), nn.Tanh(), nn.Unflatten(1, image_shape)]
    return nn.Sequential(*layers)


def coarse_discriminator(channels, size, width):
    """D of the coarsest level (Note [the coarse D]): images (n, c, s_0, s_0) -> a 3x3 convolution of
    ``width`` -> a 4x4 stride-2 convolution of 2 width (batch norm) -> Linear -> logit; LeakyReLU 0.2."""
    side = (size - 2) // 2 + 1  # 7 -> 3, 8 -> 4
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * width * side * side, 1))


def _clip(x):
    """x clipped to the data range [-1, 1] (a sampling step: no gradient flows through it)."""
    return Tensor(backend.get_array_module(x.data).clip(x.data, -1.0, 1.0))


class BandGenerator(nn.Module):
    """G of a finer level: (l, noise plane) -> band h of the same size s.

    A strided convolution takes the input to s/2, one convolution works there, and a transposed
    convolution returns to s with a linear output. Half size loses nothing of l (it is I_{j-1}
    drawn in 2x2 blocks) and costs a quarter of full-size 3x3 convolutions, which on the CPU
    would make this level alone slower than a whole DCGAN step.
    """

    def __init__(self, channels, width):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels + 1, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1))

    def forward(self, l, z):
        return self.body(F.concat([l, z], axis=1))


class BandDiscriminator(nn.Module):
    """D of a finer level: (band h, l) -> logit; strided convolutions down to COARSEST or less (and
    at least two convolutions), then one Linear. DCGAN's rules: no batch norm on the input layer,
    LeakyReLU 0.2."""

    def __init__(self, channels, size, width):
        super().__init__()
        layers, c_in, convs = [], 2 * channels, 0
        while size > COARSEST or convs < 2:
            kernel, stride = (4, 2) if size > COARSEST else (3, 1)
            norm = [nn.BatchNorm2d(width)] if convs else []
            layers += [nn.Conv2d(c_in, width, kernel, stride, 1, bias=False), *norm, nn.LeakyReLU(0.2)]
            c_in, width, size, convs = width, width * 2, size // stride, convs + 1
        layers += [nn.Flatten(), nn.Linear(c_in * size * size, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, h, l):
        return self.body(F.concat([h, l], axis=1))


class LAPGANTrainer(Trainer):
    """LAPGAN: one GAN per pyramid level, trained on the real pyramid, sampled as a chain.

    The class attributes size the networks (tests shrink them).
    """

    name = "lapgan"
    has_encoder = False  # its D's are plain Sequentials: no feature matching, T-GAN, ...
    single_pair = False  # a G/D pair per pyramid level
    packable = False
    coarse_g_hidden = (512, 512)
    g_width = 32  # Note [the pyramid's width]
    d_width = 32

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        if config.image_size is not None:
            check_image_size(config.image_size)

    @classmethod
    def check_data(cls, image_shape, num_classes):
        _, h, w = image_shape
        if h != w:
            raise MiniganError(f"lapgan needs square images, got {h}x{w}; pass --image-size to resize them.")
        check_image_size(h)

    @property
    def sizes(self):
        return pyramid_sizes(self.image_shape[1])

    @property
    def nz(self):
        """Length of the whole latent: the coarse noise (config.nz) and one plane per finer size."""
        return self.config.nz + sum(s * s for s in self.sizes[1:])

    @property
    def widths(self):
        """(G's, D's) channels: --width for both, else the class attributes (Note [the pyramid's width])."""
        width = self.config.width
        return (self.g_width, self.d_width) if width is None else (width, width)

    def build(self):
        rng, c, s0 = self.rngs["init"], self.image_shape[0], self.sizes[0]
        g_width, d_width = self.widths
        G = coarse_generator(self.config.nz, (c, s0, s0), self.coarse_g_hidden, rng=rng)
        D = nn.init.dcgan_(coarse_discriminator(c, s0, d_width), rng)
        self.add_network(f"G{s0}", G, "G")
        self.add_network(f"D{s0}", D, "D")
        for s in self.sizes[1:]:
            G, D = BandGenerator(c, g_width), BandDiscriminator(c, s, d_width)
            for net in (G, D):
                nn.init.dcgan_(net, rng)
            self.add_network(f"G{s}", G, "G")
            self.add_network(f"D{s}", D, "D")

    # -- one level's networks -------------------------------------------------------------
    def split_latent(self, z):
        """(coarse noise (n, nz), [noise plane (n, 1, s, s) per finer size s]) of raw latents (n, self.nz)."""
        if z.ndim != 2 or z.shape[1] != self.nz:
            raise MiniganError(f"lapgan latents have shape (n, {self.nz}) (nz {self.config.nz} plus one "
                               f"noise plane per size {self.sizes[1:]}), got {tuple(z.shape)}.")
        n, start, planes = z.shape[0], self.config.nz, []
        for s in self.sizes[1:]:
            planes.append(z[:, start:start + s * s].reshape(n, 1, s, s))
            start += s * s
        return z[:, :self.config.nz], planes

    def generate_level(self, s, noise, l=None):
        """G of size s: the coarse images from noise (l None), else the band for conditioning l."""
        G = self.networks[f"G{s}"]
        return G(Tensor(noise)) if l is None else G(l, Tensor(noise))

    def discriminate(self, x, labels=None):
        """Logits of the D of x's size; ``labels`` carries that level's conditioning image l
        (None at the coarsest level), which is how the base D and G steps pass it through."""
        D = self.networks[f"D{x.shape[-1]}"]
        return D(x) if labels is None else D(x, labels)

    # -- training -------------------------------------------------------------------------
    def train_step(self, real, labels=None):
        """One D step per level, and one G step per level after every k-th D step.

        Returns:
            dict of 0-d device arrays: loss_D{s} and loss_G{s} per size s, and D_x, D_G_z
            averaged over the levels.
        """
        images, bands = laplacian_pyramid(Tensor(real), len(self.sizes))
        z = self.draw_noise(real.shape[0] * self.comm.size)  # the global batch's, as in Trainer.train_step
        z0, planes = self.split_latent(self.to_device(distributed.local_rows(self.comm, z)))
        conditions = [None] + [F.upsample_nearest2d(x, 2) for x in images[:-1]]  # l_j, from the real I_{j-1}
        g_turn = (self.step + 1) % self.config.d_steps == 0
        out, d_x, d_g_z = {}, [], []
        for s, target, noise, l in zip(self.sizes, [images[0]] + bands, [z0] + planes, conditions):
            with contextlib.nullcontext() if g_turn else no_grad():  # no G graph when G does not step
                fake = self.generate_level(s, noise, l)
            row = self.d_step(target, l, fake, l, d=f"D{s}")
            if g_turn:
                row.update(self.g_step(fake, l, target, l, g=f"G{s}", d=f"D{s}"))
            out.update({f"{k}{s}": v for k, v in row.items() if k.startswith("loss")})
            d_x.append(row["D_x"])
            d_g_z.append(row["D_G_z"])
        out["D_x"], out["D_G_z"] = sum(d_x) / len(d_x), sum(d_g_z) / len(d_g_z)
        return out

    # -- sampling -------------------------------------------------------------------------
    def generate_pyramid(self, z):
        """The chained sampler on a latent Tensor (n, self.nz) on the device.

        Returns:
            (images, bands): lists of Tensors, coarse to fine; images[-1] is full size.
        """
        z0, planes = self.split_latent(z.data)
        images, bands = [_clip(self.generate_level(self.sizes[0], z0))], []
        for s, plane in zip(self.sizes[1:], planes):
            l = F.upsample_nearest2d(images[-1], 2)
            bands.append(self.generate_level(s, plane, l))
            images.append(_clip(l + bands[-1]))
        return images, bands

    def generate(self, z, labels=None):
        """Full-size images from latents (n, self.nz) through the whole chain."""
        return self.generate_pyramid(z)[0][-1]

    @contextlib.contextmanager
    def generators_in_eval(self):
        """Every level's G in eval mode (batch norm on running statistics) inside the block."""
        generators = [net for name, net in self.networks.items() if name.startswith("G")]
        for G in generators:
            G.eval()
        try:
            yield
        finally:
            for G in generators:
                G.train()

    def sample_pyramid(self, n=None, z=None, rng=None):
        """Every level of the chained sampler, in eval mode, on the host.

        Args:
            n (int): how many (ignored when z is given).
            z (numpy array or None): latents (n, self.nz); None draws them from ``rng``.
            rng (numpy Generator or None): default rngs['sample'].
        Returns:
            (images, bands): lists of numpy float32 arrays, coarse to fine; images in [-1, 1].
        """
        rng = rng or self.rngs["sample"]
        z = self.draw_noise(n, rng) if z is None else np.asarray(z, dtype=np.float32)
        chunks = []
        with self.generators_in_eval(), no_grad(), averaging.swapped_in(self, "G"):  # --ema: G's average
            for i in range(0, len(z), SAMPLE_CHUNK):
                images, bands = self.generate_pyramid(Tensor(self.to_device(z[i:i + SAMPLE_CHUNK])))
                chunks.append([backend.to_cpu(t.data) for t in images + bands])
        parts = [np.concatenate(p) for p in zip(*chunks)]
        return parts[:len(self.sizes)], parts[len(self.sizes):]

    def sample(self, n=None, z=None, labels=None, rng=None):
        """Full-size images from the chained sampler: numpy float32 (n, c, h, w) in [-1, 1]."""
        return self.sample_pyramid(n, z, rng)[0][-1]
