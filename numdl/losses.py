"""Loss functions and Keras ``Loss`` classes, with Keras 3 names and semantics.

Functions return one loss per sample (usually the mean over the last axis),
as Keras does; classes reduce them (``reduction``) with optional
``sample_weight``. ``get("mse")``, ``get("sparse_categorical_crossentropy")``,
``get("BinaryCrossentropy")`` resolve names (a class name gives an instance).

Shapes follow Keras: when the ranks of ``y_true`` and ``y_pred`` differ by one
and the longer one ends in a size-1 axis, that axis is squeezed (or a rank-1
tensor expanded), so ``y_true`` of shape ``(32,)`` against ``y_pred`` of shape
``(32, 1)`` works. Any other mismatch is a ``ValueError`` naming the loss and
both shapes: nothing is broadcast by accident.

Cross-entropy on probabilities clips to ``[eps, 1 - eps]`` with
``eps = config.epsilon()`` (1e-7), as Keras does; with ``from_logits=True`` it
is exact (one fused op: ``numdl.ops.nn.softmax_cross_entropy`` or
``sigmoid_binary_crossentropy``) and never takes ``log(0)``.

NumPy in, NumPy out: without a Tensor argument every function returns an
ndarray. Integer inputs are computed in ``config.floatx()``; float arrays keep
their type (Keras casts everything to floatx).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from numdl import config, ops
from numdl import registry as _registry
from numdl.autograd.function import OpCall
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module
from numdl.ops import _cupy_kernels as _gpu
from numdl.ops import nn
from numdl.ops.nn import as_float

_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")
# Without sample weights these three are the plain mean.
_MEANS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def _register(*names: str) -> Callable[[Any], Any]:
    return _registry.register("loss", *names)


def _out(y: Any) -> Any:
    return y if isinstance(y, Tensor) else array_module(y).asarray(y)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def _constant(x: Any, dtype: Any) -> Any:
    """``y_true`` in the type of ``y_pred``: a Tensor stays one (cast if needed)."""
    if isinstance(x, Tensor):
        return x if x.dtype == dtype else ops.cast(x, dtype)
    xp = array_module(x)
    return xp.asarray(x, dtype=dtype)


def _squeeze_or_expand(a: Any, b: Any) -> tuple[Any, Any]:
    """Keras's ``squeeze_or_expand_to_same_rank``: fix a rank off by one.

    If one tensor has one axis more and it has size 1, squeeze it, or, when
    the other tensor is rank 1, expand that one instead.
    """
    ra, rb = len(a.shape), len(b.shape)
    if ra == rb + 1 and a.shape[-1] == 1:
        if rb == 1:
            b = ops.expand_dims(b, -1)
        else:
            a = ops.squeeze(a, -1)
    elif rb == ra + 1 and b.shape[-1] == 1:
        if ra == 1:
            a = ops.expand_dims(a, -1)
        else:
            b = ops.squeeze(b, -1)
    return a, b


def _prepare(name: str, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Float ``y_pred``, ``y_true`` in its type, shapes made equal or an error."""
    y_pred = as_float(y_pred)
    y_true = _constant(y_true, y_pred.dtype)
    shapes = (_shape(y_true), _shape(y_pred))
    y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
    if _shape(y_true) != _shape(y_pred):
        raise ValueError(
            f"{name}: y_true and y_pred must have the same shape, got y_true with "
            f"shape {shapes[0]} and y_pred with shape {shapes[1]}"
        )
    return y_true, y_pred


def _clip_probabilities(p: Any) -> Any:
    eps = config.epsilon()
    return ops.clip(p, eps, 1.0 - eps)


# --------------------------------------------------------------- regression
@_register("mean_squared_error", "mse")
def mean_squared_error(y_true: Any, y_pred: Any) -> Any:
    """``mean(square(y_true - y_pred), axis=-1)``.

    >>> mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]]).tolist()
    [0.5]
    """
    y_true, y_pred = _prepare("mean_squared_error", y_true, y_pred)
    return _out(ops.mean(ops.square(y_pred - y_true), axis=-1))


@_register("mean_absolute_error", "mae")
def mean_absolute_error(y_true: Any, y_pred: Any) -> Any:
    """``mean(abs(y_true - y_pred), axis=-1)``.

    >>> mean_absolute_error([[0.0, 1.0]], [[1.0, 3.0]]).tolist()
    [1.5]
    """
    y_true, y_pred = _prepare("mean_absolute_error", y_true, y_pred)
    return _out(ops.mean(ops.abs(y_pred - y_true), axis=-1))


