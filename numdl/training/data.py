"""Data for ``fit``/``evaluate``/``predict``: checks, splits, batches.

Two kinds of data, as in Keras:

- **arrays** (NumPy arrays, Tensors, or lists/dicts of them for several
  inputs or outputs): checked once up front (same number of samples
  everywhere, no NaN or inf), split (``validation_split`` takes the *last*
  fraction, before any shuffling), shuffled each epoch with numdl's
  generator (``numdl.config.set_random_seed`` fixes the order) and cut into
  batches that are views of one array per epoch;
- **iterables** (a generator, or a re-iterable such as a list of batches)
  yielding ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` batches. A
  generator is consumed as it comes: never shuffled, and only its first batch
  is checked before training starts.

Floating point data is converted to ``numdl.config.floatx()`` once; targets
go to the loss as arrays and inputs to the model as Tensors sharing memory
with the batch views (no copy per step).
"""

from __future__ import annotations

import cmath
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from numdl import config, parallel
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module, to_numpy

Batch = tuple[Any, list[Any] | None, list[Any] | None]


# ------------------------------------------------------------------ leaves
def is_iterable_data(x: Any) -> bool:
    """True for batch sources: generators, iterators, sequences with ``len``
    and indexing (Keras's ``PyDataset``), and lists of ``(x, y)`` tuples.
    Arrays, Tensors, dicts and lists of arrays are array data.

    >>> is_iterable_data(np.zeros(3)), is_iterable_data([np.zeros(2)])
    (False, False)
    >>> is_iterable_data(iter([])), is_iterable_data([(np.zeros(2), np.zeros(2))])
    (True, True)
    """
    if isinstance(x, list):
        return bool(x) and all(isinstance(item, tuple) for item in x)
    if isinstance(x, (np.ndarray, Tensor, tuple, dict, str, bytes)):
        return False
    if _is_leaf_array(x):  # also pandas, torch, CuPy arrays
        return False
    sequence = hasattr(x, "__getitem__") and hasattr(x, "__len__")
    return hasattr(x, "__iter__") or hasattr(x, "__next__") or sequence


def _iterate(source: Any) -> Iterator[Any]:
    """``iter(source)``; a sequence without ``__iter__`` is indexed 0..len-1."""
    if hasattr(source, "__iter__"):
        return iter(source)
    return (source[i] for i in range(len(source)))


def _is_leaf_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, Tensor)) or (
        hasattr(x, "shape") and (hasattr(x, "dtype") or hasattr(x, "__array__"))
    )


def _is_nested(x: Any) -> bool:
    return isinstance(x, (list, tuple, dict))


def to_array(value: Any, label: str, where: str) -> Any:
    """An ndarray (or CuPy array) with a batch axis; floats become floatx.

    >>> to_array([[1, 2]], "x", "fit").dtype.name
    'int64'
    """
    if type(value) is np.ndarray:  # the usual input: nothing to convert
        arr = value
    else:
        data = value.data if isinstance(value, Tensor) else value
        try:
            arr = array_module(data).asarray(data)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"{where}: {label} could not be read as an array: {error}"
            ) from None
    if arr.dtype.kind == "O":
        raise ValueError(
            f"{where}: {label} is not a numeric array (got dtype object; ragged "
            f"lists?); pass NumPy arrays of one shape"
        )
    if arr.ndim == 0:
        raise ValueError(
            f"{where}: {label} must have a batch axis (one row per sample), got "
            f"a scalar"
        )
    if arr.dtype.kind == "f" and arr.dtype != config.floatx():
        arr = arr.astype(config.floatx())
    return arr


def checked_array(x: Any, where: str) -> Any:
    """``x`` as :class:`ArrayData` holds one array of inputs: converted by
    :func:`to_array` and checked by :func:`check_finite`.

    >>> checked_array(np.ones((2, 3), dtype=np.float64), "predict").dtype.name
    'float32'
    """
    x = to_array(x, "x", where)
    # A sum of squares is finite exactly when no element is NaN or inf, unless
    # finite elements overflow it: one BLAS call accepts a small float array
    # (predict's usual input; each Python call of check_finite's is ~1 us of
    # a one-sample predict). Anything else, or an inf sum, is checked fully.
    small = type(x) is np.ndarray and x.dtype.kind == "f" and x.size <= _FINITE_BLOCK
    if not (small and math.isfinite(np.vdot(x, x))):
        check_finite(x, "x", where)
    return x


