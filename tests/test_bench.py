"""minigan.bench: the command runs end to end on a tiny setting, the step trains, the models match PyTorch.

Benchmarks are commands, not timed tests: nothing here asserts a speed.
"""

import json
import math
import re

import numpy as np
import pytest
from click.testing import CliRunner

from minigan import MiniganError, backend, cli
from minigan.bench import gemm_floor, layers, machine, memory, report, roofline, step

TINY = ["--model", "dcgan28", "--batch", "4", "--steps", "1", "--warmup", "0"]


PEAK_LINE = re.compile(r"^machine SGEMM peak: ([\d.]+) GFLOP/s \(2048\^3 float32 matmul, best of (\d+), (.+)\)$")


def _fixed_peak(monkeypatch, gflops=50.0):
    """Replace the SGEMM measurement (about a second) by a given figure."""
    monkeypatch.setattr(machine, "sgemm_peak", lambda xp: {"gflops": gflops, "n": 2048, "best_of": 5})


def table(lines, first_header):
    """The rows of the aligned table whose header starts with ``first_header``, as {header: cell} dicts.

    Columns are read from the rule under the header (runs of dashes), so empty cells stay empty;
    the table ends at an empty line or a line of prose ("GEMM work: ..."). A header repeated for the
    second side ("bwd ms") is read as "bwd ms 2".
    """
    start = next(i for i, line in enumerate(lines) if line.startswith(first_header))
    spans = [m.span() for m in re.finditer(r"-+", lines[start + 1])]
    headers = []
    for a, b in spans:
        header = lines[start][a:b].strip()
        headers.append(f"{header} 2" if header in headers else header)
    rows = []
    for line in lines[start + 2:]:
        if not line.strip() or ": " in line:
            break
        rows.append(dict(zip(headers, (line[a:b].strip() for a, b in spans))))
    return rows


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


def test_gemm_floor_products_carry_each_layers_flops_and_the_steps():
    side = step.MiniganSide("dcgan28", 128)
    rows = layers.shapes_and_flops(side)
    for row, case in zip(rows, side.layer_cases()):
        row["gemms"] = gemm_floor.layer_gemms(case.layer, tuple(case.x.shape), row["shape"])
        assert bool(row["gemms"]) == bool(row["flops"]), row["name"]
        for m, k, n in row["gemms"].values():  # forward, gx and gW: one forward's multiply-adds each
            assert 2 * m * k * n == row["flops"], row["name"]
    by_name = {r["name"]: r for r in rows}
    assert by_name["D.2"]["gemms"]["fwd"] == (128, 64 * 16, 128 * 49)  # W2 @ col
    assert by_name["G.4"]["gemms"]["gW"] == (64 * 16, 128 * 49, 128)  # col @ x2.T
    # the floor's counts run the step's FLOPs: timing each product as its multiply-adds gives step_flops / 2
    counted = sum(gemm_floor.step_counts(r["name"], p) * math.prod(r["gemms"][p])
                  for r in rows if r["gemms"] for p in gemm_floor.PRODUCTS)
    assert 2 * counted == layers.step_flops(rows)


def test_gemm_floor_times_each_product_in_its_faster_order(monkeypatch):
    ticks = iter(range(10**6))
    ms = gemm_floor.time_gemm((8, 4, 16), now=lambda: next(ticks) / 1000, repeats=2)
    assert ms == pytest.approx(1.0)  # the fake clock moves 1 ms per reading
    rows = [{"name": "G.0", "gemms": {"fwd": (2, 3, 4), "gx": (2, 4, 3), "gW": (4, 2, 3)}},
            {"name": "D.0", "gemms": {"fwd": (5, 1, 1), "gx": (1, 5, 1), "gW": (1, 1, 5)}}, {"name": "D.1", "gemms": {}}]
    monkeypatch.setattr(gemm_floor, "time_gemm", lambda shape, now, repeats, rng: math.prod(shape) / 10)
    floor = gemm_floor.add_to_layers(rows, now=None)
    assert rows[0]["gemm_ms"] == {"fwd": 2.4, "gx": 2.4, "gW": 2.4} and "gemm_ms" not in rows[2]
    assert floor == pytest.approx(2.4 + 0 + 2.4 + 3 * 0.5 + 1 * 0.5 + 3 * 0.5)  # G.0 no gx; D.0 gx once, the rest thrice
    lines = report.layer_lines([dict(r, label="x", shape=(1,), flops=1 if r["gemms"] else 0,
                                     minigan={"fwd_ms": 1.0, "bwd_ms": 2.0}) for r in rows], ["minigan"])
    assert "2.40/4.80" in lines[2]


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
    lines = text.splitlines()
    (peak_match,) = [m for m in map(PEAK_LINE.match, lines) if m]
    peak = float(peak_match[1])
    assert peak > 0 and 1 <= int(peak_match[2]) <= 5
    assert_roofline_agrees(lines, peak)
    saved = json.loads(out.read_text())
    (figures,) = saved["results"]
    (floor_line,) = [line for line in lines if line.startswith("GEMM floor: ")]
    assert figures["gemm_floor_ms"] > 0 and f"= {figures['gemm_floor_ms']:.1f} ms/step" in floor_line
    assert figures["model"] == "dcgan28" and figures["batch"] == 4 and figures["precision"] == "fp32"
    assert figures["sides"]["minigan"]["ms_median"] > 0
    assert saved["settings"]["threads"] == [0] and len(saved["runs"]) == 1
    assert figures["sgemm_peak"]["gflops"] == pytest.approx(peak, abs=0.05)
    assert figures["sides"]["minigan"]["percent_peak"] == pytest.approx(
        100 * figures["sides"]["minigan"]["gflops"] / figures["sgemm_peak"]["gflops"])


