"""What every `minigan` command shares: one-line errors, and the options that mean the same everywhere.

A MiniganError (a user mistake found by the library) and a usage mistake found by click (an
unknown option, a value of the wrong type) both print one sentence, ``Error: ...``, on stderr,
without a traceback, and exit with status 2.
"""

import functools
import sys

import click

from minigan.errors import MiniganError


class CommandGroup(click.Group):
    """click's Group, but a usage mistake reads like every other error: one line, status 2.

    click would print the usage line, a hint and the error on three lines; here the hint is
    folded into the one sentence.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else ctx.command_path
            click.echo(f"Error: {e.format_message().rstrip('.')} (see `{where} --help`).", err=True)
            ctx.exit(2)


def friendly_errors(fn):
    """Turn MiniganError into one clear line and exit status 2; Ctrl-C or SIGTERM into status 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MiniganError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)

    return wrapper


def data_parallel(fn):
    """Pass the command ``comm``: this rank's communicator when `mpiexec -n N` started it, else one process.

    When the command raises on some rank, every rank stops without a hang and the error is printed
    once (Note [stopping together] in minigan/distributed/communicator.py). Put it below
    ``friendly_errors``, which prints what rank 0 raises.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from minigan import distributed

        comm = distributed.world(kwargs.get("device", "cpu"))
        with distributed.stopping_together(comm):
            return fn(*args, comm=comm, **kwargs)

    return wrapper


def device_option(fn):
    return click.option("--device", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
                        help="Where the arrays live: cpu (NumPy + Numba) or gpu (CuPy + CUDA kernels).")(fn)


def seed_option(help_text):
    """--seed: a whole number of 0 or more (what numpy's Generators accept)."""
    return click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help=help_text)
