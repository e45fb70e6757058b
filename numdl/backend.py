"""Array modules: NumPy today, CuPy through the same door later.

Every op asks ``array_module(x)`` for the module that owns its data and calls
``xp.exp``, ``xp.matmul``, ... on it. This is the only file that may import
CuPy, so moving numdl to a GPU changes this module and nothing else.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import numpy as np


def array_module(*arrays: Any) -> ModuleType:
    """Return the array module (``numpy`` or ``cupy``) that owns ``arrays``.

    >>> array_module(np.zeros(3)) is np
    True
    """
    for a in arrays:
        module = type(a).__module__
        if module.startswith("cupy"):
            import cupy  # the only CuPy import in numdl

            return cupy
    return np


def to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a NumPy array, copying from the device if needed.

    >>> to_numpy([1, 2]).tolist()
    [1, 2]
    """
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


# glibc's malloc returns large freed blocks to the kernel: blocks above the
# mmap threshold are unmapped on free, and free memory at the top of the heap
# above the trim threshold is released (glibc raises both thresholds as it
# sees large frees, but not far enough for a training step). A step
# allocates tens of MB of temporaries (activations, im2col columns,
# gradients) and frees them all by the next step, so by default every step
# page-faults its memory back in. Fixing the thresholds keeps blocks up to
# 32 MB (glibc's largest mmap threshold) on the heap and keeps up to 1 GB of
# freed heap for reuse. Measured on the 2-vCPU test machine, numdl alone in
# the process: the Keras MNIST convnet step (batch 128, 2 threads) went from
# ~62 ms to ~28 ms (~7000 -> ~22 page faults a step); an MNIST MLP fit's
# peak RSS from 464 to 472 MB, and after a fit the process keeps what a step
# used (RSS +45 MB for the MLP, +87 MB for the convnet). PyTorch ships its
# own caching allocator for the same reason. See docs/benchmarks.md.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30


def tune_allocator() -> bool:
    """Make glibc keep freed memory for reuse; True if the setting was applied.

    Runs once when numdl is imported. Does nothing (returns False) off Linux,
    with a C library other than glibc, or when the environment variable
    ``NUMDL_MALLOC_TUNING`` is ``0``. The setting is process-wide.

    >>> isinstance(tune_allocator(), bool)
    True
    """
    if os.environ.get("NUMDL_MALLOC_TUNING", "1").strip() == "0":
        return False
    if not sys.platform.startswith("linux") or not _glibc():
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success, 0 on error.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # not a glibc system
        return False


ALLOCATOR_TUNED = tune_allocator()
