"""Pooling layers (Keras 3): max and average pooling, local and global.

``MaxPooling1D/2D`` and ``AveragePooling1D/2D`` slide a ``pool_size`` window
by ``strides`` (default: ``pool_size``) with ``padding`` ``"valid"`` or
``"same"`` (TensorFlow's arithmetic; average pooling with ``"same"`` divides
by the real inputs of each window). ``GlobalMaxPooling1D/2D`` and
``GlobalAveragePooling1D/2D`` reduce every spatial axis (``keepdims`` keeps
them with size 1). Every layer takes ``data_format`` (``None``: numdl's
``image_data_format()``, ``"channels_last"`` unless set). Keras's short
names are aliases: ``MaxPool2D``, ``AvgPool2D``, ``GlobalAvgPool2D``, ...
"""

from __future__ import annotations

from typing import Any

from numdl import config, ops
from numdl.backend import array_module
from numdl.layers.base import InputSpec, Layer
from numdl.layers.core import _as_float
from numdl.ops.pool import (
    AveragePool,
    MaxPool,
    pool_arguments,
    pool_geometry,
    pooled_size,
)


def _data_format(layer: Layer, value: Any) -> str:
    try:
        return config.standardize_data_format(value)
    except ValueError:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: data_format must be "
            f"'channels_last' or 'channels_first', got {value!r}"
        ) from None


def _spatial_axes(data_format: str, nd: int) -> tuple[int, ...]:
    first = 1 if data_format == "channels_last" else 2
    return tuple(range(first, first + nd))


class _Pooling(Layer):
    """Local pooling over ``nd`` spatial axes (``_op``: the pooling Function)."""

    _nd = 2
    _op: Any = MaxPool

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Keras's defaults: 2 (1-D) and (2, 2) (2-D) are the same tuple here.
        self.pool_size, self.strides, self.padding = pool_arguments(
            self._nd, pool_size, strides, padding, self._label()
        )
        self.data_format = _data_format(self, data_format)
        self.input_spec = InputSpec(ndim=self._nd + 2)
        self.built = True

    def call(self, inputs: Any) -> Any:
        inputs = _as_float(self, inputs)
        geo = pool_geometry(
            inputs.shape,
            self.pool_size,
            self.strides,
            self.padding,
            self.data_format,
            self._label(),
        )
        return self._op.apply(inputs, geo=geo)

    _array_call = call  # numdl ops only: runs on arrays as it is

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        shape = list(input_shape)
        axes = _spatial_axes(self.data_format, self._nd)
        sizes = tuple(shape[a] for a in axes)
        if self.padding == "valid" and any(
            n is not None and n < k for n, k in zip(sizes, self.pool_size)
        ):
            raise ValueError(
                f"{self._label()}: pool_size {self.pool_size} is larger than the "
                f"spatial size {sizes} of the inputs (shape {tuple(input_shape)}) "
                f"with padding='valid'; use a smaller pool_size or padding='same'"
            )
        for a, n, k, s in zip(axes, sizes, self.pool_size, self.strides):
            shape[a] = pooled_size(n, k, s, self.padding)
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps: ``(batch, steps, features)``.

    >>> import numpy as np
    >>> x = np.array([1.0, 3.0, 2.0, 5.0, 4.0]).reshape(1, 5, 1)
    >>> MaxPooling1D(2)(x).numpy().ravel().tolist()
    [3.0, 5.0]
    """

    _nd, _op = 1, MaxPool


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of images: ``(batch, rows, cols, channels)``.

    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> MaxPooling2D()(x).numpy()[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """

    _nd, _op = 2, MaxPool


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps: ``(batch, steps, features)``.

    >>> import numpy as np
    >>> x = np.array([1.0, 3.0, 2.0, 6.0, 4.0]).reshape(1, 5, 1)
    >>> AveragePooling1D(2, padding="same")(x).numpy().ravel().tolist()
    [2.0, 4.0, 4.0]
    """

    _nd, _op = 1, AveragePool


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of images: ``(batch, rows, cols, channels)``.

    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> AveragePooling2D()(x).numpy()[0, :, :, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """

    _nd, _op = 2, AveragePool


