"""Keras's utilities: one-hot labels, normalisation, seeding, sessions, splits.

``to_categorical``, ``normalize``, ``set_random_seed``, ``clear_session`` and
``split_dataset`` follow ``keras.utils``. They work on NumPy arrays (and
numdl Tensors, whose data they read); ``split_dataset`` returns arrays
rather than ``tf.data.Dataset`` objects.
"""

from __future__ import annotations

import numbers
import random
from typing import Any

import numpy as np

from numdl import config, ops
from numdl.autograd.tensor import Tensor


def _host(x: Any) -> np.ndarray:
    from numdl.backend import to_numpy

    return to_numpy(x.data if isinstance(x, Tensor) else x)


# ------------------------------------------------------------ to_categorical
def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot encode integer class labels; the class axis is placed last.

    Labels of shape ``(n, 1)`` give ``(n, num_classes)``, as in Keras. The
    result has type ``config.floatx()``. ``num_classes`` defaults to
    ``max(x) + 1``.

    >>> to_categorical([0, 2, 1], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    labels = _labels(x)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)
    num_classes = _num_classes(flat, num_classes)
    bad = np.flatnonzero((flat < 0) | (flat >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"to_categorical: labels must be in [0, {num_classes}), got "
            f"{flat[i]} at flat index {i}"
        )
    out = np.zeros((flat.size, num_classes), dtype=config.floatx())
    out[np.arange(flat.size), flat] = 1
    return out.reshape(shape + (num_classes,))


def _labels(x: Any) -> np.ndarray:
    """Labels as an int64 array; fractional values are an error."""
    labels = _host(x)
    if labels.dtype.kind == "f":
        finite = np.isfinite(labels)
        whole = np.round(np.where(finite, labels, 0.5)) == labels
        fractional = np.flatnonzero(~whole)
        if fractional.size:
            i = int(fractional[0])
            raise ValueError(
                "to_categorical: expected integer class labels, got "
                f"{labels.reshape(-1)[i]} at flat index {i}"
            )
    elif labels.dtype.kind not in "iub":
        raise ValueError(
            f"to_categorical: expected integer class labels, got dtype {labels.dtype}"
        )
    return labels.astype(np.int64)


def _num_classes(flat: np.ndarray, num_classes: Any) -> int:
    if not num_classes:
        if flat.size == 0:
            raise ValueError(
                "to_categorical: cannot infer num_classes from empty labels; "
                "pass num_classes"
            )
        return int(flat.max()) + 1
    if not isinstance(num_classes, numbers.Integral) or num_classes < 0:
        raise ValueError(
            f"to_categorical: num_classes must be a positive int, got {num_classes!r}"
        )
    return int(num_classes)


# ------------------------------------------------------------------ normalize
def normalize(x: Any, axis: Any = -1, order: Any = 2) -> Any:
    """Divide ``x`` by its ``order``-norm along ``axis``.

    An array gives an array, with zero norms left as they are (divided by
    1), as Keras's NumPy path. A Tensor gives a differentiable Tensor,
    ``x / max(norm, epsilon)``, as Keras's ``ops.normalize`` (``order`` an
    int >= 1 there).

    >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    if isinstance(x, Tensor):
        return _normalize_tensor(x, axis, order)
    x = _host(x)
    if x.dtype.kind != "f":
        x = x.astype(config.floatx())
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    norm = np.where(norm == 0, 1, norm).astype(x.dtype)
    return x / norm


def _normalize_tensor(x: Tensor, axis: Any, order: Any) -> Tensor:
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(
            f"normalize: order must be an int >= 1 for a Tensor, got {order!r}"
        )
    x = x if x.dtype.kind == "f" else ops.cast(x, config.floatx())
    eps = config.epsilon()
    if order == 2:
        squares = ops.sum(ops.square(x), axis=axis, keepdims=True)
        return x / ops.sqrt(ops.maximum(squares, eps * eps))
    if order == 1:
        norm = ops.sum(ops.abs(x), axis=axis, keepdims=True)
    else:
        powers = ops.sum(ops.power(ops.abs(x), float(order)), axis=axis, keepdims=True)
        norm = ops.power(powers, 1.0 / order)
    return x / ops.maximum(norm, eps)


# ------------------------------------------------------------ set_random_seed
def set_random_seed(seed: int) -> None:
    """Seed numdl's generator, Python's ``random`` and NumPy's global state.

    Like ``keras.utils.set_random_seed``: after it, weight initialisation,
    dropout, shuffling and any ``random`` or ``np.random`` call repeat.

    >>> set_random_seed(7); a = (random.random(), np.random.rand())
    >>> set_random_seed(7); a == (random.random(), np.random.rand())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"set_random_seed: seed must be an int, got {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"set_random_seed: seed must be in [0, 2**32), got {seed}")
    config.set_random_seed(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed))


