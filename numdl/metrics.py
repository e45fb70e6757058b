"""Stateful metrics with Keras 3 names, arguments and formulas.

A metric accumulates over batches and reports on demand::

    m = BinaryAccuracy()
    for y, p in batches:
        m.update_state(y, p, sample_weight=None)
    m.result()        # a Python float
    m.reset_state()   # start again (fit does this every epoch)

Inputs may be NumPy arrays, lists or numdl Tensors (their data is read;
metrics never build an autograd graph). State lives in float64 NumPy
attributes named as Keras's variables (``total``, ``count``,
``true_positives``, ...). ``result()`` returns a Python float, or an array
where Keras returns a vector (``F1Score(average=None)``, ``Precision`` with
several thresholds, ``R2Score(class_aggregation=None)``).

Means are weighted means over samples, as in Keras:
``sum(value_i * w_i) / sum(w_i)``, with per-sample values from the metric
function (usually a mean over the last axis). One deliberate difference:
Keras averages rank-1 ``y_true``/``y_pred`` of elementwise metrics
(``Accuracy``, ``BinaryAccuracy``, the regression and binary losses) into one
value per batch, so batches of different sizes count equally; numdl treats
each entry of a rank-1 input as a sample of its own, which is what
``(n, 1)`` inputs give in both.

Names: ``get("binary_accuracy")``, ``get("auc")``, ``get("mse")``,
``get("F1Score")`` return new instances; ``get(fn)`` wraps a plain function
``fn(y_true, y_pred) -> per-sample values`` in :class:`MeanMetricWrapper`.
"""

from __future__ import annotations

import inspect
import numbers
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from numdl import activations, config, losses
from numdl import registry as _registry
from numdl.autograd.grad_mode import no_grad
from numdl.autograd.tensor import Tensor
from numdl.backend import to_numpy

_KIND = "metric"
NEG_INF = -1e10  # Keras's "threshold" that makes every top-k prediction positive


