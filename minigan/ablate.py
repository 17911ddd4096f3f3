"""`minigan ablate`: train a base configuration and its variants, each with one technique toggled, and
compare them on the same budget.

Every variant trains with the base's seed, data and budget in a run folder of its own, then its last
checkpoint is scored by the dataset's judge (what `minigan eval` runs):

    OUT/ablation.json           the plan and every figure (rewritten after each variant)
    OUT/ablation.md             the table in Markdown, with the command line and the settings
    OUT/base/                   a `minigan train` run folder, plus ablate.json: its time and scores
    OUT/with-feature-matching/  the variant "+feature-matching" (the base lacks it, so it is added)
    OUT/without-vbn/            the variant "-vbn" (the base has it: its fields back to the defaults)

A technique is on in a config when every field of its overrides holds the technique's value.

Resuming: a variant whose ablate.json says "done" (with the same settings) is not trained again. One
that says "trained" is only scored. Anything else in a variant's folder is an unfinished training: it
is deleted and the variant trains again from the start, so each time in the table is one
uninterrupted run (a resumed run would time only its second half). Refused and failed variants are
tried again on every run.
"""

import dataclasses
import datetime
import json
import os
import shlex
import shutil
import textwrap
import time

from minigan import files, gan, judge
from minigan.errors import MiniganError
from minigan.gan import techniques as gan_techniques
from minigan.gan import training
from minigan.gan.run_folder import RunFolder

KIND = "minigan ablation"
RESULT = "ablate.json"  # in each variant's folder
UNCOMPARED = ("run_dir", "data_dir")  # settings that may differ between a run and its continuation
RUN_ENTRIES = {"config.json", "metrics.jsonl", "loss.png", "samples", "checkpoints", RESULT}

# name -> (short description, the TrainConfig overrides that turn it on)
TECHNIQUES = {
    "label-smoothing": ("one-sided: D's target on data is 0.9", {"label_smoothing": 0.1}),
    "instance-noise": ("noise on D's inputs, annealed to 0", {"instance_noise": 0.1}),
    "feature-matching": ("G matches the mean of D's features", {"feature_matching": True}),
    "minibatch-discrimination": ("D sees each image's batch similarity", {"minibatch_discrimination": 100}),
    "vbn": ("virtual batch norm in G", {"vbn": True}),
    "historical-averaging": ("pull to the mean of past parameters", {"historical_averaging": 0.01}),
    "replay": ("D sees half its fakes from a buffer", {"replay": 1280}),
    "mixture": ("DeLiGAN's learned mixture latent", {"latent": "mixture", "components": 50}),
    "d-steps-2": ("two D steps per G step", {"d_steps": 2}),
    "loss-minimax": ("the 2014 minimax game", {"loss": "minimax"}),
    "loss-least-squares": ("LSGAN", {"loss": "least-squares"}),
    "loss-hinge": ("the hinge loss", {"loss": "hinge"}),
    "loss-relativistic": ("RSGAN", {"loss": "relativistic"}),
    "loss-relativistic-average": ("RaSGAN", {"loss": "relativistic-average"}),
    "loss-turing": ("T-GAN: a pairwise D on encoded features", {"loss": "turing"}),
}
DEFAULTS = gan.TrainConfig()


@dataclasses.dataclass
class Variant:
    """One row of the ablation: ``name`` "base", "+technique" or "-technique"; ``change`` the fields it
    sets on the base; ``refused`` the engine's reason when that config cannot train, else None."""

    name: str
    folder: str
    technique: str | None
    change: dict
    config: gan.TrainConfig
    refused: str | None = None


def settings_text(overrides):
    """The `minigan train` options of a technique's overrides: {"latent": "mixture", ...} ->
    '--latent mixture --components 50'."""
    return " ".join(training.option_name(k) + ("" if v is True else f" {v}") for k, v in overrides.items())


def techniques_help():
    """The technique names, their settings and descriptions, one per line (for --help)."""
    settings = {name: settings_text(overrides) for name, (_, overrides) in TECHNIQUES.items()}
    w1, w2 = max(map(len, settings)), max(map(len, settings.values()))
    return "\n".join(f"  {name:<{w1}}  {settings[name]:<{w2}}  {what}" for name, (what, _) in TECHNIQUES.items())


def check_names(names, option):
    """Raise MiniganError unless every name is in TECHNIQUES."""
    for name in names:
        if name not in TECHNIQUES:
            raise MiniganError(f"unknown technique {name!r} for {option}; choose from {', '.join(TECHNIQUES)}.")


