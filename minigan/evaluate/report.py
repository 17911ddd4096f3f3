"""What ``minigan eval`` does, as one library call: samples in, report (dict, text, JSON) out."""

import json
import os

from minigan import files, judge
from minigan.errors import MiniganError
from minigan.evaluate.probe import probe_discriminator
from minigan.evaluate.samples import draw, is_checkpoint, open_target
from minigan.evaluate.scorecard import compare, format_table

PROBE_LABELS = (100, 1000)  # labelled train images the linear probe fits on, balanced over the classes


def check_options(target, probe=False, pool=None, json_path=None):
    """Raise MiniganError, before anything is loaded, on options that cannot work together."""
    if pool is not None and not probe:
        raise MiniganError("--pool applies to --probe only; add --probe or drop --pool.")
    if pool is not None and pool < 1:
        raise MiniganError(f"--pool must be 1 or more (a POOL x POOL grid), not {pool}.")
    if probe and os.path.exists(target) and not is_checkpoint(target):
        raise MiniganError("--probe needs a checkpoint (it probes the discriminator); a samples file has none.")
    if json_path and json_path != "-":
        files.check_writable(json_path, "--json", what="JSON file")


def check_probe(dataset):
    """Raise MiniganError when ``dataset``'s train split has too few images of a class for the probe."""
    _, _, classes, fewest = judge.input_spec(dataset)
    need = max(PROBE_LABELS) // classes
    if fewest < need:
        raise MiniganError(f"--probe fits on up to {max(PROBE_LABELS)} labelled train images, {need} of each class, "
                           f"but {dataset} has only {fewest} of a class; probe a model of mnist or fashion-mnist.")


def eval_report(target, dataset=None, n=10000, seed=0, reference=True, probe=False, pool=None, data_dir=None,
                device="cpu", echo=None, json_path=None, stage=None, as_trained=False):
    """Score a checkpoint's generator (n fresh samples) or a samples file.

    Every input is checked first (``check_options``, ``samples.open_target``): no sample is
    drawn and no judge is loaded or trained for input that cannot be scored.

    Args:
        target (str): a checkpoint .npz, a run folder, or a samples .npz/.npy.
        dataset (str or None): whose judge and test set; None: the checkpoint's dataset, or mnist.
        n (int): samples drawn from a checkpoint (a samples file is used whole).
        seed (int): seeds the samples and the real reference images.
        reference (bool): also score as many real train images.
        probe (bool): also run the DCGAN linear probe on the checkpoint's discriminator.
        pool (int or None): the probe's max-pool grid.
        data_dir (str or None): where the dataset's files are.
        device (str): where the generator runs.
        echo (callable or None): progress lines (judge training on first use).
        json_path (str or None): also write the report there as JSON ('-': nothing is written;
            ``write_json(report, "-")`` gives the text).
        stage (int or None): a StackGAN run's stage to score (1: stage I's images enlarged); None: its last.
        as_trained (bool): a checkpoint's G samples with its weights as trained, not their --ema average.
    Returns:
        dict: target, dataset, judge_accuracy, samples, real (rows), probe (or None).
    """
    check_options(target, probe, pool, json_path)
    from minigan.evaluate import modes

    mode_dataset = modes.mode_dataset_of(target, dataset)
    if mode_dataset is not None:  # data of known modes: modes covered and KL, not a judge's FID
        if probe or stage is not None:
            option = "--probe" if probe else "--stage"
            raise MiniganError(f"{option} applies to image models of labelled data; a {mode_dataset} "
                               f"run is scored by its modes instead: drop {option}.")
        report = modes.mode_eval(target, mode_dataset, n, seed, device, echo, as_trained, reference, data_dir)
        if json_path and json_path != "-":
            write_json(report, json_path)
        return report
    if not (os.path.exists(target) and is_checkpoint(target)) and dataset is None:
        check_not_points(target)
    n = 10000 if n is None else n
    opened = open_target(target, dataset, n, stage)
    if probe:
        check_probe(opened.dataset)
    images, labels, description = draw(opened, n, seed, device, as_trained)
    report = compare(images, labels, opened.dataset, None, data_dir, seed, reference, echo)
    report.update({"target": target, "description": description, "probe": None, "classifier": None, "stage": stage})
    if opened.checkpoint is not None:
        report["classifier"] = classifier_report(opened.checkpoint, data_dir, device)
    if probe:
        from minigan.gan import checkpoint

        D = checkpoint.build_trainer(opened.checkpoint, device).networks.get("D")
        if D is None:
            raise MiniganError(f"{target} has no network named D to probe.")
        report["probe"] = probe_discriminator(D, report["dataset"], PROBE_LABELS, seed, data_dir, pool)
    if json_path and json_path != "-":
        write_json(report, json_path)
    return report


