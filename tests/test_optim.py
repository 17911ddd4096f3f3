"""SGD and Adam against hand-computed updates; state round trip; bad input."""

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
