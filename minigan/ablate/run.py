"""Running an ablation: each variant trained (unless its folder already holds the result), then scored by
the dataset's judge as `minigan eval` scores a run; ``ablate`` is the whole command as one call.
"""

import dataclasses
import datetime
import os
import shlex
import time

import numpy as np

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
    from minigan.evaluate.modes import ModeCheck

    return gan.train(config, echo, on_epoch_end=[ClassCheck(), ModeCheck()])


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


def score_modes(run_dir, n, seed, dataset, data_dir=None, device="cpu", echo=None):
    """Score a run on data of known modes as `minigan eval RUN --num n` does: modes covered, KL to
    uniform, and (2-D points) the high-quality share or (stacked MNIST) the top mode's share."""
    from minigan.evaluate import modes

    rep = modes.mode_eval(run_dir, dataset, n, seed, device, echo)
    return {k: rep[k] for k in ("modes_covered", "high_quality", "kl", "top_mode_share", "modes") if k in rep}


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
    echo("  " + table.scores_text(metrics))
    return saved


def seeded(variant, seeds):
    """The runs of one variant: the variant itself for one seed, else one copy per seed (its seed,
    and a run folder FOLDER/seed-S), the seeds counting up from the variant's."""
    if seeds == 1:
        return [variant]
    first = variant.config.seed
    return [dataclasses.replace(variant, folder=f"{variant.folder}/seed-{s}",
                                config=dataclasses.replace(variant.config, seed=s,
                                                           run_dir=os.path.join(variant.config.run_dir, f"seed-{s}")))
            for s in range(first, first + seeds)]


def combine(runs):
    """One row from a variant's per-seed rows: each metric's mean (``metrics``) and standard deviation
    over the seeds (``metrics_std``, ddof 0), the mean times, and the per-seed rows (``runs``).
    A single run is its own row; a variant with a run not done takes that run's status and reason."""
    if len(runs) == 1:
        return runs[0]
    row = {k: runs[0][k] for k in ("variant", "technique", "change")}
    row["folder"] = runs[0]["folder"].rsplit("/", 1)[0]
    bad = next((r for r in runs if r["status"] != "done"), None)
    if bad is not None:
        return {**row, "status": bad["status"], "reason": bad["reason"], "runs": runs}
    keys = [k for k, v in runs[0]["metrics"].items()
            if isinstance(v, (int, float)) and all(isinstance(r["metrics"].get(k), (int, float)) for r in runs)]
    values = {k: np.array([r["metrics"][k] for r in runs], dtype=np.float64) for k in keys}
    return {**row, "status": "done", "reason": None, "seeds": len(runs),
            "metrics": {k: float(v.mean()) for k, v in values.items()},
            "metrics_std": {k: float(v.std()) for k, v in values.items()},
            "train_seconds": float(np.mean([r["train_seconds"] for r in runs])),
            "s_per_step": float(np.mean([r["s_per_step"] for r in runs])),
            "runs": [{"seed": r.get("config", {}).get("seed"), "metrics": r["metrics"],
                      "train_seconds": r["train_seconds"]} for r in runs]}


# the base's settings `minigan ablate` takes as options: the learning rates and G's moving average
BASE_OPTIONS = {"lr": "--lr", "lr_g": "--lr-g", "lr_d": "--lr-d", "ema": "--ema"}


def command_line(dataset, model, epochs, limit, batch_size, loss, with_techniques, variants, eval_samples, out,
                 seed, device, data_dir, seeds=1, settings=None):
    """The `minigan ablate` command that repeats (or continues) an ablation, every option spelled out
    (of ``settings``, those in BASE_OPTIONS: the options the command has)."""
    parts = ["minigan", "ablate", dataset, "--model", model, "--epochs", epochs, "--limit", limit,
             "--batch-size", batch_size, "--loss", loss] + (["--seeds", seeds] if seeds > 1 else [])
    parts += [x for key, option in BASE_OPTIONS.items() if key in (settings or {}) for x in (option, settings[key])]
    parts += [x for name in with_techniques for x in ("--with", name)]
    parts += [x for name in variants for x in ("--variant", name)]
    parts += ["--eval-samples", eval_samples, "--out", out, "--seed", seed, "--device", device]
    parts += [] if data_dir is None else ["--data-dir", data_dir]
    return " ".join(shlex.quote(str(p)) for p in parts if p is not None)


