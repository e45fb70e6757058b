"""Shared fixtures: restore numdl's global state, float64 checks, the backend.

``NUMDL_BACKEND=cupy python -m pytest`` runs the whole suite again with CuPy
as the default backend: new tensors and layer weights live on the GPU, and
NumPy's assertion helpers read device arrays through ``to_numpy`` (a test
compares values; where they live is the backend's business). The
``backend`` fixture runs a test once per available backend.

``NUMDL_BACKEND=standin python -m pytest tests numdl`` does the same on a
machine without a GPU: the strict stand-in CuPy of tests/_standin.py (host
arrays mixed with device arrays, implicit host conversion and NumPy-only
reduction keywords raise, as on CuPy; the fused kernels are their NumPy
formulas) is installed as numdl's GPU module before any test runs, and
becomes the default backend. Subprocesses a test starts see
``NUMDL_BACKEND=numpy`` (the stand-in lives in this process only).
Host-only tests take the ``cpu`` fixture.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest

STANDIN = os.environ.get("NUMDL_BACKEND", "").strip().lower() == "standin"
if STANDIN:  # numdl reads the variable at import and knows no "standin"
    os.environ["NUMDL_BACKEND"] = "numpy"

import numdl  # noqa: E402
from numdl import backend as _backend  # noqa: E402
from numdl.autograd import grad_mode  # noqa: E402

if STANDIN:
    import _standin

    _standin.install()
    numdl.config.set_backend("cupy")

BACKENDS = ["numpy"] + (["cupy"] if _backend.gpu_available() else [])
ON_GPU = STANDIN or os.environ.get("NUMDL_BACKEND", "").strip().lower() == "cupy"


def pytest_report_header(config):
    return f"numdl backend: {numdl.config.backend()} (available: {BACKENDS})"


def _host(value):
    if isinstance(value, numdl.Tensor):
        value = value.data
    if type(value).__module__.startswith("cupy"):
        return _backend.to_numpy(value)
    if isinstance(value, (list, tuple)) and any(
        type(v).__module__.startswith("cupy") for v in value
    ):
        return type(value)(_host(v) for v in value)
    return value


def _reading_device_arrays(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*[_host(a) for a in args], **kwargs)

    return wrapper


if ON_GPU:  # the checks read device arrays (copies) on a CuPy run
    for _module, _name in (
        (np.testing, "assert_allclose"),
        (np.testing, "assert_array_equal"),
        (np.testing, "assert_array_almost_equal"),
        (np.testing, "assert_equal"),
        (np.testing, "assert_array_less"),
        (numdl.testing, "assert_close"),
    ):
        setattr(_module, _name, _reading_device_arrays(getattr(_module, _name)))


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Every test starts and ends with floatx float32, gradients enabled and the
    session's default device."""
    floatx = numdl.config.floatx()
    enabled = grad_mode._State.enabled
    device = _backend.default_device()
    yield
    numdl.config.set_floatx(floatx)
    grad_mode._State.enabled = enabled
    _backend.set_default_device(device)


@pytest.fixture
def float64():
    """Make float64 the default float type for one test (restored afterwards)."""
    numdl.config.set_floatx("float64")
    return "float64"


@pytest.fixture(params=["numpy"])
def xp(request):
    """The array module under test (NumPy here; CuPy runs are marked ``gpu``)."""
    return np


@pytest.fixture
def cpu():
    """NumPy as the default backend for one test, also in a CuPy run of the
    suite: for host-only machinery (numdl's threads, memory reuse)."""
    numdl.config.set_backend("numpy")
    return "numpy"


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run the test once per available backend, as the default; yields its name."""
    numdl.config.set_backend(request.param)
    yield request.param
