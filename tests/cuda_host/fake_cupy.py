"""A strict stand-in for CuPy on a machine without a GPU: device arrays in host memory, kernels on the emulator.

``install(monkeypatch)`` puts it where minigan looks for CuPy (``minigan.backend.cupy``, and the
``cupy``/``cupyx`` modules), so that ``--device gpu`` code runs here exactly as it is written:
minigan.cuda compiles kernels/*.cu with ``RawModule`` (the host build, host_build.py), launches
them with the grid and block it computes, and every array op goes through ``xp``.

What makes it worth running is what it refuses, as CuPy does:

- a NumPy array where a device array is needed: in an op with a device array (``TypeError:
  Unsupported type``), as a kernel argument, in ``ascontiguousarray``;
- a device array where NumPy needs host memory: ``np.asarray(x)`` (``TypeError: Implicit
  conversion to a NumPy array is not allowed``), ``x.ctypes``;

and what it counts: ``transfers``, the host-to-device copies (``asarray``/``array`` of host data).
New device memory (``empty``) holds 0xff bytes, NaN in floats, as a GPU's memory pool hands out
stale bytes: a kernel that leaves an output element unwritten shows. The random draws and the
GEMMs are NumPy's: this checks where arrays live and what the kernels compute, not cuRAND or cuBLAS.
"""

import functools
import sys
import types

import numpy as np

from cuda_host import host_build

IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy "
            "array explicitly.")
HOST_ONLY = {"ctypes", "tofile", "tobytes"}  # NumPy attributes a cupy.ndarray does not have
transfers = []  # (shape, dtype) of every host-to-device copy since install()


class MemoryPointer:
    """What ``cupy.ndarray.data`` is: ``.ptr``, the address of the first element."""

    def __init__(self, ptr):
        self.ptr = ptr


def _unwrap(x):
    """The host buffer behind a device array; a NumPy array (other than a 0-d one) is refused."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray) and x.ndim > 0:
        raise TypeError(f"Unsupported type {type(x)}")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    return x


def _wrap(y):
    if isinstance(y, np.ndarray):
        return ndarray(y)
    if isinstance(y, np.generic):  # CuPy's reductions and indexing give 0-d device arrays
        return ndarray(np.asarray(y))
    if isinstance(y, tuple):
        return tuple(_wrap(v) for v in y)
    if isinstance(y, list):
        return [_wrap(v) for v in y]
    return y


def _device_function(fn):
    """fn (a NumPy function or method) taking and giving device arrays."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        return _wrap(fn(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    return call


def _defer(self, other):
    """CuPy's _should_use_rop: leave the operator to ``other`` (a minigan Tensor: priority 200 > 100)."""
    other_ufunc = getattr(other, "__array_ufunc__", NotImplemented)
    if other_ufunc is not NotImplemented:
        return other_ufunc is None
    return getattr(self, "__array_priority__", 0) < getattr(other, "__array_priority__", 0)


def _binary(ufunc, reflected=False):
    def apply(self, other):
        if _defer(self, other):
            return NotImplemented
        return ufunc(other, self) if reflected else ufunc(self, other)

    return apply


def _inplace(ufunc):
    def apply(self, other):
        if _defer(self, other):
            return NotImplemented
        ufunc(self, other, out=(self,))
        return self

    return apply


class ndarray:  # noqa: N801 -- CuPy's name
    """A device array: a NumPy array standing for GPU memory, that NumPy may not read implicitly."""

    __array_priority__ = 100

    def __init__(self, host):
        self._a = host

    # -- what a cupy.ndarray has --
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    data = property(lambda self: MemoryPointer(self._a.ctypes.data))

    def get(self, stream=None):
        return self._a.copy()

    def __getattr__(self, name):
        if name.startswith("__") or name in HOST_ONLY:  # no __array_interface__: NumPy must not see host memory
            raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}'")
        attr = getattr(self._a, name)
        return _device_function(attr) if callable(attr) else _wrap(attr)

    # -- NumPy interplay, as CuPy's --
    def __array__(self, *args, **kwargs):
        raise TypeError(IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o) if o is not None else None for o in out)
        result = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    # -- Python protocols --
    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key) if isinstance(key, ndarray) else _index(key)])

    def __setitem__(self, key, value):  # CuPy copies a host value in
        if isinstance(value, np.ndarray):
            transfers.append((value.shape, value.dtype))
        self._a[_index(key)] = value._a if isinstance(value, ndarray) else value

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __repr__(self):
        return f"device {self._a!r}"

    __hash__ = None
    __add__, __radd__, __iadd__ = _binary(np.add), _binary(np.add, True), _inplace(np.add)
    __sub__, __rsub__, __isub__ = _binary(np.subtract), _binary(np.subtract, True), _inplace(np.subtract)
    __mul__, __rmul__, __imul__ = _binary(np.multiply), _binary(np.multiply, True), _inplace(np.multiply)
    __truediv__, __rtruediv__ = _binary(np.true_divide), _binary(np.true_divide, True)
    __itruediv__ = _inplace(np.true_divide)
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide), _binary(np.floor_divide, True)
    __mod__, __rmod__ = _binary(np.remainder), _binary(np.remainder, True)
    __pow__, __rpow__, __ipow__ = _binary(np.power), _binary(np.power, True), _inplace(np.power)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __and__, __or__, __xor__ = _binary(np.bitwise_and), _binary(np.bitwise_or), _binary(np.bitwise_xor)
    __lt__, __le__, __gt__, __ge__ = _binary(np.less), _binary(np.less_equal), _binary(np.greater), _binary(
        np.greater_equal)
    __eq__, __ne__ = _binary(np.equal), _binary(np.not_equal)
    __neg__ = lambda self: np.negative(self)  # noqa: E731
    __pos__ = lambda self: np.positive(self)  # noqa: E731
    __abs__ = lambda self: np.absolute(self)  # noqa: E731
    __invert__ = lambda self: np.invert(self)  # noqa: E731


