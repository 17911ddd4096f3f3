"""The unrolled GAN (gan/unrolled.py): the differentiable D steps equal D's real optimizer steps, G's
gradient through them equals finite differences, and --unroll 0 is the plain GAN."""

import numpy as np
import pytest

from minigan import gan
from minigan.backward import grad
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import unrolled
from minigan.tensor import Tensor

from gan_helpers import assert_same_networks, quiet, tiny


def point_trainer(optimizer="adam", unroll=1, dtype="float64", **kw):
    """A ring GAN of the paper's networks, in float64 for finite differences, with fresh optimizers."""
    cfg = gan.TrainConfig(dataset="ring", model="gan", nz=4, batch_size=16, lr_g=1e-3, lr_d=0.05,
                          optimizer=optimizer, unroll=unroll, **kw)
    tr = gan.get_trainer_class("gan")(cfg, (2,), 8)
    return in_float64(tr) if dtype == "float64" else tr


def in_float64(tr):
    """The trainer with its networks in float64 (for finite differences) and fresh optimizers for them."""
    for name, net in tr.networks.items():
        net.double()
        tr.optimizers[name] = tr.make_optimizer(net, name)
    return tr


def batch(tr, seed=0):
    rng = np.random.default_rng(seed)
    dtype = tr.networks["D"].parameters()[0].data.dtype
    real = (2 * rng.standard_normal((16, 2))).astype(dtype)
    z = rng.standard_normal((16, tr.nz)).astype(dtype)
    return real, z


def warm_up_d(tr, real, z, steps=2):
    """A few real D steps, so that Adam's moments are not zero (its first step is ~lr sign(g))."""
    for _ in range(steps):
        with no_grad():
            fake = tr.generate(Tensor(z))
        tr.d_step(Tensor(real), None, fake, None)


def unrolled_g_loss(tr, real, z):
    """G's loss against D unrolled from its current state, as a Tensor that reaches G's parameters."""
    tr.unroller.snapshot()
    fake = tr.generate(Tensor(z))
    fake_logits, real_logits = tr.unroller.g_logits(fake, None, Tensor(real), None)
    return tr.loss.g_loss(fake_logits, real_logits)


def g_loss_after_real_steps(tr, real, z):
    """The same loss by brute force: K real optimizer steps of a copy of D, then G's loss (no graph)."""
    D, opt = tr.networks["D"], tr.optimizers["D"]
    saved_d = {k: v.copy() for k, v in D.state_dict().items()}
    saved_opt = {k: np.array(v, copy=True) for k, v in opt.state_dict().items()}
    try:
        with no_grad():
            fake = tr.generate(Tensor(z))
        for _ in range(tr.config.unroll):
            real_logits, fake_logits = tr.d_logits(Tensor(real), None, fake, None)
            loss = tr.loss.d_loss(real_logits, fake_logits)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with no_grad():
            return float(tr.loss.g_loss(tr.discriminate(fake), None).data)
    finally:
        D.load_state_dict(saved_d)
        opt.load_state_dict(saved_opt)


def assert_unrolled_gradient_matches_finite_differences(tr, real, z, rng, probes, atol):
    """G's gradient through the unrolled steps against central differences of K real D steps, at
    ``probes`` random entries of each of G's parameters (after two real D steps warm Adam up)."""
    warm_up_d(tr, real, z)
    params = tr.networks["G"].parameters()
    analytic = [g.data for g in grad(unrolled_g_loss(tr, real, z), params)]
    eps = 1e-6
    for p, g in zip(params, analytic):
        for idx in map(tuple, rng.integers(0, p.data.shape, (probes, p.data.ndim))):
            old = p.data[idx]
            p.data[idx] = old + eps
            up = g_loss_after_real_steps(tr, real, z)
            p.data[idx] = old - eps
            down = g_loss_after_real_steps(tr, real, z)
            p.data[idx] = old
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - g[idx]) <= atol + 1e-4 * abs(numeric), (p.data.shape, idx, numeric, g[idx])


@pytest.mark.parametrize("optimizer,k", [("sgd", 1), ("adam", 1), ("adam", 3)])
def test_gradient_through_unrolled_steps_matches_finite_differences(optimizer, k):
    tr = point_trainer(optimizer, unroll=k)
    real, z = batch(tr)
    assert_unrolled_gradient_matches_finite_differences(tr, real, z, np.random.default_rng(1), probes=3, atol=1e-5)


