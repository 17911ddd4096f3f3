"""kernels/*.cu compiled by NVRTC, the compiler CuPy uses, exactly as minigan.cuda hands them to it.

NVRTC needs no GPU: it is a library (the ``nvidia-cuda-nvrtc`` wheel, called through
``cuda-bindings``; both are in the dev extra, so CI runs this). Each file is compiled from
``cuda.kernel_source(name)`` (common.cuh inlined) with ``cuda.COMPILE_OPTIONS`` plus the options
CuPy 14 adds to a RawModule's (``CUPY_ADDS``; its -I folders are left out: the sources include
nothing), for the virtual architectures compute_80 and compute_90 (PTX) and for sm_90 (the cubin
CuPy asks NVRTC for on an H100/H200). The compiler's log must be empty (no warnings), every entry
point must be in the output, and the static shared memory a module declares must fit 48 KiB.
The compiles run in one process of their own (tests/cuda_host/nvrtc_compile.py).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from minigan import cuda

COMPILER = Path(__file__).resolve().parent / "cuda_host" / "nvrtc_compile.py"
# What cupy/_core/core.pyx (assemble_cupy_compiler_options) and cupy/cuda/compiler.py add for NVRTC.
CUPY_ADDS = ("-ftz=true", "--device-as-default-execution-space")
TARGETS = ["compute_80", "compute_90", "sm_90"]
SHARED_LIMIT = 48 * 1024  # static shared memory per block without opting in
SOURCES = cuda.all_kernel_sources()
BROKEN = 'extern "C" __global__ void k(float* x) { x[0] = undefined_name; }'
DUBIOUS = 'extern "C" __global__ void k(float* x) { int unused = 1; x[0] = 1; }'


def _jobs():
    jobs = {(name, target): {"name": name, "source": source, "entries": cuda.entry_points(source),
                             "options": [*cuda.COMPILE_OPTIONS, *CUPY_ADDS, f"-arch={target}"]}
            for name, source in SOURCES.items() for target in TARGETS}
    for name, source in (("broken.cu", BROKEN), ("dubious.cu", DUBIOUS)):
        jobs[(name, "compute_90")] = {"name": name, "source": source, "entries": ["k"],
                                      "options": [*cuda.COMPILE_OPTIONS, "-arch=compute_90"]}
    return jobs


@pytest.fixture(scope="module")
def compiled():
    """{(file, target): result} of every compile, or a skip naming why NVRTC cannot run here."""
    jobs = _jobs()
    run = subprocess.run([sys.executable, str(COMPILER)], input=json.dumps(list(jobs.values())),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    answer = json.loads(run.stdout)
    if answer["problem"] is not None:
        pytest.skip(f"NVRTC is not usable here ({answer['problem']}), so kernels/*.cu are NOT compile-checked by "
                    "NVRTC; install the dev extra (pip install -e '.[dev]': cuda-bindings and nvidia-cuda-nvrtc, "
                    "no GPU needed)")
    return dict(zip(jobs, answer["results"]))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_nvrtc_compiles_kernel_file_as_cupy_would(compiled, name, target):
    result = compiled[(name, target)]
    assert result["ok"], f"{name} does not compile for {target}:\n{result['log']}"
    assert result["log"] == "", f"{name} ({target}): NVRTC warns:\n{result['log']}"
    assert result["missing"] == [], f"{name} ({target}): no kernel {result['missing']} in the output"
    assert result["shared_bytes"] <= SHARED_LIMIT, f"{name}: {result['shared_bytes']} bytes of static shared memory"


def test_nvrtc_reports_a_broken_kernel_and_warns_of_a_dubious_one(compiled):
    """The check can fail: a kernel with an error does not compile, a dubious one warns."""
    broken, dubious = compiled[("broken.cu", "compute_90")], compiled[("dubious.cu", "compute_90")]
    assert not broken["ok"] and "undefined_name" in broken["log"]
    assert dubious["ok"] and "warning" in dubious["log"]


def test_the_module_of_block_sum_declares_its_shared_memory(compiled):
    """The shared-memory count is read from the PTX: batch_norm.cu's block_sum holds REDUCE_THREADS doubles."""
    assert compiled[("batch_norm.cu", "compute_90")]["shared_bytes"] == 8 * cuda.REDUCE_THREADS
