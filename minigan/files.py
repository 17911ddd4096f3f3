"""Atomic file writes: everything minigan saves (checkpoints, PNGs) goes through ``atomic_open``.

The bytes go to a hidden temporary file in the destination's folder, which then replaces the
destination with ``os.replace``; a crash or a full disk never leaves half a file, and the old
file stays intact until the new one is complete.
"""

import contextlib
import os
import secrets

from minigan.errors import MiniganError


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
        with open(tmp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise MiniganError(f"cannot write {what} {path} ({e.strerror or e}); {fix}") from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
