"""Printing the benchmark: aligned tables of steps, layers, memory and thread counts, and the JSON file."""

import json

from minigan.bench import roofline

RATIO_TARGET = "target <= 1.5, aim <= 1.0"
MEMORY_TARGET = "target <= 2"


def format_table(headers, rows):
    """Lines of an aligned table: the first column left-aligned, the others right-aligned."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return [line(cells[0]), rule] + [line(r) for r in cells[1:]]


def _ms(value):
    return f"{value:.2f}"


def _gflops(flops, ms):
    rate = roofline.gflops(flops, ms)
    return "" if rate is None else f"{rate:.1f}"


def _number(value, digits=1):
    return "" if value is None else f"{value:.{digits}f}"


def peak_line(peak, threads_label):
    """'machine SGEMM peak: 183.2 GFLOP/s (2048^3 float32 matmul, best of 5, 2 threads)'."""
    return (f"machine SGEMM peak: {peak['gflops']:.1f} GFLOP/s ({peak['n']}^3 float32 matmul, "
            f"best of {peak['best_of']}, {threads_label})")


def step_lines(result):
    """The ms/step table of one model (GFLOP/s and % of the SGEMM peak per side), with the ratio line."""
    rows = []
    for name, s in result["sides"].items():
        launches = result["launches_per_step"] if name == "minigan" else None
        rows.append([name, result["precision"], _ms(s["ms_median"]), _ms(s["ms_min"]), f"{s['images_per_s']:.1f}",
                     _number(s["gflops"]), _number(s["percent_peak"]),
                     "" if launches is None else f"{launches:.0f}"])
    headers = ["side", "precision", "ms/step (median)", "min", "images/s", "GFLOP/s", "% peak", "launches/step"]
    if all(r[-1] == "" for r in rows):
        headers, rows = headers[:-1], [r[:-1] for r in rows]
    lines = format_table(headers, rows)
    if result["launches_per_step"] is not None:
        lines.append("launches/step: minigan's own CUDA kernels (minigan.cuda.launches); CuPy's GEMMs and "
                     "array operations come on top")
    if result["ratio"] is not None:
        lines.append(f"ratio minigan/torch (median ms/step): {result['ratio']:.2f}   [{RATIO_TARGET}]")
    return lines


def _rates(row, name, with_peak):
    """The 'GFLOP/s f/b' cell of one side (and its '% peak f/b' cell), empty for a layer without FLOPs."""
    if not row["flops"]:
        return ["", ""] if with_peak else [""]
    times = row[name]
    rates = f"{_gflops(row['flops'], times['fwd_ms'])}/{_gflops(2 * row['flops'], times['bwd_ms'])}"
    if not with_peak:
        return [rates]
    return [rates, f"{_number(times.get('fwd_percent_peak'), 0)}/{_number(times.get('bwd_percent_peak'), 0)}"]


def layer_lines(rows, side_names):
    """The per-layer table: forward and backward ms, GFLOP/s and % peak (``roofline.add_to_layers``) per side,
    and their ratios."""
    with_peak = any("fwd_percent_peak" in row[name] for row in rows for name in side_names)
    with_gemms = any("gemm_ms" in row for row in rows)
    headers = ["layer", "output", "MFLOP fwd"] + (["GEMMs alone f/b ms"] if with_gemms else [])
    for name in side_names:
        headers += [f"{name} fwd ms", "bwd ms", "GFLOP/s f/b"] + (["% peak f/b"] if with_peak else [])
    if len(side_names) == 2:
        headers += ["fwd x", "bwd x"]
    table, totals = [], {name: [0.0, 0.0] for name in side_names}
    for row in rows:
        cells = [f"{row['name']} {row['label']}", "x".join(map(str, row["shape"])),
                 f"{row['flops'] / 1e6:.1f}" if row["flops"] else ""]
        if with_gemms:
            g = row.get("gemm_ms")
            cells.append(f"{g['fwd']:.2f}/{g['gx'] + g['gW']:.2f}" if g else "")
        for name in side_names:
            fwd, bwd = row[name]["fwd_ms"], row[name]["bwd_ms"]
            totals[name][0] += fwd
            totals[name][1] += bwd
            cells += [_ms(fwd), _ms(bwd)] + _rates(row, name, with_peak)
        if len(side_names) == 2:
            a, b = row[side_names[0]], row[side_names[1]]
            cells += [f"{a['fwd_ms'] / b['fwd_ms']:.2f}", f"{a['bwd_ms'] / b['bwd_ms']:.2f}"]
        table.append(cells)
    total = ["all layers", "", ""] + ([""] if with_gemms else [])
    for name in side_names:
        total += [_ms(totals[name][0]), _ms(totals[name][1]), ""] + ([""] if with_peak else [])
    if len(side_names) == 2:
        (af, ab), (bf, bb) = totals[side_names[0]], totals[side_names[1]]
        total += [f"{af / bf:.2f}", f"{ab / bb:.2f}"]
    return format_table(headers, table + [total])


def gemm_floor_line(result):
    """'GEMM floor: ...' -- the step's GEMMs alone on this BLAS (bench/gemm_floor.py), and beside the peer's step."""
    floor = result["gemm_floor_ms"]
    line = f"GEMM floor: the step's GEMMs alone on this BLAS, each timed by itself = {floor:.1f} ms/step"
    peer = result["sides"].get("torch")
    if peer is not None:
        line += f" = {floor / peer['ms_median']:.2f}x torch's whole step"
    return line


def memory_lines(memory, device):
    """The peak-memory table (each side measured in its own process)."""
    headers = ["side", "RSS after build MiB", "peak RSS MiB"] + (["GPU peak MiB"] if device == "gpu" else [])
    rows = []
    for name, m in memory["sides"].items():
        if "error" in m:
            rows.append([name, "failed: " + m["error"], ""] + ([""] if device == "gpu" else []))
            continue
        row = [name, f"{m['rss_build_mib']:.1f}", f"{m['peak_rss_mib']:.1f}"]
        if device == "gpu":
            row.append(f"{m['device_peak_mib']:.1f}")
        rows.append(row)
    lines = format_table(headers, rows)
    for what, ratio in memory.get("ratios", {}).items():
        lines.append(f"ratio minigan/torch ({what}): {ratio:.2f}   [{MEMORY_TARGET}]")
    return lines


def model_lines(result):
    """Everything printed for one model."""
    head = (f"== {result['model']}  batch {result['batch']}  {result['device']}  {result['precision']}  "
            f"({result['steps']} timed steps per side after {result['warmup']} warm-up, alternating, "
            f"{result['clock']} clock) ==")
    lines = ["", head] + step_lines(result)
    work = result["gflop_per_step"]
    lines.append(f"GEMM work: {work:.2f} GFLOP/step (conv + linear layers)")
    lines.append(f"FLOP floor: {work:.2f} GFLOP/step / peak = {result['flop_floor_ms']:.1f} ms/step")
    if result.get("gemm_floor_ms") is not None:
        lines.append(gemm_floor_line(result))
    losses = ", ".join(f"{name} D {d:.4f} G {g:.4f}" for name, (d, g) in result["losses"].items())
    lines.append(f"last losses: {losses}")
    if result["layers"] is not None:
        names = list(result["sides"])
        lines += ["", f"per layer (alone, input as in the step; median of {result['layer_repeats']}):"]
        lines += layer_lines(result["layers"], names)
    if result["memory"] is not None:
        lines += ["", f"peak memory (each side in its own process, {result['memory']['steps']} steps):"]
        lines += memory_lines(result["memory"], result["device"])
    return lines


def summary_rows(results):
    """One dict per thread count (and model) for the closing table, from every model's figures."""
    rows = []
    for result in results:
        row = {"threads": result["threads"], "model": result["model"],
               "sgemm_peak_gflops": result["sgemm_peak"]["gflops"], "ratio": result["ratio"]}
        for name, side in result["sides"].items():
            row[f"{name}_ms"], row[f"{name}_percent_peak"] = side["ms_median"], side["percent_peak"]
        row["peak_rss_ratio"] = ((result["memory"] or {}).get("ratios") or {}).get("peak RSS")
        rows.append(row)
    return rows