def is_on(config, name):
    """True when every field of technique ``name``'s overrides holds the technique's value."""
    return all(getattr(config, k) == v for k, v in TECHNIQUES[name][1].items())


def base_config(with_techniques=(), **settings):
    """The base TrainConfig: ``settings`` (TrainConfig fields) with the ``with_techniques`` switched on.

    Raises:
        MiniganError: an unknown name, or two sources setting one field to different values.
    """
    check_names(with_techniques, "--with")
    config = gan.TrainConfig(**settings)
    set_by = {}
    for name in with_techniques:
        for field, value in TECHNIQUES[name][1].items():
            current = getattr(config, field)
            if current != value and current != getattr(DEFAULTS, field):
                source = f"--with {set_by[field]}" if field in set_by else f"{training.option_name(field)} {current}"
                raise MiniganError(f"{source} and --with {name} both set {training.option_name(field)}; keep one.")
            setattr(config, field, value)
            set_by[field] = name
    return config


def refusal(config):
    """The engine's reason why ``config`` cannot train (the checks `minigan train` runs before loading
    any data), or None."""
    try:
        training.check_settings(config)
        cls = gan.get_trainer_class(config.model)
        cls.check_config(config)
        gan_techniques.check(config, cls)
    except MiniganError as e:
        return str(e)
    return None


def plan(base, out, variants=()):
    """The base and its variants, the base first.

    Args:
        base (TrainConfig): the base settings.
        out (str): the ablation folder; each variant's run_dir is a folder in it.
        variants (sequence of str): technique names to toggle; empty: every technique.
    Returns:
        list of Variant.
    """
    check_names(variants, "--variant")
    rows = [Variant("base", "base", None, {}, dataclasses.replace(base, run_dir=os.path.join(out, "base")))]
    for name in dict.fromkeys(variants or TECHNIQUES):  # in the given order, once each
        overrides = TECHNIQUES[name][1]
        if is_on(base, name):
            sign, folder, change = "-", f"without-{name}", {k: getattr(DEFAULTS, k) for k in overrides}
        else:
            sign, folder, change = "+", f"with-{name}", dict(overrides)
        config = dataclasses.replace(base, run_dir=os.path.join(out, folder), **change)
        rows.append(Variant(sign + name, folder, name, change, config))
    for row in rows:
        row.refused = refusal(row.config)
    if rows[0].refused:
        raise MiniganError(f"the base configuration cannot train: {rows[0].refused}")
    return rows


def comparable(config):
    """The settings that must match for two runs' results to be compared (a dict)."""
    return {k: v for k, v in config.to_dict().items() if k not in UNCOMPARED}


