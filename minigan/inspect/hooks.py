"""Watching a model's layers from outside: each leaf layer's ``forward`` wrapped on the instance.

``Module.__call__`` calls ``self.forward``, so an attribute set on one layer object shadows its
class's method for that object only; removing the attribute restores it. No engine file changes,
and nothing stays behind once the ``with`` block ends (even after an exception).
"""

import contextlib
import time

from minigan import backend
from minigan.tensor import Tensor


def leaf_layers(model):
    """[(dotted name, module)] of the modules without children, in registration order (each once)."""
    leaves, seen = [], set()
    for name, m in model.named_modules():
        if not m._modules and id(m) not in seen:
            seen.add(id(m))
            leaves.append((name or type(m).__name__, m))
    return leaves


def synchronize(x):
    """Wait for the GPU to finish when x lives there, so wall-clock times are honest."""
    if isinstance(x, Tensor) and backend.is_gpu_array(x.data):
        backend.cupy.cuda.Device().synchronize()


def _timed(name, layer, forward, on_call):
    def forward_watched(*args, **kwargs):
        start = time.perf_counter()
        y = forward(*args, **kwargs)
        synchronize(y)
        on_call(name, layer, args, y, time.perf_counter() - start)
        return y

    return forward_watched


@contextlib.contextmanager
def watch(model, on_call):
    """Inside the block, ``on_call(name, layer, args, output, seconds)`` follows every leaf layer's forward.

    Args:
        model (Module): the network to watch.
        on_call (callable): receives the layer's dotted name, the layer, its positional inputs,
            its output and the forward's wall-clock seconds.
    """
    leaves = leaf_layers(model)
    for name, layer in leaves:
        object.__setattr__(layer, "forward", _timed(name, layer, layer.forward, on_call))
    try:
        yield leaves
    finally:
        for _, layer in leaves:
            layer.__dict__.pop("forward", None)


@contextlib.contextmanager
def preserved_modes(model):
    """Inside the block the caller may switch train/eval freely; each module's own mode comes back."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        for m, training in modes:
            object.__setattr__(m, "training", training)
