"""Small trainers and configs shared by the GAN tests (tests/ is on sys.path under pytest)."""

from minigan import gan


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
