"""Plain-language warnings about a training run, from its metric history.

The history is what the trainer records: ``Trainer.history`` (a dict of per-step lists) or the
rows of ``metrics.jsonl`` (a list of dicts). Keys read, when present:
    loss_D, D_x, D_G_z           D's loss and its mean outputs on real and fake images
    grad_norm_D, grad_norm_G     L2 norms of all of a network's gradients (the trainer logs them
                                 each step with ``device_grad_norms``, per layer too)
    classes_covered, top_class_share   from ``class_summary(judge, samples)`` (when a judge exists)
    class_histogram              a list of counts per class (instead of the two above)
Each rule looks at the most recent part of the run; ``diagnose`` returns one sentence per problem.
"""

import math

import numpy as np

from minigan import backend

D_LOSS_FLOOR = 0.01  # D's BCE (real + fake) this low: D separates them perfectly
D_CONFIDENT = 0.99  # mean D(x) above and mean D(G(z)) below 1 - this
GRAD_LIMIT = 1e3  # an absolute gradient norm this large is an explosion
GRAD_JUMP = 100.0  # or this many times the run's typical (median) norm so far
COLLAPSE_TOP_SHARE = 0.5  # one class holding over half the samples
RECENT = 0.1  # share of the history the rules look at (at least MIN_RECENT values)
MIN_RECENT = 5


def grad_norms(module):
    """L2 norms of the current parameter gradients, per layer and in total.

    Args:
        module (Module): a network after ``backward()``.
    Returns:
        dict: {layer name: norm} for layers whose parameters have gradients, and "total".
    """
    squares = {}
    for name, p in module.named_parameters():
        if p.grad is not None:
            layer = name.rpartition(".")[0] or name
            squares[layer] = squares.get(layer, 0.0) + float((backend.to_cpu(p.grad).astype(np.float64) ** 2).sum())
    norms = {k: math.sqrt(v) for k, v in squares.items()}
    norms["total"] = math.sqrt(sum(squares.values()))
    return norms


def total_grad_norm(module):
    """L2 norm of all of ``module``'s parameter gradients as a 0-d array ON THE DEVICE.

    For the trainer's step metrics (``grad_norm_D``, ``grad_norm_G``): it stays on the GPU until
    the metrics are logged, so it costs no synchronisation per step. None when no gradient exists.
    """
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return None
    xp = backend.get_array_module(*grads)
    return xp.sqrt(sum((g.astype(xp.float64) ** 2).sum() for g in grads))


def device_grad_norms(module, prefix):
    """Per-step gradient norms for the metrics log, as 0-d arrays left on the device.

    Returns:
        dict: ``grad_norm_<prefix>`` (all parameters) and ``layer_grad_norm:<prefix>.<layer>`` per
        layer with gradients; {} when none has a gradient.
    """
    squares = {}
    for name, p in module.named_parameters():
        if p.grad is not None:
            layer = name.rpartition(".")[0] or name
            square = (p.grad * p.grad).sum()  # in the gradient's dtype: a norm needs no float64
            squares[layer] = squares[layer] + square if layer in squares else square
    if not squares:
        return {}
    xp = backend.get_array_module(*squares.values())
    norms = {f"layer_grad_norm:{prefix}.{k}": xp.sqrt(v) for k, v in squares.items()}
    norms[f"grad_norm_{prefix}"] = xp.sqrt(sum(squares.values()))
    return norms


def class_summary(judge, images, min_share=0.01):
    """classes_covered (classes with >= min_share of the images) and top_class_share, via the judge."""
    hist = judge.class_histogram(images)
    n = max(int(hist.sum()), 1)
    return {"classes_covered": int(np.sum(hist >= max(1.0, min_share * n))),
            "top_class_share": float(hist.max() / n)}


def as_series(history):
    """{key: float array} from a dict of lists or a list of dicts (rows without the key are skipped)."""
    if isinstance(history, dict):
        return {k: np.asarray(v, dtype=np.float64) for k, v in history.items() if k != "class_histogram"}
    keys = dict.fromkeys(k for row in history for k in row if k != "class_histogram")
    return {k: np.array([row[k] for row in history if k in row], dtype=np.float64) for k in keys}


