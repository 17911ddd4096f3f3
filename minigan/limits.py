"""How much memory one command may ask for: the budget sizes are checked against before any work.

A request that cannot fit (``minigan sample --n 10000000000``, a samples file whose header
promises terabytes) would otherwise fail late, after minutes of work, with numpy's MemoryError,
or get the process killed. minigan refuses it up front instead, with one sentence, against
half of this machine's physical memory and at most ``MAX_BYTES``.
"""

import math
import os

from minigan.errors import MiniganError

MAX_BYTES = 8 << 30  # 8 GiB: ten thousand 3x64x64 float32 images take 0.5 GiB


def physical_memory():
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return None


def memory_budget():
    """Bytes one array (or one file's arrays together) may take: half the physical memory, at most MAX_BYTES."""
    physical = physical_memory()
    return MAX_BYTES if physical is None else min(MAX_BYTES, physical // 2)


def format_bytes(n):
    """1536 -> '1.5 KiB', in the largest unit that keeps the number at least 1."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def budget_text():
    """'minigan's memory budget here (8.0 GiB: ...)', for messages."""
    return (f"minigan's memory budget here ({format_bytes(memory_budget())}: half this machine's memory, "
            f"at most {format_bytes(MAX_BYTES)})")


def check_images_fit(n, image_shape, option, fix, bytes_per_value=4, whole_machine=False):
    """Raise MiniganError when ``n`` images of ``image_shape`` would not fit in memory.

    Args:
        n (int): the number of images asked for.
        image_shape (tuple): (c, h, w) of one image.
        option (str): what asked for them, for the message ("--n 100000000").
        fix (str): what to do instead.
        bytes_per_value (int): bytes held per pixel value: 4 for float32 images, more for a
            training step's activations.
        whole_machine (bool): compare with the whole physical memory instead of the budget.
    """
    need = n * math.prod(int(s) for s in image_shape) * bytes_per_value
    physical = physical_memory()
    if whole_machine:
        limit, text = physical, f"this machine's {format_bytes(physical or 0)} of memory"
    else:
        limit, text = memory_budget(), budget_text()
    if limit is not None and need > limit:
        shape = "x".join(str(int(s)) for s in image_shape)
        raise MiniganError(f"{option} asks for {format_bytes(need)} for {shape} images, more than {text}; {fix}")
