"""Every Numba kernel in cpu_kernels against reference.py, in float32 and float64."""

import decimal
import itertools
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from minigan import cpu_kernels as K
from minigan import reference as R

DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-5}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}
GEOMETRIES = list(itertools.product([1, 2, 3], [0, 1, 2], [1, 3, 4]))  # stride, padding, kernel size


def _rng():
    return np.random.default_rng(0)


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _geometry(x_shape, kh, kw, sy, sx, ph, pw):
    """The argument tail shared by im2col and col2im: kh, kw, sy, sx, ph, pw, out_h, out_w."""
    return kh, kw, sy, sx, ph, pw, _out(x_shape[2], kh, sy, ph), _out(x_shape[3], kw, sx, pw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("s, p, k", GEOMETRIES)
def test_im2col_and_col2im_match_reference(dtype, s, p, k):
    rng = _rng()
    shape = (2, 3, 7, 6)
    x = rng.standard_normal(shape).astype(dtype)
    geometry = _geometry(shape, k, k, s, s, p, p)
    col = K.im2col(x, *geometry)
    assert col.dtype == dtype and col.flags.c_contiguous
    np.testing.assert_array_equal(col, R.im2col(x, k, k, s, s, p, p))
    gcol = rng.standard_normal(col.shape).astype(dtype)
    gx = K.col2im(gcol, *shape, *geometry)
    assert gx.dtype == dtype and gx.shape == shape
    np.testing.assert_allclose(gx, R.col2im(gcol, shape, k, k, s, s, p, p), **TOL[dtype])


NON_SQUARE = [  # x shape, kh, kw, sy, sx, ph, pw
    ((2, 2, 9, 5), 3, 2, 2, 1, 0, 1),
    ((1, 3, 4, 11), 2, 4, 1, 3, 2, 0),
    ((3, 1, 8, 8), 4, 4, 2, 2, 1, 1),  # DCGAN's conv: k4 s2 p1
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kh, kw, sy, sx, ph, pw", NON_SQUARE)
def test_im2col_and_col2im_match_reference_on_non_square_geometry(dtype, shape, kh, kw, sy, sx, ph, pw):
    rng = _rng()
    x = rng.standard_normal(shape).astype(dtype)
    geometry = _geometry(shape, kh, kw, sy, sx, ph, pw)
    col = K.im2col(x, *geometry)
    np.testing.assert_array_equal(col, R.im2col(x, kh, kw, sy, sx, ph, pw))
    gcol = rng.standard_normal(col.shape).astype(dtype)
    np.testing.assert_allclose(
        K.col2im(gcol, *shape, *geometry), R.col2im(gcol, shape, kh, kw, sy, sx, ph, pw), **TOL[dtype]
    )


def test_conv_transpose_geometry_col2im_onto_a_grid_that_is_not_its_own_output():
    # ConvTranspose2d(c, oc, 4, 2, 1) on 3x3 -> 6x6: col on the 3x3 grid, folded onto 6x6.
    rng = _rng()
    n, c, h, w = 2, 3, 6, 6
    gcol = rng.standard_normal((c * 16, n * 3 * 3))
    np.testing.assert_allclose(
        K.col2im(gcol, n, c, h, w, 4, 4, 2, 2, 1, 1, 3, 3),
        R.col2im(gcol, (n, c, h, w), 4, 4, 2, 2, 1, 1),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("shape, kh, kw, sy, sx, ph, pw", NON_SQUARE + [((2, 3, 7, 6), 3, 3, 1, 1, 2, 2)])
def test_col2im_is_the_adjoint_of_im2col(shape, kh, kw, sy, sx, ph, pw):
    rng = _rng()
    x = rng.standard_normal(shape)
    geometry = _geometry(shape, kh, kw, sy, sx, ph, pw)
    col = K.im2col(x, *geometry)
    gcol = rng.standard_normal(col.shape)
    lhs, rhs = (col * gcol).sum(), (x * K.col2im(gcol, *shape, *geometry)).sum()
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_col2im_is_deterministic():
    gcol = _rng().standard_normal((4 * 16, 8 * 7 * 7)).astype(np.float32)
    first = K.col2im(gcol, 8, 4, 14, 14, 4, 4, 2, 2, 1, 1, 7, 7)
    second = K.col2im(gcol, 8, 4, 14, 14, 4, 4, 2, 2, 1, 1, 7, 7)
    assert first.tobytes() == second.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5, 2)])