def flatten_inputs(x: Any, where: str) -> tuple[list[Any], list[str], Callable]:
    """Leaves of ``x`` as arrays, their labels for messages, and a re-packer.

    >>> leaves, labels, pack = flatten_inputs({"b": [1.0], "a": [2.0]}, "fit")
    >>> labels, sorted(pack(["A", "B"]).items())
    (["x['a']", "x['b']"], [('a', 'A'), ('b', 'B')])
    """
    if isinstance(x, dict):
        keys = sorted(x)
        labels = [f"x[{k!r}]" for k in keys]
        leaves = [to_array(x[k], lab, where) for k, lab in zip(keys, labels)]
        return leaves, labels, lambda items: dict(zip(keys, items))
    if isinstance(x, (list, tuple)) and x and all(_is_leaf_array(v) for v in x):
        labels = [f"x[{i}]" for i in range(len(x))]
        leaves = [to_array(v, lab, where) for v, lab in zip(x, labels)]
        return leaves, labels, list
    return [to_array(x, "x", where)], ["x"], _first


def _first(items: list[Any]) -> Any:
    return items[0]


def per_output_targets(y: Any, names: list[str], what: str, where: str) -> list[Any]:
    """``y`` (or ``sample_weight``) as one entry per model output, in order.

    A single array serves a single output (``sample_weight``: every output);
    a list gives one entry per output; a dict maps output names.

    >>> per_output_targets({"b": 1, "a": 2}, ["a", "b"], "y", "fit")
    [2, 1]
    """
    n = len(names)
    if y is None:
        return [None] * n
    if isinstance(y, dict):
        unknown = [k for k in y if k not in names]
        if unknown and not (n == 1 and len(y) == 1):
            raise ValueError(
                f"{where}: {what} has key(s) {unknown} that match no model output; "
                f"the outputs are {names}"
            )
        if n == 1 and len(y) == 1:
            return list(y.values())
        return [y.get(name) for name in names]
    if isinstance(y, (list, tuple)) and y and all(_is_leaf_array(v) for v in y):
        if len(y) == n:
            return list(y)
        if n == 1:
            return [y]
        raise ValueError(
            f"{where}: {what} is a list of {len(y)} arrays but the model has {n} "
            f"outputs ({names})"
        )
    if n > 1 and what != "sample_weight":
        raise ValueError(
            f"{where}: the model has {n} outputs ({names}) but {what} is a single "
            f"array; pass a list with one array per output, or a dict by name"
        )
    return [y] * n


# ------------------------------------------------------------------ checks
def check_lengths(leaves: list[Any], labels: list[str], where: str) -> int:
    """The common number of samples; a ValueError naming the odd one out.

    >>> check_lengths([np.zeros(3), np.zeros(2)], ["x", "y"], "fit")
    Traceback (most recent call last):
    ValueError: fit: x and y have different numbers of samples: x has 3, y has 2
    """
    sizes = [(label, len(a)) for a, label in zip(leaves, labels) if a is not None]
    if not sizes:
        raise ValueError(f"{where}: no data given (x is None)")
    n = sizes[0][1]
    for label, size in sizes[1:]:
        if size != n:
            raise ValueError(
                f"{where}: {sizes[0][0]} and {label} have different numbers of "
                f"samples: {sizes[0][0]} has {n}, {label} has {size}"
            )
    return n


