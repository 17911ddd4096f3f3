"""Mode-collapse metrics on data whose modes are known (data/modes.py): what ``minigan eval`` reports
for a ring, grid or stacked-MNIST run, and what the training loop logs for one at every epoch.

Point data (ring, grid; Metz et al. 2016, VEEGAN, PacGAN): each sample belongs to its nearest mode;
it is *high quality* when it lies within 3 std of that mode's centre, and a mode is *covered* when
at least one high-quality sample belongs to it. The KL below is over every sample's nearest mode
(so it is finite even when no sample is of high quality: it measures the spread over the modes,
the high-quality share measures closeness to them). Stacked MNIST (Metz et al., VEEGAN, PacGAN): the
MNIST judge reads the R, G and B planes as three digits, so a sample's mode is 100 a + 10 b + c;
a mode is covered when at least one sample lands in it, over 26,000 samples (the papers' protocol).

    KL = sum_m p_m log(p_m / (1 / M)),   p the histogram of the samples' modes (high-quality ones for
                                          point data), M the number of modes; 0 for a uniform spread

    from minigan.evaluate import modes
    report = modes.point_report(samples, "ring")    # {'modes_covered': 8, 'high_quality': 0.93, 'kl': 0.01, ...}
"""

import os

import numpy as np

from minigan.data import modes as data_modes
from minigan.errors import MiniganError

QUALITY_STDS = 3.0  # a point sample within 3 std of a centre is high quality
SAMPLES = {"ring": 2500, "grid": 2500, "stacked-mnist": 26000}  # eval's default sample counts (VEEGAN, PacGAN)


