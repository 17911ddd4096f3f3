"""``nn.utils``: the path PyTorch users know (``torch.nn.utils.spectral_norm``); the code lives in
``minigan/nn/spectral_norm.py``."""

from minigan.nn.spectral_norm import SpectralNorm, remove_spectral_norm, spectral_norm

__all__ = ["SpectralNorm", "remove_spectral_norm", "spectral_norm"]
