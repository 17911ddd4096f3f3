"""The judge: a small LeNet-style classifier, trained by minigan itself, that scores generated images.

FID, the Inception-style scores and the class histograms of ``minigan.evaluate`` need a network
that knows the dataset. Instead of downloading an Inception network, minigan trains its own on
the dataset's train split (a few minutes on a laptop CPU) and keeps the weights as one ``.npz``
file (no pickle) in ``$MINIGAN_CACHE/judges`` or ``~/.cache/minigan/judges``:

    body: Conv(c, w, 5, s2, p2) BN ReLU  Conv(w, 2w, 5, s2, p2) BN ReLU  Flatten
          Linear(2w * s/4 * s/4, 128) BN ReLU          <- features(x): 128 numbers per image
    head: Dropout(0.3)  Linear(128, 10)               <- forward(x): class logits

Strided convolutions instead of pooling (as in DCGAN's discriminator) keep the im2col matrices
four times smaller than LeNet's conv + pool, which is what makes CPU training quick.
"""

import os
import sys
import time

import numpy as np

from minigan import __version__, data, files, nn, optim
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.functional.conv import conv_output_size
from minigan.gan.progress import ProgressBar
from minigan.tensor import Tensor

JUDGE_DATASETS = ("mnist", "fashion-mnist", "synthetic")
TARGET_ACCURACY = {"mnist": 0.99, "fashion-mnist": 0.90}
# Measured: MNIST 99.32% after 3 epochs with 1-pixel shifts; Fashion-MNIST 89.93% after 3 epochs with
# shifts but 91.38% after 5 without (its garments are centred: shifting them only blurs the classes).
DEFAULT_EPOCHS = {"mnist": 3, "fashion-mnist": 5, "synthetic": 30}  # synthetic: 500 images, 4 steps an epoch
DEFAULT_SHIFT = {"mnist": 1, "fashion-mnist": 0, "synthetic": 1}
# What each judge reads, known without loading its data, so that samples can be checked before a
# judge is loaded or trained: channels, image side, classes, and a lower bound on the train images
# of each class (the linear probe draws balanced labelled subsets); tests/test_judge.py compares
# them with the data.
JUDGE_INPUTS = {"mnist": (1, 28, 10, 4000), "fashion-mnist": (1, 28, 10, 6000), "synthetic": (1, 28, 10, 50)}


class Judge(nn.Module):
    """LeNet-style classifier whose penultimate layer gives the features used for FID.

    Args:
        channels (int): image channels (1 for MNIST-like data).
        image_size (int): side of the square input images.
        width (int): channels of the first convolution (the second has twice as many).
        hidden (int): size of the feature layer.
        num_classes (int): number of classes.
        seed (int): seeds the initial weights and the dropout mask.
    Shape:
        (n, channels, image_size, image_size) -> logits (n, num_classes); features (n, hidden).
    """

    def __init__(self, channels=1, image_size=28, width=16, hidden=128, num_classes=10, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        side = conv_output_size(conv_output_size(image_size, 5, 2, 2), 5, 2, 2)
        self.config = {"channels": channels, "image_size": image_size, "width": width, "hidden": hidden,
                       "num_classes": num_classes}
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 5, 2, 2, rng=rng), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 5, 2, 2, rng=rng), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.Flatten(), nn.Linear(2 * width * side * side, hidden, rng=rng), nn.BatchNorm1d(hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3, seed=seed), nn.Linear(hidden, num_classes, rng=rng))
        self.meta = {}
        self.test_fit = None  # (mu, sigma) of the test split's features: FID's reference, saved with the weights

    def features(self, x):
        """Penultimate-layer activations (Tensor (n, hidden)), the embedding FID compares."""
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))

    def outputs(self, images, batch_size=1000):
        """Features and log-probabilities of a whole array of images, in eval mode, without a graph.

        Args:
            images (numpy.ndarray): float32 (n, c, h, w) in [-1, 1].
            batch_size (int): images per forward pass (bounds the memory of im2col).
        Returns:
            (features float64 (n, hidden), log_probs float64 (n, num_classes)).
        """
        was_training = self.training
        self.eval()
        feats, logits = [], []
        try:
            with no_grad():
                for i in range(0, len(images), batch_size):
                    h = self.body(Tensor(np.ascontiguousarray(images[i:i + batch_size], dtype=np.float32)))
                    feats.append(h.numpy())
                    logits.append(self.head(h).numpy())
        finally:
            self.train(was_training)
        logits = np.concatenate(logits).astype(np.float64)
        return np.concatenate(feats).astype(np.float64), log_softmax(logits)

    def class_histogram(self, images):
        """Images per predicted class, int array (num_classes,): the trainer's collapse check."""
        _, log_probs = self.outputs(images)
        return np.bincount(log_probs.argmax(axis=1), minlength=self.config["num_classes"])

    def score_test(self, test, batch_size=1000):
        """Accuracy on the test split; keeps its feature Gaussian (mean, covariance) in ``test_fit``."""
        features, log_probs = self.outputs(test.images, batch_size)
        self.test_fit = (features.mean(axis=0), np.cov(features, rowvar=False))
        return float(np.mean(log_probs.argmax(axis=1) == test.labels))