def read_json(path):
    """The JSON in ``path``, or None when the file is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, value):
    """Write ``value`` as JSON, atomically (numpy numbers as plain numbers)."""
    text = json.dumps(value, indent=2, default=lambda v: v.item() if hasattr(v, "item") else float(v)) + "\n"
    write_text(path, text)


def write_text(path, text):
    with files.atomic_open(path, "ablation results", "choose a writable --out.") as f:
        f.write(text.encode())


def open_out(out, header):
    """Make the ablation folder, or check that an existing one holds this ablation.

    Raises:
        MiniganError: ``out`` is a file, holds something else, or an ablation with other settings.
    """
    if os.path.exists(out) and not os.path.isdir(out):
        raise MiniganError(f"{out} is a file, not a folder; choose another --out.")
    previous = read_json(os.path.join(out, "ablation.json"))
    if previous is None:
        if os.path.isdir(out) and os.listdir(out):
            raise MiniganError(f"{out} holds files but no ablation.json, so it is not an ablation folder; "
                               "choose another --out.")
    elif previous.get("kind") != KIND:
        raise MiniganError(f"{out}/ablation.json is not a minigan ablation; choose another --out.")
    else:
        old = {**previous["base"], "eval_samples": previous["eval_samples"]}
        new = {**header["base"], "eval_samples": header["eval_samples"]}
        for key, value in new.items():
            if old.get(key) != value:
                name = "--eval-samples" if key == "eval_samples" else training.option_name(key)
                raise MiniganError(f"{out} holds an ablation with other settings ({name} {old.get(key)} there, "
                                   f"{value} here); repeat its settings to continue it, or choose another --out.")
    os.makedirs(out, exist_ok=True)


def clear_unfinished(folder):
    """Delete a variant folder left by an unfinished training, so the variant starts afresh.

    Raises:
        MiniganError: the folder holds files a training run does not write.
    """
    if not os.path.isdir(folder):
        return
    strange = [e for e in os.listdir(folder) if e not in RUN_ENTRIES and not e.startswith(".")]
    if strange:
        raise MiniganError(f"{folder} holds {strange[0]}, which no training run writes; move it away or "
                           "choose another --out.")
    shutil.rmtree(folder)


def training_echo(echo):
    """Pass on only the epoch summaries and warnings of a training run, indented."""

    def forward(line):
        if line.startswith("warning:") or (line.startswith("epoch ") and " done in " in line):
            echo("  " + line)

    return forward


def score_run(run_dir, n, seed, dataset, data_dir=None, device="cpu", echo=None):
    """Score a run's last checkpoint as `minigan eval RUN --num n --no-reference` does.

    Returns:
        dict: the samples row of ``minigan.evaluate.eval_report`` (fid, inception_score,
        classes_covered, class_histogram, label_accuracy, ...) plus top_class_share.
    """
    from minigan import evaluate

    row = dict(evaluate.eval_report(run_dir, dataset, n, seed, reference=False, data_dir=data_dir,
                                    device=device, echo=echo)["samples"])
    histogram = row["class_histogram"]
    row["top_class_share"] = max(histogram) / max(sum(histogram), 1)
    return row


def seconds_per_step(run_dir, steps, seconds):
    """The training loop's own seconds per step: the s_per_step of the run's log lines (metrics.jsonl),
    weighted by the steps each covers, so data loading and the last checkpoint are left out; the
    wall ``seconds`` over ``steps`` when the log has no rates."""
    timed, last = 0.0, 0
    for row in RunFolder(run_dir).metrics():
        if "s_per_step" in row and row.get("step", 0) > last:
            timed, last = timed + row["s_per_step"] * (row["step"] - last), row["step"]
    return timed / last if last else seconds / max(steps, 1)


def run_variant(variant, eval_samples, train, evaluate, echo):
    """Train and score one variant unless its folder already holds the result.

    Returns:
        dict: the variant's row (status done, refused or failed).
    """
    row = {"variant": variant.name, "technique": variant.technique, "change": variant.change,
           "folder": variant.folder, "status": "refused", "reason": variant.refused}
    if variant.refused:
        echo(f"  refused: {variant.refused}")
        return row
    cfg = variant.config
    path = os.path.join(cfg.run_dir, RESULT)
    saved = read_json(path)
    if saved is None or saved.get("config") != comparable(cfg) or saved.get("status") not in ("trained", "done"):
        clear_unfinished(cfg.run_dir)
        start = time.perf_counter()
        try:
            trainer = train(cfg, training_echo(echo))
        except MiniganError as e:
            if variant.name == "base":
                raise
            echo(f"  failed: {e}")
            return {**row, "status": "failed", "reason": str(e)}
        seconds = time.perf_counter() - start
        saved = {**row, "status": "trained", "reason": None, "config": comparable(cfg), "train_seconds": seconds,
                 "steps": trainer.step, "s_per_step": seconds_per_step(cfg.run_dir, trainer.step, seconds)}
        write_json(path, saved)
    elif saved["status"] == "done":
        echo(f"  finished earlier: kept {path}")
        return saved
    echo(f"  trained {saved['steps']} steps in {saved['train_seconds']:.1f} s ({saved['s_per_step']:.3f} s/step); "
         f"scoring {eval_samples} samples")
    try:
        metrics = evaluate(cfg.run_dir, eval_samples, cfg.seed, cfg.dataset, data_dir=cfg.data_dir,
                           device=cfg.device, echo=echo)
    except MiniganError as e:
        if variant.name == "base":
            raise
        echo(f"  failed: {e}")
        return {**saved, "status": "failed", "reason": str(e)}
    saved = {**saved, "status": "done", "metrics": metrics}
    write_json(path, saved)
    echo(f"  FID {metrics['fid']:.2f}, Inception-style score {metrics['inception_score']:.3f}, "
         f"classes covered {metrics['classes_covered']}")
    return saved


def command_line(dataset, model, epochs, limit, batch_size, loss, with_techniques, variants, eval_samples, out,
                 seed, device, data_dir):
    """The `minigan ablate` command that repeats (or continues) an ablation, every option spelled out."""
    parts = ["minigan", "ablate", dataset, "--model", model, "--epochs", epochs, "--limit", limit,
             "--batch-size", batch_size, "--loss", loss]
    parts += [x for name in with_techniques for x in ("--with", name)]
    parts += [x for name in variants for x in ("--variant", name)]
    parts += ["--eval-samples", eval_samples, "--out", out, "--seed", seed, "--device", device]
    parts += [] if data_dir is None else ["--data-dir", data_dir]
    return " ".join(shlex.quote(str(p)) for p in parts if p is not None)


def default_out(dataset, model, now=None):
    """runs/ablate-<dataset>-<model>-<YYYYmmdd-HHMMSS>."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"ablate-{dataset}-{model}-{stamp}")