def _snake(name: str) -> str:
    """Keras's ``to_snake_case``: ``"TopKCategoricalAccuracy"`` -> ``"top_k_..."``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _register(*aliases: str) -> Callable[[Any], Any]:
    """Register a class under its own name, its snake_case name and ``aliases``."""

    def decorate(cls: Any) -> Any:
        names = dict.fromkeys((cls.__name__, _snake(cls.__name__), *aliases))
        return _registry.register(_KIND, *names)(cls)

    return decorate


# --------------------------------------------------------------- helpers
def _np(x: Any) -> np.ndarray:
    """Host NumPy array from an array, list, scalar or Tensor."""
    return to_numpy(x.data if isinstance(x, Tensor) else x)


def _float(x: Any) -> np.ndarray:
    x = _np(x)
    return x if x.dtype.kind == "f" else x.astype(config.floatx())


def _squeeze_or_expand(
    a: np.ndarray, b: np.ndarray, expand_rank_1: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Keras's ``squeeze_or_expand_to_same_rank`` for a rank off by one."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        if b.ndim == 1 and expand_rank_1:
            return a, b[:, None]
        return a[..., 0], b
    if b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        if a.ndim == 1 and expand_rank_1:
            return a[:, None], b
        return a, b[..., 0]
    return a, b


def _divide_no_nan(a: Any, b: Any) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return np.divide(a, b, out=np.zeros(a.shape), where=b != 0)


def _columns(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[Any, Any]:
    """Rank-1 inputs become ``(n, 1)``: one value per entry, not per batch."""
    if y_pred.ndim <= 1 and y_true.ndim <= 1:
        return y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
    return y_true, y_pred


def _result(values: np.ndarray) -> float | np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return float(values) if values.ndim == 0 else values


# ------------------------------------------------------------------ base
class Metric:
    """Base class: ``update_state(...)``, ``result()``, ``reset_state()``.

    Subclasses create their state in ``__init__``, add to it in
    ``update_state``, compute from it in ``result`` and zero it in
    ``reset_state``. Calling a metric updates it and returns the result.

    >>> class Count(Metric):
    ...     def __init__(self, name="count"):
    ...         super().__init__(name=name)
    ...         self.reset_state()
    ...     def reset_state(self):
    ...         self.n = 0
    ...     def update_state(self, values):
    ...         self.n += len(values)
    ...     def result(self):
    ...         return float(self.n)
    >>> m = Count(); m.update_state([1, 2]); m([3])
    3.0
    """

    _direction: str | None = None  # "up" or "down": which way is better

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or _snake(type(self).__name__)
        self._dtype = np.dtype(dtype or config.floatx()).name

    @property
    def dtype(self) -> str:
        return self._dtype

    def reset_state(self) -> None:
        """Forget everything accumulated so far."""

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


# ------------------------------------------------------- reduction metrics
def _samplewise(
    values: Any, sample_weight: Any, reduce: Callable[..., Any]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Keras's ``reduce_to_samplewise_values``: per-sample values and weights."""
    values = np.asarray(_np(values), dtype=np.float64)
    weights = None
    if sample_weight is not None:
        weights = np.asarray(_np(sample_weight), dtype=np.float64)
        values, weights = _squeeze_or_expand(values, weights)
        if values.ndim > weights.ndim:
            values = reduce(values, axis=tuple(range(weights.ndim, values.ndim)))
        try:
            values, weights = np.broadcast_arrays(values, weights)
        except ValueError as err:
            raise ValueError(
                f"sample_weight of shape {weights.shape} does not fit values of "
                f"shape {values.shape}"
            ) from err
        values = values * weights
        if weights.ndim > 1:
            weights = reduce(weights, axis=tuple(range(1, weights.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, weights


@_register()
class Sum(Metric):
    """The (weighted) sum of the values.

    >>> m = Sum(); m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> m.result()
    4.0
    """

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values, _ = _samplewise(values, sample_weight, np.sum)
        self.total += float(values.sum())

    def result(self) -> float:
        return float(self.total)


@_register()
class Mean(Metric):
    """The (weighted) mean of the values: ``sum(v * w) / sum(w)``.

    Values of shape ``(batch, ...)`` are first averaged per sample; the
    result is 0 before any update (Keras's ``divide_no_nan``).

    >>> m = Mean(); m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> m.result()
    2.0
    """

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values, weights = _samplewise(values, sample_weight, np.mean)
        self.total += float(values.sum())
        if weights is not None:
            self.count += float(weights.sum())
        else:
            self.count += values.shape[0] if values.ndim else 1

    def result(self) -> float:
        return float(_divide_no_nan(self.total, self.count))


@_register()
class MeanMetricWrapper(Mean):
    """The weighted mean of ``fn(y_true, y_pred, **kwargs)`` over samples.

    ``fn`` returns one value per sample (any numdl loss function does).
    ``name`` defaults to the function's name.

    >>> m = MeanMetricWrapper(losses.mean_absolute_error)
    >>> m.update_state([[0.0, 1.0]], [[1.0, 1.0]]); m.name, m.result()
    ('mean_absolute_error', 0.5)
    """

    _per_entry = False  # rank-1 inputs hold one sample per entry

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        if not callable(fn):
            raise ValueError(f"MeanMetricWrapper: fn must be callable, got {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _np(y_true), _np(y_pred)
        if self._per_entry:
            y_true, y_pred = _columns(y_true, y_pred)
        with no_grad():
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["fn"] = serialize(self._fn)
        return {**config, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        config = dict(config)
        if "fn" in config:
            config["fn"] = _function(config["fn"])
        return cls(**config)


# ------------------------------------------------------ metric functions
def accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Mean over the last axis of ``y_true == y_pred``.

    >>> accuracy([[1, 2], [3, 4]], [[1, 2], [3, 0]]).tolist()
    [1.0, 0.5]
    """
    y_pred = _np(y_pred)
    y_true = _np(y_true).astype(y_pred.dtype)
    y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
    return np.mean(y_true == y_pred, axis=-1).astype(config.floatx())


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """Mean over the last axis of ``y_true == (y_pred > threshold)``.

    >>> binary_accuracy([[1], [0]], [[0.9], [0.7]]).tolist()
    [1.0, 0.0]
    """
    y_true, y_pred = _squeeze_or_expand(_np(y_true), _float(y_pred))
    predicted = (y_pred > threshold).astype(y_true.dtype)
    return np.mean(y_true == predicted, axis=-1).astype(config.floatx())


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """``argmax(y_true) == argmax(y_pred)`` over the last axis (one-hot labels).

    >>> categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8],
    ...                      [0.05, 0.95, 0]]).tolist()
    [0.0, 1.0]
    """
    labels = np.argmax(_np(y_true), axis=-1)
    return (labels == np.argmax(_np(y_pred), axis=-1)).astype(config.floatx())


def _sparse_labels(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        return y_true[..., 0]
    return y_true


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """``y_true == argmax(y_pred)`` for integer labels (shape ``(n,)`` or ``(n, 1)``).

    >>> sparse_categorical_accuracy([[2], [1]], [[0.1, 0.6, 0.3],
    ...                             [0.05, 0.95, 0]]).tolist()
    [0.0, 1.0]
    """
    y_true, y_pred = _np(y_true), _np(y_pred)
    labels = _sparse_labels(y_true, y_pred)
    return (labels == np.argmax(y_pred, axis=-1)).astype(config.floatx())


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int, who: str) -> np.ndarray:
    """Keras's ``in_top_k``: the label's score is >= the k-th largest (ties in)."""
    classes = y_pred.shape[-1]
    flat_pred = y_pred.reshape(-1, classes)
    flat_labels = labels.reshape(-1)
    if flat_labels.size and (flat_labels.min() < 0 or flat_labels.max() >= classes):
        raise ValueError(
            f"{who}: labels must be in [0, {classes}), got values from "
            f"{flat_labels.min()} to {flat_labels.max()}"
        )
    target = np.take_along_axis(flat_pred, flat_labels[:, None], axis=-1)[:, 0]
    if k >= classes:
        return np.ones(labels.shape, dtype=bool)
    kth = np.partition(flat_pred, classes - k, axis=-1)[:, classes - k]
    return (target >= kth).reshape(labels.shape)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """Whether the one-hot label is among the ``k`` largest predictions.

    >>> top_k_categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8],
    ...                            [0.05, 0.95, 0]], k=1).tolist()
    [0.0, 1.0]
    """
    labels = np.argmax(_np(y_true), axis=-1)
    hit = _in_top_k(labels, _np(y_pred), k, "top_k_categorical_accuracy")
    return hit.astype(config.floatx())


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, k: int = 5
) -> np.ndarray:
    """Whether the integer label is among the ``k`` largest predictions.

    >>> sparse_top_k_categorical_accuracy([2, 1], [[0.1, 0.9, 0.8],
    ...                                   [0.05, 0.95, 0]], k=2).tolist()
    [1.0, 1.0]
    """
    y_true, y_pred = _np(y_true), _np(y_pred)
    labels = _sparse_labels(y_true, y_pred)
    if labels.dtype.kind == "f":
        labels = labels.astype(np.int64)
    who = "sparse_top_k_categorical_accuracy"
    return _in_top_k(labels, y_pred, k, who).astype(config.floatx())


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> np.ndarray:
    """Cosine of the angle between ``y_true`` and ``y_pred`` along ``axis``.

    Unlike the loss of the same name this is not negated.

    >>> cosine_similarity([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]).round(6)
    array([0., 1.])
    """
    y_pred = _float(y_pred)
    y_true = _np(y_true).astype(y_pred.dtype)
    y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
    eps2 = config.epsilon() ** 2

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.sqrt(np.maximum(np.sum(x * x, axis=axis, keepdims=True), eps2))

    return np.sum(unit(y_true) * unit(y_pred), axis=axis)


_FUNCTIONS = {
    f.__name__: f
    for f in (
        accuracy,
        binary_accuracy,
        categorical_accuracy,
        sparse_categorical_accuracy,
        top_k_categorical_accuracy,
        sparse_top_k_categorical_accuracy,
        cosine_similarity,
    )
}


def _function(name: Any) -> Callable[..., Any]:
    """A metric or loss function from its serialized name."""
    if callable(name):
        return name
    if name in _FUNCTIONS:
        return _FUNCTIONS[name]
    fn = losses.get(name)
    if inspect.isclass(fn) or isinstance(fn, losses.Loss) or not callable(fn):
        raise ValueError(f"MeanMetricWrapper: {name!r} is not a function name")
    return fn


# ------------------------------------------------------ accuracy metrics
class _Wrapper(MeanMetricWrapper):
    """A MeanMetricWrapper whose config lists only its own arguments."""

    _args: tuple[str, ...] = ()

    def get_config(self) -> dict[str, Any]:
        config = Metric.get_config(self)
        config.update({arg: getattr(self, arg) for arg in self._args})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)


@_register()
class Accuracy(_Wrapper):
    """How often ``y_pred`` equals ``y_true`` exactly.

    >>> m = Accuracy(); m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    >>> m.result()
    0.75
    """

    _direction = "up"
    _per_entry = True

    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)


@_register()
class BinaryAccuracy(_Wrapper):
    """How often ``y_pred > threshold`` matches binary labels.

    >>> m = BinaryAccuracy()
    >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> m.result()
    0.75
    """

    _direction = "up"
    _per_entry = True
    _args = ("threshold",)

    def __init__(
        self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5
    ) -> None:
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError(
                f"BinaryAccuracy: threshold must be in (0, 1), got {threshold!r}"
            )
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


@_register()
class CategoricalAccuracy(_Wrapper):
    """How often the argmax of ``y_pred`` is the one-hot label.

    >>> m = CategoricalAccuracy()
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
    ...                sample_weight=[0.7, 0.3])
    >>> round(m.result(), 6)
    0.3
    """

    _direction = "up"

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


@_register()
class SparseCategoricalAccuracy(_Wrapper):
    """How often the argmax of ``y_pred`` is the integer label.

    >>> m = SparseCategoricalAccuracy()
    >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]); m.result()
    0.5
    """

    _direction = "up"

    def __init__(
        self, name: str = "sparse_categorical_accuracy", dtype: Any = None
    ) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


def _check_k(k: Any, who: str) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{who}: k must be an int >= 1, got {k!r}")
    return int(k)


@_register()
class TopKCategoricalAccuracy(_Wrapper):
    """How often the one-hot label is among the ``k`` largest predictions.

    >>> m = TopKCategoricalAccuracy(k=1)
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    _direction = "up"
    _args = ("k",)

    def __init__(
        self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None
    ) -> None:
        k = _check_k(k, "TopKCategoricalAccuracy")
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


