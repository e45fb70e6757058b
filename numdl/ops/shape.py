"""Shape ops: reshape, transpose, indexing, joining, splitting, padding, tiling.

Their gradients move values back where they came from; ``getitem`` scatters
with accumulation, so an index used twice receives both gradients.
"""

from __future__ import annotations

import builtins
from typing import Any

from numdl.autograd.function import Function
from numdl.backend import array_module


class Reshape(Function):
    def forward(self, x, shape=None):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return (g.reshape(self.shape),)


class Transpose(Function):
    def forward(self, x, axes=None):
        self.axes = axes
        return array_module(x).transpose(x, axes)

    def backward(self, g):
        xp = array_module(g)
        if self.axes is None:
            return (xp.transpose(g),)
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a % len(self.axes)] = i
        return (xp.transpose(g, inverse),)


class GetItem(Function):
    def forward(self, x, index=None):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        return x[index]

    def backward(self, g):
        xp = array_module(g)
        grad = xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic(self.index):
            grad[self.index] = g
        else:  # integer arrays may repeat an index: accumulate, never overwrite
            xp.add.at(grad, self.index, g)
        return (grad,)


def _is_basic(index: Any) -> bool:
    """True for slices, ints, None and Ellipsis: no index can repeat."""
    parts = index if isinstance(index, tuple) else (index,)
    return builtins.all(
        p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts
    )


