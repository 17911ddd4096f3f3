"""Floor 5: layers with PyTorch's names and semantics. ``from minigan import nn``."""

from minigan.nn import init, utils
from minigan.nn.activation import LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from minigan.nn.container import Dropout, Flatten, GaussianNoise, Sequential, Unflatten, Upsample
from minigan.nn.conv import Conv2d, ConvTranspose2d
from minigan.nn.gan_layers import (
    MinibatchDiscrimination,
    MixtureLatent,
    ReferenceBatch,
    VirtualBatchNorm,
    replace_batch_norm,
)
from minigan.nn.linear import Embedding, Linear
from minigan.nn.module import Module, Parameter, replace_modules
from minigan.nn.normalization import BatchNorm, BatchNorm1d, BatchNorm2d, InstanceNorm2d, LayerNorm
from minigan.nn.sync_batch_norm import SyncBatchNorm

__all__ = [
    "BatchNorm", "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout", "Embedding",
    "Flatten", "GaussianNoise", "InstanceNorm2d", "LayerNorm", "LeakyReLU", "Linear", "MinibatchDiscrimination",
    "MixtureLatent", "Module", "Parameter", "ReLU", "ReferenceBatch", "Sequential", "Sigmoid", "Softplus", "SyncBatchNorm", "Tanh",
    "Unflatten", "Upsample", "VirtualBatchNorm", "init", "replace_batch_norm", "replace_modules", "utils",
]
