"""Array modules and devices: NumPy on the CPU, CuPy on an NVIDIA GPU.

Every op asks ``array_module(x)`` for the module that owns its data and calls
``xp.exp``, ``xp.matmul``, ... on it. This is the only file that imports
CuPy (lazily, the first time a GPU array or device is asked for), so the rest
of numdl never names it.

Devices are named ``"cpu"`` and ``"gpu"`` (aliases: ``"numpy"``; ``"cuda"``,
``"cuda:0"``, ``"gpu:0"``, ``"cupy"``); one GPU, the current CUDA device, is
used. The *default device* is where new tensors and layer weights are put:
``"cpu"`` unless ``numdl.config.set_backend("cupy")`` or the environment
variable ``NUMDL_BACKEND=cupy`` says otherwise. Asking for the GPU without
CuPy, or with CuPy but no usable CUDA device, raises
:class:`DeviceUnavailableError` at once, saying which of the two is missing.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import numpy as np

INSTALL_HINT = (
    'install CuPy for your CUDA version: pip install "numdl[gpu]" (CUDA 12), '
    "or pip install cupy-cuda13x (CUDA 13)"
)
_DEVICE_ALIASES = {
    "cpu": "cpu",
    "numpy": "cpu",
    "gpu": "gpu",
    "gpu:0": "gpu",
    "cuda": "gpu",
    "cuda:0": "gpu",
    "cupy": "gpu",
}
_ndarray = np.ndarray
_gpu: ModuleType | None = None  # CuPy once loaded and checked (or a stand-in)
_default_device = "cpu"


class DeviceUnavailableError(RuntimeError):
    """The GPU was asked for, but CuPy or a CUDA device is missing."""


def array_module(*arrays: Any) -> ModuleType:
    """Return the array module (``numpy`` or ``cupy``) that owns ``arrays``.

    >>> array_module(np.zeros(3)) is np
    True
    """
    for a in arrays:
        kind = type(a)
        # NumPy arrays first: the question every op asks (~0.1 us less each)
        if kind is not _ndarray and kind.__module__.startswith("cupy"):
            return _gpu if _gpu is not None else gpu_module()
    return np


def gpu_module() -> ModuleType:
    """Return CuPy, importing it and checking for a CUDA device the first time.

    Raises :class:`DeviceUnavailableError` naming what is missing (CuPy, or a
    device CuPy can use) and how to install CuPy.

    >>> try:
    ...     xp = gpu_module()
    ... except DeviceUnavailableError as e:
    ...     xp = None; assert "CuPy" in str(e)
    """
    global _gpu
    if _gpu is None:
        _gpu = _load_cupy()
    return _gpu


def _load_cupy() -> ModuleType:
    try:
        import cupy  # the only CuPy import in numdl
    except ImportError as e:
        raise DeviceUnavailableError(
            f"numdl: the GPU needs CuPy, which is not installed ({e}); {INSTALL_HINT}"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError without a driver or device
        raise DeviceUnavailableError(
            f"numdl: CuPy {cupy.__version__} is installed but found no usable "
            f"CUDA device ({type(e).__name__}: {e}); check the NVIDIA driver and "
            f"CUDA_VISIBLE_DEVICES, or that the installed CuPy package matches the "
            f"CUDA version ({INSTALL_HINT})"
        ) from None
    if count < 1:
        raise DeviceUnavailableError(
            f"numdl: CuPy {cupy.__version__} is installed but no CUDA device is "
            f"visible (device count 0); check the NVIDIA driver and "
            f"CUDA_VISIBLE_DEVICES"
        )
    return cupy


def gpu_available() -> bool:
    """True if CuPy is installed and sees a CUDA device (never raises).

    >>> isinstance(gpu_available(), bool)
    True
    """
    try:
        gpu_module()
    except DeviceUnavailableError:
        return False
    return True


def normalize_device(device: Any) -> str:
    """The canonical name, ``"cpu"`` or ``"gpu"``, of a device name.

    >>> normalize_device("cuda:0"), normalize_device("CPU")
    ('gpu', 'cpu')
    """
    name = _DEVICE_ALIASES.get(str(device).strip().lower()) if device else None
    if name is None:
        raise ValueError(
            f"numdl: unknown device {device!r}; expected 'cpu' or 'gpu' (also "
            f"'cuda', 'cuda:0'; one GPU, the current CUDA device, is supported)"
        )
    return name


def device_of(x: Any) -> str:
    """``"gpu"`` for a CuPy array, ``"cpu"`` for anything else.

    >>> device_of(np.zeros(2))
    'cpu'
    """
    return "gpu" if type(x).__module__.startswith("cupy") else "cpu"


def module_for(device: str) -> ModuleType:
    """The array module of ``device`` (CuPy checked and loaded for ``"gpu"``).

    >>> module_for("cpu") is np
    True
    """
    return gpu_module() if normalize_device(device) == "gpu" else np


def to_device(x: Any, device: str) -> Any:
    """``x`` as an array on ``device``: itself if already there, else a copy.

    >>> a = np.ones(2); to_device(a, "cpu") is a
    True
    """
    device = normalize_device(device)
    if device == "cpu":
        return to_numpy(x)
    if device_of(x) == "gpu":
        return x
    return gpu_module().asarray(x)


def to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a NumPy array, copying from the device if needed.

    >>> to_numpy([1, 2]).tolist()
    [1, 2]
    """
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def default_device() -> str:
    """Where new tensors and layer weights go: ``"cpu"`` or ``"gpu"``.

    >>> default_device() in ("cpu", "gpu")
    True
    """
    return _default_device


