"""Exponential moving averages of a network's weights (--ema for G, --ema-d for D), used in place of
the trained weights when the network is evaluated: G's samples, the semi-supervised D's test error.

Salimans et al. 2016 (section 5; their code's ``disc_param_avg``) test D with a moving average of its
weights, theta_avg <- theta_avg + (1 - beta) (theta - theta_avg) with beta = 0.9999; Yazici et al.
2019 ("The Unusual Effectiveness of Averaging in GAN Training") show the same for G's samples.

Notation: theta a parameter after the t-th optimizer step (t = 1, 2, ...), beta = the --ema decay:

    avg_1 = theta_1,    avg_t = b_t avg_{t-1} + (1 - b_t) theta_t,    b_t = min(beta, (1 + t) / (10 + t))

The warm-up b_t (TensorFlow's ExponentialMovingAverage with num_updates) lets the average follow
the fast early changes instead of remembering the random init for 1 / (1 - beta) steps: the paper's
code starts its average at 0 and trains 180,000 steps, a budget where the start no longer matters;
a run of a few epochs here is not. Batch-norm statistics are not averaged (they are the network's
own, measured on data). The averages are saved in checkpoints, so a resumed run goes on exactly.
"""

import contextlib

import numpy as np

from minigan import backend
from minigan.errors import MiniganError


class SavedAverages:
    """Checkpointing of per-parameter averages: ``averages`` (one array per parameter, on its device)
    and ``count``. Shared by this module's moving average and techniques.HistoricalAverage."""

    def state_dict(self):
        return {"count": np.asarray(self.count), **{f"average.{i}": a for i, a in enumerate(self.averages)}}

    def load_state_dict(self, state):
        self.count = int(state["count"])
        for i, avg in enumerate(self.averages):
            avg[...] = backend.to_device(backend.to_cpu(state[f"average.{i}"]), backend.device_of(avg))


class ExponentialAverage(SavedAverages):
    """The moving average of ``params`` (see the module docstring).

    Args:
        params (list of Parameter): the network's parameters.
        decay (float): beta in (0, 1).
    """

    def __init__(self, params, decay):
        self.params, self.decay = list(params), float(decay)
        self.averages = [p.data.copy() for p in self.params]
        self.count = 0

    def update(self):
        """Fold the parameters' current values in (after an optimizer step)."""
        self.count += 1
        b = min(self.decay, (1 + self.count) / (10 + self.count)) if self.count > 1 else 0.0
        for avg, p in zip(self.averages, self.params):
            avg *= b
            avg += (1 - b) * p.data

    @contextlib.contextmanager
    def swapped_in(self):
        """The averages in the parameters' place inside the block, the trained values restored after."""
        saved = [p.data for p in self.params]
        for p, avg in zip(self.params, self.averages):
            p.data = avg.copy()
        try:
            yield
        finally:
            for p, value in zip(self.params, saved):
                p.data = value


def make_averages(trainer):
    """{"ema:<network>": ExponentialAverage} for each network whose role has an --ema / --ema-d decay."""
    cfg, states = trainer.config, {}
    for name, net in trainer.networks.items():
        decay = cfg.ema if trainer._roles[name] == "G" else cfg.ema_d
        if decay:
            states[f"ema:{name}"] = ExponentialAverage(net.parameters(), decay)
    return states


@contextlib.contextmanager
def swapped_in(trainer, role):
    """Every network of ``role`` ("G" or "D") with its averaged weights inside the block (those without
    an average as they are)."""
    with contextlib.ExitStack() as stack:
        for name in trainer.networks:
            average = trainer.states.get(f"ema:{name}")
            if average is not None and trainer._roles[name] == role:
                stack.enter_context(average.swapped_in())
        yield


@contextlib.contextmanager
def without_averages(trainer, role):
    """Inside the block, the networks of ``role`` are evaluated with their weights as trained."""
    names = [n for n in trainer.networks if trainer._roles[n] == role and f"ema:{n}" in trainer.states]
    held = {n: trainer.states.pop(f"ema:{n}") for n in names}
    try:
        yield
    finally:
        trainer.states.update({f"ema:{n}": a for n, a in held.items()})


def update(trainer, net):
    """After network ``net``'s optimizer step: fold its weights into its average, if it has one."""
    average = trainer.states.get(f"ema:{net}")
    if average is not None:
        average.update()


def check(config):
    """Refuse a decay outside [0, 1) (0: off)."""
    for field in ("ema", "ema_d"):
        value = getattr(config, field)
        if not 0 <= value < 1:
            raise MiniganError(f"--{field.replace('_', '-')} is a decay in [0, 1) (0.999 for G, 0.9999 as the paper "
                               f"for D; 0: off), not {value}.")
