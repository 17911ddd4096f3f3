"""``minigan bench``: build each benchmark model, time it (beside PyTorch when asked), print, save."""

import os
import shlex
import sys

import numpy as np

from minigan import backend
from minigan.bench import gemm_floor, layers, machine, report, roofline, step
from minigan.errors import MiniganError

MEMORY_STEPS = 3


def command_line():
    """The command as typed: the program's base name, then its arguments."""
    return shlex.join([os.path.basename(sys.argv[0])] + sys.argv[1:])


def _peer(against, device, echo):
    """True when the PyTorch peer can run; prints why not otherwise."""
    if against == "none":
        return False
    if against != "torch":
        raise MiniganError(f"unknown peer {against!r}; use --against torch or none.")
    problem = machine.torch_problem(device)
    if problem is not None:
        echo(f"note: --against torch: {problem}; timing minigan alone.")
        return False
    return True


IMAGE_SHAPES = {"dcgan28": (1, 28, 28), "dcgan64": (1, 64, 64)}
# Peak memory of a CPU training step grows with the batch by ~2800 bytes per input pixel (measured
# with --memory: dcgan28 2.1 MiB per 784-pixel image, dcgan64 15 MiB per 4096): activations, im2col
# columns, gradients. A --batch that needs more than the machine's memory is refused up front.
STEP_BYTES_PER_VALUE = 2800


def as_counts(threads):
    """``--threads`` as a tuple of counts: an int is one count, an empty sequence is (0,) (the defaults)."""
    if isinstance(threads, int):
        return (threads,)
    return tuple(threads) or (0,)


def _check_settings(steps, warmup, clock, device, models=("dcgan28",), batch=None, threads=(0,), json_path=None):
    """Raise MiniganError, before any model is built, on settings that cannot run or save."""
    from minigan import files, limits

    unknown = [m for m in models if m not in IMAGE_SHAPES]
    if unknown:
        raise MiniganError(f"unknown benchmark model {unknown[0]!r}; use dcgan28 or dcgan64.")
    if batch is not None and batch < 1:
        raise MiniganError(f"--batch must be 1 or more, not {batch}.")
    for count in threads:
        machine.check_threads(count)
    if batch is not None and device == "cpu":
        for arch in models:
            limits.check_images_fit(batch, IMAGE_SHAPES[arch], f"--batch {batch}", "use a smaller --batch.",
                                    STEP_BYTES_PER_VALUE, whole_machine=True)
    if json_path:
        files.check_writable(json_path, "--json", what="JSON file")
    if steps < 1 or warmup < 0:
        raise MiniganError(f"--steps must be at least 1 and --warmup at least 0 (got {steps} and {warmup}).")
    if clock not in step.CLOCKS:
        raise MiniganError(f"unknown clock {clock!r}; use wall or cpu.")
    if device == "gpu":
        backend.require_gpu()
        if clock != "wall":
            raise MiniganError("--clock cpu counts CPU seconds only, not GPU work; use --clock wall with --device gpu.")


def _memory(arch, batch, threads, device, tf32, with_peer):
    from minigan.bench import memory  # imported late: `python -m minigan.bench.memory` runs it too

    names = ["minigan"] + (["torch"] if with_peer else [])
    sides = {name: memory.measure_in_subprocess(name, arch, batch, MEMORY_STEPS, threads, device, tf32)
             for name in names}
    figures = {"steps": MEMORY_STEPS, "sides": sides, "ratios": {}}
    ok = [s for s in sides.values() if "error" not in s]
    if with_peer and len(ok) == 2:
        mg, pt = sides["minigan"], sides["torch"]
        figures["ratios"]["peak RSS"] = mg["peak_rss_mib"] / pt["peak_rss_mib"]
        if device == "gpu":
            figures["ratios"]["GPU peak"] = mg["device_peak_mib"] / pt["device_peak_mib"]
    return figures


def bench_model(arch, batch, steps, warmup, with_peer, per_layer, tf32, device, clock="wall", layer_repeats=5):
    """Time one benchmark model; returns its figures as a dict (see ``report.model_lines``)."""
    mine = step.MiniganSide(arch, batch, device, tf32=tf32)
    sides = [mine]
    if with_peer:
        from minigan.bench import peer_torch

        sides.append(peer_torch.TorchSide(arch, batch, device, tf32=tf32, source=(mine.G, mine.D)))
    step.alternate(sides, 0, warmup)
    launches_before = mine.launches()
    times = step.alternate(sides, steps, 0, clock)
    launches_after = mine.launches()
    summaries = {side.name: step.summarize(times[side.name], batch) for side in sides}
    result = {
        "model": arch, "batch": batch, "device": device, "precision": step.precision_label(device, tf32),
        "steps": steps, "warmup": warmup, "clock": clock, "sides": summaries,
        "ratio": summaries["minigan"]["ms_median"] / summaries["torch"]["ms_median"] if with_peer else None,
        "launches_per_step": None if launches_before is None else (launches_after - launches_before) / steps,
        "losses": {side.name: [float(loss.item()) for loss in side.losses] for side in sides},
        "layer_repeats": layer_repeats, "layers": None, "memory": None, "gemm_floor_ms": None,
    }
    if per_layer:
        result["layers"] = layers.time_layers(sides, repeats=layer_repeats, clock=clock)
        result["gflop_per_step"] = layers.step_flops(result["layers"]) / 1e9
        if device == "cpu":  # the BLAS under minigan's GEMMs; a GPU's are cuBLAS's, not timed this way
            result["gemm_floor_ms"] = gemm_floor.add_to_layers(result["layers"], step.CLOCKS[clock], layer_repeats)
    else:
        result["gflop_per_step"] = layers.step_flops(layers.shapes_and_flops(mine)) / 1e9
    return result