@_register()
class SparseTopKCategoricalAccuracy(_Wrapper):
    """How often the integer label is among the ``k`` largest predictions.

    >>> m = SparseTopKCategoricalAccuracy(k=1)
    >>> m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]); m.result()
    0.5
    """

    _direction = "up"
    _args = ("k",)

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype: Any = None,
    ) -> None:
        k = _check_k(k, "SparseTopKCategoricalAccuracy")
        fn = sparse_top_k_categorical_accuracy
        super().__init__(fn, name=name, dtype=dtype, k=k)
        self.k = k


# ---------------------------------------------- regression and loss metrics
class _LossMetric(_Wrapper):
    """The mean of one numdl loss function; ``name`` defaults to Keras's."""

    _direction = "down"
    _per_entry = True
    _loss: Callable[..., Any]
    _default_name = ""

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(self._loss, name=name or self._default_name, dtype=dtype)


@_register("mse")
class MeanSquaredError(_LossMetric):
    """Mean of ``(y_true - y_pred) ** 2``.

    >>> m = MeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 6)
    0.31
    """

    _loss = staticmethod(losses.mean_squared_error)
    _default_name = "mean_squared_error"


@_register("mae")
class MeanAbsoluteError(_LossMetric):
    """Mean of ``|y_true - y_pred|``.

    >>> m = MeanAbsoluteError()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 6)
    0.55
    """

    _loss = staticmethod(losses.mean_absolute_error)
    _default_name = "mean_absolute_error"


@_register("mape")
class MeanAbsolutePercentageError(_LossMetric):
    """Mean of ``100 * |y_true - y_pred| / max(|y_true|, eps)``.

    >>> m = MeanAbsolutePercentageError()
    >>> m.update_state([[1.0, 2.0]], [[1.5, 1.0]]); m.result()
    50.0
    """

    _loss = staticmethod(losses.mean_absolute_percentage_error)
    _default_name = "mean_absolute_percentage_error"


@_register("msle")
class MeanSquaredLogarithmicError(_LossMetric):
    """Mean of ``(log(1 + y_true) - log(1 + y_pred)) ** 2``.

    >>> m = MeanSquaredLogarithmicError()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 6)
    0.170559
    """

    _loss = staticmethod(losses.mean_squared_logarithmic_error)
    _default_name = "mean_squared_logarithmic_error"


