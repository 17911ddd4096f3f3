"""Small trainers and configs shared by the GAN tests (tests/ is on sys.path under pytest)."""

import numpy as np

from minigan import gan
from minigan.gan import monitor


def tiny(tmp_path, name, **kw):
    """A TrainConfig for a seconds-long synthetic run in tmp_path/name."""
    cfg = {"dataset": "synthetic", "model": "dcgan", "batch_size": 16, "nz": 8, "image_size": 16, "limit": 32,
           "log_every": 1, "run_dir": str(tmp_path / name)}
    cfg.update(kw)
    return gan.TrainConfig(**cfg)


def trainer_of(model="dcgan", **kw):
    """A Trainer for 1x16x16 images of 10 classes, without data or a run folder."""
    cfg = {"dataset": "synthetic", "model": model, "batch_size": 8, "nz": 8}
    cfg.update(kw)
    return gan.get_trainer_class(model)(gan.TrainConfig(**cfg), (1, 16, 16), 10)


def quiet(line):
    """An echo that prints nothing."""


def press_ctrl_c_after_one_step(monkeypatch):
    """Make the training loop see a Ctrl-C right after its first step (it saves and stops)."""
    real_enter = monitor.GracefulInterrupt.__enter__

    def enter_then_press_ctrl_c(self):
        real_enter(self)
        self.requested = True
        return self

    monkeypatch.setattr(monitor.GracefulInterrupt, "__enter__", enter_then_press_ctrl_c)


def assert_same_networks(a, b):
    """Every parameter and buffer of trainer a's networks equals b's, bit for bit."""
    for name, net in a.networks.items():
        for key, value in net.state_dict().items():
            np.testing.assert_array_equal(b.networks[name].state_dict()[key], value, err_msg=f"{name}.{key}")
