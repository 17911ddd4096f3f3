"""Finite-difference gradient checks, and the catalogue of checks ``minigan gradcheck`` runs.

A check builds float64 leaves, runs ``fn()`` once with backward on a random upstream
gradient gy, and compares every element of every leaf's gradient with the central
difference of L = sum(fn() * gy):

    dL/dx_i ~= (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)
"""

from dataclasses import dataclass

import numpy as np

from minigan.function import no_grad


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
    for leaf in leaves:
        if leaf.data.dtype != np.float64:
            raise ValueError(f"gradcheck needs float64 leaves, got {leaf.data.dtype}")
        leaf.requires_grad, leaf.grad = True, None
    y = fn()
    gy = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(gy)
    analytic = [leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data) for leaf in leaves]
    numeric = numerical_grads(fn, leaves, gy, eps)
    max_abs, scale, ok = 0.0, 0.0, True
    for a, n in zip(analytic, numeric):
        err = np.abs(a - n)
        max_abs = max(max_abs, float(err.max(initial=0)))
        scale = max(scale, float(np.abs(n).max(initial=0)))
        ok = ok and bool(np.all(err <= atol + rtol * np.abs(n)))
    shapes = " ".join("x".join(map(str, leaf.shape)) or "()" for leaf in leaves)
    return CheckResult(name, shapes, max_abs, max_abs / max(scale, 1e-12), ok)