def classifier_report(ckpt, data_dir=None, device="cpu"):
    """D's test errors when the checkpoint's model is a classifier (the semi-supervised GAN), with the
    averaged weights when it has them; None for any other model.

    Returns:
        dict: test_errors, test_images, test_accuracy, labels, label_seed, averaged, epoch; or None.
    """
    from minigan import data
    from minigan.gan import checkpoint

    trainer = checkpoint.build_trainer(ckpt, device)
    if not getattr(trainer, "classifier", False):
        return None
    cfg = trainer.config
    test = data.load_dataset(cfg.dataset, data_dir=data_dir or cfg.data_dir, image_size=cfg.image_size,
                             split="test", channels=cfg.channels)
    errors = trainer.test_errors(test.images, test.labels)
    return {"test_errors": errors, "test_images": len(test), "test_accuracy": 1 - errors / len(test),
            "labels": cfg.labels, "label_seed": cfg.label_seed, "averaged": bool(cfg.ema_d),
            "supervised_only": cfg.supervised_only, "epoch": trainer.epoch}


def check_not_points(path):
    """Raise MiniganError for a samples file of 2-D points given without the dataset whose modes they are."""
    from minigan.evaluate.samples import load_samples

    if os.path.isfile(path):
        images, _ = load_samples(path)
        if images.ndim == 2 and images.shape[1] == 2:
            raise MiniganError(f"{path} holds 2-D points, not images: say whose modes they are with "
                               "--dataset ring or --dataset grid.")


def format_report(report):
    """The report as text: the metrics table, then the probe's accuracies (or, for data of known modes,
    the modes covered)."""
    if report.get("kind") == "modes":
        from minigan.evaluate import modes

        lines = [report["description"], modes.format_report(report)]
        if report.get("reference"):
            lines += [report["reference"]["description"] + ":", modes.format_report(report["reference"])]
        return "\n".join(lines)
    lines = [report.get("description", ""), format_table(report)]
    c = report.get("classifier")
    if c:
        how = "trained on the labelled images alone" if c["supervised_only"] else "semi-supervised"
        weights = "averaged weights" if c["averaged"] else "its weights"
        lines.append(f"D as a classifier ({c['labels']} labels, seed {c['label_seed']}, {how}, {weights}, "
                     f"epoch {c['epoch']}): {c['test_errors']} test errors of {c['test_images']} "
                     f"({c['test_accuracy']:.2%} accuracy)")
    probe = report.get("probe")
    if probe:
        lines.append(f"linear probe on D's features ({probe['feature_size']} per image), test accuracy:")
        for n, accuracy in probe["accuracy"].items():
            baseline = (probe["pixel_accuracy"] or {}).get(n)
            pixels = "" if baseline is None else f"   (raw pixels: {baseline:.2%})"
            lines.append(f"  {n:>5} labels: {accuracy:.2%}{pixels}")
    return "\n".join(line for line in lines if line)


def write_json(report, path):
    """Write the report as JSON (atomically); ``path`` '-' returns the text instead."""
    text = json.dumps(report, indent=2, default=float) + "\n"
    if path == "-":
        return text
    with files.atomic_open(path, "JSON report", "choose a writable --json.") as f:
        f.write(text.encode())
    return text