def test_batch_norm_kernels_match_reference(dtype, shape):
    rng = _rng()
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    x3 = x.reshape(shape[0], c, -1)
    m = x3.shape[0] * x3.shape[2]

    mean, var = K.batch_norm_stats(x3)
    assert mean.dtype == var.dtype == dtype
    # With momentum 1 the reference's new running stats are the batch mean and the unbiased var.
    _, ref_mean, ref_var = R.batch_norm(x, gamma, beta, np.zeros(c), np.zeros(c), True, momentum=1.0)
    np.testing.assert_allclose(mean, ref_mean, **TOL[dtype])
    np.testing.assert_allclose(var, ref_var * (m - 1) / m, **TOL[dtype])

    invstd = 1 / np.sqrt(var + dtype(1e-5))
    y3 = K.batch_norm_forward(x3, mean, invstd, gamma, beta)
    ref_y = R.batch_norm(x, gamma, beta, np.zeros(c), np.zeros(c), True)[0]
    assert y3.dtype == dtype
    np.testing.assert_allclose(y3.reshape(shape), ref_y, **TOL[dtype])

    gx3, ggamma, gbeta = K.batch_norm_backward(x3, gy.reshape(x3.shape), mean, invstd, gamma)
    for got, want in zip((gx3.reshape(shape), ggamma, gbeta), R.batch_norm_backward(x, gy, gamma)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)


def _exp(d):
    return d.exp()


def _sigmoid(d):
    return 1 / (1 + _exp(-d))


# Each kernel's formula once more, per element, in 40-digit decimal arithmetic straight from its
# definition (no stable rewriting needed: Decimal does not overflow at e^1000). numpy.tanh or
# log1p appear nowhere, so a kernel that shares a wrong NumPy expression with reference.py fails here.
EXACT = {
    "relu": lambda x: max(x, 0),
    "relu_backward": lambda y, gy: gy if y > 0 else 0,
    "leaky_relu": lambda x, slope: x if x > 0 else slope * x,
    "leaky_relu_backward": lambda x, gy, slope: gy if x > 0 else slope * gy,
    "tanh": lambda x: (_exp(2 * x) - 1) / (_exp(2 * x) + 1),
    "tanh_backward": lambda y, gy: gy * (1 - y * y),
    "sigmoid": _sigmoid,
    "sigmoid_backward": lambda y, gy: gy * y * (1 - y),
    "bce_with_logits": lambda x, t: (1 + _exp(x)).ln() - x * t,  # = -(t log s + (1 - t) log(1 - s))
    "bce_with_logits_backward": lambda x, t, scale: (_sigmoid(x) - t) * scale,
}


def _exact(name, args):
    """EXACT[name] applied element by element; array arguments broadcast, scalars passed as they are."""
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    out = np.empty(arrays[0].shape)
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        for i in np.ndindex(out.shape):
            values = [decimal.Decimal(float(a[i])) if isinstance(a, np.ndarray) else decimal.Decimal(repr(a))
                      for a in args]
            out[i] = float(EXACT[name](*values))
    return out