def check_finite(arr: Any, label: str, where: str) -> None:
    """Reject NaN and inf in float data, naming the first bad index.

    >>> check_finite(np.array([[1.0, np.nan]]), "x", "fit")
    Traceback (most recent call last):
    ValueError: fit: x contains NaN at index (0, 1) (sample 0); remove or replace \
non-finite values before training
    """
    if arr is None or arr.dtype.kind not in "fc" or _all_finite(arr):
        return
    xp = array_module(arr)
    index = tuple(int(i) for i in to_numpy(xp.argwhere(~xp.isfinite(arr))[0]))
    value = complex(arr[index])
    if cmath.isnan(value):
        kind = "NaN"
    else:  # an inf (complex: in either part)
        kind = "-inf" if value.imag == 0 and value.real < 0 else "inf"
    shown = str(index[0]) if len(index) == 1 else str(index)
    raise ValueError(
        f"{where}: {label} contains {kind} at index {shown} (sample {index[0]}); "
        f"remove or replace non-finite values before training"
    )


# Elements per block of _all_finite: 1 MB of float32, reduced while in cache.
_FINITE_BLOCK = 1 << 18


def _all_finite(arr: Any) -> bool:
    """Whether ``arr`` holds no NaN or inf, without a boolean copy of it.

    A sum is finite exactly when no term is NaN or inf, unless finite terms
    overflow, so one reduction per 1 MB block decides almost every block
    (an overflowing block is checked element by element). On the host the
    blocks are shared among numdl's threads: the pass is bound by memory
    bandwidth, which one core does not fill (MNIST-sized inputs, 188 MB,
    checked once per ``fit``: ~23 -> ~12 ms on two cores).
    """
    xp = array_module(arr)
    if arr.size <= _FINITE_BLOCK:  # one block: the mask is small and quicker
        # (count_nonzero: 0.6 of .all()'s time on a one-sample predict input)
        return bool(xp.count_nonzero(xp.isfinite(arr)) == arr.size)
    flat = arr.reshape(-1) if arr.flags.c_contiguous else arr.ravel()
    if arr.dtype.kind == "c":
        flat = flat.view(arr.real.dtype)
    if xp is not np:
        return _finite_blocks(xp, flat)
    with parallel.region():
        parts = parallel.split(flat.size, flat.nbytes * parallel.FLOPS_PER_BYTE)
        found = parallel.run(lambda s: _finite_blocks(np, flat[s]), parts, flat.size)
    return all(found)


def _finite_blocks(xp: Any, flat: Any) -> bool:
    """:func:`_all_finite` of a flat array, one block at a time."""
    wide = xp.float32 if flat.itemsize < 4 else None  # float16 sums overflow
    for start in range(0, flat.size, _FINITE_BLOCK):
        block = flat[start : start + _FINITE_BLOCK]
        with np.errstate(over="ignore", invalid="ignore"):  # the overflow case
            total = block.sum(dtype=wide)
        if not xp.isfinite(total) and not xp.isfinite(block).all():
            return False
    return True


