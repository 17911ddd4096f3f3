"""Shared fixtures: the array-module fixture runs a test on NumPy and, when a GPU is usable, CuPy."""

import os
import tempfile

# Numba and CuPy caches in a writable temp dir unless CI chose a place (set before they import).
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "minigan-numba-cache"))
os.environ.setdefault("CUPY_CACHE_DIR", os.path.join(tempfile.gettempdir(), "minigan-cupy-cache"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from minigan import backend  # noqa: E402

pytest_plugins = ["cuda_host.fixtures"]  # fake_gpu: the GPU path on the host emulator (tests/cuda_host)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CuPy and a usable CUDA GPU (skipped otherwise)")
    config.addinivalue_line("markers", "slow: an end-to-end run of more than a few seconds")


def pytest_collection_modifyitems(config, items):
    reason = backend.gpu_problem()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"no usable GPU: {reason}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array module under test: numpy always, cupy when a GPU is usable."""
    if request.param == "numpy":
        return np
    return backend.cupy


@pytest.fixture
def rng():
    return np.random.default_rng(0)
