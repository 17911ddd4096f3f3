"""pytest fixtures for the GPU path on a machine without one (tests/conftest.py loads them as a plugin)."""

import pytest

from cuda_host import fake_cupy, host_build


@pytest.fixture
def fake_gpu(monkeypatch):
    """fake_cupy installed as minigan's CuPy, minigan.cuda's caches emptied; yields the module."""
    problem = host_build.compiler_problem()
    if problem is not None:
        pytest.skip(problem)
    from minigan import backend, cuda

    module = fake_cupy.install(monkeypatch)
    monkeypatch.setattr(backend, "_toolkit_checked", {})
    monkeypatch.setattr(cuda, "_functions", {})
    monkeypatch.setattr(cuda, "_adam_tables", {})
    host_build.set_schedule("ascending")
    yield module
    host_build.set_schedule("ascending")
