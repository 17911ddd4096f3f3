"""Layers: forward vs reference.py on every array module, state dicts, modes, errors."""

import re

import numpy as np
import pytest

from minigan import MiniganError, Tensor, backend, nn, reference


def _on(xp, module):
    return module.to_gpu() if xp is not np else module


def _x(xp, rng, *shape):
    return Tensor(xp.asarray(rng.standard_normal(shape).astype(np.float32)))


def test_linear_matches_reference(xp, rng):
    layer = _on(xp, nn.Linear(5, 3))
    x = _x(xp, rng, 4, 5)
    want = reference.linear(x.numpy(), backend.to_cpu(layer.weight.data), backend.to_cpu(layer.bias.data))
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (1, 2)])
def test_conv2d_matches_reference(xp, rng, stride, padding):
    layer = _on(xp, nn.Conv2d(3, 4, 3, stride, padding))
    x = _x(xp, rng, 2, 3, 7, 6)
    want = reference.conv2d(x.numpy(), layer.weight.numpy(), layer.bias.numpy(), stride, padding)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride,padding,output_padding", [(1, 0, 0), (2, 1, 0), (2, 1, 1), (3, 0, 2)])
def test_conv_transpose2d_matches_reference(xp, rng, stride, padding, output_padding):
    layer = _on(xp, nn.ConvTranspose2d(3, 2, 4, stride, padding, output_padding))
    x = _x(xp, rng, 2, 3, 5, 4)
    want = reference.conv_transpose2d(x.numpy(), layer.weight.numpy(), layer.bias.numpy(), stride, padding,
                                      output_padding)
    got = layer(x).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_dcgan28_shapes_match_pytorch():
    g = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.ConvTranspose2d(64, 1, 4, 2, 1))
    assert g(Tensor(np.zeros((2, 128, 7, 7), np.float32))).shape == (2, 1, 28, 28)
    d = nn.Conv2d(1, 64, 4, 2, 1)
    assert d(Tensor(np.zeros((2, 1, 28, 28), np.float32))).shape == (2, 64, 14, 14)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5, 5)])
def test_batch_norm_train_then_eval_matches_reference(xp, rng, shape):
    layer = _on(xp, nn.BatchNorm1d(3) if len(shape) == 2 else nn.BatchNorm2d(3))
    x = _x(xp, rng, *shape)
    y, mean, var = reference.batch_norm(x.numpy(), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), True)
    np.testing.assert_allclose(layer(x).numpy(), y, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(backend.to_cpu(layer.running_mean), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(backend.to_cpu(layer.running_var), var, rtol=1e-5)
    layer.eval()
    y_eval, _, _ = reference.batch_norm(x.numpy(), np.ones(3), np.zeros(3), mean, var, False)
    np.testing.assert_allclose(layer(x).numpy(), y_eval, rtol=1e-4, atol=1e-5)


def test_dropout_train_and_eval(xp):
    layer = _on(xp, nn.Dropout(0.5, seed=1))
    x = Tensor(xp.ones((200, 50), dtype=np.float32))
    y = layer(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.45 < (y == 0).mean() < 0.55
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), 1.0)


def test_state_dict_round_trip_and_named_keys():
    a = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    b = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    assert list(a.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"]
    b.load_state_dict(a.state_dict())
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(va, vb, err_msg=k)


def test_load_state_dict_names_missing_unexpected_and_misshaped():
    model = nn.Sequential(nn.Linear(3, 4))
    bad = {"0.weight": np.zeros((4, 5), np.float32), "extra": np.zeros(1)}
    with pytest.raises(MiniganError) as info:
        model.load_state_dict(bad)
    message = str(info.value)
    assert "missing keys: 0.bias" in message and "unexpected keys: extra" in message
    assert "0.weight (4, 5) != (4, 3)" in message


def test_wrong_input_shape_names_layer_and_shapes():
    with pytest.raises(MiniganError, match=r"Conv2d\(3, 8.*expects input of shape \(n, 3, \?, \?\) but got \(2, 1, 8, 8\)"):
        nn.Conv2d(3, 8, 3)(Tensor(np.zeros((2, 1, 8, 8), np.float32)))
    with pytest.raises(MiniganError, match=r"Linear.*\(n, 4\) but got \(2, 5\)"):
        nn.Linear(4, 2)(Tensor(np.zeros((2, 5), np.float32)))


def test_train_eval_flags_reach_children():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.BatchNorm1d(2)))
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_repr_is_readable():
    text = repr(nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)))
    assert "(0): Conv2d(1, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)" in text
    assert "(1): LeakyReLU(negative_slope=0.2)" in text


