"""Special functions NumPy lacks: ``erf``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from numdl.backend import array_module

_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def erf(x: Any) -> Any:
    """The error function, elementwise.

    >>> round(float(erf(np.array(0.5))), 10)
    0.5204998778
    """
    xp = array_module(x)
    x = xp.asarray(x)
    return _erf_scalar(x).astype(x.dtype if x.dtype.kind == "f" else float)
