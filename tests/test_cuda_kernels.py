"""minigan.cuda and kernels/*.cu, checked without a GPU and, when one is there, on it.

1. nvcc compiles every kernels/*.cu, as it stands and as minigan.cuda hands it to NVRTC
   (header inlined), warnings as errors.
2. The kernels, compiled for the host through tests/cuda_host/shim.h, run behind minigan.cuda's
   own wrappers (their CuPy calls answered by NumPy, their launches by ctypes) and match
   minigan.reference. Every launch first checks its arguments against the kernel's C signature.
   Shared-memory kernels cannot run on the host: they are checked on a GPU.
3. On a GPU the same tests run minigan.cuda for real (the `gpu` parameter of the `dev` fixture).
"""

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from minigan import backend, cuda, reference

ROOT = Path(__file__).resolve().parent.parent
SHIM = ROOT / "tests" / "cuda_host" / "shim.h"
CU_FILES = sorted((ROOT / "kernels").glob("*.cu"))
NVCC = ["nvcc", "-cubin", "-arch=sm_90", "-std=c++17", "-Werror", "all-warnings"]
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
HOST_GRID, HOST_BLOCK = 2, 3  # the host plays these 6 threads in turn: every grid-stride loop strides
_SIGNATURE = re.compile(r'extern "C" __global__ void (\w+)\(([^)]*)\)')
_SCALARS = {"int": (ctypes.c_int, np.int32), "float": (ctypes.c_float, np.float32),
            "double": (ctypes.c_double, np.float64)}

needs_nvcc = pytest.mark.skipif(
    shutil.which("nvcc") is None,
    reason="nvcc is not on PATH, so kernels/*.cu are NOT compile-checked here; install the CUDA toolkit "
    "(no GPU needed) to run this check")


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


class _Dim3(ctypes.Structure):
    _fields_ = [("x", ctypes.c_uint), ("y", ctypes.c_uint), ("z", ctypes.c_uint)]


