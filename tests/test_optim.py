"""SGD, Adam and RMSprop against hand-computed updates; state round trip; bad input."""

import numpy as np
import pytest

from minigan import MiniganError, nn, optim


def _param(values):
    return nn.Parameter(np.array(values, dtype=np.float64))


def test_sgd_momentum_nesterov_weight_decay_by_hand():
    p = _param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.5)
    grads = [2.0, -1.0]
    expected, buf, value = [], 0.0, 1.0
    for i, g in enumerate(grads):
        g = g + 0.5 * value
        buf = g if i == 0 else 0.9 * buf + g
        value -= 0.1 * (g + 0.9 * buf)
        expected.append(value)
    for g, want in zip(grads, expected):
        p.grad = np.array([g])
        opt.step()
        assert p.data[0] == pytest.approx(want)


def test_adam_first_steps_by_hand():
    p = _param([0.5, -0.5])
    opt = optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    p.grad = np.array([0.3, -2.0])
    opt.step()
    # Step 1 with zero moments: m_hat = g, v_hat = g^2, so the update is lr * sign(g) (up to eps).
    np.testing.assert_allclose(p.data, [0.49, -0.49], atol=1e-7)
    p.grad = np.array([0.1, 0.1])
    opt.step()
    m = 0.9 * 0.1 * np.array([0.3, -2.0]) + 0.1 * 0.1
    v = 0.999 * 0.001 * np.array([0.09, 4.0]) + 0.001 * 0.01
    update = 0.01 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(p.data, np.array([0.49, -0.49]) - update, rtol=1e-6)


def test_adam_with_eps_under_the_root_is_improved_gans_rule():
    # nn.adam_updates of openai/improved-gan: p -= lr m_hat / sqrt(v_hat + 1e-8). A gradient of 1e-4
    # moves its weight lr / sqrt(2) on the first step, one of 1 still lr; PyTorch's rule moves both lr.
    p = _param([0.5, 0.5])
    opt = optim.Adam([p], lr=0.01, betas=(0.5, 0.999), eps=0.0, eps_root=1e-8)
    p.grad = np.array([1e-4, 1.0])
    opt.step()
    np.testing.assert_allclose(p.data, [0.5 - 0.01 / np.sqrt(2), 0.49], rtol=1e-9)
    p.grad = np.array([3e-5, -0.5])
    opt.step()
    m = 0.5 * 0.5 * np.array([1e-4, 1.0]) + 0.5 * np.array([3e-5, -0.5])
    v = 0.999 * 0.001 * np.array([1e-8, 1.0]) + 0.001 * np.array([9e-10, 0.25])
    update = 0.01 * (m / (1 - 0.5**2)) / np.sqrt(v / (1 - 0.999**2) + 1e-8)
    np.testing.assert_allclose(p.data, np.array([0.5 - 0.01 / np.sqrt(2), 0.49]) - update, rtol=1e-9)


@pytest.mark.parametrize("eps, eps_root", [(0.0, 0.0), (-1e-8, 0.0), (1e-8, -1.0)])
def test_adam_refuses_epsilons_that_could_divide_by_zero(eps, eps_root):
    with pytest.raises(MiniganError, match="eps >= 0 and eps_root >= 0, not both 0"):
        optim.Adam([_param([1.0])], eps=eps, eps_root=eps_root)


def test_adam_state_round_trip_continues_identically():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) for _ in range(4)]
    a, b = _param([1.0, 2.0, 3.0]), _param([1.0, 2.0, 3.0])
    opt_a = optim.Adam([a], lr=0.1, weight_decay=0.01)
    for g in grads[:2]:
        a.grad = g
        opt_a.step()
    b.data = a.data.copy()
    opt_b = optim.Adam([b], lr=0.1, weight_decay=0.01)
    opt_b.load_state_dict({k: v.copy() for k, v in opt_a.state_dict().items()})
    for g in grads[2:]:
        a.grad, b.grad = g, g
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_optimizer_without_parameters_says_so():
    with pytest.raises(MiniganError, match="no parameters"):
        optim.Adam([])


