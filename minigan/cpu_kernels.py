"""Floor 2 on the CPU: the hot loops, in Numba, with the same names as ``minigan.cuda``.

Every function takes and returns raw NumPy arrays, float32 or float64, and returns the
input's dtype. The public functions allocate outputs and call a private jitted loop
(``_im2col_loop`` ...). The loops are plain Python loops: with ``NUMBA_DISABLE_JIT=1``
they run as ordinary Python and can be stepped through in a debugger. Where NumPy is as
fast, the function is NumPy (measured on a 2-core box: np.tanh is SIMD and 20x faster than
a Numba loop; the tanh/sigmoid gradients, BCE and dropout only meet small arrays in a GAN).

Note [col layout]
    im2col unfolds x (n, c, h, w) for a kh x kw kernel with strides sy, sx, zero paddings
    ph, pw and an out_h x out_w output grid into col of shape (c*kh*kw, n*out_h*out_w),
    C-contiguous, one row per (channel, tap), one column per (image, output position):

        col[(ci*kh + i)*kw + j, (ni*out_h + oy)*out_w + ox] = x[ni, ci, oy*sy - ph + i, ox*sx - pw + j]

    (zero where that index falls outside x). Then conv2d is W.reshape(oc, -1) @ col.
    col2im is its adjoint: each x element is the sum of every col entry read from it.
    It is written as a gather (one x element per loop iteration), so it never races and
    its sums always run in the same order: bit-identical results, run after run.
"""

import ctypes
import os
import sys

import numba
import numpy as np
from numba import prange


# Note [Numba cache]
#     cache=True keeps each compiled loop on disk, so a run starts without compiling. Left to itself,
#     Numba writes those files into a __pycache__ beside this file: inside site-packages when
#     minigan is installed, where pip does not know them, so `pip uninstall` leaves minigan/ behind
#     as an empty namespace package that shadows a later install ("cannot import name
#     '__version__' from 'minigan' (unknown location)"). So unless the user chose a place
#     (NUMBA_CACHE_DIR, or Numba's config file), the cache goes to a user cache folder instead.
#     Numba fixes each function's cache folder when the decorator runs (below), reading
#     numba.config.CACHE_DIR: setting that attribute first is enough, and leaves the environment alone.
def numba_cache_dir():
    """$MINIGAN_CACHE/numba, else $XDG_CACHE_HOME/minigan/numba, else ~/.cache/minigan/numba."""
    root = os.environ.get("MINIGAN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "minigan")
    return os.path.join(root, "numba")


if not numba.config.CACHE_DIR:
    numba.config.CACHE_DIR = numba_cache_dir()

_jit = numba.njit(cache=True)
_pjit = numba.njit(cache=True, parallel=True)  # prange loops split over the cores

# Note [threading layer]
#     NumPy's GEMMs run on OpenBLAS's threads, these loops on Numba's. With Numba's default
#     OpenMP layer, threads that finished one side busy-wait and steal the few cores from the
#     other: on the 2-core box, a conv step (im2col, GEMM, batch norm, GEMM, col2im) took
#     1.6-2x as long with OpenMP-parallel loops as with serial ones whenever the machine had
#     any other load. Numba's own workqueue layer sleeps instead: as fast as serial under
#     load, and the loops still use both cores when the machine is quiet. A layer the user
#     chose with NUMBA_THREADING_LAYER wins. (workqueue aborts if two Python threads launch
#     parallel loops at once; minigan never does.)
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


# Note [freed memory]
#     A training step makes the same large temporaries every step (im2col's col: 25 MB for
#     dcgan28's D, activations, gradients). glibc's malloc serves blocks above a threshold with
#     mmap and returns them to the kernel on free (and trims the heap's top), so every step the
#     kernel maps and zeroes those pages again: ~3,000 page faults and ~25 ms of system CPU time
#     per dcgan28 step, ~5,700 and ~160 ms per dcgan64 step, measured on the 2-core box. Raising
#     the mmap threshold to its 32 MiB ceiling and the trim threshold to 1 GiB lets malloc keep
#     freed blocks and hand them out again: ~100 faults and ~7 ms per dcgan28 step, ~900 and ~60 ms
#     per dcgan64 step. The process keeps what it freed (as PyTorch's caching allocators do), so
#     its memory does not shrink between steps. MINIGAN_MALLOC=system leaves malloc as it is.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory():
    """Let glibc's malloc reuse freed large blocks instead of unmapping them (Note [freed memory]).

    Returns:
        bool: True when the settings took effect (Linux with glibc, MINIGAN_MALLOC not "system").
    """
    if os.environ.get("MINIGAN_MALLOC") == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library with mallopt (musl has one that does nothing)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))


