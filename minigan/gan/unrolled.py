"""The unrolled GAN (Metz, Poole, Pfau & Sohl-Dickstein 2016): G plays against where D is going.

Notation: theta_G, theta_D the players' parameters, f(theta_G, theta_D) = L_D on the step's batch
(real x, fakes G(z)), U one step of D's optimizer. The unrolled D is

    theta_D^0 = theta_D,   theta_D^{k+1} = U(theta_D^k, d f(theta_G, theta_D^k) / d theta_D^k),   k < K

and G minimises its loss against D(.; theta_D^K). Every theta_D^k depends on theta_G (through the
fakes in f), and G's gradient follows that dependence: it runs backward through the K updates of
D, gradients of gradients (``minigan.grad(..., create_graph=True)``; Note [second order] in
function.py). So G is pushed away from what D would learn to reject next, which is what keeps it
from hopping between modes. K = 0 is the plain GAN.

As in the paper's code (poolio/unrolled_gan), the real D step is the first of the K: the unrolled
steps start from D's parameters and optimizer state *before* this step's D update, on the same
batch and noise, through the same optimizer (SGD or Adam, here written with Tensor ops so that
they are differentiable: ``unrolled_sgd``, ``unrolled_adam``); D's parameters themselves are
changed only by its own optimizer. D's batch-norm running statistics are put back after the
unrolled forwards, so unrolling leaves no trace but G's update.

Cost: each G step adds K forward and backward passes of D with graphs, and a backward through
them: about K + 1 times a plain step's D work (measured in docs/mode-collapse.md).
"""

import contextlib

from minigan import backend
from minigan.backward import grad
from minigan.errors import MiniganError
from minigan.function import enable_grad
from minigan.gan import losses, penalties
from minigan.tensor import Tensor

TINY = 1e-30  # under Adam's square root: keeps d sqrt(v)/dv finite where a gradient is exactly 0


@contextlib.contextmanager
def parameters_replaced(module, values):
    """Run ``module`` with its parameters replaced by ``values`` (Tensors, in ``parameters()``
    order), e.g. the graph nodes of an unrolled update; the Parameters come back on exit.
    (torch.func.functional_call does this for PyTorch.)"""
    owners = [(m, name) for _, m in module.named_modules() for name in m._parameters]
    if len(owners) != len(values):
        raise ValueError(f"{len(values)} values for {len(owners)} parameters")
    originals = [m._parameters[name] for m, name in owners]
    try:
        for (m, name), v in zip(owners, values):
            object.__setattr__(m, name, v)  # not Module.__setattr__: the parameter table stays as it is
        yield
    finally:
        for (m, name), p in zip(owners, originals):
            object.__setattr__(m, name, p)


def unrolled_sgd(params, grads, state, lr):
    """One differentiable SGD step: theta - lr g."""
    return [p - g * lr for p, g in zip(params, grads)], state


def unrolled_adam(params, grads, state, lr, betas, eps, eps_root=0.0):
    """One differentiable Adam step, the rule of optim.Adam (PyTorch's, with optim.Adam's eps_root):

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  t += 1
        theta - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t) + eps_root) + eps)

    ``state`` is (m list, v list, t); m and v become Tensors of the graph after the first step."""
    (b1, b2), (m, v, t) = betas, state
    t += 1
    m = [mi * b1 + g * (1 - b1) for mi, g in zip(m, grads)]
    v = [vi * b2 + g * g * (1 - b2) for vi, g in zip(v, grads)]
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    new = [p - (mi / c1) / ((vi / c2 + (eps_root + TINY)) ** 0.5 + eps) * lr for p, mi, vi in zip(params, m, v)]
    return new, (m, v, t)


