"""Per-layer timing: each layer of G and D alone, fed the input it sees in the real step.

Forward is timed alone (the graph is recorded, as in training); backward is timed alone,
from the layer's output with a random upstream gradient down to the input (a leaf that
requires a gradient) and the layer's parameters. With a peer, the sides alternate
layer by layer (A B A B) like the whole steps do.

FLOPs count the multiply-adds of the GEMM layers (2 per multiply-add), the figure kernel
experiments care about:

    Conv2d            2 n oc out_h out_w c kh kw
    ConvTranspose2d   2 n h w c oc kh kw          (x: n c h w, the GEMM over every input pixel)
    Linear            2 n in out
    backward          2 x forward (one GEMM for gx, one for gW)
"""

import statistics

import numpy as np

from minigan import nn
from minigan.bench import gemm_floor, step


def describe(layer):
    """A short PyTorch-style label: 'ConvTranspose2d(128, 64, 4, 2, 1)', 'Linear(100, 6272)'."""
    kind = type(layer).__name__
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        kh = layer.weight.shape[2]
        return f"{kind}({layer.in_channels}, {layer.out_channels}, {kh}, {layer.stride[0]}, {layer.padding[0]})"
    if isinstance(layer, nn.Linear):
        return f"{kind}({layer.in_features}, {layer.out_features})"
    if isinstance(layer, nn.BatchNorm):
        return f"{kind}({layer.num_features})"
    if isinstance(layer, nn.LeakyReLU):
        return f"{kind}({layer.negative_slope})"
    if isinstance(layer, nn.Unflatten):
        return f"{kind}({layer.dim}, {layer.unflattened_size})"
    return kind


def forward_flops(layer, x_shape, y_shape):
    """Forward FLOPs of a GEMM layer (0 for the others)."""
    if isinstance(layer, nn.Conv2d):
        c, kh, kw = layer.weight.shape[1:]
        return 2 * int(np.prod(y_shape)) * c * kh * kw
    if isinstance(layer, nn.ConvTranspose2d):
        oc, kh, kw = layer.weight.shape[1:]
        return 2 * int(np.prod(x_shape)) * oc * kh * kw
    if isinstance(layer, nn.Linear):
        return 2 * x_shape[0] * layer.in_features * layer.out_features
    return 0


def step_flops(rows):
    """GEMM FLOPs of one training step from the per-layer forward FLOPs.

    G runs forward once and backward once (no gradient for z, so G's first layer computes gW only);
    D runs forward and backward three times (real, detached fake, fake), and its first layer
    computes gx only in the last of them.
    """
    total = 0
    for row in rows:
        f = row["flops"]
        if row["name"].startswith("G."):
            total += 3 * f - (f if row["name"] == "G.0" else 0)
        else:
            total += 9 * f - (2 * f if row["name"] == "D.0" else 0)
    return total


def _measure_once(side, case, rng, now):
    """(forward seconds, backward seconds, output) of one layer on one side."""
    x = side.layer_input(case.x)
    side.sync()
    start = now()
    y = side.forward(case.layer, x)
    side.sync()
    forward = now() - start
    gy = side.grad_like(y, rng)
    side.zero_grad(case.layer)
    side.sync()
    start = now()
    side.backward(y, gy)
    side.sync()
    return forward, now() - start, y


def time_layers(sides, repeats=5, warmup=1, seed=0, clock="wall"):
    """Median forward and backward ms of every layer, per side.

    Args:
        sides: the minigan side first, then optionally the peer (same layer names).
        repeats (int): timed measurements per layer and side; the median is kept.
        warmup (int): untimed measurements first.
        clock (str): 'wall' or 'cpu', Note [clocks] in minigan/bench/step.py.
    Returns:
        list of dicts, one per layer: name, label, shape, flops, gemms (``gemm_floor.layer_gemms``), and
        per side name {'fwd_ms', 'bwd_ms'}.
    """
    rng, now = np.random.default_rng(seed), step.CLOCKS[clock]
    per_side = [side.layer_cases() for side in sides]
    rows = []
    for cases in zip(*per_side):
        lead = cases[0]
        row = {"name": lead.name, "label": describe(lead.layer)}
        samples = {side.name: ([], []) for side in sides}
        for r in range(warmup + repeats):
            for side, case in zip(sides, cases):
                forward, backward, y = _measure_once(side, case, rng, now)
                if r >= warmup:
                    samples[side.name][0].append(forward)
                    samples[side.name][1].append(backward)
                if side is sides[0]:
                    shape = side.output_shape(y)
        row["shape"] = shape
        row["flops"] = forward_flops(lead.layer, tuple(lead.x.shape), shape)
        row["gemms"] = gemm_floor.layer_gemms(lead.layer, tuple(lead.x.shape), shape)
        for name, (fwd, bwd) in samples.items():
            row[name] = {"fwd_ms": 1000 * statistics.median(fwd), "bwd_ms": 1000 * statistics.median(bwd)}
        rows.append(row)
    return rows


def shapes_and_flops(side):
    """Per-layer names, labels, output shapes and FLOPs without timing anything (one forward pass)."""
    rows = []
    cases = side.layer_cases()
    for case, following in zip(cases, cases[1:] + [None]):
        if following is not None and following.name[0] == case.name[0]:
            shape = tuple(following.x.shape)
        else:
            shape = tuple(side.forward(case.layer, side.layer_input(case.x)).shape)
        rows.append({"name": case.name, "label": describe(case.layer), "shape": shape,
                     "flops": forward_flops(case.layer, tuple(case.x.shape), shape)})
    return rows
