"""GAN-technique layers: each against a plain NumPy loop written here, on every array module."""

import numpy as np
import pytest

from minigan import MiniganError, Tensor, backend, nn
from minigan import functional as F


def _on(xp, module):
    return module.to_gpu() if xp is not np else module


def _x(xp, rng, *shape):
    return Tensor(xp.asarray(rng.standard_normal(shape).astype(np.float32)))


def _set(xp, param, values):
    param.data = xp.asarray(np.asarray(values, np.float32))


# -- minibatch discrimination ---------------------------------------------------------


def _minibatch_features(f, T, num_kernels, kernel_dim):
    """Salimans et al. 2016, section 3.2, with explicit loops over i, j and b."""
    n = f.shape[0]
    M = (f.astype(np.float64) @ T).reshape(n, num_kernels, kernel_dim)
    o = np.zeros((n, num_kernels))
    for i in range(n):
        for j in range(n):
            if j == i:
                continue
            for b in range(num_kernels):
                o[i, b] += np.exp(-np.abs(M[i, b] - M[j, b]).sum())
    return np.concatenate([f, o], axis=1)


def test_minibatch_discrimination_matches_loops(xp, rng):
    layer = _on(xp, nn.MinibatchDiscrimination(6, num_kernels=4, kernel_dim=3))
    _set(xp, layer.T, rng.normal(0, 0.5, (6, 12)))  # wider than the init, so c_b(i, j) varies
    f = _x(xp, rng, 5, 6)
    y = layer(f)
    assert y.shape == (5, 10)
    want = _minibatch_features(f.numpy(), layer.T.numpy(), 4, 3)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-6)
    assert 0 < want[:, 6:].min() and want[:, 6:].max() < 4  # each of the 4 others adds a value in (0, 1)


def test_minibatch_discrimination_excludes_the_example_itself(xp, rng):
    layer = _on(xp, nn.MinibatchDiscrimination(3, num_kernels=2, kernel_dim=2))
    f = _x(xp, rng, 1, 3)
    y = layer(f).numpy()
    np.testing.assert_array_equal(y[:, :3], f.numpy())
    np.testing.assert_array_equal(y[:, 3:], 0.0)


def test_minibatch_discrimination_sees_identical_examples(xp, rng):
    layer = _on(xp, nn.MinibatchDiscrimination(3, num_kernels=2, kernel_dim=2))
    row = rng.standard_normal((1, 3)).astype(np.float32)
    collapsed = Tensor(xp.asarray(np.repeat(row, 4, axis=0)))
    np.testing.assert_allclose(layer(collapsed).numpy()[:, 3:], 3.0, rtol=1e-6)  # c = 1 for the 3 others


def test_minibatch_discrimination_init_and_shape_check():
    a = nn.MinibatchDiscrimination(50, 40, 5, rng=np.random.default_rng(3))
    b = nn.MinibatchDiscrimination(50, 40, 5, rng=np.random.default_rng(3))
    assert a.T.shape == (50, 200)
    np.testing.assert_array_equal(a.T.data, b.T.data)
    assert abs(a.T.data.std() - 0.05) < 0.002 and abs(a.T.data.mean()) < 0.002
    with pytest.raises(MiniganError, match=r"\(n, 50\) but got \(2, 49\)"):
        a(Tensor(np.zeros((2, 49), np.float32)))


# -- virtual batch norm ---------------------------------------------------------------


def _virtual_batch_norm(x, R, gamma, beta, eps=1e-5):
    """Salimans et al. 2016, section 3.4: each example of x with the statistics of R and itself."""
    x, R = x.astype(np.float64), R.astype(np.float64)
    N, c = R.shape[0], R.shape[1]
    y = np.empty_like(x)
    for i in range(x.shape[0]):
        for ch in range(c):
            ref = R[:, ch]
            mu = x[i, ch].mean() / (N + 1) + ref.mean() * N / (N + 1)
            sq = (x[i, ch] ** 2).mean() / (N + 1) + (ref**2).mean() * N / (N + 1)
            y[i, ch] = gamma[ch] * (x[i, ch] - mu) / np.sqrt(sq - mu**2 + eps) + beta[ch]
    return y


