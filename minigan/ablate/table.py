"""The ablation's table: plain text for the terminal, Markdown (with the variants and settings) for ablation.md."""

import textwrap

from minigan.ablate.variants import TECHNIQUES, settings_text
from minigan.gan import training


# (metric, header, format) of the columns, by what scores the variants
JUDGE_COLUMNS = (("fid", "FID", "{:.2f}"), ("fid_vs_base", "vs base", "{:+.2f}"), ("inception_score", "IS", "{:.3f}"),
                 ("classes_covered", "classes", "{:.1f}"), ("top_class_share", "top class", "{:.1%}"))
MODE_COLUMNS = (("modes_covered", "modes", "{:.1f}"), ("modes_covered_vs_base", "vs base", "{:+.1f}"),
                ("high_quality", "high quality", "{:.1%}"), ("kl", "KL", "{:.3f}"),
                ("top_mode_share", "top mode", "{:.2%}"))


def primary_metric(result):
    """The metric a variant is compared with the base on: FID, or modes covered for data of known modes."""
    return "modes_covered" if result.get("scores") == "modes" else "fid"


def scores_text(metrics):
    """One line of a scored run's main figures, for the progress output."""
    if "modes_covered" in metrics:
        extra = f", high quality {metrics['high_quality']:.1%}" if "high_quality" in metrics else ""
        return f"modes covered {metrics['modes_covered']}{extra}, KL {metrics['kl']:.3f}"
    return (f"FID {metrics['fid']:.2f}, Inception-style score {metrics['inception_score']:.3f}, "
            f"classes covered {metrics['classes_covered']}")


def _cell(row, key, fmt):
    """A metric's cell: the value, or mean +- std over the seeds; blank where the metric does not exist."""
    value = row.get(key) if key.endswith("_vs_base") else row["metrics"].get(key)
    if value is None or (key.endswith("_vs_base") and row["variant"] == "base"):
        return ""
    std = row.get("metrics_std", {}).get(key)
    if isinstance(value, int) and std is None:
        return str(value)
    return fmt.format(value) + ("" if std is None else " ± " + fmt.format(std).lstrip("+"))


def _table(result):
    """The headers, and per row its variant name and either its cells or 'refused: reason'."""
    done = [r for r in result["rows"] if r["status"] == "done"]
    columns = MODE_COLUMNS if result.get("scores") == "modes" else JUDGE_COLUMNS
    columns = [c for c in columns if c[0].endswith("_vs_base") or any(c[0] in r["metrics"] for r in done)]
    if any(r["metrics"].get("label_accuracy") is not None for r in done):
        columns.append(("label_accuracy", "label acc", "{:.1%}"))
    rows = []
    for r in result["rows"]:
        if r["status"] != "done":
            rows.append((r["variant"], f"{r['status']}: {r['reason']}"))
            continue
        cells = [_cell(r, key, fmt) for key, _, fmt in columns]
        rows.append((r["variant"], cells + [f"{r['train_seconds']:.1f} s", f"{r['s_per_step']:.3f}"]))
    return ["variant"] + [h for _, h, _ in columns] + ["train", "s/step"], rows


def _legend(result):
    base, seeds = result["base"], result.get("seeds", 1)
    if result.get("scores") == "modes":
        what = ("modes: modes covered (of the dataset's; a point mode counts with one sample within 3 std, a "
                "stacked-MNIST mode with one sample the MNIST judge reads as its three digits): higher is better. "
                "high quality: the share of samples within 3 std of a mode. KL of the samples' mode histogram to "
                "uniform: lower is better. top mode: the most frequent mode's share.")
    else:
        what = ("FID of judge features vs the test set: lower is better (vs base: the difference to the base's). "
                "IS (Inception-style score) and classes covered (>= 1% of the samples): higher is better. "
                "top class: the share of the most frequent class (ideally 1/classes).")
    runs = (f"seed {base['seed']}" if seeds == 1 else
            f"{seeds} seeds ({base['seed']} to {base['seed'] + seeds - 1}; mean ± std, times are means)")
    return (f"{what} train: wall time of the whole training (data loading and checkpoints included); s/step: the "
            f"training loop's own. {result['eval_samples']} samples per variant, each trained "
            f"{training.plural(base['epochs'], 'epoch')} on {base['limit'] or 'all'} {result['dataset']} examples, "
            f"batch {base['batch_size']}, {runs}, on the {base['device']}.")


def format_table(result):
    """The ablation as a plain-text table, the base first, then a legend."""
    headers, rows = _table(result)
    scored = [cells for _, cells in rows if isinstance(cells, list)]
    widths = [max(len(name) for name, _ in rows + [(headers[0], None)])]
    widths += [max([len(h)] + [len(cells[i]) for cells in scored]) for i, h in enumerate(headers[1:])]

    def line(name, cells):
        if isinstance(cells, str):
            return f"{name:<{widths[0]}}  {cells}"
        return "  ".join([f"{name:<{widths[0]}}"] + [f"{c:>{w}}" for c, w in zip(cells, widths[1:])])

    lines = [line(headers[0], headers[1:]), "-" * (sum(widths) + 2 * len(widths) - 2)]
    legend = textwrap.wrap(_legend(result), max(len(lines[1]), 80))
    return "\n".join(lines + [line(name, cells) for name, cells in rows] + [""] + legend)


def format_markdown(result):
    """OUT/ablation.md: the command line, the table, what each variant changed and the base settings."""
    headers, rows = _table(result)
    lines = [f"# Ablation: {result['model']} on {result['dataset']}", "", f"    {result['command']}", "",
             "| " + " | ".join(headers) + " |", "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for name, cells in rows:
        cells = cells if isinstance(cells, list) else [cells.replace("|", "\\|")] + [""] * (len(headers) - 2)
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", _legend(result), "", "## Variants", ""]
    for r in result["rows"]:
        what = "the base settings" if r["technique"] is None else \
            f"{settings_text(r['change'])} ({TECHNIQUES[r['technique']][0]})"
        lines.append(f"- `{r['variant']}` (folder `{r['folder']}/`): {what}")
    settings = ", ".join(f"{k}={v}" for k, v in result["base"].items())
    return "\n".join(lines + ["", "## Base settings", "", settings, ""])
