"""One row of scores for a set of images, the same row for real data, and the table of both.

A row (a dict, JSON-ready) holds, for n images scored by the dataset's judge:
  fid                 Frechet distance of judge features to the 10k test images (lower is better)
  inception_score     exp E KL(p(y|x) || p(y)) with the judge (higher: confident and varied)
  modified_is         DeLiGAN's intra-class diversity score (higher: more varied within a class)
  class_histogram     images per class the judge predicts; classes_covered: classes with >= 1%
  label_accuracy      conditional samples only: share classified as the label asked for
  nn_accuracy         the test images classified by their nearest image of the set (DCGAN's check)
The real row scores n train images drawn with the seed: what a perfect generator would get.
"""

import math
import time

import numpy as np

from minigan import data
from minigan.evaluate import metrics
from minigan.evaluate.samples import check_images, check_labels
from minigan.judge import canonical_dataset, load_judge


class EvalContext:
    """The judge of a dataset and its test images, loaded once and shared by every row.

    Args:
        dataset (str): "mnist", "fashion-mnist" or "synthetic".
        judge (Judge or None): None loads (or trains) the cached judge.
        data_dir (str or None): where the dataset's files are.
        echo (callable or None): receives progress lines (judge training).
    """

    def __init__(self, dataset="mnist", judge=None, data_dir=None, echo=None):
        self.dataset = canonical_dataset(dataset)
        self.judge = judge if judge is not None else load_judge(self.dataset, data_dir, echo=echo)
        self.data_dir = data_dir
        self._test = self._test_fit = self._train = None

    @property
    def test(self):
        """The test split: FID's reference set and the 1-NN check's queries."""
        if self._test is None:
            self._test = data.load_dataset(self.dataset, data_dir=self.data_dir, split="test")
        return self._test

    @property
    def test_fit(self):
        """Gaussian fit (mu, sigma) of the judge features of the test images."""
        if self._test_fit is None:
            self._test_fit = self.judge.test_fit  # computed when the judge was trained
        if self._test_fit is None:
            features, _ = self.judge.outputs(self.test.images)
            self._test_fit = metrics.gaussian_fit(features)
        return self._test_fit

    @property
    def train(self):
        if self._train is None:
            self._train = data.load_dataset(self.dataset, data_dir=self.data_dir, split="train")
        return self._train


def evaluate(images, labels=None, dataset="mnist", judge=None, data_dir=None, context=None):
    """Score generated images with the dataset's judge.

    Args:
        images: (n, c, h, w) or (n, h, w) array in [-1, 1], n >= 2 (10k for comparable FIDs).
        labels: the classes a conditional generator was asked for, (n,) ints, or None.
        dataset (str): whose judge and test set to use.
        judge (Judge or None): a judge to use instead of the cached one.
        data_dir (str or None): where the dataset's files are.
        context (EvalContext or None): reuse a loaded judge and test set.
    Returns:
        dict: the row described in the module docstring, plus n, seconds and note.
    Raises:
        MiniganError: bad images or labels, or no judge for the dataset.
    """
    start = time.perf_counter()
    ctx = context or EvalContext(dataset, judge, data_dir)
    cfg = ctx.judge.config
    x, note = check_images(images, cfg["channels"], cfg["image_size"])
    labels = check_labels(labels, len(x), cfg["num_classes"])
    features, log_p = ctx.judge.outputs(x)
    predicted = log_p.argmax(axis=1)
    hist = metrics.class_histogram(predicted, cfg["num_classes"])
    test = ctx.test
    row = {
        "n": len(x),
        "fid": metrics.frechet_distance(*metrics.gaussian_fit(features), *ctx.test_fit),
        "inception_score": metrics.inception_score(log_p),
        "modified_is": _finite_or_none(metrics.modified_inception_score(log_p)),
        "class_histogram": hist.tolist(),
        "classes_covered": metrics.classes_covered(hist),
        "label_accuracy": None if labels is None else metrics.label_accuracy(predicted, labels),
        "nn_accuracy": metrics.nearest_neighbour_accuracy(
            test.images, test.labels, x, predicted if labels is None else labels),
        "note": note,
    }
    row["seconds"] = time.perf_counter() - start
    return row


def _finite_or_none(value):
    """NaN (no class with two images) as None, so the JSON stays standard."""
    return None if math.isnan(value) else value


def reference_row(n, conditional=False, seed=0, context=None, dataset="mnist", data_dir=None):
    """The same row for n real train images drawn with ``seed`` (their true labels if conditional)."""
    ctx = context or EvalContext(dataset, data_dir=data_dir)
    train = ctx.train
    rows = np.sort(np.random.default_rng(seed).choice(len(train), size=min(n, len(train)), replace=False))
    return evaluate(train.images[rows], train.labels[rows] if conditional else None, context=ctx)


def compare(images, labels=None, dataset="mnist", judge=None, data_dir=None, seed=0, reference=True, echo=None):
    """Score generated images and, beside them, as many real images: what ``minigan eval`` prints.

    Returns:
        dict: dataset, judge_accuracy, samples (row), real (row or None).
    """
    ctx = EvalContext(dataset, judge, data_dir, echo)
    row = evaluate(images, labels, context=ctx)
    real = reference_row(row["n"], labels is not None, seed, ctx) if reference else None
    return {"dataset": ctx.dataset, "judge_accuracy": ctx.judge.meta.get("test_accuracy"),
            "samples": row, "real": real}


def _fmt(value, spec):
    if value is None:
        return "-"
    return format(value, spec)


ROWS = (  # (label, key, format, which way is better)
    ("FID (judge features)", "fid", ".2f", "lower"),
    ("Inception-style score", "inception_score", ".3f", "higher"),
    ("DeLiGAN modified IS", "modified_is", ".3f", "higher"),
    ("classes covered", "classes_covered", "d", "higher"),
    ("asked-label accuracy", "label_accuracy", ".2%", "higher"),
    ("1-NN accuracy (test images)", "nn_accuracy", ".2%", "higher"),
)


def format_table(report):
    """The report of ``compare`` as a plain-text table."""
    s, r = report["samples"], report["real"]
    lines = [f"{'metric':<30}{'samples':>12}{'real data':>12}   better", "-" * 64]
    for label, key, spec, better in ROWS:
        real = "" if r is None else _fmt(r[key], spec)
        lines.append(f"{label:<30}{_fmt(s[key], spec):>12}{real:>12}   {better}")
    for name, row in (("samples", s), ("real data", r)):
        if row is not None:
            lines.append(f"class histogram, {name:<10} " + " ".join(f"{c}:{k}" for c, k in
                                                                  enumerate(row["class_histogram"])))
    accuracy = report.get("judge_accuracy")
    judge = f"the {report['dataset']} judge" + (f" ({accuracy:.2%} test accuracy)" if accuracy else "")
    lines.append(f"{s['n']} samples scored by {judge} in {s['seconds']:.1f} s" +
                 (f"; {s['note']}" if s.get("note") else "") + ".")
    return "\n".join(lines)