KEEPS_FREED_MEMORY = keep_freed_memory()


# ---- im2col / col2im (Note [col layout]) ----


@_jit
def _tap_offsets(kh, kw, sy, sx, ph, pw, h, w, out_h, out_w):
    """offset[i*kw + j, oy*out_w + ox] = iy*w + ix, where tap (i, j) at output (oy, ox) reads
    x[.., iy, ix] inside one (h, w) plane; -1 where it reads the zero padding.
    It depends on the geometry only, so the loops below look positions up instead of
    dividing and bounds-checking per element (3x faster, measured)."""
    offset = np.empty((kh * kw, out_h * out_w), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            for oy in range(out_h):
                for ox in range(out_w):
                    iy, ix = oy * sy - ph + i, ox * sx - pw + j
                    inside = 0 <= iy < h and 0 <= ix < w
                    offset[i * kw + j, oy * out_w + ox] = iy * w + ix if inside else -1
    return offset


@_pjit
def _im2col_loop(x, col, kh, kw, sy, sx, ph, pw, out_h, out_w):
    n, c, h, w = x.shape
    offset = _tap_offsets(kh, kw, sy, sx, ph, pw, h, w, out_h, out_w)
    planes = x.reshape(n * c, h * w)
    m = out_h * out_w
    for row in prange(c * kh * kw):  # one col row: (channel, tap); it streams through the images
        ci, tap = row // (kh * kw), row % (kh * kw)
        for ni in range(n):
            plane = planes[ni * c + ci]
            for k in range(m):
                p = offset[tap, k]
                col[row, ni * m + k] = plane[p] if p >= 0 else 0


@_pjit
def _col2im_loop(col, x, kh, kw, sy, sx, ph, pw, out_h, out_w):
    n, c, h, w = x.shape
    m = out_h * out_w
    offset = _tap_offsets(kh, kw, sy, sx, ph, pw, h, w, out_h, out_w)
    # Invert the offsets: reads[p, :count[p]] are the places tap * n*m + k (taps ascending)
    # in a channel's block of col rows that read plane position p.
    reads = np.zeros((h * w, ((kh + sy - 1) // sy) * ((kw + sx - 1) // sx)), dtype=np.int64)
    count = np.zeros(h * w, dtype=np.int64)
    for tap in range(kh * kw):
        for k in range(m):
            p = offset[tap, k]
            if p >= 0:
                reads[p, count[p]] = tap * n * m + k
                count[p] += 1
    flat_col, planes = col.reshape(-1), x.reshape(n * c, h * w)
    for q in prange(c * n):  # one x plane each, gathered one element at a time
        ci, ni = q // n, q % n
        base = ci * kh * kw * n * m + ni * m
        for p in range(h * w):
            acc = 0.0
            for a in range(count[p]):
                acc += flat_col[base + reads[p, a]]
            planes[ni * c + ci, p] = acc


def im2col(x, kh, kw, sy, sx, ph, pw, out_h, out_w):
    """Unfold x (n, c, h, w) into col (c*kh*kw, n*out_h*out_w), Note [col layout]."""
    x = np.ascontiguousarray(x)
    n, c = x.shape[:2]
    col = np.empty((c * kh * kw, n * out_h * out_w), dtype=x.dtype)
    _im2col_loop(x, col, kh, kw, sy, sx, ph, pw, out_h, out_w)
    return col


def col2im(col, n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w):
    """Fold col back into x (n, c, h, w), the adjoint of im2col (Note [col layout]); deterministic."""
    col = np.ascontiguousarray(col)
    x = np.empty((n, c, h, w), dtype=col.dtype)
    _col2im_loop(col, x, kh, kw, sy, sx, ph, pw, out_h, out_w)
    return x


# ---- direct stride-1 convolution for layers with one or two output channels ----


# Note [thin convolutions]
#     im2col costs c*kh*kw col entries per output position whatever oc is; with oc = 1 the GEMM does
#     one multiply-add per entry, so the layer is all memory traffic: StackGAN's last layer, a 3x3
#     conv from 32 channels to 1 on (128, 32, 28, 28), writes a 115 MB col and reads it back (and
#     col2im gathers another one in the backward). These loops convolve directly instead. x is padded
#     once to xp (n, c, hp, wp), and an output row is kept at the padded width wp (the last kw - 1
#     columns of a row are garbage, cut off after), so that every tap (i, j) is one shift of a whole
#     flattened plane, off = i*wp + j, and the inner loop runs over out_h*wp positions at once:
#
#         y_wide[ni, o, k]   += W[o, ci, i, j] * xp[ni, ci, k + off]            (forward)
#         gxp[ni, ci, k + off] += W[o, ci, i, j] * gy_wide[ni, o, k]            (input gradient)
#         gW[o, ci, i, j]     = sum over ni, k of gy_wide[ni, o, k] * xp[ni, ci, k + off]
#
#     with gy_wide zero in the garbage columns. Each output plane, input-gradient plane and gW entry
#     belongs to one loop iteration and its sums run in a fixed order (gW through float64 partial sums
#     per position, Note [vector sums]): the same bits run after run. Measured on the 2-core box
#     (forward + both gradients, 2 threads, under load): (128, 32, 28, 28) to 1 channel 48 ms against
#     134 ms by im2col; (128, 64, 14, 14) to 1: 28 against 54 ms; at 3 output channels the two are
#     even (66 against 60 ms) and at 4 im2col wins (175 against 107 ms), hence THIN_OUTPUT = 2.
#     The GPU keeps im2col and cuBLAS (minigan.cuda has no such loops).
THIN_OUTPUT = 2


@_pjit
def _conv2d_thin_loop(xp, W, y_wide):
    n, c, hp, wp = xp.shape
    oc, _, kh, kw = W.shape
    out_h = y_wide.shape[2]
    length = out_h * wp - (kw - 1)  # the last row's garbage tail would read past the plane
    planes, outs = xp.reshape(n, c, hp * wp), y_wide.reshape(n, oc, out_h * wp)
    for q in prange(n * oc):  # one output plane each
        ni, o = q // oc, q % oc
        out = outs[ni, o]
        out[:] = 0
        for ci in range(c):
            plane = planes[ni, ci]
            for i in range(kh):
                for j in range(kw):
                    wv, off = W[o, ci, i, j], i * wp + j
                    for k in range(length):
                        out[k] += wv * plane[k + off]


@_pjit
def _conv2d_thin_grad_x_loop(gy_wide, W, gxp):
    n, c, hp, wp = gxp.shape
    oc, _, kh, kw = W.shape
    out_h = gy_wide.shape[2]
    length = out_h * wp - (kw - 1)
    grads, planes = gy_wide.reshape(n, oc, out_h * wp), gxp.reshape(n, c, hp * wp)
    for q in prange(n * c):  # one input-gradient plane each
        ni, ci = q // c, q % c
        out = planes[ni, ci]
        out[:] = 0
        for o in range(oc):
            g = grads[ni, o]
            for i in range(kh):
                for j in range(kw):
                    wv, off = W[o, ci, i, j], i * wp + j
                    for k in range(length):
                        out[k + off] += wv * g[k]


@_pjit
def _conv2d_thin_grad_w_loop(xp, gy_wide, gW):
    n, c, hp, wp = xp.shape
    oc, _, kh, kw = gW.shape
    out_h = gy_wide.shape[2]
    length = out_h * wp - (kw - 1)
    grads, planes = gy_wide.reshape(n, oc, out_h * wp), xp.reshape(n, c, hp * wp)
    for q in prange(oc * c):  # one (output, input) channel pair each: its kh*kw weights
        o, ci = q // c, q % c
        acc = np.zeros((kh * kw, length), dtype=np.float64)
        for ni in range(n):
            plane, g = planes[ni, ci], grads[ni, o]
            for t in range(kh * kw):
                off, a = (t // kw) * wp + t % kw, acc[t]
                for k in range(length):
                    a[k] += g[k] * plane[k + off]
        for t in range(kh * kw):
            total = 0.0
            for k in range(length):
                total += acc[t, k]
            gW[o, ci, t // kw, t % kw] = total


def conv2d_thin(x, W, ph, pw):
    """Stride-1 conv2d of x (n, c, h, w) with W (oc, c, kh, kw), no bias, by direct loops
    (Note [thin convolutions]). Returns (y (n, oc, out_h, out_w), xp: the padded x, for the backward)."""
    n, _, h, w = x.shape
    oc, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h, out_w = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
    y_wide = np.empty((n, oc, out_h, xp.shape[3]), dtype=x.dtype)
    _conv2d_thin_loop(xp, np.ascontiguousarray(W), y_wide)
    return y_wide[..., :out_w].copy(), xp


def conv2d_thin_backward(xp, gy, W, ph, pw, need_x=True, need_w=True):
    """(gx (n, c, h, w) or None, gW or None) of ``conv2d_thin``, from its padded input xp."""
    hp, wp = xp.shape[2:]
    gy_wide = np.zeros(gy.shape[:3] + (wp,), dtype=gy.dtype)  # zero in the garbage columns
    gy_wide[..., :gy.shape[3]] = gy
    gx = gW = None
    if need_x:
        gxp = np.empty_like(xp)
        _conv2d_thin_grad_x_loop(gy_wide, np.ascontiguousarray(W), gxp)
        gx = gxp[:, :, ph:hp - ph, pw:wp - pw].copy()
    if need_w:
        gW = np.empty(W.shape, dtype=W.dtype)
        _conv2d_thin_grad_w_loop(xp, gy_wide, gW)
    return gx, gW


# ---- batch norm: x viewed as x3 (n, c, l), statistics per channel over m = n*l values ----


# Note [vector sums]
#     A per-channel sum written as one running total (s += x) is a chain of dependent adds that
#     LLVM may not reorder (that would change the rounding), so it runs at one add per 4 cycles.
#     The loops below keep one float64 partial sum per position k of a channel's rows instead
#     (acc[k] += x[ni, ci, k]): the adds along k are independent and vectorize, and the partial
#     sums are added in a fixed order at the end, so the result is the same bits run after run.
#     Measured on the 2-core box (dcgan28's batch norms, 128 images): the statistics of
#     (128, 64, 196) took 1.59 ms with one total and 0.55 ms with partial sums, the backward sums
#     1.33 and 0.81 ms; (128, 128, 49): 1.43 -> 0.37 and 0.51 -> 0.23 ms.


@_jit
def _total(acc):
    s = 0.0
    for k in range(acc.size):
        s += acc[k]
    return s


@_pjit
def _batch_norm_stats_loop(x3, mean, var):
    n, c, l = x3.shape
    for ci in prange(c):
        acc = np.zeros(l)  # Note [vector sums]
        for ni in range(n):
            for k in range(l):
                acc[k] += x3[ni, ci, k]
        mu = _total(acc) / (n * l)
        acc[:] = 0.0  # a second pass over x - mean: no cancellation, unlike E[x^2] - E[x]^2
        for ni in range(n):
            for k in range(l):
                d = x3[ni, ci, k] - mu
                acc[k] += d * d
        mean[ci], var[ci] = mu, _total(acc) / (n * l)


@_jit
def _batch_norm_forward_loop(x3, mean, invstd, gamma, beta, slope, y3):
    n, c, l = x3.shape
    for q in range(n * c):
        ni, ci = q // c, q % c
        scale = invstd[ci] * gamma[ci]
        for k in range(l):
            v = (x3[ni, ci, k] - mean[ci]) * scale + beta[ci]
            if v < 0:  # the activation in the same pass: slope 1 none, 0 ReLU, else leaky ReLU
                v = 0.0 if slope == 0 else v * slope
            y3[ni, ci, k] = v


def batch_norm_stats(x3):
    """Per-channel mean and biased variance of x3 (n, c, l); both (c,)."""
    x3 = np.ascontiguousarray(x3)
    mean, var = np.empty(x3.shape[1], dtype=x3.dtype), np.empty(x3.shape[1], dtype=x3.dtype)
    _batch_norm_stats_loop(x3, mean, var)
    return mean, var


def _batch_norm_forward(x3, mean, invstd, gamma, beta, slope):
    """batch_norm_forward with its negative outputs times ``slope`` (1: none, 0: ReLU), one pass."""
    x3 = np.ascontiguousarray(x3)
    y3 = np.empty_like(x3)
    args = [np.ascontiguousarray(a, dtype=x3.dtype) for a in (mean, invstd, gamma, beta)]
    _batch_norm_forward_loop(x3, *args, float(slope), y3)  # slope in float64, as leaky_relu's
    return y3


def batch_norm_forward(x3, mean, invstd, gamma, beta):
    """y3 = (x3 - mean) * invstd * gamma + beta, the (c,) vectors broadcast over n and l."""
    return _batch_norm_forward(x3, mean, invstd, gamma, beta, 1.0)


def batch_norm_forward_relu(x3, mean, invstd, gamma, beta):
    """relu(batch_norm_forward(...)), in the same pass."""
    return _batch_norm_forward(x3, mean, invstd, gamma, beta, 0.0)


def batch_norm_forward_leaky_relu(x3, mean, invstd, gamma, beta, slope):
    """leaky_relu(batch_norm_forward(...), slope), in the same pass."""
    return _batch_norm_forward(x3, mean, invstd, gamma, beta, slope)


def batch_norm_backward(x3, gy3, mean, invstd, gamma):
    """Train-mode gradients (gx3, ggamma, gbeta); the batch statistics depend on x3.

    xhat = (x - mean) invstd; gbeta = sum gy; ggamma = sum gy xhat;
    gx = gamma invstd / m (m gy - gbeta - xhat ggamma), sums over the m values of a channel.
    """
    x3, gy3 = np.ascontiguousarray(x3), np.ascontiguousarray(gy3, dtype=x3.dtype)
    gx3 = np.empty_like(x3)
    ggamma, gbeta = np.empty(x3.shape[1], dtype=x3.dtype), np.empty(x3.shape[1], dtype=x3.dtype)
    mean, invstd, gamma = [np.ascontiguousarray(a, dtype=x3.dtype) for a in (mean, invstd, gamma)]
    # the sync-BN halves below, on this process's rows: sums kept in x3's dtype, then gx
    _batch_norm_backward_sums_loop(x3, gy3, mean, invstd, gbeta, ggamma)
    _batch_norm_backward_data_loop(x3, gy3, mean, invstd, gamma, gbeta, ggamma, x3.shape[0] * x3.shape[2], gx3)
    return gx3, ggamma, gbeta


# Synchronised batch norm (functional/sync_batch_norm.py) splits the backward in two: the sums of
# this rank's rows, kept in float64 (the ranks' sums are added before use, and their cancellations
# must not happen in float32), then gx from the sums over every rank's rows.
@_pjit
def _batch_norm_backward_sums_loop(x3, gy3, mean, invstd, gbeta, ggamma):
    n, c, l = x3.shape
    for ci in prange(c):
        sg, sgx = np.zeros(l), np.zeros(l)  # Note [vector sums]
        for ni in range(n):
            for k in range(l):
                g = gy3[ni, ci, k]
                sg[k] += g
                sgx[k] += g * (x3[ni, ci, k] - mean[ci])
        gbeta[ci], ggamma[ci] = _total(sg), _total(sgx) * invstd[ci]


@_pjit
def _batch_norm_backward_data_loop(x3, gy3, mean, invstd, gamma, gbeta, ggamma, m, gx3):
    n, c, l = x3.shape
    for q in prange(n * c):
        ni, ci = q // c, q % c
        scale = gamma[ci] * invstd[ci] / m
        for k in range(l):  # gx = gamma invstd / m (m gy - gbeta - xhat ggamma)
            xhat = (x3[ni, ci, k] - mean[ci]) * invstd[ci]
            gx3[ni, ci, k] = scale * (m * gy3[ni, ci, k] - gbeta[ci] - xhat * ggamma[ci])


def batch_norm_backward_sums(x3, gy3, mean, invstd):
    """(gbeta, ggamma) = (sum gy, sum gy xhat) per channel over x3's rows, in float64; each (c,)."""
    x3, gy3 = np.ascontiguousarray(x3), np.ascontiguousarray(gy3, dtype=x3.dtype)
    gbeta, ggamma = np.empty(x3.shape[1]), np.empty(x3.shape[1])
    args = [np.ascontiguousarray(a, dtype=x3.dtype) for a in (mean, invstd)]
    _batch_norm_backward_sums_loop(x3, gy3, *args, gbeta, ggamma)
    return gbeta, ggamma


def batch_norm_backward_data(x3, gy3, mean, invstd, gamma, gbeta, ggamma, m):
    """gx3 = gamma invstd / m (m gy3 - gbeta - xhat ggamma), the sums taken over m values per channel."""
    x3, gy3 = np.ascontiguousarray(x3), np.ascontiguousarray(gy3, dtype=x3.dtype)
    gx3 = np.empty_like(x3)
    args = [np.ascontiguousarray(a, dtype=x3.dtype) for a in (mean, invstd, gamma)]
    sums = [np.ascontiguousarray(a, dtype=np.float64) for a in (gbeta, ggamma)]
    _batch_norm_backward_data_loop(x3, gy3, *args, *sums, float(m), gx3)
    return gx3


# ---- activations: one pass each; np.where took 6 ms where these take 0.2 (1.6M floats) ----
# Serial: a parallel launch costs more than it saves on elementwise work (measured).


@_jit
def _relu_loop(x, y):
    for k in range(x.size):
        y[k] = 0 if x[k] < 0 else x[k]  # a NaN passes through, as in PyTorch


@_jit
def _relu_backward_loop(y, gy, gx):
    for k in range(y.size):
        gx[k] = gy[k] if y[k] > 0 else 0


@_jit
def _leaky_relu_loop(x, slope, y):
    for k in range(x.size):
        y[k] = x[k] if x[k] > 0 else slope * x[k]


@_jit
def _leaky_relu_backward_loop(x, gy, slope, gx):
    for k in range(x.size):
        gx[k] = gy[k] if x[k] > 0 else slope * gy[k]


@_jit
def _sigmoid_loop(x, y):
    for k in range(x.size):
        z = np.exp(-abs(x[k]))  # <= 1: no overflow for any x
        y[k] = (1 if x[k] >= 0 else z) / (1 + z)


def _elementwise(loop, x, *rest):
    """Run an elementwise loop over flat views; the output has x's shape and dtype."""
    out = np.empty(x.shape, dtype=x.dtype)
    flat = [np.ascontiguousarray(a, dtype=x.dtype).reshape(-1) if isinstance(a, np.ndarray) else a for a in rest]
    loop(np.ascontiguousarray(x).reshape(-1), *flat, out.reshape(-1))
    return out


def relu(x):
    """max(x, 0)."""
    return _elementwise(_relu_loop, x)


def relu_backward(y, gy):
    """gx = gy * (y > 0), from the output y."""
    return _elementwise(_relu_backward_loop, y, gy)


def leaky_relu(x, slope):
    """x if x > 0 else slope * x."""
    return _elementwise(_leaky_relu_loop, x, slope)


def leaky_relu_backward(x, gy, slope):
    """gx = gy * (1 if x > 0 else slope), from the input x."""
    return _elementwise(_leaky_relu_backward_loop, x, gy, slope)


def sigmoid(x):
    """1 / (1 + e^-x), computed as (1 or e^-|x|) / (1 + e^-|x|): no x overflows."""
    return _elementwise(_sigmoid_loop, x)


def tanh(x):
    """tanh(x); saturates to +-1, never overflows."""
    return np.tanh(x)


def tanh_backward(y, gy):
    """gx = gy * (1 - y^2), from the output y."""
    return gy * (1 - y * y)


def sigmoid_backward(y, gy):
    """gx = gy * y * (1 - y), from the output y."""
    return gy * y * (1 - y)


# ---- loss, dropout, optimizer ----


def bce_with_logits(x, t):
    """Elementwise -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), stable for any x:
    max(x, 0) - x t + log1p(e^-|x|)."""
    return (np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)


def bce_with_logits_backward(x, t, scale):
    """gx = (sigmoid(x) - t) * scale (scale: a python float, e.g. 1/N for a mean)."""
    return ((sigmoid(x) - t) * scale).astype(x.dtype, copy=False)


def bce_with_logits_forward_backward(x, t, scale):
    """(bce_with_logits(x, t), bce_with_logits_backward(x, t, scale)): one pass on the GPU, two here."""
    return bce_with_logits(x, t), bce_with_logits_backward(x, t, scale)


def dropout(x, u, p):
    """(y, mask): mask = (u >= p) / (1 - p) from uniforms u of x's shape; y = x * mask."""
    mask = (u >= p).astype(x.dtype) / x.dtype.type(1 - p)
    return x * mask, mask


@_pjit
def _adam_loop(p, g, m, v, lr_t, beta1, beta2, eps, sqrt_bc2, root_t, weight_decay):
    for k in prange(p.size):
        gk = g[k] + weight_decay * p[k]
        m[k] = beta1 * m[k] + (1 - beta1) * gk
        v[k] = beta2 * v[k] + (1 - beta2) * gk * gk
        p[k] -= lr_t * m[k] / (np.sqrt(v[k] + root_t) / sqrt_bc2 + eps)


def adam_update(params, grads, ms, vs, step, lr, beta1, beta2, eps, weight_decay, eps_root=0.0):
    """Adam on every parameter, in place; PyTorch's rule with L2 weight decay (not AdamW):

    g = grad + wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step) + eps_root) + eps), step counted from 1.

    Args:
        params, grads, ms, vs: lists of C-contiguous arrays, matched by position.
        step (int): the 1-based step count after this step's increment.
        eps_root (float): added under the square root (0: PyTorch's rule; optim.Adam says when not).
    """
    lr_t = lr / (1 - beta1**step)  # the bias corrections are one number per step
    bc2 = 1 - beta2**step
    sqrt_bc2 = bc2**0.5
    for p, g, m, v in zip(params, grads, ms, vs):
        if not (p.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous):
            raise ValueError("adam_update works in place: parameters and moments must be C-contiguous.")
        g = np.ascontiguousarray(g, dtype=p.dtype)
        # sqrt(v / bc2 + eps_root) = sqrt(v + eps_root bc2) / sqrt(bc2); in p's dtype, so that with
        # eps_root = 0 the root is v's own (a float32 sqrt for float32), bit for bit as before the option
        root_t = p.dtype.type(eps_root * bc2)
        _adam_loop(
            p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), lr_t, beta1, beta2, eps, sqrt_bc2, root_t,
            weight_decay,
        )
