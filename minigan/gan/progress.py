"""A one-line progress bar with ETA that also lets log lines through.

On a terminal the bar redraws itself in place (at most ten times a second); log lines written
with ``write`` appear above it. On anything else (a pipe, a log file, CI) the bar draws nothing,
so logs hold only the log lines.
"""

import shutil
import sys
import time

REDRAW_S = 0.1


def format_duration(seconds):
    """7 -> '0:07', 3725 -> '1:02:05'."""
    seconds = round(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_rate(seconds_per_step):
    """Seconds per step, or steps per second when that reads better (fast GPUs)."""
    if seconds_per_step is None:
        return "? s/step"
    if seconds_per_step >= 0.1:
        return f"{seconds_per_step:.2f} s/step"
    return f"{1 / max(seconds_per_step, 1e-9):.1f} steps/s"


class ProgressBar:
    """``label |#####-----| done/total [elapsed<eta, rate]`` for one epoch.

    Args:
        total (int): steps in the epoch.
        label (str): e.g. "epoch 2/5".
        done (int): steps already done (a resumed epoch).
        stream: where to draw (default sys.stdout).
        enabled (bool or None): None draws only when ``stream`` is a terminal.
        echo (callable or None): prints a log line (default: write it to ``stream``).
    """

    def __init__(self, total, label="", done=0, stream=None, enabled=None, echo=None):
        self.stream = stream or sys.stdout
        self.echo = echo or (lambda line: self.stream.write(line + "\n"))
        self.enabled = self._is_tty() if enabled is None else enabled
        self.total, self.label, self.done, self.start_done = total, label, done, done
        self.start = time.perf_counter()
        self.first_step_end = None  # the first step compiles kernels: rates are timed after it
        self.last_draw = 0.0
        self.drawn = False

    def _is_tty(self):
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    @property
    def seconds_per_step(self):
        """Mean seconds per step after the first one, or None before two steps."""
        steps = self.done - self.start_done - 1
        if self.first_step_end is None or steps < 1:
            return None
        return (time.perf_counter() - self.first_step_end) / steps

    @property
    def elapsed(self):
        return time.perf_counter() - self.start

    def update(self, n=1):
        self.done += n
        if self.first_step_end is None:
            self.first_step_end = time.perf_counter()
        now = time.perf_counter()
        if self.enabled and (now - self.last_draw >= REDRAW_S or self.done >= self.total):
            self._draw()
            self.last_draw = now

    def render(self, width=None):
        """The bar as text, fitted to ``width`` columns (the bar keeps its length as numbers change)."""
        width = width or shutil.get_terminal_size((100, 20)).columns
        rate = self.seconds_per_step
        eta = "?" if rate is None else format_duration(rate * (self.total - self.done))
        tail = f" {self.done}/{self.total} [{format_duration(self.elapsed)}<{eta}, {format_rate(rate)}]"
        widest = f" {self.total}/{self.total} [0:00:00<0:00:00, 99.99 s/step]"
        room = max(width - len(self.label) - len(widest) - 4, 10)
        filled = int(room * self.done / max(self.total, 1))
        return f"{self.label} |{'#' * filled}{'-' * (room - filled)}|{tail}"

    def _draw(self):
        self.stream.write("\r" + self.render()[: shutil.get_terminal_size((100, 20)).columns - 1])
        self.stream.flush()
        self.drawn = True

    def _clear(self):
        if self.drawn:
            self.stream.write("\r\x1b[2K")  # carriage return, then erase the whole line
            self.stream.flush()
            self.drawn = False

    def write(self, line):
        """Print a line above the bar (or just print it when the bar is not drawn)."""
        self._clear()
        self.echo(line)
        if self.enabled:
            self._draw()

    def close(self):
        """Erase the bar (the epoch's summary line takes its place)."""
        self._clear()
        self.stream.flush()
