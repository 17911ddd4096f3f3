"""Floor 3: the Function base class, grad mode, and the backward walk.

A Function works on raw arrays (NumPy or CuPy). ``__call__`` unwraps the input
Tensors, runs ``forward``, wraps the outputs and, when a gradient is wanted, links
them to this Function so that ``Tensor.backward`` can walk the tape back.

Gradients are first order only: ``backward`` returns raw arrays, not Tensors, so a
gradient is never itself differentiable.
"""

import contextlib
import heapq
import weakref

from minigan import backend
from minigan.errors import MiniganError
from minigan.tensor import Tensor

_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


@contextlib.contextmanager
def no_grad():
    """Inside this block no graph is recorded (sampling, evaluation, optimizer steps)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


class Function:
    """One differentiable operation: ``forward`` and ``backward`` on raw arrays.

    Subclasses implement ``forward(*xs) -> y or tuple`` and ``backward(*gys) -> gx or
    tuple`` (one entry per input, None where no gradient is needed; consult
    ``self.needs_input_grad`` to skip work).
    """

    saved = ()
    needs_input_grad = ()

    def __call__(self, *inputs):
        inputs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
        if backend.cupy is not None and len(inputs) > 1:
            _check_same_device(self, inputs)
        ys = self.forward(*[x.data for x in inputs])
        many = isinstance(ys, tuple)
        ys = ys if many else (ys,)
        needs = _grad_enabled and any(x.requires_grad for x in inputs)
        outputs = tuple(Tensor(y, requires_grad=needs) for y in ys)
        if needs:
            self.needs_input_grad = tuple(x.requires_grad for x in inputs)
            self.inputs = inputs
            self.generation = max(x.generation for x in inputs)
            self.outputs = [weakref.ref(y) for y in outputs]
            for y in outputs:
                y.creator = self
                y.generation = self.generation + 1
        else:
            self.saved = ()  # nothing will call backward: let the arrays go
        return outputs if many else outputs[0]

    def save_for_backward(self, *arrays):
        self.saved = arrays

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    def __lt__(self, other):  # heap order: later generation first
        return self.generation > other.generation


def _check_same_device(fn, inputs):
    devices = {backend.device_of(x.data) for x in inputs}
    if len(devices) > 1:
        raise MiniganError(
            f"{type(fn).__name__} got arrays on both the CPU and the GPU; move them to one "
            "device first (Tensor.to_gpu() / Tensor.to_cpu(), Module.to_gpu())."
        )


def run_backward(root, grad, retain_graph=False):
    """Walk the graph from ``root`` back to the leaves, accumulating leaf ``.grad``.

    Functions are visited in decreasing generation, so a Function runs only after
    every consumer of its outputs has delivered its gradient. Intermediate
    gradients live in a local dict and are dropped once used; only leaves keep
    ``.grad`` (like PyTorch).
    """
    pending = {id(root): grad}
    if root.creator is None:
        _accumulate(root, grad)
        return
    heap, seen = [root.creator], {id(root.creator)}
    while heap:
        fn = heapq.heappop(heap)
        if fn.saved is None:
            raise MiniganError(
                "backward() through a graph that was already freed; pass retain_graph=True "
                "to the first backward() to call it twice."
            )
        gys = []
        for ref in fn.outputs:
            y = ref()
            gy = pending.pop(id(y), None) if y is not None else None
            gys.append(gy)
        if all(g is None for g in gys):
            continue
        if len(gys) > 1:
            xp = backend.get_array_module(fn.inputs[0].data)
            gys = [g if g is not None else xp.zeros_like(r().data) for g, r in zip(gys, fn.outputs)]
        gxs = fn.backward(*gys)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        for x, gx in zip(fn.inputs, gxs):
            if gx is None or not x.requires_grad:
                continue
            if x.creator is None:
                _accumulate(x, gx)
                continue
            key = id(x)
            pending[key] = gx if key not in pending else pending[key] + gx
            if id(x.creator) not in seen:
                seen.add(id(x.creator))
                heapq.heappush(heap, x.creator)
        if not retain_graph:
            fn.saved = None


def _accumulate(leaf, gx):
    if gx.shape != leaf.data.shape:
        raise MiniganError(f"gradient of shape {gx.shape} for a tensor of shape {leaf.data.shape}")
    leaf.grad = gx if leaf.grad is None else leaf.grad + gx