# ------------------------------------------------------------------- global
class _GlobalPooling(Layer):
    """Reduce all ``nd`` spatial axes; ``keepdims`` keeps them with size 1."""

    _nd = 2

    def __init__(
        self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.data_format = _data_format(self, data_format)
        if not isinstance(keepdims, bool):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: keepdims must be True or "
                f"False, got {keepdims!r}"
            )
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=self._nd + 2)
        self.built = True

    def _axes(self) -> tuple[int, ...]:
        return _spatial_axes(self.data_format, self._nd)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else n for i, n in enumerate(input_shape))
        return tuple(n for i, n in enumerate(input_shape) if i not in axes)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "data_format": self.data_format,
            "keepdims": self.keepdims,
        }


class _GlobalMax(_GlobalPooling):
    def call(self, inputs: Any) -> Any:
        # Tied maxima share the gradient equally (TensorFlow's reduce_max).
        return ops.max(
            _as_float(self, inputs), axis=self._axes(), keepdims=self.keepdims
        )


class _GlobalAverage(_GlobalPooling):
    def call(self, inputs: Any, mask: Any = None) -> Any:
        inputs = _as_float(self, inputs)
        axes = self._axes()
        if mask is None:
            return ops.mean(inputs, axis=axes, keepdims=self.keepdims)
        return _masked_mean(self, inputs, mask, axes)


def _masked_mean(
    layer: _GlobalPooling, inputs: Any, mask: Any, axes: tuple[int, ...]
) -> Any:
    """Mean over the steps where ``mask`` is true (Keras's masked average)."""
    mask = getattr(mask, "data", mask)
    xp = array_module(inputs.data)
    mask = xp.asarray(mask).astype(bool)
    expected = tuple(inputs.shape[a] for a in (0, *axes))
    if mask.shape != expected:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: mask of shape {mask.shape} "
            f"does not fit inputs of shape {tuple(inputs.shape)}; expected "
            f"{expected} (batch, steps)"
        )
    channel = inputs.ndim - 1 if layer.data_format == "channels_last" else 1
    weights = xp.expand_dims(mask, channel).astype(inputs.dtype)
    total = ops.sum(ops.where(weights > 0, inputs, 0.0), axis=axes, keepdims=True)
    out = total / weights.sum(axis=axes, keepdims=True)
    return out if layer.keepdims else ops.squeeze(out, axis=axes)


class GlobalMaxPooling1D(_GlobalMax):
    """Max over the steps: ``(batch, steps, features)`` -> ``(batch, features)``.

    >>> import numpy as np
    >>> GlobalMaxPooling1D()(np.array([[[1.0, 4.0], [3.0, 2.0]]])).tolist()
    [[3.0, 4.0]]
    """

    _nd = 1


class GlobalMaxPooling2D(_GlobalMax):
    """Max over rows and columns: one value per channel and image.

    >>> import numpy as np
    >>> GlobalMaxPooling2D()(np.arange(8.0).reshape(1, 2, 2, 2)).tolist()
    [[6.0, 7.0]]
    """

    _nd = 2


class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over the steps: ``(batch, steps, features)`` -> ``(batch, features)``.

    ``mask`` (``(batch, steps)``, optional) leaves out the steps where it is
    false, as in Keras.

    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0], [8.0]]])
    >>> GlobalAveragePooling1D()(x).tolist()
    [[4.0]]
    >>> GlobalAveragePooling1D()(x, mask=np.array([[True, True, False]])).tolist()
    [[2.0]]
    """

    _nd = 1


class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over rows and columns: one value per channel and image.

    >>> import numpy as np
    >>> GlobalAveragePooling2D()(np.arange(8.0).reshape(1, 2, 2, 2)).tolist()
    [[3.0, 4.0]]
    """

    _nd = 2

    def call(self, inputs: Any) -> Any:
        return ops.mean(
            _as_float(self, inputs), axis=self._axes(), keepdims=self.keepdims
        )


# Keras's other names for the same classes.
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
