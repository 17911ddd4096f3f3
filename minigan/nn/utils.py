"""``nn.utils``: the paths PyTorch users know (``torch.nn.utils.spectral_norm``, ``weight_norm``); the code
lives in ``minigan/nn/spectral_norm.py`` and ``minigan/nn/weight_norm.py``."""

from minigan.nn.spectral_norm import SpectralNorm, remove_spectral_norm, spectral_norm
from minigan.nn.weight_norm import WeightNorm, data_dependent_init, weight_norm

__all__ = ["SpectralNorm", "WeightNorm", "data_dependent_init", "remove_spectral_norm", "spectral_norm", "weight_norm"]
