"""Preprocessing layers: Rescaling and Normalization (with ``adapt``).

Keras 3's names, defaults, formulas and configs. ``Normalization.adapt``
merges the statistics of batches exactly (Chan et al.'s parallel algorithm in
float64), so adapting batch by batch gives the mean and variance of all the
data at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from numdl import config, ops
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module, to_numpy
from numdl.layers.base import InputSpec, Layer


def _as_constant(layer: Layer, name: str, value: Any) -> Any:
    """A number or an array of numbers (``scale``/``offset``), else TypeError."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        arr = None if value is None else np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or isinstance(value, (str, bool)):
        raise TypeError(
            f"{type(layer).__name__} {layer.name!r}: {name} must be a number or an "
            f"array of numbers, got {value!r}"
        )
    return arr


def _to_config(value: Any) -> Any:
    """Arrays become (JSON) lists; numbers stay."""
    return value.tolist() if isinstance(value, np.ndarray) else value


class Rescaling(Layer):
    """Multiply the inputs by ``scale`` and add ``offset`` (floats out).

    ``scale=1/255`` maps ``[0, 255]`` to ``[0, 1]``; ``scale=1/127.5,
    offset=-1`` maps it to ``[-1, 1]``. Integer inputs are cast to the layer's
    dtype first. ``scale`` and ``offset`` may be arrays that broadcast against
    the inputs (channels last).

    >>> import numpy as np
    >>> Rescaling(1 / 255)(np.array([[0, 255]], "uint8")).numpy().tolist()
    [[0.0, 1.0]]
    """

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = _as_constant(self, "scale", scale)
        self.offset = _as_constant(self, "offset", offset)

    def call(self, inputs: Any) -> Any:
        if inputs.dtype != self.dtype:
            inputs = ops.cast(inputs, self.dtype)
        return inputs * self._cast(self.scale) + self._cast(self.offset)

    def _cast(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return value.astype(self.dtype)
        return np.asarray(value, dtype=self.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output has the shape of the input."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "scale": _to_config(self.scale),
            "offset": _to_config(self.offset),
        }


class Normalization(Layer):
    """Shift and scale inputs to mean 0 and variance 1: ``(x - mean) / std``.

    ``std = max(sqrt(variance), epsilon)`` with ``epsilon =
    numdl.config.epsilon()`` (1e-7), as Keras. The statistics come from
    ``mean``/``variance`` given at construction (broadcast to the kept axes,
    aligned from the right) or from :meth:`adapt`. ``axis`` names the axes
    that keep a separate mean and variance per index (``None``: one scalar
    mean and variance). ``invert=True`` maps normalised values back:
    ``mean + x * std``.

    Unlike Keras (which silently uses mean 0 and variance 1), calling the
    layer on data before it is adapted raises an error naming the layer.
    Symbolic calls (``Input``) are fine before ``adapt``.

    >>> import numpy as np
    >>> layer = Normalization(axis=None)
    >>> layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    >>> print(layer(np.array([1.0, 2.0, 3.0])).numpy())
    [-1.4142135  -0.70710677  0.        ]
    """

    def __init__(
        self,
        axis: int | tuple[int, ...] | None = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = self._standardize_axis(axis)
        self.input_mean, self.input_variance = mean, variance
        self.invert = invert
        self._adapted = False
        self._tracing = False
        self._given_mean = self._given_variance = None
        self._check_given_statistics(mean, variance)

    def _standardize_axis(self, axis: Any) -> tuple[int, ...]:
        if axis is None:
            return ()
        axes = (axis,) if isinstance(axis, int) else axis
        if not isinstance(axes, (list, tuple)) or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in axes
        ):
            raise TypeError(
                f"Normalization {self.name!r}: axis must be None, an int or a "
                f"tuple of ints, got {axis!r}"
            )
        return tuple(axes)

    def _check_given_statistics(self, mean: Any, variance: Any) -> None:
        if (mean is None) != (variance is None):
            raise ValueError(
                f"Normalization {self.name!r}: when setting values directly, both "
                f"mean and variance must be set; got mean={mean!r} and "
                f"variance={variance!r}"
            )
        if mean is None:
            return
        if np.shape(mean) != np.shape(variance):
            raise ValueError(
                f"Normalization {self.name!r}: mean and variance must have the "
                f"same shape, got {np.shape(mean)} and {np.shape(variance)}"
            )
        if len(np.shape(mean)) > len(self.axis):
            raise ValueError(
                f"Normalization {self.name!r}: mean of shape {np.shape(mean)} has "
                f"more dimensions than the {len(self.axis)} kept axes "
                f"(axis={self.axis})"
            )

    # ----------------------------------------------------------------- build
    def build(self, input_shape: Any) -> None:
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(
                f"Normalization {self.name!r}: axis={self.axis} is out of range for "
                f"inputs of shape {tuple(input_shape)}"
            )
        self._keep_axis = tuple(sorted(a % ndim for a in self.axis))
        for a in self._keep_axis:
            if input_shape[a] is None:
                raise ValueError(
                    f"Normalization {self.name!r}: kept axis {a} must have a known "
                    f"size, got inputs of shape {tuple(input_shape)}; pass "
                    f"axis=None for one mean and variance over all values"
                )
        self._build_input_shape = tuple(input_shape)
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        self._broadcast_shape = tuple(
            input_shape[d] if d in self._keep_axis else 1 for d in range(ndim)
        )
        self._mean_and_var_shape = tuple(input_shape[d] for d in self._keep_axis)
        self.input_spec = InputSpec(
            ndim=ndim, axes={a - ndim: input_shape[a] for a in self._keep_axis}
        )
        if self.input_mean is None:
            self._add_statistics_weights()
        else:
            self._given_mean = self._broadcast_given(self.input_mean)
            self._given_variance = self._broadcast_given(self.input_variance)

    def _add_statistics_weights(self) -> None:
        shape = self._mean_and_var_shape
        self.adapt_mean = self.add_weight(
            shape, initializer="zeros", trainable=False, name="mean"
        )
        self.adapt_variance = self.add_weight(
            shape, initializer="ones", trainable=False, name="variance"
        )
        self.count = self.add_weight(
            (), initializer="zeros", dtype="int64", trainable=False, name="count"
        )

    def _broadcast_given(self, value: Any) -> Any:
        """Align a given mean/variance with the kept axes, right to left."""
        value = np.asarray(value, dtype=np.float64)
        expanded = [1] * len(self._broadcast_shape)
        for i in range(1, value.ndim + 1):
            expanded[self._keep_axis[-i]] = value.shape[-i]
        try:
            value = np.broadcast_to(value.reshape(expanded), self._broadcast_shape)
        except ValueError:
            raise ValueError(
                f"Normalization {self.name!r}: mean/variance of shape "
                f"{np.shape(self.input_mean)} cannot be broadcast to the kept axes "
                f"of inputs of shape {self._build_input_shape} (axis={self.axis})"
            ) from None
        return value.astype(self.dtype)

    # ------------------------------------------------------------------ call
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        from numdl.layers.symbolic import any_symbolic

        if not any_symbolic(inputs):
            return super().__call__(inputs, *args, **kwargs)
        self._tracing = True  # shape inference runs on dummies: no stats needed
        try:
            return super().__call__(inputs, *args, **kwargs)
        finally:
            self._tracing = False

    def call(self, inputs: Any) -> Any:
        mean, std = self._mean_and_std()
        if inputs.dtype != self.dtype:
            inputs = ops.cast(inputs, self.dtype)
        if self.invert:
            return ops.add(mean, ops.multiply(inputs, std))
        return ops.divide(ops.subtract(inputs, mean), std)

    @property
    def mean(self) -> Any:
        """The mean broadcast to the inputs' rank (None before ``build``)."""
        return self._statistics()[0] if self.built else None

    @property
    def variance(self) -> Any:
        """The variance broadcast to the inputs' rank (None before ``build``)."""
        return self._statistics()[1] if self.built else None

    def _statistics(self) -> tuple[Any, Any]:
        if self.input_mean is not None:
            return self._given_mean, self._given_variance
        shape = self._broadcast_shape
        return (
            self.adapt_mean.data.reshape(shape),
            self.adapt_variance.data.reshape(shape),
        )

    def _mean_and_std(self) -> tuple[Any, Any]:
        """The statistics broadcast to the inputs: mean and max(sqrt(var), eps)."""
        if not (self._tracing or self.is_adapted):
            raise ValueError(
                f"Normalization {self.name!r} has no statistics yet: call "
                f"layer.adapt(data) first, or create it with mean= and variance="
            )
        mean, variance = self._statistics()
        xp = array_module(variance)
        std = xp.maximum(xp.sqrt(variance), variance.dtype.type(config.epsilon()))
        return mean, std

    @property
    def is_adapted(self) -> bool:
        """True once ``adapt`` ran, weights were set, or ``count`` is positive."""
        if self.input_mean is not None:
            return True
        return self._adapted or (self.built and int(self.count.data) > 0)

    def set_weights(self, weights: list[Any]) -> None:
        """Set mean, variance and count (the layer then counts as adapted).

        >>> import numpy as np
        >>> layer = Normalization()
        >>> layer.build((None, 2))
        >>> layer.set_weights([np.array([1.0, 2.0]), np.array([4.0, 1.0]), 0])
        >>> layer(np.array([[3.0, 3.0]])).numpy().tolist()
        [[1.0, 1.0]]
        """
        super().set_weights(weights)
        self._adapted = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output has the shape of the input."""
        return input_shape

    # ----------------------------------------------------------------- adapt
    def adapt(
        self, data: Any, batch_size: int | None = None, steps: int | None = None
    ) -> None:
        """Compute the mean and variance of ``data`` per index of the kept axes.

        ``data`` is an array (or Tensor), or an iterable of batches (arrays,
        or ``(x, y)`` tuples whose ``x`` is used). ``batch_size`` splits an
        array into batches; ``steps`` limits the number of batches used (an
        array with ``steps`` and no ``batch_size`` is split into batches of
        32, as in Keras 2). Batches are merged exactly in float64, so the
        result does not depend on the batching. Adapting again replaces the
        statistics.

        >>> import numpy as np
        >>> layer = Normalization()
        >>> layer.adapt([np.array([[0.0], [2.0]]), np.array([[4.0], [6.0]])])
        >>> layer.adapt_mean.numpy().tolist(), layer.adapt_variance.numpy().tolist()
        ([3.0], [5.0])
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Normalization {self.name!r} was created with mean and variance; "
                f"adapt() would replace them. Create it without mean/variance to "
                f"adapt it to data"
            )
        batches = self._batches(data, batch_size, steps)
        first = next(batches, None)
        if first is None:
            raise ValueError(
                f"Normalization {self.name!r}: adapt() received no batches; pass an "
                f"array or a non-empty iterable of arrays"
            )
        if not self.built:
            self.build(first.shape)
        n, mean, m2 = 0, None, None
        for i, batch in enumerate(_chain(first, batches)):
            self._check_batch(batch, i)
            n, mean, m2 = self._merge(n, mean, m2, batch)
        if n == 0:
            raise ValueError(
                f"Normalization {self.name!r}: adapt() received batches with no "
                f"values (shape {first.shape})"
            )
        self.adapt_mean.assign(mean.astype(self.dtype))
        self.adapt_variance.assign((m2 / n).astype(self.dtype))
        self.count.assign(np.asarray(n, dtype=np.int64))
        self._adapted = True

    def _merge(self, n: int, mean: Any, m2: Any, batch: np.ndarray) -> tuple:
        """Chan et al.: combine (count, mean, sum of squared deviations)."""
        axes = self._reduce_axis
        nb = math.prod(batch.shape[a] for a in axes)
        if nb == 0:
            return n, mean, m2
        mb = batch.mean(axis=axes, keepdims=True)
        m2b = ((batch - mb) ** 2).sum(axis=axes)
        mb = mb.reshape(self._mean_and_var_shape)
        if n == 0:
            return nb, mb, m2b
        total = n + nb
        delta = mb - mean
        mean = mean + delta * (nb / total)
        m2 = m2 + m2b + delta**2 * (n * nb / total)
        return total, mean, m2

    def _check_batch(self, batch: np.ndarray, index: int) -> None:
        shape, built = batch.shape, self._build_input_shape
        if len(shape) != len(built) or any(
            shape[a] != built[a] for a in self._keep_axis
        ):
            raise ValueError(
                f"Normalization {self.name!r}: adapt() batch {index} has shape "
                f"{shape}, incompatible with the built input shape {built} "
                f"(kept axes {self._keep_axis} must match)"
            )
        finite = np.isfinite(batch)
        if not finite.all():
            pos = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise ValueError(
                f"Normalization {self.name!r}: adapt() data has a non-finite value "
                f"{batch[pos]} at index {pos} of batch {index}"
            )

    def _batches(
        self, data: Any, batch_size: int | None, steps: int | None
    ) -> Iterator[np.ndarray]:
        """The batches of ``data`` as float64 NumPy arrays."""
        for name, value in (("batch_size", batch_size), ("steps", steps)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ValueError(
                    f"Normalization {self.name!r}: {name} must be a positive "
                    f"integer, got {value!r}"
                )
        if (
            isinstance(data, Tensor)
            or hasattr(data, "__array_interface__")
            or (hasattr(data, "shape") and hasattr(data, "dtype"))
        ):
            whole = self._as_batch(data, 0)
            if batch_size is None and steps is None:
                return iter([whole])
            size = batch_size or 32
            parts = (whole[i : i + size] for i in range(0, max(len(whole), 1), size))
            return _take(parts, steps)
        if batch_size is not None:
            raise ValueError(
                f"Normalization {self.name!r}: batch_size applies to arrays only; "
                f"an iterable of batches is already batched"
            )
        if isinstance(data, (str, bytes, dict)) or not isinstance(data, Iterable):
            raise TypeError(
                f"Normalization {self.name!r}: adapt() expects an array or an "
                f"iterable of batches (arrays), got {type(data).__name__}"
            )
        batches = (self._as_batch(b, i) for i, b in enumerate(data))
        return _take(batches, steps)

    def _as_batch(self, batch: Any, index: int) -> np.ndarray:
        if isinstance(batch, tuple):  # (x, y) or (x, y, sample_weight)
            batch = batch[0]
        if isinstance(batch, Tensor):
            batch = batch.data
        try:
            array = np.asarray(to_numpy(batch), dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        if array is None or array.ndim == 0:
            raise TypeError(
                f"Normalization {self.name!r}: adapt() expects batches that are "
                f"arrays; batch {index} is {batch!r} (to adapt on one array, pass "
                f"np.asarray(data))"
            )
        return array

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": np.array(self.input_mean).tolist(),
            "variance": np.array(self.input_variance).tolist(),
        }


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _take(items: Iterator[Any], steps: int | None) -> Iterator[Any]:
    """The first ``steps`` items (all when None); no item beyond is drawn."""
    return iter(items) if steps is None else itertools.islice(items, steps)