def _batch_norm(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm with the biased variance, per channel."""
    x = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return gamma.reshape(shape) * (x - mu) / np.sqrt(var + eps) + beta.reshape(shape)


def _vbn(xp, rng, c):
    layer = _on(xp, nn.VirtualBatchNorm(c))
    _set(xp, layer.weight, rng.uniform(0.5, 1.5, c))
    _set(xp, layer.bias, rng.standard_normal(c))
    return layer


def _reference_pass(layer, R):
    layer.recording = True
    out = layer(R)
    layer.recording = False
    return out


@pytest.mark.parametrize("ref_shape,shape", [((8, 3), (5, 3)), ((6, 3, 4, 4), (4, 3, 4, 4))])
def test_virtual_batch_norm_matches_per_example_formula(xp, rng, ref_shape, shape):
    layer = _vbn(xp, rng, 3)
    R, x = _x(xp, rng, *ref_shape) * 2.0 + 1.0, _x(xp, rng, *shape)
    gamma, beta = layer.weight.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(_reference_pass(layer, R).numpy(), _batch_norm(R.numpy(), gamma, beta),
                               rtol=1e-4, atol=1e-5)
    want = _virtual_batch_norm(x.numpy(), R.numpy(), gamma, beta)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-4, atol=1e-5)


def test_virtual_batch_norm_example_does_not_depend_on_its_batch(xp, rng):
    layer = _vbn(xp, rng, 2)
    _reference_pass(layer, _x(xp, rng, 6, 2, 3, 3))
    a = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = a.copy()
    b[2] = 10 * rng.standard_normal((2, 3, 3))
    ya, yb = layer(Tensor(xp.asarray(a))).numpy(), layer(Tensor(xp.asarray(b))).numpy()
    np.testing.assert_allclose(ya[[0, 1, 3]], yb[[0, 1, 3]], rtol=1e-6, atol=1e-6)
    assert not np.allclose(ya[2], yb[2])
    bn = _on(xp, nn.BatchNorm2d(2))  # the contrast: batch norm mixes the examples of a batch
    assert not np.allclose(bn(Tensor(xp.asarray(a))).numpy()[0], bn(Tensor(xp.asarray(b))).numpy()[0])


def test_virtual_batch_norm_without_reference_pass_is_refused():
    with pytest.raises(MiniganError, match="no reference statistics.*ReferenceBatch"):
        nn.VirtualBatchNorm(3)(Tensor(np.zeros((2, 3), np.float32)))
    with pytest.raises(MiniganError, match=r"\(n, 3\) but got \(2, 4\)"):
        nn.VirtualBatchNorm(3)(Tensor(np.zeros((2, 4), np.float32)))


# -- reference batch ------------------------------------------------------------------


def _generator():
    """A small DCGAN-like generator: (n, 4) noise -> (n, 1, 8, 8) images."""
    return nn.Sequential(
        nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Unflatten(1, (8, 2, 2))),
        nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False), nn.BatchNorm2d(4, eps=1e-3), nn.ReLU(),
        nn.ConvTranspose2d(4, 1, 4, 2, 1), nn.Tanh())


def test_reference_batch_runs_the_reference_pass_then_drops_it(xp, rng):
    body = nn.Sequential(nn.Linear(5, 3), nn.VirtualBatchNorm(3))
    R = rng.standard_normal((7, 5)).astype(np.float32)
    model = _on(xp, nn.ReferenceBatch(body, R))
    x = _x(xp, rng, 4, 5)
    y = model(x)
    W, b = body[0].weight.numpy(), body[0].bias.numpy()
    want = _virtual_batch_norm(x.numpy() @ W.T + b, R @ W.T + b, np.ones(3), np.zeros(3))
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-5)
    assert body[1].reference is None and not body[1].recording
    y.sum().backward()  # the graph still holds the reference statistics it needs
    assert body[0].weight.grad is not None
    np.testing.assert_allclose(model.eval()(x).numpy(), y.numpy(), rtol=1e-6, atol=1e-6)  # eval == train


def test_reference_batch_feeds_every_input_of_a_conditional_body(rng):
    class Conditional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.norm = nn.Linear(6, 3), nn.VirtualBatchNorm(3)

        def forward(self, z, y):
            return self.norm(self.fc(F.concat([z, y], axis=1)))

    body = Conditional()
    z_ref, y_ref = rng.standard_normal((5, 4)).astype(np.float32), np.eye(2, dtype=np.float32)[[0, 1, 0, 1, 1]]
    model = nn.ReferenceBatch(body, z_ref, y_ref)
    z, y = _x(np, rng, 3, 4), Tensor(np.eye(2, dtype=np.float32)[[1, 0, 0]])
    got = model(z, y).numpy()
    W, b = body.fc.weight.numpy(), body.fc.bias.numpy()
    R = np.concatenate([z_ref, y_ref], 1) @ W.T + b
    want = _virtual_batch_norm(np.concatenate([z.numpy(), y.numpy()], 1) @ W.T + b, R, np.ones(3), np.zeros(3))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_reference_batch_buffers_round_trip_through_state_dict(rng):
    def make(seed):
        nn.init.manual_seed(seed)
        body = _generator()
        nn.replace_batch_norm(body)
        return nn.ReferenceBatch(body, np.random.default_rng(seed).standard_normal((6, 4)).astype(np.float32))

    a, b = make(1), make(2)
    state = a.state_dict()
    assert list(state)[-1] == "reference_0" and not any("running" in k for k in state)
    b.load_state_dict(state)
    np.testing.assert_array_equal(b.reference_0, a.reference_0)
    z = _x(np, rng, 3, 4)
    np.testing.assert_array_equal(b(z).numpy(), a(z).numpy())
    assert b.double().reference_0.dtype == np.float64


def test_reference_batch_refuses_a_body_without_virtual_batch_norm():
    with pytest.raises(MiniganError, match="replace_batch_norm"):
        nn.ReferenceBatch(nn.Linear(2, 2), np.zeros((3, 2), np.float32))(Tensor(np.zeros((1, 2), np.float32)))
    with pytest.raises(MiniganError, match="at least one reference input"):
        nn.ReferenceBatch(nn.Linear(2, 2))


def test_replace_batch_norm_in_a_dcgan_generator(xp, rng):
    g = nn.init.dcgan_(_generator(), np.random.default_rng(0))
    old_keys = [k for k in g.state_dict() if "running" not in k]
    gamma = g[2].weight
    assert nn.replace_batch_norm(g) == 2
    assert [type(m).__name__ for m in g[0]] == ["Linear", "VirtualBatchNorm", "ReLU", "Unflatten"]
    assert [type(m).__name__ for m in g][1:] == ["ConvTranspose2d", "VirtualBatchNorm", "ReLU",
                                                 "ConvTranspose2d", "Tanh"]
    assert (g[0][1].num_features, g[2].num_features, g[2].eps) == (32, 4, 1e-3)
    assert g[2].weight is gamma  # an optimizer built before the swap keeps training it
    assert list(g.state_dict()) == old_keys
    assert not any(isinstance(m, nn.BatchNorm) for m in g.modules())
    model = _on(xp, nn.ReferenceBatch(g, rng.standard_normal((8, 4)).astype(np.float32)))
    z = rng.standard_normal((3, 4)).astype(np.float32)
    y = model(Tensor(xp.asarray(z))).numpy()
    assert y.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(model(Tensor(xp.asarray(z[:1]))).numpy(), y[:1], rtol=1e-5, atol=1e-6)


def test_dcgan_init_reaches_virtual_batch_norm():
    layer = nn.init.dcgan_(nn.VirtualBatchNorm(2000), np.random.default_rng(0))
    assert abs(layer.weight.data.mean() - 1.0) < 0.002 and abs(layer.weight.data.std() - 0.02) < 0.002


# -- mixture latent -------------------------------------------------------------------


def _latent(rng, n, nz, k):
    eps = rng.standard_normal((n, nz)).astype(np.float32)
    choice = rng.integers(0, k, size=n)
    return eps, choice, np.concatenate([eps, np.eye(k, dtype=np.float32)[choice]], axis=1)


def test_mixture_latent_picks_mu_k_plus_sigma_k_eps(xp, rng):
    layer = _on(xp, nn.MixtureLatent(3, 5, rng=np.random.default_rng(1)))
    _set(xp, layer.sigma, rng.uniform(0.1, 1.0, (3, 5)))
    eps, choice, v = _latent(rng, 6, 5, 3)
    z = layer(Tensor(xp.asarray(v))).numpy()
    mu, sigma = layer.mu.numpy(), layer.sigma.numpy()
    for i, k in enumerate(choice):
        np.testing.assert_allclose(z[i], mu[k] + sigma[k] * eps[i], rtol=1e-6, atol=1e-6)


def test_mixture_latent_interpolates_between_components(rng):
    layer = nn.MixtureLatent(2, 3)
    eps = rng.standard_normal((1, 3)).astype(np.float32)
    z = layer(Tensor(np.concatenate([eps, [[0.25, 0.75]]], axis=1).astype(np.float32))).numpy()
    mu, sigma = layer.mu.numpy(), layer.sigma.numpy()
    want = 0.25 * mu[0] + 0.75 * mu[1] + (0.25 * sigma[0] + 0.75 * sigma[1]) * eps[0]
    np.testing.assert_allclose(z[0], want, rtol=1e-6)


def test_mixture_latent_init_and_sigma_penalty(xp, rng):
    layer = _on(xp, nn.MixtureLatent(4, 500, init_sigma=0.3, rng=np.random.default_rng(2)))
    mu = layer.mu.numpy()
    assert layer.latent_dim == 504 and mu.min() >= -1 and mu.max() <= 1 and abs(mu.mean()) < 0.05
    np.testing.assert_allclose(layer.sigma.numpy(), 0.3)
    assert layer.sigma_penalty().item() == pytest.approx(0.7**2, rel=1e-5)
    sigma = rng.uniform(0, 2, (4, 500))
    _set(xp, layer.sigma, sigma)
    assert layer.sigma_penalty().item() == pytest.approx(((1 - sigma.astype(np.float32)) ** 2).mean(), rel=1e-5)


def test_mixture_latent_refuses_no_components_and_wrong_width():
    with pytest.raises(MiniganError, match="at least one component"):
        nn.MixtureLatent(0, 10)
    with pytest.raises(MiniganError, match=r"\(n, 13\) but got \(2, 10\)"):
        nn.MixtureLatent(3, 10)(Tensor(np.zeros((2, 10), np.float32)))


# -- every layer in float32 -----------------------------------------------------------


def _float32_cases(rng):
    vbn = nn.ReferenceBatch(nn.Sequential(nn.Conv2d(2, 3, 3, 1, 1), nn.VirtualBatchNorm(3)),
                            rng.standard_normal((4, 2, 5, 5)).astype(np.float32))
    return {
        "minibatch": (nn.MinibatchDiscrimination(6, 4, 3), (3, 6), (3, 10)),
        "vbn": (vbn, (2, 2, 5, 5), (2, 3, 5, 5)),
        "mixture": (nn.MixtureLatent(3, 4), (2, 7), (2, 4)),
    }


@pytest.mark.parametrize("name", ["minibatch", "vbn", "mixture"])
def test_float32_forward(xp, rng, name):
    layer, in_shape, out_shape = _float32_cases(rng)[name]
    y = _on(xp, layer)(_x(xp, rng, *in_shape))
    assert y.shape == out_shape and y.dtype == np.float32
    assert backend.device_of(y.data) == ("cpu" if xp is np else "gpu")
    assert np.isfinite(y.numpy()).all()