def test_gradient_through_unrolled_conv_and_batch_norm_matches_finite_differences():
    """The same check with DCGAN's D (strided convolutions, batch norm, leaky ReLU): the second-order
    path through conv and batch norm, which the ring's MLP does not take (stacked MNIST's runs do)."""
    from gan_helpers import trainer_of

    tr = in_float64(trainer_of("dcgan", unroll=2, lr_d=2e-4))
    rng = np.random.default_rng(0)
    real, z = rng.uniform(-1, 1, (8, 1, 16, 16)), rng.standard_normal((8, tr.nz))
    assert_unrolled_gradient_matches_finite_differences(tr, real, z, rng, probes=2, atol=1e-6)


def test_the_unrolled_terms_matter():
    """G's gradient through the unrolled steps differs from the one with D's steps held constant."""
    tr = point_trainer("adam", unroll=3)
    real, z = batch(tr)
    warm_up_d(tr, real, z)
    params = tr.networks["G"].parameters()
    through = grad(unrolled_g_loss(tr, real, z), params)
    tr.unroller.snapshot()
    fake = tr.generate(Tensor(z))
    theta = [Tensor(t.data) for t in tr.unroller.unrolled_parameters(Tensor(real), None, fake, None)]
    with unrolled.parameters_replaced(tr.networks["D"], theta):
        held = grad(tr.loss.g_loss(tr.discriminate(fake), None), params)
    differences = [np.abs(a.data - b.data).max() / (np.abs(b.data).max() + 1e-12) for a, b in zip(through, held)]
    assert max(differences) > 1e-3


@pytest.mark.parametrize("optimizer, eps_root", [("sgd", 0.0), ("adam", 0.0), ("adam", 1e-2)])
def test_first_unrolled_step_is_the_real_d_update(optimizer, eps_root):
    """theta_D^1 of the unrolled chain equals D's parameters after its real optimizer step (with
    --adam-eps-root too: 1e-2 under the root, large enough to change every step here)."""
    tr = point_trainer(optimizer, unroll=1, dtype="float32", adam_eps_root=eps_root)
    real, z = batch(tr)
    warm_up_d(tr, real, z)
    tr.unroller.snapshot()
    with no_grad():
        fake = tr.generate(Tensor(z))
    theta = tr.unroller.unrolled_parameters(Tensor(real), None, fake, None)
    tr.d_step(Tensor(real), None, fake, None)
    for t, p in zip(theta, tr.networks["D"].parameters()):
        np.testing.assert_allclose(t.data, p.data, rtol=1e-5, atol=1e-7)


def test_unrolling_leaves_d_untouched():
    """The unrolled steps change neither D's parameters, its optimizer state nor its BN statistics."""
    from gan_helpers import trainer_of

    tr = trainer_of("dcgan", unroll=2)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 1, 16, 16)).astype(np.float32)
    tr.train_step(x)
    D = tr.networks["D"]
    before = {k: v.copy() for k, v in D.state_dict().items()}
    opt_before = {k: np.array(v, copy=True) for k, v in tr.optimizers["D"].state_dict().items()}
    unrolled_g_loss(tr, x, tr.draw_noise(8))
    for k, v in D.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    for k, v in tr.optimizers["D"].state_dict().items():
        np.testing.assert_array_equal(v, opt_before[k], err_msg=k)


def test_unroll_zero_is_the_plain_gan(tmp_path):
    plain = gan.train(tiny(tmp_path, "plain", epochs=1), echo=quiet)
    zero = gan.train(tiny(tmp_path, "zero", epochs=1, unroll=0), echo=quiet)
    assert_same_networks(plain, zero)
    one = gan.train(tiny(tmp_path, "one", epochs=1, unroll=1), echo=quiet)
    assert not np.array_equal(one.networks["G"].parameters()[0].data, plain.networks["G"].parameters()[0].data)


def test_unrolled_run_resumes_exactly(tmp_path):
    whole = gan.train(tiny(tmp_path, "whole", epochs=2, unroll=2), echo=quiet)
    gan.train(tiny(tmp_path, "half", epochs=1, unroll=2), echo=quiet)
    resumed = gan.resume(str(tmp_path / "half"), echo=quiet, epochs=2)
    assert_same_networks(whole, resumed)


@pytest.mark.parametrize("settings,words", [
    ({"unroll": -1}, "--unroll must be 0"),
    ({"unroll": 2, "model": "lapgan", "image_size": 28}, "--model lapgan has no such D"),
    ({"unroll": 2, "loss": "turing"}, "pairs"),
    ({"unroll": 2, "gp": "r1"}, "--gp changes that step"),
    ({"unroll": 2, "optimizer": "rmsprop"}, "not --optimizer rmsprop"),
])
def test_unroll_refuses_what_it_cannot_unroll(tmp_path, settings, words):
    with pytest.raises(MiniganError, match=words):
        gan.train(tiny(tmp_path, "bad", **settings), echo=quiet)