@_register("mean_absolute_percentage_error", "mape")
def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Any:
    """``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), eps)), axis=-1)``.

    >>> mean_absolute_percentage_error([[2.0, 4.0]], [[1.0, 5.0]]).tolist()
    [37.5]
    """
    y_true, y_pred = _prepare("mean_absolute_percentage_error", y_true, y_pred)
    scale = ops.maximum(ops.abs(y_true), config.epsilon())
    return _out(ops.mean(ops.abs((y_true - y_pred) / scale), axis=-1) * 100.0)


@_register("mean_squared_logarithmic_error", "msle")
def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Any:
    """``mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)))``.

    Values below ``eps`` (1e-7) are replaced by ``eps``, as in Keras.

    >>> round(float(mean_squared_logarithmic_error([[0.0]], [[1.718281828]])[0]), 6)
    1.0
    """
    y_true, y_pred = _prepare("mean_squared_logarithmic_error", y_true, y_pred)
    eps = config.epsilon()
    first = ops.log1p(ops.maximum(y_pred, eps))
    second = ops.log1p(ops.maximum(y_true, eps))
    return _out(ops.mean(ops.square(first - second), axis=-1))


@_register("huber", "huber_loss")
def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Any:
    """Huber loss: ``0.5 * e**2`` where ``|e| <= delta``, else
    ``delta * |e| - 0.5 * delta**2``; mean over the last axis.

    Same as ``torch.nn.HuberLoss(delta=delta)`` per element.

    >>> huber([[0.0, 0.0]], [[0.5, 3.0]]).tolist()
    [1.3125]
    """
    y_true, y_pred = _prepare("huber", y_true, y_pred)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    quadratic = ops.square(error) * 0.5
    linear = abs_error * delta - 0.5 * delta * delta
    condition = _data(abs_error) <= delta
    return _out(ops.mean(ops.where(condition, quadratic, linear), axis=-1))


