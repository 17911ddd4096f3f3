"""Floor 5: optimizers with PyTorch's update rules and names.

Notation: p a parameter, g its gradient (plus weight_decay * p, L2 style),
lr the learning rate, t the step count (1 after the first step).
"""

import numpy as np

from minigan import backend
from minigan.dispatch import kernels_for
from minigan.errors import MiniganError
from minigan.function import no_grad


class Optimizer:
    """Holds the parameter list; ``zero_grad()`` clears their gradients."""

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise MiniganError(f"{type(self).__name__} got no parameters to optimize (an empty list).")
        if lr <= 0:
            raise MiniganError(f"{type(self).__name__} learning rate must be positive, got {lr}.")
        self.lr = lr
        self.step_count = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def _slots(self):
        """A zero array per parameter, on its device (moments, momentum buffers)."""
        return [backend.get_array_module(p.data).zeros_like(p.data) for p in self.params]

    def _state_arrays(self):
        raise NotImplementedError

    def state_dict(self):
        """{'step': int array, '<slot>.<i>': array, ...} -- plain arrays, checkpoint-ready."""
        state = {"step": np.array(self.step_count, dtype=np.int64)}
        for name, slots in self._state_arrays().items():
            for i, a in enumerate(slots):
                state[f"{name}.{i}"] = a
        return state

    def load_state_dict(self, state):
        """Restore moments and step; names the first mismatching slot on error."""
        for name, slots in self._state_arrays().items():
            for i, own in enumerate(slots):
                key = f"{name}.{i}"
                if key not in state:
                    raise MiniganError(f"{type(self).__name__} state is missing {key!r}; was it saved for another model?")
                if tuple(state[key].shape) != tuple(own.shape):
                    raise MiniganError(f"{type(self).__name__} state {key!r} has shape {tuple(state[key].shape)}, "
                                       f"but the parameter has {tuple(own.shape)}.")
                slots[i] = backend.to_device(state[key], backend.device_of(own)).astype(own.dtype, copy=True)
        self.step_count = int(state["step"])

    def to_device(self):
        """Move the slots to where the parameters now live (after Module.to_gpu())."""
        for slots in self._state_arrays().values():
            for i, (p, a) in enumerate(zip(self.params, slots)):
                slots[i] = backend.to_device(a, p.device)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov and weight decay (PyTorch's rule):

        g = grad + wd p;  buf = momentum buf + (1 - dampening) g  (buf = g at the first step)
        p -= lr (g + momentum buf if nesterov else buf)
    """

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise MiniganError("Nesterov momentum needs momentum > 0 and dampening 0.")
        self.momentum, self.dampening, self.nesterov, self.weight_decay = momentum, dampening, nesterov, weight_decay
        self.buffers = self._slots() if momentum else []

    def _state_arrays(self):
        return {"momentum_buffer": self.buffers} if self.momentum else {}

    def step(self):
        with no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
                if self.momentum:
                    buf = self.buffers[i]
                    if self.step_count == 0:
                        buf[...] = g
                    else:
                        buf *= self.momentum
                        buf += (1 - self.dampening) * g
                    g = g + self.momentum * buf if self.nesterov else buf
                p.data -= self.lr * g
        self.step_count += 1


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction and L2 weight decay, PyTorch's rule:

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t) + eps_root) + eps)

    ``eps_root`` (0 by default: PyTorch's rule) is optax's name for an epsilon under the square root.
    With eps = 0 and eps_root = 1e-8 this is the Adam of openai/improved-gan's code (nn.adam_updates,
    dividing by sqrt(v_hat + 1e-8)): the same as PyTorch's for gradients well above 1e-4, but a weight
    whose gradients are smaller moves less, ~|g| / 1e-4 of Adam's usual step (Note [Adam's epsilon] in
    gan/ssgan.py: it matters there).

    All parameters are updated by one fused kernel call (``adam_update``).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, eps_root=0.0):
        super().__init__(params, lr)
        if eps < 0 or eps_root < 0 or eps == eps_root == 0:
            raise MiniganError(f"Adam needs eps >= 0 and eps_root >= 0, not both 0; got {eps} and {eps_root}.")
        self.betas, self.eps, self.weight_decay, self.eps_root = tuple(betas), eps, weight_decay, eps_root
        self.exp_avg = self._slots()
        self.exp_avg_sq = self._slots()

    def _state_arrays(self):
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def step(self):
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        self.step_count += 1
        params = [self.params[i].data for i in live]
        kernels_for(params[0]).adam_update(
            params, [self.params[i].grad for i in live], [self.exp_avg[i] for i in live],
            [self.exp_avg_sq[i] for i in live], self.step_count, self.lr, self.betas[0], self.betas[1],
            self.eps, self.weight_decay, self.eps_root)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; Graves 2013 for the centered form), PyTorch's rule:

        g = grad + wd p;  square_avg = alpha square_avg + (1 - alpha) g^2
        centered:  grad_avg = alpha grad_avg + (1 - alpha) g;  avg = sqrt(square_avg - grad_avg^2) + eps
        otherwise: avg = sqrt(square_avg) + eps
        momentum > 0: buf = momentum buf + g / avg;  p -= lr buf      (buf starts at 0)
        otherwise:    p -= lr g / avg

    Args:
        params (list of Parameter), lr (float), alpha (float): smoothing of the averages,
        eps (float): added after the square root, weight_decay (float): L2 term,
        momentum (float), centered (bool): divide by the estimated variance instead of the raw second moment.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, lr)
        for label, value in (("alpha", alpha), ("eps", eps), ("weight_decay", weight_decay), ("momentum", momentum)):
            if value < 0:
                raise MiniganError(f"RMSprop {label} must be >= 0, got {value}.")
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered
        self.square_avg = self._slots()
        self.grad_avg = self._slots() if centered else []
        self.momentum_buffer = self._slots() if momentum else []

    def _state_arrays(self):
        state = {"square_avg": self.square_avg}
        if self.centered:
            state["grad_avg"] = self.grad_avg
        if self.momentum:
            state["momentum_buffer"] = self.momentum_buffer
        return state

    def step(self):
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        self.step_count += 1
        a = self.alpha
        for i in live:
            p = self.params[i]
            xp = backend.get_array_module(p.data)
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            sq = self.square_avg[i]
            sq *= a
            sq += (1 - a) * g * g
            if self.centered:
                ga = self.grad_avg[i]
                ga *= a
                ga += (1 - a) * g
                avg = xp.sqrt(sq - ga * ga) + self.eps
            else:
                avg = xp.sqrt(sq) + self.eps
            if self.momentum:
                buf = self.momentum_buffer[i]
                buf *= self.momentum
                buf += g / avg
                p.data -= self.lr * buf
            else:
                p.data -= self.lr * (g / avg)
