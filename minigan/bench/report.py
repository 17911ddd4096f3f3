"""Printing the benchmark: aligned tables of steps, layers and memory, and the JSON file."""

import json

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
    return f"{flops / (ms * 1e6):.1f}" if flops and ms > 0 else ""


def step_lines(result):
    """The ms/step table of one model, with the ratio line."""
    rows = []
    for name, s in result["sides"].items():
        launches = result["launches_per_step"] if name == "minigan" else None
        rows.append([name, result["precision"], _ms(s["ms_median"]), _ms(s["ms_min"]), f"{s['images_per_s']:.1f}",
                     _gflops(result["gflop_per_step"] * 1e9, s["ms_median"]),
                     "" if launches is None else f"{launches:.0f}"])
    headers = ["side", "precision", "ms/step (median)", "min", "images/s", "GFLOP/s", "launches/step"]
    if all(r[-1] == "" for r in rows):
        headers, rows = headers[:-1], [r[:-1] for r in rows]
    lines = format_table(headers, rows)
    if result["launches_per_step"] is not None:
        lines.append("launches/step: minigan's own CUDA kernels (minigan.cuda.launches); CuPy's GEMMs and "
                     "array operations come on top")
    if result["ratio"] is not None:
        lines.append(f"ratio minigan/torch (median ms/step): {result['ratio']:.2f}   [{RATIO_TARGET}]")
    return lines


def layer_lines(rows, side_names):
    """The per-layer table: forward and backward ms (and GFLOP/s) per side, and their ratios."""
    headers = ["layer", "output", "MFLOP fwd"]
    for name in side_names:
        headers += [f"{name} fwd ms", "bwd ms", "GFLOP/s f/b"]
    if len(side_names) == 2:
        headers += ["fwd x", "bwd x"]
    table, totals = [], {name: [0.0, 0.0] for name in side_names}
    for row in rows:
        cells = [f"{row['name']} {row['label']}", "x".join(map(str, row["shape"])),
                 f"{row['flops'] / 1e6:.1f}" if row["flops"] else ""]
        for name in side_names:
            fwd, bwd = row[name]["fwd_ms"], row[name]["bwd_ms"]
            totals[name][0] += fwd
            totals[name][1] += bwd
            rate = f"{_gflops(row['flops'], fwd)}/{_gflops(2 * row['flops'], bwd)}" if row["flops"] else ""
            cells += [_ms(fwd), _ms(bwd), rate]
        if len(side_names) == 2:
            a, b = row[side_names[0]], row[side_names[1]]
            cells += [f"{a['fwd_ms'] / b['fwd_ms']:.2f}", f"{a['bwd_ms'] / b['bwd_ms']:.2f}"]
        table.append(cells)
    total = ["all layers", "", ""]
    for name in side_names:
        total += [_ms(totals[name][0]), _ms(totals[name][1]), ""]
    if len(side_names) == 2:
        (af, ab), (bf, bb) = totals[side_names[0]], totals[side_names[1]]
        total += [f"{af / bf:.2f}", f"{ab / bb:.2f}"]
    return format_table(headers, table + [total])


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
    lines.append(f"GEMM work: {result['gflop_per_step']:.2f} GFLOP/step (conv + linear layers)")
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


def write_json(path, report):
    """Save the whole report (settings, machine, every figure) as indented JSON."""
    with open(path, "w") as f:
        json.dump(report, f, indent=2, default=str)
        f.write("\n")