def class_weights_to_sample_weights(y: Any, class_weight: dict) -> np.ndarray:
    """Keras's ``class_weight`` -> per-sample weights (argmax of one-hot rows).

    >>> class_weights_to_sample_weights(np.array([0, 1, 1]), {1: 3.0}).tolist()
    [1.0, 3.0, 3.0]
    """
    labels = to_numpy(y)
    if labels.ndim > 1:
        labels = labels.argmax(-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype(np.int64).reshape(len(labels))
    weights = np.ones(len(labels), dtype=config.floatx())
    for cls, weight in class_weight.items():
        weights[labels == int(cls)] = weight
    return weights


# ------------------------------------------------------------------ arrays
class ArrayData:
    """Array data aligned on axis 0: inputs, targets and sample weights.

    ``y`` and ``sample_weight`` keep the user's structure until
    :meth:`set_outputs` knows the model's output names.

    >>> data = ArrayData(np.arange(10.0).reshape(5, 2), np.arange(5), where="fit")
    >>> train, val = data.split(0.4); train.n, val.n
    (3, 2)
    """

    def __init__(
        self, x: Any, y: Any = None, sample_weight: Any = None, where: str = "fit"
    ) -> None:
        self.where = where
        self.x, self.x_labels, self.pack = flatten_inputs(x, where)
        self.y_raw = _map_leaves(y, "y", where)
        self.sw_raw = _map_leaves(sample_weight, "sample_weight", where)
        leaves, labels = list(self.x), list(self.x_labels)
        for raw, name in ((self.y_raw, "y"), (self.sw_raw, "sample_weight")):
            found = _leaves_with_labels(raw, name)
            leaves += [a for a, _ in found]
            labels += [label for _, label in found]
        self.n = check_lengths(leaves, labels, where)
        for arr, label in zip(leaves, labels):
            check_finite(arr, label, where)
        self.y: list[Any] | None = None
        self.sw: list[Any] | None = None

    @classmethod
    def _from_parts(cls, labelled: tuple, x: list[Any], y: Any, sw: Any) -> ArrayData:
        """Checked parts; ``labelled`` is ``(where, x_labels, pack)``."""
        data = cls.__new__(cls)
        data.where, data.x_labels, data.pack = labelled
        data.x, data.y_raw, data.sw_raw = x, y, sw
        data.n = len(x[0])
        data.y, data.sw = None, None
        return data

    @classmethod
    def of_array(cls, x: np.ndarray, where: str) -> ArrayData:
        """``ArrayData(x, where=where)`` for one array, without the general
        structure walk (the same conversion and checks).

        >>> ArrayData.of_array(np.zeros((3, 2)), "predict").n
        3
        """
        x = checked_array(x, where)
        return cls._from_parts((where, ["x"], _first), [x], None, None)

    def split(self, fraction: float) -> tuple[ArrayData, ArrayData]:
        """Training part and the last ``fraction`` as validation (Keras's rule)."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fit: validation_split must be in (0, 1), got {fraction}")
        at = int(math.floor(self.n * (1.0 - fraction)))
        if at == 0 or at == self.n:
            raise ValueError(
                f"fit: {self.n} samples are too few to split with "
                f"validation_split={fraction}; give more data or another fraction"
            )
        head, tail = slice(0, at), slice(at, None)
        parts = []
        for part in (head, tail):
            parts.append(
                ArrayData._from_parts(
                    (self.where, self.x_labels, self.pack),
                    [a[part] for a in self.x],
                    _slice_leaves(self.y_raw, part),
                    _slice_leaves(self.sw_raw, part),
                )
            )
        return parts[0], parts[1]

    def set_outputs(self, names: list[str], class_weight: dict | None = None) -> None:
        """Arrange targets and sample weights by output (and apply class_weight)."""
        self.y = per_output_targets(self.y_raw, names, "y", self.where)
        self.sw = None
        if class_weight is not None:
            self.sw = [_class_weight_sw(self.y, class_weight, self.sw_raw)]
        elif self.sw_raw is not None:
            self.sw = per_output_targets(
                self.sw_raw, names, "sample_weight", self.where
            )

    def sample(self, rows: int = 1) -> tuple[Any, Any]:
        """The first ``rows`` samples: inputs (as Tensors) and raw targets."""
        return self.first_inputs(rows), _slice_leaves(self.y_raw, slice(0, rows))

    def only_array(self) -> Any:
        """The inputs when they are one array (not a list or a dict), else None.

        >>> ArrayData.of_array(np.zeros((3, 2)), "predict").only_array().shape
        (3, 2)
        """
        return self.x[0] if self.pack is _first else None

    def first_inputs(self, rows: int = 1) -> Any:
        """The first ``rows`` samples as the model's input structure."""
        return self.pack([Tensor(a[:rows]) for a in self.x])

    def num_batches(self, batch_size: int) -> int:
        return math.ceil(self.n / batch_size)

    def batches(self, batch_size: int, shuffle: Any = False) -> Iterator[Batch]:
        """Yield ``(x, y_list, sw_list)``: x as Tensors, the rest as arrays.

        A shuffled epoch gathers each batch by index from a permutation (the
        training set itself is never copied); unshuffled batches are views.
        """
        xs, ys, sws = self.x, self.y, self.sw
        order = None
        if shuffle and shuffle != "batch":
            order = config.rng().permutation(self.n)
        starts = list(range(0, self.n, batch_size))
        if shuffle == "batch":
            starts = [starts[i] for i in config.rng().permutation(len(starts))]
        pack = self.pack
        for start in starts:
            part = slice(start, start + batch_size)
            if order is not None:
                part = order[part]
            x = pack([Tensor(_take(a, part)) for a in xs])
            y = None if ys is None else [_take(a, part) for a in ys]
            sw = None if sws is None else [_take(a, part) for a in sws]
            yield x, y, sw

    def inputs_only(self, batch_size: int) -> Iterator[Any]:
        """Input batches in order (for ``predict``)."""
        pack = self.pack
        for start in range(0, self.n, batch_size):
            part = slice(start, start + batch_size)
            yield pack([Tensor(a[part]) for a in self.x])


def _take(a: Any, part: slice | np.ndarray) -> Any:
    """``a[part]`` (rows by slice or by index); host indices go to the device
    for GPU data."""
    if a is None or isinstance(part, slice) or isinstance(a, np.ndarray):
        return None if a is None else a[part]
    return a[array_module(a).asarray(part)]


def _class_weight_sw(y: list[Any], class_weight: dict, sample_weight: Any) -> Any:
    if sample_weight is not None:
        raise ValueError(
            "fit: give either class_weight or sample_weight, not both (Keras "
            "rejects the pair too); multiply them into sample_weight yourself"
        )
    if len(y) != 1:
        raise ValueError(
            "fit: class_weight is only supported for models with a single output; "
            "pass sample_weight per output instead"
        )
    if not isinstance(class_weight, dict):
        raise ValueError(
            f"fit: class_weight must be a dict {{class index: weight}}, got "
            f"{type(class_weight).__name__}"
        )
    return class_weights_to_sample_weights(y[0], class_weight)


def _map_leaves(value: Any, name: str, where: str) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _map_leaves(v, f"{name}[{k!r}]", where) for k, v in value.items()}
    if (
        isinstance(value, (list, tuple))
        and value
        and all(_is_leaf_array(v) or v is None for v in value)
    ):
        return [_map_leaves(v, f"{name}[{i}]", where) for i, v in enumerate(value)]
    return to_array(value, name, where)


