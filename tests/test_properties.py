"""Property tests: conv2d, conv_transpose2d and batch norm against reference.py over random geometry.

Hypothesis draws shapes, kernel sizes, strides, paddings (and output_padding below the stride for
the transposed convolution) and a seed for the values; every draw is compared, in float64, with the
loop-level reference, its output shape with the size formula written out here, and im2col with
col2im through the adjoint identity <im2col x, y> = <x, col2im y>. ``derandomize=True``: the same
examples on every run and every machine, so a failure in CI is a failure here.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan import Tensor, cpu_kernels, reference
from minigan import functional as F

CHECK = settings(derandomize=True, deadline=None, max_examples=150, database=None,
                 suppress_health_check=[HealthCheck.too_slow])
TIGHT = {"rtol": 1e-10, "atol": 1e-12}
seeds = st.integers(0, 2**32 - 1)


def _values(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


@st.composite
def conv_geometry(draw):
    """(x shape, kh, kw, sy, sx, ph, pw) with an output of at least one pixel."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h, w = draw(st.integers(max(1, kh - 2 * ph), 7)), draw(st.integers(max(1, kw - 2 * pw), 7))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w)
    return shape, kh, kw, draw(st.integers(1, 3)), draw(st.integers(1, 3)), ph, pw


@st.composite
def conv_transpose_geometry(draw):
    """(x shape, kh, kw, sy, sx, ph, pw, oph, opw): output_padding < stride, output >= one pixel."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sy, sx = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    oph, opw = draw(st.integers(0, sy - 1)), draw(st.integers(0, sx - 1))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    # the padding may crop at most what the rest of the output leaves (one pixel stays)
    ph = draw(st.integers(0, min(2, ((h - 1) * sy + kh + oph - 1) // 2)))
    pw = draw(st.integers(0, min(2, ((w - 1) * sx + kw + opw - 1) // 2)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w)
    return shape, kh, kw, sy, sx, ph, pw, oph, opw


@CHECK
@given(conv_geometry(), st.integers(1, 3), st.booleans(), seeds)
def test_conv2d_matches_reference(geometry, oc, bias, seed):
    (n, c, h, w), kh, kw, sy, sx, ph, pw = geometry
    x, W, b = _values(seed, (n, c, h, w), (oc, c, kh, kw), (oc,))
    b = b if bias else None
    y = F.conv2d(Tensor(x), Tensor(W), None if b is None else Tensor(b), (sy, sx), (ph, pw)).data
    assert y.shape == (n, oc, (h + 2 * ph - kh) // sy + 1, (w + 2 * pw - kw) // sx + 1)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, reference.conv2d(x, W, b, (sy, sx), (ph, pw)), **TIGHT)


@CHECK
@given(conv_transpose_geometry(), st.integers(1, 3), st.booleans(), seeds)
def test_conv_transpose2d_matches_reference(geometry, oc, bias, seed):
    (n, c, h, w), kh, kw, sy, sx, ph, pw, oph, opw = geometry
    x, W, b = _values(seed, (n, c, h, w), (c, oc, kh, kw), (oc,))
    b = b if bias else None
    y = F.conv_transpose2d(Tensor(x), Tensor(W), None if b is None else Tensor(b), (sy, sx), (ph, pw),
                           (oph, opw)).data
    assert y.shape == (n, oc, (h - 1) * sy - 2 * ph + kh + oph, (w - 1) * sx - 2 * pw + kw + opw)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, reference.conv_transpose2d(x, W, b, (sy, sx), (ph, pw), (oph, opw)), **TIGHT)


@CHECK
@given(conv_geometry(), seeds)
def test_im2col_and_col2im_are_adjoint(geometry, seed):
    shape, kh, kw, sy, sx, ph, pw = geometry
    out_h, out_w = (shape[2] + 2 * ph - kh) // sy + 1, (shape[3] + 2 * pw - kw) // sx + 1
    x, y = _values(seed, shape, (shape[1] * kh * kw, shape[0] * out_h * out_w))
    for im2col, col2im in ((lambda a: cpu_kernels.im2col(a, kh, kw, sy, sx, ph, pw, out_h, out_w),
                            lambda col: cpu_kernels.col2im(col, *shape, kh, kw, sy, sx, ph, pw, out_h, out_w)),
                           (lambda a: reference.im2col(a, kh, kw, sy, sx, ph, pw),
                            lambda col: reference.col2im(col, shape, kh, kw, sy, sx, ph, pw))):
        col, gx = im2col(x), col2im(y)
        assert col.shape == y.shape and gx.shape == shape
        lhs, rhs = np.vdot(col, y), np.vdot(x, gx)
        assert abs(lhs - rhs) <= 1e-10 * (1 + np.abs(col * y).sum())
    np.testing.assert_array_equal(cpu_kernels.im2col(x, kh, kw, sy, sx, ph, pw, out_h, out_w),
                                  reference.im2col(x, kh, kw, sy, sx, ph, pw))


@st.composite
def batch_norm_case(draw):
    """(x shape, momentum): (n, c) or (n, c, h, w) with at least two values per channel."""
    c = draw(st.integers(1, 4))
    if draw(st.booleans()):
        shape = (draw(st.integers(2, 8)), c)
    else:
        shape = (draw(st.integers(1, 3)), c, draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        if shape[0] * shape[2] * shape[3] < 2:
            shape = (2,) + shape[1:]
    return shape, draw(st.floats(0.01, 1.0))


@CHECK
@given(batch_norm_case(), st.booleans(), seeds)
def test_batch_norm_matches_reference_in_train_and_eval_mode(case, training, seed):
    shape, momentum = case
    c = shape[1]
    x, gamma, beta, running_mean, log_var = _values(seed, shape, (c,), (c,), (c,), (c,))
    x = 3 * x + 2  # off zero mean and unit variance, so normalising does something
    running_var = np.exp(log_var)
    mean_in, var_in = running_mean.copy(), running_var.copy()  # updated in place by F.batch_norm
    y = F.batch_norm(Tensor(x), Tensor(gamma), Tensor(beta), mean_in, var_in, training, momentum).data
    want, want_mean, want_var = reference.batch_norm(x, gamma, beta, running_mean, running_var, training, momentum)
    assert y.shape == shape and y.dtype == np.float64
    np.testing.assert_allclose(y, want, **TIGHT)
    np.testing.assert_allclose(mean_in, want_mean, **TIGHT)
    np.testing.assert_allclose(var_in, want_var, **TIGHT)
    if not training:  # eval mode reads the running statistics and leaves them alone
        np.testing.assert_array_equal(mean_in, running_mean)
        np.testing.assert_array_equal(var_in, running_var)