class Unroller:
    """The unrolled G loss of one Trainer: ``snapshot`` D before its update, ``g_logits`` after.

    Args:
        trainer: the Trainer (one G and one D, named "G" and "D").
        steps (int): K, D's unrolled update steps.
    """

    def __init__(self, trainer, steps):
        self.trainer, self.steps = trainer, steps
        self.saved = None

    def snapshot(self):
        """Keep D's parameters, optimizer state and buffers as they are before this step's D update."""
        tr = self.trainer
        D, opt = tr.networks["D"], tr.optimizers["D"]
        xp = backend.get_array_module(D.parameters()[0].data)
        copy = lambda arrays: [None if a is None else xp.array(a, copy=True) for a in arrays]  # noqa: E731
        state = None
        if hasattr(opt, "exp_avg"):
            state = (copy(opt.exp_avg), copy(opt.exp_avg_sq), opt.step_count)
        buffers = {k: xp.array(v, copy=True) for k, v in D.state_dict().items()
                   if k not in dict(D.named_parameters())}
        self.saved = (copy([p.data for p in D.parameters()]), state, buffers)

    def step_rule(self):
        """(update function, its start state) for D's optimizer, from the snapshot."""
        opt = self.trainer.optimizers["D"]
        _, state, _ = self.saved
        if state is None:  # optim.SGD (plain, as checked)
            return lambda p, g, s: unrolled_sgd(p, g, s, opt.lr), None
        m, v, t = state
        zeros = [backend.get_array_module(p.data).zeros_like(p.data) for p in opt.params]
        state = ([a if a is not None else z for a, z in zip(m, zeros)],
                 [a if a is not None else z for a, z in zip(v, zeros)], t)
        return lambda p, g, s: unrolled_adam(p, g, s, opt.lr, opt.betas, opt.eps, opt.eps_root), state

    def unrolled_parameters(self, real, cond, fake, fake_cond):
        """theta_D^K as Tensors of a graph that reaches theta_G through ``fake`` (not detached)."""
        tr = self.trainer
        D = tr.networks["D"]
        values, _, _ = self.saved
        theta = [Tensor(v, requires_grad=True) for v in values]
        update, state = self.step_rule()
        smoothing = tr.config.label_smoothing
        with enable_grad():
            for _ in range(self.steps):
                with parameters_replaced(D, theta):
                    real_logits, fake_logits = tr.d_logits(real, cond, fake, fake_cond)
                if smoothing:
                    loss = tr.loss.d_loss(real_logits, fake_logits, real_target=1.0 - smoothing)
                else:
                    loss = tr.loss.d_loss(real_logits, fake_logits)
                grads = grad(loss, theta, create_graph=True)
                theta, state = update(theta, grads, state)
        return theta

    def g_logits(self, fake, fake_cond, real, cond):
        """(fake_logits, real_logits or None) of D(.; theta_D^K), both still functions of theta_G."""
        tr = self.trainer
        D = tr.networks["D"]
        _, _, buffers = self.saved
        xp = backend.get_array_module(D.parameters()[0].data)
        after_update = {k: xp.array(v, copy=True) for k, v in D.state_dict().items() if k in buffers}
        load_buffers(D, buffers)  # the unrolled steps start from D's statistics before its update
        try:
            theta = self.unrolled_parameters(Tensor(real.data), cond, fake, fake_cond)
            with parameters_replaced(D, theta):
                fake_logits = tr.discriminate(fake, fake_cond)
                real_logits = tr.discriminate(real, cond) if tr.loss.g_needs_real else None
        finally:
            load_buffers(D, after_update)  # ... and D keeps those of its real update
        self.saved = None
        return fake_logits, real_logits


def load_buffers(module, buffers):
    """Put back buffer arrays (name -> array, the names of ``state_dict``) into ``module``'s layers."""
    paths = dict(module.named_modules())
    for key, value in buffers.items():
        path, _, name = key.rpartition(".")
        paths[path]._set_buffer(name, value)


def check(config, model):
    """Raise MiniganError when --unroll cannot work with the other settings or with ``model``."""
    if config.unroll < 0:
        raise MiniganError(f"--unroll must be 0 (off) or more, not {config.unroll}.")
    if not config.unroll:
        return
    if not model.single_pair or not model.unrollable:
        raise MiniganError(f"--unroll differentiates through the updates of one D judging G's samples, and "
                           f"--model {model.name} has no such D; use --model gan, dcgan or cgan.")
    if losses.get_loss(config.loss).pairwise:
        raise MiniganError(f"--unroll needs a D that judges each image, not --loss {config.loss}'s pairs; "
                           "use another --loss.")
    refused = [name for name, on in (("--gp", config.gp), ("--clip", config.clip),
                                     ("--spectral-norm", config.spectral_norm),
                                     ("--feature-matching", config.feature_matching),
                                     ("--instance-noise", config.instance_noise), ("--replay", config.replay),
                                     ("--historical-averaging", config.historical_averaging)) if on]
    if refused:
        raise MiniganError(f"--unroll unrolls D's plain loss and optimizer step; {refused[0]} changes that step, "
                           "so use one or the other.")
    if penalties.optimizer_name(config) not in ("adam", "sgd"):
        raise MiniganError(f"--unroll differentiates through SGD or Adam steps (the paper's), not "
                           f"--optimizer {penalties.optimizer_name(config)}.")