@pytest.fixture(scope="session")
def host_library(tmp_path_factory):
    """kernels/*.cu compiled as C++ for this machine (shared-memory kernels left out)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is not on PATH: the host build of kernels/*.cu needs a C++17 compiler")
    lib = tmp_path_factory.mktemp("cuda_host") / "libminigan_kernels.so"
    command = ["g++", "-O1", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-x", "c++",
               "-DMINIGAN_HOST", "-include", str(SHIM), *map(str, CU_FILES), "-o", str(lib)]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return ctypes.CDLL(str(lib))


def _signatures():
    """{entry point: parameter kinds}, 'ptr' for any pointer, else the C scalar type."""
    found = {}
    for text in cuda.all_kernel_sources().values():
        for name, params in _SIGNATURE.findall(text):
            found[name] = ["ptr" if "*" in p else p.split()[0] for p in params.split(",")]
    return found


def _host_kernel(lib, name, kinds):
    """A stand-in for a compiled CuPy kernel, called as kernel(grid, block, args)."""

    def launch(grid, block, args):
        assert len(args) == len(kinds), f"{name}: {len(args)} arguments for {len(kinds)} parameters"
        for k, (a, kind) in enumerate(zip(args, kinds)):
            expected = np.ndarray if kind == "ptr" else _SCALARS[kind][1]
            assert type(a) is expected, f"{name} argument {k}: {type(a).__name__} for a C {kind}"
        if not hasattr(lib, name):
            pytest.skip(f"{name} uses shared memory: run on a GPU only (its arguments matched its signature)")
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p if kind == "ptr" else _SCALARS[kind][0] for kind in kinds]
        values = [a.ctypes.data if kind == "ptr" else a.item() for a, kind in zip(args, kinds)]
        dims = {d: _Dim3.in_dll(lib, d) for d in ("gridDim", "blockDim", "blockIdx", "threadIdx")}
        dims["gridDim"].x, dims["blockDim"].x = HOST_GRID, HOST_BLOCK
        for b in range(HOST_GRID):
            for t in range(HOST_BLOCK):
                dims["blockIdx"].x, dims["threadIdx"].x = b, t
                fn(*values)

    return launch


@pytest.fixture(params=["host", pytest.param("gpu", marks=pytest.mark.gpu)])
def dev(request, monkeypatch):
    """(to_device, to_numpy) for minigan.cuda on the host build, or on the GPU when there is one."""
    if request.param == "gpu":
        return backend.cupy.asarray, backend.cupy.asnumpy
    lib = request.getfixturevalue("host_library")
    kernels = {name: _host_kernel(lib, name, kinds) for name, kinds in _signatures().items()}
    monkeypatch.setattr(cuda, "_cupy", lambda: np)
    monkeypatch.setattr(cuda, "_address", lambda a: a.ctypes.data)
    monkeypatch.setattr(cuda, "_kernels", lambda: kernels)
    monkeypatch.setattr(cuda, "_adam_tables", {})
    return np.asarray, np.asarray


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


BN_SHAPES = pytest.mark.parametrize("shape", [(8, 3, 300), (700, 5, 1)], ids=["2d", "1d"])  # m > REDUCE_THREADS
BN_BACKWARD_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: TOL[np.float64]}  # sums of m terms


@BN_SHAPES
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_stats(dev, shape, dtype, rng):
    """A shared-memory reduction: on the host only its arguments are checked, then it skips."""
    to_dev, to_np = dev
    x3, _, _, _, mean, var = _batch_norm_case(rng, dtype, shape)
    got_mean, got_var = (to_np(a) for a in cuda.batch_norm_stats(to_dev(x3)))
    _close(got_mean, mean, dtype)
    _close(got_var, var, dtype)


@BN_SHAPES
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_backward(dev, shape, dtype, rng):
    """A shared-memory reduction, then a grid-stride pass; on the host it skips after the argument check."""
    to_dev, to_np = dev
    x3, gamma, _, gy3, mean, var = _batch_norm_case(rng, dtype, shape)
    invstd = (1 / np.sqrt(var + 1e-5)).astype(dtype)
    got = cuda.batch_norm_backward(*(to_dev(a) for a in (x3, gy3, mean.astype(dtype), invstd, gamma)))
    for actual, expected in zip(got, reference.batch_norm_backward(x3[..., None], gy3[..., None], gamma)):
        assert actual.dtype == dtype
        np.testing.assert_allclose(to_np(actual), expected.reshape(actual.shape), **BN_BACKWARD_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_backward_elementwise_kernel_on_host(host_library, dtype, rng):
    """The grid-stride half of cuda.batch_norm_backward, fed the reference's ggamma and gbeta."""
    x3, gamma, _, gy3, mean, var = _batch_norm_case(rng, dtype, (4, 3, 10))
    gx, ggamma, gbeta = reference.batch_norm_backward(x3[..., None], gy3[..., None], gamma)
    name = "batch_norm_backward_" + ("f32" if dtype == np.float32 else "f64")
    launch = _host_kernel(host_library, name, _signatures()[name])
    gx3 = np.empty_like(x3)
    mean, invstd = mean.astype(dtype), (1 / np.sqrt(var + 1e-5)).astype(dtype)
    launch((1,), (1,), (x3, gy3, mean, invstd, gamma, ggamma, gbeta, gx3, *(np.int32(s) for s in x3.shape)))
    _close(gx3, gx[..., 0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_update_all_params_in_one_launch(dev, dtype, rng):
    to_dev, to_np = dev
    shapes = [(4, 3), (0,), (7,), (2, 2, 2)]  # an empty tensor between two others: the search skips it
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ms, vs = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    on_dev = [[to_dev(a.copy()) for a in group] for group in (params, ms, vs)]
    p_dev, m_dev, v_dev = on_dev
    hyper = dict(lr=1e-2, beta1=0.5, beta2=0.999, eps=1e-8, weight_decay=0.01)
    before = cuda.launches
    for step in (1, 2, 3):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        cuda.adam_update(p_dev, [to_dev(g) for g in grads], m_dev, v_dev, step, **hyper)
        for k, g in enumerate(grads):
            params[k], ms[k], vs[k] = reference.adam_step(params[k], g, ms[k], vs[k], step, **hyper)
    assert cuda.launches - before == 3
    for group, expected in zip(on_dev, (params, ms, vs)):
        for actual, want in zip(group, expected):
            _close(to_np(actual), want, dtype)
