"""Floor 3: the backward walk -- ``Tensor.backward`` and ``minigan.grad``.

The graph is the Functions of function.py linked through their input Tensors. The walk
visits them in decreasing generation, each once, after all its outputs' consumers; with
``create_graph`` it calls each Function's differentiable twin instead of its array
backward, in grad mode, so that the gradients are themselves recorded (Note [second order]
in function.py).
"""

import contextlib
import heapq

from minigan import backend
from minigan.errors import MiniganError
from minigan.function import _grad_mode
from minigan.tensor import Tensor


def run_backward(root, grad, retain_graph=False, create_graph=False):
    """``root.backward()``: accumulate d(root)/d(leaf) into every leaf's ``.grad``.

    ``grad`` is a raw array, or a Tensor when ``create_graph`` records the walk.
    """
    walk([root], [grad], retain_graph, create_graph)


def walk(roots, grads, retain_graph=False, create_graph=False, targets=None):
    """Walk the graph from ``roots`` back, one Function at a time.

    Functions are visited in decreasing generation, so a Function runs only after
    every consumer of its outputs has delivered its gradient. Intermediate gradients
    live in a local dict and are dropped once used.

    Args:
        roots, grads: output Tensors and their upstream gradients (raw arrays, or
            Tensors when ``create_graph``).
        targets: None to accumulate into the leaves' ``.grad`` (``backward()``); else a
            list of Tensors whose gradients are returned, leaving ``.grad`` untouched
            (``minigan.grad``). Only the Functions that lead to a target run, and each
            computes only the input gradients on such a path.
    Returns:
        With ``targets``: a dict id(target) -> its gradient (missing when unreached).
    """
    captured = {} if targets is not None else None
    target_ids = {id(t) for t in targets} if targets is not None else None
    useful = _leading_to(roots, target_ids) if targets is not None else None
    pending, heap, seen = {}, [], set()

    def send(x, gx):  # a leaf (or a tensor no target lies behind) keeps gx; else x's creator will run
        fn = x.creator
        if fn is None or (useful is not None and id(fn) not in useful):
            if targets is None:
                _accumulate(x, gx, create_graph)
            else:
                _deliver(x, gx, None, captured, target_ids)
            return
        _deliver(x, gx, pending, captured, target_ids)
        if id(fn) not in seen:
            seen.add(id(fn))
            heapq.heappush(heap, fn)

    walked = []
    with _grad_mode(True) if create_graph else contextlib.nullcontext():
        for root, grad in zip(roots, grads):
            send(root, grad)
        while heap:
            fn = heapq.heappop(heap)
            gxs = _run_one(fn, pending, create_graph, useful, target_ids)
            if not retain_graph:
                fn.saved = None
                walked.append(fn)
            for x, gx in zip(fn.inputs, gxs or ()):
                if gx is not None and x.requires_grad:
                    send(x, gx)
    # only now: a pending gradient is found through its tensor's identity, so each input
    # must live until its creator has run (Note [freed graph] in function.py)
    for fn in walked:
        fn.release()
    return captured


def _run_one(fn, pending, create_graph, useful, target_ids):
    """Call one Function's backward (or its twin) on its outputs' gradients."""
    if fn.saved is None:
        raise MiniganError(
            "backward through a graph that was already freed; pass retain_graph=True "
            "to the first backward() (or grad()) to go through it twice."
        )
    gys = []
    for ref in fn.outputs:
        y = ref()
        gys.append(pending.pop(id(y), None) if y is not None else None)
    if all(g is None for g in gys):
        return None
    if len(gys) > 1:
        xp = backend.get_array_module(fn.inputs[0].data)
        zeros = [xp.zeros_like(r().data) if r() is not None else None for r in fn.outputs]
        gys = [g if g is not None else (Tensor(z) if create_graph else z) for g, z in zip(gys, zeros)]
    everything = fn.needs_input_grad
    if useful is not None:  # minigan.grad: skip the gradients no target needs
        fn.needs_input_grad = tuple(
            need and (id(x) in target_ids or (x.creator is not None and id(x.creator) in useful))
            for need, x in zip(everything, fn.inputs)
        )
    try:
        gxs = fn.backward_graph(*gys) if create_graph else fn.backward(*gys)
    finally:
        fn.needs_input_grad = everything
    return gxs if isinstance(gxs, tuple) else (gxs,)