@_register("log_cosh", "logcosh")
def log_cosh(y_true: Any, y_pred: Any) -> Any:
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, stable for large errors.

    Computed as ``x + softplus(-2x) - log(2)``, as Keras does.

    >>> round(float(log_cosh([[0.0]], [[1.0]])[0]), 6)
    0.433781
    """
    y_true, y_pred = _prepare("log_cosh", y_true, y_pred)
    x = y_pred - y_true
    return _out(ops.mean(x + nn.softplus(x * -2.0) - _LOG2, axis=-1))


_LOG2 = 0.6931471805599453


# ------------------------------------------------------------ probabilistic
@_register("binary_crossentropy", "bce")
def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """Binary cross-entropy, mean over ``axis``.

    Probabilities are clipped to ``[eps, 1 - eps]``, eps = 1e-7 (Keras; PyTorch's
    ``BCELoss`` clamps the logs at -100 instead). ``from_logits=True`` uses the
    exact fused op ``max(z, 0) - z * y + log1p(exp(-|z|))`` (Keras's NumPy
    backend applies sigmoid and clips instead). ``label_smoothing`` moves the
    labels towards 0.5: ``y * (1 - s) + 0.5 * s``.

    >>> y_true, y_pred = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    >>> binary_crossentropy(y_true, y_pred).round(4).tolist()
    [0.9163, 0.7136]
    """
    y_true, y_pred = _binary_inputs(y_true, y_pred, label_smoothing)
    return _out(ops.mean(_bce(y_true, y_pred, from_logits), axis=axis))


def _binary_inputs(y_true: Any, y_pred: Any, label_smoothing: float) -> Any:
    """``y_true`` (smoothed towards 0.5) and ``y_pred`` of one shape."""
    y_true, y_pred = _prepare("binary_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return y_true, y_pred


def _bce(y_true: Any, y_pred: Any, from_logits: bool) -> Any:
    """Elementwise binary cross-entropy (clipped probabilities or exact logits)."""
    if from_logits:
        return nn.sigmoid_binary_crossentropy(y_pred, y_true)
    p = _clip_probabilities(y_pred)
    return -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))


@_register("binary_focal_crossentropy")
def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """Binary focal cross-entropy (Lin et al., 2018), mean over ``axis``.

    ``(1 - p_t) ** gamma * bce`` with ``p_t = y * p + (1 - y) * (1 - p)``, times
    ``alpha`` for class 1 and ``1 - alpha`` for class 0 when
    ``apply_class_balancing``. With ``from_logits=True`` the cross-entropy term
    is exact (Keras applies sigmoid, then clips to ``[eps, 1 - eps]``).

    >>> binary_focal_crossentropy([[0.0, 1.0]], [[0.6, 0.4]]).round(4).tolist()
    [0.3299]
    """
    name = "binary_focal_crossentropy"
    y_true, y_pred = _prepare(name, y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    bce = _bce(y_true, y_pred, from_logits)
    p = nn.sigmoid(y_pred) if from_logits else y_pred
    p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
    focal = ops.clip(1.0 - p_t, 0.0, None) ** gamma * bce
    if apply_class_balancing:
        focal = focal * (y_true * alpha + (1.0 - y_true) * (1.0 - alpha))
    return _out(ops.mean(focal, axis=axis))


@_register("categorical_crossentropy")
def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """Categorical cross-entropy ``-sum(y_true * log(p), axis)``, one-hot labels.

    Probabilities are first normalised to sum to 1 along ``axis``, then
    clipped to ``[eps, 1 - eps]`` (Keras; PyTorch does neither). With
    ``from_logits=True`` it is one exact fused op (log-softmax inside) whose
    gradient is ``softmax - y_true``. ``label_smoothing`` gives
    ``y * (1 - s) + s / num_classes`` (as PyTorch's ``label_smoothing``;
    numdl counts classes along ``axis``, Keras along the last axis).

    >>> categorical_crossentropy([[0, 1, 0]], [[0.05, 0.95, 0.0]]).round(4).tolist()
    [0.0513]
    """
    name = "categorical_crossentropy"
    y_true, y_pred = _categorical_inputs(name, y_true, y_pred, label_smoothing, axis)
    if from_logits:
        return _out(
            nn.softmax_cross_entropy(y_pred, y_true, axis=axis, sparse=False, name=name)
        )
    eps = config.epsilon()
    return _out(nn.probability_cross_entropy(y_pred, y_true, axis, eps))


def _categorical_inputs(
    name: str, y_true: Any, y_pred: Any, label_smoothing: float, axis: int
) -> tuple[Any, Any]:
    """``y_true`` (smoothed) and ``y_pred`` of one shape with a class axis."""
    if isinstance(axis, bool):
        raise ValueError(f"{name}: axis must be an int, got {axis!r}")
    y_true, y_pred = _prepare(name, y_true, y_pred)
    if not y_pred.shape:
        raise ValueError(f"{name}: y_pred must have a class axis, got a scalar")
    if label_smoothing:
        num_classes = y_pred.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    return y_true, y_pred


@_register("sparse_categorical_crossentropy")
def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Any:
    """Cross-entropy with integer labels: ``-log(p[y_true])``.

    ``y_true`` holds class indices, with the shape of ``y_pred`` less ``axis``
    (a trailing size-1 axis is squeezed). A label outside ``[0, classes)``
    raises ``ValueError`` naming it and its index. Labels equal to
    ``ignore_class`` give loss 0 (and no gradient). Probabilities are
    normalised and clipped as in :func:`categorical_crossentropy`; with
    ``from_logits=True`` it is one exact fused op with gradient
    ``softmax - onehot`` (as ``torch.nn.functional.cross_entropy``).

    >>> sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    ...     ).round(4).tolist()
    [0.0513, 2.3026]
    """
    name = "sparse_categorical_crossentropy"
    y_pred = as_float(y_pred)
    labels, axis = _sparse_labels(name, y_true, y_pred, axis)
    shape = _shape(y_pred)
    if from_logits:
        return _out(
            nn.softmax_cross_entropy(
                y_pred, labels, axis=axis, sparse=True, ignore_class=ignore_class,
                name=name,
            )
        )  # fmt: skip
    labels, valid = nn.check_sparse_labels(labels, shape[axis], ignore_class, name)
    xp = array_module(labels)
    data = _data(y_pred)
    if valid is None and _fused_rows(data, axis):  # one op, the same numbers
        labels = array_module(data).asarray(labels)
        eps = config.epsilon()
        return _out(nn.sparse_probability_cross_entropy(y_pred, labels, eps))
    classes = xp.arange(shape[axis]).reshape(
        [-1 if i == axis else 1 for i in range(len(shape))]
    )
    onehot = (xp.expand_dims(labels, axis) == classes).astype(y_pred.dtype)
    p = _clip_probabilities(y_pred / ops.sum(y_pred, axis=axis, keepdims=True))
    loss = -ops.sum(ops.log(p) * onehot, axis=axis)
    if valid is not None:
        loss = ops.where(valid, loss, 0.0)
    return _out(loss)


def _sparse_labels(name: str, y_true: Any, y_pred: Any, axis: int) -> tuple[Any, int]:
    """Class-index labels for ``y_pred`` (a trailing size-1 axis squeezed) and
    the class axis, or a ValueError naming ``name`` and both shapes."""
    shape = _shape(y_pred)
    if not shape:
        raise ValueError(f"{name}: y_pred must have a class axis, got a scalar")
    axis = axis % len(shape)
    labels = _data(y_true)
    labels = array_module(labels).asarray(labels)
    original = labels.shape
    if labels.ndim == len(shape) and labels.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    expected = shape[:axis] + shape[axis + 1 :]
    if labels.shape != expected:
        raise ValueError(
            f"{name}: y_true with shape {original} does not fit y_pred with shape "
            f"{shape}; expected integer labels of shape {expected}"
        )
    return labels, axis


@_register("kl_divergence", "kld", "kullback_leibler_divergence")
def kl_divergence(y_true: Any, y_pred: Any) -> Any:
    """Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred), axis=-1)``.

    Both are clipped to ``[eps, 1]`` first, as in Keras (PyTorch's
    ``KLDivLoss`` takes log-probabilities and treats ``y_true = 0`` as 0).

    >>> kl_divergence([[0.5, 0.5]], [[0.5, 0.5]]).tolist()
    [0.0]
    """
    y_true, y_pred = _prepare("kl_divergence", y_true, y_pred)
    eps = config.epsilon()
    y_true = ops.clip(y_true, eps, 1.0)
    y_pred = ops.clip(y_pred, eps, 1.0)
    return _out(ops.sum(y_true * ops.log(y_true / y_pred), axis=-1))


@_register("poisson")
def poisson(y_true: Any, y_pred: Any) -> Any:
    """Poisson loss ``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``.

    Same as ``torch.nn.PoissonNLLLoss(log_input=False, eps=1e-7)`` per element.

    >>> poisson([[1.0]], [[1.0]]).round(6).tolist()
    [1.0]
    """
    y_true, y_pred = _prepare("poisson", y_true, y_pred)
    return _out(ops.mean(y_pred - y_true * ops.log(y_pred + config.epsilon()), axis=-1))


# -------------------------------------------------------------------- hinge
def _hinge_labels(y_true: Any) -> Any:
    """Labels in {0, 1} become {-1, 1} (Keras); other labels are kept."""
    data = _data(y_true)
    xp = array_module(data)
    if bool(xp.all((data == 0) | (data == 1))):
        return y_true * 2.0 - 1.0
    return y_true


@_register("hinge")
def hinge(y_true: Any, y_pred: Any) -> Any:
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``.

    ``y_true`` should be -1 or 1; binary 0/1 labels are converted (Keras).

    >>> hinge([[1.0, -1.0]], [[0.5, 0.5]]).tolist()
    [1.0]
    """
    y_true, y_pred = _prepare("hinge", y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return _out(ops.mean(ops.clip(1.0 - y_true * y_pred, 0.0, None), axis=-1))


@_register("squared_hinge")
def squared_hinge(y_true: Any, y_pred: Any) -> Any:
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``.

    ``y_true`` should be -1 or 1; binary 0/1 labels are converted (Keras).

    >>> squared_hinge([[1.0, -1.0]], [[0.5, 0.5]]).tolist()
    [1.25]
    """
    y_true, y_pred = _prepare("squared_hinge", y_true, y_pred)
    y_true = _hinge_labels(y_true)
    margin = ops.clip(1.0 - y_true * y_pred, 0.0, None)
    return _out(ops.mean(ops.square(margin), axis=-1))


@_register("categorical_hinge")
def categorical_hinge(y_true: Any, y_pred: Any) -> Any:
    """``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``.

    Over the last axis; ``y_true`` is one-hot.

    >>> categorical_hinge([[0.0, 1.0]], [[0.3, 0.8]]).tolist()
    [0.5]
    """
    y_true, y_pred = _prepare("categorical_hinge", y_true, y_pred)
    pos = ops.sum(y_true * y_pred, axis=-1)
    neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return _out(ops.clip(neg - pos + 1.0, 0.0, None))


@_register("cosine_similarity")
def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Any:
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``, in [-1, 1].

    ``l2_normalize(x) = x / max(||x||, eps)`` (Keras 3), so a zero vector gives
    0; equal to ``-torch.nn.functional.cosine_similarity(..., eps=1e-7)``.

    >>> cosine_similarity([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [2.0, 2.0]]
    ...     ).round(6).tolist()
    [-0.0, -1.0]
    """
    y_true, y_pred = _prepare("cosine_similarity", y_true, y_pred)
    return _out(
        -ops.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)
    )


