"""The autograd graph in Graphviz DOT: what ``backward()`` will walk.

Walking back from a loss: a Tensor's ``creator`` is the Function that made it, a Function's
``inputs`` are the Tensors it read. Functions become boxes labelled with their class name and
output shape; leaves (tensors no Function made) become ellipses: parameters (blue, named when
the caller passes the networks), other inputs that need a gradient (yellow), constants (grey).
Render with ``dot -Tsvg step.dot -o step.svg``.
"""

import os

from minigan.nn.module import Parameter
from minigan.tensor import Tensor


def _quote(label):
    """A DOT string; labels carry DOT's own \\n line breaks, so only quotes are escaped."""
    return '"' + str(label).replace('"', '\\"') + '"'


def _shape(t):
    return "(" + ", ".join(map(str, t.shape)) + ")"


def parameter_names(networks):
    """{id(parameter): "G.0.weight"} for a dict {prefix: Module}."""
    return {id(p): f"{prefix}.{name}" for prefix, net in (networks or {}).items()
            for name, p in net.named_parameters()}


def _leaf_node(t, names):
    if isinstance(t, Parameter) or id(t) in names:
        return f"{names.get(id(t), 'parameter')}\\n{_shape(t)}", "lightblue"
    if t.requires_grad:
        return f"{t.name or 'input'}\\n{_shape(t)}", "lightyellow"
    return f"{t.name or 'constant'}\\n{_shape(t)}", "lightgrey"


def _output_shapes(fn):
    shapes = [_shape(y) for y in (ref() for ref in getattr(fn, "outputs", ())) if y is not None]
    return ", ".join(shapes) or "?"


def to_dot(roots, networks=None, root_names=None):
    """DOT text of the graph behind one or more loss tensors.

    Args:
        roots (Tensor or list of Tensor): the tensors ``backward()`` starts from.
        networks (dict or None): {prefix: Module}, to name parameter leaves ("D.0.weight").
        root_names (list of str or None): labels of the roots (default "loss", "loss 2", ...).
    Returns:
        str: a ``digraph`` with one node per Function and per leaf, edges in the forward direction.
    """
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    names = parameter_names(networks)
    lines = ["digraph autograd {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    ids, edges, stack = {}, set(), []

    def node(obj, label, shape, colour):
        if id(obj) not in ids:
            ids[id(obj)] = f"n{len(ids)}"
            lines.append(f"  {ids[id(obj)]} [label={_quote(label)}, shape={shape}, style=filled, "
                         f"fillcolor={colour}];")
            return True
        return False

    for i, root in enumerate(roots):
        label = root_names[i] if root_names and i < len(root_names) else ("loss" if i == 0 else f"loss {i + 1}")
        node(root, f"{label}\\n{_shape(root)}", "doubleoctagon", "salmon")
        if root.creator is not None:
            edges.add((id(root.creator), id(root)))
            stack.append(root.creator)
    while stack:
        fn = stack.pop()
        if not node(fn, f"{type(fn).__name__}\\n{_output_shapes(fn)}", "box", "white"):
            continue
        for x in getattr(fn, "inputs", ()):
            if x.creator is None:
                label, colour = _leaf_node(x, names)
                node(x, label, "ellipse", colour)
                edges.add((id(x), id(fn)))
            else:
                edges.add((id(x.creator), id(fn)))
                stack.append(x.creator)
    lines += [f"  {ids[a]} -> {ids[b]};" for a, b in sorted(edges, key=lambda e: (ids[e[0]], ids[e[1]]))]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_dot(roots, path, networks=None, root_names=None):
    """Write ``to_dot(roots, networks, root_names)`` to ``path`` (atomically); returns the path."""
    text = to_dot(roots, networks, root_names)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