@_register()
class LogCoshError(_LossMetric):
    """Mean of ``log(cosh(y_pred - y_true))``; named ``logcosh`` as in Keras.

    >>> m = LogCoshError()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 6)
    0.14709
    """

    _loss = staticmethod(losses.log_cosh)
    _default_name = "logcosh"


@_register()
class Poisson(_LossMetric):
    """Mean of ``y_pred - y_true * log(y_pred + eps)``.

    >>> m = Poisson()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 6)
    0.729073
    """

    _loss = staticmethod(losses.poisson)
    _default_name = "poisson"


@_register()
class KLDivergence(_LossMetric):
    """Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))``.

    >>> m = KLDivergence()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 6)
    0.458143
    """

    _per_entry = False
    _loss = staticmethod(losses.kl_divergence)
    _default_name = "kl_divergence"


@_register()
class Hinge(_LossMetric):
    """Mean of ``max(1 - y_true * y_pred, 0)``, 0/1 labels read as -1/1.

    >>> m = Hinge()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 6)
    1.3
    """

    _loss = staticmethod(losses.hinge)
    _default_name = "hinge"


@_register()
class SquaredHinge(_LossMetric):
    """Mean of ``max(1 - y_true * y_pred, 0) ** 2``, 0/1 labels as -1/1.

    >>> m = SquaredHinge()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 6)
    1.86
    """

    _loss = staticmethod(losses.squared_hinge)
    _default_name = "squared_hinge"


@_register()
class CategoricalHinge(_LossMetric):
    """``max(neg - pos + 1, 0)``, ``pos = sum(y_true * y_pred)``,
    ``neg = max((1 - y_true) * y_pred)``.

    >>> m = CategoricalHinge()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 6)
    1.4
    """

    _per_entry = False
    _loss = staticmethod(losses.categorical_hinge)
    _default_name = "categorical_hinge"


@_register()
class CosineSimilarity(_Wrapper):
    """Mean cosine similarity between ``y_true`` and ``y_pred`` along ``axis``.

    >>> m = CosineSimilarity(axis=1)
    >>> m.update_state([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
    >>> round(m.result(), 6)
    0.5
    """

    _direction = "up"
    _args = ("axis",)

    def __init__(
        self, name: str = "cosine_similarity", dtype: Any = None, axis: int = -1
    ) -> None:
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)
        self.axis = axis


