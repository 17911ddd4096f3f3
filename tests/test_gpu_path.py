"""The --device gpu path of minigan, run here on the host emulator (the ``fake_gpu`` fixture).

tests/cuda_host/fake_cupy.py stands in for CuPy as strictly as CuPy itself: a host array mixed
with a device array, fed to a kernel or read by NumPy is refused; every kernel runs on the
emulator. So the mistakes a GPU would show -- host arrays fed to a GPU model, draws copied over
every step, state left unsaved, kernels never called -- show here. The tests that need nothing
of the emulator's own (the ``gpu`` fixture) run on a real GPU too when there is one, as part of
`minigan doctor --gpu`; what the emulator cannot show (speed, cuBLAS, NVRTC's code) is left there.
"""

import numpy as np
import pytest
from click.testing import CliRunner

from cuda_host import fake_cupy
from gan_helpers import press_ctrl_c_after_one_step, tiny, trainer_of
from minigan import backend, cuda, nn, reference
from minigan import functional as F
from minigan.cli import main
from minigan.errors import MiniganError
from minigan.evaluate import probe
from minigan.gan import checkpoint, networks, training
from minigan.inspect import step_report
from minigan.tensor import Tensor


def _quiet(line):
    pass


@pytest.fixture(params=["emulator", pytest.param("cuda", marks=pytest.mark.gpu)])
def gpu(request):
    """The CuPy module of --device gpu: the stand-in on the host emulator, or CuPy on a real GPU."""
    if request.param == "cuda":
        return backend.cupy
    return request.getfixturevalue("fake_gpu")


def _same_state(a, b):
    for name, net in a.networks.items():
        for key, value in net.state_dict().items():
            np.testing.assert_array_equal(backend.to_cpu(b.networks[name].state_dict()[key]), backend.to_cpu(value),
                                          err_msg=f"{name}.{key}")
    for name in a.rngs:
        assert a.rngs[name].bit_generator.state == b.rngs[name].bit_generator.state, name


# ---- the CUDA installation is checked before any work ----


def test_require_gpu_checks_that_cuda_can_compile_and_run(fake_gpu):
    backend.require_gpu()  # the emulator compiles and runs the probe kernel, and multiplies


def test_a_cuda_install_that_cannot_compile_is_named_in_one_sentence(fake_gpu, monkeypatch, tmp_path):
    """cupy-cuda13x without its [ctk] libraries imports and sees the GPU, then fails at the first
    kernel it compiles: the check finds it first and names the fix."""
    def no_nvrtc(self, name):
        raise RuntimeError("CompileException: nvrtc: error: failed to open libnvrtc-builtins.so.13.0.\n"
                           "Make sure that libnvrtc-builtins.so.13.0 is installed correctly.")

    monkeypatch.setattr(fake_cupy.RawModule, "get_function", no_nvrtc)
    with pytest.raises(MiniganError) as caught:
        backend.require_gpu()
    message = str(caught.value)
    assert "\n" not in message and "failed to open libnvrtc-builtins.so.13.0" in message
    assert "pip install 'minigan[gpu]'" in message and "cupy-cuda13x[ctk]" in message
    result = CliRunner().invoke(main, ["train", "synthetic", "--device", "gpu", "--limit", "16", "--epochs", "1",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: --device gpu is not usable: CuPy "
                                                                        "cannot compile and run a CUDA kernel")


# ---- what is fed to a GPU model ----


def test_dropout_of_a_gpu_tensor_with_a_numpy_generator_draws_on_the_gpu(gpu):
    x = np.random.default_rng(0).standard_normal((4, 50)).astype(np.float32)
    rng, twin = np.random.default_rng(3), np.random.default_rng(3)
    y = F.dropout(Tensor(gpu.asarray(x), requires_grad=True), 0.3, True, rng)
    key = int(twin.integers(0, 2**64, dtype=np.uint64))  # the one draw the host Generator made
    u = reference.random_uniform((key & 0xFFFFFFFF, key >> 32), x.size).reshape(x.shape)
    mask = ((u >= 0.3) / np.float32(0.7)).astype(np.float32)
    np.testing.assert_array_equal(gpu.asnumpy(y.data), x * mask)
    y.sum().backward()
    assert rng.bit_generator.state == twin.bit_generator.state


def test_the_probe_of_a_gpu_discriminator_gives_the_cpu_features(gpu):
    D = networks.dcgan_discriminator(image_size=16)
    images = np.random.default_rng(1).uniform(-1, 1, (6, 1, 16, 16)).astype(np.float32)
    for pool in (None, 2):
        cpu = probe.discriminator_features(D, images, pool, batch_size=4)
        D.to("gpu")
        gpu = probe.discriminator_features(D, images, pool, batch_size=4)
        D.to("cpu")
        assert type(gpu) is np.ndarray
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)