# (header, key of summary_rows, format) of the closing table; a column no row has a value for is left out
SUMMARY_COLUMNS = [
    ("SGEMM GFLOP/s", "sgemm_peak_gflops", "{:.1f}"), ("minigan ms/step", "minigan_ms", "{:.2f}"),
    ("torch ms/step", "torch_ms", "{:.2f}"), ("ratio", "ratio", "{:.2f}"),
    ("minigan % peak", "minigan_percent_peak", "{:.1f}"), ("torch % peak", "torch_percent_peak", "{:.1f}"),
    ("peak RSS ratio", "peak_rss_ratio", "{:.2f}"),
]


def summary_lines(rows):
    """The table closing a run of several thread counts: one row per count (and model)."""
    several_models = len({row["model"] for row in rows}) > 1
    columns = [c for c in SUMMARY_COLUMNS if any(row.get(c[1]) is not None for row in rows)]
    headers = ["threads"] + (["model"] if several_models else []) + [header for header, _, _ in columns]
    table = []
    for row in rows:
        cells = [str(row["threads"]) if row["threads"] else "default"] + ([row["model"]] if several_models else [])
        table.append(cells + ["" if row.get(key) is None else form.format(row[key]) for _, key, form in columns])
    title = "per thread count (median ms/step; ratio minigan/torch; % of the SGEMM peak at that count):"
    return ["", title] + format_table(headers, table)


def write_json(path, report):
    """Save the whole report (settings, machine, every figure) as indented JSON."""
    with open(path, "w") as f:
        json.dump(report, f, indent=2, default=str)
        f.write("\n")
