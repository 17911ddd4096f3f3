"""One training step, watched layer by layer: time, activations, gradients.

Forward: every leaf layer's ``forward`` is wrapped (``hooks.watch``): its wall-clock time, and
for its first call in the step (D's first call is on the real batch) the statistics of its
output. Backward: the Functions a layer created are found by walking from its output back to
its inputs; each one's ``backward`` is wrapped on the instance, so the time of the backward
pass is charged to the layer whose forward created the op, and the gradients it hands to the
layer's parameters are summed: their norm is the gradient the optimizer sees in this step.
The losses (roots of ``backward()``) are caught by wrapping ``minigan.backward.run_backward``
for the duration of the step, so ``write_dot`` can draw the step's graph afterwards.
"""

import contextlib
import time

import numpy as np

from minigan import backend, backward, nn, optim
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.inspect.hooks import leaf_layers, synchronize, watch
from minigan.tensor import Tensor


def activation_stats(layer, y):
    """mean, std, min, max of a layer's output; dead: share of units <= 0 for the whole batch (ReLU)."""
    a = backend.to_cpu(y.data).astype(np.float64)
    stats = {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max()),
             "dead": None}
    if isinstance(layer, nn.ReLU):
        stats["dead"] = float(np.mean(np.all(a.reshape(len(a), -1) <= 0, axis=0)))
    return stats


def functions_between(y, inputs, claimed):
    """The Functions that made ``y`` from ``inputs`` (not yet claimed by an earlier layer)."""
    stop = {id(t) for t in inputs if isinstance(t, Tensor)}
    fns, stack = [], [y]
    while stack:
        t = stack.pop()
        fn = t.creator
        if id(t) in stop or fn is None or id(fn) in claimed:
            continue
        claimed.add(id(fn))
        fns.append(fn)
        stack.extend(fn.inputs)
    return fns


class StepRecorder:
    """Collects, per (network, layer), forward/backward seconds, output stats and parameter gradients."""

    def __init__(self):
        self.rows, self.grads, self.owner, self.claimed = {}, {}, {}, set()

    def watcher(self, tag):
        """The ``on_call`` for ``hooks.watch`` of the network called ``tag``."""
        def on_call(name, layer, args, y, seconds):
            row = self.rows.get((tag, name))
            if row is None:
                row = self.rows[(tag, name)] = {"net": tag, "name": name, "type": type(layer).__name__,
                                                "calls": 0, "forward_s": 0.0, "backward_s": 0.0,
                                                "output_shape": tuple(y.shape), **activation_stats(layer, y)}
            row["calls"] += 1
            row["forward_s"] += seconds
            for p in layer._parameters.values():
                if p is not None:
                    self.owner[id(p)] = (tag, name)
            for fn in functions_between(y, args, self.claimed):
                self._watch_backward(fn, row)
        return on_call

    def _watch_backward(self, fn, row):
        backward = fn.backward

        def backward_watched(*gys):
            start = time.perf_counter()
            gxs = backward(*gys)
            grads = gxs if isinstance(gxs, tuple) else (gxs,)
            for x, gx in zip(fn.inputs, grads):
                if gx is not None and x.requires_grad and id(x) in self.owner:
                    self.grads[id(x)] = gx if id(x) not in self.grads else self.grads[id(x)] + gx
            if grads and grads[0] is not None and backend.is_gpu_array(grads[0]):
                backend.cupy.cuda.Device().synchronize()
            row["backward_s"] += time.perf_counter() - start
            return gxs

        fn.backward = backward_watched  # an instance attribute shadows the class's method

    def grad_norms(self):
        """{(net, layer): L2 norm of the summed gradients of the layer's parameters}."""
        squares = {}
        for pid, g in self.grads.items():
            key = self.owner[pid]
            squares[key] = squares.get(key, 0.0) + float((backend.to_cpu(g).astype(np.float64) ** 2).sum())
        return {k: v ** 0.5 for k, v in squares.items()}


@contextlib.contextmanager
def caught_backward_roots(roots):
    """Inside the block, every tensor ``backward()`` is called on is appended to ``roots``; the block
    gets a one-element list holding the seconds spent in those backward passes."""
    original, roots_time = backward.run_backward, [0.0]

    def run_backward(root, grad, retain_graph=False, create_graph=False):
        roots.append(root)
        start = time.perf_counter()
        original(root, grad, True, create_graph)  # kept: --graph draws it after the step (Note [freed graph])
        synchronize(root)
        roots_time[0] += time.perf_counter() - start

    backward.run_backward = run_backward
    try:
        yield roots_time
    finally:
        backward.run_backward = original


def infer_nz(G):
    """The noise size a generator takes, read from its first layer (Linear or Unflatten)."""
    first = leaf_layers(G)[0][1]
    if isinstance(first, nn.Linear):
        return first.in_features
    if isinstance(first, nn.Unflatten) and -1 not in first.unflattened_size:
        return int(np.prod(first.unflattened_size))
    raise MiniganError(f"cannot tell the noise size of a generator starting with {type(first).__name__}; pass nz=.")