def _l2_normalize(x: Any, axis: int) -> Any:
    eps = config.epsilon()
    squares = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x / ops.sqrt(ops.maximum(squares, eps * eps))


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _fused_rows(data: Any, axis: int) -> bool:
    """2-D probabilities with classes on axis 1 (on the host), or a GPU array
    the fused one-thread-per-row kernels take: one op for the whole loss."""
    if type(data) is np.ndarray:
        return data.ndim == 2 and axis == 1
    return _on_gpu_rows(data, axis)


def _on_gpu_rows(data: Any, axis: int) -> bool:
    """A GPU array the fused one-thread-per-row kernels take."""
    return array_module(data) is not np and _gpu.rows_supported(data, axis)


# --------------------------------------------------------------- reduction
def _reduce(
    values: Any, sample_weight: Any, mask: Any, reduction: str, name: str
) -> Any:
    """Weight and reduce per-sample losses as Keras 3's ``Loss.__call__`` does."""
    xp = array_module(_data(values))
    weights = None
    if sample_weight is not None:
        weights = xp.asarray(_data(sample_weight), dtype=values.dtype)
        vshape, wshape = _shape(values), weights.shape
        values, weights = _squeeze_or_expand(values, weights)
        extra = len(values.shape) - weights.ndim
        if extra > 0:  # (batch,) weights for (batch, time) losses
            weights = weights.reshape(weights.shape + (1,) * extra)
        if not _broadcastable(_shape(values), weights.shape):
            raise ValueError(
                f"{name}: sample_weight of shape {wshape} does not fit the "
                f"per-sample losses of shape {vshape}"
            )
        base_shape = _shape(values)
        values = values * weights
    else:
        base_shape = _shape(values)
    if reduction == "none":
        return _out(values)
    if reduction == "sum":
        return _out(ops.sum(values))
    if mask is None and (reduction != "mean_with_sample_weight" or weights is None):
        # Every entry counts once: one mean op (sum and division are two ops
        # in the graph, ~4 us a step more).
        size = _data(values).size
        return _out(ops.mean(values) if size else ops.sum(values) * 0.0)
    total = ops.sum(values)
    counted = None  # what the divisor counts, when not every entry once
    if mask is not None:
        counted = xp.broadcast_to(mask.reshape(base_shape), _shape(values))
    if reduction == "mean_with_sample_weight" and weights is not None:
        w = xp.broadcast_to(weights, _shape(values))
        counted = w if counted is None else w * counted
    divisor = float(_data(values).size if counted is None else counted.sum())
    return _out(total / divisor if divisor else total * 0.0)


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(m == n or 1 in (m, n) for m, n in zip(a[::-1], b[::-1]))


