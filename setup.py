"""minigan: a GAN engine written from scratch (autograd, layers, Numba and CUDA kernels, trainers)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = re.search(r'__version__ = "([^"]+)"', (here / "minigan" / "__init__.py").read_text()).group(1)

setup(
    name="minigan",
    version=version,
    description="A GAN engine written from scratch: autograd, layers, Numba and CUDA kernels, GAN trainers.",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["minigan", "minigan.*"]) + ["minigan.kernels"],
    # The CUDA C sources live in kernels/ at the top and ship inside the wheel as minigan/kernels/.
    package_dir={"minigan.kernels": "kernels"},
    package_data={"minigan.kernels": ["*.cu", "*.cuh"]},
    install_requires=["numpy>=1.24", "numba>=0.59", "pillow>=9", "click>=8.1"],
    extras_require={
        # [ctk] pulls the CUDA runtime libraries (NVRTC, cuBLAS, headers) as wheels: a driver is all it needs.
        "gpu": ["cupy-cuda13x[ctk]>=14"],
        # NVRTC compiles kernels/*.cu in the tests without a GPU (tests/test_cuda_nvrtc.py).
        # Data-parallel training (`mpiexec -n N minigan train`): mpi4py, and MPICH's wheel so that a fresh
        # machine needs no system MPI (mpiexec comes with it); threadpoolctl gives each rank its share of cores.
        "mpi": ["mpi4py>=4", "mpich", "threadpoolctl"],
        # NVRTC compiles kernels/*.cu in the tests without a GPU (tests/test_cuda_nvrtc.py); MPI runs
        # tests/test_distributed_mpi.py under mpiexec -n 2.
        "dev": ["pytest>=7", "hypothesis>=6", "cuda-bindings~=13.0", "nvidia-cuda-nvrtc~=13.0",
                "mpi4py>=4", "mpich", "threadpoolctl"],
    },
    entry_points={"console_scripts": ["minigan=minigan.cli:main"]},
)
