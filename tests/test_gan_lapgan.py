"""LAPGAN: the Laplacian pyramid, each level's networks, training, the chained sampler, resume."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from minigan import Tensor, data, gan, images, nn
from minigan import functional as F
from minigan.cli import main
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import lapgan, training
from minigan.gan.lapgan import LAPGANTrainer
from gan_helpers import quiet


@pytest.fixture(autouse=True)
def tiny_networks(monkeypatch):
    """Small enough for CI; the structure (levels, layers, names) stays the real one."""
    monkeypatch.setattr(LAPGANTrainer, "coarse_g_hidden", (32,))
    monkeypatch.setattr(LAPGANTrainer, "g_width", 8)
    monkeypatch.setattr(LAPGANTrainer, "d_width", 8)


def config(tmp_path=None, name="run", **kw):
    base = {"dataset": "synthetic", "model": "lapgan", "batch_size": 16, "nz": 8, "limit": 32, "log_every": 1}
    if tmp_path is not None:
        base["run_dir"] = str(tmp_path / name)
    base.update(kw)
    return gan.TrainConfig(**base)


def build(shape=(1, 28, 28), **kw):
    return LAPGANTrainer(config(**kw), shape, 10)


def real_batch(size=28, n=16):
    return data.load_dataset("synthetic", image_size=size, limit=n).images


def test_pyramid_sizes_and_unsupported_sizes():
    assert lapgan.pyramid_sizes(28) == (7, 14, 28)
    assert lapgan.pyramid_sizes(32) == (8, 16, 32)
    assert lapgan.pyramid_sizes(64) == (8, 16, 32, 64)
    with pytest.raises(MiniganError, match="use --image-size one of 28, 32, 64"):
        lapgan.pyramid_sizes(20)


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3)])
def test_pyramid_reconstructs_the_image(size, channels):
    x = np.random.default_rng(0).uniform(-1, 1, (3, channels, size, size)).astype(np.float32)
    sizes = lapgan.pyramid_sizes(size)
    pyr_images, bands = lapgan.laplacian_pyramid(x, len(sizes))
    assert [im.shape for im in pyr_images] == [(3, channels, s, s) for s in sizes]
    assert [h.shape for h in bands] == [(3, channels, s, s) for s in sizes[1:]]
    np.testing.assert_allclose(lapgan.reconstruct(pyr_images[0], bands).data, x, rtol=0, atol=1e-6)
    for coarse, fine, h in zip(pyr_images, pyr_images[1:], bands):
        np.testing.assert_allclose(F.avg_pool2d(fine, 2).data, coarse.data, atol=1e-6)
        np.testing.assert_allclose(F.avg_pool2d(h, 2).data, 0, atol=1e-6)  # a band is pure detail


def test_pyramid_is_exact_where_no_rounding_happens():
    # pixels k/128 in float64: every 2x2 mean and difference is exact, so the round trip is too
    x = np.random.default_rng(1).integers(-128, 129, (2, 1, 28, 28)) / 128.0
    pyr_images, bands = lapgan.laplacian_pyramid(x, 3)
    np.testing.assert_array_equal(lapgan.reconstruct(pyr_images[0], bands).data, x)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_each_level_has_its_own_networks_of_the_right_shapes(shape):
    c, size, _ = shape
    trainer = build(shape)
    sizes = lapgan.pyramid_sizes(size)
    assert list(trainer.networks) == [f"{role}{s}" for s in sizes for role in "GD"]
    assert trainer.nz == 8 + sum(s * s for s in sizes[1:])
    z0, planes = trainer.split_latent(trainer.draw_noise(4))
    assert z0.shape == (4, 8) and [p.shape for p in planes] == [(4, 1, s, s) for s in sizes[1:]]
    with no_grad():
        coarse = trainer.generate_level(sizes[0], z0)
        assert coarse.shape == (4, c, sizes[0], sizes[0])
        assert trainer.discriminate(coarse).shape == (4, 1)
        for s, plane in zip(sizes[1:], planes):
            l = Tensor(np.zeros((4, c, s, s), np.float32))
            band = trainer.generate_level(s, plane, l)
            assert band.shape == (4, c, s, s)
            assert trainer.discriminate(band, l).shape == (4, 1)
    with pytest.raises(MiniganError, match=r"latents have shape \(n, "):
        trainer.split_latent(np.zeros((4, 8), np.float32))


def test_width_sets_the_channels_of_every_level_but_the_coarse_g():
    trainer = build(width=6)
    assert trainer.networks["D7"][0].weight.shape == (6, 1, 3, 3)
    for s in (14, 28):
        assert trainer.networks[f"G{s}"].body[0].weight.shape == (6, 2, 4, 4)
        assert trainer.networks[f"D{s}"].body[0].weight.shape == (6, 2, 4, 4)
    assert trainer.networks["G7"][0].weight.shape == build().networks["G7"][0].weight.shape
    assert build().networks["G28"].body[0].weight.shape == (8, 2, 4, 4)  # the class attributes without it


def test_runs_saved_before_the_width_option_keep_their_64_channels():
    saved = config(epochs=1).to_dict()
    del saved["width"]  # a config written before --width existed
    assert gan.TrainConfig.from_dict(saved).width == 64
    assert gan.TrainConfig.from_dict(config(width=6).to_dict()).width == 6
    assert gan.TrainConfig.from_dict(config().to_dict()).width is None  # today's default: the class attributes


@pytest.mark.parametrize("kw, words", [({"model": "dcgan", "width": 8}, "--width sets lapgan's channels"),
                                       ({"width": 0}, "--width must be positive, not 0")])
def test_bad_widths_are_refused_before_training(tmp_path, kw, words):
    with pytest.raises(MiniganError, match=words):
        training.train(config(tmp_path, **kw), quiet)
    assert not (tmp_path / "run").exists()


def test_training_steps_give_finite_losses_and_move_every_level():
    trainer = build()
    before = {name: [p.data.copy() for p in net.parameters()] for name, net in trainer.networks.items()}
    x = real_batch()
    for _ in range(3):
        out = trainer.train_step(x)
        trainer.step += 1
        assert set(out) == {f"loss_{r}{s}" for s in (7, 14, 28) for r in "DG"} | {"D_x", "D_G_z"}
        assert all(np.isfinite(float(v)) for v in out.values())
        # D_x, D_G_z: means over the levels of each level's mean sigmoid; BCE of the same logits bounds them
        # (Jensen, and -log a - log(1 - b) is convex): mean loss_D >= -log D_x - log(1 - D_G_z)
        loss_d = np.mean([float(out[f"loss_D{s}"]) for s in (7, 14, 28)])
        assert loss_d > -np.log(float(out["D_x"])) - np.log(1 - float(out["D_G_z"]))
    for name, net in trainer.networks.items():
        for p, old in zip(net.parameters(), before[name]):
            assert not np.array_equal(p.data, old), f"a parameter of {name} did not move"


def test_d_steps_leave_every_g_alone_between_g_turns():
    trainer = build(d_steps=2)
    before = {name: [p.data.copy() for p in net.parameters()] for name, net in trainer.networks.items()}
    out = trainer.train_step(real_batch())
    assert not [k for k in out if k.startswith("loss_G")]
    for name, net in trainer.networks.items():
        moved = any(not np.array_equal(p.data, old) for p, old in zip(net.parameters(), before[name]))
        assert moved == name.startswith("D"), name


def test_chained_sample_is_full_size_in_range_and_follows_the_chain():
    trainer = build()
    trainer.train_step(real_batch())
    z = trainer.draw_noise(6, np.random.default_rng(3))
    levels, bands = trainer.sample_pyramid(z=z)
    assert [im.shape for im in levels] == [(6, 1, s, s) for s in (7, 14, 28)]
    assert [h.shape for h in bands] == [(6, 1, s, s) for s in (14, 28)]
    for coarse, fine, h in zip(levels, levels[1:], bands):
        up = F.upsample_nearest2d(Tensor(coarse), 2).data
        np.testing.assert_allclose(fine, np.clip(up + h, -1, 1), atol=1e-6)
    x = trainer.sample(z=z)
    np.testing.assert_array_equal(x, levels[-1])
    assert x.dtype == np.float32 and np.all(np.isfinite(x)) and x.min() >= -1 and x.max() <= 1
    assert trainer.sample(5).shape == (5, 1, 28, 28)
    assert all(net.training for net in trainer.networks.values())  # eval mode only while sampling


def test_pyramid_image_shows_coarse_image_then_band_and_image_per_level(tmp_path):
    pyr_images, bands = lapgan.laplacian_pyramid(real_batch(n=4), 3)
    lapgan.pyramid_image(pyr_images, bands, tmp_path / "p.png", label="real", scale=2)
    rows = [np.kron(r.data, np.ones((1, 1, k, k), np.float32)) for r, k in
            zip([pyr_images[0], bands[0], pyr_images[1], bands[1], pyr_images[2]], [4, 2, 2, 1, 1])]
    captions = ["real 7x7 image", "real 14x14 band", "real 14x14 image", "real 28x28 band", "real 28x28 image"]
    images.save_rows(rows, tmp_path / "expected.png", normalize=True, row_labels=captions, scale=2)
    got, expected = (np.asarray(Image.open(tmp_path / n)) for n in ("p.png", "expected.png"))
    np.testing.assert_array_equal(got, expected)


def test_resume_is_bit_identical_to_a_straight_run(tmp_path):
    straight = training.train(config(tmp_path, "a", epochs=2), quiet)
    training.train(config(tmp_path, "b", epochs=1), quiet)
    resumed = training.resume(str(tmp_path / "b"), quiet, epochs=2)
    assert resumed.step == straight.step == 4 and resumed.epoch == 2
    for name, net in straight.networks.items():
        for key, value in net.state_dict().items():
            np.testing.assert_array_equal(resumed.networks[name].state_dict()[key], value, err_msg=f"{name}.{key}")
        for key, value in straight.optimizers[name].state_dict().items():
            np.testing.assert_array_equal(resumed.optimizers[name].state_dict()[key], value)
    np.testing.assert_array_equal(straight.history["loss_G28"], resumed.history["loss_G28"])
    np.testing.assert_array_equal(straight.sample_grid()[0], resumed.sample_grid()[0])


def test_impossible_image_sizes_are_refused_with_the_supported_ones(tmp_path):
    with pytest.raises(MiniganError, match="28, 32, 64"):
        LAPGANTrainer(config(), (1, 16, 16), 10)
    with pytest.raises(MiniganError, match="square"):
        LAPGANTrainer(config(), (1, 28, 32), 10)
    with pytest.raises(MiniganError, match="48x48 .*28, 32, 64"):
        training.train(config(tmp_path, image_size=48), quiet)
    assert not (tmp_path / "run").exists()


def test_cli_trains_samples_and_resumes_a_lapgan(tmp_path):
    run = str(tmp_path / "run")
    args = ["train", "synthetic", "--model", "lapgan", "--nz", "8", "--limit", "32", "--batch-size", "16",
            "--epochs", "1", "--width", "6", "--out", run]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "loss_D28" in result.output and (tmp_path / "run" / "samples" / "epoch_001.png").exists()
    result = CliRunner().invoke(main, ["sample", run, "--n", "5", "--out", str(tmp_path / "s.npz")])
    assert result.exit_code == 0, result.output
    x = np.load(tmp_path / "s.npz")["images"]
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    result = CliRunner().invoke(main, ["train", "synthetic", "--resume", run, "--epochs", "2"])  # --width 6 kept
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "checkpoints" / "epoch_002.npz").exists()
    result = CliRunner().invoke(main, ["inspect", run, "--step", "--batch-size", "4"])  # a run, not only the name
    assert result.exit_code == 0, result.output
    assert "lapgan D7: input (1, 7, 7)" in result.output and "loss_D7" in result.output


@pytest.mark.gpu
def test_gpu_trains_and_samples_like_the_cpu():
    cpu, gpu = build(), build(device="gpu")
    z = cpu.draw_noise(4, np.random.default_rng(5))
    np.testing.assert_allclose(gpu.sample(z=z), cpu.sample(z=z), atol=1e-4)
    out = gpu.train_step(gpu.to_device(real_batch()))  # D7's dropout draws differ by device: no equality
    assert all(np.isfinite(float(v)) for v in out.values())
    assert gpu.sample(3).shape == (3, 1, 28, 28)


def test_the_coarse_d_is_convolutional_and_stays_ahead_of_its_g(monkeypatch):
    """Note [the coarse D]: the MLP D of the 7-px level sat at 2 ln 2 (chance) for whole runs; the
    convolutional one keeps a lead over G at the same learning rate."""
    monkeypatch.setattr(LAPGANTrainer, "d_width", 64)
    monkeypatch.setattr(LAPGANTrainer, "coarse_g_hidden", (512, 512))
    trainer = build()
    D = trainer.networks["D7"]
    assert any(isinstance(m, nn.Conv2d) for m in D.modules())
    with no_grad():
        assert D(Tensor(np.zeros((2, 1, 7, 7), np.float32))).shape == (2, 1)
    real = F.avg_pool2d(F.avg_pool2d(Tensor(data.load_dataset("synthetic", image_size=28, limit=512).images), 2), 2)
    rng, losses = np.random.default_rng(0), []
    for _ in range(150):
        x = Tensor(real.data[rng.integers(0, len(real.data), 16)])
        fake = trainer.generate_level(7, trainer.draw_noise(16)[:, :8])
        row = trainer.d_step(x, None, fake, None, d="D7")
        trainer.g_step(fake, None, x, None, g="G7", d="D7")
        losses.append(float(row["loss_D"]))
    assert np.mean(losses[-50:]) < 1.25, np.mean(losses[-50:])  # chance is 2 ln 2 = 1.386