class Concatenate(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return array_module(*arrays).concatenate(arrays, axis=axis)

    def backward(self, g):
        xp = array_module(g)
        bounds = list(_cumsum(self.sizes))[:-1]
        return tuple(xp.split(g, bounds, axis=self.axis))


def _cumsum(sizes: list[int]) -> list[int]:
    out, total = [], 0
    for s in sizes:
        total += s
        out.append(total)
    return out


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return array_module(*arrays).stack(arrays, axis=axis)

    def backward(self, g):
        xp = array_module(g)
        n = g.shape[self.axis]
        return tuple(xp.take(g, i, axis=self.axis) for i in range(n))


class Pad(Function):
    def forward(self, x, pad_width=None, constant_values=0):
        xp = array_module(x)
        self.width = _pad_width(pad_width, x.ndim)
        return xp.pad(x, self.width, mode="constant", constant_values=constant_values)

    def backward(self, g):
        index = tuple(
            slice(lo, g.shape[i] - hi) for i, (lo, hi) in enumerate(self.width)
        )
        return (g[index],)


def _pad_width(pad_width: Any, ndim: int) -> list[tuple[int, int]]:
    """Normalise NumPy's pad_width forms to one (before, after) pair per axis."""
    import numpy as np  # shape bookkeeping on Python ints, not tensor data

    width = np.broadcast_to(np.asarray(pad_width, dtype=int), (ndim, 2))
    if (width < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative, got {pad_width}")
    return [(int(lo), int(hi)) for lo, hi in width]


class Tile(Function):
    def forward(self, x, reps=None):
        xp = array_module(x)
        reps = (reps,) if isinstance(reps, int) else tuple(reps)
        self.in_shape = x.shape
        out = xp.tile(x, reps)
        self.reps = (1,) * (out.ndim - len(reps)) + reps
        return out

    def backward(self, g):
        shape = (1,) * (g.ndim - len(self.in_shape)) + tuple(self.in_shape)
        split = []
        for r, n in zip(self.reps, shape):
            split += [r, n]
        summed = g.reshape(split).sum(axis=tuple(range(0, 2 * g.ndim, 2)))
        return (summed.reshape(self.in_shape),)


class Repeat(Function):
    def forward(self, x, repeats=None, axis=None):
        xp = array_module(x)
        self.shape, self.axis, self.repeats = x.shape, axis, repeats
        return xp.repeat(x, repeats, axis=axis)

    def backward(self, g):
        xp = array_module(g)
        axis, shape = self.axis, self.shape
        if axis is None:
            flat_shape, axis = (int(_prod(shape)),), 0
        else:
            flat_shape, axis = shape, axis % len(shape)
        n = flat_shape[axis]
        if isinstance(self.repeats, int) or getattr(self.repeats, "ndim", 1) == 0:
            r = int(self.repeats)
            new = flat_shape[:axis] + (n, r) + flat_shape[axis + 1 :]
            return (g.reshape(new).sum(axis=axis + 1).reshape(shape),)
        # Per-element counts: scatter-add each output slot back to its source.
        source = xp.repeat(xp.arange(n), xp.asarray(self.repeats))
        grad = xp.zeros(flat_shape, dtype=g.dtype)
        xp.add.at(grad, (slice(None),) * axis + (source,), g)
        return (grad.reshape(shape),)


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


class OneHot(Function):
    differentiable = False

    def forward(self, indices, num_classes=None, dtype=None):
        xp = array_module(indices)
        indices = xp.asarray(indices)
        if indices.dtype.kind not in "iu":
            if indices.size and not (indices == xp.round(indices)).all():
                raise ValueError("one_hot: indices must be integers")
            indices = indices.astype(int)
        if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
            bad = int(xp.argmax((indices < 0) | (indices >= num_classes)))
            raise ValueError(
                f"one_hot: index {indices.ravel()[bad]} at flat position {bad} is "
                f"outside [0, {num_classes})"
            )
        return (indices[..., None] == xp.arange(num_classes)).astype(dtype)


# ------------------------------------------------------------------ wrappers
def reshape(x: Any, shape: Any) -> Any:
    """Give ``x`` a new shape with the same number of elements.

    >>> reshape([1.0, 2.0, 3.0, 4.0], (2, 2)).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    return Reshape.apply(x, shape=shape)


def transpose(x: Any, axes: Any = None) -> Any:
    """Permute the axes (reverse them when ``axes`` is None).

    >>> transpose([[1.0, 2.0]]).tolist()
    [[1.0], [2.0]]
    """
    return Transpose.apply(x, axes=None if axes is None else tuple(axes))


def expand_dims(x: Any, axis: Any) -> Any:
    """Insert a size-1 axis at ``axis``.

    >>> expand_dims([1.0, 2.0], 0).shape
    (1, 2)
    """
    shape = _shape_of(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = len(shape) + len(axes)
    axes = sorted(a % ndim for a in axes)
    new = list(shape)
    for a in axes:
        new.insert(a, 1)
    return reshape(x, tuple(new))


def squeeze(x: Any, axis: Any = None) -> Any:
    """Remove size-1 axes (only ``axis`` when given; it must have size 1).

    >>> squeeze([[1.0, 2.0]]).shape
    (2,)
    """
    shape = _shape_of(x)
    if axis is None:
        axes = {i for i, n in enumerate(shape) if n == 1}
    else:
        axes = {a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)}
        for a in axes:
            if shape[a] != 1:
                raise ValueError(
                    f"squeeze: axis {a} has size {shape[a]}, expected 1 (shape {shape})"
                )
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in axes))


def flatten(x: Any, start_axis: int = 0) -> Any:
    """Merge the axes from ``start_axis`` on into one (``torch.flatten``).

    >>> flatten([[1.0, 2.0], [3.0, 4.0]]).shape
    (4,)
    """
    shape = _shape_of(x)
    start = start_axis % builtins.max(len(shape), 1)
    return reshape(x, tuple(shape[:start]) + (_prod(shape[start:]),))


def getitem(x: Any, index: Any) -> Any:
    """``x[index]`` with slices, integer arrays or boolean masks.

    >>> getitem([1.0, 2.0, 3.0], [0, 0]).tolist()
    [1.0, 1.0]
    """
    return GetItem.apply(x, index=_unwrap_index(index, x))


def _unwrap_index(index: Any, x: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_unwrap_index(i, x) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return array_module(_data(x)).asarray(index)
    return index


def concatenate(tensors: Any, axis: int = 0) -> Any:
    """Join a sequence of arrays along an existing axis.

    >>> concatenate([[1.0], [2.0, 3.0]]).tolist()
    [1.0, 2.0, 3.0]
    """
    _check_sequence("concatenate", tensors)
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Any, axis: int = 0) -> Any:
    """Join a sequence of same-shaped arrays along a new axis.

    >>> stack([[1.0], [2.0]]).tolist()
    [[1.0], [2.0]]
    """
    _check_sequence("stack", tensors)
    return Stack.apply(*tensors, axis=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Split into pieces along ``axis`` (NumPy's ``split`` semantics).

    >>> [p.tolist() for p in split([1.0, 2.0, 3.0, 4.0], 2)]
    [[1.0, 2.0], [3.0, 4.0]]
    """
    n = _shape_of(x)[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(
                f"split: axis {axis} of size {n} cannot be split into "
                f"{indices_or_sections} equal sections"
            )
        step = n // indices_or_sections
        bounds = (
            list(range(0, n + 1, step)) if step else [0] * (indices_or_sections + 1)
        )
    else:
        bounds = [0] + [builtins.min(int(i), n) for i in indices_or_sections] + [n]
    ndim = len(_shape_of(x))
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        index = [slice(None)] * ndim
        index[axis] = slice(lo, builtins.max(lo, hi))
        pieces.append(getitem(x, tuple(index)))
    return pieces


def pad(x: Any, pad_width: Any, constant_values: float = 0) -> Any:
    """Pad with a constant (NumPy's ``pad_width`` forms).

    >>> pad([1.0], 1).tolist()
    [0.0, 1.0, 0.0]
    """
    return Pad.apply(x, pad_width=pad_width, constant_values=constant_values)


def tile(x: Any, reps: Any) -> Any:
    """Repeat the whole array ``reps`` times along each axis (``np.tile``).

    >>> tile([1.0, 2.0], 2).tolist()
    [1.0, 2.0, 1.0, 2.0]
    """
    return Tile.apply(x, reps=reps)


def repeat(x: Any, repeats: Any, axis: Any = None) -> Any:
    """Repeat each element ``repeats`` times (``np.repeat``).

    >>> repeat([1.0, 2.0], 2).tolist()
    [1.0, 1.0, 2.0, 2.0]
    """
    if isinstance(repeats, (list, tuple)):
        repeats = array_module(_data(x)).asarray(repeats, dtype="int64")
    return Repeat.apply(x, repeats=repeats, axis=axis)


def one_hot(indices: Any, num_classes: int, dtype: Any = None) -> Any:
    """One-hot encode integer ``indices`` into a new last axis (not differentiable).

    >>> one_hot([0, 2], 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    from numdl import config

    return OneHot.apply(
        indices, num_classes=num_classes, dtype=dtype or config.floatx()
    )


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _shape_of(x: Any) -> tuple[int, ...]:
    x = _data(x)
    return x.shape if hasattr(x, "shape") else array_module(x).shape(x)


def _check_sequence(name: str, tensors: Any) -> None:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"{name}: expected a list or tuple of arrays, got {type(tensors).__name__}"
        )
    if not tensors:
        raise ValueError(f"{name}: expected at least one array, got an empty sequence")


from numdl.autograd.tensor import Tensor  # noqa: E402
