"""Floor 2 on the GPU: the CUDA C kernels of ``kernels/*.cu``, compiled with CuPy and launched here.

Same names and signatures as ``minigan.cpu_kernels``, on CuPy arrays (float32 or float64), among
them the fused ``batch_norm_forward_relu``, ``batch_norm_forward_leaky_relu`` and
``bce_with_logits_forward_backward``; plus ``random_uniform`` and ``random_normal``, draws made on
the device from a key taken from a host Generator (Note [device draws] in kernels/random.cu).
Each .cu file gets its ``#include "common.cuh"`` pasted in (NVRTC then needs no include path), is
compiled by ``cupy.RawModule`` with ``COMPILE_OPTIONS`` at the first launch, and its entry points
``<op>_<f32|f64>`` are fetched once. Arguments follow kernels/common.cuh: input
arrays, op scalars, output arrays, sizes; ints as ``numpy.int32``, reals in the array's type.
``launches`` counts kernel launches (benchmarks report launches per step). Importing needs no
CuPy; calling a function without it raises a RuntimeError saying how to install it.
"""

import importlib.resources
import re
from pathlib import Path

import numpy as np

from minigan import backend

launches = 0  # kernel launches since import; benchmarks read and difference it

BLOCK = 256  # threads per block of the grid-stride kernels
REDUCE_THREADS = 256  # must equal REDUCE_THREADS in kernels/common.cuh: it sizes the shared arrays
MAX_BLOCKS = 4096  # grid cap; Note [grid-stride loop] (kernels/common.cuh) lets any grid cover any size
_MAX_ELEMENTS = 2**31 - 1  # kernels index in 32-bit ints (Note [grid-stride loop])
COMPILE_OPTIONS = ("-std=c++17",)  # what RawModule gets (tests/test_cuda_nvrtc.py compiles with them)

_INCLUDE = re.compile(r'^#include "([\w.]+)"[ \t]*$', re.M)
_ENTRY = re.compile(r'extern "C" __global__ void (\w+)\(')
_functions = {}  # entry point name -> cupy Function, filled once by _kernels()
_adam_tables = {}  # (addresses, sizes) -> device pointer and offset tables, see adam_update


# ---- loading ----


def _kernel_dir():
    """The folder of .cu sources: the installed package ``minigan.kernels``, else the checkout's
    ``kernels/`` beside ``minigan/`` (a default editable install does not expose the package)."""
    try:
        folder = importlib.resources.files("minigan.kernels")
        if folder.joinpath("common.cuh").is_file():
            return folder
    except ModuleNotFoundError:
        pass
    folder = Path(__file__).resolve().parent.parent / "kernels"
    if not (folder / "common.cuh").is_file():
        raise RuntimeError(f"CUDA kernel sources not found in the package minigan.kernels nor in {folder}; "
                           "reinstall minigan (`pip install minigan[gpu]`).")
    return folder


def kernel_source(name):
    """``kernels/<name>`` with each ``#include "x.cuh"`` replaced by that header, between ``#line``
    directives that keep compiler messages pointing at the right file and line."""
    folder = _kernel_dir()
    text = folder.joinpath(name).read_text()

    def paste(match):
        header = folder.joinpath(match.group(1)).read_text().replace("#pragma once\n", "")
        line = text.count("\n", 0, match.start()) + 2  # the line after the #include
        return f'#line 1 "{match.group(1)}"\n{header}#line {line} "{name}"'

    return _INCLUDE.sub(paste, text)


def all_kernel_sources():
    """{file name: inlined source} for every ``.cu`` file of the kernel folder."""
    names = sorted(f.name for f in _kernel_dir().iterdir() if f.name.endswith(".cu"))
    return {name: kernel_source(name) for name in names}


def entry_points(source):
    """The ``extern "C" __global__`` function names defined in a kernel source."""
    return _ENTRY.findall(source)


def _cupy():  # the cupy module, or a RuntimeError saying how to install it
    if backend.cupy is None:
        raise RuntimeError("minigan.cuda needs CuPy, which is not installed; "
                           "install the GPU extra with `pip install minigan[gpu]`.")
    return backend.cupy


