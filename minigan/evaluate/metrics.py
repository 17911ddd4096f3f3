"""The sample-quality metrics, on plain NumPy arrays of judge outputs (float64 throughout).

Notation: f are judge features (n, d); log_p are judge log-probabilities log p(y|x) (n, k);
a Gaussian fit is (mu (d,), sigma (d, d)); KL(p || q) = sum_y p(y) (log p(y) - log q(y)).
"""

import numpy as np

from minigan.errors import MiniganError


def gaussian_fit(f):
    """Mean and covariance (unbiased, rows are samples) of features f (n, d)."""
    f = np.asarray(f, dtype=np.float64)
    if len(f) < 2:
        raise MiniganError(f"a Gaussian fit needs at least 2 images, got {len(f)}.")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(sigma):
    """Square root of a symmetric positive semi-definite matrix by eigen-decomposition."""
    w, V = np.linalg.eigh((sigma + sigma.T) / 2)
    return (V * np.sqrt(np.clip(w, 0, None))) @ V.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Frechet distance between two Gaussians (the FID of Heusel et al. 2017 on judge features):

        d^2 = |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)).

    sigma1 sigma2 is not symmetric, but it is similar to the symmetric PSD matrix
    M = sigma1^(1/2) sigma2 sigma1^(1/2), so tr((sigma1 sigma2)^(1/2)) = sum sqrt(eig(M)):
    two symmetric eigen-decompositions, no scipy, and no complex round-off.

    Returns:
        float, >= 0 (0 for identical fits, up to rounding).
    """
    root1 = _sqrt_psd(sigma1)
    M = root1 @ sigma2 @ root1
    eig = np.clip(np.linalg.eigvalsh((M + M.T) / 2), 0, None)
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(eig).sum()
    return float(max(value, 0.0))


def inception_score(log_p):
    """Inception-style score (Salimans et al. 2016) with the judge in place of Inception:

        IS = exp(E_x KL(p(y|x) || p(y))),   p(y) = mean over x of p(y|x).

    1 when every image gets the same class distribution; k (the number of classes) when each
    image is confidently one class and the classes are equally frequent.
    """
    p = np.exp(log_p)
    log_marginal = np.log(np.clip(p.mean(axis=0), 1e-300, None))
    kl = (p * (log_p - log_marginal)).sum(axis=1)
    return float(np.exp(kl.mean()))


def modified_inception_score(log_p, min_class_size=2):
    """DeLiGAN's modified inception score (Gurumurthy, Sarvadevabhatla & Babu, "DeLiGAN:
    Generative Adversarial Networks for Diverse and Limited Data", CVPR 2017, Sec. 4), which
    rewards diversity *within* a class:

        m-IS_c = exp(E_{x_i, x_j in class c} KL(p(y|x_i) || p(y|x_j))),   m-IS = mean over c of m-IS_c,

    with class c the images the judge assigns to c (argmax), as in the authors' reference code
    (val-iisc/deligan, src/modified_inception_scores). Identical images give 1; a collapsed
    generator (one image repeated per class) gives 1 too.

    Args:
        log_p (numpy.ndarray): (n, k) log-probabilities.
        min_class_size (int): classes with fewer images are left out of the mean.
    Returns:
        float, or nan when no class has min_class_size images.
    """
    predicted = log_p.argmax(axis=1)
    scores = []
    for c in range(log_p.shape[1]):
        part = log_p[predicted == c]
        if len(part) < min_class_size:
            continue
        # mean_j KL(p_i || p_j) = sum_y p_i (log p_i - mean_j log p_j): linear in the class size,
        # where the authors' code builds the n_c x n_c matrix of pairs (800 MB for 10k collapsed samples)
        kl = (np.exp(part) * (part - part.mean(axis=0))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)) if scores else float("nan")


def class_histogram(predicted, num_classes):
    """Number of images assigned to each class: int array (num_classes,)."""
    return np.bincount(predicted, minlength=num_classes)[:num_classes]


def classes_covered(histogram, min_share=0.01):
    """Classes that receive at least ``min_share`` of the images (and at least one)."""
    n = histogram.sum()
    return int(np.sum(histogram >= max(1.0, min_share * n)))


def label_accuracy(predicted, labels):
    """Share of images the judge classifies as the label they were generated for."""
    return float(np.mean(predicted == labels))


def nearest_neighbour_accuracy(queries, query_labels, references, reference_labels, chunk=1000):
    """1-nearest-neighbour classification of ``queries`` by ``references`` (Euclidean pixels).

    The DCGAN paper's check (Radford, Metz & Chintala 2015, appendix "Evaluating DCGANs
    capability to capture data distributions", Table 3): real validation digits are classified
    by the label of their nearest generated sample; a generator that covers every class with
    realistic, varied digits scores close to a nearest-neighbour classifier fitted on real data.

    Args:
        queries (numpy.ndarray): (m, ...) real images.
        query_labels (numpy.ndarray): (m,) their true labels.
        references (numpy.ndarray): (n, ...) generated images.
        reference_labels (numpy.ndarray): (n,) their labels (asked, or given by the judge).
        chunk (int): queries per distance block (bounds memory to chunk * n floats).
    Returns:
        float: share of queries whose nearest reference has their label.
    """
    R = np.ascontiguousarray(references.reshape(len(references), -1), dtype=np.float32)
    Q = np.ascontiguousarray(queries.reshape(len(queries), -1), dtype=np.float32)
    r2 = (R * R).sum(axis=1)
    nearest = np.empty(len(Q), dtype=np.int64)
    for i in range(0, len(Q), chunk):
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2; |q|^2 is the same for every r, so it can be dropped
        nearest[i:i + chunk] = (r2[None, :] - 2 * (Q[i:i + chunk] @ R.T)).argmin(axis=1)
    return float(np.mean(reference_labels[nearest] == query_labels))