def log_softmax(logits):
    """Row-wise log softmax of a float array, computed with the log-sum-exp shift."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def judges_dir():
    """$MINIGAN_CACHE/judges, else ~/.cache/minigan/judges (read at call time, so tests can move it)."""
    root = os.environ.get("MINIGAN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "minigan")
    return os.path.join(root, "judges")


def judge_path(dataset):
    """Where the judge of ``dataset`` is kept: <judges_dir>/<dataset>.npz."""
    return os.path.join(judges_dir(), f"{dataset}.npz")


def canonical_dataset(name):
    """The dataset's canonical name; MiniganError for datasets that cannot have a judge."""
    key = data.ALIASES.get(str(name).lower(), str(name).lower())
    if key not in JUDGE_DATASETS:
        raise MiniganError(f"there is no judge for dataset {name!r}: a judge needs labelled classes; "
                           f"use one of {', '.join(JUDGE_DATASETS)}.")
    return key


def input_spec(dataset):
    """(channels, image side, classes, fewest train images of a class) of ``dataset``'s judge.

    Raises:
        MiniganError: a dataset that cannot have a judge.
    """
    return JUDGE_INPUTS[canonical_dataset(dataset)]


def check_training(dataset_name, epochs, seed, out_path, batch_size=128, limit=None):
    """Raise MiniganError, before any data is loaded, when ``train_judge`` could not run or save."""
    canonical_dataset(dataset_name)
    if epochs is not None and (not isinstance(epochs, (int, np.integer)) or epochs < 1):
        raise MiniganError(f"--epochs must be a whole number of 1 or more, not {epochs!r}.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MiniganError(f"--seed must be a whole number of 0 or more, not {seed!r}.")
    if batch_size < 1:
        raise MiniganError(f"batch_size must be 1 or more, not {batch_size}.")
    data.check_limits(limit, None)
    if out_path is not None:
        files.check_writable(out_path, "--out", what="judge file")


def save_judge(judge, path):
    """Write weights, buffers, config and meta to ``path`` (.npz, no pickle), atomically."""
    arrays = {f"state.{k}": np.asarray(v) for k, v in judge.state_dict().items()}
    for k, v in {**judge.config, **judge.meta}.items():
        arrays[f"meta.{k}"] = np.asarray(v)
    if judge.test_fit is not None:
        arrays["test_fit.mu"], arrays["test_fit.sigma"] = judge.test_fit
    with files.atomic_open(path, "judge", "choose a writable --out (or $MINIGAN_CACHE).") as f:
        np.savez(f, **arrays)


def load_judge_file(path):
    """A Judge from a file written by ``save_judge``; MiniganError if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise MiniganError(f"{path} is not a readable judge file ({e}); delete it and run "
                           f"`minigan judge DATASET` to train it again.") from e
    meta = {k[5:]: v.item() for k, v in arrays.items() if k.startswith("meta.")}
    keys = ("channels", "image_size", "width", "hidden", "num_classes")
    if not all(k in meta for k in keys):
        raise MiniganError(f"{path} is not a judge file (no judge config in it); delete it and run "
                           f"`minigan judge DATASET` to train it again.")
    judge = Judge(**{k: int(meta.pop(k)) for k in keys})
    judge.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("state.")})
    judge.meta = meta
    if "test_fit.mu" in arrays:
        judge.test_fit = (arrays["test_fit.mu"], arrays["test_fit.sigma"])
    return judge.eval()


def load_judge(dataset, data_dir=None, train_if_missing=True, echo=None):
    """The judge of ``dataset`` from the cache, trained first (with a progress bar) if absent.

    Args:
        dataset (str): "mnist", "fashion-mnist" or "synthetic".
        data_dir (str or None): where to look for the data if the judge must be trained.
        train_if_missing (bool): False raises instead of training.
        echo (callable or None): prints a line (e.g. ``click.echo``); None prints to stderr.
    Returns:
        Judge in eval mode, ``meta`` holding its test accuracy.
    Raises:
        MiniganError: no judge and it cannot (or may not) be trained here.
    """
    key = canonical_dataset(dataset)
    path = judge_path(key)
    if os.path.isfile(path):
        return load_judge_file(path)
    if not train_if_missing:
        raise MiniganError(f"there is no judge for {key} in {judges_dir()}; run `minigan judge {key}` first.")
    say = echo or (lambda line: print(line, file=sys.stderr))
    say(f"No judge for {key} yet: training one now (once; it is kept in {path}).")
    try:
        return train_judge(key, None, 0, path, data_dir=data_dir, progress=True, echo=say)
    except MiniganError as e:
        raise MiniganError(f"there is no judge for {key} and it cannot be trained here: {e} Then run "
                           f"`minigan judge {key}` (or pass --data-dir).") from e


def shift_images(x, rng, max_shift):
    """Each image moved by a random whole-pixel offset in [-max_shift, max_shift], background -1."""
    if max_shift == 0:
        return x
    n, c, h, w = x.shape
    m = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)), constant_values=-1.0)
    oy, ox = rng.integers(0, 2 * m + 1, size=(2, n))
    rows = (oy[:, None] + np.arange(h))[:, None, :, None]
    cols = (ox[:, None] + np.arange(w))[:, None, None, :]
    return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]


def fit(judge, batches, epochs, lr, rng, max_shift=1, bar=None):
    """Train ``judge`` for ``epochs`` passes of ``batches`` with Adam, lr falling linearly to 0.

    Returns:
        list of float: the mean training loss of each epoch.
    """
    opt = optim.Adam(judge.parameters(), lr=lr)
    judge.train()
    total, step, epoch_losses = epochs * len(batches), 0, []
    for _ in range(epochs):
        losses = []
        for x, y in batches:
            opt.lr, step = lr * (1 - step / total), step + 1
            opt.zero_grad()
            loss = F.cross_entropy(judge(Tensor(shift_images(x, rng, max_shift))), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if bar is not None:
                bar.update(1)
        epoch_losses.append(float(np.mean(losses)))
        if bar is not None:
            bar.write(f"judge epoch {len(epoch_losses)}/{epochs}: train loss {epoch_losses[-1]:.4f}")
    return epoch_losses


def train_judge(dataset_name, epochs=None, seed=0, out_path=None, data_dir=None, batch_size=128,
                lr=2e-3, width=16, limit=None, max_shift=None, progress=False, echo=None):
    """Train a judge with Adam and cross-entropy on the train split; test it on the test split.

    The learning rate falls linearly from ``lr`` to 0 over the run, which settles the weights
    in few epochs. Images are moved by up to ``max_shift`` pixels at random (cheap augmentation).

    Args:
        dataset_name (str): "mnist", "fashion-mnist" or "synthetic".
        epochs (int or None): passes over the train split; None: ``DEFAULT_EPOCHS`` of the dataset.
        seed (int): seeds the weights, the data order, the shifts and dropout.
        out_path (str or None): where to save the .npz (None: don't save).
        data_dir (str or None): passed to ``minigan.data.load_dataset``.
        batch_size (int), lr (float), width (int): training and model size.
        limit (int or None): use only the first ``limit`` train images (quick checks).
        max_shift (int or None): largest random shift in pixels (0: no augmentation; None:
            ``DEFAULT_SHIFT`` of the dataset).
        progress (bool): draw a progress bar on stderr (when it is a terminal).
        echo (callable or None): receives the per-epoch and final summary lines.
    Returns:
        Judge in eval mode; ``meta`` holds dataset, test_accuracy, epochs, seed, train_seconds.
    """
    check_training(dataset_name, epochs, seed, out_path, batch_size, limit)
    key = canonical_dataset(dataset_name)
    epochs = epochs or DEFAULT_EPOCHS[key]
    max_shift = DEFAULT_SHIFT[key] if max_shift is None else max_shift
    train = data.load_dataset(key, data_dir=data_dir, split="train", limit=limit)  # the synthetic set's own seed 0:
    test = data.load_dataset(key, data_dir=data_dir, split="test")  # the same images `minigan eval` compares with
    c, h, _ = train.image_shape
    judge = Judge(c, h, width, num_classes=train.num_classes, seed=seed)
    rng = np.random.default_rng([seed, 1])
    batches = data.BatchIterator(train, min(batch_size, len(train)), rng)
    start = time.perf_counter()
    bar = ProgressBar(epochs * len(batches), f"training the {key} judge", stream=sys.stderr,
                      enabled=None if progress else False, echo=echo or (lambda line: None))
    losses = fit(judge, batches, epochs, lr, rng, max_shift, bar)
    bar.close()
    accuracy = judge.score_test(test)
    judge.meta = {"dataset": key, "test_accuracy": accuracy, "epochs": epochs, "seed": seed, "max_shift": max_shift,
                  "train_images": len(train), "final_train_loss": losses[-1],
                  "train_seconds": time.perf_counter() - start, "minigan_version": __version__}
    if echo is not None:
        echo(f"{key} judge: {accuracy:.2%} test accuracy on {len(test)} images "
             f"({judge.meta['train_seconds']:.0f} s of training).")
        if accuracy < TARGET_ACCURACY.get(key, 0.0):
            echo(f"warning: below the {TARGET_ACCURACY[key]:.0%} a judge of {key} should reach; its scores are "
                 f"less trustworthy -- train it longer with `minigan judge {key} --epochs {epochs + 2}`.")
    if out_path is not None:
        save_judge(judge, out_path)
    return judge.eval()