def _leaves_with_labels(value: Any, name: str) -> list[tuple[Any, str]]:
    if value is None:
        return []
    if isinstance(value, dict):
        out = []
        for k in sorted(value):
            out += _leaves_with_labels(value[k], f"{name}[{k!r}]")
        return out
    if isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            out += _leaves_with_labels(v, f"{name}[{i}]")
        return out
    return [(value, name)]


def _slice_leaves(value: Any, part: slice) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _slice_leaves(v, part) for k, v in value.items()}
    if isinstance(value, list):
        return [_slice_leaves(v, part) for v in value]
    return value[part]


# --------------------------------------------------------------- iterables
def unpack_batch(batch: Any) -> tuple[Any, Any, Any]:
    """Keras's ``unpack_x_y_sample_weight``: a tuple is (x[, y[, sw]]).

    >>> unpack_batch((1, 2))
    (1, 2, None)
    """
    if isinstance(batch, tuple):
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch
        raise ValueError(
            f"Data batches must be x, (x,), (x, y) or (x, y, sample_weight) "
            f"tuples, got a tuple of length {len(batch)}"
        )
    return batch, None, None


class IterableData:
    """Batches from a generator or re-iterable, normalised one at a time.

    >>> data = IterableData([(np.ones((2, 1)), np.zeros(2))], "fit")
    >>> data.set_outputs(["out"]); x, y, sw = next(data.batches())
    >>> x.shape, y[0].shape, sw
    ((2, 1), (2,), None)
    """

    def __init__(self, source: Any, where: str) -> None:
        self.where = where
        self.source = source
        self.reiterable = _iterate(source) is not source
        self._iterator: Iterator[Any] | None = None
        self._peeked: list[Any] = []
        self.names: list[str] | None = None

    def _first_batch(self) -> Any:
        if not self._peeked:
            self._iterator = _iterate(self.source)
            try:
                self._peeked.append(next(self._iterator))
            except StopIteration:
                raise ValueError(f"{self.where}: the data yielded no batches") from None
        return self._peeked[0]

    def sample(self) -> tuple[Any, Any]:
        """The first batch (checked): inputs as Tensors and raw targets."""
        x, y, sw = unpack_batch(self._first_batch())
        leaves, labels, pack = flatten_inputs(x, self.where)
        y = _map_leaves(y, "y", self.where)
        found = _leaves_with_labels(y, "y")
        found += _leaves_with_labels(_map_leaves(sw, "sample_weight", self.where), "sw")
        all_leaves = leaves + [a for a, _ in found]
        all_labels = [f"{lab} (first batch)" for lab in labels + [b for _, b in found]]
        check_lengths(all_leaves, all_labels, self.where)
        for arr, label in zip(all_leaves, all_labels):
            check_finite(arr, label, self.where)
        return pack([Tensor(a) for a in leaves]), y

    def first_targets(self) -> list[Any]:
        """Targets of the first batch, one entry per output."""
        return self.normalize(self._first_batch())[1] or [None] * len(self.names)

    def set_outputs(self, names: list[str]) -> None:
        self.names = names

    def _raw(self) -> Iterator[Any]:
        if self._peeked:
            iterator = self._iterator
            yield self._peeked.pop()
        else:
            iterator = _iterate(self.source)
        self._iterator = None
        yield from iterator

    def batches(self) -> Iterator[Batch]:
        """Yield normalised ``(x, y_list, sw_list)`` batches, one pass."""
        for raw in self._raw():
            yield self.normalize(raw)

    def normalize(self, raw: Any) -> Batch:
        x, y, sw = unpack_batch(raw)
        leaves, _, pack = flatten_inputs(x, self.where)
        names = self.names or ["output"]
        ys = None
        if y is not None:
            ys = per_output_targets(
                _map_leaves(y, "y", self.where), names, "y", self.where
            )
        sws = None
        if sw is not None:
            sws = per_output_targets(
                _map_leaves(sw, "sample_weight", self.where),
                names,
                "sample_weight",
                self.where,
            )
        return pack([Tensor(a) for a in leaves]), ys, sws


