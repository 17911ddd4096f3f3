"""Tensor and the backward walk: accumulation, ordering, deep graphs, errors."""

import numpy as np
import pytest

from minigan import MiniganError, Tensor, no_grad


def test_gradient_accumulates_over_two_paths():
    x = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    y = (x * x + x * 3.0).sum()  # dy/dx = 2x + 3
    y.backward()
    np.testing.assert_allclose(x.grad, [7.0, 9.0])


def test_diamond_graph_visits_shared_node_once():
    x = Tensor(np.array(3.0), requires_grad=True)
    a = x * 2.0
    y = a * a + a  # dy/da = 2a + 1 = 13, da/dx = 2
    y.backward()
    assert x.grad == pytest.approx(26.0)


def test_backward_twice_accumulates_on_leaves():
    x = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0])


def test_deep_graph_has_no_recursion_limit():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.backward()
    assert x.grad == pytest.approx(1.0)


def test_no_grad_records_nothing():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = x * 2.0
    assert y.creator is None and not y.requires_grad


def test_detach_cuts_the_graph():
    x = Tensor(np.ones(3), requires_grad=True)
    y = (x * 2.0).detach()
    z = (y * x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])  # only the path through x itself


def test_non_scalar_backward_needs_a_gradient():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(MiniganError, match=r"shape \(2, 3\) needs grad="):
        (x * 2.0).backward()


def test_second_backward_on_a_freed_graph_is_refused():
    x = Tensor(np.ones(3), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(MiniganError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = Tensor(np.ones(3), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0, 4.0, 4.0])


def _kept_loss_graph(backward, p=0.0):
    """A loss kept after backward (as a training loop keeps it to log), and weak references to the
    arrays its graph made: activations, a batch norm + ReLU output, dropout's uniforms, a constant."""
    import weakref

    from minigan import functional as F

    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((8, 3, 4, 4)).astype(np.float32))
    W = Tensor(rng.standard_normal((5, 3, 3, 3)).astype(np.float32), requires_grad=True)
    gamma, beta = (Tensor(np.full(5, v, np.float32), requires_grad=True) for v in (1.0, 0.0))
    h = F.conv2d(x, W, padding=1)
    a = F.batch_norm(h, gamma, beta, activation="relu")
    noise = Tensor(rng.standard_normal(a.shape).astype(np.float32))
    d = F.dropout(a + noise, p, rng=rng) if p else a + noise
    loss = (d * d).mean()
    refs = [weakref.ref(arr) for arr in (h.data, a.data, noise.data)]
    if p:
        refs.append(weakref.ref(d.creator.u))
    del x, h, a, noise, d
    backward(loss)
    return loss, W, refs


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_backward_frees_the_arrays_of_the_graph_it_walked(p):
    """Note [freed graph]: a kept loss does not keep a step's activations alive."""
    loss, W, refs = _kept_loss_graph(lambda loss: loss.backward(), p)
    assert W.grad is not None and np.isfinite(W.grad).all()
    assert [r() is None for r in refs] == [True] * len(refs)
    with pytest.raises(MiniganError, match="already freed"):  # its shape is still there to say so
        loss.backward()
    import minigan

    with pytest.raises(MiniganError, match="already freed"):
        minigan.grad(loss, W)


def test_retain_graph_keeps_the_arrays_and_frees_them_on_the_last_backward():
    loss, W, refs = _kept_loss_graph(lambda loss: loss.backward(retain_graph=True))
    assert all(r() is not None for r in refs)
    first = W.grad.copy()
    loss.backward()
    np.testing.assert_allclose(W.grad, 2 * first, rtol=1e-6)
    assert all(r() is None for r in refs)


def test_operators_and_reflected_operators():
    x = Tensor(np.array([1.0, 2.0, 4.0]), requires_grad=True)
    y = (2.0 - x) * (1.0 / x) + x**2 - (-x) + x / 2.0
    expected = (2.0 - x.data) / x.data + x.data**2 + x.data + x.data / 2.0
    np.testing.assert_allclose(y.data, expected)
    y.sum().backward()
    # d/dx [2/x - 1 + x^2 + x + x/2] = -2/x^2 + 2x + 1.5
    np.testing.assert_allclose(x.grad, -2.0 / x.data**2 + 2.0 * x.data + 1.5)


def test_python_scalars_keep_float32():
    x = Tensor(np.ones(3, np.float32))
    assert (x * 2.5 + 1).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32


def test_matmul_and_indexing_gradients():
    W = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x = Tensor(np.ones((3, 1)))
    y = (W @ x)[1]  # row 1 of W summed
    y.sum().backward()
    np.testing.assert_allclose(W.grad, [[0, 0, 0], [1, 1, 1]])


def test_mean_and_reshape_and_transpose():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x.T.reshape(6).mean()
    y.backward()
    np.testing.assert_allclose(x.grad, np.full((2, 3), 1 / 6))
