"""What G is fed and what it makes: latent draws (noise, class labels), the fixed inputs of the sample
grids, and images sampled in eval mode.

``Trainer`` inherits these from ``Sampler``; a model overrides what differs (CGAN: the fixed inputs
and the grid's rows; LAPGAN: the latent's length and ``sample``). A Sampler reads, from the Trainer
it is part of: ``config`` (nz, latent, components, device), ``rngs``, ``networks``, ``num_classes``
and ``generate``.
"""

import numpy as np

from minigan import backend, cuda
from minigan.function import no_grad
from minigan.gan import averaging, techniques
from minigan.tensor import Tensor

SAMPLE_CHUNK = 512  # images generated at once by ``sample``: bounds memory for large n
SCATTER_POINTS = 1000  # points in a 2-D run's epoch scatter


class Sampler:
    """Latent draws and samples of a Trainer's G (see the module docstring)."""

    conditional = False  # G and D take class labels
    grid_size = 64  # images in a sample grid

    @property
    def nz(self):
        return self.config.nz

    def draws(self, name):
        """The random stream rngs[name] where the run's arrays live: the Generator itself on the CPU; on
        the GPU a ``cuda.DeviceDraws`` over it, which draws on the device from one key per call (Note
        [device draws] in kernels/random.cu). Not the CPU's draws, but a GPU run draws the same every
        time and resumes exactly (rngs[name] is all its state), and nothing is copied to the device."""
        rng = self.rngs[name]
        return cuda.DeviceDraws(rng) if self.config.device == "gpu" else rng

    def draw_noise(self, n, rng=None):
        """The latent vectors of n fakes, float32: z ~ N(0, I) of shape (n, nz); with --latent mixture,
        [eps, w] of shape (n, nz + K), eps ~ N(0, I) and w a one-hot choice of the mixture component
        (techniques.MixtureGenerator). From ``rng``, on the host (the same draws on any device), or
        with ``rng`` None a training step's from ``draws("noise")``, on the run's device."""
        rng = rng or self.draws("noise")
        z = rng.standard_normal((n, self.nz), dtype=np.float32)
        if self.config.latent == "mixture":
            one_hot = techniques.mixture_one_hot(n, self.config.components, rng)
            z = backend.get_array_module(z).concatenate([z, one_hot], axis=1)
        return z

    def draw_labels(self, n, rng=None):
        """Class labels for n fakes (uniform over the classes), or None when unconditional; from ``rng``
        on the host, or with ``rng`` None from ``draws("noise")`` on the run's device."""
        if not self.conditional:
            return None
        return (rng or self.draws("noise")).integers(0, self.num_classes, n, dtype=np.int64)

    def make_fixed_inputs(self):
        """The sample grid's inputs, drawn once from rngs['sample'] and kept all run long."""
        rng = self.rngs["sample"]
        n = SCATTER_POINTS if len(self.image_shape) == 1 else self.grid_size
        fixed = {"z": self.draw_noise(n, rng)}
        labels = self.draw_labels(n, rng)
        if labels is not None:
            fixed["labels"] = labels
        return fixed

    def to_device(self, array):
        """A host array on the run's device (None stays None)."""
        return None if array is None else backend.to_device(array, self.config.device)

    def sample(self, n=None, z=None, labels=None, rng=None):
        """Images from G in eval mode (batch norm uses its running statistics), with G's averaged weights
        when --ema is on.

        Args:
            n (int): how many (ignored when z is given).
            z (numpy array or None): noise (n, nz); None draws it from ``rng``.
            labels (numpy int array or None): conditional models: the class of each image;
                None draws them from ``rng``.
            rng (numpy Generator or None): default rngs['sample'].
        Returns:
            numpy float32 (n, c, h, w) in [-1, 1].
        """
        rng = rng or self.rngs["sample"]
        z = self.draw_noise(n, rng) if z is None else np.asarray(z, dtype=np.float32)
        if self.conditional and labels is None:
            labels = self.draw_labels(len(z), rng)
        G, chunks = self.networks["G"], []
        G.eval()
        try:
            with no_grad(), averaging.swapped_in(self, "G"):
                for i in range(0, len(z), SAMPLE_CHUNK):
                    y = None if labels is None else self.to_device(np.asarray(labels[i:i + SAMPLE_CHUNK]))
                    x = self.generate(Tensor(self.to_device(z[i:i + SAMPLE_CHUNK])), y)
                    chunks.append(backend.to_cpu(x.data))
        finally:
            G.train()
        return np.concatenate(chunks)

    def sample_grid(self):
        """(images, images per row) of the grid drawn from the fixed inputs."""
        return self.sample(z=self.fixed["z"], labels=self.fixed.get("labels")), None
