"""The ablation's table: plain text for the terminal, Markdown (with the variants and settings) for ablation.md."""

import textwrap

from minigan.ablate.variants import TECHNIQUES, settings_text
from minigan.gan import training


def _table(result):
    """The headers, and per row its variant name and either its cells or 'refused: reason'."""
    conditional = any(r["status"] == "done" and r["metrics"].get("label_accuracy") is not None
                      for r in result["rows"])
    headers = ["variant", "FID", "vs base", "IS", "classes", "top class"] + ["label acc"] * conditional
    rows = []
    for r in result["rows"]:
        if r["status"] != "done":
            rows.append((r["variant"], f"{r['status']}: {r['reason']}"))
            continue
        m = r["metrics"]
        cells = [f"{m['fid']:.2f}", "" if r["variant"] == "base" else f"{r['fid_vs_base']:+.2f}",
                 f"{m['inception_score']:.3f}", str(m["classes_covered"]), f"{m['top_class_share']:.1%}"]
        if conditional:
            cells.append(f"{m['label_accuracy']:.1%}")
        rows.append((r["variant"], cells + [f"{r['train_seconds']:.1f} s", f"{r['s_per_step']:.3f}"]))
    return headers + ["train", "s/step"], rows


def _legend(result):
    base = result["base"]
    return (f"FID of judge features vs the test set: lower is better (vs base: the difference to the base's). "
            f"IS (Inception-style score) and classes covered (>= 1% of the samples): higher is better. "
            f"top class: the share of the most frequent class (ideally 1/classes). train: wall time of the "
            f"whole training (data loading and checkpoints included); s/step: the training loop's own. "
            f"{result['eval_samples']} samples per variant, each trained {training.plural(base['epochs'], 'epoch')} on "
            f"{base['limit'] or 'all'} {result['dataset']} images, batch {base['batch_size']}, seed {base['seed']}, "
            f"on the {base['device']}.")


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
