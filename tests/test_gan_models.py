"""The models: network shapes, initialisation, conditioning, and the model registry."""

import numpy as np
import pytest

from minigan import Tensor, gan
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import cgan, networks


def config(**kw):
    base = {"dataset": "synthetic", "batch_size": 8, "nz": 8}
    base.update(kw)
    return gan.TrainConfig(**base)


def build(model, shape=(1, 16, 16), classes=10, **kw):
    return gan.get_trainer_class(model)(config(model=model, **kw), shape, classes)


@pytest.mark.parametrize("model, kw", [("gan", {}), ("dcgan", {}), ("cgan", {}), ("cgan", {"arch": "conv"})])
@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 28, 28)])
def test_g_makes_images_and_d_gives_one_logit_each(model, kw, shape):
    trainer = build(model, shape, **kw)
    labels = trainer.draw_labels(4)
    with no_grad():
        x = trainer.generate(Tensor(trainer.draw_noise(4)), labels)
        logits = trainer.discriminate(x, labels)
    assert x.shape == (4,) + shape and logits.shape == (4, 1)
    assert np.all(np.abs(x.data) <= 1)


def test_dcgan_uses_the_papers_init():
    trainer = build("dcgan", (1, 28, 28))
    conv_w = trainer.networks["D"].encoder[2].weight.data  # Conv2d(64, 128): 131072 draws
    assert abs(conv_w.std() - 0.02) < 0.001 and abs(conv_w.mean()) < 0.001
    bn_w = trainer.networks["G"][2].weight.data
    assert abs(bn_w.mean() - 1) < 0.01 and 0.005 < bn_w.std() < 0.04
    assert np.all(trainer.networks["D"].head.bias.data == 0)


def test_same_seed_same_networks_other_seed_others():
    a, b, c = build("gan"), build("gan"), build("gan", seed=1)
    for key, value in a.networks["G"].state_dict().items():
        np.testing.assert_array_equal(value, b.networks["G"].state_dict()[key])
    assert not np.array_equal(a.networks["G"][0].weight.data, c.networks["G"][0].weight.data)


def test_the_labels_steer_the_cgan_generator():
    trainer = build("cgan")
    z = np.repeat(trainer.draw_noise(1), 2, axis=0)
    x = trainer.sample(z=z, labels=np.array([0, 1]))
    assert not np.allclose(x[0], x[1])
    np.testing.assert_array_equal(cgan.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


def test_cgan_grid_has_one_row_per_class_with_shared_noise():
    trainer = build("cgan", classes=4)
    x, nrow = trainer.sample_grid()
    assert nrow == cgan.GRID_PER_CLASS and len(x) == 4 * nrow
    np.testing.assert_array_equal(trainer.fixed["labels"][:: nrow], [0, 1, 2, 3])
    np.testing.assert_array_equal(trainer.fixed["z"][:nrow], trainer.fixed["z"][nrow:2 * nrow])


def test_conv_cgan_feeds_label_planes_to_d():
    trainer = build("cgan", arch="conv", classes=10)
    first = trainer.networks["D"].encoder.body[0]
    assert first.in_channels == 1 + 10
    assert trainer.networks["G"].body[1].in_channels == 8 + 10  # Unflatten, then ConvT(nz + K, ...)


def test_models_refuse_what_they_cannot_do():
    with pytest.raises(MiniganError, match="cannot build 20x20"):
        build("dcgan", (1, 20, 20))
    with pytest.raises(MiniganError, match="needs square images"):
        build("dcgan", (1, 16, 32))
    with pytest.raises(MiniganError, match="class labels"):
        build("cgan", classes=0)
    with pytest.raises(MiniganError, match="--arch applies to --model cgan only"):
        build("dcgan", arch="conv")
    with pytest.raises(MiniganError, match="unknown --arch"):
        build("cgan", arch="resnet")


@pytest.mark.parametrize("size", [12, 16, 20, 28, 32, 48, 64, 128])
def test_dcgan_builds_exactly_the_sizes_its_message_lists(size):
    listed = (16, 28, 32, 64, 128)
    if size not in listed:
        with pytest.raises(MiniganError, match=r"use --image-size one of 16, 28, 32, 64, 128\.$"):
            networks.dcgan_generator(nz=4, image_size=size, ngf=2)
        return
    G = networks.dcgan_generator(nz=4, image_size=size, channels=3, ngf=2)
    D = networks.dcgan_discriminator(image_size=size, channels=3, ndf=2)
    with no_grad():
        x = G(Tensor(np.zeros((2, 4), np.float32)))
        assert x.shape == (2, 3, size, size) and D(x).shape == (2, 1)


def test_registry():
    assert gan.get_trainer_class("dcgan").name == "dcgan"
    assert {"gan", "dcgan", "cgan"} <= set(gan.available_models())
    with pytest.raises(MiniganError, match="unknown model 'vae'"):
        gan.get_trainer_class("vae")
    assert gan.available_models() == list(gan.MODELS) and {"gan", "dcgan", "cgan", "lapgan"} <= set(gan.MODELS)
    for name in gan.available_models():
        assert issubclass(gan.get_trainer_class(name), gan.Trainer) and gan.get_trainer_class(name).name == name


def test_a_registered_model_whose_module_is_missing_is_refused_by_name(monkeypatch):
    monkeypatch.setitem(gan.MODELS, "lapgan", ("minigan.gan.no_such_module", "LAPGANTrainer"))
    assert "lapgan" not in gan.available_models()
    with pytest.raises(MiniganError, match="lapgan model is not part of this minigan installation yet; "
                                           "choose one of gan, dcgan, cgan") as e:
        gan.get_trainer_class("lapgan")
    assert str(e.value).count("lapgan") == 1
