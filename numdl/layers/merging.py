"""Merging layers (Keras 3's ``merging``): combine a list of inputs into one.

``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum`` and ``Minimum``
work elementwise. The batch axes must agree; the other axes broadcast as in
Keras: an input with fewer axes gets size-1 axes inserted after the batch
axis, then sizes of 1 stretch. ``Concatenate`` joins along an axis and
``Dot`` takes batchwise dot products. Each has a functional shortcut
(``add([a, b])``, ``concatenate([a, b], axis=1)``, ...).
"""

from __future__ import annotations

import math
from typing import Any

from numdl import ops
from numdl.layers.base import Layer, is_shape


def _describe(layer: Layer) -> str:
    return f"{type(layer).__name__} {layer.name!r}"


def _shapes_of(layer: Layer, inputs: Any) -> list[tuple[Any, ...]]:
    """The input shapes, checking that ``inputs`` is a list of tensors/shapes."""
    if is_shape(inputs) or not isinstance(inputs, (list, tuple)) or not inputs:
        if is_shape(inputs) or hasattr(inputs, "shape"):
            got = f"a single input of shape {getattr(inputs, 'shape', inputs)}"
        else:
            got = f"{type(inputs).__name__} {inputs!r}"[:120]
        raise ValueError(
            f"{_describe(layer)} should be called on a list of inputs, got {got}"
        )
    shapes = [s if is_shape(s) else tuple(getattr(s, "shape", ())) for s in inputs]
    if any(len(s) == 0 for s in shapes):
        raise ValueError(
            f"{_describe(layer)} expects inputs with a batch axis, got shapes {shapes}"
        )
    return shapes


def _check_batch(layer: Layer, shapes: list[tuple[Any, ...]]) -> None:
    if len({s[0] for s in shapes} - {None}) > 1:
        raise ValueError(
            f"{_describe(layer)} cannot merge inputs with different batch sizes, "
            f"got shapes {shapes}"
        )


