"""nn.utils.spectral_norm: sigma against numpy's SVD, PyTorch's power iteration by hand, train/eval,
gradients by finite differences, state_dict through an .npz, devices and dtypes."""

import numpy as np
import pytest

from minigan import MiniganError, Tensor, backend, nn, reference
from minigan.gradcheck import gradcheck

LAYERS = {  # name -> (make the layer, input shape)
    "Linear": (lambda: nn.Linear(6, 4), (3, 6)),
    "Conv2d": (lambda: nn.Conv2d(3, 5, 3, 1, 1), (2, 3, 4, 4)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 5, 4, 2, 1), (2, 3, 3, 3)),
}


def _matrix(layer):
    """The weight as PyTorch's spectral_norm sees it: output units as rows (dim 1 for ConvTranspose2d)."""
    W = backend.to_cpu(layer.weight_orig.data)
    if isinstance(layer, nn.ConvTranspose2d):
        W = W.transpose(1, 0, 2, 3)
    return W.reshape(W.shape[0], -1).astype(np.float64)


def _sigma(layer):
    u, v = (backend.to_cpu(b).astype(np.float64) for b in (layer.weight_u, layer.weight_v))
    return float(u @ _matrix(layer) @ v)


def _wrapped(xp, kind, dtype=np.float32, seed=0):
    nn.init.manual_seed(seed)
    make, shape = LAYERS[kind]
    sn = nn.utils.spectral_norm(make())
    sn = sn.double() if dtype == np.float64 else sn
    sn = sn.to_gpu() if xp is not np else sn
    x = Tensor(xp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype)))
    return sn, x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_sigma_converges_to_the_largest_singular_value(xp, kind, dtype):
    sn, x = _wrapped(xp, kind, dtype)
    for _ in range(50):
        y = sn(x)
    layer = sn.module
    assert layer.weight_u.dtype == dtype and backend.device_of(layer.weight_u) == backend.device_of(y.data)
    largest = np.linalg.svd(_matrix(layer), compute_uv=False)[0]
    assert _sigma(layer) == pytest.approx(largest, rel=1e-4)
    normalised = backend.to_cpu(sn.compute_weight().data).astype(np.float64)
    if kind == "ConvTranspose2d":
        normalised = normalised.transpose(1, 0, 2, 3)
    assert np.linalg.svd(normalised.reshape(normalised.shape[0], -1), compute_uv=False)[0] == pytest.approx(1, rel=1e-4)


def test_buffer_shapes_follow_the_output_units():
    shapes = {kind: (sn.module.weight_u.shape, sn.module.weight_v.shape)
              for kind in LAYERS for sn, _ in [_wrapped(np, kind)]}
    assert shapes == {"Linear": ((4,), (6,)), "Conv2d": ((5,), (27,)), "ConvTranspose2d": ((5,), (48,))}


def test_forward_uses_the_normalised_weight(xp):
    sn, x = _wrapped(xp, "Linear")
    y = sn(x).numpy()  # one power iteration, then W / sigma with the updated u and v
    layer = sn.module
    W = backend.to_cpu(layer.weight_orig.data)
    want = reference.linear(x.numpy(), W / _sigma(layer), backend.to_cpu(layer.bias.data))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    assert layer.weight is layer.weight_orig  # outside a forward: the parameter itself


def test_one_power_iteration_by_hand():
    # W = diag(2, 1), u0 = (1, 1)/sqrt 2: v = normalize(W^T u0) = (2, 1)/sqrt 5,
    # u = normalize(W v) = (4, 1)/sqrt 17, sigma = u . W v = 17 / sqrt(85) = sqrt(3.4).
    sn = nn.utils.spectral_norm(nn.Linear(2, 2, bias=False)).double()
    layer = sn.module
    layer.weight_orig.data = np.diag([2.0, 1.0])
    layer.weight_u[...] = np.array([1.0, 1.0]) / np.sqrt(2)
    y = sn(Tensor(np.eye(2)))  # rows of y are the columns of the weight used
    np.testing.assert_allclose(layer.weight_v, np.array([2.0, 1.0]) / np.sqrt(5), rtol=1e-12)
    np.testing.assert_allclose(layer.weight_u, np.array([4.0, 1.0]) / np.sqrt(17), rtol=1e-12)
    np.testing.assert_allclose(y.data, np.diag([2.0, 1.0]) / np.sqrt(3.4), rtol=1e-12)


def test_conv_transpose_uses_dim_1_by_hand():
    # weight (in 2, out 1, 1, 1) = [[a], [b]]: the matrix is (1, 2) = [a, b], u is (1,), sigma = |(a, b)|.
    sn = nn.utils.spectral_norm(nn.ConvTranspose2d(2, 1, 1, bias=False)).double()
    assert sn.dim == 1
    sn.module.weight_orig.data = np.array([3.0, 4.0]).reshape(2, 1, 1, 1)
    sn(Tensor(np.ones((1, 2, 1, 1))))
    np.testing.assert_allclose(sn.module.weight_v, [0.6, 0.8], rtol=1e-12)
    np.testing.assert_allclose(sn.compute_weight().data.ravel(), [0.6, 0.8], rtol=1e-12)


