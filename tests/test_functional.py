"""Functional ops: forward vs reference.py on every array module, numerics, bad input."""

import numpy as np
import pytest

from minigan import MiniganError, Tensor, reference
from minigan import functional as F


def _t(xp, a, dtype=np.float32):
    return Tensor(xp.asarray(np.asarray(a, dtype=dtype)))


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), ((2, 1), (1, 0)), (3, 2)])
def test_conv2d_forward(xp, rng, stride, padding):
    x, W, b = rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    got = F.conv2d(_t(xp, x), _t(xp, W), _t(xp, b), stride, padding).numpy()
    np.testing.assert_allclose(got, reference.conv2d(x, W, b, stride, padding), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride,padding,output_padding", [(1, 0, 0), (2, 1, 0), (2, 1, 1), (3, 1, 2), ((2, 1), 0, (1, 0))])
def test_conv_transpose2d_forward(xp, rng, stride, padding, output_padding):
    x, W, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((3, 2, 3, 4)), rng.standard_normal(2)
    got = F.conv_transpose2d(_t(xp, x), _t(xp, W), _t(xp, b), stride, padding, output_padding).numpy()
    want = reference.conv_transpose2d(x, W, b, stride, padding, output_padding)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_conv_backward_skips_input_gradient_it_does_not_need(rng):
    x = Tensor(rng.standard_normal((2, 1, 6, 6)).astype(np.float32))  # images: no gradient wanted
    W = Tensor(rng.standard_normal((3, 1, 4, 4)).astype(np.float32), requires_grad=True)
    F.conv2d(x, W, None, 2, 1).sum().backward()
    assert x.grad is None and W.grad.shape == W.shape


@pytest.mark.parametrize("stride,padding", [(2, 1), (1, 1)])
def test_a_recomputed_col_gives_the_same_gradients_and_saves_the_input_not_col(rng, monkeypatch, stride, padding):
    """Note [recomputed cols]: above the size limit conv2d keeps x and runs im2col again in backward."""
    from minigan.functional import conv

    x0, W0 = rng.standard_normal((3, 4, 9, 9)).astype(np.float32), rng.standard_normal((5, 4, 4, 3)).astype(np.float32)

    def run():
        x, W = Tensor(x0, requires_grad=True), Tensor(W0, requires_grad=True)
        y = F.conv2d(x, W, None, stride, padding)
        saved = y.creator.saved[2]
        (y * y).sum().backward()
        return saved, x.grad, W.grad

    kept, gx, gW = run()
    monkeypatch.setattr(conv, "RECOMPUTED_COL_BYTES", 0)
    recomputed, gx2, gW2 = run()
    assert kept.ndim == 2 and recomputed.ndim == 4 and recomputed.shape == x0.shape
    np.testing.assert_array_equal(gx2, gx)
    np.testing.assert_array_equal(gW2, gW)


def test_output_padding_must_be_below_stride():
    x, W = Tensor(np.zeros((1, 2, 3, 3), np.float32)), Tensor(np.zeros((2, 2, 3, 3), np.float32))
    with pytest.raises(MiniganError, match="output_padding"):
        F.conv_transpose2d(x, W, None, 2, 0, 2)


def test_kernel_larger_than_input_is_a_clear_error():
    with pytest.raises(MiniganError, match="does not fit"):
        F.conv2d(Tensor(np.zeros((1, 1, 2, 2), np.float32)), Tensor(np.zeros((1, 1, 5, 5), np.float32)))


def test_linear_and_activations(xp, rng):
    x, W, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    np.testing.assert_allclose(F.linear(_t(xp, x), _t(xp, W), _t(xp, b)).numpy(), reference.linear(x, W, b),
                               rtol=1e-5, atol=1e-5)
    for op, ref in [(F.relu, reference.relu), (F.tanh, reference.tanh), (F.sigmoid, reference.sigmoid),
                    (lambda v: F.leaky_relu(v, 0.2), lambda v: reference.leaky_relu(v, 0.2))]:
        np.testing.assert_allclose(op(_t(xp, x)).numpy(), ref(x), rtol=1e-5, atol=1e-6)


def test_sigmoid_and_bce_do_not_overflow(xp):
    x = _t(xp, [[-1000.0], [-30.0], [0.0], [30.0], [1000.0]])
    y = F.sigmoid(x).numpy()
    assert np.all(np.isfinite(y)) and y[0, 0] == 0.0 and y[-1, 0] == 1.0
    loss = F.binary_cross_entropy_with_logits(x, _t(xp, np.ones((5, 1))))
    assert np.isfinite(loss.item())
    assert loss.item() == pytest.approx((1000 + 30 + np.log(2) + np.log1p(np.exp(-30))) / 5, rel=1e-5)


def test_bce_with_logits_matches_reference_and_scalar_target(xp, rng):
    x = rng.standard_normal((6, 1))
    got = F.binary_cross_entropy_with_logits(_t(xp, x), 1.0).item()
    assert got == pytest.approx(reference.bce_with_logits(x, np.ones_like(x)).mean(), rel=1e-5)


def test_cross_entropy_and_mse(xp, rng):
    x, labels = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    log_softmax = x - np.log(np.exp(x).sum(1, keepdims=True))
    want = -log_softmax[np.arange(5), labels].mean()
    assert F.cross_entropy(_t(xp, x), xp.asarray(labels)).item() == pytest.approx(want, rel=1e-5)
    t = rng.standard_normal((5, 4))
    assert F.mse_loss(_t(xp, x), _t(xp, t)).item() == pytest.approx(((x - t) ** 2).mean(), rel=1e-5)


def test_loss_target_of_the_wrong_shape_is_named():
    with pytest.raises(MiniganError, match=r"target of shape \(3,\).*\(4, 1\)"):
        F.binary_cross_entropy_with_logits(Tensor(np.zeros((4, 1), np.float32)), np.zeros(3))


def test_pooling_and_upsampling(xp, rng):
    x = rng.standard_normal((2, 3, 6, 6))
    np.testing.assert_allclose(F.avg_pool2d(_t(xp, x), 2).numpy(), reference.avg_pool2d(x, 2, 2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.upsample_nearest2d(_t(xp, x), 2).numpy(), reference.upsample_nearest2d(x, 2),
                               rtol=1e-6)


def test_embedding_lookup_and_repeated_index_gradient(xp, rng):
    W = Tensor(xp.asarray(rng.standard_normal((4, 3))), requires_grad=True)
    idx = xp.asarray(np.array([1, 1, 3]))
    y = F.embedding(idx, W)
    np.testing.assert_allclose(y.numpy(), W.numpy()[[1, 1, 3]])
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(W.grad.get() if hasattr(W.grad, "get") else W.grad)[:, 0], [0, 2, 0, 1])


def test_concat_split_gradient(xp, rng):
    a = Tensor(xp.asarray(rng.standard_normal((2, 3))), requires_grad=True)
    b = Tensor(xp.asarray(rng.standard_normal((2, 1))), requires_grad=True)
    y = F.concat([a, b], axis=1)
    assert y.shape == (2, 4)
    (y * 2.0).sum().backward()
    assert a.grad.shape == (2, 3) and float(b.grad.sum()) == pytest.approx(4.0)


def test_dropout_probability_out_of_range_is_refused():
    x = Tensor(np.ones((2, 2), np.float32))
    with pytest.raises(MiniganError, match=r"\[0, 1\)"):
        F.dropout(x, 1.0, True, np.random.default_rng(0))


def test_abs_forward_and_sign_gradient(xp, rng):
    a = rng.standard_normal((3, 4))
    x = Tensor(xp.asarray(a), requires_grad=True)
    y = F.abs(x)
    np.testing.assert_array_equal(y.numpy(), np.abs(a))
    gy = rng.standard_normal((3, 4))
    y.backward(xp.asarray(gy))
    np.testing.assert_array_equal(Tensor(x.grad).numpy(), gy * np.sign(a))
