"""Floor 7: ``minigan doctor --gpu`` -- the proof that the GPU path works, in one command and one report.

On a machine with a GPU it runs, in order, and writes ``report.md`` and ``report.json`` (every
figure) into its output folder; a step that fails is recorded and the next ones still run:

    environment  versions, the GPU, CUDA's driver and runtime; a kernel compiled, run and a matmul
                 (backend.require_gpu); every kernels/*.cu compiled and loaded (minigan.cuda)
    tests        the test suite's GPU tests (``pytest -m gpu``, from a checkout)
    agreement    a DCGAN's D and G losses and gradients on the CPU and the GPU from the same weights,
                 batch and noise: they agree in float64 (float32's differences are reported)
    train        ``minigan train <dataset> --device gpu --epochs 1`` (MNIST; synthetic data, and a
                 failed step, when MNIST cannot be had)
    sample       64 images from its checkpoint, on the GPU
    round-trip   its checkpoint built on the CPU and on the GPU (the same samples), saved on the CPU
                 and loaded on the GPU again (the same arrays)
    bench        ``minigan bench --device gpu --against torch``, strict FP32 and TF32

On an H100/H200 it takes a few minutes. Without a usable GPU it stops before any work, in one line
naming why (``backend.gpu_problem``, ``backend.toolkit_problem``).
"""

import json
import os
import re
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from minigan import __version__, backend, files
from minigan.errors import MiniganError

STEPS = ("environment", "tests", "agreement", "train", "sample", "round-trip", "bench")
TESTS_TIMEOUT = 420  # seconds for the GPU tests: the whole proof must stay within 10 minutes
AGREEMENT_FLOAT64 = 1e-8  # ||g_gpu - g_cpu|| / ||g_cpu|| of each parameter, and the losses' relative error
SAMPLE_TOLERANCE = 1e-3  # max |x_gpu - x_cpu| of images in [-1, 1]


class Skip(Exception):
    """A step that cannot run here, and why."""


class Failed(Exception):
    """A step that ran and failed, with the figures it still has."""

    def __init__(self, message, figures):
        super().__init__(message)
        self.figures = figures


@dataclass
class Outcome:
    """What one step gave: ok, failed or skipped; its seconds, one line of detail, its figures."""

    step: str
    status: str
    seconds: float
    detail: str
    figures: dict = field(default_factory=dict)


def run(out, skip=(), dataset="mnist", data_dir=None, limit=None, bench_steps=10, bench_batch=None, echo=print):
    """The GPU proof (the steps of the module docstring, but those in ``skip``); returns the Outcomes.

    Raises:
        MiniganError: no usable GPU (before any work), an unknown step, an output folder not writable.
    """
    unknown = sorted(set(skip) - set(STEPS))
    if unknown:
        raise MiniganError(f"unknown doctor step {unknown[0]!r}; the steps are {', '.join(STEPS)}.")
    problem = backend.gpu_problem() or backend.toolkit_problem()
    if problem is not None:
        raise MiniganError(f"minigan doctor --gpu needs a usable GPU: {problem}")
    files.check_writable(out, "--out", folder=True)
    os.makedirs(out, exist_ok=True)
    context = {"out": Path(out), "dataset": dataset, "data_dir": data_dir, "limit": limit,
               "bench_steps": bench_steps, "bench_batch": bench_batch}
    outcomes = []
    for name in STEPS:
        outcome = _run_step(name, context) if name not in skip else Outcome(name, "skipped", 0.0, "--skip")
        outcomes.append(outcome)
        echo(f"{outcome.step:<12} {outcome.status:<8} {outcome.seconds:7.1f} s  {outcome.detail}")
    write_report(out, outcomes)
    echo(f"wrote {os.path.join(out, 'report.md')} and report.json")
    return outcomes


def _run_step(name, context):
    start = time.perf_counter()
    try:
        detail, figures = globals()["step_" + name.replace("-", "_")](context)
        status = "ok"
    except Skip as e:
        detail, figures, status = str(e), {}, "skipped"
    except Failed as e:
        detail, figures, status = str(e), e.figures, "failed"
    except Exception as e:  # noqa: BLE001 -- a failed step is recorded, and the proof goes on
        first = (str(e).strip().splitlines() or [""])[0]
        detail, status = f"{type(e).__name__}: {first}", "failed"
        figures = {"traceback": traceback.format_exc(limit=-8)}
    return Outcome(name, status, time.perf_counter() - start, detail, figures)


