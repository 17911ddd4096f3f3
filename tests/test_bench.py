"""minigan.bench: the command runs end to end on a tiny setting, the step trains, the models match PyTorch.

Benchmarks are commands, not timed tests: nothing here asserts a speed.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from minigan import MiniganError, backend, cli
from minigan.bench import layers, machine, memory, report, step

TINY = ["--model", "dcgan28", "--batch", "4", "--steps", "1", "--warmup", "0"]


def _run_tiny(echo, **options):
    from minigan import bench

    settings = dict(models=("dcgan28",), batch=4, steps=1, warmup=0, per_layer=False, memory=False)
    settings.update(options)
    return bench.run(echo=echo, **settings)


@pytest.fixture(scope="module")
def tiny_side():
    return step.MiniganSide("dcgan28", 4, seed=0)


def test_step_updates_every_parameter_and_gives_finite_losses(tiny_side):
    params = tiny_side.G.parameters() + tiny_side.D.parameters()
    before, steps = [p.data.copy() for p in params], tiny_side.optD.step_count
    tiny_side.step()
    loss_d, loss_g = (float(loss.item()) for loss in tiny_side.losses)
    # N(0, 0.02) weights give near-chance logits: D's BCE on real + fake is about 2 ln 2; after D's step
    # D(G(z)) is below 1/2, so G's -log D(G(z)) is above ln 2
    assert loss_d == pytest.approx(2 * np.log(2), abs=0.15) and np.log(2) < loss_g < 2
    changed = [not np.array_equal(b, p.data) for b, p in zip(before, params)]
    assert all(changed), f"{changed.count(False)} parameters did not move"
    assert tiny_side.optD.step_count == tiny_side.optG.step_count == steps + 1


def test_noise_is_seeded():
    a, b = step.MiniganSide("dcgan28", 2, seed=3), step.MiniganSide("dcgan28", 2, seed=3)
    np.testing.assert_array_equal(a.draw_z().data, b.draw_z().data)
    np.testing.assert_array_equal(a.real.data, b.real.data)
    assert a.real.data.min() >= -1 and a.real.data.max() <= 1


def test_flops_of_dcgan28_match_the_benchmark_figure():
    rows = layers.shapes_and_flops(step.MiniganSide("dcgan28", 128))
    by_name = {r["name"]: r for r in rows}
    assert by_name["G.4"]["shape"] == (128, 64, 14, 14)
    assert by_name["G.4"]["flops"] == 2 * 128 * 128 * 7 * 7 * 64 * 4 * 4  # every input pixel x (oc kh kw)
    assert by_name["D.2"]["flops"] == 2 * 128 * 128 * 7 * 7 * 64 * 4 * 4  # every output pixel x (c kh kw)
    assert by_name["G.2"]["flops"] == 0
    assert layers.step_flops(rows) / 1e9 == pytest.approx(20.6, rel=0.02)  # BENCHMARKS.md


def test_layer_table_times_every_layer(tiny_side):
    rows = layers.time_layers([tiny_side], repeats=1, warmup=0)
    assert [r["name"] for r in rows] == [f"G.{i}" for i in range(9)] + [f"D.{i}" for i in range(7)]
    assert rows[4]["label"] == "ConvTranspose2d(128, 64, 4, 2, 1)"
    assert all(r["minigan"]["fwd_ms"] > 0 and r["minigan"]["bwd_ms"] > 0 for r in rows)
    lines = report.layer_lines(rows, ["minigan"])
    assert "G.4 ConvTranspose2d(128, 64, 4, 2, 1)" in "\n".join(lines)


def test_format_table_aligns_columns():
    lines = report.format_table(["a", "bb"], [["xyz", 1.5], ["q", 12.25]])
    assert lines == ["a       bb", "---  -----", "xyz    1.5", "q    12.25"]


def test_cli_bench_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli.main, ["bench", *TINY, "--no-memory", "--json", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "command: " in text and "versions: " in text and "threads: numba" in text
    for column in ("ms/step (median)", "images/s", "GFLOP/s", "minigan fwd ms", "bwd ms", "MFLOP fwd"):
        assert column in text
    assert "D.2 Conv2d(64, 128, 4, 2, 1)" in text
    saved = json.loads(out.read_text())
    (figures,) = saved["results"]
    assert figures["model"] == "dcgan28" and figures["batch"] == 4 and figures["precision"] == "fp32"
    assert figures["sides"]["minigan"]["ms_median"] > 0


def test_without_torch_against_torch_runs_minigan_alone(monkeypatch):
    monkeypatch.setattr(machine, "torch_problem", lambda device: "PyTorch is not importable (test)")
    lines = []
    out = _run_tiny(lines.append, against="torch")
    assert any(line.startswith("note: --against torch: PyTorch is not importable") for line in lines)
    assert list(out["results"][0]["sides"]) == ["minigan"] and out["results"][0]["ratio"] is None


def test_peak_memory_is_measured_in_its_own_process():
    figures = memory.measure_in_subprocess("minigan", "dcgan28", 4, 1, 0, "cpu", False, timeout=300)
    assert "error" not in figures, figures
    # A fresh interpreter with NumPy and Numba: tens to hundreds of MiB, not this test process's peak.
    assert 20 < figures["rss_build_mib"] <= figures["peak_rss_mib"] < 2000


@pytest.mark.skipif(backend.GPU_AVAILABLE, reason="checks the message given when no GPU is usable")
def test_gpu_without_gpu_fails_with_one_clear_sentence():
    result = CliRunner().invoke(cli.main, ["bench", *TINY, "--device", "gpu"])
    assert result.exit_code == 2
    assert "Error: --device gpu is not usable:" in result.output
    with pytest.raises(MiniganError, match="--device gpu is not usable"):
        _run_tiny(print, device="gpu")


def test_too_many_threads_is_a_clear_error():
    import numba

    with pytest.raises(MiniganError, match="--threads"):
        machine.set_threads(numba.config.NUMBA_NUM_THREADS + 1)


# ---- the identical-model claim, when PyTorch happens to be installed ----


@pytest.mark.parametrize("arch, batch", [("dcgan28", 4), ("dcgan64", 2)])
def test_copied_weights_give_the_same_forward_passes_as_pytorch(arch, batch):
    torch = pytest.importorskip("torch")
    from minigan.bench import peer_torch
    from minigan.tensor import Tensor

    mine = step.MiniganSide(arch, batch, seed=1)
    G, D, shape = peer_torch.torch_models(arch)
    peer_torch.copy_weights(mine.G, G)
    peer_torch.copy_weights(mine.D, D)
    z = mine.draw_z().data
    fake = mine.G(Tensor(z)).data
    with torch.no_grad():  # both in training mode: batch-norm uses batch statistics on both sides
        torch_fake = G(torch.from_numpy(z)).numpy()
        torch_logits = D(torch.from_numpy(fake)).numpy()
    np.testing.assert_allclose(fake, torch_fake, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(mine.D(Tensor(fake)).data, torch_logits, atol=1e-4, rtol=1e-4)
    assert fake.shape == (batch,) + shape


def test_copy_weights_refuses_a_different_model():
    pytest.importorskip("torch")
    from minigan.bench import peer_torch

    mine = step.MiniganSide("dcgan28", 2)
    G64, _, _ = peer_torch.torch_models("dcgan64")
    with pytest.raises(MiniganError, match="copy_weights: the modules differ"):
        peer_torch.copy_weights(mine.G, G64)
