"""minigan.cuda and kernels/*.cu, checked without a GPU and, when one is there, on it.

1. nvcc compiles every kernels/*.cu, as it stands and as minigan.cuda hands it to NVRTC
   (header inlined), warnings as errors (test_cuda_nvrtc.py compiles them with NVRTC itself).
2. On the host, minigan.cuda runs unchanged on tests/cuda_host/fake_cupy.py: its RawModule is the
   host build of each kernel file, and every launch runs on the grid and block minigan.cuda
   computes, the threads of a block as fibers meeting at a real __syncthreads() (Note [host
   emulator] in tests/cuda_host/emulator.cpp), so the shared-memory reductions run too. Every
   launch first checks its arguments against the kernel's C signature. Results match minigan.reference.
3. On a GPU the same tests run minigan.cuda for real (the `gpu` parameter of the `dev` fixture).
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cuda_host import host_build
from minigan import backend, cuda, reference

ROOT = Path(__file__).resolve().parent.parent
CU_FILES = sorted((ROOT / "kernels").glob("*.cu"))
NVCC = ["nvcc", "-cubin", "-arch=sm_90", "-std=c++17", "-Werror", "all-warnings"]
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}

needs_nvcc = pytest.mark.skipif(
    shutil.which("nvcc") is None,
    reason="nvcc is not on PATH, so kernels/*.cu are NOT compile-checked by nvcc here (test_cuda_nvrtc.py "
    "compiles them with NVRTC); install the CUDA toolkit (no GPU needed) to run this check")


def _close(actual, expected, dtype):
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual, expected, **TOL[dtype])


# ---- 1. sources, loader, nvcc ----


def test_loader_finds_every_source_and_inlines_the_header():
    sources = cuda.all_kernel_sources()
    assert sorted(sources) == [p.name for p in CU_FILES]
    for name, text in sources.items():
        assert not re.search(r"^#include", text, re.M) and text.count("#define GRID_STRIDE_LOOP") == 1, name
        # The #line after the pasted header names the file and the line that really follows.
        line, after = re.search(rf'#line (\d+) "{name}"\n(.*)\n', text).groups()
        assert (ROOT / "kernels" / name).read_text().splitlines()[int(line) - 1] == after
        entries = cuda.entry_points(text)
        assert entries and all(e.endswith(("_f32", "_f64")) for e in entries), name
        assert {e[:-4] for e in entries if e.endswith("_f32")} == {e[:-4] for e in entries if e.endswith("_f64")}


def test_reduce_block_size_matches_header():
    header = (ROOT / "kernels" / "common.cuh").read_text()
    assert int(re.search(r"#define REDUCE_THREADS (\d+)", header).group(1)) == cuda.REDUCE_THREADS


def test_functions_without_cupy_say_how_to_install_it(monkeypatch):
    monkeypatch.setattr(backend, "cupy", None)
    with pytest.raises(RuntimeError, match=r"pip install minigan\[gpu\]"):
        cuda.relu(np.ones(3, dtype=np.float32))


@needs_nvcc
@pytest.mark.parametrize("path", CU_FILES, ids=lambda p: p.name)
def test_nvcc_compiles_kernel_file_without_warnings(path, tmp_path):
    inlined = tmp_path / path.name  # a folder without common.cuh: NVRTC's view
    inlined.write_text(cuda.kernel_source(path.name))
    runs = [subprocess.Popen([*NVCC, "-o", str(tmp_path / f"{k}.cubin"), str(source)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for k, source in enumerate((path, inlined))]
    for source, run in zip((path, inlined), runs):
        output = run.communicate()[0]
        assert run.returncode == 0, f"{source}:\n{output}"


# ---- 2. the host build, standing in for CuPy ----


@pytest.fixture(params=["host", pytest.param("gpu", marks=pytest.mark.gpu)])
def dev(request):
    """(to_device, to_numpy) for minigan.cuda on the host emulator, or on the GPU when there is one."""
    if request.param == "gpu":
        return backend.cupy.asarray, backend.cupy.asnumpy
    fake = request.getfixturevalue("fake_gpu")
    return fake.asarray, fake.asnumpy


def _launches(name):
    """(grid, block) of every host launch of the kernel `name` in this test."""
    return cuda._kernels()[name].launches


# ---- 3. every minigan.cuda function against minigan.reference ----

GEOMETRIES = [  # n, c, h, w, kh, kw, sy, sx, ph, pw
    (2, 3, 5, 5, 3, 3, 1, 1, 0, 0),
    (2, 2, 7, 6, 3, 3, 2, 2, 1, 1),
    (1, 2, 8, 8, 4, 4, 2, 2, 1, 1),  # a DCGAN layer
    (2, 1, 5, 7, 2, 3, 1, 2, 0, 1),
    (1, 2, 9, 8, 2, 2, 3, 3, 1, 0),  # stride > kernel: some x elements are never read
    (1, 1, 6, 6, 5, 5, 3, 3, 2, 2),
]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_col2im(dev, geometry, dtype, rng):
    to_dev, to_np = dev
    n, c, h, w, kh, kw, sy, sx, ph, pw = geometry
    out_h, out_w = (h + 2 * ph - kh) // sy + 1, (w + 2 * pw - kw) // sx + 1
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    col = to_np(cuda.im2col(to_dev(x), kh, kw, sy, sx, ph, pw, out_h, out_w))
    np.testing.assert_array_equal(col, reference.im2col(x, kh, kw, sy, sx, ph, pw))  # copies only: exact
    y = rng.standard_normal(col.shape).astype(dtype)
    gx = to_np(cuda.col2im(to_dev(y), n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w))
    _close(gx, reference.col2im(y, x.shape, kh, kw, sy, sx, ph, pw), dtype)
    again = to_np(cuda.col2im(to_dev(y), n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w))
    np.testing.assert_array_equal(gx, again)  # a gather: bit-identical run after run
    # The adjoint identity <im2col x, y> = <x, col2im y>.
    lhs, rhs = np.vdot(col.astype(np.float64), y), np.vdot(x.astype(np.float64), gx)
    assert np.isclose(lhs, rhs, rtol=1e-5 if dtype == np.float32 else 1e-12)


def _logits(rng, dtype, shape=(3, 7, 5)):
    """Normal values, with the kink (0) and overflow-prone extremes planted at the front."""
    x = rng.standard_normal(shape) * 4
    x.flat[:6] = [0.0, 1000.0, -1000.0, 90.0, -90.0, 1e-3]
    return x.astype(dtype)


@pytest.mark.parametrize("name, args", [("relu", ()), ("leaky_relu", (0.2,)), ("tanh", ()), ("sigmoid", ())])
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_forward_and_backward(dev, name, args, dtype, rng):
    to_dev, to_np = dev
    x, gy = _logits(rng, dtype), rng.standard_normal((3, 7, 5)).astype(dtype)
    y = getattr(reference, name)(x, *args)
    _close(to_np(getattr(cuda, name)(to_dev(x), *args)), y, dtype)
    saved = x if name == "leaky_relu" else y  # leaky ReLU's backward reads x, the others y
    gx = to_np(getattr(cuda, name + "_backward")(to_dev(saved), to_dev(gy), *args))
    _close(gx, getattr(reference, name + "_backward")(saved, gy, *args), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_separate_and_fused(dev, dtype, rng):
    to_dev, to_np = dev
    x, t = _logits(rng, dtype), rng.random((3, 7, 5)).astype(dtype)
    scale = 1 / x.size
    loss, gx = reference.bce_with_logits(x, t), reference.bce_with_logits_backward(x, t, scale)
    _close(to_np(cuda.bce_with_logits(to_dev(x), to_dev(t))), loss, dtype)
    _close(to_np(cuda.bce_with_logits_backward(to_dev(x), to_dev(t), scale)), gx, dtype)
    fused_loss, fused_gx = cuda.bce_with_logits_forward_backward(to_dev(x), to_dev(t), scale)
    _close(to_np(fused_loss), loss, dtype)
    _close(to_np(fused_gx), gx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask_follows_uniforms(dev, dtype, rng):
    to_dev, to_np = dev
    x, u, p = rng.standard_normal((4, 33)).astype(dtype), rng.random((4, 33)).astype(dtype), 0.3
    y, mask = (to_np(a) for a in cuda.dropout(to_dev(x), to_dev(u), p))
    expected = ((u >= p) / (1 - p)).astype(dtype)  # the kernel API's definition
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(y, x * expected)


def _batch_norm_case(rng, dtype, shape):
    """x3 far from zero mean, gamma, beta, gy, and the batch statistics in float64."""
    x3 = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    c = shape[1]
    gamma, beta = (rng.standard_normal(c) + 1).astype(dtype), rng.standard_normal(c).astype(dtype)
    gy3 = rng.standard_normal(shape).astype(dtype)
    mean, var = x3.astype(np.float64).mean(axis=(0, 2)), x3.astype(np.float64).var(axis=(0, 2))
    return x3, gamma, beta, gy3, mean, var


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_forward_and_fused_activations(dev, dtype, rng):
    to_dev, to_np = dev
    x3, gamma, beta, _, mean, var = _batch_norm_case(rng, dtype, (4, 3, 10))
    c = x3.shape[1]
    y = reference.batch_norm(x3[..., None], gamma, beta, np.zeros(c, dtype), np.ones(c, dtype), True)[0][..., 0]
    args = [to_dev(a.astype(dtype)) for a in (x3, mean, 1 / np.sqrt(var + 1e-5), gamma, beta)]
    _close(to_np(cuda.batch_norm_forward(*args)), y, dtype)
    _close(to_np(cuda.batch_norm_forward_relu(*args)), reference.relu(y), dtype)
    _close(to_np(cuda.batch_norm_forward_leaky_relu(*args, 0.2)), reference.leaky_relu(y, 0.2), dtype)


# One block per channel of REDUCE_THREADS threads striding over its m = n*l values: m below a block
# (threads without a value), m a few blocks' worth and not a multiple of it, 1d, one channel, many.
BN_SHAPES = pytest.mark.parametrize("shape", [(8, 3, 300), (700, 5, 1), (3, 4, 50), (2, 1, 7), (5, 33, 6)],
                                    ids=["2d", "1d", "m<block", "one-channel", "33-channels"])
SCHEDULES = pytest.mark.parametrize("schedule", ["ascending", "descending", "shuffled"], indirect=True)
BN_BACKWARD_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: TOL[np.float64]}  # sums of m terms


def _on_host(request):
    return request.node.callspec.params.get("dev") == "host"


@pytest.fixture
def schedule(request, dev):
    """The order the emulator runs a block's threads in each phase (Note [host emulator])."""
    if _on_host(request):
        host_build.set_schedule(request.param, seed=7)
    elif request.param != "ascending":
        pytest.skip("thread schedules are the host emulator's; a GPU has its own")
    return request.param


