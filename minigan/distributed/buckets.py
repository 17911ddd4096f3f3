"""Many arrays all-reduced in a few large calls (buckets), as the gradients of a network are.

One call per parameter would pay the collective's latency a few dozen times per step; one
call per bucket pays it once or twice. A bucket holds consecutive arrays of one dtype and one
array module, at most BUCKET_BYTES (an array larger than that gets a bucket of its own).
"""

from minigan import backend

BUCKET_BYTES = 32 * 2**20


def buckets(arrays, bucket_bytes=BUCKET_BYTES):
    """Lists of indices into ``arrays``: consecutive runs of one dtype and array module, each at
    most ``bucket_bytes`` unless a single array is larger."""
    groups, size, kind = [], 0, None
    for i, a in enumerate(arrays):
        a_kind = (backend.device_of(a), a.dtype)
        if not groups or a_kind != kind or size + a.nbytes > bucket_bytes:
            groups.append([])
            size, kind = 0, a_kind
        groups[-1].append(i)
        size += a.nbytes
    return groups


def all_reduce_arrays(comm, arrays, mean=False, bucket_bytes=BUCKET_BYTES):
    """The elementwise sum (or ``mean``) over the ranks of each array, one all-reduce per bucket.

    Args:
        comm (Communicator): the ranks.
        arrays (list): raw NumPy or CuPy arrays, the same shapes and dtypes on every rank.
        mean (bool): divide the sums by the number of ranks.
    Returns:
        list of arrays of the same shapes (views into the buckets); ``arrays`` themselves are
        left as they were. On a single process, ``arrays`` unchanged.
    """
    if comm.size == 1:
        return list(arrays)
    out = [None] * len(arrays)
    for group in buckets(arrays, bucket_bytes):
        xp = backend.get_array_module(arrays[group[0]])
        flat = xp.concatenate([arrays[i].ravel() for i in group])
        comm.all_reduce(flat)
        if mean:
            flat *= flat.dtype.type(1 / comm.size)
        offset = 0
        for i in group:
            out[i] = flat[offset:offset + arrays[i].size].reshape(arrays[i].shape)
            offset += arrays[i].size
    return out
