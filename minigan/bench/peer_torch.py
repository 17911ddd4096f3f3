"""The PyTorch side of the benchmark: the identical models, the identical step, and a weight copier.

``torch_models`` is shared/bench/torch_dcgan_step.py's definition, layer for layer, so the
``state_dict`` names of a minigan benchmark model and of its PyTorch twin are the same
("0.weight", "2.running_mean", ...). ``copy_weights`` relies on that; the tests use it to show
that both forward passes agree, which is what makes the timing comparison a fair one.

Importing this module imports torch: the rest of ``minigan.bench`` imports it only on demand.
"""

import torch
from torch import nn as tnn

from minigan import backend
from minigan.bench.step import NZ, LayerCase
from minigan.errors import MiniganError


def dcgan28(nz=NZ):
    G = tnn.Sequential(
        tnn.Linear(nz, 128 * 7 * 7), tnn.Unflatten(1, (128, 7, 7)), tnn.BatchNorm2d(128), tnn.ReLU(True),
        tnn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU(True),
        tnn.ConvTranspose2d(64, 1, 4, 2, 1, bias=False), tnn.Tanh())
    D = tnn.Sequential(
        tnn.Conv2d(1, 64, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2, True),
        tnn.Conv2d(64, 128, 4, 2, 1, bias=False), tnn.BatchNorm2d(128), tnn.LeakyReLU(0.2, True),
        tnn.Flatten(), tnn.Linear(128 * 7 * 7, 1))
    return G, D, (1, 28, 28)


def dcgan64(nz=NZ, ngf=64, ndf=64, nc=1):
    def up(c_in, c_out):
        return [tnn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), tnn.BatchNorm2d(c_out), tnn.ReLU(True)]

    def down(c_in, c_out):
        return [tnn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), tnn.BatchNorm2d(c_out), tnn.LeakyReLU(0.2, True)]

    G = tnn.Sequential(
        tnn.Unflatten(1, (nz, 1, 1)),
        tnn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), tnn.BatchNorm2d(ngf * 8), tnn.ReLU(True),
        *up(ngf * 8, ngf * 4), *up(ngf * 4, ngf * 2), *up(ngf * 2, ngf),
        tnn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), tnn.Tanh())
    D = tnn.Sequential(
        tnn.Conv2d(nc, ndf, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2, True),
        *down(ndf, ndf * 2), *down(ndf * 2, ndf * 4), *down(ndf * 4, ndf * 8),
        tnn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), tnn.Flatten())
    return G, D, (nc, 64, 64)


def torch_models(arch):
    """(G, D, image shape) of the PyTorch twin of ``networks.benchmark_models(arch)``."""
    builders = {"dcgan28": dcgan28, "dcgan64": dcgan64}
    if arch not in builders:
        raise MiniganError(f"unknown benchmark model {arch!r}; use dcgan28 or dcgan64.")
    return builders[arch]()


def copy_weights(module, torch_module):
    """Copy a minigan module's parameters and buffers into a PyTorch module of the same structure.

    Entries are matched by ``state_dict`` name (PyTorch's ``num_batches_tracked`` has no
    counterpart and is left alone); both must hold the same names and shapes.

    Args:
        module (minigan.nn.Module): the source, on the CPU or the GPU.
        torch_module (torch.nn.Module): the destination, on any device.
    Returns:
        torch_module.
    """
    source, target = module.state_dict(), torch_module.state_dict()
    missing = [k for k in source if k not in target]
    extra = [k for k in target if k not in source and not k.endswith("num_batches_tracked")]
    shapes = [f"{k} {tuple(a.shape)} != {tuple(target[k].shape)}" for k, a in source.items()
              if k in target and tuple(a.shape) != tuple(target[k].shape)]
    if missing or extra or shapes:
        raise MiniganError(f"copy_weights: the modules differ -- only in minigan: {missing}, "
                           f"only in PyTorch: {extra}, shapes: {shapes}.")
    with torch.no_grad():
        for key, array in source.items():
            target[key].copy_(torch.from_numpy(backend.to_cpu(array).copy()))
    return torch_module


class TorchSide:
    """PyTorch's G, D, optimizers and data: the step of torch_dcgan_step.py.

    Args:
        arch, batch, device ('cpu' or 'gpu'), seed: as for ``MiniganSide``.
        tf32 (bool): GPU only, sets torch.backends.cuda.matmul.allow_tf32 and cudnn.allow_tf32.
        source: optional (G, D) minigan modules whose weights to start from (identical models).
    """

    name = "torch"

    def __init__(self, arch, batch, device="cpu", seed=0, tf32=False, source=None):
        torch.manual_seed(seed)
        self.dev = torch.device("cuda" if device == "gpu" else "cpu")
        if self.dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        self.G, self.D, shape = torch_models(arch)
        if source is not None:
            copy_weights(source[0], self.G)
            copy_weights(source[1], self.D)
        self.G.to(self.dev)
        self.D.to(self.dev)
        self.batch, self.device = batch, device
        self.optD = torch.optim.Adam(self.D.parameters(), 2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.G.parameters(), 2e-4, betas=(0.5, 0.999))
        self.bce = tnn.BCEWithLogitsLoss()
        self.real = torch.rand(batch, *shape, device=self.dev) * 2 - 1
        self.ones = torch.ones(batch, 1, device=self.dev)
        self.zeros = torch.zeros(batch, 1, device=self.dev)
        self.losses = None

    def step(self):
        z = torch.randn(self.batch, NZ, device=self.dev)
        fake = self.G(z)
        self.optD.zero_grad(set_to_none=True)
        loss_d = self.bce(self.D(self.real), self.ones) + self.bce(self.D(fake.detach()), self.zeros)
        loss_d.backward()
        self.optD.step()
        self.optG.zero_grad(set_to_none=True)
        loss_g = self.bce(self.D(fake), self.ones)
        loss_g.backward()
        self.optG.step()
        self.losses = (loss_d, loss_g)

    def sync(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize()

    def launches(self):
        return None

    # -- per-layer hooks (see MiniganSide) -------------------------------------------
    def layer_cases(self):
        cases = []
        with torch.no_grad():
            z = torch.randn(self.batch, NZ, device=self.dev)
            for prefix, net, x in (("G", self.G, z), ("D", self.D, self.real)):
                for i, layer in enumerate(net):
                    cases.append(LayerCase(f"{prefix}.{i}", layer, x.clone()))  # in-place layers follow
                    x = layer(x)
        return cases

    def layer_input(self, x):
        # A non-leaf copy: the in-place ReLUs may write to it, and the gradient still reaches a leaf.
        return x.clone().requires_grad_(True).clone()

    def forward(self, layer, x):
        return layer(x)

    def zero_grad(self, layer):
        layer.zero_grad(set_to_none=True)

    def backward(self, y, gy):
        y.backward(gy)

    def grad_like(self, y, rng):
        return torch.from_numpy(rng.standard_normal(tuple(y.shape)).astype("float32")).to(self.dev)

    def output_shape(self, y):
        return tuple(y.shape)
