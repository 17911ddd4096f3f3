"""reference.py against independent facts: einsum, adjoints, PyTorch's shapes, finite differences,
hand-computed optimizer steps. Everything else in minigan is tested against reference.py."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from minigan import reference as R

CONV_CASES = [  # (x shape, oc, (kh, kw), stride, padding)
    ((2, 3, 7, 6), 4, (3, 3), 1, 0),
    ((2, 3, 7, 6), 4, (3, 3), 2, 1),
    ((1, 2, 9, 8), 3, (4, 4), 2, 1),
    ((2, 2, 8, 7), 3, (2, 3), (2, 1), (0, 2)),
    ((1, 3, 5, 5), 2, (1, 1), 3, 2),
]


def _rng():
    return np.random.default_rng(0)


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def _dot(a, b):
    return float((a * b).sum())


def _numerical_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every element of x (changed in place)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = f()
        x[idx] = old - eps
        down = f()
        x[idx] = old
        g[idx] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("shape, oc, k, stride, padding", CONV_CASES)
def test_conv2d_matches_einsum_on_sliding_windows(shape, oc, k, stride, padding):
    rng = _rng()
    x = rng.standard_normal(shape)
    W = rng.standard_normal((oc, shape[1], *k))
    b = rng.standard_normal(oc)
    (sy, sx), (ph, pw) = _pair(stride), _pair(padding)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(xpad, k, axis=(2, 3))[:, :, ::sy, ::sx]  # (n, c, out_h, out_w, kh, kw)
    expected = np.einsum("ncyxij,ocij->noyx", windows, W) + b[None, :, None, None]
    np.testing.assert_allclose(R.conv2d(x, W, b, stride, padding), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, oc, k, stride, padding", CONV_CASES)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(shape, oc, k, stride, padding):
    rng = _rng()
    _, c, h, w = shape
    (sy, sx), (ph, pw) = _pair(stride), _pair(padding)
    W = rng.standard_normal((oc, c, *k))
    x = rng.standard_normal(shape)
    y = R.conv2d(x, W, None, stride, padding)
    gy = rng.standard_normal(y.shape)
    # output_padding recovers the rows/columns that conv2d's floor division dropped
    op = ((h + 2 * ph - k[0]) % sy, (w + 2 * pw - k[1]) % sx)
    gx = R.conv_transpose2d(gy, W, None, stride, padding, op)
    assert gx.shape == x.shape
    assert _dot(y, gy) == pytest.approx(_dot(x, gx), rel=1e-12)


@pytest.mark.parametrize(
    "c_in, c_out, size, k, s, p, op, expected",
    [
        (128, 64, 7, 4, 2, 1, 0, 14),  # ConvTranspose2d(128, 64, 4, 2, 1): DCGAN's 7 -> 14
        (8, 4, 1, 4, 1, 0, 0, 4),  # ConvTranspose2d(8, 4, 4, 1, 0): the 1x1 noise -> 4x4
        (4, 2, 4, 3, 2, 1, 1, 8),  # ConvTranspose2d(4, 2, 3, 2, 1, output_padding=1): 4 -> 8
        (4, 2, 5, 3, 2, 1, 0, 9),  # the same without output_padding: 5 -> 9
    ],
)
def test_conv_transpose2d_output_shapes_match_pytorch(c_in, c_out, size, k, s, p, op, expected):
    x = np.ones((1, c_in, size, size))
    y = R.conv_transpose2d(x, np.ones((c_in, c_out, k, k)), np.zeros(c_out), s, p, op)
    assert y.shape == (1, c_out, expected, expected)


@pytest.mark.parametrize(
    "shape, oc, k, s, p, expected",
    [
        ((1, 1, 28, 28), 4, (4, 4), 2, 1, (14, 14)),  # Conv2d(1, 64, 4, 2, 1) on MNIST
        ((1, 2, 28, 28), 3, (5, 5), 2, 0, (12, 12)),  # floor((28 - 5) / 2) + 1
        ((1, 3, 10, 12), 8, (3, 5), (2, 1), (1, 2), (5, 12)),  # non-square kernel, stride, padding
    ],
)
def test_conv2d_output_shapes_match_pytorch(shape, oc, k, s, p, expected):
    y = R.conv2d(np.ones(shape), np.ones((oc, shape[1], *k)), None, s, p)
    assert y.shape == (shape[0], oc, *expected)


@pytest.mark.parametrize("shape, oc, k, stride, padding", CONV_CASES)
def test_im2col_gemm_is_conv2d_and_col2im_is_its_adjoint(shape, oc, k, stride, padding):
    rng = _rng()
    (sy, sx), (ph, pw) = _pair(stride), _pair(padding)
    x = rng.standard_normal(shape)
    W = rng.standard_normal((oc, shape[1], *k))
    col = R.im2col(x, *k, sy, sx, ph, pw)
    y = R.conv2d(x, W, None, stride, padding)
    y2 = (W.reshape(oc, -1) @ col).reshape(oc, shape[0], *y.shape[2:]).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(y2, y, rtol=1e-12, atol=1e-12)
    gcol = rng.standard_normal(col.shape)
    assert _dot(col, gcol) == pytest.approx(_dot(x, R.col2im(gcol, shape, *k, sy, sx, ph, pw)), rel=1e-12)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 3)])
def test_batch_norm_train_mode_normalises_and_updates_unbiased_running_stats(shape):
    rng = _rng()
    x = rng.standard_normal(shape) * 3 + 1
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    mean0, var0 = rng.standard_normal(3), rng.random(3) + 0.5
    y, mean1, var1 = R.batch_norm(x, gamma, beta, mean0, var0, training=True, momentum=0.1)
    axes = (0,) + tuple(range(2, x.ndim))
    np.testing.assert_allclose(mean1, 0.9 * mean0 + 0.1 * x.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(var1, 0.9 * var0 + 0.1 * x.var(axis=axes, ddof=1), rtol=1e-12)
    xhat = (y - beta.reshape(1, 3, *[1] * (x.ndim - 2))) / gamma.reshape(1, 3, *[1] * (x.ndim - 2))
    np.testing.assert_allclose(xhat.mean(axis=axes), 0, atol=1e-12)
    np.testing.assert_allclose(xhat.var(axis=axes), x.var(axis=axes) / (x.var(axis=axes) + 1e-5), rtol=1e-10)
    untracked = R.batch_norm(x, gamma, beta, None, None, training=True)
    np.testing.assert_array_equal(untracked[0], y)
    assert untracked[1] is None and untracked[2] is None


def test_batch_norm_eval_mode_uses_running_stats_and_keeps_them():
    rng = _rng()
    x = rng.standard_normal((4, 3, 2, 2))
    gamma, beta, mean, var = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3), rng.random(3)
    y, mean1, var1 = R.batch_norm(x, gamma, beta, mean, var, training=False)
    c = (1, 3, 1, 1)
    expected = gamma.reshape(c) * (x - mean.reshape(c)) / np.sqrt(var.reshape(c) + 1e-5) + beta.reshape(c)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    np.testing.assert_array_equal(mean1, mean)
    np.testing.assert_array_equal(var1, var)


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)])
def test_batch_norm_backward_matches_finite_differences(shape):
    rng = _rng()
    c = shape[1]
    x, gy = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma, beta, zeros = rng.standard_normal(c), rng.standard_normal(c), np.zeros(c)

    def loss():
        return (R.batch_norm(x, gamma, beta, zeros, zeros, training=True)[0] * gy).sum()

    gx, ggamma, gbeta = R.batch_norm_backward(x, gy, gamma)
    np.testing.assert_allclose(gx, _numerical_grad(loss, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ggamma, _numerical_grad(loss, gamma), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gbeta, _numerical_grad(loss, beta), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "forward, backward, from_output",
    [
        (R.tanh, R.tanh_backward, True),
        (R.sigmoid, R.sigmoid_backward, True),
        (R.relu, R.relu_backward, True),
        (lambda x: R.leaky_relu(x, 0.2), lambda x, gy: R.leaky_relu_backward(x, gy, 0.2), False),
    ],
)
def test_activation_backward_matches_finite_differences(forward, backward, from_output):
    rng = _rng()
    x = rng.standard_normal((3, 4))
    x[np.abs(x) < 0.05] += 0.1  # off the kink of relu / leaky_relu
    gy = rng.standard_normal(x.shape)
    gx = backward(forward(x) if from_output else x, gy)
    np.testing.assert_allclose(gx, _numerical_grad(lambda: (forward(x) * gy).sum(), x), rtol=1e-6, atol=1e-9)


def test_sigmoid_and_bce_with_logits_stay_finite_for_huge_logits():
    x = np.array([-1000.0, -1000.0, 1000.0, 1000.0])
    t = np.array([0.0, 1.0, 0.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow on the way either
        np.testing.assert_array_equal(R.sigmoid(x), [0, 0, 1, 1])
        np.testing.assert_allclose(R.bce_with_logits(x, t), [0, 1000, 1000, 0], atol=1e-12)
        np.testing.assert_allclose(R.bce_with_logits_backward(x, t, 0.5), [0, -0.5, 0.5, 0], atol=1e-12)


def test_bce_with_logits_equals_the_naive_formula_and_its_gradient():
    rng = _rng()
    x, t = rng.uniform(-8, 8, 20), rng.random(20)
    p = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(R.bce_with_logits(x, t), -(t * np.log(p) + (1 - t) * np.log(1 - p)), rtol=1e-10)
    numerical = _numerical_grad(lambda: 0.25 * R.bce_with_logits(x, t).sum(), x)
    np.testing.assert_allclose(R.bce_with_logits_backward(x, t, 0.25), numerical, rtol=1e-6, atol=1e-10)


def test_avg_pool2d_and_upsample_nearest2d_on_blocks():
    x = _rng().standard_normal((2, 3, 4, 6))
    blocks = x.reshape(2, 3, 2, 2, 3, 2)  # 2x2 blocks of a 4x6 image
    np.testing.assert_allclose(R.avg_pool2d(x, 2), blocks.mean(axis=(3, 5)), rtol=1e-12)
    np.testing.assert_array_equal(R.upsample_nearest2d(x, 3), np.kron(x, np.ones((3, 3))))
    padded = R.avg_pool2d(np.ones((1, 1, 2, 2)), 2, 1, 1)  # zeros of the padding count
    np.testing.assert_allclose(padded[0, 0], [[0.25, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 0.25]])


def test_linear():
    rng = _rng()
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    np.testing.assert_allclose(R.linear(x, W, b), np.einsum("ni,oi->no", x, W) + b, rtol=1e-12)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_first_step_moves_each_weight_by_lr_against_the_gradient_sign(weight_decay):
    p = np.array([1.0, -2.0, 0.5])
    g = np.array([0.3, -4.0, 2.0])
    g_eff = g + weight_decay * p
    p1, m1, v1 = R.adam_step(p, g, np.zeros(3), np.zeros(3), 1, 0.01, 0.9, 0.999, 1e-8, weight_decay)
    np.testing.assert_allclose(m1, 0.1 * g_eff, rtol=1e-12)
    np.testing.assert_allclose(v1, 0.001 * g_eff**2, rtol=1e-12)
    # m / (1 - b1) = g and sqrt(v / (1 - b2)) = |g|: the first step is lr * sign(g), up to eps
    np.testing.assert_allclose(p1, p - 0.01 * np.sign(g_eff), rtol=1e-7)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"momentum": 0.0}, [0.95, 0.975, 0.875]),
        ({"momentum": 0.9, "weight_decay": 0.01}, [0.949, 0.927151, 0.806559749]),
        ({"momentum": 0.9, "nesterov": True}, [0.905, 0.912, 0.7058]),
        ({"momentum": 0.9, "dampening": 0.5}, [0.95, 0.9175, 0.83825]),  # no dampening on the first step
    ],
)
def test_sgd_step_matches_hand_computed_steps(kwargs, expected):
    p, buf = np.array([1.0]), None
    for g, want in zip([0.5, -0.25, 1.0], expected):
        p, buf = R.sgd_step(p, np.array([g]), buf, 0.1, **kwargs)
        assert p[0] == pytest.approx(want, rel=1e-12)
    assert (buf is None) == (kwargs["momentum"] == 0)
