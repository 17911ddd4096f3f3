"""Gradient penalties and weight clipping: hand-computed values, float64 gradients through them."""

import numpy as np
import pytest

from minigan import Tensor, nn
from minigan.gan import losses, penalties
from minigan.gradcheck import gradcheck


def linear_critic(w, b=0.5):
    """D(x) = <w, x> + b per image: its input gradient is w for every x."""
    def critic(x):
        return (x.reshape(x.shape[0], -1) * w.reshape(1, -1)).sum(axis=1, keepdims=True) + b
    return critic


def test_wasserstein_losses_by_hand():
    real, fake = Tensor(np.array([[1.0], [3.0]])), Tensor(np.array([[-1.0], [0.5]]))
    assert losses.get_loss("wasserstein").d_loss(real, fake).item() == pytest.approx(-0.25 - 2.0)
    assert losses.get_loss("wasserstein").g_loss(fake).item() == pytest.approx(0.25)


@pytest.mark.parametrize("kind", ["wgan-gp", "dragan"])
def test_unit_norm_penalties_of_a_linear_critic_by_hand(kind):
    rng = np.random.default_rng(0)
    w = Tensor(rng.standard_normal((1, 2, 2)), requires_grad=True)
    real, fake = rng.standard_normal((4, 1, 2, 2)), rng.standard_normal((4, 1, 2, 2))
    if kind == "wgan-gp":
        p = penalties.wgan_gp(linear_critic(w), real, fake, np.random.default_rng(1), weight=10.0)
    else:
        p = penalties.dragan(linear_critic(w), real, np.random.default_rng(1), weight=10.0)
    norm = np.linalg.norm(w.data)
    assert p.item() == pytest.approx(10.0 * (norm - 1) ** 2, rel=1e-9)  # g = w wherever x_hat lies
    p.backward()
    np.testing.assert_allclose(w.grad, 20.0 * (norm - 1) * w.data / norm, rtol=1e-7)


def test_r1_of_a_linear_critic_by_hand():
    w = Tensor(np.array([[3.0, 4.0]]), requires_grad=True)
    p = penalties.zero_centred(linear_critic(w), np.ones((5, 2)), weight=2.0)
    assert p.item() == pytest.approx(0.5 * 2.0 * 25.0)  # gamma/2 ||w||^2
    p.backward()
    np.testing.assert_allclose(w.grad, 2.0 * w.data)  # gamma w


def test_wgan_gp_points_lie_between_real_and_fake():
    seen = []

    def critic(x):
        seen.append(x.data.copy())
        return x.reshape(x.shape[0], -1).sum(axis=1, keepdims=True)

    real, fake = np.zeros((64, 1, 1, 1)), np.ones((64, 1, 1, 1))
    penalties.wgan_gp(critic, real, fake, np.random.default_rng(0))
    x_hat = seen[0].ravel()
    assert 0 <= x_hat.min() < 0.1 and 0.9 < x_hat.max() <= 1  # e ~ U(0, 1), one per image
    assert len(np.unique(x_hat)) == 64


def conv_critic(rng):
    nn.init.manual_seed(int(rng.integers(1 << 31)))
    return nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * 3 * 3, 1)).double()


@pytest.mark.parametrize("kind", ["wgan-gp", "dragan", "r1", "r2"])
def test_penalty_gradient_matches_finite_differences(kind):
    rng = np.random.default_rng(3)
    critic = conv_critic(rng)
    real, fake = rng.standard_normal((3, 1, 5, 5)), rng.standard_normal((3, 1, 5, 5))

    def penalty():
        draw = np.random.default_rng(7)  # reseeded: every call perturbs the same way
        if kind == "wgan-gp":
            return penalties.wgan_gp(critic, real, fake, draw)
        if kind == "dragan":
            return penalties.dragan(critic, real, draw)
        return penalties.zero_centred(critic, real if kind == "r1" else fake)

    weights = [critic[0].weight, critic[3].weight]  # the biases do not move D's input gradient
    result = gradcheck(penalty, weights, name=kind)
    assert result.ok, result


def test_clip_weights_clamps_every_parameter():
    layer = nn.Linear(4, 3).double()
    layer.weight.data[...] = np.linspace(-1, 1, 12).reshape(3, 4)
    penalties.clip_weights(layer, 0.1)
    assert np.abs(layer.weight.data).max() == pytest.approx(0.1)
    assert np.abs(layer.bias.data).max() <= 0.1
    assert len(np.unique(layer.weight.data)) > 2  # the middle values were left alone