def set_default_device(device: str) -> None:
    """Set the default device; ``"gpu"`` fails at once without CuPy or a device.

    >>> set_default_device("cpu"); default_device()
    'cpu'
    """
    global _default_device
    name = normalize_device(device)
    module_for(name)  # raise now, not at the first op
    _default_device = name


def on_default_device(x: Any) -> Any:
    """``x`` moved to the default device (a no-op on the CPU default).

    >>> device_of(on_default_device(np.ones(2))) == default_device()
    True
    """
    if _default_device == "cpu":
        return x
    return to_device(x, "gpu")


def mismatch_error(where: str, a: Any, b: Any) -> RuntimeError:
    """The error for two arrays on different devices meeting in ``where``.

    >>> str(mismatch_error("add", np.zeros(1), np.zeros(1)))[:40]
    'add: expected all tensors on one device,'
    """
    return RuntimeError(
        f"{where}: expected all tensors on one device, got one on "
        f"{device_of(a)} ({type(a).__module__}.{type(a).__name__}) and one on "
        f"{device_of(b)} ({type(b).__module__}.{type(b).__name__}); move them "
        f"with .to('gpu') / .to('cpu') (or model.to(...)) first"
    )


class HostStager:
    """Copies host batches to the GPU through reused pinned (page-locked) buffers.

    CuPy copies from pinned memory by DMA without a staging copy of its own;
    one buffer per (shape, dtype) is kept, so a fit allocates them once (the
    last, shorter batch gets its own). With a stand-in module (tests) or
    without ``cupyx``, a plain ``asarray`` is used.

    >>> HostStager(np).put(np.ones(2)).tolist()
    [1.0, 1.0]
    """

    def __init__(self, xp: ModuleType) -> None:
        self.xp = xp
        self._buffers: dict[tuple, Any] = {}
        self._pinned = getattr(xp, "__name__", "") == "cupy"

    def put(self, a: Any) -> Any:
        """``a`` (host array) as a device array; device arrays pass through."""
        if type(a).__module__.startswith("cupy") or not isinstance(a, np.ndarray):
            return a
        if not self._pinned or a.dtype.kind not in "biuf":
            return self.xp.asarray(a)
        key = (a.shape, a.dtype.str)
        buf = self._buffers.get(key)
        if buf is None:
            import cupyx

            buf = self._buffers[key] = cupyx.empty_pinned(a.shape, a.dtype)
        np.copyto(buf, a)
        out = self.xp.empty(a.shape, a.dtype)
        out.set(buf)  # synchronous: the buffer is free again on return
        return out


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
