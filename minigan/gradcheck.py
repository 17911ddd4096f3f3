"""Finite-difference gradient checks of the first and the second order.

A check builds float64 leaves, runs ``fn()`` once with backward on a random upstream
gradient gy, and compares every element of every leaf's gradient with the central
difference of L = sum(fn() * gy):

    dL/dx_i ~= (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

The second-order check (``gradgradcheck``) does the same one level up: the first
gradient g(x, gy) = grad(fn(), x, gy), taken with create_graph=True, is paired with a
second random upstream r, and S = sum(g * r) is differentiated by the recorded graph
and by central differences of the (first-order) gradient -- with respect to every
leaf and to gy itself. It also proves the twins equal (Note [second order] in
function.py): g from the recorded backward must match g from the array backward.
"""

from dataclasses import dataclass

import numpy as np

from minigan.backward import grad
from minigan.function import enable_grad, no_grad
from minigan.tensor import Tensor


@dataclass
class CheckResult:
    """Outcome of one gradient check."""

    name: str
    shapes: str
    max_abs: float
    max_rel: float
    ok: bool


def numerical_grads(fn, leaves, gy, eps=1e-6):
    """Central-difference gradient of sum(fn() * gy) for every element of every leaf."""
    grads = []
    with no_grad():
        for leaf in leaves:
            x = leaf.data
            g = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                old = x[i]
                x[i] = old + eps
                plus = float((fn().data * gy).sum())
                x[i] = old - eps
                minus = float((fn().data * gy).sum())
                x[i] = old
                g[i] = (plus - minus) / (2 * eps)
            grads.append(g)
    return grads


def gradcheck(fn, leaves, name="", eps=1e-6, atol=1e-6, rtol=1e-4, seed=0):
    """Compare backward() with finite differences.

    Args:
        fn: callable with no arguments returning a Tensor; it must use ``leaves``
            (stochastic ops reseed inside fn so every call draws the same).
        leaves (list of Tensor): float64 tensors; their ``.data`` is perturbed in place.
        eps, atol, rtol: step and tolerance (|analytic - numeric| <= atol + rtol |numeric|).
        seed: for the random upstream gradient.
    Returns:
        CheckResult; ``max_rel`` is the max abs error over the largest numeric gradient.
    """
    _float64_leaves(leaves)
    y = fn()
    gy = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(gy)
    analytic = [leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data) for leaf in leaves]
    numeric = numerical_grads(fn, leaves, gy, eps)
    return _compare(name, leaves, analytic, numeric, atol, rtol)


def gradgradcheck(fn, leaves, name="", eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Check the second derivative, and that the recorded backward equals the array one.

    Args: as ``gradcheck``.
    Returns:
        CheckResult over the leaves and gy; ``ok`` is False also when the first
        gradients of the two backward passes differ by more than 1e-10 (relative).
    """
    _float64_leaves(leaves)
    rng = np.random.default_rng(seed)
    y = fn()
    gy = Tensor(rng.standard_normal(y.shape), requires_grad=True)
    graph = grad(y, leaves, gy, create_graph=True, allow_unused=True)
    r = [rng.standard_normal(leaf.shape) for leaf in leaves]
    plain = _first_grads(fn, leaves, gy.data)
    twins_agree = all(
        np.allclose(g.data if g is not None else 0.0, p, rtol=1e-10, atol=1e-10 * (1 + np.abs(p).max(initial=0)))
        for g, p in zip(graph, plain)
    )
    terms = [(g * ri).sum() for g, ri in zip(graph, r) if g is not None and g.requires_grad]
    if terms:
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        second = grad(total, leaves + [gy], allow_unused=True)
    else:  # every first gradient is constant: the second derivative is 0
        second = [None] * (len(leaves) + 1)
    analytic = [s.data if s is not None else np.zeros_like(x.data) for s, x in zip(second, leaves + [gy])]

    def paired():  # S = sum(g * r) by the array backward, for finite differences
        return Tensor(np.array(sum(float((g * ri).sum()) for g, ri in zip(_first_grads(fn, leaves, gy.data), r))))

    numeric = numerical_grads(paired, leaves + [gy], np.ones(()), eps)
    result = _compare(name, leaves + [gy], analytic, numeric, atol, rtol)
    result.ok = result.ok and twins_agree
    return result


def _first_grads(fn, leaves, gy):
    """d sum(fn() * gy) / d leaf by the array backward, zeros where a leaf is unused."""
    with enable_grad():
        gs = grad(fn(), leaves, gy, allow_unused=True)
    return [g.data if g is not None else np.zeros_like(x.data) for g, x in zip(gs, leaves)]


def _float64_leaves(leaves):
    for leaf in leaves:
        if leaf.data.dtype != np.float64:
            raise ValueError(f"gradcheck needs float64 leaves, got {leaf.data.dtype}")
        leaf.requires_grad, leaf.grad = True, None


def _compare(name, leaves, analytic, numeric, atol, rtol):
    max_abs, scale, ok = 0.0, 0.0, True
    for a, n in zip(analytic, numeric):
        err = np.abs(a - n)
        max_abs = max(max_abs, float(err.max(initial=0)))
        scale = max(scale, float(np.abs(n).max(initial=0)))
        ok = ok and bool(np.all(err <= atol + rtol * np.abs(n)))
    shapes = " ".join("x".join(map(str, leaf.shape)) or "()" for leaf in leaves)
    return CheckResult(name, shapes, max_abs, max_abs / max(scale, 1e-12), ok)