def _index(key):
    """An index with its device arrays unwrapped (host integer arrays are allowed as indices)."""
    if isinstance(key, tuple):
        return tuple(k._a if isinstance(k, ndarray) else k for k in key)
    return key._a if isinstance(key, ndarray) else key


# ---- the module's functions ----


def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    host = np.array(a, dtype=dtype, order=order or "K", copy=True)
    transfers.append((host.shape, host.dtype))
    return ndarray(host)


def array(a, dtype=None, copy=True, order="K"):
    if isinstance(a, ndarray):
        return ndarray(np.array(a._a, dtype=dtype, copy=copy, order=order))
    return asarray(a, dtype, order)


def asnumpy(a, stream=None, order="C", out=None):
    return a._a.copy() if isinstance(a, ndarray) else np.asarray(a)


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):  # CuPy's argument is typed cupy.ndarray
        raise TypeError(f"Argument 'a' has incorrect type (expected cupy._core.core._ndarray_base, got "
                        f"{type(a).__name__})")
    return ndarray(np.ascontiguousarray(a._a, dtype=dtype))


def empty(shape, dtype=float, order="C"):
    host = np.empty(shape, dtype=dtype, order=order)
    host.view(np.uint8).fill(0xFF)  # stale bytes, NaN in floats
    return ndarray(host)


def empty_like(a, dtype=None, order="K", shape=None):
    return empty(a.shape if shape is None else shape, dtype or a.dtype)


def get_array_module(*args):
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass

    def malloc(self, size):
        raise NotImplementedError("the stand-in has no memory pool")


_pool = _MemoryPool()


def get_default_memory_pool():
    return _pool


def get_default_pinned_memory_pool():
    return _pool


# ---- random ----


class Generator:
    """cupy.random.Generator's interface on a NumPy Generator, draws on the device. Like CuPy's,
    it has no ``bit_generator.state`` to save."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def __getattr__(self, name):
        if name.startswith("_") or name == "bit_generator":
            raise AttributeError(name)
        return _device_function(getattr(self._rng, name))


random = types.ModuleType("cupy.random")
random.Generator = Generator
random.default_rng = Generator

# ---- compiling and launching: the host build stands in for NVRTC and the driver ----


class RawModule:
    """cupy.RawModule(code=..., options=...): the code compiled by the host build."""

    compiled = []  # (code, options) of every module compiled

    def __init__(self, code=None, path=None, options=(), backend="nvrtc", **kwargs):
        self.code, self.options = code, options
        self._module = None

    def get_function(self, name):
        if self._module is None:
            type(self).compiled.append((self.code, self.options))
            self._module = host_build.load(self.code)
        return self._module.get_function(name)


class RawKernel:
    def __init__(self, code, name, options=(), **kwargs):
        self._kernel = RawModule(code=code, options=options).get_function(name)

    def __call__(self, grid, block, args, **kwargs):
        return self._kernel(grid, block, args)


class Device:
    def __init__(self, device=0):
        self.id = device
        self.compute_capability = "90"

    def synchronize(self):
        pass

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Event:
    def record(self, stream=None):
        import time

        self.time = time.perf_counter()

    def synchronize(self):
        pass


runtime = types.SimpleNamespace(
    getDeviceCount=lambda: 1,
    getDeviceProperties=lambda i: {"name": b"host emulator (tests/cuda_host)", "totalGlobalMem": 2**30,
                                   "major": 9, "minor": 0, "multiProcessorCount": 1},
    runtimeGetVersion=lambda: 13000, driverGetVersion=lambda: 13000, deviceSynchronize=lambda: None)
cuda = types.ModuleType("cupy.cuda")
cuda.runtime, cuda.Device, cuda.Event = runtime, Device, Event
cuda.is_available = lambda: True
cuda.set_allocator = lambda allocator=None: None
cuda.get_elapsed_time = lambda start, end: (end.time - start.time) * 1e3
cuda.compiler = types.SimpleNamespace(CompileException=RuntimeError)

cupyx = types.ModuleType("cupyx")
cupyx.scatter_add = _device_function(np.add.at)

__version__ = "14.0.0 (stand-in: tests/cuda_host/fake_cupy.py)"


def __getattr__(name):
    """Everything else (sqrt, where, zeros, float32, ...) is NumPy's, on device arrays."""
    attr = getattr(np, name)
    if isinstance(attr, type) or not callable(attr):
        return attr
    return _device_function(attr)


def install(monkeypatch):
    """Make this module minigan's CuPy for the rest of the test; returns the module."""
    from minigan import backend

    module = sys.modules[__name__]
    transfers.clear()
    RawModule.compiled.clear()
    monkeypatch.setattr(backend, "cupy", module)
    monkeypatch.setitem(sys.modules, "cupy", module)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    return module