# -------------------------------------------------------------- clear_session
def clear_session() -> None:
    """Reset global naming state, as ``keras.utils.clear_session``.

    Automatic layer names start again from ``dense``, ``dense_1``, ...

    >>> clear_session()
    """
    from numdl.layers.base import reset_names

    reset_names()


# -------------------------------------------------------------- split_dataset
def split_dataset(
    dataset: Any,
    left_size: int | float | None = None,
    right_size: int | float | None = None,
    shuffle: bool = False,
    seed: int | None = None,
) -> tuple[Any, Any]:
    """Split arrays into a left and a right part along the first axis.

    ``dataset`` is an array or a tuple, list or dict of arrays of equal
    length (nested structures work too); each part keeps that structure,
    lists becoming tuples. Sizes follow Keras: a float in ``(0, 1)`` is a
    fraction (rounded with Python's ``round``), an int a count in
    ``(0, len)``; a missing size is the complement of the other. When the two
    sizes add up to less than the whole, the left part is taken from the
    start and the right part from the end. ``shuffle`` permutes the samples
    first, with ``seed`` or else numdl's generator.

    >>> x, y = np.arange(10), np.arange(10) * 10
    >>> (xl, yl), (xr, yr) = split_dataset((x, y), left_size=0.8)
    >>> xl.tolist(), yr.tolist()
    ([0, 1, 2, 3, 4, 5, 6, 7], [80, 90])
    """
    leaves: list[np.ndarray] = []
    _collect(dataset, leaves)
    if not leaves:
        raise ValueError("split_dataset: dataset holds no arrays")
    total = len(leaves[0])
    for i, leaf in enumerate(leaves):
        if len(leaf) != total:
            raise ValueError(
                "split_dataset: all arrays must have the same length, got "
                f"{total} for array 0 and {len(leaf)} for array {i}"
            )
    left, right = _split_sizes(left_size, right_size, total)
    order = np.arange(total)
    if shuffle:
        rng = config.rng() if seed is None else np.random.default_rng(seed)
        order = rng.permutation(total)
    return _take(dataset, order[:left]), _take(dataset, order[total - right :])


def _collect(data: Any, leaves: list[np.ndarray]) -> None:
    if isinstance(data, dict):
        for value in data.values():
            _collect(value, leaves)
    elif isinstance(data, (tuple, list)):
        for value in data:
            _collect(value, leaves)
    else:
        array = _host(data)
        if array.ndim == 0:
            raise ValueError(
                "split_dataset: expected arrays with a sample axis, got a scalar "
                f"{array!r}; pass arrays, or a tuple/list/dict of arrays"
            )
        leaves.append(array)


def _take(data: Any, index: np.ndarray) -> Any:
    if isinstance(data, dict):
        return {key: _take(value, index) for key, value in data.items()}
    if isinstance(data, (tuple, list)):
        return tuple(_take(value, index) for value in data)
    return _host(data)[index]


def _size(value: Any, name: str, total: int) -> float | None:
    """Validate one split size; return it as a number of samples or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Real)):
        raise TypeError(
            f"split_dataset: {name} must be an int, a float or None, got "
            f"{type(value).__name__}"
        )
    if isinstance(value, numbers.Integral):
        if not 0 < value < total:
            raise ValueError(
                f"split_dataset: {name} must be an int in (0, {total}) or a "
                f"float in (0, 1), got {name}={value}"
            )
        return int(value)
    if not 0 < value < 1:
        raise ValueError(
            f"split_dataset: {name} must be a float in (0, 1) or an int in "
            f"(0, {total}), got {name}={value}"
        )
    return round(float(value) * total)


def _split_sizes(left_size: Any, right_size: Any, total: int) -> tuple[int, int]:
    """Keras's ``_rescale_dataset_split_sizes``: two sample counts."""
    if left_size is None and right_size is None:
        raise ValueError(
            "split_dataset: at least one of left_size and right_size must be given"
        )
    both_float = all(
        isinstance(s, numbers.Real) and not isinstance(s, numbers.Integral)
        for s in (left_size, right_size)
    )
    if both_float and left_size + right_size > 1:
        raise ValueError(
            "split_dataset: left_size + right_size must be at most 1, got "
            f"{left_size} + {right_size}"
        )
    left = _size(left_size, "left_size", total)
    right = _size(right_size, "right_size", total)
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(
            f"split_dataset: left_size + right_size = {left + right} samples is "
            f"more than the {total} in the dataset"
        )
    for count, side in ((left, "left"), (right, "right")):
        if count == 0:
            raise ValueError(
                f"split_dataset: with {total} samples, left_size={left_size} and "
                f"right_size={right_size} leave the {side} part empty"
            )
    return int(left), int(right)