def _within_rounding(percent, rate, peak, percent_step):
    """Whether a printed % peak is 100 x rate / peak, given that all three were rounded for printing
    (rate and peak to 0.1, the percent to ``percent_step``)."""
    exact = 100 * rate / peak
    slack = percent_step / 2 + 100 * 0.05 / peak + exact * 0.05 / peak + 1e-9
    return abs(percent - exact) <= slack


def assert_roofline_agrees(lines, peak):
    """The % peak columns and the FLOP floor line agree with the printed GFLOP/s, GFLOP/step and peak."""
    for row in table(lines, "side "):
        assert _within_rounding(float(row["% peak"]), float(row["GFLOP/s"]), peak, 0.1), row
    (floor,) = [line for line in lines if line.startswith("FLOP floor: ")]
    work, ms = map(float, re.fullmatch(r"FLOP floor: ([\d.]+) GFLOP/step / peak = ([\d.]+) ms/step", floor).groups())
    assert ms == pytest.approx(1000 * work / peak, abs=0.05 + 1000 * 0.005 / peak + 1000 * work * 0.05 / peak**2)
    layer_rows = table(lines, "layer ")
    assert len(layer_rows) == 17  # 16 layers and the total
    for row in layer_rows[:-1]:
        if not row["MFLOP fwd"]:
            assert row["GFLOP/s f/b"] == row["% peak f/b"] == "", row
            continue
        rates, percents = row["GFLOP/s f/b"].split("/"), row["% peak f/b"].split("/")
        for rate, percent in zip(rates, percents):
            assert _within_rounding(float(percent), float(rate), peak, 1), row


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


def test_sgemm_peak_is_a_measured_positive_rate():
    peak = machine.sgemm_peak(np, n=256, repeats=3)
    assert peak["n"] == 256 and 1 <= peak["best_of"] <= 3
    assert 0 < peak["gflops"] < 1e6  # below a PFLOP/s: a rate measured, not a division by a zero time


def test_sgemm_peak_is_2n3_over_a_product_and_keeps_to_its_budget(monkeypatch):
    """On a clock that ticks 10 ms per reading, each product takes one tick."""
    def tick():
        tick.now += 0.01
        return tick.now

    tick.now = 0.0
    monkeypatch.setattr(machine, "time", type("Clock", (), {"perf_counter": staticmethod(tick)}))
    peak = machine.sgemm_peak(np, n=64, repeats=4)
    assert peak == {"gflops": pytest.approx(2 * 64**3 / 0.01 / 1e9), "n": 64, "best_of": 4}
    assert machine.sgemm_peak(np, n=64, repeats=4, budget_s=0.025)["best_of"] == 1  # the budget is spent


def test_roofline_from_given_numbers():
    result = {"model": "dcgan28", "batch": 4, "device": "cpu", "precision": "fp32", "steps": 3, "warmup": 1,
              "clock": "wall", "launches_per_step": None, "ratio": 2.0, "gflop_per_step": 2.0,
              "losses": {"minigan": (1.4, 0.7)}, "layer_repeats": 5, "memory": None,
              "sides": {"minigan": {"ms_median": 100.0, "ms_min": 90.0, "images_per_s": 40.0},
                        "torch": {"ms_median": 50.0, "ms_min": 45.0, "images_per_s": 80.0}},
              "layers": [{"name": "G.0", "label": "Linear(100, 6272)", "shape": (4, 6272), "flops": 4e6,
                          "minigan": {"fwd_ms": 0.1, "bwd_ms": 0.4}, "torch": {"fwd_ms": 0.2, "bwd_ms": 0.2}},
                         {"name": "G.1", "label": "ReLU", "shape": (4, 6272), "flops": 0,
                          "minigan": {"fwd_ms": 0.01, "bwd_ms": 0.01}, "torch": {"fwd_ms": 0.01, "bwd_ms": 0.01}}]}
    roofline.add_to_step(result, {"gflops": 80.0, "n": 2048, "best_of": 5})
    lines = report.model_lines(result)
    # 2 GFLOP in 100 ms: 20 GFLOP/s, 25% of 80; in 50 ms: 40 GFLOP/s, 50%; at the peak 2 GFLOP take 25 ms
    assert [(r["side"], r["GFLOP/s"], r["% peak"]) for r in table(lines, "side ")] == [
        ("minigan", "20.0", "25.0"), ("torch", "40.0", "50.0")]
    assert "FLOP floor: 2.00 GFLOP/step / peak = 25.0 ms/step" in lines
    # G.0 minigan: 4 MFLOP in 0.1 ms forward (40 GFLOP/s, 50%), 8 MFLOP in 0.4 ms backward (20, 25%)
    g0, relu, total = table(lines, "layer ")
    assert (g0["GFLOP/s f/b"], g0["% peak f/b"]) == ("40.0/20.0", "50/25")
    assert (g0["GFLOP/s f/b 2"], g0["% peak f/b 2"]) == ("20.0/40.0", "25/50")  # torch: 0.2 ms each way
    assert relu["GFLOP/s f/b"] == relu["% peak f/b"] == relu["% peak f/b 2"] == ""
    assert total["layer"] == "all layers" and total["% peak f/b"] == ""
    assert report.peak_line({"gflops": 183.24, "n": 2048, "best_of": 5}, "2 threads") == (
        "machine SGEMM peak: 183.2 GFLOP/s (2048^3 float32 matmul, best of 5, 2 threads)")


