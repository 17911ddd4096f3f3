"""The GEMM floor: how long the step's GEMMs take on this machine's BLAS, each timed by itself.

minigan's convolutions are im2col + GEMM (and GEMM + col2im); whatever else a step does comes on
top of its GEMMs. So the GEMMs alone, at the shapes minigan runs and in the faster of the two
operand orders, are a floor under minigan's step on this BLAS, a sharper one than the FLOP floor
(which assumes every GEMM runs as fast as one large square one). Set beside a peer's whole step,
it tells whether the peer can be caught by work around the GEMMs at all:

    floor = sum over the GEMM layers of  n_fwd t(fwd) + n_gx t(gx) + n_gW t(gW)

with t(.) the best time of that product alone and the counts of ``layers.step_flops``: G's layers
run forward and backward once (G's first layer has no gx: z needs no gradient), D's three times
(real, detached fake, fake), D's first layer computing gx only in the G step.

The products (W2 the weight as a matrix, col the im2col columns, N the output pixels of the batch):

    Conv2d            fwd (oc, K) @ (K, N)     gx (K, oc) @ (oc, N)      gW (K, N) @ (N, oc)    K = c kh kw
    ConvTranspose2d   fwd (P, c) @ (c, N)      gx (c, P) @ (P, N)        gW (P, N) @ (N, c)     P = oc kh kw
    Linear            fwd (n, in) @ (in, out)  gx (n, out) @ (out, in)   gW (out, n) @ (n, in)

(for ConvTranspose2d, N counts the input pixels: its GEMM runs over every input pixel)
"""

import math

import numpy as np

from minigan import nn

PRODUCTS = ("fwd", "gx", "gW")


def layer_gemms(layer, x_shape, y_shape):
    """{'fwd'|'gx'|'gW': (m, k, n)} of the GEMMs one forward and one backward of ``layer`` run; {} for
    a layer without GEMMs."""
    if isinstance(layer, nn.Conv2d):
        oc, c, kh, kw = layer.weight.shape
        K, N = c * kh * kw, y_shape[0] * math.prod(y_shape[2:])
        return {"fwd": (oc, K, N), "gx": (K, oc, N), "gW": (K, N, oc)}
    if isinstance(layer, nn.ConvTranspose2d):
        c, oc, kh, kw = layer.weight.shape
        P, N = oc * kh * kw, x_shape[0] * math.prod(x_shape[2:])
        return {"fwd": (P, c, N), "gx": (c, P, N), "gW": (P, N, c)}
    if isinstance(layer, nn.Linear):
        n, i, o = x_shape[0], layer.in_features, layer.out_features
        return {"fwd": (n, i, o), "gx": (n, o, i), "gW": (o, n, i)}
    return {}


def time_gemm(shape, now, repeats=5, rng=None):
    """Best ms of the (m, k) @ (k, n) float32 product, written as A @ B or as (B.T @ A.T).T with
    contiguous operands, whichever is faster (OpenBLAS's speed depends on it: Note [GEMM operand
    order] in minigan/functional/conv.py)."""
    rng = rng or np.random.default_rng(0)
    m, k, n = shape
    A, B = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    At, Bt = np.ascontiguousarray(A.T), np.ascontiguousarray(B.T)
    best = math.inf
    for product in (lambda: A @ B, lambda: Bt @ At):
        product()  # warm-up: the BLAS's threads and buffers
        for _ in range(repeats):
            start = now()
            product()
            best = min(best, now() - start)
    return 1000 * best


def step_counts(name, product):
    """How many times one training step runs ``product`` of layer ``name`` (see the module docstring)."""
    if name.startswith("G."):
        return 0 if (name == "G.0" and product == "gx") else 1
    return 1 if (name == "D.0" and product == "gx") else 3


def add_to_layers(rows, now, repeats=5):
    """Time each GEMM layer's products (rows carry 'gemms' from ``layers.time_layers``); sets row['gemm_ms']
    ({product: ms}) and returns the step's floor in ms."""
    rng, floor = np.random.default_rng(0), 0.0
    for row in rows:
        if not row.get("gemms"):
            continue
        row["gemm_ms"] = {p: time_gemm(row["gemms"][p], now, repeats, rng) for p in PRODUCTS}
        floor += sum(step_counts(row["name"], p) * ms for p, ms in row["gemm_ms"].items())
    return floor