def broadcast_shape(layer: Layer, shapes: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Keras's elementwise output shape: non-batch axes broadcast from the right.

    >>> broadcast_shape(Add(name="a"), [(None, 3), (None, 4, 1)])
    (None, 4, 3)
    """
    _check_batch(layer, shapes)
    out: list[Any] = []
    for shape in shapes:
        rest = list(shape[1:])
        width = max(len(out), len(rest))
        out = [1] * (width - len(out)) + out
        rest = [1] * (width - len(rest)) + rest
        for i, (m, n) in enumerate(zip(out, rest)):
            if m is None or n is None:
                out[i] = None  # unknown: Keras leaves it unknown
            elif m == 1 or n == 1 or m == n:
                out[i] = n if m == 1 else m
            else:
                raise ValueError(
                    f"{_describe(layer)}: inputs have incompatible shapes {shapes} "
                    f"(sizes {m} and {n} do not broadcast)"
                )
    batch = next((s[0] for s in shapes if s[0] is not None), None)
    return (batch, *out)


class Merge(Layer):
    """Base of the elementwise merging layers (``_merge_function`` differs).

    >>> import numpy as np
    >>> Add()([np.ones((2, 3)), np.ones((2, 3))]).tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    """

    min_inputs = 1
    max_inputs: int | None = None

    def _maybe_build(self, inputs: Any) -> None:
        # Check the real shapes first: build sees the batch size as None.
        if not self.built:
            self.compute_output_shape(_shapes_of(self, inputs))
        super()._maybe_build(inputs)

    def _check_count(self, count: int) -> None:
        low, high = self.min_inputs, self.max_inputs
        if count < low or (high is not None and count > high):
            want = f"exactly {low}" if low == high else f"at least {low}"
            raise ValueError(
                f"{_describe(self)} should be called on {want} inputs, got {count}"
            )

    def build(self, input_shape: Any) -> None:
        shapes = _shapes_of(self, input_shape)
        self._check_count(len(shapes))
        broadcast_shape(self, shapes)

    def call(self, inputs: Any) -> Any:
        shapes = _shapes_of(self, inputs)
        self._check_count(len(shapes))
        broadcast_shape(self, shapes)
        ndim = max(len(s) for s in shapes)
        inputs = [_expand_after_batch(x, ndim) for x in inputs]
        return self._merge_function(inputs)

    def _merge_function(self, inputs: list[Any]) -> Any:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        shapes = _shapes_of(self, input_shape)
        self._check_count(len(shapes))
        return broadcast_shape(self, shapes)


def _expand_after_batch(x: Any, ndim: int) -> Any:
    """Insert size-1 axes after the batch axis until ``x`` has ``ndim`` axes."""
    if x.ndim == ndim:
        return x
    shape = tuple(x.shape)
    return ops.reshape(x, shape[:1] + (1,) * (ndim - len(shape)) + shape[1:])


def _fold(op: Any, inputs: list[Any]) -> Any:
    out = inputs[0]
    for x in inputs[1:]:
        out = op(out, x)
    return out


class Add(Merge):
    """Elementwise sum of a list of inputs.

    >>> import numpy as np
    >>> Add()([np.ones((1, 2)), np.full((1, 2), 2.0)]).tolist()
    [[3.0, 3.0]]
    """

    def _merge_function(self, inputs: list[Any]) -> Any:
        return _fold(ops.add, inputs)


class Subtract(Merge):
    """``inputs[0] - inputs[1]``; exactly two inputs.

    >>> import numpy as np
    >>> Subtract()([np.ones((1, 2)), np.full((1, 2), 3.0)]).tolist()
    [[-2.0, -2.0]]
    """

    min_inputs = max_inputs = 2

    def _merge_function(self, inputs: list[Any]) -> Any:
        return ops.subtract(inputs[0], inputs[1])


class Multiply(Merge):
    """Elementwise product of a list of inputs.

    >>> import numpy as np
    >>> Multiply()([np.full((1, 2), 2.0), np.full((1, 2), 3.0)]).tolist()
    [[6.0, 6.0]]
    """

    def _merge_function(self, inputs: list[Any]) -> Any:
        return _fold(ops.multiply, inputs)


class Average(Merge):
    """Elementwise mean of a list of inputs.

    >>> import numpy as np
    >>> Average()([np.ones((1, 2)), np.full((1, 2), 2.0)]).tolist()
    [[1.5, 1.5]]
    """

    def _merge_function(self, inputs: list[Any]) -> Any:
        return _fold(ops.add, inputs) / len(inputs)


class Maximum(Merge):
    """Elementwise maximum of a list of inputs.

    >>> import numpy as np
    >>> Maximum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])]).tolist()
    [[3.0, 5.0]]
    """

    def _merge_function(self, inputs: list[Any]) -> Any:
        return _fold(ops.maximum, inputs)


class Minimum(Merge):
    """Elementwise minimum of a list of inputs.

    >>> import numpy as np
    >>> Minimum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])]).tolist()
    [[1.0, 2.0]]
    """

    def _merge_function(self, inputs: list[Any]) -> Any:
        return _fold(ops.minimum, inputs)


class Concatenate(Merge):
    """Join a list of inputs along ``axis`` (all other sizes must agree).

    >>> import numpy as np
    >>> Concatenate(axis=1)([np.zeros((2, 2, 5)), np.zeros((2, 1, 5))]).shape
    (2, 3, 5)
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(
                f"{_describe(self)}: axis must be an integer, got {axis!r}"
            )
        self.axis = axis

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs: Any) -> Any:
        self.compute_output_shape(_shapes_of(self, inputs))
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        shapes = _shapes_of(self, input_shape)
        ndim = len(shapes[0])
        if any(len(s) != ndim for s in shapes) or not -ndim <= self.axis < ndim:
            raise ValueError(
                f"{_describe(self)}: inputs must have the same number of axes, "
                f"and axis {self.axis} must be one of them; got shapes {shapes}"
            )
        axis = self.axis % ndim
        out = list(shapes[0])
        for i in range(ndim):
            sizes = [s[i] for s in shapes]
            if i == axis:
                out[i] = None if None in sizes else sum(sizes)
            elif len(set(sizes) - {None}) > 1:
                raise ValueError(
                    f"{_describe(self)} requires inputs with matching shapes "
                    f"except along axis {self.axis}, got shapes {shapes}"
                )
            else:
                out[i] = next((n for n in sizes if n is not None), None)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Batchwise dot product of two inputs along ``axes`` (one per input).

    With ``x`` of shape ``(b, 3, 5)``, ``y`` of shape ``(b, 10, 3)`` and
    ``axes=(1, 2)`` the output has shape ``(b, 5, 10)``: ``x``'s remaining
    axes, then ``y``'s (its batch axis left out); a result with only the
    batch axis gets a trailing axis of size 1. ``normalize=True`` divides
    each input by its L2 norm along its axis first (cosine similarity);
    norms below ``1e-7`` count as ``1e-7``, as in Keras.

    >>> import numpy as np
    >>> Dot(axes=1)([np.ones((2, 3)), np.full((2, 3), 2.0)]).tolist()
    [[6.0], [6.0]]
    """

    min_inputs = max_inputs = 2

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axes, list):
            axes = tuple(axes)
        if not isinstance(axes, (int, tuple)) or isinstance(axes, bool):
            raise TypeError(
                f"{_describe(self)}: axes must be an int or a tuple of two ints, "
                f"got {type(axes).__name__} {axes!r}"
            )
        if isinstance(axes, tuple) and (
            len(axes) != 2
            or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes)
        ):
            raise ValueError(
                f"{_describe(self)}: axes must be an int or a tuple of two ints, "
                f"got {axes!r}"
            )
        self.axes = axes
        self.normalize = bool(normalize)

    def _axes(self, shapes: list[tuple[Any, ...]]) -> tuple[int, int]:
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        out = []
        for axis, shape in zip(pair, shapes):
            if len(shape) < 2 or not -len(shape) <= axis < len(shape):
                raise ValueError(
                    f"{_describe(self)}: axes {self.axes} do not fit inputs of "
                    f"shapes {shapes[0]} and {shapes[1]} (each needs a batch "
                    f"axis and at least one more)"
                )
            if axis % len(shape) == 0:
                raise ValueError(
                    f"{_describe(self)}: cannot take the dot product over the "
                    f"batch axis (axes={self.axes})"
                )
            out.append(axis % len(shape))
        return out[0], out[1]

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        shapes = _shapes_of(self, input_shape)
        self._check_count(len(shapes))
        _check_batch(self, shapes)
        a0, a1 = self._axes(shapes)
        (s0, s1) = shapes
        if s0[a0] is not None and s1[a1] is not None and s0[a0] != s1[a1]:
            raise ValueError(
                f"{_describe(self)}: incompatible input shapes {s0} and {s1}: "
                f"size {s0[a0]} (axis {a0}) != size {s1[a1]} (axis {a1})"
            )
        batch = s0[0] if s0[0] is not None else s1[0]
        out = (batch,) + _without(s0[1:], a0 - 1) + _without(s1[1:], a1 - 1)
        return out if len(out) > 1 else out + (1,)

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs: Any) -> Any:
        self.compute_output_shape(_shapes_of(self, inputs))
        x, y = inputs
        a0, a1 = self._axes([tuple(x.shape), tuple(y.shape)])
        if self.normalize:
            x, y = _l2_normalize(x, a0), _l2_normalize(y, a1)
        return batch_dot(x, y, (a0, a1))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _without(shape: tuple[Any, ...], i: int) -> tuple[Any, ...]:
    return shape[:i] + shape[i + 1 :]


def _l2_normalize(x: Any, axis: int) -> Any:
    """``x / max(||x||, 1e-7)`` along ``axis`` (Keras's ``ops.normalize``)."""
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x / ops.sqrt(ops.maximum(square_sum, 1e-14))


def batch_dot(x: Any, y: Any, axes: tuple[int, int]) -> Any:
    """Dot products of ``x[i]`` and ``y[i]`` over ``x``'s axis ``axes[0]`` and
    ``y``'s axis ``axes[1]`` (both > 0), as one batched matmul.

    >>> import numpy as np
    >>> batch_dot(np.ones((2, 3, 4)), np.ones((2, 4, 5)), (2, 1)).shape
    (2, 3, 5)
    """
    a0, a1 = axes
    xs, ys = tuple(x.shape), tuple(y.shape)
    batch = xs[0]
    x_rest, y_rest = _without(xs, a0)[1:], _without(ys, a1)[1:]
    # x -> (batch, M, K): the summed axis last; y -> (batch, K, N): it first.
    x = ops.transpose(x, [0] + [i for i in range(1, len(xs)) if i != a0] + [a0])
    y = ops.transpose(y, [0, a1] + [i for i in range(1, len(ys)) if i != a1])
    x = ops.reshape(x, (batch, math.prod(x_rest), xs[a0]))
    y = ops.reshape(y, (batch, ys[a1], math.prod(y_rest)))
    out = ops.matmul(x, y)
    shape = (batch,) + x_rest + y_rest
    return ops.reshape(out, shape if len(shape) > 1 else (batch, 1))


# ------------------------------------------------------- functional shortcuts
def add(inputs: list[Any], **kwargs: Any) -> Any:
    """``Add(**kwargs)(inputs)``.

    >>> import numpy as np
    >>> add([np.ones((1, 2)), np.ones((1, 2))]).tolist()
    [[2.0, 2.0]]
    """
    return Add(**kwargs)(inputs)


def subtract(inputs: list[Any], **kwargs: Any) -> Any:
    """``Subtract(**kwargs)(inputs)``.

    >>> import numpy as np
    >>> subtract([np.ones((1, 2)), np.ones((1, 2))]).tolist()
    [[0.0, 0.0]]
    """
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list[Any], **kwargs: Any) -> Any:
    """``Multiply(**kwargs)(inputs)``.

    >>> import numpy as np
    >>> multiply([np.full((1, 2), 2.0), np.full((1, 2), 2.0)]).tolist()
    [[4.0, 4.0]]
    """
    return Multiply(**kwargs)(inputs)