def test_inspect_steps_gpu_networks_as_it_steps_cpu_ones(gpu):
    batch = np.random.default_rng(2).uniform(-1, 1, (4, 1, 16, 16)).astype(np.float32)
    reports = {}
    for device in ("cpu", "gpu"):
        G, D = networks.dcgan_generator(nz=8, image_size=16), networks.dcgan_discriminator(image_size=16)
        for net, seed in ((G, 0), (D, 1)):
            nn.init.reset_parameters(net, np.random.default_rng(seed))
            net.to(device)
        reports[device] = step_report(G, D, batch, nz=8)
    for name, value in reports["cpu"]["losses"].items():
        assert reports["gpu"]["losses"][name] == pytest.approx(value, rel=1e-4)


# ---- the random draws of a GPU run ----


def test_a_training_step_copies_no_draw_to_the_device(fake_gpu):
    """Noise, its mixture component, labels and instance noise are drawn on the GPU from one key each
    (Note [device draws]): nothing of the batch's size crosses from the host in a step."""
    for model in ("dcgan", "cgan"):
        trainer = trainer_of(model, device="gpu", instance_noise=0.1, latent="mixture", components=3)
        real = fake_gpu.asarray(np.zeros((8, 1, 16, 16), np.float32))
        labels = fake_gpu.asarray(np.arange(8) % 10) if trainer.conditional else None
        trainer.train_step(real, labels)
        fake_gpu.transfers.clear()
        trainer.train_step(real, labels)
        batch_sized = [t for t in fake_gpu.transfers if t[0] and t[0][0] == 8]
        assert batch_sized == [], f"{model}: copied to the device in a step: {batch_sized}"


GPU_RUN = dict(device="gpu", limit=16, batch_size=8, epochs=1)  # two steps


def test_gpu_runs_repeat_themselves(gpu, tmp_path):
    kw = dict(GPU_RUN, instance_noise=0.1, latent="mixture", components=3)
    _same_state(training.train(tiny(tmp_path, "a", **kw), _quiet), training.train(tiny(tmp_path, "b", **kw), _quiet))


@pytest.mark.parametrize("model, kw", [("gan", {}), ("dcgan", dict(instance_noise=0.1))], ids=["gan", "dcgan"])
def test_gpu_runs_resume_exactly(gpu, tmp_path, model, kw):
    """The GAN's D has Dropout: its Generator is the host one, saved, so the resumed masks are the same."""
    kw = dict(GPU_RUN, model=model, **kw)
    straight = training.train(tiny(tmp_path, "a", **kw), _quiet)
    with pytest.MonkeyPatch.context() as patch:  # stop after the first step, saving a checkpoint
        press_ctrl_c_after_one_step(patch)
        with pytest.raises(KeyboardInterrupt):
            training.train(tiny(tmp_path, "b", **kw), _quiet)
    resumed = training.resume(str(tmp_path / "b"), _quiet)
    assert straight.step == resumed.step == 2
    _same_state(straight, resumed)


def test_a_checkpoint_moves_between_the_cpu_and_the_gpu(gpu, tmp_path):
    training.train(tiny(tmp_path, "cpu", epochs=1), _quiet)
    training.train(tiny(tmp_path, "gpu", epochs=1, device="gpu"), _quiet)
    for run in ("cpu", "gpu"):
        on = {d: checkpoint.build_trainer(tmp_path / run, d) for d in ("cpu", "gpu")}
        images = {d: t.sample(8, rng=np.random.default_rng(1)) for d, t in on.items()}
        np.testing.assert_allclose(images["gpu"], images["cpu"], atol=1e-4)
    resumed = training.resume(str(tmp_path / "gpu"), _quiet, epochs=2, device="cpu")
    assert resumed.epoch == 2


# ---- the fused kernels ----


def test_the_fused_kernels_serve_a_dcgan_step(fake_gpu):
    trainer = trainer_of("dcgan", device="gpu")
    trainer.train_step(fake_gpu.asarray(np.zeros((8, 1, 16, 16), np.float32)))
    launched = {name[:-4] for name, kernel in cuda._kernels().items() if kernel.launches}
    assert {"batch_norm_forward_relu", "batch_norm_forward_leaky_relu", "bce_with_logits_forward_backward"} <= launched
    assert not launched & {"batch_norm_forward", "relu_forward", "bce_with_logits_forward"}


@pytest.mark.parametrize("settings", [
    dict(model="cgan", arch="conv", replay=8, label_smoothing=0.1),
    dict(model="lapgan", image_size=32, channels=3),
    dict(vbn=True, minibatch_discrimination=4, feature_matching=True, historical_averaging=0.1),
    dict(loss="wasserstein", gp="wgan-gp", d_norm="layer"),  # second order on the device
    dict(spectral_norm=True),
    dict(unroll=2),
    dict(model="began"),
], ids=["cgan-conv-replay", "lapgan-rgb", "improved-techniques", "wgan-gp", "spectral-norm", "unrolled", "began"])
def test_every_model_and_technique_trains_on_the_gpu(fake_gpu, tmp_path, settings):
    trainer = training.train(tiny(tmp_path, "run", **dict(dict(device="gpu", limit=16, batch_size=8, epochs=1),
                                                         **settings)), _quiet)
    assert trainer.step == 2 and all(np.isfinite(v).all() for v in trainer.history.values())
