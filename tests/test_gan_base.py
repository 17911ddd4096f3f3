"""The Trainer: seeded generators, the D and G steps, d_steps, sampling, the config."""

import math

import numpy as np
import pytest

from minigan import Tensor, gan
from minigan.function import no_grad
from minigan.gan import base
from gan_helpers import trainer_of


def batch(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 1, 16, 16)).astype(np.float32), rng.integers(0, 10, n)


def params(net):
    """Parameters only: batch-norm buffers move with every forward pass in training mode."""
    return {k: p.data.copy() for k, p in net.named_parameters()}


def changed(before, net):
    return any(not np.array_equal(before[k], p.data) for k, p in net.named_parameters())


def test_generators_are_seeded_and_independent():
    a, b, c = base.make_generators(0), base.make_generators(0), base.make_generators(1)
    assert set(a) == set(base.RNG_NAMES)
    assert a["noise"].random() == b["noise"].random() != c["noise"].random()
    assert a["data"].random() != a["noise"].random()


def test_a_step_updates_both_networks_and_reports_metrics():
    trainer = trainer_of()
    g0, d0 = params(trainer.networks["G"]), params(trainer.networks["D"])
    real = batch()[0]
    with no_grad():  # D(x) of the untouched D: a twin built from the same seed, BN on the real batch alone
        logits = trainer_of().discriminate(Tensor(real), None).numpy().astype(np.float64)
    out = trainer.train_step(real)
    headline = {k for k in out if ":" not in k}
    assert headline == {"loss_D", "loss_G", "D_x", "D_G_z", "D_G_z2", "grad_norm_D", "grad_norm_G"}
    assert float(out["D_x"]) == pytest.approx(np.mean(1 / (1 + np.exp(-logits))), rel=1e-5)
    # the means of sigmoid(logits) beside the BCE losses of the same logits: by Jensen,
    # mean(-log s) >= -log(mean s), so the losses bound them from above (equal only if all s were equal)
    loss_d, d_x, d_g_z = float(out["loss_D"]), float(out["D_x"]), float(out["D_G_z"])
    assert -math.log(d_x) - math.log(1 - d_g_z) < loss_d < -math.log(d_x) - math.log(1 - d_g_z) + 0.1
    assert -math.log(float(out["D_G_z2"])) < float(out["loss_G"]) < -math.log(float(out["D_G_z2"])) + 0.1
    # per-layer gradient norms of every layer with parameters, and the totals agree with them
    d_layers = [k for k in out if k.startswith("layer_grad_norm:D.")]
    assert len(d_layers) == len({n.rpartition(".")[0] for n, _ in trainer.networks["D"].named_parameters()})
    total = np.sqrt(sum(float(out[k]) ** 2 for k in d_layers))
    assert float(out["grad_norm_D"]) > 0 and abs(total - float(out["grad_norm_D"])) < 1e-6 * total
    assert changed(g0, trainer.networks["G"]) and changed(d0, trainer.networks["D"])
    assert all(p.requires_grad for p in trainer.networks["D"].parameters())  # unfrozen after the G step
    assert trainer.optimizers["D"].step_count == trainer.optimizers["G"].step_count == 1


def test_g_step_leaves_d_parameters_alone():
    trainer = trainer_of()
    real, _ = batch()
    fake = trainer.generate(base.Tensor(trainer.draw_noise(8)))
    d0 = params(trainer.networks["D"])
    trainer.g_step(fake, None, base.Tensor(real), None)
    assert not changed(d0, trainer.networks["D"])
    assert all(p.grad is None for p in trainer.networks["D"].parameters())


def test_d_steps_k_steps_g_every_kth_batch():
    trainer = trainer_of(d_steps=3)
    g0 = params(trainer.networks["G"])
    for i in range(2):
        assert "loss_G" not in trainer.train_step(batch(i)[0])
        trainer.step += 1
    assert not changed(g0, trainer.networks["G"])
    assert "loss_G" in trainer.train_step(batch(2)[0])
    assert changed(g0, trainer.networks["G"])


def test_separate_learning_rates():
    trainer = trainer_of(lr=1e-3, lr_g=5e-4)
    assert trainer.optimizers["G"].lr == 5e-4 and trainer.optimizers["D"].lr == 1e-3
    assert trainer.optimizers["G"].betas == (0.5, 0.999)


def test_sample_uses_eval_mode_and_changes_no_state():
    trainer = trainer_of()
    trainer.train_step(batch()[0])
    before = {k: v.copy() for k, v in trainer.networks["G"].state_dict().items()}  # BN buffers too
    x = trainer.sample(5)
    assert x.shape == (5, 1, 16, 16) and x.dtype == np.float32 and np.abs(x).max() <= 1
    after = trainer.networks["G"].state_dict()
    assert all(np.array_equal(v, after[k]) for k, v in before.items())
    assert trainer.networks["G"].training  # back in training mode
    one = trainer.sample(z=trainer.fixed["z"][:1])
    np.testing.assert_allclose(one[0], trainer.sample(z=trainer.fixed["z"][:3])[0], atol=1e-6)


def test_dropout_layers_get_seeded_generators_of_their_own():
    trainer = trainer_of("gan")
    names = [n for n in trainer.rngs if n.startswith("dropout:")]
    assert names == ["dropout:D.encoder.3", "dropout:D.encoder.6"]
    other = trainer_of("gan")
    real = batch()[0]
    out_a, out_b = trainer.train_step(real), other.train_step(real)
    assert float(out_a["loss_D"]) == float(out_b["loss_D"])


def test_record_keeps_series_aligned():
    trainer = trainer_of()
    trainer.record([{"loss_D": 1.0}, {"loss_D": 2.0, "loss_G": 3.0}])
    assert trainer.history["loss_D"] == [1.0, 2.0]
    assert np.isnan(trainer.history["loss_G"][0]) and trainer.history["loss_G"][1] == 3.0


def test_config_round_trip_ignores_unknown_keys():
    cfg = gan.TrainConfig(dataset="synthetic", epochs=3, lr_g=1e-4)
    again = gan.TrainConfig.from_dict(dict(cfg.to_dict(), from_the_future=1))
    assert again == cfg


@pytest.mark.gpu
def test_gpu_step_matches_cpu_step():
    cpu, gpu = trainer_of(), trainer_of(device="gpu")
    real = batch()[0]
    out_cpu = cpu.train_step(real)
    out_gpu = gpu.train_step(gpu.to_device(real))
    np.testing.assert_allclose(float(out_gpu["loss_D"]), float(out_cpu["loss_D"]), rtol=1e-4)
