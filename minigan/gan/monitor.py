"""What a training run watches: step metrics, NaN/inf, log lines, and Ctrl-C or SIGTERM.

Metrics arrive from ``train_step`` as 0-d arrays on the device. They stay there until
``collect`` brings all pending ones to the host in one transfer per metric, so a GPU run
synchronises only when it logs. Every collected value is checked: a NaN or inf raises a
MiniganError that names the step, keeps the last good checkpoint and says what to try.
"""

import math
import signal
import threading
import time

import numpy as np

from minigan import backend
from minigan.errors import MiniganError

LABELS = {"D_x": "D(x)", "D_G_z": "D(G(z))", "grad_norm_D": "|grad D|", "grad_norm_G": "|grad G|"}


class Monitor:
    """Pending device metrics, host history and the log line of one run.

    Args:
        trainer: the Trainer (its ``history`` receives one row per step).
        run (RunFolder): metrics.jsonl is appended to.
        steps_per_epoch (int): for the log line.
        echo (callable): prints a line when no progress bar is set.
    """

    def __init__(self, trainer, run, steps_per_epoch, echo=print):
        self.trainer, self.run, self.steps_per_epoch, self.echo = trainer, run, steps_per_epoch, echo
        self.pending, self.window = [], []
        self.last = {k: v[-1] for k, v in trainer.history.items() if v}  # carried over steps without a value
        self.window_start = time.perf_counter()
        self.saved = (trainer.epoch, trainer.step) if trainer.step else None
        self.bar = None

    def add(self, out):
        self.pending.append((self.trainer.step, out))

    def collect(self):
        """Bring pending metrics to the host, check them, append them to the history."""
        if not self.pending:
            return
        keys = list(dict.fromkeys(k for _, out in self.pending for k in out))
        host = {}
        for k in keys:
            values = [out[k] for _, out in self.pending if k in out]
            xp = backend.get_array_module(*values)
            host[k] = iter(backend.to_cpu(xp.stack(values)).tolist())
        rows = []
        for step, out in self.pending:
            for k in keys:
                if k in out:
                    value = next(host[k])
                    if not math.isfinite(value):
                        self.pending = []
                        raise self.diverged(step, k, value)
                    self.last[k] = value
            rows.append(dict(self.last))  # a metric not computed this step (loss_G, d_steps > 1) repeats
        self.pending = []
        self.trainer.record(rows)
        self.window.extend(rows)

    def check_parameters(self):
        """Raise when any parameter is NaN or inf (one reduction and one transfer per network)."""
        for name, net in self.trainer.networks.items():
            params = net.parameters()
            xp = backend.get_array_module(*params)
            if not bool(xp.all(xp.stack([xp.isfinite(p.data).all() for p in params]))):
                raise self.diverged(self.trainer.step, f"a parameter of {name}", float("nan"))

    def diverged(self, step, what, value):
        """The MiniganError of a NaN/inf at ``step``: what happened, what is kept, what to try."""
        cfg = self.trainer.config
        if self.saved is None:
            kept = "no checkpoint had been written yet"
        else:
            kept = (f"the last good checkpoint {self.run.last_checkpoint} "
                    f"(epoch {self.saved[0]}, step {self.saved[1]}) is kept")
        lr = min(self.trainer.lr_for("G"), self.trainer.lr_for("D"))
        return MiniganError(f"training diverged: {what} became {value} at step {step} "
                            f"(epoch {self.trainer.epoch + 1}), "
                            f"so it stopped and {kept}; try a lower learning rate (e.g. --lr {lr / 4:g}), "
                            f"the non-saturating loss or another --seed (the setting was --lr {cfg.lr:g}, "
                            f"--loss {cfg.loss}).")

    def log(self, epoch_step):
        """Collect, then print and save the means of the steps since the last log line."""
        self.collect()
        if not self.window:
            return
        now = time.perf_counter()
        means = {k: float(np.nanmean([row.get(k, np.nan) for row in self.window])) for k in self.window[-1]}
        rate = (now - self.window_start) / len(self.window)
        cfg = self.trainer.config
        text = log_text(means)
        line = (f"epoch {self.trainer.epoch + 1}/{cfg.epochs} step {epoch_step}/{self.steps_per_epoch}  "
                f"{text}  ({rate:.3g} s/step)")
        (self.bar.write if self.bar is not None else self.echo)(line)
        self.run.append_metrics({"epoch": self.trainer.epoch + 1, "step": self.trainer.step,
                                 "epoch_step": epoch_step, **means, "s_per_step": rate})
        self.window, self.window_start = [], now


def log_text(means):
    """The headline figures of a log line. D(G(z)) reads "before / after" D's update, as in
    pytorch/examples; per-layer gradient norms go to metrics.jsonl only."""
    parts = []
    for k, v in means.items():
        if ":" in k or k == "D_G_z2":
            continue
        text = f"{LABELS.get(k, k)} {v:.4f}"
        if k == "D_G_z" and "D_G_z2" in means:
            text += f" / {means['D_G_z2']:.4f}"
        parts.append(text)
    return "  ".join(parts)


class GracefulInterrupt:
    """While active, the first Ctrl-C (SIGINT) or SIGTERM (``kill``, a job scheduler's stop) only sets
    ``requested`` (the loop then saves a checkpoint and stops); a second one interrupts at once.
    Outside the main thread it does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.previous = {}

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handler) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        self.previous = {}
        return False
