"""DCGAN (Radford, Metz & Chintala 2015): convolutional G and D built by ``gan/networks.py``.

The paper's rules: strided convolutions instead of pooling, batch norm everywhere except G's
output and D's input, ReLU + Tanh in G, LeakyReLU(0.2) in D, weights drawn from N(0, 0.02)
(batch-norm scales from N(1, 0.02)), Adam with lr 2e-4 and beta1 0.5. At 28x28 the networks
are exactly the ``dcgan28`` benchmark model; 16, 32, 64 and 128 follow pytorch/examples.
"""

from minigan import nn
from minigan.errors import MiniganError
from minigan.gan import networks
from minigan.gan.base import Trainer


def check_square(image_shape, model):
    _, h, w = image_shape
    if h != w:
        raise MiniganError(f"{model} needs square images, got {h}x{w}; pass --image-size to resize them.")
    networks.check_image_size(h)


class DCGANTrainer(Trainer):
    """DCGAN: the convolutional G and D of ``networks``, DCGAN init from the run's seed."""

    name = "dcgan"

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        if config.image_size is not None:
            networks.check_image_size(config.image_size)

    @classmethod
    def check_data(cls, image_shape, num_classes):
        check_square(image_shape, cls.name)

    @classmethod
    def critic_norm(cls, config):
        return config.d_norm or "batch"

    def build(self):
        c, size, _ = self.image_shape
        G = networks.dcgan_generator(self.nz, size, c)
        D = networks.dcgan_discriminator_parts(size, self.d_input_shape[0], norm=self.critic_norm(self.config))
        for net in (G, D):
            nn.init.dcgan_(net, self.rngs["init"])
        self.add_network("G", G, "G")
        self.add_network("D", D, "D")