def kl_to_uniform(histogram):
    """KL(p || uniform) of a histogram over all M modes (empty modes included in M); inf when empty."""
    counts = np.asarray(histogram, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return float("inf")
    p = counts[counts > 0] / total
    return float(np.sum(p * np.log(p * len(counts))))


def assign_points(points, name):
    """(nearest mode index (n,), high-quality mask (n,)) of 2-D samples of a point dataset."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise MiniganError(f"{name} samples are 2-D points of shape (n, 2), not {points.shape}.")
    centres = data_modes.mode_centres(name)
    distance = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2)
    nearest = distance.argmin(axis=1)
    finite = np.isfinite(points).all(axis=1)
    quality = finite & (distance[np.arange(len(points)), nearest] <= QUALITY_STDS * data_modes.STD[name])
    return nearest, quality


def point_report(points, name):
    """Modes covered, high-quality share and KL to uniform of 2-D samples of ``name`` (ring, grid).

    Returns:
        dict: dataset, samples, modes (the dataset's count), modes_covered, high_quality (share in
        [0, 1]), kl (of the nearest-mode histogram), histogram (high-quality samples per mode, a list).
    """
    nearest, quality = assign_points(points, name)
    k = data_modes.num_modes(name)
    good = np.bincount(nearest[quality], minlength=k)
    return {"dataset": name, "samples": len(nearest), "modes": k,
            "modes_covered": int((good > 0).sum()), "high_quality": float(quality.mean()),
            "kl": kl_to_uniform(np.bincount(nearest, minlength=k)), "histogram": good.tolist()}


def stacked_modes(images, classifier, batch_size=1000):
    """The mode 100 a + 10 b + c of each stacked-MNIST image (n, 3, 28, 28): the judge's digit per plane."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] != 3:
        raise MiniganError(f"stacked MNIST samples are (n, 3, 28, 28) images, not {images.shape}.")
    digits = []
    for plane in range(3):
        _, log_probs = classifier.outputs(np.ascontiguousarray(images[:, plane:plane + 1]), batch_size)
        digits.append(log_probs.argmax(axis=1))
    return 100 * digits[0] + 10 * digits[1] + digits[2]


def stacked_report(images, classifier):
    """Modes covered (of 1000) and KL to uniform of stacked-MNIST samples, the MNIST judge reading each plane.

    The KL splits exactly into the planes' own KLs (each plane's digit shares against 1/10) and what is
    left, the dependence between the planes (the KL of the joint histogram from the product of the
    three planes' shares): with p(a, b, c) and its marginals p1, p2, p3,

        KL(p || 1/1000) = sum_i KL(p_i || 1/10) + KL(p || p1 p2 p3).

    A G whose digits are good but come in pairs raises the second term; a G whose blurred planes the
    judge reads as 3s and 8s too often raises the first (DCGAN's runs: docs/mode-collapse.md).

    Returns:
        dict: dataset, samples, modes (1000), modes_covered, kl, top_mode_share, plane_kl (three floats),
        dependence_kl, plane_shares (per plane, the share of each digit 0-9).
    """
    modes = stacked_modes(images, classifier)
    histogram = np.bincount(modes, minlength=data_modes.STACKED_MODES)
    kl = kl_to_uniform(histogram)
    planes = [np.bincount(modes // 10 ** (2 - plane) % 10, minlength=10) for plane in range(3)]
    plane_kl = [kl_to_uniform(counts) for counts in planes]
    return {"dataset": "stacked-mnist", "samples": int(histogram.sum()), "modes": len(histogram),
            "modes_covered": int((histogram > 0).sum()), "kl": kl,
            "top_mode_share": float(histogram.max() / max(1, histogram.sum())),
            # the dependence (multi-information) is >= 0; only rounding takes it below
            "plane_kl": plane_kl, "dependence_kl": max(0.0, kl - sum(plane_kl)),
            "plane_shares": [(counts / max(1, counts.sum())).tolist() for counts in planes]}


def report(samples, name, classifier=None):
    """The mode report of ``samples`` of dataset ``name`` (a point dataset, or stacked MNIST with its judge)."""
    if name in data_modes.POINT_DATASETS:
        return point_report(samples, name)
    if classifier is None:
        from minigan import judge

        classifier = judge.load_judge("mnist")
    return stacked_report(samples, classifier)


def format_report(rep):
    """The report as a few lines of text."""
    lines = [f"{rep['dataset']}: {rep['modes_covered']} of {rep['modes']} modes covered "
             f"({rep['samples']} samples), KL to uniform {rep['kl']:.3f}"]
    if "high_quality" in rep:
        lines.append(f"high-quality samples (within {QUALITY_STDS:g} std of a mode): {rep['high_quality']:.1%}")
    if "top_mode_share" in rep:
        lines.append(f"most common mode: {rep['top_mode_share']:.2%} of the samples (uniform: 0.10%)")
    if "plane_kl" in rep:
        planes = " + ".join(f"{k:.3f}" for k in rep["plane_kl"])
        lines.append(f"KL = {planes} (each plane's digit shares, R G B) + {rep['dependence_kl']:.3f} (the planes' "
                     f"dependence)")
    for name, shares in zip("RGB", rep.get("plane_shares", ())):
        order = np.argsort(shares)
        lines.append(f"  plane {name}: most read as {order[-1]} ({shares[order[-1]]:.1%}), {order[-2]} "
                     f"({shares[order[-2]]:.1%}); least as {order[0]} ({shares[order[0]]:.1%}) (uniform: 10%)")
    return "\n".join(lines)


class ModeCheck:
    """Epoch-end hook of the training loop (see gan/training.py) for runs on data of known modes:
    ``hook(trainer, run, epoch)`` -> {"modes_covered": [k], "high_quality": [q], "kl": [kl]}.

    Samples come from a Generator of their own seeded by the epoch, so the run's random streams are
    untouched. Stacked MNIST needs the cached MNIST judge (``minigan judge mnist``); without one the
    hook measures nothing.

    Args:
        n (int or None): samples per check; None: 2500 points, or 2600 stacked images (a tenth of eval's).
    """

    def __init__(self, n=None):
        self.n = n
        self.classifier = None

    def __call__(self, trainer, run, epoch):
        name = trainer.config.dataset
        if name not in data_modes.MODE_DATASETS:
            return {}
        if name == "stacked-mnist" and self.classifier is None:
            from minigan import judge

            try:
                self.classifier = judge.load_judge("mnist", train_if_missing=False)
            except MiniganError:
                return {}
        n = self.n or (SAMPLES[name] if name in data_modes.POINT_DATASETS else SAMPLES[name] // 10)
        rep = report(trainer.sample(n, rng=np.random.default_rng(epoch)), name, self.classifier)
        keys = ("modes_covered", "high_quality", "kl")
        return {k: [rep[k]] for k in keys if k in rep}


def mode_dataset_of(target, dataset=None):
    """The dataset of known modes that ``minigan eval TARGET`` scores with these metrics, or None
    (then eval scores with a judge as for any image dataset)."""
    from minigan.evaluate.samples import is_checkpoint

    if dataset is not None:
        key = str(dataset).lower()
        return key if key in data_modes.MODE_DATASETS else None
    if os.path.exists(target) and is_checkpoint(target):
        from minigan.gan import checkpoint

        name = checkpoint.load(target).meta["dataset"]
        return name if name in data_modes.MODE_DATASETS else None
    return None


def reference_report(name, n, classifier=None, data_dir=None):
    """The mode report of the dataset's own first ``n`` training examples: what a G that drew the data
    itself would score (all modes, and the KL that ``n`` draws leave by chance alone: ~0.02 for 26,000
    stacked-MNIST images, whose 1000 modes are not exactly equally likely either).

    Returns:
        dict: the mode report (``report``) plus description.
    """
    from minigan import data

    real = data.load_dataset(name, data_dir=data_dir, limit=n)
    rep = report(real.images, name, classifier)
    rep["description"] = f"real data: the first {len(real)} training examples"
    return rep


def mode_eval(target, dataset, n=None, seed=0, device="cpu", echo=None, as_trained=False, reference=True,
              data_dir=None):
    """``minigan eval`` for a run (or samples file) of a dataset of known modes.

    Args:
        target (str): a run folder, a checkpoint, or a samples .npz/.npy (``images``: points (n, 2) or
            stacked images (n, 3, 28, 28)).
        dataset (str): ring, grid or stacked-mnist (a checkpoint's own when None).
        n (int or None): samples drawn from a checkpoint; None: 2500 points or 26,000 stacked images.
        as_trained (bool): a checkpoint's G samples with its weights as trained, not their --ema average.
        reference (bool): also score as many real training examples (``reference_report``).
        data_dir (str or None): where stacked MNIST's digits are.
    Returns:
        dict: the mode report (``report``) plus target, description, kind "modes" and reference (the
        real data's report, or None).
    """
    from minigan.evaluate.samples import (is_checkpoint, load_samples, refuse_as_trained_samples,
                                          samples_from_checkpoint, weights_note)

    name = dataset or mode_dataset_of(target)
    n = n or SAMPLES[name]
    if os.path.exists(target) and is_checkpoint(target):
        from minigan.gan import checkpoint

        ckpt = checkpoint.load(target)
        if ckpt.meta["dataset"] != name:
            raise MiniganError(f"{target} was trained on {ckpt.meta['dataset']}, not {name}; its modes are "
                               f"another dataset's (drop --dataset).")
        samples, _, _ = samples_from_checkpoint(ckpt, n, seed, device, as_trained=as_trained)
        description = f"{len(samples)} samples from {target} (seed {seed}{weights_note(as_trained)})"
    else:
        refuse_as_trained_samples(as_trained, target)
        samples, _ = load_samples(target)
        description = f"{len(samples)} samples from {target}"
    classifier = None
    if name == "stacked-mnist":
        from minigan import judge

        classifier = judge.load_judge("mnist", echo=echo)
    real = reference_report(name, len(samples), classifier, data_dir) if reference else None
    return {"kind": "modes", "target": target, "description": description, **report(samples, name, classifier),
            "reference": real}
