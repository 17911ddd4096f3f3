"""The GAN objectives against their formulas, their stability, and the registry."""

import numpy as np
import pytest

from minigan import Tensor
from minigan.errors import MiniganError
from minigan.gan import losses


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return rng.normal(0, 2, (16, 1)), rng.normal(0, 2, (16, 1))


def test_losses_match_their_equations(logits):
    real, fake = logits
    d = losses.bce_d_loss(Tensor(real), Tensor(fake)).item()
    np.testing.assert_allclose(d, -log_sigmoid(real).mean() - log_sigmoid(-fake).mean(), rtol=1e-6)
    ns = losses.non_saturating_g_loss(Tensor(fake)).item()
    np.testing.assert_allclose(ns, -log_sigmoid(fake).mean(), rtol=1e-6)
    mm = losses.minimax_g_loss(Tensor(fake)).item()
    np.testing.assert_allclose(mm, log_sigmoid(-fake).mean(), rtol=1e-6)  # log(1 - D) = log sigmoid(-l)


def test_losses_are_finite_for_extreme_logits():
    x = Tensor(np.array([[-300.0], [300.0]], dtype=np.float32), requires_grad=True)
    for loss in (losses.bce_d_loss(x, x), losses.non_saturating_g_loss(x), losses.minimax_g_loss(x)):
        assert np.isfinite(loss.item())
    losses.minimax_g_loss(x).backward()
    assert np.all(np.isfinite(x.grad))


def test_minimax_saturates_where_non_saturating_does_not():
    """When D rejects a fake (logit -8), log(1 - D) is flat but -log D is steep: Goodfellow's point."""
    grads = {}
    for name in ("minimax", "non-saturating"):
        x = Tensor(np.array([[-8.0]]), requires_grad=True)
        losses.get_loss(name).g_loss(x).backward()
        grads[name] = abs(x.grad.item())
    assert grads["minimax"] < 1e-3 and grads["non-saturating"] > 0.99


def test_registry():
    assert set(losses.LOSSES) >= {"non-saturating", "minimax"}
    with pytest.raises(MiniganError, match="unknown loss 'wasserstein'"):
        losses.get_loss("wasserstein")
    added = losses.register("test-only", losses.bce_d_loss, losses.non_saturating_g_loss, g_needs_real=True)
    try:
        assert losses.get_loss("test-only") is added and added.g_needs_real
    finally:
        del losses.LOSSES["test-only"]
