"""kernels/*.cu compiled by NVRTC, the compiler CuPy uses, exactly as minigan.cuda hands them to it.

NVRTC needs no GPU: it is a library (the ``nvidia-cuda-nvrtc`` wheel, called through
``cuda-bindings``; both are in the dev extra, so CI runs this). Each file is compiled from
``cuda.kernel_source(name)`` (common.cuh inlined) with ``cuda.COMPILE_OPTIONS`` plus the options
CuPy 14 adds to a RawModule's (``CUPY_ADDS``; its -I folders are left out: the sources include
nothing), for the virtual architectures compute_80 and compute_90 (PTX) and for sm_90 (the cubin
CuPy asks NVRTC for on an H100/H200). The compiler's log must be empty (no warnings), every entry
point must be in the output, and the static shared memory a module declares must fit 48 KiB.
"""

import re

import pytest

from minigan import cuda

try:
    from cuda.bindings import nvrtc

    NVRTC_PROBLEM = None if nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS else "nvrtcVersion failed"
except Exception as e:  # not installed, or the NVRTC library cannot be loaded
    nvrtc, NVRTC_PROBLEM = None, f"{type(e).__name__}: {e}"

needs_nvrtc = pytest.mark.skipif(
    NVRTC_PROBLEM is not None,
    reason=f"NVRTC is not usable here ({NVRTC_PROBLEM}), so kernels/*.cu are NOT compile-checked by NVRTC; "
    "install the dev extra (pip install -e '.[dev]': cuda-bindings and nvidia-cuda-nvrtc, no GPU needed)")

# What cupy/_core/core.pyx (assemble_cupy_compiler_options) and cupy/cuda/compiler.py add for NVRTC.
CUPY_ADDS = ("-ftz=true", "--device-as-default-execution-space")
TARGETS = ["compute_80", "compute_90", "sm_90"]
SHARED_LIMIT = 48 * 1024  # static shared memory per block without opting in
SOURCES = cuda.all_kernel_sources()


def _check(result, what):
    err = result[0] if isinstance(result, tuple) else result
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, f"{what}: {err}"
    return result[1:] if isinstance(result, tuple) else ()


def compile_with_nvrtc(source, name, options):
    """(log, output bytes, is_cubin) of NVRTC compiling ``source`` with ``options``."""
    (program,) = _check(nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], []), "create")
    try:
        encoded = [o.encode() for o in options]
        status = nvrtc.nvrtcCompileProgram(program, len(encoded), encoded)[0]
        (size,) = _check(nvrtc.nvrtcGetProgramLogSize(program), "log size")
        log = b" " * size
        _check(nvrtc.nvrtcGetProgramLog(program, log), "log")
        log = log.decode(errors="replace").rstrip("\0").strip()
        assert status == nvrtc.nvrtcResult.NVRTC_SUCCESS, f"{name} does not compile with {options}:\n{log}"
        cubin = any(o.startswith("-arch=sm_") for o in options)
        get_size, get = (nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN) if cubin else (
            nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX)
        (size,) = _check(get_size(program), "output size")
        output = b" " * size
        _check(get(program, output), "output")
        return log, output, cubin
    finally:
        nvrtc.nvrtcDestroyProgram(program)


@needs_nvrtc
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_nvrtc_compiles_kernel_file_as_cupy_would(name, target):
    options = (*cuda.COMPILE_OPTIONS, *CUPY_ADDS, f"-arch={target}")
    log, output, cubin = compile_with_nvrtc(SOURCES[name], name, options)
    assert log == "", f"{name} ({target}): NVRTC warns:\n{log}"
    for entry in cuda.entry_points(SOURCES[name]):
        assert entry.encode() in output, f"{name} ({target}): no kernel {entry} in the output"
    if not cubin:
        ptx = output.decode(errors="replace")
        shared = sum(int(n) for n in re.findall(r"\.shared\s.*?\.b8\s+\w+\[(\d+)\]", ptx))
        assert shared <= SHARED_LIMIT, f"{name}: {shared} bytes of static shared memory"


@needs_nvrtc
def test_nvrtc_reports_a_broken_kernel():
    """The check can fail: a kernel with an error does not compile, a dubious one warns."""
    with pytest.raises(AssertionError, match="does not compile"):
        compile_with_nvrtc('extern "C" __global__ void k(float* x) { x[0] = undefined_name; }', "bad.cu",
                           (*cuda.COMPILE_OPTIONS, "-arch=compute_90"))
    log, _, _ = compile_with_nvrtc('extern "C" __global__ void k(float* x) { int unused = 1; x[0] = 1; }',
                                   "warn.cu", (*cuda.COMPILE_OPTIONS, "-arch=compute_90"))
    assert "warning" in log