ELEMENTWISE = [  # (name in both modules, the arguments made from x and gy)
    ("relu", lambda x, gy: (x,)),
    ("relu_backward", lambda x, gy: (R.relu(x), gy)),
    ("leaky_relu", lambda x, gy: (x, 0.2)),
    ("leaky_relu_backward", lambda x, gy: (x, gy, 0.2)),
    ("tanh", lambda x, gy: (x,)),
    ("tanh_backward", lambda x, gy: (R.tanh(x), gy)),
    ("sigmoid", lambda x, gy: (x,)),
    ("sigmoid_backward", lambda x, gy: (R.sigmoid(x), gy)),
    ("bce_with_logits", lambda x, gy: (x, (gy > 0).astype(gy.dtype))),
    ("bce_with_logits_backward", lambda x, gy: (x, (gy > 0).astype(gy.dtype), 0.125)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, make_args", ELEMENTWISE)
def test_elementwise_kernels_match_reference(dtype, name, make_args):
    rng = _rng()
    x = (rng.standard_normal((3, 4, 5)) * 3).astype(dtype)
    x[np.abs(x) < 0.05] = 0.5  # off the kinks
    x[0, 0, :2] = [-1000, 1000]  # no overflow at the extremes
    gy = rng.standard_normal(x.shape).astype(dtype)
    args = make_args(x, gy)
    got = getattr(K, name)(*args)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_allclose(got, getattr(R, name)(*args), **TOL[dtype])
    np.testing.assert_allclose(got, _exact(name, args), rtol=TOL[dtype]["rtol"],
                               atol=1e-6 if dtype == np.float32 else 1e-14)
    assert np.isfinite(got).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_scales_the_kept_values(dtype):
    rng = _rng()
    x = rng.standard_normal((6, 50)).astype(dtype)
    u = rng.random(x.shape, dtype=dtype)
    y, mask = K.dropout(x, u, 0.25)
    assert y.dtype == mask.dtype == dtype
    np.testing.assert_array_equal(mask, np.where(u >= 0.25, dtype(1 / 0.75), 0))
    np.testing.assert_array_equal(y, x * mask)
    y, mask = K.dropout(np.array([3.0, -3.0, 6.0], dtype), np.array([0.1, 0.25, 0.9], dtype), 0.25)
    np.testing.assert_allclose(y, [0.0, -4.0, 8.0], rtol=1e-6)  # dropped below p; kept scaled by 1 / 0.75


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps, eps_root, scale", [(1e-8, 0.0, 1.0), (0.0, 1e-8, 1e-4)], ids=["pytorch", "root"])
def test_adam_update_matches_reference_over_three_steps(dtype, eps, eps_root, scale):
    # "root": openai/improved-gan's rule, on gradients ~1e-4 where its epsilon under the root matters
    rng = _rng()
    shapes = [(4, 3), (5,), (2, 3, 2, 2)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ms, vs = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    expected = [(p.astype(np.float64), np.zeros(p.shape), np.zeros(p.shape)) for p in params]
    hyper = {"lr": 0.01, "beta1": 0.5, "beta2": 0.999, "eps": eps, "weight_decay": 0.05 * scale,
             "eps_root": eps_root}
    for step in (1, 2, 3):
        grads = [(scale * rng.standard_normal(p.shape)).astype(dtype) for p in params]
        K.adam_update(params, grads, ms, vs, step, **hyper)
        expected = [R.adam_step(p, g.astype(np.float64), m, v, step, **hyper) for (p, m, v), g in zip(expected, grads)]
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for got, want in zip(zip(params, ms, vs), expected):
        for a, b in zip(got, want):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def test_adam_update_refuses_a_parameter_it_cannot_update_in_place():
    p = np.zeros((4, 4)).T[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        K.adam_update([p], [np.ones_like(p)], [np.zeros_like(p)], [np.zeros_like(p)], 1, 0.1, 0.9, 0.999, 1e-8, 0)


def test_loops_run_as_plain_python_without_the_jit():
    # The loops are debuggable with NUMBA_DISABLE_JIT=1: same results, no compiled code.
    script = (
        "import numpy as np\n"
        "from minigan import cpu_kernels as K, reference as R\n"
        "x = np.random.default_rng(0).standard_normal((2, 2, 5, 4))\n"
        "col = K.im2col(x, 3, 2, 2, 1, 1, 0, 3, 3)\n"
        "assert np.array_equal(col, R.im2col(x, 3, 2, 2, 1, 1, 0))\n"
        "assert np.allclose(K.col2im(col, 2, 2, 5, 4, 3, 2, 2, 1, 1, 0, 3, 3), R.col2im(col, x.shape, 3, 2, 2, 1, 1, 0))\n"
        "mean, var = K.batch_norm_stats(x.reshape(2, 2, -1))\n"
        "assert np.allclose(var, x.var(axis=(0, 2, 3)))\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", script], env=env, cwd=root, check=True, timeout=120)


@pytest.mark.parametrize("name, args", [("relu", ()), ("leaky_relu", (0.2,)), ("tanh", ()), ("sigmoid", ())])
def test_activations_let_nan_through(name, args):
    # The trainer detects a diverged run by a NaN loss: no activation may hide it.
    x = np.array([np.nan, -1.0, 1.0], dtype=np.float32)
    y = getattr(K, name)(x, *args)
    assert np.isnan(y[0]) and np.isfinite(y[1:]).all()


_FAULTS_PER_REUSE = """
import resource
import numpy as np
import minigan.cpu_kernels
for i in range(8):
    if i == 3:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step = [np.ones(4 << 20, dtype=np.float32) for _ in range(8)]  # a step's temporaries: 8 x 16 MiB
    del step
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_large_arrays_are_reused_without_page_faults():
    """Note [freed memory]: a step's 8 x 16 MiB temporaries, made again after a free, cost no new pages
    (glibc alone trims the heap's top after each free and maps those pages again)."""
    def faults(**malloc):
        env = {**{k: v for k, v in os.environ.items() if k != "MINIGAN_MALLOC"}, **malloc}
        return float(subprocess.run([sys.executable, "-c", _FAULTS_PER_REUSE], env=env, capture_output=True,
                                    text=True, check=True).stdout)

    assert faults() < 500
    assert faults(MINIGAN_MALLOC="system") > 2000  # 4,120 measured: the heap's top is trimmed and mapped again


def test_openblas_idle_threads_sleep_at_once_unless_the_user_chose():
    """Note [OpenBLAS's idle threads]: importing minigan before NumPy sets OPENBLAS_THREAD_TIMEOUT=4."""
    code = "import os, minigan, numpy; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    run = lambda env: subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,  # noqa: E731
                                     check=True).stdout.strip()
    assert run(env) == "4"
    assert run({**env, "OPENBLAS_THREAD_TIMEOUT": "10"}) == "10"


THIN = [  # x shape, W shape, padding (stride 1): Note [thin convolutions]
    ((2, 3, 7, 6), (1, 3, 3, 3), (1, 1)),
    ((3, 4, 9, 5), (2, 4, 3, 2), (0, 1)),
    ((1, 2, 6, 8), (1, 2, 5, 5), (2, 2)),
    ((2, 5, 4, 4), (2, 5, 1, 1), (0, 0)),
    ((2, 1, 5, 7), (1, 1, 4, 2), (2, 0)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, padding", THIN)
def test_thin_convolution_matches_reference_and_im2col(dtype, x_shape, w_shape, padding, monkeypatch):
    from minigan import Tensor
    from minigan import functional as F

    rng = _rng()
    x, W = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)

    def forward_backward():
        xs, Ws, bs = (Tensor(a, requires_grad=True) for a in (x, W, b))
        y = F.conv2d(xs, Ws, bs, 1, padding)
        gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        y.backward(Tensor(gy))
        return y.creator.thin, y.data, xs.grad, Ws.grad, bs.grad

    thin, y, gx, gW, gb = forward_backward()
    assert thin and y.dtype == gx.dtype == gW.dtype == dtype
    np.testing.assert_allclose(y, R.conv2d(x, W, b, 1, padding), **TOL[dtype])
    monkeypatch.setattr(K, "THIN_OUTPUT", 0)  # the same op through im2col and one GEMM
    by_gemm = forward_backward()
    assert not by_gemm[0]
    for got, want in zip((y, gx, gW, gb), by_gemm[1:]):
        np.testing.assert_allclose(got, want, **TOL[dtype])


def test_thin_convolution_is_deterministic():
    rng = _rng()
    x, W = rng.standard_normal((16, 8, 12, 12)).astype(np.float32), rng.standard_normal((1, 8, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((16, 1, 12, 12)).astype(np.float32)
    runs = []
    for _ in range(2):
        y, xp = K.conv2d_thin(x, W, 1, 1)
        runs.append((y, *K.conv2d_thin_backward(xp, gy, W, 1, 1)))
    for first, second in zip(*runs):
        np.testing.assert_array_equal(first, second)
