"""Spatial reshaping layers (Keras 3): zero padding, cropping, upsampling.

``ZeroPadding1D/2D`` add zeros around the spatial axes, ``Cropping1D/2D``
cut rows and columns off them, ``UpSampling1D/2D`` repeat them
(``UpSampling2D(interpolation="bilinear")`` interpolates instead, with
half-pixel centres: TensorFlow's and JAX's ``resize``, PyTorch's
``interpolate(mode="bilinear", align_corners=False)``). As in Keras,
``Cropping1D`` and ``UpSampling1D`` always work on axis 1; the others take
``data_format``.
"""

from __future__ import annotations

import operator
from typing import Any

from numdl import ops
from numdl.layers.base import InputSpec, Layer, positive_int
from numdl.layers.core import _as_float
from numdl.layers.pooling import _data_format, _spatial_axes
from numdl.ops.image import resize


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _pair(layer: Layer, value: Any, what: str) -> tuple[int, int]:
    """An int ``n >= 0`` -> ``(n, n)``; a pair of them -> the pair."""
    items = (value, value) if _int(value) is not None else value
    try:
        pair = tuple(_int(v) for v in items) if not isinstance(items, str) else ()
    except TypeError:
        pair = ()
    if len(pair) != 2 or any(v is None or v < 0 for v in pair):
        raise ValueError(
            f"{layer._label()}: {what} must be an integer >= 0 or a pair of them, "
            f"got {value!r}"
        )
    return pair  # type: ignore[return-value]


def _pairs(layer: Layer, value: Any, what: str) -> tuple[tuple[int, int], ...]:
    """The 2-D forms: ``n``, ``(rows, cols)``, ``((top, bottom), (left, right))``."""
    if _int(value) is not None:
        return (_pair(layer, value, what),) * 2
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(_pair(layer, v, what) for v in value)
    raise ValueError(
        f"{layer._label()}: {what} must be an int, a tuple of 2 ints (rows, cols) "
        f"or a tuple of 2 tuples of 2 ints ((top, bottom), (left, right)), got "
        f"{value!r}"
    )


def _axes(layer: Layer, nd: int) -> tuple[int, ...]:
    return _spatial_axes(getattr(layer, "data_format", "channels_last"), nd)


# ------------------------------------------------------------- ZeroPadding
class _ZeroPadding(Layer):
    _nd = 2

    def call(self, inputs: Any) -> Any:
        width = [(0, 0)] * inputs.ndim
        for a, pair in zip(_axes(self, self._nd), self.padding):
            width[a] = pair
        return ops.pad(inputs, width)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        shape = list(input_shape)
        for a, (lo, hi) in zip(_axes(self, self._nd), self.padding):
            shape[a] = None if shape[a] is None else shape[a] + lo + hi
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        padding = self.padding[0] if self._nd == 1 else self.padding
        return {
            **super().get_config(),
            "padding": padding,
            "data_format": self.data_format,
        }


