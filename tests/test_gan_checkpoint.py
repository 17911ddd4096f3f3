"""Checkpoints: exact resume, atomic writes, and clear errors for damaged or foreign files."""

import os

import numpy as np
import pytest

from minigan import gan
from minigan.errors import MiniganError
from minigan.gan import checkpoint, training
from gan_helpers import quiet, tiny


def assert_same_state(a, b):
    for name in a.networks:
        sa, sb = a.networks[name].state_dict(), b.networks[name].state_dict()
        assert list(sa) == list(sb)
        for key in sa:
            np.testing.assert_array_equal(sa[key], sb[key], err_msg=f"{name}.{key}")
        oa, ob = a.optimizers[name].state_dict(), b.optimizers[name].state_dict()
        for key in oa:
            np.testing.assert_array_equal(oa[key], ob[key], err_msg=f"optimizer {name} {key}")
    for name in a.rngs:
        assert a.rngs[name].bit_generator.state == b.rngs[name].bit_generator.state, name


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_resume_is_bit_identical_to_a_straight_run(tmp_path, model):
    straight = training.train(tiny(tmp_path, "a", model=model, epochs=2), quiet)
    training.train(tiny(tmp_path, "b", model=model, epochs=1), quiet)
    resumed = training.resume(str(tmp_path / "b"), quiet, epochs=2)
    assert resumed.step == straight.step == 4 and resumed.epoch == 2
    assert_same_state(straight, resumed)
    np.testing.assert_array_equal(straight.history["loss_D"], resumed.history["loss_D"])


def test_save_load_round_trip_keeps_every_array(tmp_path):
    trainer = training.train(tiny(tmp_path, "a", model="cgan", epochs=1), quiet)
    path = tmp_path / "copy.npz"
    checkpoint.save(trainer, path)
    ckpt = checkpoint.load(path)
    assert ckpt.meta["model"] == "cgan" and ckpt.meta["step"] == 2 and ckpt.meta["image_shape"] == [1, 16, 16]
    np.testing.assert_array_equal(ckpt.arrays["fixed/labels"], trainer.fixed["labels"])
    assert set(ckpt.group("data")) >= {"epoch", "index", "permutation"}
    rebuilt = checkpoint.build_trainer(path)
    assert_same_state(trainer, rebuilt)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_damaged_and_truncated_checkpoints_raise_clear_errors(tmp_path):
    training.train(tiny(tmp_path, "a", epochs=1), quiet)
    good = (tmp_path / "a" / "checkpoints" / "last.npz").read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(MiniganError, match="damaged or truncated"):
        checkpoint.load(truncated)
    flipped = bytearray(good)
    middle = len(flipped) // 2
    flipped[middle:middle + 64] = bytes(64)  # zero a run of bytes inside some array's data
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(MiniganError, match="damaged or truncated"):
        checkpoint.load(damaged)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(MiniganError, match="not a minigan checkpoint"):
        checkpoint.load(foreign)
    with pytest.raises(MiniganError, match="no checkpoint"):
        checkpoint.load(tmp_path / "missing.npz")


def test_checkpoint_of_another_model_or_shape_is_refused(tmp_path):
    training.train(tiny(tmp_path, "c", model="cgan", epochs=1), quiet)
    ckpt = checkpoint.load(tmp_path / "c")
    dcgan = gan.get_trainer_class("dcgan")(tiny(tmp_path, "x"), (1, 16, 16), 10)
    with pytest.raises(MiniganError, match="cgan model, not dcgan"):
        checkpoint.restore(dcgan, ckpt)
    other_nz = gan.get_trainer_class("cgan")(tiny(tmp_path, "x", model="cgan", nz=9), (1, 16, 16), 10)
    with pytest.raises(MiniganError, match="does not fit this model"):
        checkpoint.restore(other_nz, ckpt)
    with pytest.raises(MiniganError, match="images of shape"):
        checkpoint.check_matches(ckpt, "cgan", "synthetic", (1, 28, 28), 10)
    with pytest.raises(MiniganError, match="cgan model, not dcgan"):
        training.resume(str(tmp_path / "c"), quiet, model="dcgan", epochs=2)


def test_prune_keeps_the_newest_epoch_files(tmp_path):
    for e in range(1, 5):
        (tmp_path / checkpoint.epoch_name(e)).write_bytes(b"x")
    (tmp_path / "last.npz").write_bytes(b"x")
    checkpoint.prune(tmp_path, 2)
    assert sorted(os.listdir(tmp_path)) == ["epoch_003.npz", "epoch_004.npz", "last.npz"]
    checkpoint.prune(tmp_path, 0)
    assert len(os.listdir(tmp_path)) == 3


def test_find_accepts_a_run_folder_or_a_file(tmp_path):
    training.train(tiny(tmp_path, "a", epochs=1), quiet)
    last = tmp_path / "a" / "checkpoints" / "last.npz"
    assert os.path.samefile(checkpoint.find(tmp_path / "a"), last)
    assert os.path.samefile(checkpoint.find(last), last)
    assert os.path.samefile(checkpoint.run_folder_of(last), tmp_path / "a")
    with pytest.raises(MiniganError, match="holds no checkpoint"):
        checkpoint.find(tmp_path)


@pytest.mark.gpu
def test_a_cpu_checkpoint_samples_the_same_on_the_gpu(tmp_path):
    training.train(tiny(tmp_path, "a", epochs=1), quiet)
    cpu = checkpoint.build_trainer(tmp_path / "a", "cpu").sample(8, rng=np.random.default_rng(1))
    gpu = checkpoint.build_trainer(tmp_path / "a", "gpu").sample(8, rng=np.random.default_rng(1))
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
