"""Floor 3: the Function base class and grad mode (the walk over Functions is in backward.py).

A Function works on raw arrays (NumPy or CuPy). ``__call__`` unwraps the input
Tensors, runs ``forward``, wraps the outputs and, when a gradient is wanted, links
them to this Function so that ``Tensor.backward`` and ``minigan.grad`` can walk
the tape back.

Note [second order]: every Function has two backward passes that compute the same
numbers.

- ``backward(*gys)`` works on raw arrays and may call fused kernels: the first-order
  path, as fast as the engine goes, with no Tensor or Function made per op.
- ``backward_graph(*gys)`` is its differentiable twin: it takes and returns Tensors
  and is written with the ops of ``minigan.functional`` (reading the inputs as
  ``self.inputs``), so the backward pass is itself recorded as a graph and a gradient
  can be differentiated again -- to any order, since the ops the twins use have
  twins of their own. Where a backward needs a kernel of its own (conv2d's weight
  gradient), that kernel is an op too (``Conv2dGradW``), as in Chainer v3.

``backward(create_graph=False)`` (the default) runs only ``backward``;
``create_graph=True`` runs only ``backward_graph``, in grad mode. The twins are
proven equal to the array backward for every entry of the gradcheck catalogue
(``minigan.gradcheck.gradgradcheck``), and their own gradients are checked by finite
differences. A linear op with one input (reshape, sum, get_item, pooling...) needs
no hand-written twin: its backward, as an op (``Adjoint``), has the op's forward as
its own backward. An op without a twin refuses ``create_graph`` with its name.
"""

import contextlib
import copy
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
    with _grad_mode(False):
        yield


@contextlib.contextmanager
def enable_grad():
    """Record graphs again inside a ``no_grad`` block (finite-difference checks of gradients)."""
    with _grad_mode(True):
        yield


@contextlib.contextmanager
def _grad_mode(enabled):
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, enabled
    try:
        yield
    finally:
        _grad_enabled = previous


class Function:
    """One differentiable operation: ``forward`` and ``backward`` on raw arrays.

    Subclasses implement ``forward(*xs) -> y or tuple`` and ``backward(*gys) -> gx or
    tuple`` (one entry per input, None where no gradient is needed; consult
    ``self.needs_input_grad`` to skip work), and ``backward_graph``, the same
    gradients written with differentiable ops on Tensors (Note [second order]).
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

    def release(self):
        """Called by a backward walk that frees the graph (retain_graph False), once this Function's
        gradients are sent: drop what it saved and its hold on the input Tensors (Note [freed graph])."""
        self.saved = None
        self.inputs = [x if x.creator is None and x.requires_grad else FreedInput(x) for x in self.inputs]

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    def backward_graph(self, *gys):
        """The gradients of ``backward`` as Tensors built from differentiable ops."""
        raise MiniganError(
            f"{type(self).__name__} has no second derivative in minigan: a create_graph=True "
            "backward (a gradient penalty, an unrolled step) cannot pass through it."
        )

    def __lt__(self, other):  # heap order: later generation first
        return self.generation > other.generation


class FreedInput:
    """What a walked Function keeps of an input once the walk freed the graph (an input made by another
    Function, or a constant): its place in the graph (creator, requires_grad, shape), not its array.

    Note [freed graph]
        A Function holds its input Tensors (``self.inputs``), so a Tensor kept after backward -- a loss
        stored for logging, as ``losses.append(loss)`` -- would keep every activation of its graph
        alive until it is dropped: a whole step's activations, carried into the next step. PyTorch's
        graph nodes hold no tensors, only what they saved, and its backward frees that. So does
        minigan's: a backward without retain_graph calls ``release`` on every Function it ran, which
        drops the saved arrays and swaps each non-leaf input for this stand-in; the graph's shape stays
        (``creator`` links, so a second backward through it still says that the graph was freed) and its
        arrays go as soon as nothing else holds their Tensors. Measured: dcgan64's benchmark step, which
        keeps its two losses, held 266 MiB of the last step's activations into the next one (tracemalloc).
        Leaves that want a gradient (parameters) are kept: they are alive anyway, and ``minigan.grad``
        finds them by identity. ``retain_graph=True`` keeps it all
        (``minigan inspect --graph`` draws the graph after the step's backward that way).
    """

    __slots__ = ("creator", "requires_grad", "shape", "name")  # what the walk and inspect.to_dot read

    def __init__(self, x):
        self.creator, self.requires_grad, self.shape, self.name = x.creator, x.requires_grad, tuple(x.shape), x.name


class Adjoint(Function):
    """The backward of a linear one-input op, recorded as an op (Note [second order]).

    For y = L x, backward is gx = L^T gy, which is linear in gy; its own backward is
    L again, i.e. the op's forward. A shallow copy of the op keeps its saved shapes
    alive after the walk frees the original.
    """

    def __init__(self, op):
        self.op = copy.copy(op)

    def forward(self, gy):
        return self.op.backward(gy)

    def backward(self, ggx):
        return copy.copy(self.op).forward(ggx)

    def backward_graph(self, ggx):
        return copy.copy(self.op)(ggx)


class LinearFunction(Function):
    """A one-input op that is linear in its input: its twin is ``Adjoint``."""

    def backward_graph(self, gy):
        return Adjoint(self)(gy)


def _check_same_device(fn, inputs):
    devices = {backend.device_of(x.data) for x in inputs}
    if len(devices) > 1:
        raise MiniganError(
            f"{type(fn).__name__} got arrays on both the CPU and the GPU; move them to one "
            "device first (Tensor.to_gpu() / Tensor.to_cpu(), Module.to_gpu())."
        )
