"""Files minigan writes and reads: one atomic writer, writability checks made before any work, and
the headers of .npz/.npy files read without loading their arrays.

Everything minigan saves (checkpoints, PNGs, JSON, sample arrays) goes through ``atomic_open``:
the bytes go to a hidden temporary file in the destination's folder, which then replaces the
destination with ``os.replace``; a crash or a full disk never leaves half a file, and the old
file stays intact until the new one is complete.

Every .npz minigan reads (checkpoints, samples) is first looked at through ``array_headers``: the
zip directory and each array's .npy header, a few hundred bytes, which say each array's dtype
and shape. Object arrays (pickles) and arrays too large for memory are refused there, before
any loading.
"""

import contextlib
import math
import os
import secrets
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format

from minigan import limits
from minigan.errors import MiniganError

# what a damaged archive raises while being read: BadZipFile (bad CRC, no central directory),
# zlib.error (damaged compressed data), EOFError (cut short), ValueError (bad .npy header), OSError
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError)


def open_temporary(path):
    """Create ``path`` (which must not exist) for binary writing: the one place atomic writes open files."""
    return open(path, "xb")


@contextlib.contextmanager
def atomic_open(path, what, fix):
    """Open ``path`` for binary writing, atomically.

    Args:
        path: the destination; missing parent folders are created.
        what (str): what is written, for the error ("checkpoint", "image").
        fix (str): what the user can do, for the error.
    Yields:
        a binary file object.
    Raises:
        MiniganError: the file cannot be written (permissions, disk full, ...).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        with open_temporary(tmp) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise MiniganError(f"cannot write {what} {path} ({e.strerror or e}); {fix}") from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _existing_ancestor(path):
    """The nearest folder-or-file on the way up from ``path`` that exists (``path`` itself if it does)."""
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _can_create_in(folder):
    """True when a file can really be created in ``folder`` (a probe file, removed at once).

    ``os.access`` alone is not enough: it says yes to root everywhere, even in /proc.
    """
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    probe = os.path.join(folder, f".minigan-probe-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:
        return False
    os.remove(probe)
    return True


def check_writable(path, option, folder=False, what=None):
    """Raise MiniganError, before any work, when ``path`` could not be written later.

    Args:
        path (str): a file to write (``folder=False``) or a folder to create or write into.
        option (str): the option that named it, for the message ("--out").
        folder (bool): ``path`` is a folder.
        what (str or None): what it is, for the message ("run folder"); None: ``option``.
    Raises:
        MiniganError: the path is a folder where a file is wanted (or the other way round),
            lies under a file, or is in a folder minigan may not write in.
    """
    path = os.fspath(path)
    absolute, name = os.path.abspath(path), what or option
    if folder and os.path.exists(absolute) and not os.path.isdir(absolute):
        raise MiniganError(f"{option} {path} is a file, not a folder; choose another {option}.")
    if not folder and os.path.isdir(absolute):
        raise MiniganError(f"{option} {path} is a folder; give a file name, e.g. {os.path.join(path, 'out')}...")
    existing = _existing_ancestor(absolute if folder else os.path.dirname(absolute))
    if not os.path.isdir(existing):
        raise MiniganError(f"cannot create {name} {path}: {existing} is a file, not a folder; "
                           f"choose another {option}.")
    if not _can_create_in(existing):
        raise MiniganError(f"cannot create {name} {path}: no permission to create files in {existing}; "
                           f"choose another {option}.")


def _read_npy_header(f):
    """(shape, dtype) from the start of a .npy stream."""
    version = npy_format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = npy_format.read_array_header_2_0(f)
    else:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
    return shape, dtype


def array_headers(path, what, fix):
    """Each array's shape and dtype in an .npz (or .npy) file, from the headers alone.

    Args:
        path (str): the file; it must exist.
        what (str): what it should be, for messages ("minigan checkpoint", "NumPy samples file").
        fix (str): what the user can do, for messages.
    Returns:
        dict: name (as ``numpy.load(path).files`` has it; ``None`` for a lone .npy) -> (shape, dtype).
    Raises:
        MiniganError: not an .npz/.npy, damaged or truncated headers, an object array, or arrays
            larger together than the memory budget (``minigan.limits``).
    """
    try:
        with open(path, "rb") as f:
            if f.read(6) == npy_format.MAGIC_PREFIX:
                f.seek(0)
                headers = {None: _read_npy_header(f)}
            else:
                headers = {}
                with zipfile.ZipFile(f) as archive:
                    for name in archive.namelist():
                        with archive.open(name) as member:
                            headers[name[:-4] if name.endswith(".npy") else name] = _read_npy_header(member)
    except READ_ERRORS as e:
        raise MiniganError(f"{path} is damaged or truncated, or is not a {what} ({type(e).__name__}: {e}); "
                           f"{fix}") from e
    for name, (shape, dtype) in headers.items():
        if dtype.hasobject:
            label = "its array" if name is None else f"its array {name!r}"
            raise MiniganError(f"{path} is not a {what}: {label} holds Python objects (dtype object), "
                               f"which minigan never unpickles; {fix}")
    total = sum(math.prod(shape) * dtype.itemsize for shape, dtype in headers.values())
    if total > limits.memory_budget():
        name, (shape, dtype) = max(headers.items(), key=lambda kv: math.prod(kv[1][0]) * kv[1][1].itemsize)
        label = "its array" if name is None else f"its array {name!r}"
        raise MiniganError(f"{path} would take {limits.format_bytes(total)} in memory ({label} is {dtype} "
                           f"{tuple(shape)}), more than {limits.budget_text()}; {fix}")
    return headers


def load_arrays(path, what, fix, names=None):
    """{name: array} of an .npz (``allow_pickle=False``), headers checked first (``array_headers``).

    Reads every entry asked for (``names``; None: all), so the zip's CRCs are checked.
    Raises:
        MiniganError: as ``array_headers``, or data damaged past the headers.
    """
    headers = array_headers(path, what, fix)
    try:
        loaded = np.load(path, allow_pickle=False)
        if None in headers:
            return {None: loaded}
        with loaded:
            return {k: loaded[k] for k in loaded.files if names is None or k in names}
    except READ_ERRORS as e:
        raise MiniganError(f"{path} is damaged or truncated, or is not a {what} ({type(e).__name__}: {e}); "
                           f"{fix}") from e