def default_out(dataset, model, now=None):
    """runs/ablate-<dataset>-<model>-<YYYYmmdd-HHMMSS>."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"ablate-{dataset}-{model}-{stamp}")


DEFAULT_EPOCHS = 5  # DCGAN's base covers all ten MNIST classes by then (1170 steps; at 1 epoch, 234 steps, only 2)


def ablate(dataset="mnist", model=None, epochs=DEFAULT_EPOCHS, limit=30000, batch_size=None, loss="non-saturating",
           with_techniques=(), variants=(), eval_samples=None, out=None, seed=0, device="cpu", data_dir=None,
           settings=None, echo=print, train=None, evaluate=None, seeds=1):
    """Train the base configuration and each variant for the same budget, score each, write the tables.

    Args:
        dataset, model (None: the dataset's default), epochs, limit, batch_size, loss, seed, device, data_dir: the base's TrainConfig
            fields (``minigan train``'s options); batch_size None: 128, or a point set's recipe (512).
        with_techniques (sequence of str): TECHNIQUES switched on in the base.
        variants (sequence of str): the techniques to toggle, one variant each; empty: all of them.
        eval_samples (int or None): samples each variant's last checkpoint is scored on; None: 2000, or
            for data of known modes the papers' count (2500 points, 26,000 stacked images).
        out (str or None): the ablation folder; None: runs/ablate-<dataset>-<model>-<time>. A folder of
            an earlier, interrupted run of the same ablation is continued.
        settings (dict or None): further TrainConfig fields of the base (nz, image_size, ...); a point
            set's recipe (data/modes.py RECIPES) fills in those not given.
        echo (callable): prints one progress line.
        train (callable or None): ``train(config, echo)`` -> Trainer; None: ``train_checked``.
        evaluate (callable or None): ``evaluate(run_dir, n, seed, dataset, data_dir=, device=, echo=)``
            -> dict of scores (at least fid, inception_score, classes_covered, top_class_share,
            label_accuracy; for data of known modes modes_covered and kl); None: ``score_run``, or
            ``score_modes`` for ring, grid and stacked-mnist.
        seeds (int): N > 1 trains every variant N times, seeds ``seed`` .. ``seed + N - 1`` (folders
            OUT/VARIANT/seed-S), and the table shows each metric's mean +- std (Lucic et al. 2017:
            one seed is noise).
    Returns:
        dict: what OUT/ablation.json holds: command, settings, and one row per variant.
    Raises:
        MiniganError: a dataset without a judge, unknown technique names, clashing settings, a base
            that cannot train, or an ``out`` that holds something other than this ablation.
    """
    from minigan.data.modes import MODE_DATASETS
    from minigan.evaluate.modes import SAMPLES

    from minigan.gan.config import default_model

    key = training.canonical_dataset(dataset)
    model = model or default_model(key)
    if key not in judge.JUDGE_DATASETS + MODE_DATASETS:
        raise MiniganError(f"minigan ablate scores every variant with the dataset's judge (or its known modes) and "
                           f"{key} has neither; use one of {', '.join(judge.JUDGE_DATASETS + MODE_DATASETS)}.")
    if not isinstance(seeds, int) or seeds < 1:
        raise MiniganError(f"--seeds must be 1 or more, not {seeds!r}.")
    from minigan.data.modes import RECIPES

    eval_samples = eval_samples if eval_samples is not None else SAMPLES.get(key, 2000)
    given = settings or {}
    recipe = {k: v for k, v in RECIPES.get(key, {}).items()
              if k != "batch_size" and not (k in ("lr_g", "lr_d") and "lr" in given)}  # a given --lr sets both
    settings = {**recipe, **given}
    batch_size = batch_size or RECIPES.get(key, {}).get("batch_size", 128)
    if evaluate is None:
        evaluate = score_modes if key in MODE_DATASETS else score_run
    if eval_samples < 2:
        raise MiniganError(f"--eval-samples must be 2 or more (2000 or more for steady FIDs), not {eval_samples}.")
    gan.get_trainer_class(model)  # an unknown model is a mistake of its own, not a refused base
    out = out or default_out(key, model)
    base = base_config(with_techniques, dataset=key, model=model, epochs=epochs, limit=limit, batch_size=batch_size,
                       loss=loss, seed=seed, device=device, data_dir=data_dir, **(settings or {}))
    rows = plan(base, out, variants)
    command = command_line(key, model, epochs, limit, batch_size, loss, with_techniques, variants, eval_samples,
                           out, seed, device, data_dir, seeds, given)
    result = {"kind": KIND, "command": command, "out": out, "dataset": key, "model": model,
              "eval_samples": eval_samples, "base": comparable(base), "with": list(with_techniques), "rows": [],
              "seeds": seeds, "scores": "modes" if key in MODE_DATASETS else "judge"}
    open_out(out, result)
    write_json(os.path.join(out, "ablation.json"), result)  # marks the folder as this ablation's at once
    echo(f"ablation of {len(rows)} configurations of {model} on {key} in {out} "
         f"({training.plural(epochs, 'epoch')} of {limit or 'all'} images each, scored on {eval_samples} samples)")
    echo(f"to continue after a stop, run: {command}")
    # seed by seed, every variant at each seed: stopped early, the table still compares all of them
    order = [(variant, seeded(variant, seeds)[k]) for k in range(seeds) for variant in rows]
    done = {variant.name: [] for variant in rows}
    for i, (variant, run) in enumerate(order, 1):
        what = "" if variant.technique is None else f" ({TECHNIQUES[variant.technique][0]})"
        echo(f"[{i}/{len(order)}] {variant.name}{what}" + (f", seed {run.config.seed}" if seeds > 1 else ""))
        try:
            done[variant.name].append(run_variant(run, eval_samples, train or train_checked, evaluate, echo))
        except KeyboardInterrupt:
            echo(f"stopped during {variant.name}; run the same command to continue: {command}")
            raise
        result["rows"] = [combine(done[v.name]) for v in rows if done[v.name]]
        write_json(os.path.join(out, "ablation.json"), result)
    primary = table.primary_metric(result)
    base_value = result["rows"][0]["metrics"][primary]
    for row in result["rows"]:
        row[f"{primary}_vs_base"] = row["metrics"][primary] - base_value if row["status"] == "done" else None
    write_json(os.path.join(out, "ablation.json"), result)
    write_text(os.path.join(out, "ablation.md"), table.format_markdown(result))
    return result
