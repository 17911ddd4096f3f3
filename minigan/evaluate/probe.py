"""The DCGAN paper's representation-learning check: how linearly separable are D's features?

Radford, Metz & Chintala (2015), Sec. 5.1-5.2, train a GAN without labels, then fit a linear
classifier on the discriminator's features with only a few labelled images. Here the features
are the input of D's last Linear/Conv2d layer (what D's decision is a linear function of),
flattened; optionally each channel of that map is max-pooled to a g x g grid first, as the
paper pools to 4 x 4. The classifier is multinomial logistic regression (one minigan Linear,
softmax cross-entropy, Adam with L2 weight decay) on standardised features; the same probe on
raw pixels is the baseline a useful D must beat.
"""

import numpy as np

from minigan import backend, data, nn, optim
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.inspect.hooks import preserved_modes, watch
from minigan.judge import canonical_dataset
from minigan.tensor import Tensor


def adaptive_max_pool(x, grid):
    """Max over each cell of a grid x grid partition of the (h, w) plane (PyTorch's adaptive bins)."""
    n, c, h, w = x.shape
    out = np.empty((n, c, grid, grid), dtype=x.dtype)
    for i in range(grid):
        y0, y1 = i * h // grid, -(-(i + 1) * h // grid)
        for j in range(grid):
            x0, x1 = j * w // grid, -(-(j + 1) * w // grid)
            out[:, :, i, j] = x[:, :, y0:y1, x0:x1].max(axis=(2, 3))
    return out


def _probe_input(calls, pool):
    """The last Linear/Conv2d layer's input among ``calls``, on the host, pooled when asked."""
    last = max((i for i, (layer, _, _) in enumerate(calls) if isinstance(layer, (nn.Linear, nn.Conv2d))),
               default=None)
    if last is None:
        raise MiniganError("the discriminator has no Linear or Conv2d layer to probe.")
    x = backend.to_cpu(calls[last][1].data)
    if pool is None:
        return x.reshape(len(x), -1)
    if x.ndim != 4:  # after a Flatten: pool the image-shaped map it flattened
        maps = [y.data for _, _, y in calls[:last] if y.ndim == 4 and y.data.size == x.size]
        if not maps:
            raise MiniganError("cannot pool the discriminator's features: no image-shaped map feeds its "
                               "last layer; probe without pooling.")
        x = backend.to_cpu(maps[-1])
    return adaptive_max_pool(x, pool).reshape(len(x), -1)


def discriminator_features(D, images, pool=None, batch_size=500):
    """D's penultimate features of ``images``, computed in eval mode without a graph.

    Args:
        D (Module): a discriminator taking images only (n, c, h, w) -> logits, on the CPU or the GPU.
        images (numpy.ndarray): float32 (n, c, h, w) in [-1, 1] (moved to D's device batch by batch).
        pool (int or None): max-pool each channel to a pool x pool grid first.
        batch_size (int): images per forward pass.
    Returns:
        numpy.ndarray float32 (n, features).
    """
    chunks, calls = [], []
    device = backend.device_of(D.parameters()[0].data)
    with preserved_modes(D):
        D.eval()
        for i in range(0, len(images), batch_size):
            calls.clear()
            with no_grad(), watch(D, lambda name, layer, args, y, s: calls.append((layer, args[0], y))):
                try:
                    D(Tensor(backend.to_device(np.ascontiguousarray(images[i:i + batch_size]), device)))
                except TypeError as e:
                    raise MiniganError("the probe needs a discriminator that takes images only; a "
                                       "conditional D also wants labels.") from e
            chunks.append(np.asarray(_probe_input(calls, pool), dtype=np.float32))  # 10k x 6272 floats: keep 32-bit
    return np.concatenate(chunks)


def linear_probe(train_f, train_y, test_f, test_y, num_classes, seed=0, steps=300, lr=0.01, weight_decay=1e-3):
    """Fit logistic regression on (train_f, train_y) full-batch; return its accuracy on the test set."""
    mean = train_f.mean(axis=0, dtype=np.float64).astype(np.float32)  # scale set by the labelled images only
    std = train_f.std(axis=0, dtype=np.float64).astype(np.float32) + np.float32(1e-6)
    xs = Tensor((train_f - mean) / std)
    classifier = nn.Linear(train_f.shape[1], num_classes, rng=np.random.default_rng(seed))
    opt = optim.Adam(classifier.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(classifier(xs), train_y).backward()
        opt.step()
    with no_grad():
        logits = classifier(Tensor((test_f - mean) / std)).numpy()
    return float(np.mean(logits.argmax(axis=1) == test_y))


def balanced_subset(labels, n, num_classes, rng):
    """Indices of n labelled examples, n // num_classes of each class, drawn with rng."""
    per_class = max(1, n // num_classes)
    picks = [rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False) for c in range(num_classes)]
    return np.sort(np.concatenate(picks))


def probe_discriminator(D, dataset="mnist", n_labels=(100, 1000), seed=0, data_dir=None, pool=None,
                        baseline=True, steps=300):
    """Test accuracy of linear classifiers on D's features, trained with few labels.

    Args:
        D (Module): a trained discriminator (images only).
        dataset (str): the labelled dataset D was trained on ("mnist", "fashion-mnist", "synthetic").
        n_labels (tuple of int): sizes of the balanced labelled train subsets.
        seed (int): draws the subsets and the classifiers' initial weights.
        data_dir (str or None): where the dataset's files are.
        pool (int or None): max-pool D's feature map to a pool x pool grid.
        baseline (bool): also probe raw pixels.
        steps (int): full-batch Adam steps of each logistic regression.
    Returns:
        dict: feature_size, accuracy {n: test accuracy}, pixel_accuracy {n: ...} (when baseline).
    """
    key = canonical_dataset(dataset)
    train = data.load_dataset(key, data_dir=data_dir, split="train")
    test = data.load_dataset(key, data_dir=data_dir, split="test")
    rng = np.random.default_rng(seed)
    subsets = {n: balanced_subset(train.labels, n, train.num_classes, rng) for n in n_labels}
    needed = np.unique(np.concatenate(list(subsets.values())))
    where = {row: i for i, row in enumerate(needed)}
    train_f = discriminator_features(D, train.images[needed], pool)
    test_f = discriminator_features(D, test.images, pool)
    result = {"feature_size": int(train_f.shape[1]), "accuracy": {}, "pixel_accuracy": {} if baseline else None}
    for n, rows in subsets.items():
        local = np.array([where[r] for r in rows])
        y = train.labels[rows]
        result["accuracy"][n] = linear_probe(train_f[local], y, test_f, test.labels, train.num_classes, seed, steps)
        if baseline:
            pixels, test_pixels = train.images[rows].reshape(len(rows), -1), test.images.reshape(len(test), -1)
            result["pixel_accuracy"][n] = linear_probe(pixels, y, test_pixels, test.labels, train.num_classes, seed, steps)
    return result
