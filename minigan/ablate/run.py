"""Running an ablation: each variant trained (unless its folder already holds the result), then scored by
the dataset's judge as `minigan eval` scores a run; ``ablate`` is the whole command as one call.
"""

import datetime
import os
import shlex
import time

from minigan import gan, judge
from minigan.ablate import table
from minigan.ablate.folder import KIND, RESULT, clear_unfinished, open_out, read_json, write_json, write_text
from minigan.ablate.variants import TECHNIQUES, base_config, comparable, plan
from minigan.errors import MiniganError
from minigan.gan import training
from minigan.gan.run_folder import RunFolder


def training_echo(echo):
    """Pass on only the epoch summaries and warnings of a training run, indented."""

    def forward(line):
        if line.startswith("warning:") or (line.startswith("epoch ") and " done in " in line):
            echo("  " + line)

    return forward


def train_checked(config, echo):
    """``minigan.gan.train`` with the epoch-end class check, as `minigan train` runs it: a variant that
    collapses onto few classes says so in its warnings."""
    from minigan.evaluate.class_check import ClassCheck  # imported late: loading the ablate package stays light

    return gan.train(config, echo, on_epoch_end=[ClassCheck()])


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
        train (callable or None): ``train(config, echo)`` -> Trainer; None: ``train_checked``.
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
            row = run_variant(variant, eval_samples, train or train_checked, evaluate or score_run, echo)
            result["rows"].append(row)
        except KeyboardInterrupt:
            echo(f"stopped during {variant.name}; run the same command to continue: {command}")
            raise
        write_json(os.path.join(out, "ablation.json"), result)
    base_fid = result["rows"][0]["metrics"]["fid"]
    for row in result["rows"]:
        row["fid_vs_base"] = row["metrics"]["fid"] - base_fid if row["status"] == "done" else None
    write_json(os.path.join(out, "ablation.json"), result)
    write_text(os.path.join(out, "ablation.md"), table.format_markdown(result))
    return result