def _recent(values):
    values = values[~np.isnan(values)] if values.size else values
    return values[-max(MIN_RECENT, int(len(values) * RECENT)):] if len(values) else values


def _nonfinite(series):
    for key, v in series.items():
        started = np.cumsum(np.isfinite(v)) > 0  # Trainer.history pads a late metric with NaN: not a problem
        bad = np.flatnonzero(np.isinf(v) | (np.isnan(v) & started))
        if bad.size:
            return [(f"{key} became {v[bad[0]]} at record {bad[0]}: the run diverged; resume from an "
                     f"earlier checkpoint with a lower learning rate.")]
    return []


def _d_collapse(series):
    loss = _recent(series.get("loss_D", np.array([])))
    if len(loss) < MIN_RECENT or np.median(loss) >= D_LOSS_FLOOR:
        return []
    d_x, d_g = _recent(series.get("D_x", np.array([]))), _recent(series.get("D_G_z", np.array([])))
    why = ""
    if len(d_x) and len(d_g) and d_x.mean() > D_CONFIDENT and d_g.mean() < 1 - D_CONFIDENT:
        why = f" (D(x) ~ {d_x.mean():.3f}, D(G(z)) ~ {d_g.mean():.3f})"
    return [(f"D's loss has collapsed to ~0 ({np.median(loss):.2g}){why}: D tells real from fake perfectly, so "
             f"G gets almost no useful gradient; lower D's learning rate (--lr-d), use the non-saturating loss, "
             f"or train G more often.")]


def _exploding(series):
    out = []
    for key in sorted(k for k in series if k.startswith("grad_norm")):
        v = series[key][~np.isnan(series[key])]
        if len(v) < 2:
            continue
        typical = np.median(v[: max(1, len(v) // 2)])
        if v[-1] > GRAD_LIMIT or (typical > 0 and v[-1] > GRAD_JUMP * typical):
            out.append(f"{key} is {v[-1]:.3g} (typically {typical:.3g}): gradients are exploding; lower the "
                       f"learning rate, or check the inputs are in [-1, 1].")
    return out


def _last(values):
    values = values[~np.isnan(values)] if values is not None else np.array([])
    return float(values[-1]) if len(values) else None


def _latest_classes(history, series):
    """(classes covered, top class share) of the latest record that has them, or None."""
    rows = [r for r in history if "class_histogram" in r] if isinstance(history, list) else []
    if rows:
        hist = np.asarray(rows[-1]["class_histogram"], dtype=np.float64)
        n = max(hist.sum(), 1.0)
        return int(np.sum(hist >= max(1.0, 0.01 * n))), float(hist.max() / n)
    covered = _last(series.get("classes_covered"))
    if covered is None:
        return None
    return int(covered), _last(series.get("top_class_share")) or 0.0


def _collapsed(history, series, num_classes):
    latest = _latest_classes(history, series)
    if latest is None or (latest[0] > num_classes // 2 and latest[1] <= COLLAPSE_TOP_SHARE):
        return []
    covered, top = latest
    return [(f"the generated samples have collapsed: the judge sees only {covered} of {num_classes} classes "
             f"(the most common holds {top:.0%}); this is mode collapse -- try another --seed, a lower learning "
             f"rate, or a conditional model.")]


def diagnose(history, num_classes=10, scores=False):
    """Plain-language warnings about a run, [] when nothing looks wrong.

    Args:
        history (dict of lists, or list of dicts): the recorded metrics (see the module docstring).
        num_classes (int): classes of the dataset, for the collapse rule.
        scores (bool): D is a WGAN critic: its loss is unbounded below, so the D-collapse rule
            (a loss near 0) does not apply.
    Returns:
        list of str: one sentence per problem found (diverged, D collapsed, gradients exploding,
        class histogram collapsed).
    """
    series = as_series(history)
    return (_nonfinite(series) + ([] if scores else _d_collapse(series)) + _exploding(series)
            + _collapsed(history, series, num_classes))