def average(inputs: list[Any], **kwargs: Any) -> Any:
    """``Average(**kwargs)(inputs)``.

    >>> import numpy as np
    >>> average([np.zeros((1, 2)), np.ones((1, 2))]).tolist()
    [[0.5, 0.5]]
    """
    return Average(**kwargs)(inputs)


def maximum(inputs: list[Any], **kwargs: Any) -> Any:
    """``Maximum(**kwargs)(inputs)``.

    >>> import numpy as np
    >>> maximum([np.zeros((1, 2)), np.ones((1, 2))]).tolist()
    [[1.0, 1.0]]
    """
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list[Any], **kwargs: Any) -> Any:
    """``Minimum(**kwargs)(inputs)``.

    >>> import numpy as np
    >>> minimum([np.zeros((1, 2)), np.ones((1, 2))]).tolist()
    [[0.0, 0.0]]
    """
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: list[Any], axis: int = -1, **kwargs: Any) -> Any:
    """``Concatenate(axis=axis, **kwargs)(inputs)``.

    >>> import numpy as np
    >>> concatenate([np.zeros((1, 2)), np.ones((1, 1))]).tolist()
    [[0.0, 0.0, 1.0]]
    """
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs: list[Any], axes: Any = -1, **kwargs: Any) -> Any:
    """``Dot(axes=axes, **kwargs)(inputs)`` (``normalize`` goes in ``kwargs``).

    >>> import numpy as np
    >>> dot([np.ones((1, 2)), np.ones((1, 2))]).tolist()
    [[2.0]]
    """
    return Dot(axes=axes, **kwargs)(inputs)
