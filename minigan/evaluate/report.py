"""What ``minigan eval`` does, as one library call: samples in, report (dict, text, JSON) out."""

import json
import os

from minigan.errors import MiniganError
from minigan.evaluate.probe import probe_discriminator
from minigan.evaluate.samples import images_for, is_checkpoint
from minigan.evaluate.scorecard import compare, format_table


def eval_report(target, dataset=None, n=10000, seed=0, reference=True, probe=False, pool=None, data_dir=None,
                device="cpu", echo=None):
    """Score a checkpoint's generator (n fresh samples) or a samples file.

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
    Returns:
        dict: target, dataset, judge_accuracy, samples, real (rows), probe (or None).
    """
    images, labels, trained_on, description = images_for(target, n, seed, device)
    dataset = dataset or trained_on or "mnist"
    if probe and not is_checkpoint(target):
        raise MiniganError("--probe needs a checkpoint (it probes the discriminator); a samples file has none.")
    report = compare(images, labels, dataset, None, data_dir, seed, reference, echo)
    report.update({"target": target, "description": description, "probe": None})
    if probe:
        from minigan.gan import checkpoint

        D = checkpoint.build_trainer(target, device).networks.get("D")
        if D is None:
            raise MiniganError(f"{target} has no network named D to probe.")
        report["probe"] = probe_discriminator(D, report["dataset"], (100, 1000), seed, data_dir, pool)
    return report


def format_report(report):
    """The report as text: the metrics table, then the probe's accuracies."""
    lines = [report.get("description", ""), format_table(report)]
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
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return text
