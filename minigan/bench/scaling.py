"""``minigan bench --ranks N``: the training step of ``minigan train`` on N ranks against one process.

Three configurations of the same cores, each run in processes of its own (N ranks under mpiexec),
alternating A B C A B C ... for ``rounds`` rounds, medians reported:

    A  1 rank  x T threads        the whole machine in one process (T: --threads, default all cores)
    B  N ranks x T/N threads      data-parallel on the same cores
    C  1 rank  x T/N threads      one rank's share alone

B / A (throughput) says whether data-parallel pays on this machine; A / C and B / C are the
speedups of more threads and of more ranks, and (B / C) / N the scaling efficiency.

The step is what ``minigan train`` runs per step (gan/training.run_epoch): this rank's rows of
the global batch, ``train_step`` (D step, G step, gradient all-reduce, synchronised batch norm),
the metrics averaged over the ranks, the stop flag agreed, the metrics brought to the host. The
model is DCGAN on synthetic images (dcgan28: 1x28x28, dcgan64: 3x64x64), the global batch --batch.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from minigan.errors import MiniganError

SHAPES = {"dcgan28": (28, 1), "dcgan64": (64, 3)}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def configurations(ranks, threads):
    """[(label, ranks, threads per rank)] of A, B and C."""
    share = max(1, threads // ranks)
    return [("A", 1, threads), ("B", ranks, share), ("C", 1, share)]


def child_command(model, batch, steps, warmup, out):
    return [sys.executable, "-m", "minigan.bench.scaling", "--model", model, "--batch", str(batch),
            "--steps", str(steps), "--warmup", str(warmup), "--out", out]


def run_configuration(ranks, threads, model, batch, steps, warmup, timeout_s=1800):
    """Seconds per step of one configuration, measured in fresh processes."""
    from minigan import distributed

    env = distributed.launch.clean_environment()
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "step.json")
        command = child_command(model, batch, steps, warmup, out)
        if ranks > 1:
            command = distributed.launch.mpiexec_command(ranks) + command
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0 or not os.path.exists(out):
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise MiniganError(f"the {ranks}-rank benchmark process failed (status {done.returncode}): "
                               + " / ".join(tail))
        with open(out) as f:
            return json.load(f)["seconds_per_step"]


def check(ranks, threads, batch, steps, warmup, rounds):
    if ranks < 2:
        raise MiniganError(f"--ranks must be 2 or more, not {ranks}.")
    if threads < 0 or steps < 1 or warmup < 0 or rounds < 1:
        raise MiniganError("--threads must be 0 or more, --steps and --rounds 1 or more, --warmup 0 or more.")
    if batch % ranks:
        raise MiniganError(f"--batch {batch} does not split evenly over {ranks} ranks; use a multiple of {ranks}.")


def run(ranks, threads, model, batch, steps, warmup, rounds, echo=print, json_path=None):
    """Time A, B and C (module docstring), print the table, optionally save it as JSON; returns the figures."""
    threads = threads or os.cpu_count() or 1
    batch = batch or 128
    check(ranks, threads, batch, steps, warmup, rounds)
    configs = configurations(ranks, threads)
    times = {label: [] for label, _, _ in configs}
    echo(f"data-parallel scaling: {model}, global batch {batch}, {steps} steps after {warmup} warm-up, "
         f"{rounds} round{'s' if rounds > 1 else ''} (A B C alternating), median seconds per step")
    for _ in range(rounds):
        for label, n, t in configs:
            times[label].append(run_configuration(n, t, model, batch, steps, warmup))
    rows = []
    base = statistics.median(times["A"])
    for label, n, t in configs:
        s = statistics.median(times[label])
        rows.append({"config": label, "ranks": n, "threads_per_rank": t, "ms_per_step": 1000 * s,
                     "images_per_s": batch / s, "vs_A": base / s, "all_ms": [1000 * x for x in times[label]]})
    echo(f"{'':3}{'configuration':<24}{'ms/step':>9}{'images/s':>10}{'throughput vs A':>17}")
    for r in rows:
        what = f"{r['ranks']} rank{'s' if r['ranks'] > 1 else ''} x {r['threads_per_rank']} thread" + \
            ("s" if r["threads_per_rank"] > 1 else "")
        echo(f"{r['config']:<3}{what:<24}{r['ms_per_step']:>9.1f}{r['images_per_s']:>10.1f}{r['vs_A']:>17.2f}")
    a, b, c = (statistics.median(times[k]) for k in "ABC")
    speedup = c / b
    echo(f"B vs A: {a / b:.2f}x the throughput of one process on the same {threads} cores; "
         f"B vs C: speedup {speedup:.2f} on {ranks} ranks, scaling efficiency {speedup / ranks:.2f}")
    figures = {"model": model, "batch": batch, "ranks": ranks, "threads": threads, "steps": steps,
               "warmup": warmup, "rounds": rounds, "rows": rows, "b_vs_a": a / b, "speedup": speedup,
               "efficiency": speedup / ranks}
    if json_path:
        from minigan import files

        with files.atomic_open(json_path, "JSON file", "choose a writable --json path.") as f:
            f.write(json.dumps(figures, indent=2).encode() + b"\n")
    return figures


# -- the benchmark process --------------------------------------------------------------------------
def step_once(trainer, batches, comm):
    """One step as gan/training.run_epoch takes it; returns the host metrics."""
    from minigan.gan import data_parallel

    real, labels = data_parallel.local_batch(comm, *batches.next_batch())
    out = data_parallel.mean_metrics(comm, trainer.train_step(trainer.to_device(real), None))
    trainer.step += 1
    data_parallel.any_rank(comm, False)
    return {k: float(v) for k, v in out.items()}


def measure(model, batch, steps, warmup):
    """Seconds per step of this process (with its ranks, under mpiexec), on rank 0; None elsewhere."""
    from minigan import data, distributed, gan
    from minigan.gan import data_parallel

    comm = distributed.world("cpu")
    size, channels = SHAPES[model]
    config = gan.TrainConfig(dataset="synthetic", model="dcgan", batch_size=batch, image_size=size,
                             channels=channels)
    dataset = data.load_dataset("synthetic", image_size=size, channels=channels)
    trainer = gan.get_trainer_class("dcgan")(config, dataset.image_shape, dataset.num_classes)
    data_parallel.attach(trainer, comm)
    batches = data.BatchIterator(dataset, batch, trainer.rngs["data"])
    for _ in range(warmup):
        step_once(trainer, batches, comm)
    comm.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step_once(trainer, batches, comm)
    comm.barrier()
    seconds = (time.perf_counter() - start) / steps
    return seconds if comm.rank == 0 else None


def main(argv=None):
    parser = argparse.ArgumentParser(description="one configuration of `minigan bench --ranks` (a child process)")
    parser.add_argument("--model", choices=sorted(SHAPES), default="dcgan28")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    seconds = measure(args.model, args.batch, args.steps, args.warmup)
    if seconds is not None:
        with open(args.out, "w") as f:
            json.dump({"seconds_per_step": seconds}, f)


if __name__ == "__main__":
    main()
