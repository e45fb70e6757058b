"""Global settings: default float type, fuzz factor and the random generator."""

from __future__ import annotations

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_VALID_FLOATX = ("float16", "float32", "float64")
_IMAGE_DATA_FORMAT = "channels_last"
_rng = np.random.default_rng()


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

    >>> set_random_seed(0); a = rng().random(); set_random_seed(0)
    >>> a == rng().random()
    True
    """
    global _rng
    _rng = np.random.default_rng(seed)


def rng() -> np.random.Generator:
    """Return numdl's random generator (reseeded by :func:`set_random_seed`).

    >>> 0.0 <= rng().random() < 1.0
    True
    """
    return _rng
