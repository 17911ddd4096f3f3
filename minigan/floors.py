"""The house plan: every module and package of minigan, the floor it stands on, and what it holds.

A floor imports only its own floor and the floors below it, so a reader can learn minigan bottom-up
and a change upstairs never breaks what is downstairs. Within a floor, modules may import one another:
a floor is one concept in a few files (autograd is ``tensor``, ``function`` and ``backward``), but never in a
circle. A primed floor (4', 5', 7') is a floor of its own between N and N + 1, as the reference
implementations sit beside the ops they check. The few imports that break the rule are listed in
``EXCEPTIONS`` with their reason.

``tests/test_house.py`` reads every import of every module (module-level and inside functions) and
fails on an import that goes up, a circle, a stale exception, a module this table does not list,
a "Floor N" docstring that disagrees with it, or a README "Where things are" table that differs.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Floor:
    """One floor of the house.

    Attributes:
        label (str): its number, "4'" for a floor between 4 and 5.
        name (str): one word for what it is.
        units (dict): module or package name inside minigan/ ("backend", "gan", "__init__") -> what it holds.
        summary (str): one line for the README's table.
    """

    label: str
    name: str
    units: dict
    summary: str


# bottom to top: a floor's rank is its place in this tuple
FLOORS = (
    Floor("0", "ground", {
        "errors": "MiniganError, the one exception type for user mistakes",
        "floors": "this plan of the house",
    }, "the one exception type; this table"),
    Floor("1", "backend", {
        "backend": "NumPy or CuPy, chosen by the arrays (get_array_module), to_device/to_cpu",
        "limits": "the memory one command may ask for, checked before any work",
        "distributed": "the communicators of a data-parallel run: one process, MPI (NumPy), NCCL (CuPy)",
    }, "NumPy or CuPy, chosen by the arrays (`get_array_module`); the memory a command may ask for; "
       "the ranks of a data-parallel run (MPI, NCCL)"),
    Floor("2", "kernels", {
        "cpu_kernels": "the hot loops in Numba: im2col/col2im, batch norm, activations, BCE, Adam",
        "cuda": "the CUDA C kernels of kernels/*.cu, compiled with CuPy and launched",
        "dispatch": "kernels_for(x): the kernel module that serves an array",
    }, "im2col/col2im, batch norm, activations, BCE, Adam: Numba on the CPU, CUDA C on the GPU, same names"),
    Floor("3", "autograd", {
        "tensor": "Tensor: a raw array plus what backward needs",
        "function": "Function (an op: array backward and differentiable twin), grad mode",
        "backward": "the backward walk ordered by generation: Tensor.backward, minigan.grad",
    }, "`Tensor`, `Function`, the backward walk ordered by generation"),
    Floor("4", "ops", {
        "functional": "one class per differentiable op, forward directly above backward",
    }, "one class per op, `forward` directly above `backward`"),
    Floor("4'", "reference", {
        "reference": "naive loop versions of the ops: the ground truth of the tests",
    }, "naive loop versions: the ground truth of the tests"),
    Floor("5", "layers", {
        "nn": "Module, Parameter and the layers, with PyTorch's names and semantics",
        "optim": "SGD and Adam with PyTorch's update rules",
        "__init__": "the front door: __version__, Tensor, nn, optim, functional",
    }, "PyTorch's names: `nn.Conv2d`, `optim.Adam`, `state_dict()` ...; the package's front door"),
    Floor("5'", "data", {
        "data": "datasets (MNIST, Fashion-MNIST, image folders, synthetic) and seeded batches",
        "images": "PNG sample grids, rows and loss curves",
        "files": "atomic file writes (temporary file, then os.replace) and bounded reads",
    }, "datasets and batches in, PNG grids and curves out, every file written atomically"),
    Floor("6", "GANs", {
        "gan": "the GAN models, their Trainer, losses, techniques, the training loop and checkpoints",
    }, "networks, losses, techniques, the trainers, the training loop, checkpoints"),
    Floor("7", "around", {
        "gradcheck": "the finite-difference gradient checker",
        "gradcheck_cases": "the catalogue of checks `minigan gradcheck` runs",
        "sampling": "images and latent walks from a checkpoint",
        "inspect": "layer tables, one step layer by layer, autograd graphs",
        "bench": "training steps timed beside PyTorch",
        "doctor": "the GPU proof: GPU tests, CPU/GPU agreement, training, sampling, checkpoints, benchmarks",
    }, "gradient checks, sampling from checkpoints, introspection, benchmarks, the GPU proof"),
    Floor("7'", "evaluation", {
        "judge": "the classifier minigan trains to score generated images",
        "evaluate": "FID, Inception-style scores, class coverage, the probe, the epoch-end class check",
        "ablate": "a base configuration and its variants, trained and scored side by side",
    }, "the judge, the scores of a generator, the epoch-end class check, ablations"),
    Floor("8", "face", {
        "cli": "the click commands of `minigan`; options map 1:1 to library arguments",
        "__main__": "`python -m minigan`",
    }, "the `minigan` command"),
)

# (importer, imported) -> why this import may break the rule
EXCEPTIONS = {
    ("tensor", "functional"): "Tensor's operators (x + y, x @ W, x[i], ...) are the ops of floor 4, "
                              "looked up when called",
    ("tensor", "backward"): "Tensor.backward walks the graph of Functions (backward imports tensor), "
                            "looked up when called",
}


def rank(unit):
    """The place of ``unit``'s floor in FLOORS (0 = the bottom); KeyError for a unit not in the table."""
    for i, floor in enumerate(FLOORS):
        if unit in floor.units:
            return i
    raise KeyError(unit)


def floor_of(unit):
    """The Floor that holds ``unit``; KeyError for a unit not in the table."""
    return FLOORS[rank(unit)]
