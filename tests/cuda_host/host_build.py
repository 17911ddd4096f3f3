"""The host build of CUDA kernel sources: g++ compiles them through shim.h, emulator.cpp runs their launches.

``load(source)`` compiles one kernel source (as minigan.cuda hands it to CuPy: headers inlined)
into a shared library beside a generated launcher per entry point, and returns a ``HostModule``
whose ``get_function(name)`` is called like a compiled CuPy kernel: ``kernel(grid, block, args)``.
Each launch checks its arguments as CUDA would receive them (a device array for each pointer,
a NumPy scalar of the exact C type for each scalar: CuPy passes a Python int as 64 bits), then
runs the kernel on the grid and block given, threads as fibers (Note [host emulator] in
emulator.cpp). Libraries are cached on disk by the hash of everything that goes into them.
"""

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHIM, EMULATOR = HERE / "shim.h", HERE / "emulator.cpp"
CXX = ["g++", "-std=c++17", "-O1", "-fPIC", "-Wall", "-Wextra", "-Werror"]
SIGNATURE = re.compile(r'extern "C" __global__ void (\w+)\(([^)]*)\)')
SCALARS = {"int": (ctypes.c_int, np.int32), "unsigned int": (ctypes.c_uint, np.uint32),
           "unsigned": (ctypes.c_uint, np.uint32), "long long": (ctypes.c_longlong, np.int64),
           "unsigned long long": (ctypes.c_ulonglong, np.uint64), "float": (ctypes.c_float, np.float32),
           "double": (ctypes.c_double, np.float64)}
SCHEDULES = {"ascending": 0, "descending": 1, "shuffled": 2}

_lock = threading.Lock()
_emulator = None
_modules = {}  # source text -> HostModule


def compiler_problem():
    """Why the host build cannot run here (one sentence), or None."""
    for tool in ("g++", "nm"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH: the host build of the CUDA kernels needs a C++17 compiler and binutils"
    return None


def cache_dir():
    root = os.environ.get("MINIGAN_CACHE") or os.path.join(tempfile.gettempdir(), "minigan-cache")
    folder = Path(root) / "cuda_host"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def parameters(params_text):
    """[(C type, name)] of a kernel's parameter list."""
    found = []
    for p in params_text.split(","):
        ctype, name = re.match(r"\s*(.*?)\s*(\w+)\s*$", p).groups()
        found.append((ctype, name))
    return found


def signatures(source):
    """{entry point: [(C type, name)]} of the ``extern "C" __global__`` functions of a source."""
    return {name: parameters(params) for name, params in SIGNATURE.findall(source)}


def kind_of(ctype):
    """'ptr' for a pointer parameter, else the scalar's C type without const."""
    if "*" in ctype:
        return "ptr"
    return " ".join(w for w in ctype.split() if w != "const")


def launcher_source(source_path, sigs):
    """A C++ file that includes the kernel source and, per entry point, an ``extern "C"``
    ``launch_<name>(grid, block, args)`` that unpacks ``args`` (pointers to each argument's value,
    as cuLaunchKernel takes them) inside the emulator's launch."""
    lines = [f'#include "{source_path}"', "",
             'extern "C" int mg_host_launch(unsigned grid, unsigned block, void (*body)(void*), void* args);']
    for name, params in sigs.items():
        values = ", ".join(f"*static_cast<{ctype}*>(a[{k}])" for k, (ctype, _) in enumerate(params))
        lines += ["", f"static void body_{name}(void* args) {{",
                  "    void** a = static_cast<void**>(args);", f"    {name}({values});", "}",
                  f'extern "C" int launch_{name}(unsigned grid, unsigned block, void** args) {{',
                  f"    return mg_host_launch(grid, block, body_{name}, args);", "}"]
    return "\n".join(lines) + "\n"


def _compile(command, what):
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"host build of {what} failed:\n{' '.join(command)}\n{run.stderr}")


def _cached_library(key_parts, build):
    """The cached .so for these inputs, built by ``build(folder, target)`` when missing."""
    key = hashlib.sha256("\0".join(key_parts).encode()).hexdigest()[:24]
    target = cache_dir() / f"{key}.so"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            built = Path(tmp) / "lib.so"
            build(Path(tmp), built)
            os.replace(built, target)  # atomic: a concurrent run sees the whole file or none
    return target


def emulator():
    """The emulator's library, loaded once with its symbols global (the kernel libraries use them)."""
    global _emulator
    with _lock:
        if _emulator is None:
            flags = [*CXX, "-shared", "-DMINIGAN_HOST", f"-I{HERE}"]
            if os.environ.get("MINIGAN_EMULATOR_UCONTEXT"):  # the portable switch, as off x86-64
                flags.append("-DMINIGAN_UCONTEXT")

            def build(tmp, target):
                _compile([*flags, str(EMULATOR), "-o", str(target)], "emulator.cpp")
            path = _cached_library([EMULATOR.read_text(), SHIM.read_text(), " ".join(flags)], build)
            lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            lib.mg_error.restype = ctypes.c_char_p
            lib.mg_barrier_calls.restype = ctypes.c_ulonglong
            lib.mg_set_schedule.argtypes = [ctypes.c_int, ctypes.c_uint]
            lib.mg_add_shared.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            _emulator = lib
    return _emulator


