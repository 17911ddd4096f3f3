"""LayerNorm and InstanceNorm2d: forward and running statistics vs reference.py on every array
module, gradients by float64 finite differences, state dicts, refusals."""

import numpy as np
import pytest

from minigan import MiniganError, Tensor, backend, nn, reference
from minigan.gradcheck import gradcheck


def _on(xp, module):
    return module.to_gpu() if xp is not np else module


def _randomise(module, rng):
    for p in module.parameters():
        p.data = backend.to_device(rng.standard_normal(p.shape).astype(p.dtype), p.device)
    return module


def _cpu(a):
    return None if a is None else backend.to_cpu(a.data if isinstance(a, Tensor) else a)


@pytest.mark.parametrize("x_shape,normalized_shape", [((4, 5), 5), ((2, 3, 4, 5), (4, 5)), ((2, 3, 4, 5), (3, 4, 5))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_reference(xp, rng, x_shape, normalized_shape, affine):
    layer = _on(xp, _randomise(nn.LayerNorm(normalized_shape, elementwise_affine=affine), rng))
    x = rng.standard_normal(x_shape).astype(np.float32) * 3 + 1
    y = layer(Tensor(xp.asarray(x))).numpy()
    want = reference.layer_norm(x, layer.normalized_shape, _cpu(layer.weight), _cpu(layer.bias))
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


def test_layer_norm_output_has_zero_mean_unit_variance_per_example(rng):
    x = Tensor(rng.standard_normal((3, 2, 6)) * 5 - 2)
    y = nn.LayerNorm((2, 6)).double()(x).data.reshape(3, -1)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1, rtol=1e-4)  # var / (var + eps)


@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm_matches_reference(xp, rng, affine):
    layer = _on(xp, _randomise(nn.InstanceNorm2d(3, affine=affine), rng))
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32) * 2 + 0.5
    y = layer(Tensor(xp.asarray(x))).numpy()
    want, _, _ = reference.instance_norm2d(x, _cpu(layer.weight), _cpu(layer.bias))
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.eval()(Tensor(xp.asarray(x))).numpy(), want, rtol=1e-4, atol=1e-5)
    assert list(layer.state_dict()) == (["weight", "bias"] if affine else [])


def test_instance_norm_running_stats_train_then_eval(xp, rng):
    layer = _on(xp, nn.InstanceNorm2d(3, momentum=0.2, track_running_stats=True))
    assert list(layer.state_dict()) == ["running_mean", "running_var"]
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    for _ in range(2):
        x = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) + np.array([1, -2, 0.5], np.float32)[:, None, None]
        y, mean, var = reference.instance_norm2d(x, None, None, mean, var, True, momentum=0.2)
        np.testing.assert_allclose(layer(Tensor(xp.asarray(x))).numpy(), y, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_cpu(layer.running_mean), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_cpu(layer.running_var), var, rtol=1e-5)
    layer.eval()
    y_eval, _, _ = reference.instance_norm2d(x, None, None, mean, var, False)
    np.testing.assert_allclose(layer(Tensor(xp.asarray(x))).numpy(), y_eval, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_cpu(layer.running_mean), mean, rtol=1e-5, atol=1e-6)  # eval leaves them


def test_reference_instance_norm_is_layer_norm_of_each_plane(rng):
    x = rng.standard_normal((2, 3, 4, 4))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    y, _, _ = reference.instance_norm2d(x, gamma, beta)
    want = reference.layer_norm(x, (4, 4)) * gamma[:, None, None] + beta[:, None, None]
    np.testing.assert_allclose(y, want, rtol=1e-12)


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.LayerNorm((3, 4)), (2, 3, 4)),
    (lambda: nn.LayerNorm(4, elementwise_affine=False), (3, 4)),
    (lambda: nn.InstanceNorm2d(2, affine=True), (2, 2, 3, 3)),
    (lambda: nn.InstanceNorm2d(2, track_running_stats=True).eval(), (2, 2, 3, 3)),
])
def test_gradients_match_finite_differences(rng, make, shape):
    layer = _randomise(make().double(), rng)
    if hasattr(layer, "running_var"):
        layer.running_mean[...], layer.running_var[...] = rng.standard_normal(2), rng.uniform(0.5, 2, 2)
    x = Tensor(rng.standard_normal(shape))
    result = gradcheck(lambda: layer(x), [x] + layer.parameters())
    assert result.ok, result


def test_state_dict_round_trip(rng):
    a = _randomise(nn.LayerNorm((2, 3)), rng)
    b = nn.LayerNorm((2, 3))
    b.load_state_dict(a.state_dict())
    x = Tensor(rng.standard_normal((4, 2, 3)).astype(np.float32))
    np.testing.assert_array_equal(b(x).data, a(x).data)


def test_refusals():
    with pytest.raises(MiniganError, match=r"\(\*, 4, 5\) but got \(2, 5, 4\)"):
        nn.LayerNorm((4, 5))(Tensor(np.zeros((2, 5, 4), np.float32)))
    with pytest.raises(MiniganError, match=r"expects input of shape \(n, 3, \?, \?\)"):
        nn.InstanceNorm2d(3)(Tensor(np.zeros((2, 4, 3, 3), np.float32)))
    with pytest.raises(MiniganError, match="more than one spatial element"):
        nn.InstanceNorm2d(3)(Tensor(np.zeros((2, 3, 1, 1), np.float32)))
