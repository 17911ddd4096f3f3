"""The GAN objectives against their formulas, their stability, and the registry."""

import numpy as np
import pytest

from minigan import Tensor, gan
from minigan.errors import MiniganError
from minigan.gan import losses
from minigan.gradcheck import gradcheck


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
    with pytest.raises(MiniganError, match="unknown loss 'earth-mover'"):
        losses.get_loss("earth-mover")
    added = losses.register("test-only", losses.bce_d_loss, losses.non_saturating_g_loss, g_needs_real=True)
    try:
        assert losses.get_loss("test-only") is added and added.g_needs_real
    finally:
        del losses.LOSSES["test-only"]


# -- least squares, hinge, relativistic (standard and average) ------------------------------

SMALL_REAL, SMALL_FAKE = np.array([[2.0], [-1.0]]), np.array([[0.5], [-3.0]])
NEW_LOSSES = ("least-squares", "hinge", "relativistic", "relativistic-average")


def bce1(x):
    """BCE(x, 1) = -log sigmoid(x), per element, by hand."""
    return np.log1p(np.exp(-x))


def bce0(x):
    """BCE(x, 0) = -log(1 - sigmoid(x)), per element, by hand."""
    return np.log1p(np.exp(x))


def expected(name, r, f):
    """(L_D, L_G) of each new loss, written out with numpy."""
    if name == "least-squares":
        return 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(), 0.5 * ((f - 1) ** 2).mean()
    if name == "hinge":
        return np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(), -f.mean()
    if name == "relativistic":
        return bce1(r - f).mean(), bce1(f - r).mean()
    return (bce1(r - f.mean()).mean() + bce0(f - r.mean()).mean(),
            bce1(f - r.mean()).mean() + bce0(r - f.mean()).mean())


def test_hand_computed_values_on_small_logits():
    r, f = SMALL_REAL, SMALL_FAKE
    # least squares: 1/2 mean(1, 4) + 1/2 mean(0.25, 9) and 1/2 mean(0.25, 16)
    assert expected("least-squares", r, f) == (3.5625, 4.0625)
    # hinge: mean(0, 2) + mean(1.5, 0) and -mean(0.5, -3)
    assert expected("hinge", r, f) == (1.75, 1.25)
    for name in NEW_LOSSES:
        loss = losses.get_loss(name)
        want_d, want_g = expected(name, r, f)
        got_d = loss.d_loss(Tensor(r), Tensor(f)).item()
        got_g = loss.g_loss(Tensor(f), Tensor(r)).item()
        np.testing.assert_allclose(got_d, want_d, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(got_g, want_g, rtol=1e-12, err_msg=name)


def test_new_losses_match_their_equations_on_random_logits(logits):
    real, fake = logits
    for name in NEW_LOSSES:
        loss = losses.get_loss(name)
        want_d, want_g = expected(name, real, fake)
        np.testing.assert_allclose(loss.d_loss(Tensor(real), Tensor(fake)).item(), want_d, rtol=1e-10)
        np.testing.assert_allclose(loss.g_loss(Tensor(fake), Tensor(real)).item(), want_g, rtol=1e-10)


def test_hand_computed_gradients():
    """dL/dlogit written out for the two losses whose derivatives are one line."""
    r, f = Tensor(SMALL_REAL.copy(), requires_grad=True), Tensor(SMALL_FAKE.copy(), requires_grad=True)
    losses.least_squares_d_loss(r, f).backward()  # d/dr = (r - 1) / n, d/df = f / n  (n = 2)
    np.testing.assert_allclose(r.grad, [[0.5], [-1.0]])
    np.testing.assert_allclose(f.grad, [[0.25], [-1.5]])
    r, f = Tensor(SMALL_REAL.copy(), requires_grad=True), Tensor(SMALL_FAKE.copy(), requires_grad=True)
    losses.hinge_d_loss(r, f).backward()  # -1/n where 1 - r > 0, +1/n where 1 + f > 0
    np.testing.assert_allclose(r.grad, [[0.0], [-0.5]])
    np.testing.assert_allclose(f.grad, [[0.5], [0.0]])
    f = Tensor(SMALL_FAKE.copy(), requires_grad=True)
    losses.hinge_g_loss(f).backward()
    np.testing.assert_allclose(f.grad, [[-0.5], [-0.5]])


@pytest.mark.parametrize("name", NEW_LOSSES)
@pytest.mark.parametrize("which", ["d_loss", "g_loss"])
def test_gradients_match_finite_differences(name, which):
    loss = losses.get_loss(name)
    # away from the hinge's kinks (|1 -+ l| > eps), so the central difference is exact enough
    real = Tensor(np.array([[2.0], [-1.0], [0.3]]))
    fake = Tensor(np.array([[0.5], [-3.0], [1.7]]))
    if which == "d_loss":
        result = gradcheck(lambda: loss.d_loss(real, fake), [real, fake], name=f"{name} D")
    else:
        result = gradcheck(lambda: loss.g_loss(fake, real), [fake, real], name=f"{name} G")
    assert result.ok, result


def test_relativistic_losses_read_the_real_logits_in_the_g_step():
    for name in NEW_LOSSES:
        assert losses.get_loss(name).g_needs_real == name.startswith("relativistic")
    with pytest.raises(TypeError):
        losses.relativistic_g_loss(Tensor(SMALL_FAKE))  # no real logits: refused, not silently wrong


def test_new_losses_are_finite_for_extreme_logits():
    r = Tensor(np.array([[300.0], [-300.0]], dtype=np.float32), requires_grad=True)
    f = Tensor(np.array([[-300.0], [300.0]], dtype=np.float32), requires_grad=True)
    for name in ("relativistic", "relativistic-average"):
        loss = losses.get_loss(name)
        for value in (loss.d_loss(r, f), loss.g_loss(f, r)):
            r.grad = f.grad = None
            value.backward()
            assert np.isfinite(value.item()) and np.all(np.isfinite(r.grad)) and np.all(np.isfinite(f.grad))


def test_new_losses_are_offered_by_the_cli():
    from click.testing import CliRunner

    from minigan.cli import main

    out = CliRunner().invoke(main, ["train", "--help"]).output
    for name in NEW_LOSSES:
        assert name in out


@pytest.mark.parametrize("name", NEW_LOSSES)
def test_each_new_loss_trains_end_to_end(tmp_path, name):
    cfg = gan.TrainConfig(dataset="synthetic", epochs=1, batch_size=32, limit=64, loss=name,
                          run_dir=str(tmp_path / name))
    trainer = gan.train(cfg, lambda line: None)
    for key in ("loss_D", "loss_G"):
        values = np.asarray(trainer.history[key], dtype=float)
        assert values.size == 2 and np.all(np.isfinite(values)), (key, values)  # 64 images, 32 a step
