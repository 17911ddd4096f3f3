"""The minigan side of the benchmark: one DCGAN training step, and the clock around it.

The step is exactly the one of the PyTorch reference (shared/bench/torch_dcgan_step.py):

    z ~ N(0, 1) (n, 100), drawn each step from a seeded Generator; fake = G(z)
    D.zero_grad(); lossD = bce_logits(D(real), 1) + bce_logits(D(fake.detach()), 0); backward; Adam on D
    G.zero_grad(); lossG = bce_logits(D(fake), 1); backward; Adam on G

with Adam(lr 2e-4, betas (0.5, 0.999)) and a fixed batch ``real`` uniform in [-1, 1].

A *side* is anything with ``name``, ``step()``, ``sync()`` and the per-layer hooks below
(``layer_cases``, ``layer_input``, ``forward``, ``zero_grad``, ``backward``, ``grad_like``); ``peer_torch.TorchSide``
is the other one. Timing code only ever talks to that interface.
"""

import statistics
import time

import numpy as np

from minigan import backend, optim
from minigan import functional as F
from minigan import nn
from minigan.function import no_grad
from minigan.gan import networks
from minigan.tensor import Tensor

NZ = 100
DEFAULT_BATCH = {"dcgan28": 128, "dcgan64": 64}


def precision_label(device, tf32):
    """How float32 GEMMs run: 'fp32' on the CPU, 'fp32 (strict)' or 'tf32' on the GPU."""
    if device == "cpu":
        return "fp32"
    return "tf32" if tf32 else "fp32 (strict)"


def set_cupy_tf32(enabled):
    """Let (or forbid) CuPy's float32 matmuls use TF32 tensor cores; returns a note on failure."""
    import os

    os.environ["CUPY_TF32"] = "1" if enabled else "0"  # read at the first float32 matmul
    try:
        from cupy._core import _routines_linalg as linalg

        mode = getattr(linalg, "COMPUTE_TYPE_TF32", 7) if enabled else getattr(linalg, "COMPUTE_TYPE_DEFAULT", 1)
        linalg.set_compute_type(np.float32, mode)
    except Exception as e:  # a CuPy without this private hook: the environment variable still applies
        return f"could not set CuPy's compute type directly ({e}); relied on CUPY_TF32"
    return None


class LayerCase:
    """One layer and the input it receives in the real step."""

    def __init__(self, name, layer, x):
        self.name, self.layer, self.x = name, layer, x


class MiniganSide:
    """minigan's G, D, optimizers and data for one benchmark model.

    Args:
        arch (str): 'dcgan28' or 'dcgan64'.
        batch (int): images per step.
        device (str): 'cpu' or 'gpu'.
        seed (int): seeds the weights, the fixed real batch and the noise Generator.
        tf32 (bool): GPU only, let CuPy's GEMMs use TF32.
    """

    name = "minigan"

    def __init__(self, arch, batch, device="cpu", seed=0, tf32=False):
        if device == "gpu":
            backend.require_gpu()
            self.tf32_note = set_cupy_tf32(tf32)
        rng = np.random.default_rng(seed)
        self.G, self.D, shape = networks.benchmark_models(arch, NZ)
        for net in (self.G, self.D):
            nn.init.reset_parameters(net, rng)  # PyTorch's default init, drawn from our seed
            net.to(device)
        self.arch, self.batch, self.device, self.shape = arch, batch, device, shape
        self.xp = backend.cupy if device == "gpu" else np
        self.optD = optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        real = rng.uniform(-1, 1, (batch,) + shape).astype(np.float32)
        self.real = Tensor(backend.to_device(real, device))
        self.ones = Tensor(self.xp.ones((batch, 1), dtype=np.float32))
        self.zeros = Tensor(self.xp.zeros((batch, 1), dtype=np.float32))
        self.noise = self.xp.random.default_rng(seed + 1)
        self.losses = None

    def draw_z(self):
        return Tensor(self.noise.standard_normal((self.batch, NZ), dtype=np.float32))

    def step(self):
        """One D step and one G step; keeps the two loss Tensors in ``self.losses``."""
        fake = self.G(self.draw_z())
        self.D.zero_grad()
        loss_d = (F.binary_cross_entropy_with_logits(self.D(self.real), self.ones)
                  + F.binary_cross_entropy_with_logits(self.D(fake.detach()), self.zeros))
        loss_d.backward()
        self.optD.step()
        self.G.zero_grad()
        loss_g = F.binary_cross_entropy_with_logits(self.D(fake), self.ones)
        loss_g.backward()
        self.optG.step()
        self.losses = (loss_d, loss_g)

    def sync(self):
        if self.device == "gpu":
            backend.cupy.cuda.Device().synchronize()

    def launches(self):
        """minigan's own CUDA kernel launches so far (minigan.cuda.launches), or None."""
        if self.device != "gpu":
            return None
        from minigan import cuda

        return getattr(cuda, "launches", None)

    # -- per-layer hooks ------------------------------------------------------------
    def layer_cases(self):
        """Every layer of G (fed from z) and of D (fed the real batch) with its input."""
        cases = []
        with no_grad():
            for prefix, net, x in (("G", self.G, self.draw_z()), ("D", self.D, self.real)):
                for i, layer in enumerate(net):
                    cases.append(LayerCase(f"{prefix}.{i}", layer, x.data))
                    x = layer(x)
        return cases

    def layer_input(self, x):
        return Tensor(x, requires_grad=True)

    def forward(self, layer, x):
        return layer(x)

    def zero_grad(self, layer):
        layer.zero_grad()

    def backward(self, y, gy):
        y.backward(gy)

    def grad_like(self, y, rng):
        return backend.to_device(rng.standard_normal(y.shape).astype(np.float32), self.device)

    def output_shape(self, y):
        return tuple(y.shape)


# Note [clocks]
#   wall: elapsed time, what a user waits for -- but on a shared machine other processes
#         stretch it, parallel regions most of all (a thread that lost its core stalls the rest).
#   cpu:  CPU seconds of this process, all threads together (time.process_time). With one
#         thread it is the work itself, unmoved by other load; with more it also counts the
#         time threads spend spinning while they wait. CPU side only (GPU work is not counted).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(fn, sync, clock="wall"):
    """Seconds ``fn()`` takes on ``clock`` (Note [clocks]), the device synchronized before and after."""
    now = CLOCKS[clock]
    sync()
    start = now()
    fn()
    sync()
    return now() - start


def alternate(sides, steps, warmup, clock="wall"):
    """Run the sides' steps A B A B ..., untimed ``warmup`` rounds first.

    Returns:
        dict side name -> list of seconds per timed step.
    """
    for _ in range(warmup):
        for side in sides:
            side.step()
            side.sync()
    times = {side.name: [] for side in sides}
    for _ in range(steps):
        for side in sides:
            times[side.name].append(timed(side.step, side.sync, clock))
    return times


def summarize(seconds, batch):
    """Median and min ms/step and images/s of a list of step times."""
    median = statistics.median(seconds)
    return {"ms_median": 1000 * median, "ms_min": 1000 * min(seconds), "images_per_s": batch / median,
            "ms_all": [1000 * s for s in seconds]}
