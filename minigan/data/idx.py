"""The IDX file format of MNIST and Fashion-MNIST: read with full validation, and write.

An IDX file is: two zero bytes, a type code, the number of dimensions d, then d big-endian
uint32 sizes, then the values, big-endian, in C order. The files are usually gzipped.
"""

import gzip
import os
import zlib

import numpy as np

from minigan.errors import MiniganError

GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian numpy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def corrupt(path, reason):
    """The MiniganError for a damaged data file: what is wrong and how to get a good copy."""
    return MiniganError(f"{path} is corrupt or truncated ({reason}); delete it and re-run to fetch it again.")


def _read_bytes(path):
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name says)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as e:  # EOFError: cut short; BadGzipFile is an OSError
        raise corrupt(path, f"gzip: {e}") from e


def read_idx(path):
    """Read one IDX file (plain or gzipped), checking magic number, dimensions and length.

    Args:
        path (str or os.PathLike): the file.
    Returns:
        numpy.ndarray in native byte order, with the shape stored in the file.
    Raises:
        MiniganError: naming the file, when it is not a complete IDX file.
    """
    data = _read_bytes(path)
    if len(data) < 4:
        raise corrupt(path, f"only {len(data)} bytes")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise corrupt(path, f"bad magic number 0x{data[:4].hex()}")
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise corrupt(path, f"header of {ndim} dimensions does not fit in {len(data)} bytes")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise corrupt(path, f"shape {shape} needs {expected} bytes, the file holds {len(data)}")
    x = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return x.astype(dtype.newbyteorder("="))


def write_idx(path, x):
    """Write an array as an IDX file, gzipped when the name ends in ``.gz``.

    Args:
        path (str or os.PathLike): destination.
        x (numpy.ndarray): 1 to 255 dimensions, of a dtype listed in ``IDX_DTYPES``.
    """
    x = np.asarray(x)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    code = codes.get(x.dtype.newbyteorder("="))
    if code is None or not 1 <= x.ndim <= 255:
        raise ValueError(f"IDX cannot store a {x.ndim}-d {x.dtype} array")
    header = bytes([0, 0, code, x.ndim]) + np.asarray(x.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(x, dtype=IDX_DTYPES[code]).tobytes()
    if os.fspath(path).endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with open(path, "wb") as f:
        f.write(payload)