def write_report(out, outcomes):
    """report.json (every figure) and report.md (one table, then each step's figures) in ``out``."""
    failed = [o.step for o in outcomes if o.status == "failed"]
    summary = "every step passed" if not failed else f"failed: {', '.join(failed)}"
    data = {"minigan_version": __version__, "summary": summary, "steps": [asdict(o) for o in outcomes]}
    with files.atomic_open(os.path.join(out, "report.json"), "report", "choose a writable --out.") as f:
        f.write(json.dumps(data, indent=2, default=str).encode() + b"\n")
    lines = [f"# minigan doctor --gpu: {summary}", "", "| step | status | seconds | detail |", "|---|---|---|---|"]
    lines += [f"| {o.step} | {o.status} | {o.seconds:.1f} | {o.detail.replace('|', '/')} |" for o in outcomes]
    for o in outcomes:
        shown = {k: v for k, v in o.figures.items() if k != "traceback"}
        if shown:
            lines += ["", f"## {o.step}", "", "```", json.dumps(shown, indent=2, default=str), "```"]
    with files.atomic_open(os.path.join(out, "report.md"), "report", "choose a writable --out.") as f:
        f.write(("\n".join(lines) + "\n").encode())


# ---- the steps: each returns (one line of detail, figures) ----


def step_environment(context):
    from minigan import cuda

    cp = backend.cupy
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    start = time.perf_counter()
    kernels = cuda._kernels()
    figures = {"gpu": name, "compute_capability": f"{props['major']}.{props['minor']}",
               "memory_gib": round(props["totalGlobalMem"] / 2**30, 1), "cupy": cp.__version__,
               "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(), "cuda_driver": cp.cuda.runtime.driverGetVersion(),
               "numpy": np.__version__, "python": sys.version.split()[0], "kernels": len(kernels),
               "kernels_compile_s": round(time.perf_counter() - start, 2)}
    try:
        import torch

        figures["torch"] = f"{torch.__version__} (CUDA {'usable' if torch.cuda.is_available() else 'not usable'})"
    except ImportError:
        figures["torch"] = None
    return f"{name}, CUDA driver {figures['cuda_driver']}, runtime {figures['cuda_runtime']}; " \
           f"{len(kernels)} kernels compiled and loaded", figures


def step_tests(context):
    tests = Path(__file__).resolve().parent.parent / "tests"
    if not (tests / "conftest.py").is_file():
        raise Skip("no tests/ folder beside the package: run minigan doctor from a checkout")
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", str(tests)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=TESTS_TIMEOUT, cwd=tests.parent)
    log = run.stdout + run.stderr
    (context["out"] / "tests.log").write_text(log)
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected)", log)}
    line = next((s for s in reversed(log.splitlines()) if re.search(r"\d+ (passed|failed|error)", s)), "no summary")
    if run.returncode != 0 or not counts.get("passed"):
        raise RuntimeError(f"pytest -m gpu: {line.strip('= ')} (tests.log)")
    return line.strip("= "), counts


def _one_step(device, dtype, z, real):
    """The losses of a DCGAN's D and G on (z, real) and their gradients, on ``device`` in ``dtype``."""
    from minigan import functional as F
    from minigan import nn
    from minigan.gan import networks
    from minigan.tensor import Tensor

    G, D = networks.dcgan_generator(nz=z.shape[1]), networks.dcgan_discriminator()
    for net, seed in ((G, 1), (D, 2)):  # the same weights on both devices: drawn on the host
        nn.init.reset_parameters(net, np.random.default_rng(seed))
        net.to(device)
        if dtype == np.float64:
            net.double()
    z, real = (Tensor(backend.to_device(a.astype(dtype), device)) for a in (z, real))
    bce = F.binary_cross_entropy_with_logits
    fake = G(z)
    loss_d = bce(D(real), 1.0) + bce(D(fake.detach()), 0.0)
    loss_d.backward()
    grads = {f"D.{k}": backend.to_cpu(p.grad).astype(np.float64) for k, p in D.named_parameters()}
    loss_g = bce(D(fake), 1.0)
    loss_g.backward()
    grads.update({f"G.{k}": backend.to_cpu(p.grad).astype(np.float64) for k, p in G.named_parameters()})
    return {"loss_D": float(loss_d.item()), "loss_G": float(loss_g.item())}, grads


def _disagreement(dtype, z, real):
    (cpu_losses, cpu_grads), (gpu_losses, gpu_grads) = (_one_step(d, dtype, z, real) for d in ("cpu", "gpu"))
    errors = {k: float(np.linalg.norm(gpu_grads[k] - g) / max(np.linalg.norm(g), 1e-30)) for k, g in cpu_grads.items()}
    loss_error = max(abs(gpu_losses[k] - v) / max(1.0, abs(v)) for k, v in cpu_losses.items())
    return loss_error, errors