def _peak_label(threads, info, device, tf32):
    """Where the SGEMM peak ran: '2 threads', '2 threads (BLAS default)' or 'GPU, fp32 (strict)'."""
    if device == "gpu":
        return f"GPU, {step.precision_label(device, tf32)}"
    if threads:
        return _threads(threads)
    blas = info["blas"] or []
    return f"{_threads(blas[0][2])} (BLAS default)" if blas else "the BLAS's default threads"


def _threads(n):
    return f"{n} thread{'' if n == 1 else 's'}"


def measure_peak(threads, info, device, tf32):
    """The SGEMM peak in the threads (or GPU precision) of the run about to be timed, with its label."""
    xp = backend.cupy if device == "gpu" else np
    if device == "gpu":
        step.set_cupy_tf32(tf32)  # the peak in the precision both sides' GEMMs use
    peak = machine.sgemm_peak(xp)
    peak["threads"], peak["label"] = threads, _peak_label(threads, info, device, tf32)
    return peak


def run_threads(threads, settings, with_peer, first, echo):
    """Everything for one thread count: set it, print the facts and the SGEMM peak, time each model.

    Args:
        threads (int): the count (0: each library's default).
        settings (dict): ``run``'s settings (models, batch, steps, ...).
        with_peer (bool): time the PyTorch side too.
        first (bool): the first count of the run (prints the machine and versions; later counts their threads).
        echo: prints one line.
    Returns:
        dict: threads, machine (facts), notes, sgemm_peak, results (one per model).
    """
    device, tf32 = settings["device"], settings["tf32"]
    notes = machine.set_threads(threads, with_torch=with_peer)
    if tf32 and device == "cpu":
        notes.append("--tf32 only applies to --device gpu; the CPU runs strict float32")
    info = machine.facts(device)
    peak = measure_peak(threads, info, device, tf32)
    facts = machine.describe(info) if first else [machine.threads_line(info)]
    for line in facts + [f"note: {n}" for n in notes] + [report.peak_line(peak, peak["label"])]:
        echo(line)
    results = []
    for arch in settings["models"]:
        size = settings["batch"] or step.DEFAULT_BATCH.get(arch, 64)
        result = bench_model(arch, size, settings["steps"], settings["warmup"], with_peer, settings["per_layer"],
                             tf32, device, settings["clock"])
        result["threads"] = threads
        roofline.add_to_step(result, peak)
        if settings["memory"]:
            result["memory"] = _memory(arch, size, threads, device, tf32, with_peer)
        results.append(result)
        for line in report.model_lines(result):
            echo(line)
    return {"threads": threads, "machine": info, "notes": notes, "sgemm_peak": peak, "results": results}


def run(models=("dcgan28",), batch=None, steps=10, warmup=2, against="none", threads=0, per_layer=True,
        tf32=False, device="cpu", memory=True, json_path=None, echo=print, clock="wall"):
    """Benchmark full DCGAN training steps of minigan, beside PyTorch when asked, at one or more thread counts.

    Args:
        models: benchmark model names, 'dcgan28' and/or 'dcgan64'.
        batch (int or None): images per step (None: 128 for dcgan28, 64 for dcgan64).
        steps, warmup (int): timed and untimed steps per side; the sides alternate A B A B.
        against (str): 'torch' to time the identical PyTorch model in the same run, or 'none'.
        threads (int or sequence of int): threads for Numba, the BLAS and PyTorch (0: each library's default);
            several counts run the whole comparison once per count, in turn, and close with a table of them.
        per_layer (bool): also time each layer's forward and backward alone.
        tf32 (bool): GPU only, let both sides' float32 GEMMs and convolutions use TF32.
        device (str): 'cpu' or 'gpu'.
        memory (bool): measure peak memory, each side in its own process.
        json_path (str or None): also save every figure there as JSON.
        clock (str): 'wall' (elapsed) or 'cpu' (this process's CPU seconds), Note [clocks] in step.py.
        echo: prints one line (``print`` by default).
    Returns:
        dict: the whole report (what ``json_path`` receives): 'runs' holds each count's machine facts, notes
        and SGEMM peak; 'results' every model at every count; 'summary' the closing table's rows.
    """
    counts = as_counts(threads)
    _check_settings(steps, warmup, clock, device, models, batch, counts, json_path)
    with_peer = _peer(against, device, echo)
    settings = {"models": list(models), "batch": batch, "steps": steps, "warmup": warmup, "against": against,
                "threads": list(counts), "per_layer": per_layer, "tf32": tf32, "device": device, "memory": memory,
                "clock": clock}
    out = {"command": command_line(), "settings": settings, "runs": [], "results": []}
    echo(f"command: {out['command']}")
    for i, count in enumerate(counts):
        if len(counts) > 1:
            echo(f"\n=== threads {count or 'default'} ({i + 1} of {len(counts)}) ===")
        figures = run_threads(count, settings, with_peer, i == 0, echo)
        out["results"] += figures.pop("results")
        out["runs"].append(figures)
    out["machine"] = out["runs"][0]["machine"]
    out["notes"] = [note for figures in out["runs"] for note in figures["notes"]]
    out["summary"] = report.summary_rows(out["results"])
    if len(counts) > 1:
        for line in report.summary_lines(out["summary"]):
            echo(line)
    if json_path:
        report.write_json(json_path, out)
        echo(f"\nfigures saved to {json_path}")
    return out
