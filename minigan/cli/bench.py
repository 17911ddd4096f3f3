"""`minigan bench` and `minigan gradcheck`: the engine's own measurements, speed and correctness."""

import sys

import click

from minigan.cli.decorators import device_option, friendly_errors, seed_option
from minigan.errors import MiniganError


@click.command()
@click.option("--op", "names", multiple=True, help="Check only this op or layer (repeatable).")
@click.option("--order", type=click.IntRange(1, 2), default=1, show_default=True,
              help="1: the gradient; 2: the gradient of the gradient (the recorded backward of "
                   "create_graph=True, checked against finite differences of the first gradient and "
                   "against the array backward), with respect to the inputs and the upstream gradient.")
@seed_option("Seed for inputs and upstream gradients.")
@friendly_errors
def gradcheck(names, order, seed):
    """Check every op's and layer's backward against float64 finite differences.

    Prints one row per check: shapes, max abs error, max relative error, pass/fail.
    Exits with status 1 when any check fails. The checks run in float64 on NumPy (the
    CPU), whatever device the other commands use.

    \b
    Examples:
      minigan gradcheck
      minigan gradcheck --order 2               # second derivatives of every op and layer
      minigan gradcheck --op conv2d\\ s2\\ p1 --op nn.BatchNorm2d
    """
    from minigan import gradcheck_cases

    unknown = [n for n in names if n not in gradcheck_cases.CASES]
    if unknown:
        raise MiniganError(f"unknown check {unknown[0]!r}; run `minigan gradcheck` to list them all.")
    results = gradcheck_cases.run_all(seed, names or None, order)
    width = max(len(r.name) for r in results)
    click.echo(f"{'op / layer':<{width}}  {'input shapes':<28} {'max abs err':>11} {'max rel err':>11}  result")
    for r in results:
        verdict = click.style("pass", fg="green") if r.ok else click.style("FAIL", fg="red", bold=True)
        click.echo(f"{r.name:<{width}}  {r.shapes:<28} {r.max_abs:11.2e} {r.max_rel:11.2e}  {verdict}")
    failed = sum(not r.ok for r in results)
    what = "gradient" if order == 1 else "second-order (gradgradcheck)"
    click.echo(f"\n{len(results) - failed}/{len(results)} {what} checks passed (float64 central differences).")
    sys.exit(1 if failed else 0)


@click.command()
@click.option("--model", "models", multiple=True, type=click.Choice(["dcgan28", "dcgan64"]),
              help="Benchmark model (repeatable; default: dcgan28).")
@click.option("--batch", type=int, default=None, help="Batch size (default: 128 for dcgan28, 64 for dcgan64).")
@click.option("--steps", type=int, default=10, show_default=True, help="Timed training steps per side.")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed steps first.")
@click.option("--against", type=click.Choice(["none", "torch"]), default="none", show_default=True,
              help="Also time the identical PyTorch model in the same run, alternating, and print the ratio.")
@click.option("--threads", type=int, multiple=True,
              help="CPU threads for both sides (0: each library's default). Repeatable: the comparison runs "
                   "once per count, in turn, and closes with a table of them.")
@click.option("--per-layer/--no-per-layer", default=True, show_default=True,
              help="Time each layer's forward and backward.")
@click.option("--tf32/--no-tf32", default=False, show_default=True,
              help="GPU only: let the peer's (and our) GEMMs use TF32 instead of strict FP32.")
@click.option("--memory/--no-memory", default=True, show_default=True,
              help="Measure peak memory (RSS; GPU pool bytes), each side in its own process.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also save every figure to this JSON file.")
@click.option("--ranks", type=int, default=0, metavar="N",
              help="Data-parallel scaling instead: minigan train's step on N ranks (under mpiexec) x threads/N "
                   "threads against one process of --threads threads (default: every core) and one of threads/N.")
@click.option("--rounds", type=int, default=3, show_default=True, help="--ranks: rounds of the three, alternating.")
@click.option("--clock", type=click.Choice(["wall", "cpu"]), default="wall", show_default=True,
              help="wall: elapsed time. cpu: the process's CPU seconds, steadier on a busy machine "
                   "(exact with --threads 1; with more threads it counts spin-waiting too).")
@device_option
@friendly_errors
def bench(models, batch, steps, warmup, against, threads, per_layer, tf32, memory, json_path, ranks, rounds, clock,
          device):
    """Time full DCGAN training steps (D step, G step, Adam on both).

    Prints ms/step, images/s, each layer's forward and backward time and peak
    memory; with --against torch the identical PyTorch model runs in the same
    process, alternating with minigan, and the ratio minigan/PyTorch is printed
    (below 1.0 means minigan is faster). Peak memory is measured with each side
    in a process of its own.

    The roofline view: the machine's SGEMM peak is measured first (a 2048^3
    float32 matmul, in the same threads), each side's and each layer's GFLOP/s
    is given as a % of it, and the FLOP floor (the step's GEMM work at the
    peak) is printed beside the measured ms/step. With --threads given more
    than once, everything is run once per count and a closing table compares
    the counts.

    \b
    Examples:
      minigan bench
      minigan bench --against torch --threads 2
      minigan bench --against torch --threads 2 --threads 1 --no-memory   (one row per count)
      minigan bench --model dcgan64 --against torch --threads 2 --steps 3
      minigan bench --against torch --threads 1 --clock cpu     (a busy machine)
      minigan bench --device gpu --against torch --tf32 --json gpu.json
      minigan bench --ranks 2 --threads 2     (2 ranks x 1 thread against 1 rank x 2 threads)
    """
    if ranks:
        from minigan.bench import scaling

        if against != "none" or device != "cpu" or len(models) > 1:
            raise MiniganError("--ranks times minigan on the CPU, one --model at a time; drop --against and --device.")
        if len(threads) > 1:
            raise MiniganError("--ranks takes one --threads (the threads of the whole machine), not several.")
        scaling.run(ranks, (threads or (0,))[0], (models or ("dcgan28",))[0], batch, steps, warmup, rounds, click.echo,
                    json_path)
        return
    from minigan import bench as bench_module

    bench_module.run(models or ("dcgan28",), batch, steps, warmup, against, threads, per_layer, tf32, device,
                     memory, json_path, click.echo, clock)