def step_agreement(context):
    """float64 first, where only a wrong kernel can make the devices differ; float32 is reported (a
    leaky ReLU's input that rounds to the other side of 0 changes a gradient by more than rounding)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((8, 100))
    real = rng.uniform(-1, 1, (8, 1, 28, 28))
    figures = {}
    for dtype, tolerance in ((np.float64, AGREEMENT_FLOAT64), (np.float32, None)):
        loss_error, errors = _disagreement(dtype, z, real)
        worst = max(errors, key=errors.get)
        figures[np.dtype(dtype).name] = {"loss_error": loss_error, "worst_gradient": worst,
                                         "relative_grad_error": errors}
        if tolerance is not None and max(loss_error, errors[worst]) > tolerance:
            raise Failed(f"CPU and GPU disagree in float64: losses off by {loss_error:.1e}, gradient {worst} "
                         f"by {errors[worst]:.1e} (tolerance {tolerance:g})", figures)
    f64, f32 = figures["float64"], figures["float32"]
    return (f"one DCGAN step: losses and gradients agree, worst {f64['relative_grad_error'][f64['worst_gradient']]:.0e}"
            f" in float64 ({f32['relative_grad_error'][f32['worst_gradient']]:.0e} in float32)"), figures


def step_train(context):
    from minigan import data, gan
    from minigan.gan import training

    dataset, note, figures = context["dataset"], "", {}
    try:
        data.load_dataset(dataset, data_dir=context["data_dir"], limit=1)
    except MiniganError as e:  # offline without the data: the rest of the proof still gets a checkpoint
        note, figures["data_problem"] = f"; {dataset} cannot be loaded, trained on synthetic instead", str(e)
        dataset = "synthetic"
    run_dir = str(context["out"] / "train")
    limit = context["limit"] or (2048 if dataset == "synthetic" else None)
    config = gan.TrainConfig(dataset=dataset, device="gpu", epochs=1, data_dir=context["data_dir"], limit=limit,
                             batch_size=min(128, limit or 128), run_dir=run_dir, log_every=100)
    lines = []
    start = time.perf_counter()
    trainer = training.train(config, echo=lines.append)
    seconds = time.perf_counter() - start
    context["checkpoint"] = os.path.join(run_dir, "checkpoints", "last.npz")
    last = {k: v[-1] for k, v in trainer.history.items() if v}
    figures.update({"dataset": dataset, "steps": trainer.step, "seconds": round(seconds, 1),
                    "steps_per_s": round(trainer.step / seconds, 2), "last": last, "log": lines[-3:]})
    if note:
        raise Failed(f"{figures['data_problem']} (the next steps use a synthetic run)", figures)
    return f"{trainer.step} steps on {dataset} in {seconds:.0f} s ({trainer.step / seconds:.1f} steps/s)", figures


def _checkpoint(context):
    if "checkpoint" not in context or not os.path.exists(context["checkpoint"]):
        raise Skip("no checkpoint: the train step did not write one")
    return context["checkpoint"]


def step_sample(context):
    from minigan import sampling

    images, _ = sampling.sample(_checkpoint(context), n=64, out=str(context["out"] / "samples.png"), device="gpu")
    if not np.isfinite(images).all() or np.abs(images).max() > 1:
        raise RuntimeError("the samples are not finite values in [-1, 1]")
    return "64 images in samples.png", {"mean": float(images.mean()), "std": float(images.std())}


def step_round_trip(context):
    from minigan.gan import checkpoint

    path = _checkpoint(context)
    on = {d: checkpoint.build_trainer(path, d) for d in ("gpu", "cpu")}
    images = {d: t.sample(64, rng=np.random.default_rng(1)) for d, t in on.items()}
    diff = float(np.abs(images["gpu"] - images["cpu"]).max())
    saved = str(context["out"] / "round_trip_cpu.npz")
    checkpoint.save(on["cpu"], saved)
    back = checkpoint.state_arrays(checkpoint.build_trainer(saved, "gpu"))
    first = checkpoint.state_arrays(on["gpu"])
    changed = [k for k in first if k != "meta" and not np.array_equal(first[k], back[k])]
    if diff > SAMPLE_TOLERANCE or changed:
        raise Failed(f"samples differ by {diff:.2e} between CPU and GPU; arrays changed: {changed[:3]}",
                     {"max_sample_diff": diff, "changed": changed})
    return f"GPU -> CPU -> GPU: every array the same, samples within {diff:.1e}", {"max_sample_diff": diff}


def step_bench(context):
    from minigan import bench

    figures, parts = {}, []
    for tf32, label in ((False, "fp32"), (True, "tf32")):
        lines = []
        report = bench.run(("dcgan28",), context["bench_batch"], context["bench_steps"], 2, "torch", 0, True, tf32,
                           "gpu", True, str(context["out"] / f"bench_{label}.json"), lines.append)
        result = report["results"][0]
        sides = {side: round(s["ms_median"], 2) for side, s in result["sides"].items()}
        figures[label] = {"ms_per_step": sides, "ratio": result["ratio"], "notes": report["notes"],
                          "launches_per_step": result["launches_per_step"]}
        ratio = f", ratio {result['ratio']:.2f}" if result["ratio"] else " (no torch peer)"
        parts.append(f"{label} minigan {sides['minigan']:.1f} ms/step{ratio}")
    return "; ".join(parts), figures
