"""The layer table: what each layer of a network makes of one input, and what it costs.

FLOPs are counted for ONE image (batch of 1), a multiply-add as 2 FLOPs:
    Conv2d           2 * (c * kh * kw) * oc * out_h * out_w   (+ oc * out_h * out_w with a bias)
    ConvTranspose2d  2 * c * (oc * kh * kw) * h * w            (+ oc * out_h * out_w with a bias)
    Linear           2 * in * out                              (+ out with a bias)
    BatchNorm        4 per element: (x - mean) * invstd * gamma + beta
    ReLU, LeakyReLU, Tanh, Sigmoid   1 per element (a transcendental counts as one)
    Flatten, Unflatten, Dropout, Embedding, Upsample   0 (they move or pick numbers)
Any other layer shows "?" and is left out of the total.
"""

import numpy as np

from minigan import backend, nn
from minigan.function import no_grad
from minigan.inspect.hooks import preserved_modes, watch
from minigan.tensor import Tensor

ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)
FREE = (nn.Flatten, nn.Unflatten, nn.Dropout, nn.Embedding, nn.Upsample)


def layer_flops(layer, x_shape, y_shape):
    """FLOPs of one call of ``layer`` on one image (shapes include the batch axis), or None."""
    out = int(np.prod(y_shape[1:]))
    if isinstance(layer, nn.Conv2d):
        _, c, kh, kw = layer.weight.shape
        return 2 * c * kh * kw * out + (out if layer.bias is not None else 0)
    if isinstance(layer, nn.ConvTranspose2d):
        c, oc, kh, kw = layer.weight.shape
        return 2 * c * oc * kh * kw * int(np.prod(x_shape[2:])) + (out if layer.bias is not None else 0)
    if isinstance(layer, nn.Linear):
        return 2 * layer.in_features * out + (out if layer.bias is not None else 0)
    if isinstance(layer, nn.BatchNorm):
        return 4 * out
    if isinstance(layer, ELEMENTWISE):
        return out
    if isinstance(layer, FREE):
        return 0
    return None


def own_parameters(layer):
    """Number of scalars in the parameters registered directly on ``layer``."""
    return sum(int(p.size) for p in layer._parameters.values() if p is not None)


def layer_table(model, input_shape, forward=None, extra_inputs=()):
    """One row per layer call when ``model`` runs on one input of ``input_shape`` (eval mode).

    Args:
        model (Module): the network.
        input_shape (tuple): the shape of ONE input, without the batch axis: (nz,) for a
            generator, (c, h, w) for a discriminator.
        forward (callable or None): runs the model on the input Tensor (default ``model(x)``),
            e.g. ``lambda z: trainer.generate(z, labels)`` for a conditional G.
        extra_inputs (tuple): further positional inputs of ``model(x, *extra_inputs)``.
    Returns:
        dict: rows (list of dicts: name, type, output_shape, params, flops), total_params (every
        parameter of the model once), total_flops (sum of the known rows), input_shape.
    """
    calls = []
    xp = backend.get_array_module(*[p.data for p in model.parameters()])  # the model's device
    x = Tensor(xp.zeros((1,) + tuple(input_shape), dtype=np.float32))
    run = forward or (lambda t: model(t, *extra_inputs))
    with preserved_modes(model), no_grad(), watch(model, lambda name, layer, args, y, s: calls.append(
            (name, layer, args, y))):
        model.eval()
        run(x)
    return table_from_calls(model, calls, input_shape)


def table_from_calls(model, calls, input_shape):
    """The table of ``layer_table`` from recorded (name, layer, args, output) calls of ``model``."""
    rows = []
    for name, layer, args, y in calls:
        x_shape = tuple(args[0].shape) if args and hasattr(args[0], "shape") else ()
        rows.append({"name": name, "type": type(layer).__name__, "output_shape": tuple(y.shape[1:]),
                     "params": own_parameters(layer), "flops": layer_flops(layer, x_shape, tuple(y.shape))})
    return {"rows": rows, "input_shape": tuple(input_shape),
            "total_params": sum(int(p.size) for p in model.parameters()),
            "total_flops": sum(r["flops"] for r in rows if r["flops"] is not None)}


def human(n):
    """1234567 -> '1.23M' (k, M, G)."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def format_layer_table(table, title="model"):
    """The table as text: one line per layer call, then the totals."""
    width = max([len(r["name"]) for r in table["rows"]] + [5])
    lines = [f"{title}: input {table['input_shape']}",
             f"{'layer':<{width}}  {'type':<16} {'output shape':<18} {'params':>10} {'FLOPs':>10}"]
    for r in table["rows"]:
        flops = "?" if r["flops"] is None else human(r["flops"])
        lines.append(f"{r['name']:<{width}}  {r['type']:<16} {r['output_shape']!s:<18} "
                     f"{r['params']:>10,} {flops:>10}")
    lines.append(f"{'total':<{width}}  {'':<16} {'':<18} {table['total_params']:>10,} "
                 f"{human(table['total_flops']):>10}  (FLOPs per image, multiply-add = 2)")
    return "\n".join(lines)