# ------------------------------------------------------------ epoch iterator
_END = object()


class EpochIterator:
    """Cut a stream of batches into epochs, as Keras's ``EpochIterator``.

    Without ``steps`` every epoch is one full pass (a new one each epoch).
    With ``steps``, each epoch takes that many batches and the next epoch
    continues where it stopped; when the data runs out the epoch ends early
    (with a warning), and a new pass starts next epoch if the data can be
    iterated again. ``exhausted`` is set when a one-shot generator is done.

    >>> it = EpochIterator(lambda: iter(range(4)), steps=2)
    >>> [list(it.epoch()) for _ in range(3)]
    [[0, 1], [2, 3], [0, 1]]
    """

    def __init__(
        self,
        make: Callable[[], Iterator[Any]],
        steps: int | None,
        reiterable: bool = True,
    ) -> None:
        self.make = make
        self.steps = steps
        self.reiterable = reiterable
        self.exhausted = False
        self._current: Iterator[Any] | None = None
        self._passes = 0

    def epoch(self) -> Iterator[Any]:
        if self.steps is None:
            yield from self._full_pass()
            return
        for step in range(self.steps):
            batch = self._next(step)
            if batch is _END:
                return
            yield batch

    def _next(self, step: int) -> Any:
        if self._current is not None:
            batch = next(self._current, _END)
            if batch is not _END:
                return batch
            self._current = None
            if step > 0:  # ran out in the middle of this epoch
                self._ran_out(step)
                return _END
        self._current = self._start()  # a new pass, at the start of an epoch
        batch = next(self._current, _END)
        if batch is _END:
            self._current = None
            self.exhausted = True
        return batch

    def _start(self) -> Iterator[Any]:
        if self._passes and not self.reiterable:
            self.exhausted = True
            return iter(())
        self._passes += 1
        return self.make()

    def _full_pass(self) -> Iterator[Any]:
        count = 0
        for batch in self._start():
            count += 1
            yield batch
        if count == 0:
            self.exhausted = True

    def _ran_out(self, step: int) -> None:
        if not self.reiterable:
            self.exhausted = True
        warnings.warn(
            f"Your input ran out of data after {step} of {self.steps} steps of this "
            f"epoch; make sure it can yield at least steps_per_epoch * epochs "
            f"batches (a generator can be consumed only once)",
            stacklevel=3,
        )


