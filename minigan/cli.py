"""Floor 8: the `minigan` command. Options map 1:1 to library arguments; no logic of its own.

A MiniganError (a user mistake) is printed as one sentence on stderr, without a
traceback, and the command exits with status 2.
"""

import functools
import sys

import click

from minigan import __version__
from minigan.errors import MiniganError


def friendly_errors(fn):
    """Turn MiniganError into one clear line and a non-zero exit."""

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


def device_option(fn):
    return click.option("--device", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
                        help="Where the arrays live: cpu (NumPy + Numba) or gpu (CuPy + CUDA kernels).")(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="minigan")
def main():
    """minigan: a GAN engine written from scratch.

    \b
    Start here:
      minigan train mnist            train a DCGAN on MNIST with sensible defaults
      minigan gradcheck              watch every op's gradient being checked
      minigan bench --against torch  time a DCGAN step beside PyTorch
    """


@main.command()
@click.option("--op", "names", multiple=True, help="Check only this op or layer (repeatable).")
@click.option("--seed", default=0, show_default=True, help="Seed for inputs and upstream gradients.")
@friendly_errors
def gradcheck(names, seed):
    """Check every op's and layer's backward against float64 finite differences.

    Prints one row per check: shapes, max abs error, max relative error, pass/fail.
    Exits with status 1 when any check fails.

    \b
    Examples:
      minigan gradcheck
      minigan gradcheck --op conv2d\\ s2\\ p1 --op nn.BatchNorm2d
    """
    from minigan import gradcheck_cases

    unknown = [n for n in names if n not in gradcheck_cases.CASES]
    if unknown:
        raise MiniganError(f"unknown check {unknown[0]!r}; run `minigan gradcheck` to list them all.")
    results = gradcheck_cases.run_all(seed, names or None)
    width = max(len(r.name) for r in results)
    click.echo(f"{'op / layer':<{width}}  {'input shapes':<28} {'max abs err':>11} {'max rel err':>11}  result")
    for r in results:
        verdict = click.style("pass", fg="green") if r.ok else click.style("FAIL", fg="red", bold=True)
        click.echo(f"{r.name:<{width}}  {r.shapes:<28} {r.max_abs:11.2e} {r.max_rel:11.2e}  {verdict}")
    failed = sum(not r.ok for r in results)
    click.echo(f"\n{len(results) - failed}/{len(results)} checks passed (float64 central differences).")
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--model", "models", multiple=True, type=click.Choice(["dcgan28", "dcgan64"]),
              help="Benchmark model (repeatable; default: dcgan28).")
@click.option("--batch", type=int, default=None, help="Batch size (default: 128 for dcgan28, 64 for dcgan64).")
@click.option("--steps", type=int, default=10, show_default=True, help="Timed training steps per side.")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed steps first.")
@click.option("--against", type=click.Choice(["none", "torch"]), default="none", show_default=True,
              help="Also time the identical PyTorch model in the same run, alternating, and print the ratio.")
@click.option("--threads", type=int, default=0, help="CPU threads for both sides (0: leave as is).")
@click.option("--per-layer/--no-per-layer", default=True, show_default=True,
              help="Time each layer's forward and backward.")
@click.option("--tf32/--no-tf32", default=False, show_default=True,
              help="GPU only: let the peer's (and our) GEMMs use TF32 instead of strict FP32.")
@device_option
@friendly_errors
def bench(models, batch, steps, warmup, against, threads, per_layer, tf32, device):
    """Time full DCGAN training steps (D step, G step, Adam on both).

    Prints ms/step, images/s and peak memory; with --against torch the identical
    PyTorch model runs in the same process, alternating with minigan, and the
    ratio minigan/PyTorch is printed (below 1.0 means minigan is faster).

    \b
    Examples:
      minigan bench
      minigan bench --model dcgan64 --against torch --threads 2
      minigan bench --device gpu --against torch --tf32
    """
    from minigan import bench as bench_module

    bench_module.run(models or ("dcgan28",), batch, steps, warmup, against, threads, per_layer, tf32, device)


if __name__ == "__main__":
    main()