def test_eval_mode_keeps_u_and_v_train_mode_updates_them(xp):
    sn, x = _wrapped(xp, "Conv2d")
    u0 = backend.to_cpu(sn.module.weight_u).copy()
    y_eval = sn.eval()(x).numpy()
    np.testing.assert_array_equal(backend.to_cpu(sn.module.weight_u), u0)
    np.testing.assert_array_equal(sn(x).numpy(), y_eval)
    sn.train()(x)
    assert not np.allclose(backend.to_cpu(sn.module.weight_u), u0)


def test_gradient_through_sigma_matches_finite_differences():
    sn, x = _wrapped(np, "Conv2d", np.float64)
    for _ in range(5):
        sn(x)
    sn.eval()  # u and v fixed: every call computes the same function of x, W and b
    result = gradcheck(lambda: sn(x), [x] + sn.parameters())
    assert result.ok, result
    # The gradient is not that of a fixed scale 1/sigma: sigma's dependence on W contributes.
    gW = sn.module.weight_orig.grad
    sn.module.weight_orig.grad = None
    with_fixed_sigma = nn.Conv2d(3, 5, 3, 1, 1).double()
    with_fixed_sigma.weight.data = sn.compute_weight().data.copy()
    with_fixed_sigma.bias.data = sn.module.bias.data
    gy = np.random.default_rng(0).standard_normal(with_fixed_sigma(x).shape)
    with_fixed_sigma(x).backward(gy)
    assert not np.allclose(gW, with_fixed_sigma.weight.grad / _sigma(sn.module))


def test_a_later_forward_does_not_change_an_earlier_graph():
    a, x = _wrapped(np, "Linear", np.float64)
    b, _ = _wrapped(np, "Linear", np.float64)
    gy = np.random.default_rng(1).standard_normal((3, 4))
    y = a(x)
    a(x)  # updates u and v in place
    y.backward(gy)
    b(x).backward(gy)
    np.testing.assert_allclose(a.module.weight_orig.grad, b.module.weight_orig.grad, rtol=1e-12)


def test_state_dict_round_trip_through_npz(tmp_path):
    a, x = _wrapped(np, "Conv2d", seed=1)
    for _ in range(3):
        a(x)
    assert list(a.state_dict()) == ["module.bias", "module.weight_orig", "module.weight_u", "module.weight_v"]
    np.savez(tmp_path / "ckpt.npz", **a.state_dict())
    b, _ = _wrapped(np, "Conv2d", seed=2)
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as saved:
        b.load_state_dict(dict(saved))
    np.testing.assert_array_equal(b(x).numpy(), a(x).numpy())  # train mode: the same power iteration
    np.testing.assert_array_equal(b.eval()(x).numpy(), a.eval()(x).numpy())


def test_in_a_network_and_initialisers_reach_weight_orig():
    D = nn.Sequential(nn.utils.spectral_norm(nn.Conv2d(1, 4, 4, 2, 1)), nn.LeakyReLU(0.2), nn.Flatten(),
                      nn.utils.spectral_norm(nn.Linear(16, 1)))
    assert sorted(k for k in D.state_dict() if "weight" in k) == [
        "0.module.weight_orig", "0.module.weight_u", "0.module.weight_v",
        "3.module.weight_orig", "3.module.weight_u", "3.module.weight_v"]
    nn.init.dcgan_(D, np.random.default_rng(0))
    assert np.std(D[0].module.weight_orig.data) == pytest.approx(0.02, rel=0.3)
    y = D(Tensor(np.zeros((2, 1, 4, 4), np.float32)))
    assert y.shape == (2, 1)


def test_remove_spectral_norm_keeps_the_normalised_weight():
    sn, x = _wrapped(np, "Linear")
    sn(x)
    want = sn.compute_weight().data
    layer = nn.utils.remove_spectral_norm(sn)
    assert sorted(layer.state_dict()) == ["bias", "weight"]
    assert isinstance(layer.weight, nn.Parameter)
    np.testing.assert_array_equal(layer.weight.data, want)


def test_refusals():
    with pytest.raises(MiniganError, match="n_power_iterations"):
        nn.utils.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(MiniganError, match="no parameter 'kernel'"):
        nn.utils.spectral_norm(nn.Linear(2, 2), name="kernel")
    sn = nn.utils.spectral_norm(nn.Linear(2, 2))
    with pytest.raises(MiniganError, match="already spectral-normed"):
        nn.utils.spectral_norm(sn.module)