def _deliver(x, gx, pending, captured, target_ids):
    """Add gx to x's pending gradient, and to its captured one when x is a target."""
    if captured is not None and id(x) in target_ids:
        captured[id(x)] = gx if id(x) not in captured else captured[id(x)] + gx
    if pending is not None:
        key = id(x)
        pending[key] = gx if key not in pending else pending[key] + gx


def _leading_to(roots, target_ids):
    """ids of the Functions from which some target can be reached through inputs."""
    useful, state = set(), {}
    stack = [root.creator for root in roots if root.creator is not None]
    while stack:  # iterative post-order: deep graphs have no recursion limit
        fn = stack[-1]
        if state.get(id(fn)) is None:
            state[id(fn)] = "open"
            stack.extend(x.creator for x in fn.inputs if x.creator is not None and id(x.creator) not in state)
            continue
        stack.pop()
        if state[id(fn)] == "done":
            continue
        state[id(fn)] = "done"
        if any(id(x) in target_ids or (x.creator is not None and id(x.creator) in useful) for x in fn.inputs):
            useful.add(id(fn))
    return useful


def _accumulate(leaf, gx, create_graph):
    if gx.shape != leaf.data.shape:
        raise MiniganError(f"gradient of shape {gx.shape} for a tensor of shape {leaf.data.shape}")
    if create_graph:  # keep the recorded gradient beside the array the optimizers read
        previous = leaf.grad_tensor if leaf.grad_tensor is not None else leaf.grad
        leaf.grad_tensor = gx if previous is None else gx + previous
        leaf.grad = leaf.grad_tensor.data
        return
    leaf.grad = gx if leaf.grad is None else leaf.grad + gx


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``.

    Nothing is accumulated into any ``.grad``. With ``create_graph=True`` the backward
    pass is recorded (Note [second order]), so the returned gradients can be
    differentiated again; a gradient penalty is ``grad(D(x).sum(), x, create_graph=True)``.

    Args:
        outputs (Tensor or sequence of Tensor): what to differentiate.
        inputs (Tensor or sequence of Tensor): with respect to what; leaves or not.
        grad_outputs: upstream gradients, one per output (Tensor or array); may be
            omitted for outputs of one element (taken as 1).
        retain_graph (bool): keep the graph for another backward; defaults to
            ``create_graph``.
        create_graph (bool): record the backward pass as differentiable ops.
        allow_unused (bool): return None for an input the outputs do not depend on,
            instead of refusing it.
    Returns:
        tuple of Tensor (or None), one per input.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor) or hasattr(grad_outputs, "shape"):
        grad_outputs = [grad_outputs] * len(outputs) if len(outputs) == 1 else grad_outputs
    grad_outputs = list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise MiniganError(f"grad() got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs.")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise MiniganError(f"grad(): input {i} does not require a gradient; make it with requires_grad=True.")
    grads = [_upstream(y, g, i, create_graph) for i, (y, g) in enumerate(zip(outputs, grad_outputs))]
    retain_graph = create_graph if retain_graph is None else retain_graph
    captured = walk(outputs, grads, retain_graph, create_graph, targets=inputs)
    result = []
    for i, x in enumerate(inputs):
        g = captured.get(id(x))
        if g is None and not allow_unused:
            raise MiniganError(
                f"grad(): input {i} (shape {x.shape}) is not reached from the outputs; "
                "pass allow_unused=True to get None for it."
            )
        result.append(g if g is None or isinstance(g, Tensor) else Tensor(g))
    return tuple(result)


def _upstream(y, g, i, create_graph):
    """The upstream gradient of output i: a raw array, or a Tensor when recording."""
    if not isinstance(y, Tensor) or not y.requires_grad:
        raise MiniganError(f"grad(): output {i} does not depend on any tensor that requires a gradient.")
    if g is None:
        if y.size != 1:
            raise MiniganError(
                f"grad(): output {i} has shape {y.shape}; pass grad_outputs= of that shape, "
                "or reduce it to a scalar first (e.g. .sum())."
            )
        g = backend.get_array_module(y.data).ones_like(y.data)
    g_data = g.data if isinstance(g, Tensor) else backend.get_array_module(y.data).asarray(g, dtype=y.dtype)
    if g_data.shape != y.shape:
        raise MiniganError(f"grad(): grad_outputs[{i}] has shape {g_data.shape}, expected {y.shape}.")
    if create_graph:
        return g if isinstance(g, Tensor) else Tensor(g_data)
    return g_data