class ZeroPadding1D(_ZeroPadding):
    """Add ``padding`` zeros before and after the steps (an int or a pair).

    >>> import numpy as np
    >>> ZeroPadding1D((1, 2))(np.ones((1, 2, 1))).numpy().ravel().tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0]
    """

    _nd = 1

    def __init__(
        self, padding: Any = 1, data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.padding = (_pair(self, padding, "padding"),)
        self.data_format = _data_format(self, data_format)
        self.input_spec = InputSpec(ndim=3)
        self.built = True


class ZeroPadding2D(_ZeroPadding):
    """Add rows and columns of zeros around images.

    ``padding``: an int (all sides), ``(rows, cols)`` (symmetric) or
    ``((top, bottom), (left, right))``.

    >>> import numpy as np
    >>> ZeroPadding2D(((1, 0), (0, 2)))(np.ones((1, 2, 2, 3))).shape
    (1, 3, 4, 3)
    """

    _nd = 2

    def __init__(
        self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.padding = _pairs(self, padding, "padding")
        self.data_format = _data_format(self, data_format)
        self.input_spec = InputSpec(ndim=4)
        self.built = True


# ---------------------------------------------------------------- Cropping
class _Cropping(Layer):
    _nd = 2

    def _check(self, shape: tuple[Any, ...]) -> None:
        for a, (lo, hi) in zip(_axes(self, self._nd), self.cropping):
            if shape[a] is not None and lo + hi >= shape[a]:
                raise ValueError(
                    f"{self._label()}: cropping {self.cropping} leaves nothing of "
                    f"axis {a} (size {shape[a]}) of inputs of shape {tuple(shape)}; "
                    f"each axis must keep at least one entry"
                )

    def call(self, inputs: Any) -> Any:
        shape = tuple(inputs.shape)
        self._check(shape)
        index = [slice(None)] * len(shape)
        for a, (lo, hi) in zip(_axes(self, self._nd), self.cropping):
            index[a] = slice(lo, shape[a] - hi)
        return ops.getitem(inputs, tuple(index))

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        self._check(tuple(input_shape))
        shape = list(input_shape)
        for a, (lo, hi) in zip(_axes(self, self._nd), self.cropping):
            shape[a] = None if shape[a] is None else shape[a] - lo - hi
        return tuple(shape)


class Cropping1D(_Cropping):
    """Cut ``cropping`` steps off the start and end of axis 1 (int or pair).

    >>> import numpy as np
    >>> Cropping1D((1, 2))(np.arange(5.0).reshape(1, 5, 1)).numpy().ravel().tolist()
    [1.0, 2.0]
    """

    _nd = 1

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = (_pair(self, cropping, "cropping"),)
        self.input_spec = InputSpec(ndim=3)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping[0]}


class Cropping2D(_Cropping):
    """Cut rows and columns off images.

    ``cropping``: an int (all sides), ``(rows, cols)`` (symmetric) or
    ``((top, bottom), (left, right))``.

    >>> import numpy as np
    >>> Cropping2D(((2, 2), (4, 4)))(np.zeros((2, 28, 28, 3))).shape
    (2, 24, 20, 3)
    """

    _nd = 2

    def __init__(
        self,
        cropping: Any = ((0, 0), (0, 0)),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cropping = _pairs(self, cropping, "cropping")
        self.data_format = _data_format(self, data_format)
        self.input_spec = InputSpec(ndim=4)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "cropping": self.cropping,
            "data_format": self.data_format,
        }


# -------------------------------------------------------------- UpSampling
class UpSampling1D(Layer):
    """Repeat each step ``size`` times along axis 1.

    >>> import numpy as np
    >>> UpSampling1D(2)(np.array([[[1.0], [2.0]]])).numpy().ravel().tolist()
    [1.0, 1.0, 2.0, 2.0]
    """

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = positive_int(self, "size", size)
        self.input_spec = InputSpec(ndim=3)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return ops.repeat(inputs, self.size, axis=1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        batch, steps, features = input_shape
        return (batch, None if steps is None else steps * self.size, features)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


class UpSampling2D(Layer):
    """Enlarge images ``size = (rows, cols)`` times.

    ``interpolation="nearest"`` repeats rows and columns; ``"bilinear"``
    interpolates with half-pixel centres (Keras's ``ops.image.resize``;
    PyTorch's ``align_corners=False``).

    >>> import numpy as np
    >>> x = np.array([1.0, 2.0]).reshape(1, 1, 2, 1)
    >>> UpSampling2D((1, 2))(x).numpy().ravel().tolist()
    [1.0, 1.0, 2.0, 2.0]
    >>> up = UpSampling2D((1, 2), interpolation="bilinear")
    >>> up(x).numpy().ravel().tolist()
    [1.0, 1.25, 1.75, 2.0]
    """

    def __init__(
        self,
        size: Any = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        sizes = (size, size) if _int(size) is not None else size
        if not isinstance(sizes, (tuple, list)) or len(sizes) != 2:
            raise ValueError(
                f"{self._label()}: size must be a positive integer or a tuple of "
                f"2 positive integers, got {size!r}"
            )
        self.size = tuple(positive_int(self, "size", s) for s in sizes)
        self.data_format = _data_format(self, data_format)
        mode = interpolation.lower() if isinstance(interpolation, str) else None
        if mode not in ("nearest", "bilinear"):
            raise ValueError(
                f"{self._label()}: interpolation must be 'nearest' or 'bilinear' "
                f"(numdl has no 'bicubic' or 'lanczos' yet), got {interpolation!r}"
            )
        self.interpolation = mode
        self.input_spec = InputSpec(ndim=4)
        self.built = True

    def call(self, inputs: Any) -> Any:
        rows, cols = _axes(self, 2)
        if self.interpolation == "nearest":
            out = ops.repeat(inputs, self.size[0], axis=rows)
            return ops.repeat(out, self.size[1], axis=cols)
        return self._bilinear(_as_float(self, inputs), rows)

    def _bilinear(self, x: Any, rows: int) -> Any:
        """Half-pixel bilinear resize to ``size`` times the input (Keras's way)."""
        height, width = x.shape[rows], x.shape[rows + 1]
        target = (height * self.size[0], width * self.size[1])
        return resize(x, target, "bilinear", data_format=self.data_format)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        shape = list(input_shape)
        for a, factor in zip(_axes(self, 2), self.size):
            shape[a] = None if shape[a] is None else shape[a] * factor
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "size": self.size,
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }
