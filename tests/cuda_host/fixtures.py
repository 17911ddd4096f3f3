"""pytest fixtures for the GPU path on a machine without one (import them into a test module)."""

import pytest

from cuda_host import fake_cupy, host_build


@pytest.fixture
def fake_gpu(monkeypatch):
    """fake_cupy installed as minigan's CuPy, minigan.cuda's caches emptied; yields the module."""
    problem = host_build.compiler_problem()
    if problem is not None:
        pytest.skip(problem)
    from minigan import cuda

    module = fake_cupy.install(monkeypatch)
    monkeypatch.setattr(cuda, "_functions", {})
    monkeypatch.setattr(cuda, "_adam_tables", {})
    host_build.set_schedule("ascending")
    yield module
    host_build.set_schedule("ascending")
