"""Weight normalization and its data-dependent init, Gaussian noise and logsumexp (the semi-supervised
GAN's layers); their gradient checks are in the catalogue (minigan/gradcheck_cases.py)."""

import numpy as np
import pytest

from minigan import Tensor, nn
from minigan import functional as F
from minigan.errors import MiniganError


def test_weight_norm_keeps_the_layers_output_and_names_its_parameters_as_pytorch():
    rng = np.random.default_rng(0)
    layer = nn.Linear(5, 3, rng=rng)
    x = Tensor(rng.standard_normal((4, 5)).astype(np.float32))
    before = layer(x).data.copy()
    wrapped = nn.utils.weight_norm(layer)
    np.testing.assert_allclose(wrapped(x).data, before, rtol=1e-6, atol=1e-6)
    assert sorted(wrapped.state_dict()) == ["module.bias", "module.weight_g", "module.weight_v"]
    assert wrapped.module.weight_g.shape == (3, 1)  # torch.nn.utils.weight_norm's shape for dim 0


def test_weight_norm_weight_has_length_g_whatever_v():
    layer = nn.utils.weight_norm(nn.Linear(6, 4, rng=np.random.default_rng(1)))
    layer.module.weight_v.data *= 7.0  # v's length does not matter
    layer.module.weight_g.data[...] = np.array([[1.0], [2.0], [0.5], [3.0]], np.float32)
    w = layer.compute_weight().data
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), [1.0, 2.0, 0.5, 3.0], rtol=1e-6)


def test_fixed_g_is_a_buffer_the_optimizer_never_sees():
    layer = nn.utils.weight_norm(nn.Linear(4, 2), train_g=False)
    names = [n for n, _ in layer.named_parameters()]
    assert names == ["module.bias", "module.weight_v"] and "module.weight_g" in layer.state_dict()


def test_data_dependent_init_standardises_every_unit_bottom_to_top():
    rng = np.random.default_rng(2)
    net = nn.Sequential(nn.utils.weight_norm(nn.Linear(8, 6, rng=rng)), nn.ReLU(),
                        nn.utils.weight_norm(nn.Linear(6, 4, rng=rng), train_g=False))
    x = Tensor((3 + 2 * rng.standard_normal((200, 8))).astype(np.float32))
    assert nn.utils.data_dependent_init(net, x) == 2
    h = net[0](x).data
    np.testing.assert_allclose(h.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(h.std(0), 1, rtol=1e-4)
    y = net(x).data  # the second layer was initialised on what the first now gives
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 1, rtol=1e-4)


def test_data_dependent_init_refuses_a_network_without_weight_norm():
    with pytest.raises(MiniganError, match="no weight-normed layer"):
        nn.utils.data_dependent_init(nn.Linear(2, 2), Tensor(np.ones((3, 2), np.float32)))


def test_gaussian_noise_has_its_std_in_training_only_and_is_seeded():
    x = Tensor(np.zeros((200, 500), np.float32))
    layer = nn.GaussianNoise(0.3, seed=5)
    y = layer(x).data
    assert abs(y.std() - 0.3) < 0.003 and abs(y.mean()) < 0.003
    np.testing.assert_array_equal(nn.GaussianNoise(0.3, seed=5)(x).data, y)
    layer.eval()
    assert layer(x) is x
    with pytest.raises(MiniganError, match="0 or more"):
        nn.GaussianNoise(-1.0)


def test_gaussian_noise_passes_the_gradient_unchanged():
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    F.gaussian_noise(x, 0.5, True, np.random.default_rng(0)).backward(np.full((3, 4), 2.0))
    np.testing.assert_array_equal(x.grad, 2.0)


def test_logsumexp_matches_numpy_and_is_stable():
    x = np.random.default_rng(3).standard_normal((5, 7))
    np.testing.assert_allclose(F.logsumexp(Tensor(x), axis=1).data, np.log(np.exp(x).sum(1)), rtol=1e-12)
    big = F.logsumexp(Tensor(np.array([[1000.0, 1000.0], [-1000.0, -1000.0]])), axis=1).data
    np.testing.assert_allclose(big, [1000 + np.log(2), -1000 + np.log(2)])
    t = Tensor(x, requires_grad=True)
    F.sum(F.logsumexp(t, axis=1)).backward()
    np.testing.assert_allclose(t.grad, np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=1e-12)  # softmax
