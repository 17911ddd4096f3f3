"""Floor 5: Module and Parameter, with PyTorch's names and semantics."""

from collections import OrderedDict

from minigan import backend
from minigan.errors import MiniganError
from minigan.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates (requires_grad by default)."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and network.

    Assigning a Parameter, a Module or (through ``register_buffer``) a raw array as
    an attribute registers it, so ``parameters()``, ``state_dict()``, ``to_gpu()``
    and ``train()/eval()`` reach it.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise MiniganError(f"{type(self).__name__}.__init__ must call super().__init__() first.")
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """A raw array that is state but not a parameter (e.g. BN running statistics)."""
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    def _set_buffer(self, name, array):
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # -- calling ------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # -- traversal ----------------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        return list(self._modules.values())

    def named_parameters(self, prefix=""):
        for path, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                yield (f"{path}.{name}" if path else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        for path, module in self.named_modules():
            for name, b in module._buffers.items():
                yield (f"{path}.{name}" if path else name), module, name, b

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule and self; returns self."""
        for m in self.modules():
            fn(m)
        return self

    # -- mode, gradients, device --------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag=True):
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def to_gpu(self):
        return self._move(backend.to_gpu)

    def to_cpu(self):
        return self._move(backend.to_cpu)

    def double(self):
        """Parameters and buffers in float64 (gradient checks run in float64)."""
        return self._move(lambda a: a.astype("float64"))

    def float(self):
        return self._move(lambda a: a.astype("float32"))

    def to(self, device):
        return self.to_gpu() if device == "gpu" else self.to_cpu()

    def _move(self, convert):
        for p in self.parameters():
            p.data = convert(p.data)
            p.grad = None if p.grad is None else convert(p.grad)
        for _, module, name, b in list(self.named_buffers()):
            module._set_buffer(name, convert(b))
        return self

    # -- state ----------------------------------------------------------------------
    def state_dict(self):
        """Parameters and buffers as an ordered {dotted name: raw array}."""
        state = OrderedDict((name, p.data) for name, p in self.named_parameters())
        for name, _, _, b in self.named_buffers():
            state[name] = b
        return state

    def load_state_dict(self, state, strict=True):
        """Copy arrays into this module's parameters and buffers (onto their device).

        Raises MiniganError naming every missing, unexpected and mis-shaped key.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        shapes = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items()
                  if k in state and tuple(state[k].shape) != tuple(v.shape)]
        problems = []
        if missing and strict:
            problems.append("missing keys: " + ", ".join(missing))
        if unexpected and strict:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if shapes:
            problems.append("mis-shaped keys (given != expected): " + "; ".join(shapes))
        if problems:
            raise MiniganError(f"load_state_dict into {type(self).__name__}: " + " | ".join(problems) + ".")
        params = dict(self.named_parameters())
        buffers = {name: (module, short) for name, module, short, _ in self.named_buffers()}
        for key, array in state.items():
            if key not in own:
                continue
            value = backend.to_device(array, backend.device_of(own[key])).astype(own[key].dtype, copy=True)
            if key in params:
                params[key].data = value
            else:
                module, short = buffers[key]
                module._set_buffer(short, value)

    # -- printing -------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if not self._modules:
            return lines[0] + ")"
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def check_input(layer, x, ndim, channels=None, channel_axis=1):
    """Raise a MiniganError naming the layer, the expected and the received shape."""
    shape = tuple(x.shape)
    ok = len(shape) == ndim and (channels is None or shape[channel_axis] == channels)
    if not ok:
        dims = ["n"] + ["?"] * (ndim - 1)
        if channels is not None:
            dims[channel_axis] = str(channels)
        raise MiniganError(f"{layer!r} expects input of shape ({', '.join(dims)}) but got {shape}.")


def replace_modules(module, match, make):
    """Swap every submodule ``child`` of ``module`` with ``match(child)`` true for ``make(child)``, in place.

    Each new module keeps the old one's attribute name and position (Sequential order); the
    modules made are not searched again.

    Returns:
        int: the number of modules replaced.
    """
    count = 0
    for parent in module.modules():
        for name, child in list(parent._modules.items()):
            if match(child):
                new = make(child)
                parent._modules[name] = new  # not setattr: that would move it to the end of the order
                object.__setattr__(parent, name, new)
                count += 1
    return count
