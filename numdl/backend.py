"""Array modules: NumPy today, CuPy through the same door later.

Every op asks ``array_module(x)`` for the module that owns its data and calls
``xp.exp``, ``xp.matmul``, ... on it. This is the only file that may import
CuPy, so moving numdl to a GPU changes this module and nothing else.
"""

from __future__ import annotations

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