def gan_step(G, D, nz, seed=0, lr=2e-4, betas=(0.5, 0.999)):
    """A plain GAN step (non-saturating BCE, Adam) as a function of (real, labels): host arrays,
    moved to G's device with the noise (drawn on the host: the same on the CPU and the GPU)."""
    opt_G, opt_D = optim.Adam(G.parameters(), lr, betas), optim.Adam(D.parameters(), lr, betas)
    rng = np.random.default_rng(seed)
    bce = F.binary_cross_entropy_with_logits
    device = backend.device_of(G.parameters()[0].data)

    def step(real, labels=None):
        real = backend.to_device(real, device)
        extra = () if labels is None else (backend.to_device(labels, device),)
        z = backend.to_device(rng.standard_normal((len(real), nz), dtype=np.float32), device)
        fake = G(Tensor(z), *extra)
        loss_D = bce(D(Tensor(real), *extra), 1.0) + bce(D(fake.detach(), *extra), 0.0)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        D.requires_grad_(False)  # D is a fixed function in G's step
        try:
            loss_G = bce(D(fake, *extra), 1.0)
            opt_G.zero_grad()
            loss_G.backward()
        finally:
            D.requires_grad_(True)
        opt_G.step()
        return {"loss_D": loss_D.item(), "loss_G": loss_G.item()}

    return step


def step_report(G, D, batch, labels=None, step=None, nz=None, seed=0):
    """Run ONE training step of (G, D) on ``batch`` and report every layer.

    Args:
        G, D (Module): the networks (in training mode; their parameters are updated).
        batch (numpy.ndarray): real images (n, c, h, w), n >= 2.
        labels (numpy.ndarray or None): their labels, for a conditional step.
        step (callable or None): ``step(batch, labels)`` running the step, e.g. a Trainer's
            ``train_step``; None runs ``gan_step`` (non-saturating BCE, Adam 2e-4, beta1 0.5).
        nz (int or None): noise size for the default step (None: read from G).
        seed (int): the default step's noise.
    Returns:
        dict: rows (per layer: net, name, type, calls, forward_s, backward_s, output_shape, mean,
        std, min, max, dead, grad_norm), losses, step_s, backward_s (all backward passes), and
        roots (the loss tensors, for ``write_dot``).
    """
    return watched_step({"G": G, "D": D}, batch, labels, step or gan_step(G, D, nz or infer_nz(G), seed))


def watched_step(networks, batch, labels, step):
    """``step(batch, labels)`` with every network of ``networks`` ({name: Module}) watched.

    Returns:
        dict: as ``step_report``.
    """
    recorder, roots = StepRecorder(), []
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        for name, net in networks.items():
            stack.enter_context(watch(net, recorder.watcher(name)))
        bwd = stack.enter_context(caught_backward_roots(roots))
        losses = step(batch, labels)
    step_s = time.perf_counter() - start
    norms = recorder.grad_norms()
    rows = list(recorder.rows.values())
    for row in rows:
        row["grad_norm"] = norms.get((row["net"], row["name"]))
    losses = {k: float(backend.to_cpu(v)) for k, v in losses.items()}
    return {"rows": rows, "losses": losses, "step_s": step_s, "backward_s": bwd[0], "roots": roots}


def format_step_report(report):
    """The step report as a text table, one line per layer, then the totals."""
    width = max([len(r["name"]) for r in report["rows"]] + [5])
    net = max([len(r["net"]) for r in report["rows"]] + [3])
    header = (f"{'net':<{net}} {'layer':<{width}} {'type':<16}{'calls':>5}{'fwd ms':>9}{'bwd ms':>9}"
              f"{'mean':>10}{'std':>10}{'min':>10}{'max':>10}{'dead':>7}{'|grad|':>11}")
    lines = [header]
    for r in report["rows"]:
        dead = "" if r["dead"] is None else f"{r['dead']:.0%}"
        grad = "" if r["grad_norm"] is None else f"{r['grad_norm']:.3e}"
        lines.append(f"{r['net']:<{net}} {r['name']:<{width}} {r['type']:<16}{r['calls']:>5}"
                     f"{r['forward_s'] * 1e3:9.2f}{r['backward_s'] * 1e3:9.2f}{r['mean']:10.4f}{r['std']:10.4f}"
                     f"{r['min']:10.4f}{r['max']:10.4f}{dead:>7}{grad:>11}")
    fwd = sum(r["forward_s"] for r in report["rows"])
    bwd = sum(r["backward_s"] for r in report["rows"])
    losses = "  ".join(f"{k} {v:.4f}" for k, v in report["losses"].items())
    lines.append(f"layers: forward {fwd * 1e3:.1f} ms, backward {bwd * 1e3:.1f} ms of {report['backward_s'] * 1e3:.1f} "
                 f"ms in backward() (the rest: losses and glue); whole step {report['step_s'] * 1e3:.1f} ms.")
    lines.append(f"losses: {losses}.  dead: share of a ReLU's units that are 0 for the whole batch; "
                 f"|grad|: L2 norm of the layer's parameter gradients in this step.")
    return "\n".join(lines)
