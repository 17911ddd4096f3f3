"""Floor 6: the GAN models, their Trainer, losses and checkpoints.

    from minigan import gan

    config = gan.TrainConfig(dataset="mnist", model="dcgan", epochs=5)
    trainer = gan.train(config)                 # a run folder with grids, metrics, checkpoints
    images = trainer.sample(16)                 # (16, 1, 28, 28) in [-1, 1]

Each model is a Trainer subclass registered under its ``--model`` name below; its module is
imported only when the model is used.
"""

import importlib
import importlib.util

from minigan.errors import MiniganError
from minigan.gan.base import TrainConfig, Trainer

# --model name -> (module, Trainer subclass). LAPGAN (minigan/gan/lapgan.py) subclasses
# base.Trainer with one G/D pair per pyramid level, registered under names of its own.
MODELS = {
    "gan": ("minigan.gan.gan", "GANTrainer"),
    "dcgan": ("minigan.gan.dcgan", "DCGANTrainer"),
    "cgan": ("minigan.gan.cgan", "CGANTrainer"),
    "lapgan": ("minigan.gan.lapgan", "LAPGANTrainer"),
    "began": ("minigan.gan.began", "BEGANTrainer"),
    "stackgan": ("minigan.gan.stackgan", "StackGANTrainer"),
    "ssgan": ("minigan.gan.ssgan", "SSGANTrainer"),
}


def get_trainer_class(name):
    """The Trainer subclass of a model name.

    Raises:
        MiniganError: unknown name, or a model whose module is not part of this installation.
    """
    if name not in MODELS:
        raise MiniganError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    module_name, class_name = MODELS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise MiniganError(f"the {name} model is not part of this minigan installation yet; "
                           f"choose one of {', '.join(available_models())}.") from e
    return getattr(module, class_name)


def available_models():
    """The model names whose module can be imported here."""
    return [n for n, (m, _) in MODELS.items() if importlib.util.find_spec(m) is not None]


def train(config, echo=print, on_epoch_end=(), comm=None):
    """Train a new run; see ``minigan.gan.training.train`` (``on_epoch_end``: its epoch-end hooks;
    ``comm``: the ranks of a data-parallel run, None for one process)."""
    from minigan.gan import training

    return training.train(config, echo, on_epoch_end, **({} if comm is None else {"comm": comm}))


def resume(path, echo=print, on_epoch_end=(), comm=None, **overrides):
    """Continue a run from its checkpoint; see ``minigan.gan.training.resume``."""
    from minigan.gan import training

    return training.resume(path, echo, on_epoch_end, **({} if comm is None else {"comm": comm}), **overrides)


__all__ = ["MODELS", "TrainConfig", "Trainer", "available_models", "get_trainer_class", "resume", "train"]
