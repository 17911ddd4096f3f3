"""The host emulator of tests/cuda_host (Note [host emulator] in emulator.cpp) is faithful to CUDA.

A kernel checked on it is only as good as the emulator: so a block sum with a __syncthreads()
missing must come out wrong here, a barrier in divergent code must be refused, each block must
get shared memory of its own, and every thread must see the launch coordinates CUDA would give
it, on the grid and block minigan.cuda computes.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cuda_host import host_build
from minigan import cuda

CHECKS = Path(__file__).resolve().parent / "cuda_host" / "emulator_checks.cu"
SCHEDULES = ["ascending", "descending", "shuffled"]


@pytest.fixture
def checks(fake_gpu):
    """(module of emulator_checks.cu, the fake CuPy)."""
    return host_build.load(CHECKS.read_text(), CHECKS.name), fake_gpu


def _block_sums(checks, missing, schedule, blocks=3):
    module, cp = checks
    host_build.set_schedule(schedule, seed=11)
    x = np.random.default_rng(0).integers(-50, 50, (blocks, 256)).astype(np.float32)  # sums exact in float32
    sums = cp.empty(blocks, dtype=np.float32)
    module.get_function("block_sum_f32")((blocks,), (256,), (cp.asarray(x), sums, np.int32(missing)))
    return cp.asnumpy(sums), x.sum(axis=1)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_block_sum_with_its_barriers_is_right_in_every_schedule(checks, schedule):
    got, expected = _block_sums(checks, 0, schedule)
    np.testing.assert_array_equal(got, expected)
    assert host_build.barrier_calls() == 3 * 256 * (1 + 8)


@pytest.mark.parametrize("missing", [1, 2], ids=["no-barrier-after-the-writes", "no-barrier-between-levels"])
def test_a_missing_syncthreads_gives_a_wrong_sum(checks, missing):
    """Thread 0 running ahead reads a partial sum that another thread has not written yet (0xff
    bytes: NaN) or not yet updated. In descending order each thread t < half runs after thread
    t + half, so both races happen to come out right there: why the emulator runs several orders."""
    wrong = set()
    for schedule in SCHEDULES:
        got, expected = _block_sums(checks, missing, schedule)
        if not np.array_equal(got, expected):
            wrong.add(schedule)
    assert wrong == {"ascending", "shuffled"}


def test_a_barrier_in_divergent_code_is_an_error(checks):
    module, cp = checks
    with pytest.raises(RuntimeError, match=r"divergent code: in block 0, 246 of 256 threads returned"):
        module.get_function("divergent_barrier_f32")((1,), (256,), (cp.empty(256, np.float32), np.int32(10)))
    module.get_function("divergent_barrier_f32")((1,), (256,), (cp.empty(256, np.float32), np.int32(256)))


def test_each_block_has_shared_memory_of_its_own(checks):
    module, cp = checks
    y = cp.zeros(4, dtype=np.float32)
    module.get_function("shared_per_block_f32")((4,), (32,), (y,))
    got = cp.asnumpy(y)
    assert got[0] == 42 and np.isnan(got[1:]).all()  # never written in blocks 1-3: 0xff bytes


@pytest.mark.parametrize("grid, block", [(1, 1), (3, 32), (2, 1024)])
def test_threads_see_their_launch_coordinates(checks, grid, block):
    module, cp = checks
    y = cp.zeros(4 * grid * block, dtype=np.int32)
    module.get_function("coordinates_f32")((grid,), (block,), (y,))
    thread, block_idx, block_dim, grid_dim = cp.asnumpy(y).reshape(4, grid, block)
    np.testing.assert_array_equal(thread, np.broadcast_to(np.arange(block), (grid, block)))
    np.testing.assert_array_equal(block_idx, np.broadcast_to(np.arange(grid)[:, None], (grid, block)))
    assert (block_dim == block).all() and (grid_dim == grid).all()


@pytest.mark.parametrize("grid, block", [(0, 256), (1, 0), (1, 1025)])
def test_an_impossible_launch_is_refused_as_cuda_does(checks, grid, block):
    module, cp = checks
    with pytest.raises(RuntimeError, match="invalid configuration argument"):
        module.get_function("coordinates_f32")((grid,), (block,), (cp.zeros(4, dtype=np.int32),))


def test_arguments_are_checked_as_the_gpu_receives_them(checks):
    module, cp = checks
    kernel = module.get_function("block_sum_f32")
    x, sums = cp.zeros(256, dtype=np.float32), cp.empty(1, dtype=np.float32)
    with pytest.raises(TypeError, match="argument 0: ndarray for a C pointer"):
        kernel((1,), (256,), (np.zeros(256, np.float32), sums, np.int32(0)))  # host memory
    with pytest.raises(TypeError, match="argument 2: int for a C int: pass numpy.int32"):
        kernel((1,), (256,), (x, sums, 0))  # CuPy would pass 64 bits
    with pytest.raises(TypeError, match="3 parameters"):
        kernel((1,), (256,), (x, sums))


@pytest.mark.parametrize("size, grid", [(1, 1), (105, 1), (256 * 7 + 1, 8),
                                        (256 * cuda.MAX_BLOCKS + 5, cuda.MAX_BLOCKS)])
def test_minigan_cuda_launches_run_on_the_grid_it_computes(fake_gpu, size, grid):
    """Grid-stride kernels: ceil(size / BLOCK) blocks up to MAX_BLOCKS, every element visited once."""
    x = np.random.default_rng(1).standard_normal(size).astype(np.float32)
    y = fake_gpu.asnumpy(cuda.relu(fake_gpu.asarray(x)))
    np.testing.assert_array_equal(y, np.maximum(x, 0))  # an element left unvisited would be NaN
    assert cuda._kernels()["relu_forward_f32"].launches == [(grid, cuda.BLOCK)]


def test_the_portable_fiber_switch_gives_the_same_results(fake_gpu):
    """Off x86-64 the emulator switches fibers with ucontext: the barrier checks pass with it too."""
    env = dict(os.environ, MINIGAN_EMULATOR_UCONTEXT="1")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k",
                          "block_sum or missing_syncthreads or divergent or shared_memory or coordinates"],
                         capture_output=True, text=True, env=env, cwd=Path(__file__).parent.parent, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