def set_schedule(name, seed=0):
    """The order the threads of a block run in each phase: ascending, descending or shuffled."""
    emulator().mg_set_schedule(SCHEDULES[name], seed)


def barrier_calls():
    """__syncthreads() calls (one per thread per barrier) in the last launch."""
    return emulator().mg_barrier_calls()


def _shared_variables(path):
    """[(offset, size)] of the function-local statics (the __shared__ variables, shim.h) of a library."""
    run = subprocess.run(["nm", "-S", "--defined-only", str(path)], capture_output=True, text=True, check=True)
    found = []
    for line in run.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].startswith("_ZZ") and parts[2] in "bBdDuVv":
            found.append((int(parts[0], 16), int(parts[1], 16)))
    return found, {p[3]: int(p[0], 16) for p in map(str.split, run.stdout.splitlines()) if len(p) == 4}


def load(source, name="kernel.cu"):
    """A HostModule for a kernel source (headers already inlined), built once per source text."""
    with _lock:
        module = _modules.get(source)
    if module is not None:
        return module
    lib_emulator = emulator()
    sigs = signatures(source)

    def build(tmp, target):
        (tmp / name).write_text(source)
        (tmp / "launch.cpp").write_text(launcher_source(tmp / name, sigs))
        _compile([*CXX, "-shared", "-x", "c++", "-DMINIGAN_HOST", "-include", str(SHIM), str(tmp / "launch.cpp"),
                  "-o", str(target)], name)

    path = _cached_library([source, SHIM.read_text(), " ".join(CXX)], build)
    lib = ctypes.CDLL(str(path))
    shared, symbols = _shared_variables(path)
    base = ctypes.cast(getattr(lib, f"launch_{next(iter(sigs))}"), ctypes.c_void_p).value - symbols[
        f"launch_{next(iter(sigs))}"]
    for offset, size in shared:
        lib_emulator.mg_add_shared(base + offset, size)
    module = HostModule(lib, sigs)
    with _lock:
        _modules[source] = module
    return module


class HostModule:
    """A kernel library: ``get_function(name)`` as on a CuPy RawModule."""

    def __init__(self, lib, sigs):
        self.lib, self.signatures = lib, sigs

    def get_function(self, name):
        if name not in self.signatures:
            raise AttributeError(f"no kernel named {name} in this module")  # CuPy raises a CUDADriverError
        return HostKernel(self.lib, name, [kind_of(t) for t, _ in self.signatures[name]])


def _dims(value, what):
    dims = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not dims or len(dims) > 3 or any(not isinstance(d, (int, np.integer)) for d in dims):
        raise TypeError(f"{what} must be an int or a tuple of 1 to 3 ints, not {value!r}")
    if any(d != 1 for d in dims[1:]):
        raise NotImplementedError(f"the host emulator runs 1-d launches only, not {what} {dims}")
    return int(dims[0])


class HostKernel:
    """One entry point, called as ``kernel(grid, block, args)``; ``launches`` records (grid, block)."""

    def __init__(self, lib, name, kinds):
        self.name, self.kinds = name, kinds
        self.fn = getattr(lib, f"launch_{name}")
        self.fn.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p]
        self.launches = []

    def _value(self, k, a, kind):
        if kind == "ptr":
            pointer = getattr(getattr(a, "data", None), "ptr", None)
            if isinstance(a, np.ndarray) or not isinstance(pointer, int):
                raise TypeError(f"{self.name} argument {k}: {type(a).__name__} for a C pointer: pass a device "
                                "array (a NumPy array is host memory the GPU cannot read)")
            return ctypes.c_void_p(pointer)
        ctype, numpy_type = SCALARS[kind]
        if type(a) is not numpy_type:
            raise TypeError(f"{self.name} argument {k}: {type(a).__name__} for a C {kind}: pass "
                            f"numpy.{numpy_type.__name__} (CuPy passes a Python int as 64 bits, a float as double)")
        return ctype(a.item())

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        if len(args) != len(self.kinds):
            raise TypeError(f"{self.name}: {len(args)} arguments for {len(self.kinds)} parameters")
        values = [self._value(k, a, kind) for k, (a, kind) in enumerate(zip(args, self.kinds))]
        argv = (ctypes.c_void_p * len(values))(*(ctypes.addressof(v) for v in values))
        grid, block = _dims(grid, "grid"), _dims(block, "block")
        self.launches.append((grid, block))
        if self.fn(grid, block, argv) != 0:
            raise RuntimeError(f"{self.name}: {emulator().mg_error().decode()}")