def test_dcgan_init_statistics():
    rng = np.random.default_rng(0)
    model = nn.init.dcgan_(nn.Sequential(nn.Conv2d(64, 128, 4), nn.BatchNorm2d(128)), rng)
    assert abs(model[0].weight.data.std() - 0.02) < 0.001
    assert abs(model[1].weight.data.mean() - 1.0) < 0.01
    np.testing.assert_array_equal(model[0].bias.data, 0)


def test_pytorch_default_init_bound():
    layer = nn.Linear(100, 50)
    assert np.abs(layer.weight.data).max() <= 0.1 and np.abs(layer.weight.data).max() > 0.09


def test_embedding_rejects_out_of_range():
    with pytest.raises(MiniganError, match="outside"):
        nn.Embedding(3, 2)(np.array([0, 3]))


@pytest.mark.parametrize("dim,sizes,shape,want", [
    (1, (128, 7, 7), (2, 6272), (2, 128, 7, 7)),
    (-1, (2, 3), (4, 5, 6), (4, 5, 2, 3)),
    (0, (2, 2), (4, 3), (2, 2, 3)),
    (-2, (3, -1), (2, 12, 5), (2, 3, 4, 5)),
])
def test_unflatten_splits_one_dim_like_pytorch(xp, rng, dim, sizes, shape, want):
    x = Tensor(xp.asarray(rng.standard_normal(shape).astype(np.float32)), requires_grad=True)
    y = nn.Unflatten(dim, sizes)(x)
    assert y.shape == want
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(want))  # the same elements, in order
    gy = rng.standard_normal(want).astype(np.float32)
    y.backward(xp.asarray(gy))
    np.testing.assert_array_equal(backend.to_cpu(x.grad), gy.reshape(shape))
    assert repr(nn.Unflatten(dim, sizes)) == f"Unflatten(dim={dim}, unflattened_size={sizes})"


def test_unflatten_size_mismatch_names_both():
    with pytest.raises(MiniganError, match=r"unflattened_size \(16, 4, 4\) \(product 256\).*size 300 of dim 1"):
        nn.Unflatten(1, (16, 4, 4))(Tensor(np.zeros((2, 300), np.float32)))
    with pytest.raises(MiniganError, match=r"dim 3 of an input of shape \(2, 6\)"):
        nn.Unflatten(3, (2, 3))(Tensor(np.zeros((2, 6), np.float32)))


def test_unflatten_old_one_argument_call_says_how_to_write_it():
    with pytest.raises(MiniganError, match=re.escape("write nn.Unflatten(1, (128, 7, 7))")):
        nn.Unflatten((128, 7, 7))
    with pytest.raises(MiniganError, match=re.escape("nn.Unflatten(1, (128, 7, 7))")):
        nn.Unflatten(1)


def test_unflatten_keeps_state_dict_names():
    """Unflatten holds no state: a network's keys (and so old checkpoints) do not depend on it."""
    g = nn.Sequential(nn.Linear(4, 8), nn.Unflatten(1, (2, 2, 2)), nn.BatchNorm2d(2))
    assert list(g.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "2.running_mean", "2.running_var"]


@pytest.mark.parametrize("activation", [lambda: nn.ReLU(), lambda: nn.LeakyReLU(0.2)], ids=["relu", "leaky_relu"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_sequential_fuses_batch_norm_and_its_activation_without_changing_a_value(activation, training, monkeypatch):
    """BatchNorm then ReLU/LeakyReLU runs as one op (one kernel pass on the GPU): the same outputs,
    gradients and running statistics as the two layers one after the other, bit for bit."""
    from minigan.functional.normalization import BatchNormActivation
    from minigan.nn import container

    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 3, 4, 4)).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for fuse in (True, False):
        with monkeypatch.context() as patch:
            if not fuse:
                patch.setattr(container, "_batch_norm_activation", lambda layer, after: None)
            block = nn.Sequential(nn.BatchNorm2d(3), activation())
            nn.init.reset_parameters(block, np.random.default_rng(5))
            block.train(training)
            xt = Tensor(x.copy(), requires_grad=True)
            y = block(xt)
            assert isinstance(y.creator, BatchNormActivation) == fuse
            y.backward(gy)
            results.append([y.data, xt.grad, block[0].weight.grad, block[0].bias.grad, block[0].running_mean,
                            block[0].running_var])
    for fused, apart in zip(*results):
        np.testing.assert_array_equal(fused, apart)


def test_a_watched_layer_is_not_fused():
    from minigan.inspect.hooks import watch

    block, calls = nn.Sequential(nn.BatchNorm1d(3), nn.ReLU()), []
    with watch(block, lambda name, layer, args, y, seconds: calls.append(type(layer).__name__)):
        block(Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)))
    assert calls == ["BatchNorm1d", "ReLU"]