def ablate(dataset="mnist", model="dcgan", epochs=1, limit=30000, batch_size=128, loss="non-saturating",
           with_techniques=(), variants=(), eval_samples=2000, out=None, seed=0, device="cpu", data_dir=None,
           settings=None, echo=print, train=None, evaluate=None):
    """Train the base configuration and each variant for the same budget, score each, write the tables.

    Args:
        dataset, model, epochs, limit, batch_size, loss, seed, device, data_dir: the base's TrainConfig
            fields (``minigan train``'s options).
        with_techniques (sequence of str): TECHNIQUES switched on in the base.
        variants (sequence of str): the techniques to toggle, one variant each; empty: all of them.
        eval_samples (int): samples each variant's last checkpoint is scored on.
        out (str or None): the ablation folder; None: runs/ablate-<dataset>-<model>-<time>. A folder of
            an earlier, interrupted run of the same ablation is continued.
        settings (dict or None): further TrainConfig fields of the base (nz, image_size, ...).
        echo (callable): prints one progress line.
        train (callable or None): ``train(config, echo)`` -> Trainer; None: ``minigan.gan.train``.
        evaluate (callable or None): ``evaluate(run_dir, n, seed, dataset, data_dir=, device=, echo=)``
            -> dict of scores (at least fid, inception_score, classes_covered, top_class_share,
            label_accuracy); None: ``score_run``.
    Returns:
        dict: what OUT/ablation.json holds: command, settings, and one row per variant.
    Raises:
        MiniganError: a dataset without a judge, unknown technique names, clashing settings, a base
            that cannot train, or an ``out`` that holds something other than this ablation.
    """
    key = training.canonical_dataset(dataset)
    if key not in judge.JUDGE_DATASETS:
        raise MiniganError(f"minigan ablate scores every variant with the dataset's judge and {key} has none; "
                           f"use one of {', '.join(judge.JUDGE_DATASETS)}.")
    if eval_samples < 2:
        raise MiniganError(f"--eval-samples must be 2 or more (2000 or more for steady FIDs), not {eval_samples}.")
    gan.get_trainer_class(model)  # an unknown model is a mistake of its own, not a refused base
    out = out or default_out(key, model)
    base = base_config(with_techniques, dataset=key, model=model, epochs=epochs, limit=limit, batch_size=batch_size,
                       loss=loss, seed=seed, device=device, data_dir=data_dir, **(settings or {}))
    rows = plan(base, out, variants)
    command = command_line(key, model, epochs, limit, batch_size, loss, with_techniques, variants, eval_samples,
                           out, seed, device, data_dir)
    result = {"kind": KIND, "command": command, "out": out, "dataset": key, "model": model,
              "eval_samples": eval_samples, "base": comparable(base), "with": list(with_techniques), "rows": []}
    open_out(out, result)
    write_json(os.path.join(out, "ablation.json"), result)  # marks the folder as this ablation's at once
    echo(f"ablation of {len(rows)} configurations of {model} on {key} in {out} "
         f"({training.plural(epochs, 'epoch')} of {limit or 'all'} images each, scored on {eval_samples} samples)")
    echo(f"to continue after a stop, run: {command}")
    for i, variant in enumerate(rows, 1):
        what = "" if variant.technique is None else f" ({TECHNIQUES[variant.technique][0]})"
        echo(f"[{i}/{len(rows)}] {variant.name}{what}")
        try:
            result["rows"].append(run_variant(variant, eval_samples, train or gan.train, evaluate or score_run, echo))
        except KeyboardInterrupt:
            echo(f"stopped during {variant.name}; run the same command to continue: {command}")
            raise
        write_json(os.path.join(out, "ablation.json"), result)
    base_fid = result["rows"][0]["metrics"]["fid"]
    for row in result["rows"]:
        row["fid_vs_base"] = row["metrics"]["fid"] - base_fid if row["status"] == "done" else None
    write_json(os.path.join(out, "ablation.json"), result)
    write_text(os.path.join(out, "ablation.md"), format_markdown(result))
    return result


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