def test_two_thread_counts_give_two_summary_rows(monkeypatch):
    _fixed_peak(monkeypatch, 50.0)
    lines = []
    out = _run_tiny(lines.append, threads=(1, 0))
    assert [run["threads"] for run in out["runs"]] == [1, 0] and len(out["results"]) == 2
    assert out["runs"][0]["machine"]["numba_threads"] == 1
    assert all(n == 1 for _, _, n in out["runs"][0]["machine"]["blas"] or [])
    assert sum(bool(PEAK_LINE.match(line)) for line in lines) == 2
    rows = table(lines, "threads  SGEMM")
    assert [row["threads"] for row in rows] == ["1", "default"]
    assert "torch ms/step" not in rows[0] and "peak RSS ratio" not in rows[0]
    for row, result in zip(rows, out["results"]):
        ms = result["sides"]["minigan"]["ms_median"]
        assert float(row["minigan ms/step"]) == pytest.approx(ms, abs=0.006)
        rate = result["gflop_per_step"] * 1e3 / ms
        assert float(row["minigan % peak"]) == pytest.approx(100 * rate / 50.0, abs=0.051)


def test_thread_counts_against_torch_give_both_sides_and_the_ratio(monkeypatch):
    pytest.importorskip("torch")
    _fixed_peak(monkeypatch, 50.0)
    lines = []
    out = _run_tiny(lines.append, against="torch", threads=(1, 1))
    assert [run["machine"]["torch_threads"] for run in out["runs"]] == [1, 1]
    rows = table(lines, "threads  SGEMM")
    assert len(rows) == 2
    for row, figures in zip(rows, out["summary"]):
        assert figures["ratio"] == pytest.approx(figures["minigan_ms"] / figures["torch_ms"])
        assert float(row["ratio"]) == pytest.approx(figures["ratio"], abs=0.006)
        assert float(row["torch % peak"]) == pytest.approx(figures["torch_percent_peak"], abs=0.051)


def test_set_threads_again_changes_every_count_and_zero_restores_them():
    import numba

    with_torch = machine.torch_problem() is None
    machine.set_threads(0, with_torch)  # earlier tests may have left other counts
    before = machine.thread_counts(with_torch)
    try:
        for n in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            assert machine.set_threads(n, with_torch) == []  # every library took the count
            counts = machine.thread_counts(with_torch)
            assert counts["numba"] == n and counts.get("torch", n) == n
            assert all(k == n for _, k in counts["blas"] or [])
    finally:
        machine.set_threads(0, with_torch)
    assert machine.thread_counts(with_torch) == before


def test_a_library_that_keeps_its_own_count_is_noted():
    counts = {"numba": 2, "blas": [("openblas", 1)], "torch": 2}
    assert machine.thread_problems(2, counts) == ["asked for 2 threads, but BLAS openblas uses 1"]
    assert machine.thread_problems(1, {"numba": 1, "blas": None}) == []


@pytest.mark.parametrize("args, words", [
    (["--threads", "-1"], "--threads must be 0 (each library's default) or more, not -1."),
    (["--threads", "1", "--threads", "-2"], "not -2."),
    (["--threads", "1", "--threads", "100000"], "--threads 100000 is more than Numba's pool"),
    (["--ranks", "2", "--threads", "2", "--threads", "1"], "--ranks takes one --threads"),
])
def test_bad_thread_counts_are_one_sentence_before_any_work(args, words):
    result = CliRunner().invoke(cli.main, ["bench", *TINY, *args])
    assert result.exit_code == 2 and result.stdout == ""  # no count ran: no facts, no peak
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and line.endswith(".") and words in line


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