def default_batch_size(batch_size: Any) -> int:
    """``batch_size`` checked, 32 when None (Keras's default).

    >>> default_batch_size(None)
    32
    """
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    return int(batch_size)


# ------------------------------------------------------------ entry points
def make_data(x: Any, y: Any, sample_weight: Any, where: str) -> Any:
    """:class:`ArrayData` or :class:`IterableData` for ``x`` (checked).

    >>> type(make_data(np.zeros((2, 1)), np.zeros(2), None, "fit")).__name__
    'ArrayData'
    """
    if type(x) is np.ndarray and y is None and sample_weight is None:
        return ArrayData.of_array(x, where)  # predict's usual input, ~5 us less
    if x is None:
        raise ValueError(f"{where}: x is required, got None")
    if is_iterable_data(x):
        for value, name in ((y, "y"), (sample_weight, "sample_weight")):
            if value is not None:
                raise ValueError(
                    f"{where}: {name} must be None when x is a generator or "
                    f"iterable of batches (yield (x, y) or (x, y, sample_weight) "
                    f"tuples instead); got {name} of type {type(value).__name__}"
                )
        return IterableData(x, where)
    return ArrayData(x, y, sample_weight, where)


def validation_source(train: Any, validation_data: Any, split: float) -> tuple:
    """``(train, val)``: ``validation_data`` if given, else the last ``split``.

    >>> t, v = validation_source(make_data(np.zeros((4, 1)), np.zeros(4), None,
    ...                          "fit"), None, 0.25)
    >>> t.n, v.n
    (3, 1)
    """
    where = "fit (validation_data)"
    if validation_data is not None:
        if is_iterable_data(validation_data):
            return train, IterableData(validation_data, where)
        if isinstance(validation_data, (tuple, list)) and len(validation_data) in (
            2,
            3,
        ):
            return train, ArrayData(*validation_data, where=where)
        raise ValueError(
            "fit: validation_data must be (x_val, y_val), (x_val, y_val, "
            "sample_weight_val) or a generator of batches, got "
            f"{type(validation_data).__name__}"
            + (
                f" of length {len(validation_data)}"
                if isinstance(validation_data, (tuple, list))
                else ""
            )
        )
    if not split:
        return train, None
    if not isinstance(train, ArrayData):
        raise ValueError(
            "fit: validation_split is only supported for array data (NumPy "
            "arrays or Tensors), not generators; pass validation_data instead"
        )
    return train.split(split)


def epoch_iterator(
    data: Any, batch_size: int, shuffle: Any, steps: int | None
) -> tuple[EpochIterator, int | None]:
    """Batches per epoch and the number of steps per epoch (None if unknown)."""
    if isinstance(data, ArrayData):
        n_steps = data.num_batches(batch_size) if steps is None else steps
        make = lambda: data.batches(batch_size, shuffle)  # noqa: E731
        return EpochIterator(make, steps, True), n_steps
    n_steps = steps if steps is not None else _length(data.source)
    return EpochIterator(data.batches, steps, data.reiterable), n_steps


def input_batches(data: Any, batch_size: int, steps: int | None) -> tuple:
    """Input-only batches for ``predict`` and their number (None if unknown)."""
    if isinstance(data, ArrayData):
        batches: Iterator[Any] = data.inputs_only(batch_size)
        total = data.num_batches(batch_size)
    else:
        batches = (data.normalize(raw)[0] for raw in data._raw())
        total = _length(data.source)
    if steps is not None:
        batches = (b for _, b in zip(range(steps), batches))
        total = steps if total is None else min(steps, total)
    return batches, total


def _length(source: Any) -> int | None:
    try:
        return len(source)
    except TypeError:
        return None
