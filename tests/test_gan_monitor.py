"""The monitor: metrics collected in one transfer, NaN caught, log lines and the Ctrl-C flag."""

import os
import signal

import numpy as np
import pytest

from minigan import gan
from minigan.errors import MiniganError
from minigan.gan import monitor, run_folder


@pytest.fixture
def setup(tmp_path):
    trainer = gan.get_trainer_class("dcgan")(gan.TrainConfig(dataset="synthetic", nz=8), (1, 16, 16), 10)
    run = run_folder.RunFolder.create(tmp_path / "run")
    lines = []
    return trainer, run, monitor.Monitor(trainer, run, 10, lines.append), lines


def test_collect_carries_missing_metrics_and_logs_means(setup):
    trainer, run, mon, lines = setup
    for step, out in enumerate([{"loss_D": 1.0, "loss_G": 4.0}, {"loss_D": 3.0}], start=1):
        trainer.step = step
        mon.add({k: np.float32(v) for k, v in out.items()})
    mon.log(2)
    assert trainer.history == {"loss_D": [1.0, 3.0], "loss_G": [4.0, 4.0]}
    assert lines[0].startswith("epoch 1/5 step 2/10  loss_D 2.0000  loss_G 4.0000")
    assert run.metrics()[0]["loss_D"] == 2.0 and run.metrics()[0]["step"] == 2


def test_nan_and_inf_raise_with_advice(setup):
    trainer, _, mon, _ = setup
    trainer.step = 7
    mon.add({"loss_D": np.float32(np.inf)})
    advice = "loss_D became inf at step 7.*no checkpoint had been written yet.*--lr 5e-05"
    with pytest.raises(MiniganError, match=advice):
        mon.collect()
    trainer.networks["G"].parameters()[0].data[...] = np.nan
    with pytest.raises(MiniganError, match="a parameter of G became nan"):
        mon.check_parameters()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_first_signal_only_asks_to_stop_and_the_handler_is_restored(sig):
    before = signal.getsignal(sig)  # for SIGINT: default_int_handler, or SIG_IGN in a background job
    with monitor.GracefulInterrupt() as interrupt:
        os.kill(os.getpid(), sig)
        assert interrupt.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)
    assert signal.getsignal(sig) is before
