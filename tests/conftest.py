"""Shared fixtures: restore numdl's global state, float64 checks, the backend."""

from __future__ import annotations

import numpy as np
import pytest

import numdl
from numdl.autograd import grad_mode


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Every test starts and ends with floatx float32 and gradients enabled."""
    floatx = numdl.config.floatx()
    enabled = grad_mode._State.enabled
    yield
    numdl.config.set_floatx(floatx)
    grad_mode._State.enabled = enabled


@pytest.fixture
def float64():
    """Make float64 the default float type for one test (restored afterwards)."""
    numdl.config.set_floatx("float64")
    return "float64"


@pytest.fixture(params=["numpy"])
def xp(request):
    """The array module under test (NumPy here; CuPy runs are marked ``gpu``)."""
    return np