def _kernels():
    """{entry point: compiled function} for every kernel file, compiled on the first call."""
    if not _functions:
        cupy, loaded = _cupy(), {}
        for name, source in all_kernel_sources().items():
            module = cupy.RawModule(code=source, options=COMPILE_OPTIONS)
            for entry in entry_points(source):
                try:  # the first get_function compiles the whole file
                    loaded[entry] = module.get_function(entry)
                except Exception as e:  # CompileException, or a driver error loading the module
                    raise RuntimeError(f"CUDA kernel file {name} failed to compile or load "
                                       f"(fetching kernel {entry}):\n{e}") from e
        _functions.update(loaded)
    return _functions


# ---- launching ----


def _launch(op, dtype, size, *args, grid=None, block=BLOCK):
    """Launch ``<op>_<f32|f64>`` on `size` elements: a grid-stride loop unless `grid` is given."""
    global launches
    suffix = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}.get(np.dtype(dtype))
    if suffix is None:
        raise TypeError(f"{op}: the CUDA kernels take float32 or float64 arrays, not {dtype}.")
    if size > _MAX_ELEMENTS:
        raise ValueError(f"{op}: {size} elements; the CUDA kernels index with 32-bit ints (at most 2**31 - 1).")
    if size == 0:
        return
    grid = min(-(-size // block), MAX_BLOCKS) if grid is None else grid
    _kernels()[f"{op}_{suffix}"]((grid,), (block,), args)
    launches += 1


def _prepare(x, *others):
    """x made C-contiguous, and the other arrays too, in x's dtype (as cpu_kernels does)."""
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    return [x, *(cp.ascontiguousarray(a, dtype=x.dtype) for a in others)]


def _ints(*values):
    return tuple(np.int32(v) for v in values)


def _reals(dtype, *values):
    return tuple(np.dtype(dtype).type(v) for v in values)


def _address(a):  # the device address of a CuPy array's first element
    return a.data.ptr


def _map(op, arrays, scalars=(), outputs=1):
    """An elementwise kernel: arrays of one size in, `outputs` new arrays of their shape out."""
    arrays = _prepare(*arrays)
    if len({a.size for a in arrays}) != 1:
        raise ValueError(f"{op}: elementwise inputs must have one size, got {[a.shape for a in arrays]}.")
    x = arrays[0]
    outs = [_cupy().empty_like(x) for _ in range(outputs)]
    _launch(op, x.dtype, x.size, *arrays, *_reals(x.dtype, *scalars), *outs, *_ints(x.size))
    return outs[0] if outputs == 1 else tuple(outs)


# ---- im2col / col2im (Note [col layout] in minigan/cpu_kernels.py) ----


def _check_col(op, rows, cols):
    """col's two sides are 32-bit ints in the kernels (its size may pass 2^31 in col2im)."""
    if max(rows, cols) > _MAX_ELEMENTS:
        raise ValueError(f"{op}: col of {rows} x {cols}; the CUDA kernels take each side of col as a 32-bit int "
                         "(at most 2**31 - 1): use a smaller batch.")


def im2col(x, kh, kw, sy, sx, ph, pw, out_h, out_w):
    """Unfold x (n, c, h, w) into col (c*kh*kw, n*out_h*out_w), Note [col layout]."""
    (x,) = _prepare(x)
    n, c, h, w = x.shape
    _check_col("im2col", c * kh * kw, n * out_h * out_w)
    col = _cupy().empty((c * kh * kw, n * out_h * out_w), dtype=x.dtype)
    _launch("im2col", x.dtype, col.size, x, col, *_ints(n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w))
    return col


def col2im(col, n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w):
    """Fold col into x (n, c, h, w), the adjoint of im2col; a gather, so deterministic."""
    (col,) = _prepare(col)
    _check_col("col2im", c * kh * kw, n * out_h * out_w)
    x = _cupy().empty((n, c, h, w), dtype=col.dtype)
    _launch("col2im", col.dtype, x.size, col, x, *_ints(n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w))
    return x


# ---- batch norm on x3 (n, c, l) ----


def batch_norm_stats(x3):
    """Per-channel mean and biased variance over the n*l values of each channel: (mean, var), (c,)."""
    (x3,) = _prepare(x3)
    n, c, l = x3.shape
    mean, var = _cupy().empty(c, dtype=x3.dtype), _cupy().empty(c, dtype=x3.dtype)
    _launch("batch_norm_stats", x3.dtype, x3.size, x3, mean, var, *_ints(n, c, l), grid=c, block=REDUCE_THREADS)
    return mean, var


def _batch_norm_forward(op, x3, mean, invstd, gamma, beta, slope=0.0):
    x3, mean, invstd, gamma, beta = _prepare(x3, mean, invstd, gamma, beta)
    y3 = _cupy().empty_like(x3)
    _launch(op, x3.dtype, x3.size, x3, mean, invstd, gamma, beta, *_reals(x3.dtype, slope), y3, *_ints(*x3.shape))
    return y3


def batch_norm_forward(x3, mean, invstd, gamma, beta):
    """y3 = (x3 - mean) * invstd * gamma + beta, per channel."""
    return _batch_norm_forward("batch_norm_forward", x3, mean, invstd, gamma, beta)


def batch_norm_forward_relu(x3, mean, invstd, gamma, beta):
    """relu(batch_norm_forward(...)) in one pass (a DCGAN generator block)."""
    return _batch_norm_forward("batch_norm_forward_relu", x3, mean, invstd, gamma, beta)


def batch_norm_forward_leaky_relu(x3, mean, invstd, gamma, beta, slope):
    """leaky_relu(batch_norm_forward(...), slope) in one pass (a DCGAN discriminator block)."""
    return _batch_norm_forward("batch_norm_forward_leaky_relu", x3, mean, invstd, gamma, beta, slope)


def batch_norm_backward(x3, gy3, mean, invstd, gamma):
    """Train-mode gradients (gx3, ggamma, gbeta): a per-channel reduction, then an elementwise pass.

    gbeta = sum gy; ggamma = sum gy * xhat; gx = gamma * invstd / m * (m * gy - gbeta - xhat * ggamma).
    """
    x3, gy3, mean, invstd, gamma = _prepare(x3, gy3, mean, invstd, gamma)
    (n, c, l), cp = x3.shape, _cupy()
    ggamma, gbeta, gx3 = cp.empty_like(gamma), cp.empty_like(gamma), cp.empty_like(x3)
    _launch("batch_norm_backward_reduce", x3.dtype, x3.size, x3, gy3, mean, invstd, ggamma, gbeta,
            *_ints(n, c, l), grid=c, block=REDUCE_THREADS)
    _launch("batch_norm_backward", x3.dtype, x3.size, x3, gy3, mean, invstd, gamma, ggamma, gbeta, gx3,
            *_ints(n, c, l))
    return gx3, ggamma, gbeta


# ---- activations, loss, dropout (elementwise) ----


def relu(x):
    """max(x, 0)."""
    return _map("relu_forward", (x,))


def relu_backward(y, gy):
    """gy * (y > 0)."""
    return _map("relu_backward", (y, gy))


def leaky_relu(x, slope):
    """x if x > 0 else slope * x."""
    return _map("leaky_relu_forward", (x,), (slope,))


def leaky_relu_backward(x, gy, slope):
    """gy * (1 if x > 0 else slope)."""
    return _map("leaky_relu_backward", (x, gy), (slope,))


def tanh(x):
    """tanh(x)."""
    return _map("tanh_forward", (x,))


def tanh_backward(y, gy):
    """gy * (1 - y^2)."""
    return _map("tanh_backward", (y, gy))


def sigmoid(x):
    """1 / (1 + e^-x), overflow-free for any x."""
    return _map("sigmoid_forward", (x,))


def sigmoid_backward(y, gy):
    """gy * y * (1 - y)."""
    return _map("sigmoid_backward", (y, gy))


def bce_with_logits(x, t):
    """Elementwise max(x, 0) - x t + log1p(e^-|x|)."""
    return _map("bce_with_logits_forward", (x, t))


def bce_with_logits_backward(x, t, scale):
    """(sigmoid(x) - t) * scale."""
    return _map("bce_with_logits_backward", (x, t), (scale,))


def bce_with_logits_forward_backward(x, t, scale):
    """(bce_with_logits(x, t), bce_with_logits_backward(x, t, scale)) in one pass over x and t."""
    return _map("bce_with_logits_forward_backward", (x, t), (scale,), outputs=2)


def dropout(x, u, p):
    """(y, mask) with mask = (u >= p) / (1 - p) and y = x * mask; u uniform [0, 1) of x's shape."""
    keep_scale = 1.0 / (1.0 - p) if p < 1 else 0.0  # p = 1 drops everything (u < 1 always)
    return _map("dropout_forward", (x, u), (p, keep_scale), outputs=2)


# ---- random draws (Note [device draws] in kernels/random.cu) ----


def _key(rng):
    """A 64-bit Philox key drawn from the host Generator ``rng``, as the kernels take it: two uint32."""
    key = int(rng.integers(0, 2**64, dtype=np.uint64))
    return np.uint32(key & 0xFFFFFFFF), np.uint32(key >> 32)


def _draw(op, rng, shape, dtype):
    out = _cupy().empty(shape, dtype=dtype)
    _launch(op, out.dtype, out.size, *_key(rng), out, *_ints(out.size))
    return out


def random_uniform(rng, shape, dtype=np.float32):
    """U[0, 1) draws of ``shape`` made on the GPU; the host Generator ``rng`` gives one key (its only draw)."""
    return _draw("random_uniform", rng, shape, dtype)


def random_normal(rng, shape, dtype=np.float32):
    """N(0, 1) draws of ``shape`` made on the GPU; the host Generator ``rng`` gives one key (its only draw)."""
    return _draw("random_normal", rng, shape, dtype)


class DeviceDraws:
    """A host numpy Generator, drawing on the GPU: each call takes one key from it and the draws are
    made on the device (Note [device draws]); the host Generator stays the whole state. Its methods
    are the numpy Generator's that minigan uses, returning CuPy arrays."""

    def __init__(self, rng):
        self.rng = rng

    def random(self, size=None, dtype=np.float64):
        return random_uniform(self.rng, () if size is None else size, dtype)

    def standard_normal(self, size=None, dtype=np.float64):
        return random_normal(self.rng, () if size is None else size, dtype)

    def uniform(self, low=0.0, high=1.0, size=None):
        return low + (high - low) * self.random(size)

    def integers(self, low, high=None, size=None, dtype=np.int64):
        """Uniform integers in [low, high): floor of a float64 uniform scaled (biased by < 2^-53 * (high - low))."""
        low, high = (0, low) if high is None else (low, high)
        picks = (low + self.random(size) * (high - low)).astype(dtype)
        return _cupy().minimum(picks, high - 1)  # a product rounded up to high


# ---- Adam, all parameters in one launch ----


def _adam_tables_for(groups):
    """Device tables (params, grads, ms, vs addresses; offsets) for lists of arrays, cached.

    The key is the tables' exact content, so a cached entry is always right (and with unified
    addressing it names one device). When the same arrays come back next step (persistent grad
    buffers, or the memory pool handing out the same blocks) it saves two host-to-device copies.
    """
    cp = _cupy()
    addresses = tuple(tuple(_address(a) for a in group) for group in groups)
    sizes = tuple(a.size for a in groups[0])
    key = (addresses, sizes)
    if key not in _adam_tables:
        if len(_adam_tables) >= 64:  # a long run creates few distinct keys; this only bounds leaks
            _adam_tables.clear()
        pointers = cp.asarray(np.array(addresses, dtype=np.uint64))
        offsets = cp.asarray(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
        _adam_tables[key] = (pointers, offsets)
    return _adam_tables[key]


def adam_update(params, grads, ms, vs, step, lr, beta1, beta2, eps, weight_decay, eps_root=0.0):
    """One Adam step (PyTorch's rule, L2 weight decay; eps_root under the square root as
    cpu_kernels.adam_update) on every parameter, in place, in one launch.

    Args:
        params, grads, ms, vs: lists of arrays matched by position, one dtype; params, ms, vs
            C-contiguous (updated in place). step: the 1-based step count after increment.
    """
    if not params:
        return
    if not len(params) == len(grads) == len(ms) == len(vs):
        raise ValueError("adam_update needs as many grads, ms and vs as params.")
    dtype = params[0].dtype
    grads = [_cupy().ascontiguousarray(g, dtype=dtype) for g in grads]
    for p, g, m, v in zip(params, grads, ms, vs):
        if not (p.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous):
            raise ValueError("adam_update works in place: parameters and moments must be C-contiguous.")
        if not p.dtype == m.dtype == v.dtype == dtype or not p.size == g.size == m.size == v.size:
            raise ValueError("adam_update: parameters and moments need one dtype, and grad, m, v their param's size.")
    pointers, offsets = _adam_tables_for((params, grads, ms, vs))
    total = sum(p.size for p in params)
    # 1 - beta and the bias corrections in double, rounded once to dtype (kernels/adam.cu says why).
    reals = _reals(dtype, lr, beta1, beta2, 1 - beta1, 1 - beta2, eps, eps_root, weight_decay, 1 - beta1**step,
                   1 - beta2**step)
    _launch("adam_update", dtype, total, *pointers, offsets, *reals, *_ints(len(params), total))