@_register("bce")
class BinaryCrossentropy(_Wrapper):
    """Mean binary cross-entropy (``numdl.losses.binary_crossentropy``).

    >>> m = BinaryCrossentropy()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(m.result(), 5)
    0.81492
    """

    _direction = "down"
    _per_entry = True
    _args = ("from_logits", "label_smoothing")

    def __init__(
        self,
        name: str = "binary_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
    ) -> None:
        super().__init__(
            losses.binary_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
        self.from_logits, self.label_smoothing = from_logits, label_smoothing


@_register()
class CategoricalCrossentropy(_Wrapper):
    """Mean categorical cross-entropy over one-hot labels.

    >>> m = CategoricalCrossentropy()
    >>> m.update_state([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    >>> round(m.result(), 5)
    1.17694
    """

    _direction = "down"
    _args = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
        axis: int = -1,
    ) -> None:
        super().__init__(
            losses.categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits, self.label_smoothing = from_logits, label_smoothing
        self.axis = axis


@_register()
class SparseCategoricalCrossentropy(_Wrapper):
    """Mean cross-entropy over integer labels.

    >>> m = SparseCategoricalCrossentropy()
    >>> m.update_state([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    >>> round(m.result(), 5)
    1.17694
    """

    _direction = "down"
    _args = ("from_logits", "axis")

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(
            losses.sparse_categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            axis=axis,
        )
        self.from_logits, self.axis = from_logits, axis


@_register()
class RootMeanSquaredError(Mean):
    """``sqrt`` of the (weighted) mean of ``(y_pred - y_true) ** 2``.

    >>> m = RootMeanSquaredError(); m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> m.result()
    0.5
    """

    _direction = "down"

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true = np.asarray(_np(y_true), dtype=np.float64)
        y_pred = np.asarray(_np(y_pred), dtype=np.float64)
        y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
        super().update_state(np.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


# ------------------------------------------------ confusion-matrix metrics
def _parse_thresholds(thresholds: Any, default: float, who: str) -> list[float]:
    """Keras's ``parse_init_thresholds``: a list of values in [0, 1]."""
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
    bad = [t for t in values if t is None or not 0 <= t <= 1]
    if bad or not values:
        raise ValueError(f"{who}: thresholds must be in [0, 1], got {thresholds!r}")
    return [float(t) for t in values]


def _filter_top_k(x: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` largest entries of the last axis; the rest become NEG_INF."""
    top = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(x.shape)
    np.put_along_axis(mask, top, 1.0, axis=-1)
    return x * mask + NEG_INF * (1 - mask)


def _counts_above(
    y_pred: np.ndarray, weights: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """``sum(weights * (y_pred > t))`` for each threshold t, per column.

    ``y_pred`` and ``weights`` are ``(n, columns)``; the result is
    ``(len(thresholds), columns)``. Sorting the thresholds once makes this
    O(n log T) instead of O(n T); NaN predictions count as below every
    threshold, as a comparison would have it.
    """
    order = np.argsort(thresholds, kind="stable")
    t = len(thresholds)
    above = np.searchsorted(thresholds[order], y_pred, side="left")  # t < pred
    above = np.where(np.isnan(y_pred), 0, above)
    columns = y_pred.shape[1]
    bins = above + (t + 1) * np.arange(columns)  # one block of t + 1 bins a column
    sums = np.bincount(bins.ravel(), weights.ravel(), minlength=(t + 1) * columns)
    sums = sums.reshape(columns, t + 1)
    sorted_counts = np.cumsum(sums[:, ::-1], axis=1)[:, ::-1][:, 1:]  # count > i
    out = np.empty((t, columns))
    out[order] = sorted_counts.T
    return out


def _confusion(
    y_true: Any,
    y_pred: Any,
    thresholds: Any,
    sample_weight: Any = None,
    top_k: int | None = None,
    class_id: int | None = None,
    multi_label: bool = False,
    label_weights: Any = None,
    who: str = "metric",
) -> dict[str, np.ndarray]:
    """Weighted tp, fp, tn, fn at each threshold, as Keras's
    ``update_confusion_matrix_variables``: a prediction is positive when it
    is strictly above the threshold, a label when it is non-zero.

    Shapes are ``(T,)``, or ``(T, labels)`` with ``multi_label``.
    """
    y_pred = np.asarray(_np(y_pred), dtype=np.float64)
    y_true = np.asarray(_np(y_true), dtype=np.float64)
    y_pred, y_true = _squeeze_or_expand(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{who}: y_true and y_pred must have the same shape, got "
            f"{y_true.shape} and {y_pred.shape}"
        )
    weights = np.ones(y_pred.shape)
    if sample_weight is not None:
        sw = np.expand_dims(np.asarray(_np(sample_weight), dtype=np.float64), -1)
        _, sw = _squeeze_or_expand(y_true, sw, expand_rank_1=False)
        weights = _broadcast(sw, y_pred.shape, who)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim < 2:
            raise ValueError(
                f"{who}: with class_id, y_pred must be (num_samples, num_classes), "
                f"got shape {y_pred.shape}"
            )
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
        weights = weights[..., class_id, None]
    if label_weights is not None and not multi_label:
        weights = weights * _broadcast(np.asarray(label_weights), y_pred.shape, who)
    return _tally(y_true != 0, y_pred, weights, thresholds, multi_label)


def _broadcast(w: np.ndarray, shape: tuple[int, ...], who: str) -> np.ndarray:
    try:
        return np.broadcast_to(w, shape)
    except ValueError as err:
        raise ValueError(
            f"{who}: sample_weight of shape {w.shape} does not fit predictions of "
            f"shape {shape}"
        ) from err


def _tally(
    positive: np.ndarray,
    y_pred: np.ndarray,
    weights: np.ndarray,
    thresholds: Any,
    multi_label: bool,
) -> dict[str, np.ndarray]:
    if multi_label:
        columns = y_pred.shape[-1]
        positive, y_pred = positive.reshape(-1, columns), y_pred.reshape(-1, columns)
        weights = weights.reshape(-1, columns)
    else:
        positive, y_pred = positive.reshape(-1, 1), y_pred.reshape(-1, 1)
        weights = weights.reshape(-1, 1)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    pos_w, neg_w = weights * positive, weights * ~positive
    tp = _counts_above(y_pred, pos_w, thresholds)
    fp = _counts_above(y_pred, neg_w, thresholds)
    tn, fn = neg_w.sum(axis=0) - fp, pos_w.sum(axis=0) - tp
    counts = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    if not multi_label:
        counts = {key: value[:, 0] for key, value in counts.items()}
    return counts


class _ThresholdMetric(Metric):
    """Shared state of the metrics that count at thresholds."""

    _counts: tuple[str, ...] = ()  # which of tp, fp, tn, fn to keep
    _ATTRS = {
        "tp": "true_positives",
        "fp": "false_positives",
        "tn": "true_negatives",
        "fn": "false_negatives",
    }

    def reset_state(self) -> None:
        for key in self._counts:
            setattr(self, self._ATTRS[key], np.zeros(len(self.thresholds)))

    def _accumulate(self, counts: dict[str, np.ndarray]) -> None:
        for key in self._counts:
            attr = self._ATTRS[key]
            setattr(self, attr, getattr(self, attr) + counts[key])


class _ConfusionCount(_ThresholdMetric):
    """The weighted count of one confusion-matrix cell, at each threshold."""

    _cell = "tp"

    def __init__(
        self, thresholds: Any = None, name: str | None = None, dtype: Any = None
    ) -> None:
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(thresholds, 0.5, type(self).__name__)
        self._counts = (self._cell,)
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        who = type(self).__name__
        self._accumulate(
            _confusion(y_true, y_pred, self.thresholds, sample_weight, who=who)
        )

    def result(self) -> float | np.ndarray:
        values = getattr(self, self._ATTRS[self._cell])
        return _result(values[0] if len(self.thresholds) == 1 else values)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds}


@_register()
class TruePositives(_ConfusionCount):
    """The weighted number of true positives (``y_pred > threshold``, label 1).

    >>> m = TruePositives(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); m.result()
    2.0
    """

    _cell = "tp"


@_register()
class FalsePositives(_ConfusionCount):
    """The weighted number of false positives.

    >>> m = FalsePositives(); m.update_state([0, 1, 0, 0], [0, 0, 1, 1]); m.result()
    2.0
    """

    _cell = "fp"


@_register()
class TrueNegatives(_ConfusionCount):
    """The weighted number of true negatives.

    >>> m = TrueNegatives(); m.update_state([0, 1, 0, 0], [1, 1, 0, 0]); m.result()
    2.0
    """

    _cell = "tn"


@_register()
class FalseNegatives(_ConfusionCount):
    """The weighted number of false negatives.

    >>> m = FalseNegatives(); m.update_state([0, 1, 1, 1], [0, 1, 0, 0]); m.result()
    2.0
    """

    _cell = "fn"


class _PrecisionRecall(_ThresholdMetric):
    _direction = "up"

    def __init__(
        self,
        thresholds: Any = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        who = type(self).__name__
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else _check_k(top_k, who)
        self.class_id = class_id
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = _parse_thresholds(thresholds, default, who)
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        counts = _confusion(
            y_true,
            y_pred,
            self.thresholds,
            sample_weight,
            top_k=self.top_k,
            class_id=self.class_id,
            who=type(self).__name__,
        )
        self._accumulate(counts)

    def _ratio(self, num: np.ndarray, other: np.ndarray) -> float | np.ndarray:
        values = _divide_no_nan(num, num + other)
        return _result(values[0] if len(self.thresholds) == 1 else values)

    def get_config(self) -> dict[str, Any]:
        config = {
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }
        return {**super().get_config(), **config}


@_register()
class Precision(_PrecisionRecall):
    """``tp / (tp + fp)`` with predictions positive above ``thresholds``.

    ``top_k`` counts only the ``k`` largest predictions of each sample as
    positive; ``class_id`` restricts the counts to one class (last axis).
    Several thresholds give an array of precisions.

    >>> m = Precision(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(m.result(), 6)
    0.666667
    """

    _counts = ("tp", "fp")

    def result(self) -> float | np.ndarray:
        return self._ratio(self.true_positives, self.false_positives)


@_register()
class Recall(_PrecisionRecall):
    """``tp / (tp + fn)`` with predictions positive above ``thresholds``.

    >>> m = Recall(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(m.result(), 6)
    0.666667
    """

    _counts = ("tp", "fn")

    def result(self) -> float | np.ndarray:
        return self._ratio(self.true_positives, self.false_negatives)


# -------------------------------------------------------------------- AUC
_CURVES = {"roc": "ROC", "pr": "PR"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


@_register()
class AUC(_ThresholdMetric):
    """Area under the ROC or precision-recall curve, as Keras's thresholded AUC.

    Predictions (probabilities, or logits with ``from_logits=True``) are
    counted at ``num_thresholds`` thresholds: ``-eps``, the
    ``num_thresholds - 2`` evenly spaced points inside (0, 1), and
    ``1 + eps``. The ROC area is a Riemann sum of recall over false positive
    rate (``summation_method="interpolation"``: trapezoids; ``"minoring"`` /
    ``"majoring"``: lower / upper rectangles). The PR area with
    ``"interpolation"`` interpolates true and false positives linearly
    between thresholds (Davis & Goadrich, 2006) and integrates precision in
    closed form. ``multi_label=True`` computes one AUC per label (last axis)
    and averages them, weighted by ``label_weights`` if given.

    >>> m = AUC(num_thresholds=3); m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    >>> m.result()
    0.75
    """

    _direction = "up"
    _counts = ("tp", "fp", "tn", "fn")

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        thresholds: Any = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ) -> None:
        self._init_from_thresholds = thresholds is not None
        inner = self._inner_thresholds(num_thresholds, thresholds)
        self.num_thresholds = len(inner) + 2
        eps = config.epsilon()
        self._thresholds = np.array([0.0 - eps, *inner, 1.0 + eps])
        self.curve = self._choose(curve, _CURVES, "curve")
        self.summation_method = self._choose(
            summation_method, {s: s for s in _SUMMATIONS}, "summation_method"
        )
        if num_labels and not multi_label:
            raise ValueError("AUC: num_labels is needed only when multi_label=True")
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None
        if label_weights is not None:
            self.label_weights = np.asarray(label_weights, dtype=np.float64)
        self._from_logits = bool(from_logits)
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    @staticmethod
    def _inner_thresholds(num_thresholds: Any, thresholds: Any) -> list[float]:
        if thresholds is not None:
            return sorted(float(t) for t in thresholds)
        if (
            isinstance(num_thresholds, bool)
            or not isinstance(num_thresholds, numbers.Integral)
            or num_thresholds <= 1
        ):
            raise ValueError(
                f"AUC: num_thresholds must be an int > 1, got {num_thresholds!r}"
            )
        n = int(num_thresholds)
        return [(i + 1) / (n - 1) for i in range(n - 2)]

    @staticmethod
    def _choose(value: Any, table: dict[str, str], what: str) -> str:
        key = str(value).lower()
        if key not in table:
            raise ValueError(
                f"AUC: {what} must be one of {sorted(set(table.values()))}, "
                f"got {value!r}"
            )
        return table[key]

    @property
    def thresholds(self) -> list[float]:
        """The thresholds, with the two end points below 0 and above 1."""
        return self._thresholds.tolist()

    def reset_state(self) -> None:
        labels = self.num_labels if self.multi_label else None
        self._allocate(labels)

    def _allocate(self, labels: int | None) -> None:
        shape = (
            (self.num_thresholds,) if labels is None else (self.num_thresholds, labels)
        )
        self._num_labels = labels
        for key in self._counts:
            setattr(self, self._ATTRS[key], np.zeros(shape))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = np.asarray(_np(y_pred), dtype=np.float64)
        if self.multi_label:
            self._check_labels(y_pred.shape)
        if self._from_logits:
            y_pred = activations.sigmoid(y_pred)
        counts = _confusion(
            y_true,
            y_pred,
            self._thresholds,
            sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights,
            who="AUC",
        )
        self._accumulate(counts)

    def _check_labels(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 2:
            raise ValueError(
                f"AUC: y_pred must have rank 2 when multi_label=True, got shape {shape}"
            )
        if self._num_labels is None:
            self._allocate(shape[1])
        elif shape[1] != self._num_labels:
            raise ValueError(
                f"AUC: expected {self._num_labels} labels (the last axis), got "
                f"shape {shape}"
            )

    def result(self) -> float:
        if self._num_labels is None and self.multi_label:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._average(self._pr_interpolated())
        recall = _divide_no_nan(
            self.true_positives, self.true_positives + self.false_negatives
        )
        if self.curve == "ROC":
            x = _divide_no_nan(
                self.false_positives, self.false_positives + self.true_negatives
            )
            y = recall
        else:
            x = recall
            y = _divide_no_nan(
                self.true_positives, self.true_positives + self.false_positives
            )
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)

    def _pr_interpolated(self) -> np.ndarray:
        """Keras's ``interpolate_pr_auc``: per-interval areas of the PR curve."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        p = tp + fp
        dtp = tp[:-1] - tp[1:]
        slope = _divide_no_nan(dtp, np.maximum(p[:-1] - p[1:], 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        return _divide_no_nan(
            slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0)
        )

    def _average(self, terms: np.ndarray) -> float:
        by_label = terms.sum(axis=0)
        if not self.multi_label:
            return float(by_label)
        if self.label_weights is None:
            return float(by_label.mean())
        weighted = np.sum(by_label * self.label_weights)
        return float(_divide_no_nan(weighted, np.sum(self.label_weights)))

    def get_config(self) -> dict[str, Any]:
        weights = self.label_weights
        config = {
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if weights is None else weights.tolist(),
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return {**super().get_config(), **config}


# ---------------------------------------------------------------- F-scores
_AVERAGES = (None, "micro", "macro", "weighted")


@_register("fbeta_score")
class FBetaScore(Metric):
    """F-beta score ``(1 + b2) * p * r / (b2 * p + r)``, ``b2 = beta ** 2``.

    ``y_true`` and ``y_pred`` are ``(batch, classes)`` (a rank-1 input is one
    class). Predictions above ``threshold`` are positive; with
    ``threshold=None`` the largest prediction of each row is. ``average``:
    None (one score per class, an array), ``"micro"`` (global counts),
    ``"macro"`` (mean of the class scores) or ``"weighted"`` (mean weighted
    by each class's support). Keras's ``epsilon`` keeps divisions finite.

    >>> m = FBetaScore(beta=2.0, threshold=0.5)
    >>> m.update_state([[1, 1, 1], [1, 0, 0], [1, 1, 0]],
    ...                [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    >>> m.result().round(4).tolist()
    [0.3846, 0.9091, 0.8333]
    """

    _direction = "up"

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
        dtype: Any = None,
    ) -> None:
        who = type(self).__name__
        if average not in _AVERAGES:
            raise ValueError(
                f"{who}: average must be one of {_AVERAGES}, got {average!r}"
            )
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or beta <= 0:
            raise ValueError(f"{who}: beta must be a float > 0, got {beta!r}")
        if threshold is not None and not 0 < threshold <= 1:
            raise ValueError(f"{who}: threshold must be in (0, 1], got {threshold!r}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self._axis = None if average == "micro" else 0
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self._classes: int | None = None
        self.true_positives = self.false_positives = 0.0
        self.false_negatives = self.intermediate_weights = 0.0

    def _inputs(self, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        y_true = np.asarray(_np(y_true), dtype=np.float64)
        y_pred = np.asarray(_np(y_pred), dtype=np.float64)
        y_true, y_pred = _columns(y_true, y_pred)
        who = type(self).__name__
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(
                f"{who}: expected y_true and y_pred of the same shape (batch, "
                f"classes), got {y_true.shape} and {y_pred.shape}"
            )
        if self._classes is None:
            self._classes = y_pred.shape[1]
        elif y_pred.shape[1] != self._classes:
            raise ValueError(
                f"{who}: expected {self._classes} classes (the last axis), got "
                f"shape {y_pred.shape}"
            )
        return y_true, y_pred

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = self._inputs(y_true, y_pred)
        if self.threshold is None:
            top = np.max(y_pred, axis=-1, keepdims=True)
            predicted = (y_pred >= top) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(np.float64)
        w = 1.0
        if sample_weight is not None:
            w = np.asarray(_np(sample_weight), dtype=np.float64).reshape(-1, 1)

        def total(values: np.ndarray) -> Any:
            return np.sum(values * w, axis=self._axis)

        self.true_positives = self.true_positives + total(predicted * y_true)
        self.false_positives = self.false_positives + total(predicted * (1 - y_true))
        self.false_negatives = self.false_negatives + total((1 - predicted) * y_true)
        self.intermediate_weights = self.intermediate_weights + total(y_true)

    def result(self) -> float | np.ndarray:
        eps, b2 = config.epsilon(), self.beta**2
        tp = np.asarray(self.true_positives, dtype=np.float64)
        precision = tp / (tp + self.false_positives + eps)
        recall = tp / (tp + self.false_negatives + eps)
        score = (1 + b2) * precision * recall / (b2 * precision + recall + eps)
        if self.average == "weighted":
            support = np.asarray(self.intermediate_weights)
            score = np.sum(score * support / (support.sum() + eps))
        elif self.average is not None:
            score = np.mean(score) if score.size else np.float64(0.0)
        return _result(score)

    def get_config(self) -> dict[str, Any]:
        config = {
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }
        return {**super().get_config(), **config}


@_register()
class F1Score(FBetaScore):
    """F1 score ``2 * p * r / (p + r)``: :class:`FBetaScore` with ``beta=1``.

    >>> m = F1Score(threshold=0.5)
    >>> m.update_state([[1, 1, 1], [1, 0, 0], [1, 1, 0]],
    ...                [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    >>> m.result().round(4).tolist()
    [0.5, 0.8, 0.6667]
    """

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str = "f1_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config


# -------------------------------------------------------------------- R2
_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


@_register()
class R2Score(Metric):
    """Coefficient of determination ``1 - SS_res / SS_tot`` per output column.

    ``class_aggregation``: ``"uniform_average"`` (mean over outputs),
    ``"variance_weighted_average"`` or None (one score per output).
    ``num_regressors`` > 0 gives the adjusted R2. As in Keras, an output with
    ``SS_tot = 0`` scores 0 when ``SS_res > 0`` (NaN when both are 0), and
    ``num_samples`` counts entries of ``y_true``. Rank-1 inputs are one
    output.

    >>> m = R2Score(); m.update_state([[1], [4], [3]], [[2], [4], [4]])
    >>> round(m.result(), 6)
    0.571429
    """

    _direction = "up"

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
        dtype: Any = None,
    ) -> None:
        if class_aggregation not in _AGGREGATIONS:
            raise ValueError(
                f"R2Score: class_aggregation must be one of {_AGGREGATIONS}, got "
                f"{class_aggregation!r}"
            )
        if num_regressors < 0:
            raise ValueError(
                f"R2Score: num_regressors must be >= 0, got {num_regressors!r}"
            )
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self._outputs: int | None = None
        self.num_samples = 0.0
        self.sum = self.squared_sum = self.total_mse = self.count = 0.0

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true = np.asarray(_np(y_true), dtype=np.float64)
        y_pred = np.asarray(_np(y_pred), dtype=np.float64)
        y_true, y_pred = _columns(*_squeeze_or_expand(y_true, y_pred))
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(
                "R2Score: expected y_true and y_pred of the same shape (batch, "
                f"outputs), got {y_true.shape} and {y_pred.shape}"
            )
        if self._outputs is None:
            self._outputs = y_true.shape[1]
        elif y_true.shape[1] != self._outputs:
            raise ValueError(
                f"R2Score: expected {self._outputs} outputs, got shape {y_true.shape}"
            )
        w = np.ones(()) if sample_weight is None else np.asarray(_np(sample_weight))
        w = w.astype(np.float64)
        w = np.broadcast_to(w[:, None] if w.ndim == 1 else w, y_true.shape)
        self.sum = self.sum + np.sum(w * y_true, axis=0)
        self.squared_sum = self.squared_sum + np.sum(w * y_true * y_true, axis=0)
        self.total_mse = self.total_mse + np.sum(w * (y_true - y_pred) ** 2, axis=0)
        self.count = self.count + np.sum(w, axis=0)
        self.num_samples += y_true.size

    def result(self) -> float | np.ndarray:
        if self._outputs is None:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.sum(total * raw) / np.sum(total)
        else:
            score = raw
        return _result(self._adjust(score))

    def _adjust(self, score: Any) -> Any:
        p, n = self.num_regressors, self.num_samples
        if p == 0:
            return score
        if p > n - 1:
            warnings.warn(
                "R2Score: more regressors than data points; falling back to the "
                "plain R2 score",
                stacklevel=3,
            )
            return score
        if p == n - 1:
            warnings.warn(
                "R2Score: division by zero in the adjusted R2 score; falling back "
                "to the plain R2 score",
                stacklevel=3,
            )
            return score
        return 1 - (1 - score) * (n - 1) / (n - p - 1)

    def get_config(self) -> dict[str, Any]:
        config = {
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
        return {**super().get_config(), **config}


# ------------------------------------------------------------ name lookup
def names() -> list[str]:
    """The registered metric names.

    >>> "binary_accuracy" in names() and "auc" in names()
    True
    """
    return _registry.names(_KIND)


def get(identifier: Any) -> Metric | None:
    """A new Metric from a name, a config dict or a class; a function is wrapped.

    A Metric instance is returned as it is; a plain function
    ``fn(y_true, y_pred)`` becomes ``MeanMetricWrapper(fn, name=fn.__name__)``.

    >>> type(get("mse")).__name__, get("f1_score").name
    ('MeanSquaredError', 'f1_score')
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, Metric):
        return identifier
    obj = identifier
    if isinstance(identifier, str):
        obj = _registry.get(_KIND, identifier)
    if inspect.isclass(obj) and issubclass(obj, Metric):
        return obj()
    if callable(obj) and not inspect.isclass(obj):
        return MeanMetricWrapper(obj, name=getattr(obj, "__name__", None))
    raise ValueError(
        f"metrics.get: could not interpret metric identifier {identifier!r}"
    )


def serialize(metric: Any) -> Any:
    """A JSON-able form: a Metric's class name and config, or a function's name.

    >>> serialize(BinaryAccuracy(threshold=0.7))["config"]
    {'name': 'binary_accuracy', 'dtype': 'float32', 'threshold': 0.7}
    """
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    name = losses.serialize(metric) if callable(metric) else None
    if not isinstance(name, str):
        raise ValueError(f"metrics.serialize: cannot serialize {metric!r}")
    return name


def deserialize(config: Any) -> Metric:
    """Inverse of :func:`serialize` for Metric instances.

    >>> deserialize({"class_name": "AUC", "config": {"curve": "PR"}}).curve
    'PR'
    """
    if isinstance(config, str):
        return get(config)
    if isinstance(config, dict) and "class_name" in config:
        cls = _registry.get(_KIND, config["class_name"])
        if inspect.isclass(cls) and issubclass(cls, Metric):
            return cls.from_config(dict(config.get("config") or {}))
    raise ValueError(f"metrics.deserialize: could not interpret {config!r}")