def test_load_state_of_another_shape_names_the_slot():
    opt = optim.Adam([_param([1.0, 2.0])])
    state = optim.Adam([_param([1.0])]).state_dict()
    with pytest.raises(MiniganError, match="exp_avg.0"):
        opt.load_state_dict(state)


def test_zero_grad_clears():
    p = _param([1.0])
    p.grad = np.array([1.0])
    optim.SGD([p]).zero_grad()
    assert p.grad is None


def _rmsprop_by_hand(p, grads, lr, alpha, eps, weight_decay, momentum, centered):
    """PyTorch's RMSprop written out for one parameter (torch.optim.RMSprop's documented algorithm)."""
    square_avg, grad_avg, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g**2
        if centered:
            grad_avg = alpha * grad_avg + (1 - alpha) * g
            avg = np.sqrt(square_avg - grad_avg**2) + eps
        else:
            avg = np.sqrt(square_avg) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_rmsprop_matches_pytorchs_algorithm(momentum, centered, weight_decay):
    rng = np.random.default_rng(0)
    start = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(4)]
    p = _param(start.copy())
    opt = optim.RMSprop([p], lr=0.05, alpha=0.9, eps=1e-6, weight_decay=weight_decay, momentum=momentum,
                        centered=centered)
    for g in grads:
        p.grad = g
        opt.step()
    want = _rmsprop_by_hand(start, grads, 0.05, 0.9, 1e-6, weight_decay, momentum, centered)
    np.testing.assert_allclose(p.data, want, rtol=1e-12, atol=1e-14)


def test_rmsprop_first_step_by_hand():
    # Defaults, square_avg = 0.01 g^2 after one step: p -= lr g / (0.1 |g| + eps) = lr * 10 * sign(g).
    p = _param([1.0, -1.0])
    p.grad = np.array([0.5, -3.0])
    optim.RMSprop([p]).step()
    np.testing.assert_allclose(p.data, [1.0 - 0.1, -1.0 + 0.1], rtol=1e-6)


def test_rmsprop_state_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(3) for _ in range(5)]
    options = dict(lr=0.01, weight_decay=0.01, momentum=0.5, centered=True)
    a = _param([1.0, 2.0, 3.0])
    opt_a = optim.RMSprop([a], **options)
    for g in grads[:2]:
        a.grad = g
        opt_a.step()
    state = opt_a.state_dict()
    assert sorted(state) == ["grad_avg.0", "momentum_buffer.0", "square_avg.0", "step"]
    b = _param(a.data.copy())
    opt_b = optim.RMSprop([b], **options)
    opt_b.load_state_dict({k: v.copy() for k, v in state.items()})
    assert opt_b.step_count == 2
    for g in grads[2:]:
        a.grad, b.grad = g, g
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_rmsprop_plain_state_and_refusals():
    assert sorted(optim.RMSprop([_param([1.0])]).state_dict()) == ["square_avg.0", "step"]
    with pytest.raises(MiniganError, match="momentum must be >= 0"):
        optim.RMSprop([_param([1.0])], momentum=-0.1)
    with pytest.raises(MiniganError, match="alpha must be >= 0"):
        optim.RMSprop([_param([1.0])], alpha=-1)


def test_rmsprop_on_each_array_module_matches_numpy(xp):
    rng = np.random.default_rng(2)
    start, grads = rng.standard_normal((3, 4)).astype(np.float32), [rng.standard_normal((3, 4)) for _ in range(3)]
    p = nn.Parameter(xp.array(start))  # a copy: the step writes in place
    opt = optim.RMSprop([p], lr=0.01, momentum=0.9, centered=True)
    for g in grads:
        p.grad = xp.asarray(g.astype(np.float32))
        opt.step()
    want = _rmsprop_by_hand(start.astype(np.float64), grads, 0.01, 0.99, 1e-8, 0.0, 0.9, True)
    np.testing.assert_allclose(p.numpy(), want, rtol=1e-4, atol=1e-5)