class Loss:
    """Base class of Keras-style losses: ``loss(y_true, y_pred, sample_weight)``.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample losses;
    ``__call__`` multiplies them by ``sample_weight`` and applies
    ``reduction``, as in Keras 3:

    - ``"sum_over_batch_size"`` (default) and ``"mean"``: the sum of the
      weighted losses divided by their number (0 for an empty batch, where
      Keras returns the empty array and PyTorch NaN);
    - ``"sum"``: the sum of the weighted losses;
    - ``"mean_with_sample_weight"``: the sum divided by the sum of the weights;
    - ``"none"`` or None: the weighted per-sample losses.

    ``sample_weight`` of shape ``(batch,)`` weights each sample, also for
    losses with more axes such as ``(batch, time)`` (Keras would broadcast it
    against the last axis). It is a constant: no gradient flows into it.
    ``dtype`` is accepted for Keras compatibility and ignored: losses are
    computed in the type of ``y_pred``.

    >>> MeanSquaredError()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]],
    ...                    sample_weight=[0.7, 0.3]).round(4).tolist()
    0.25
    """

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        if reduction is None:
            reduction = "none"
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: invalid reduction {reduction!r}; expected "
                f"one of {', '.join(_REDUCTIONS)} or None"
            )
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    def call(self, y_true: Any, y_pred: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def _mask(self, y_true: Any, y_pred: Any) -> Any:
        """Float mask of the per-sample losses that count, or None (all count)."""
        return None

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        if sample_weight is None:
            mean = self._mean_op(y_true, y_pred)
            if mean is not None:
                return _out(mean.apply())
        values = self.call(y_true, y_pred)
        mask = self._mask(y_true, y_pred)
        return _reduce(values, sample_weight, mask, self.reduction, self.name)

    def _mean_op(self, y_true: Any, y_pred: Any) -> OpCall | None:
        """The loss (without sample weights) as one op of its own that also
        reduces, ready to run; None where there is none. The value is the one
        ``call`` and the reduction give.

        The cross-entropies from logits have one (``_fused_op``) for a mean
        reduction: a training step then records one op instead of two, its
        backward scales by one number (~10 us a step at batch 32), and a
        chain of Dense layers computes it on arrays
        (``OpCall.value_and_grad``, numdl/training/loop.py).
        """
        return self._fused_op(y_true, y_pred) if self.reduction in _MEANS else None

    def _fused_op(self, y_true: Any, y_pred: Any) -> OpCall | None:
        """The mean as one op (see :meth:`_mean_op`), or None (the default)."""
        return None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class LossFunctionWrapper(Loss):
    """A :class:`Loss` around a loss function and its keyword arguments.

    >>> LossFunctionWrapper(mean_absolute_error)([[1.0]], [[3.0]]).tolist()
    2.0
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            name=name or getattr(fn, "__name__", None), reduction=reduction
        )
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self._fn_kwargs)
        return config


_SUM = "sum_over_batch_size"


@_register("MeanSquaredError")
class MeanSquaredError(LossFunctionWrapper):
    """Mean of the squared errors, ``mean(square(y_true - y_pred))``.

    >>> MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]]).tolist()
    0.5
    """

    def __init__(
        self, reduction: str | None = _SUM, name: str = "mean_squared_error",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(mean_squared_error, reduction=reduction, name=name)


@_register("MeanAbsoluteError")
class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of the absolute errors, ``mean(abs(y_true - y_pred))``.

    >>> MeanAbsoluteError()([[0.0, 1.0]], [[1.0, 3.0]]).tolist()
    1.5
    """

    def __init__(
        self, reduction: str | None = _SUM, name: str = "mean_absolute_error",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(mean_absolute_error, reduction=reduction, name=name)


@_register("MeanAbsolutePercentageError")
class MeanAbsolutePercentageError(LossFunctionWrapper):
    """``100 * mean(abs((y_true - y_pred) / y_true))`` (see the function).

    >>> MeanAbsolutePercentageError()([[2.0, 4.0]], [[1.0, 5.0]]).tolist()
    37.5
    """

    def __init__(
        self, reduction: str | None = _SUM,
        name: str = "mean_absolute_percentage_error", dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name)


@_register("MeanSquaredLogarithmicError")
class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """``mean(square(log(y_true + 1) - log(y_pred + 1)))`` (see the function).

    >>> MeanSquaredLogarithmicError()([[0.0]], [[0.0]]).tolist()
    0.0
    """

    def __init__(
        self, reduction: str | None = _SUM,
        name: str = "mean_squared_logarithmic_error", dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name)


@_register("Huber")
class Huber(LossFunctionWrapper):
    """Huber loss, quadratic below ``delta`` and linear above (see :func:`huber`).

    >>> Huber()([[0.0, 0.0]], [[0.5, 3.0]]).tolist()
    1.3125
    """

    def __init__(
        self, delta: float = 1.0, reduction: str | None = _SUM,
        name: str = "huber_loss", dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(huber, reduction=reduction, name=name, delta=delta)


@_register("LogCosh")
class LogCosh(LossFunctionWrapper):
    """Mean of ``log(cosh(y_pred - y_true))`` (see :func:`log_cosh`).

    >>> LogCosh()([[0.0]], [[0.0]]).tolist()
    0.0
    """

    def __init__(
        self, reduction: str | None = _SUM, name: str = "log_cosh",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(log_cosh, reduction=reduction, name=name)


@_register("BinaryCrossentropy")
class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy (see :func:`binary_crossentropy`).

    >>> BinaryCrossentropy(from_logits=True)([[1.0]], [[0.0]]).round(4).tolist()
    0.6931
    """

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0,
        axis: int = -1, reduction: str | None = _SUM,
        name: str = "binary_crossentropy", dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(
            binary_crossentropy, reduction=reduction, name=name,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip

    def _fused_op(self, y_true: Any, y_pred: Any) -> OpCall | None:
        kwargs = self._fn_kwargs
        if not kwargs["from_logits"]:
            return None
        y_true, y_pred = _binary_inputs(y_true, y_pred, kwargs["label_smoothing"])
        if not y_pred.shape:  # a scalar has no axis to average first
            return None
        return nn.sigmoid_binary_crossentropy_op(y_pred, y_true, reduction="mean")


@_register("BinaryFocalCrossentropy")
class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary focal cross-entropy (see :func:`binary_focal_crossentropy`).

    >>> BinaryFocalCrossentropy()([[0.0, 1.0]], [[0.6, 0.4]]).round(4).tolist()
    0.3299
    """

    def __init__(
        self, apply_class_balancing: bool = False, alpha: float = 0.25,
        gamma: float = 2.0, from_logits: bool = False,
        label_smoothing: float = 0.0, axis: int = -1,
        reduction: str | None = _SUM, name: str = "binary_focal_crossentropy",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(
            binary_focal_crossentropy, reduction=reduction, name=name,
            apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip


@_register("CategoricalCrossentropy")
class CategoricalCrossentropy(LossFunctionWrapper):
    """Categorical cross-entropy, one-hot labels (see the function).

    >>> CategoricalCrossentropy()([[0, 1, 0]], [[0.05, 0.95, 0]]).round(4).tolist()
    0.0513
    """

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0,
        axis: int = -1, reduction: str | None = _SUM,
        name: str = "categorical_crossentropy", dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(
            categorical_crossentropy, reduction=reduction, name=name,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip

    def _fused_op(self, y_true: Any, y_pred: Any) -> OpCall | None:
        kwargs = self._fn_kwargs
        if not kwargs["from_logits"]:
            return None
        name, axis = "categorical_crossentropy", kwargs["axis"]
        y_true, y_pred = _categorical_inputs(
            name, y_true, y_pred, kwargs["label_smoothing"], axis
        )
        return nn.softmax_cross_entropy_op(
            y_pred, y_true, axis, sparse=False, name=name, reduction="mean"
        )


@_register("SparseCategoricalCrossentropy")
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy with integer labels (see the function).

    With ``ignore_class``, the mean reductions divide by the number of labels
    not ignored (0 when all are; Keras divides by that number plus 1e-7).

    >>> SparseCategoricalCrossentropy(from_logits=True)([1], [[0.0, 0.0]]
    ...     ).round(4).tolist()
    0.6931
    """

    def __init__(
        self, from_logits: bool = False, ignore_class: int | None = None,
        reduction: str | None = _SUM,
        name: str = "sparse_categorical_crossentropy", dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(
            sparse_categorical_crossentropy, reduction=reduction, name=name,
            from_logits=from_logits, ignore_class=ignore_class,
        )  # fmt: skip

    def _fused_op(self, y_true: Any, y_pred: Any) -> OpCall | None:
        kwargs = self._fn_kwargs
        if not kwargs["from_logits"]:
            return None
        name = "sparse_categorical_crossentropy"
        y_pred = as_float(y_pred)
        labels, axis = _sparse_labels(name, y_true, y_pred, -1)
        return nn.softmax_cross_entropy_op(
            y_pred, labels, axis, sparse=True, ignore_class=kwargs["ignore_class"],
            name=name, reduction="mean",
        )  # fmt: skip

    def _mask(self, y_true: Any, y_pred: Any) -> Any:
        ignore = self._fn_kwargs["ignore_class"]
        if ignore is None:
            return None
        labels = array_module(_data(y_true)).asarray(_data(y_true))
        if labels.ndim == len(_shape(y_pred)) and labels.ndim and labels.shape[-1] == 1:
            labels = labels.reshape(labels.shape[:-1])
        return labels != ignore


@_register("KLDivergence")
class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence (see :func:`kl_divergence`).

    >>> KLDivergence()([[0.5, 0.5]], [[0.5, 0.5]]).tolist()
    0.0
    """

    def __init__(
        self, reduction: str | None = _SUM, name: str = "kl_divergence",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(kl_divergence, reduction=reduction, name=name)


@_register("Poisson")
class Poisson(LossFunctionWrapper):
    """Poisson loss ``y_pred - y_true * log(y_pred)`` (see :func:`poisson`).

    >>> Poisson()([[1.0]], [[1.0]]).round(6).tolist()
    1.0
    """

    def __init__(
        self, reduction: str | None = _SUM, name: str = "poisson",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(poisson, reduction=reduction, name=name)


@_register("Hinge")
class Hinge(LossFunctionWrapper):
    """Hinge loss ``maximum(1 - y_true * y_pred, 0)`` (see :func:`hinge`).

    >>> Hinge()([[1.0, -1.0]], [[0.5, 0.5]]).tolist()
    1.0
    """

    def __init__(
        self, reduction: str | None = _SUM, name: str = "hinge", dtype: Any = None
    ) -> None:
        super().__init__(hinge, reduction=reduction, name=name)


@_register("SquaredHinge")
class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss (see :func:`squared_hinge`).

    >>> SquaredHinge()([[1.0, -1.0]], [[0.5, 0.5]]).tolist()
    1.25
    """

    def __init__(
        self, reduction: str | None = _SUM, name: str = "squared_hinge",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(squared_hinge, reduction=reduction, name=name)


@_register("CategoricalHinge")
class CategoricalHinge(LossFunctionWrapper):
    """Categorical hinge loss (see :func:`categorical_hinge`).

    >>> CategoricalHinge()([[0.0, 1.0]], [[0.3, 0.8]]).tolist()
    0.5
    """

    def __init__(
        self, reduction: str | None = _SUM, name: str = "categorical_hinge",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(categorical_hinge, reduction=reduction, name=name)


@_register("CosineSimilarity")
class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity (see :func:`cosine_similarity`).

    >>> CosineSimilarity()([[0.0, 1.0]], [[0.0, 2.0]]).tolist()
    -1.0
    """

    def __init__(
        self, axis: int = -1, reduction: str | None = _SUM,
        name: str = "cosine_similarity", dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(cosine_similarity, reduction=reduction, name=name, axis=axis)


# ------------------------------------------------------------ name lookup
def get(identifier: Any) -> Any:
    """Resolve a loss: a name, a serialized dict, a class, a callable or None.

    Function names (``"mse"``, ``"sparse_categorical_crossentropy"``) give the
    function; class names (``"BinaryCrossentropy"``) give a new instance, as
    in Keras.

    >>> get("mse") is mean_squared_error, type(get("BinaryCrossentropy")).__name__
    (True, 'BinaryCrossentropy')
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    obj = (
        _registry.get("loss", identifier) if isinstance(identifier, str) else identifier
    )
    if inspect.isclass(obj) and issubclass(obj, Loss):
        return obj()
    if callable(obj):
        return obj
    raise ValueError(f"losses.get: could not interpret loss identifier {identifier!r}")


def serialize(loss: Any) -> Any:
    """A JSON-able form: a function's name, or a Loss's class name and config.

    >>> serialize(mean_squared_error)
    'mean_squared_error'
    >>> serialize(Huber(delta=2.0))["config"]["delta"]
    2.0
    """
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    name = _registry.name_of("loss", loss)
    if name is None:
        name = getattr(loss, "__name__", None)
    if name is None:
        raise ValueError(f"losses.serialize: cannot serialize {loss!r}")
    return name


def deserialize(config: Any) -> Any:
    """Inverse of :func:`serialize`.

    >>> deserialize({"class_name": "Huber", "config": {"delta": 2.0}}).get_config()
    {'name': 'huber_loss', 'reduction': 'sum_over_batch_size', 'delta': 2.0}
    """
    if isinstance(config, str):
        return get(config)
    if isinstance(config, dict) and "class_name" in config:
        cls = _registry.get("loss", config["class_name"])
        if inspect.isclass(cls) and issubclass(cls, Loss):
            return cls.from_config(dict(config.get("config", {})))
        return cls
    raise ValueError(f"losses.deserialize: could not interpret {config!r}")