@BN_SHAPES
@pytest.mark.parametrize("dtype", DTYPES)
@SCHEDULES
def test_batch_norm_stats(request, dev, shape, dtype, schedule, rng):
    """A shared-memory reduction: one block of REDUCE_THREADS threads per channel."""
    to_dev, to_np = dev
    x3, _, _, _, mean, var = _batch_norm_case(rng, dtype, shape)
    got_mean, got_var = (to_np(a) for a in cuda.batch_norm_stats(to_dev(x3)))
    _close(got_mean, mean, dtype)
    _close(got_var, var, dtype)
    if _on_host(request):  # every channel a block of REDUCE_THREADS fibers, each at 2 x 10 barriers
        suffix = "f32" if dtype == np.float32 else "f64"
        assert _launches(f"batch_norm_stats_{suffix}") == [(shape[1], cuda.REDUCE_THREADS)]
        assert host_build.barrier_calls() == shape[1] * cuda.REDUCE_THREADS * 2 * 10


@BN_SHAPES
@pytest.mark.parametrize("dtype", DTYPES)
@SCHEDULES
def test_batch_norm_backward(dev, shape, dtype, schedule, rng):
    """A shared-memory reduction (ggamma, gbeta), then a grid-stride pass (gx)."""
    to_dev, to_np = dev
    x3, gamma, _, gy3, mean, var = _batch_norm_case(rng, dtype, shape)
    invstd = (1 / np.sqrt(var + 1e-5)).astype(dtype)
    got = cuda.batch_norm_backward(*(to_dev(a) for a in (x3, gy3, mean.astype(dtype), invstd, gamma)))
    for actual, expected in zip(got, reference.batch_norm_backward(x3[..., None], gy3[..., None], gamma)):
        assert actual.dtype == dtype
        np.testing.assert_allclose(to_np(actual), expected.reshape(actual.shape), **BN_BACKWARD_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps, eps_root, scale", [(1e-8, 0.0, 1.0), (0.0, 1e-8, 1e-4)], ids=["pytorch", "root"])
def test_adam_update_all_params_in_one_launch(dev, dtype, eps, eps_root, scale, rng):
    to_dev, to_np = dev
    shapes = [(4, 3), (0,), (7,), (2, 2, 2)]  # an empty tensor between two others: the search skips it
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ms, vs = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    on_dev = [[to_dev(a.copy()) for a in group] for group in (params, ms, vs)]
    p_dev, m_dev, v_dev = on_dev
    hyper = dict(lr=1e-2, beta1=0.5, beta2=0.999, eps=eps, weight_decay=0.01 * scale, eps_root=eps_root)
    before = cuda.launches
    for step in (1, 2, 3):
        grads = [(scale * rng.standard_normal(s)).astype(dtype) for s in shapes]
        cuda.adam_update(p_dev, [to_dev(g) for g in grads], m_dev, v_dev, step, **hyper)
        for k, g in enumerate(grads):
            params[k], ms[k], vs[k] = reference.adam_step(params[k], g, ms[k], vs[k], step, **hyper)
    assert cuda.launches - before == 3
    for group, expected in zip(on_dev, (params, ms, vs)):
        for actual, want in zip(group, expected):
            _close(to_np(actual), want, dtype)



@pytest.mark.parametrize("dtype", DTYPES)
def test_random_draws_are_philox_of_one_key_from_the_host_generator(dev, dtype):
    """Note [device draws]: draw i is a function of (key, i) alone, the key the Generator's one draw."""
    to_dev, to_np = dev
    rng, twin = np.random.default_rng(5), np.random.default_rng(5)
    u = to_np(cuda.random_uniform(rng, (3, 700), dtype))
    z = to_np(cuda.random_normal(rng, (70001,), dtype))
    keys = [int(twin.integers(0, 2**64, dtype=np.uint64)) for _ in range(2)]
    assert rng.bit_generator.state == twin.bit_generator.state  # one key per draw, nothing else
    halves = [(k & 0xFFFFFFFF, k >> 32) for k in keys]
    assert u.shape == (3, 700) and u.dtype == dtype and z.dtype == dtype
    np.testing.assert_array_equal(u.ravel(), reference.random_uniform(halves[0], u.size, dtype))
    np.testing.assert_allclose(z, reference.random_normal(halves[1], z.size, dtype),
                               **{np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: TOL[np.float64]}[dtype])
    assert 0 <= u.min() and u.max() < 1
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02 and np.isfinite(z).all()


def test_philox_reference_matches_the_known_answers():
    """Random123's known-answer vectors for Philox4x32-10."""
    cases = [([0, 0, 0, 0], (0, 0), [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
             ([0xFFFFFFFF] * 4, (0xFFFFFFFF, 0xFFFFFFFF), [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
             ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], (0xA4093822, 0x299F31D0),
              [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1])]
    for counter, key, words in cases:
        assert reference.philox4x32_10([counter], key)[0].tolist() == words

# col2im on a col of more than 2^31 elements: x has 2 elements, so the launch is small, but their
# taps lie past col's 2^31st element. col is anonymous memory reserved, not committed: the taps not
# set read the zero page, so the run touches a few pages of its 12.8 GB. In a subprocess: before
# the fix a 32-bit offset wrapped negative and the read crashed the process.
_COL2IM_BEYOND_2_31 = """
import json, mmap, sys
import numpy as np
sys.path.insert(0, {tests!r})
from cuda_host import fake_cupy
from minigan import backend, cuda
backend.cupy = fake_cupy
kw = 40000
n, c, h, w, kh, sy, sx, ph, pw, out_h, out_w = 1, 2, 1, 1, 1, 1, 1, 0, kw - 1, 1, kw
rows, cols = c * kh * kw, n * out_h * out_w
memory = mmap.mmap(-1, rows * cols * 4, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0))
col = np.frombuffer(memory, dtype=np.float32).reshape(rows, cols)
assert col.size > 2**31
expected = np.zeros(c)
for ci, j, value in [(0, 0, 1.5), (0, kw - 1, 2.0), (1, 0, 4.0), (1, kw // 2, 8.0), (1, kw - 1, 16.0)]:
    col[ci * kw + j, pw - j] = value  # x[0, ci, 0, 0] gathers tap j from output position ox = pw - j
    expected[ci] += value
x = cuda.col2im(fake_cupy.ndarray(col), n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w)
print(json.dumps([fake_cupy.asnumpy(x).ravel().tolist(), expected.tolist()]))
"""


def test_col2im_reads_a_col_of_more_than_2_31_elements(fake_gpu):
    script = _COL2IM_BEYOND_2_31.format(tests=str(ROOT / "tests"))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"col2im crashed or failed (status {run.returncode}):\n{run.stderr[-2000:]}"
    got, expected = json.loads(run.stdout)
    assert got == expected
