"""Global settings: default float type, fuzz factor, backend and random generators."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from numdl import backend as _backend

_FLOATX = "float32"
_EPSILON = 1e-7
_VALID_FLOATX = ("float16", "float32", "float64")
_IMAGE_DATA_FORMAT = "channels_last"
_rng = np.random.default_rng()
_seed: int | None = None
_device_rng: Any = None  # CuPy's generator, made on first use
_device_own: dict[int, tuple[Any, Any]] = {}  # layer generator -> device twin
_BACKENDS = {"numpy": "cpu", "cupy": "gpu"}


def floatx() -> str:
    """Return the default float type as a string (``"float32"`` unless set).

    >>> floatx() in ("float16", "float32", "float64")
    True
    """
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type used for new tensors and weights.

    >>> set_floatx("float32"); floatx()
    'float32'
    """
    global _FLOATX
    name = np.dtype(value).name if not isinstance(value, str) else value
    if name not in _VALID_FLOATX:
        raise ValueError(f"set_floatx: expected one of {_VALID_FLOATX}, got {value!r}")
    _FLOATX = name


def epsilon() -> float:
    """Return the fuzz factor used to keep logs and divisions finite (1e-7).

    >>> epsilon()
    1e-07
    """
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Set the fuzz factor returned by :func:`epsilon`.

    >>> set_epsilon(1e-7); epsilon()
    1e-07
    """
    global _EPSILON
    _EPSILON = float(value)


def image_data_format() -> str:
    """Return the default image layout: ``"channels_last"`` (NHWC) unless set.

    >>> image_data_format()
    'channels_last'
    """
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format: str) -> None:
    """Set the layout image layers use when ``data_format=None``.

    >>> set_image_data_format("channels_last")
    """
    global _IMAGE_DATA_FORMAT
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"set_image_data_format: expected 'channels_last' or 'channels_first', "
            f"got {data_format!r}"
        )
    _IMAGE_DATA_FORMAT = data_format


def standardize_data_format(data_format: str | None) -> str:
    """``None`` -> the default layout; anything else must be a valid layout.

    >>> standardize_data_format(None)
    'channels_last'
    """
    if data_format is None:
        return _IMAGE_DATA_FORMAT
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"data_format must be 'channels_last' or 'channels_first', got "
            f"{data_format!r}"
        )
    return data_format


def set_random_seed(seed: int) -> None:
    """Seed every random draw numdl makes (one ``numpy.random.Generator``).

    The GPU's generator (:func:`rng_for` with CuPy) is reseeded from the same
    seed, so runs on one device repeat; the GPU draws other numbers than the
    CPU for the same seed (dropout masks, noise).

    >>> set_random_seed(0); a = rng().random(); set_random_seed(0)
    >>> a == rng().random()
    True
    """
    global _rng, _seed, _device_rng
    _rng = np.random.default_rng(seed)
    _seed, _device_rng = int(seed), None
    _device_own.clear()


def rng() -> np.random.Generator:
    """Return numdl's random generator (reseeded by :func:`set_random_seed`).

    >>> 0.0 <= rng().random() < 1.0
    True
    """
    return _rng


def rng_for(xp: Any, own: np.random.Generator | None = None) -> Any:
    """The generator to draw arrays of module ``xp`` from.

    NumPy: ``own`` (a layer's seeded generator) or :func:`rng`. CuPy: a
    ``cupy.random.Generator`` that draws on the device, seeded by
    :func:`set_random_seed` (or, for a layer's ``own`` generator, from it),
    so masks never cross the bus. Both answer ``.random(shape)`` and
    ``.standard_normal(shape)``.

    >>> rng_for(np) is rng()
    True
    """
    if xp is np:
        return own if own is not None else _rng
    global _device_rng
    if own is not None:
        pair = _device_own.get(id(own))
        if pair is None:
            seed = int(own.integers(2**63))
            pair = _device_own[id(own)] = (own, xp.random.default_rng(seed))
        return pair[1]
    if _device_rng is None:
        seed = _seed if _seed is not None else int(_rng.integers(2**63))
        _device_rng = xp.random.default_rng(seed)
    return _device_rng


def backend() -> str:
    """The backend new tensors and weights use: ``"numpy"`` or ``"cupy"``.

    >>> backend() in ("numpy", "cupy")
    True
    """
    return "cupy" if _backend.default_device() == "gpu" else "numpy"


def set_backend(name: str) -> None:
    """Choose ``"numpy"`` (CPU) or ``"cupy"`` (GPU) for new tensors and weights.

    Existing tensors and models stay where they are (move them with
    ``.to(device)``). ``"cupy"`` fails at once, saying whether CuPy or a CUDA
    device is missing. The environment variable ``NUMDL_BACKEND`` sets it
    when numdl is imported.

    >>> set_backend("numpy"); backend()
    'numpy'
    """
    key = str(name).strip().lower()
    if key not in _BACKENDS:
        raise ValueError(f"set_backend: expected 'numpy' or 'cupy', got {name!r}")
    _backend.set_default_device(_BACKENDS[key])


if os.environ.get("NUMDL_BACKEND", "").strip():
    set_backend(os.environ["NUMDL_BACKEND"])
