"""`minigan doctor`: does this installation work -- and with --gpu, the GPU proof in one command."""

import sys
import time

import click

from minigan.cli.decorators import friendly_errors
from minigan.errors import MiniganError

STEPS = ("environment", "tests", "agreement", "train", "sample", "round-trip", "bench")  # minigan.doctor.STEPS


@click.command("doctor")
@click.option("--gpu", is_flag=True, help="Run the GPU proof (needs a GPU; without one it says so in one line).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Where the report and everything it made go (default: runs/doctor-<time>).")
@click.option("--skip", multiple=True, type=click.Choice(STEPS), help="Leave out a step (repeatable).")
@click.option("--dataset", default="mnist", show_default=True,
              help="The train step's data (synthetic, and a failed step, when it cannot be loaded).")
@click.option("--data-dir", type=click.Path(), default=None, help="Where the dataset's files are.")
@click.option("--limit", type=int, default=None, help="Train on the first N images only.")
@click.option("--bench-steps", type=click.IntRange(min=1), default=10, show_default=True,
              help="Timed steps of each benchmark (strict FP32, then TF32).")
@click.option("--bench-batch", type=click.IntRange(min=2), default=None,
              help="Images per benchmark step (default 128).")
@friendly_errors
def doctor_command(gpu, out, skip, dataset, data_dir, limit, bench_steps, bench_batch):
    """Check that minigan works here; with --gpu, prove the GPU path in one go.

    --gpu runs, on the GPU: the environment (versions; a kernel compiled and run; every kernels/*.cu
    compiled and loaded), the GPU tests (pytest -m gpu, from a checkout), one DCGAN step on the CPU
    and the GPU side by side (losses and gradients agree), `minigan train mnist --device gpu
    --epochs 1`, sampling, a CPU <-> GPU checkpoint round trip, and `minigan bench --device gpu
    --against torch` in strict FP32 and TF32. It writes report.md and report.json (every figure)
    and exits with status 1 when a step failed. A few minutes on an H100/H200.

    \b
    Examples:
      minigan doctor --gpu
      minigan doctor --gpu --data-dir /data/mnist --out runs/doctor
      minigan doctor --gpu --skip tests --skip bench
    """
    from minigan import doctor

    if not gpu:
        raise MiniganError("minigan doctor checks the GPU path: run `minigan doctor --gpu` on a machine with a GPU "
                           "(the CPU path is checked by the test suite, `python -m pytest`).")
    out = out or f"runs/doctor-{time.strftime('%Y%m%d-%H%M%S')}"
    outcomes = doctor.run(out, skip, dataset, data_dir, limit, bench_steps, bench_batch, click.echo)
    sys.exit(1 if any(o.status == "failed" for o in outcomes) else 0)
