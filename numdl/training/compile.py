"""What ``compile`` resolves: the optimizer, per-output losses and metrics.

``compile`` only checks and stores the user's arguments (unknown names fail
at once, with the valid names). Which loss and metric object applies to which
output is decided on the first batch, when the model's outputs are known, as
in Keras 3 (``"accuracy"`` becomes ``BinaryAccuracy``,
``CategoricalAccuracy`` or ``SparseCategoricalAccuracy`` from the shapes of
``y_true`` and ``y_pred``; ``"crossentropy"`` the matching cross-entropy).

Everything works on flat lists in output order: ``y_true[i]`` is an array,
``y_pred[i]`` a Tensor, ``sample_weight[i]`` an array or None.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from numdl import losses as losses_module
from numdl import optimizers as optimizers_module

_ACCURACY = ("accuracy", "acc")
_CROSSENTROPY = ("crossentropy", "ce")


def resolve_optimizer(identifier: Any) -> Any:
    """An optimizer instance from a name, config dict, class or instance.

    >>> type(resolve_optimizer("adam")).__name__
    'Adam'
    """
    try:
        optimizer = optimizers_module.get(identifier)
    except ValueError as error:
        raise ValueError(f"compile(optimizer={identifier!r}): {error}") from None
    if optimizer is None:
        raise ValueError("compile: `optimizer` must be given, got None")
    return optimizer


class LossTracker:
    """A running mean weighted by batch size (Keras's ``Mean`` for "loss").

    >>> t = LossTracker("loss"); t.update_state(1.0, 3); t.update_state(3.0, 1)
    >>> t.result()
    1.5
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._total = 0.0
        self._count = 0.0

    def update_state(self, value: float, sample_weight: float = 1.0) -> None:
        self._total += value * sample_weight
        self._count += sample_weight

    def result(self) -> float:
        return self._total / self._count if self._count else 0.0

    def reset_state(self) -> None:
        self._total = 0.0
        self._count = 0.0


def _is_ambiguous(identifier: Any, names: tuple[str, ...]) -> bool:
    return isinstance(identifier, str) and identifier.lower() in names


def _shape_kind(y_true: Any, y_pred: Any) -> str:
    """Keras's ``is_binary_or_sparse_categorical``: binary, sparse or categorical."""
    t_shape, p_shape = np.shape(y_true), tuple(y_pred.shape)
    t_last = t_shape[-1] if t_shape else 1
    p_last = p_shape[-1] if p_shape else 1
    if p_last == 1:
        return "binary"
    if len(t_shape) < len(p_shape) or (t_last == 1 and p_last > 1):
        return "sparse"
    return "categorical"


# --------------------------------------------------------------------- losses
def check_loss_identifier(identifier: Any) -> None:
    """Fail at compile time on an unknown loss name (the registry lists names).

    >>> check_loss_identifier("mse")
    >>> check_loss_identifier("msee")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: compile(loss='msee'): Unknown loss 'msee'. Valid names: ...
    """
    if identifier is None or _is_ambiguous(identifier, _CROSSENTROPY):
        return
    if isinstance(identifier, (list, tuple)):
        for item in identifier:
            check_loss_identifier(item)
        return
    if isinstance(identifier, dict) and "class_name" not in identifier:
        for item in identifier.values():
            check_loss_identifier(item)
        return
    try:
        losses_module.get(identifier)
    except ValueError as error:
        raise ValueError(f"compile(loss={identifier!r}): {error}") from None


def resolve_loss(identifier: Any, y_true: Any, y_pred: Any) -> Any:
    """A ``Loss`` object (reducing with ``sample_weight``) for one output.

    >>> import numpy as np, numdl
    >>> loss = resolve_loss("ce", np.zeros(2), numdl.tensor(np.ones((2, 3))))
    >>> loss.name
    'ce'
    """
    if _is_ambiguous(identifier, _CROSSENTROPY):
        kind = _shape_kind(y_true, y_pred)
        obj = {
            "binary": losses_module.binary_crossentropy,
            "sparse": losses_module.sparse_categorical_crossentropy,
            "categorical": losses_module.categorical_crossentropy,
        }[kind]
    else:
        obj = losses_module.get(identifier)
    if isinstance(obj, losses_module.Loss):
        return obj
    if not callable(obj):
        raise ValueError(f"compile: could not interpret loss {identifier!r}")
    name = identifier if isinstance(identifier, str) else _object_name(obj)
    return losses_module.LossFunctionWrapper(obj, name=name)


def _object_name(obj: Any) -> str:
    name = getattr(obj, "name", None) or getattr(obj, "__name__", None)
    return str(name or type(obj).__name__)


def loss_function_of(loss: Any) -> tuple[Any, dict[str, Any]]:
    """The underlying loss function and its keyword arguments (for data checks).

    >>> fn, kw = loss_function_of(losses_module.SparseCategoricalCrossentropy())
    >>> fn.__name__, kw["from_logits"]
    ('sparse_categorical_crossentropy', False)
    """
    if isinstance(loss, losses_module.LossFunctionWrapper):
        return loss.fn, dict(loss._fn_kwargs)
    return loss, {}


def per_output(spec: Any, names: list[str], what: str) -> list[Any]:
    """Spread ``spec`` over outputs: one item for all, a list, or a dict by name.

    >>> per_output({"b": 2}, ["a", "b"], "loss")
    [None, 2]
    """
    n = len(names)
    if isinstance(spec, dict) and "class_name" not in spec:
        unknown = [key for key in spec if key not in names]
        if unknown:
            raise ValueError(
                f"compile: `{what}` has key(s) {unknown} that match no model "
                f"output; the outputs are {names}"
            )
        return [spec.get(name) for name in names]
    if isinstance(spec, (list, tuple)):
        if n == 1 and what in ("metrics", "weighted_metrics"):
            return [list(spec)]
        if len(spec) != n:
            raise ValueError(
                f"compile: `{what}` is a list of {len(spec)} entries but the model "
                f"has {n} output(s) ({names}); give one entry per output, or a "
                f"dict keyed by output name"
            )
        return list(spec)
    return [spec] * n


class CompiledLoss:
    """The weighted sum of per-output losses; tracks each when there are several.

    >>> import numpy as np, numdl
    >>> c = CompiledLoss("mse", None)
    >>> c.build(["out"], [np.zeros((2, 1))], [numdl.tensor(np.ones((2, 1)))])
    >>> float(c([np.zeros((2, 1))], [numdl.tensor(np.ones((2, 1)))], None).data)
    1.0
    """

    def __init__(self, loss: Any, loss_weights: Any) -> None:
        check_loss_identifier(loss)
        _check_loss_weights(loss_weights)
        self._user_loss = loss
        self._user_weights = loss_weights
        self.built = False
        self.entries: list[tuple[int, Any, float | None]] = []
        self.trackers: list[LossTracker] = []

    def build(self, names: list[str], y_true: list[Any], y_pred: list[Any]) -> None:
        """Resolve one loss per output (``None`` entries skip an output)."""
        loss = self._user_loss
        if (
            isinstance(loss, (list, tuple))
            and len(names) == 1
            and len(loss) == 1
            and not isinstance(loss, dict)
        ):
            loss = loss[0]
        items = per_output(loss, names, "loss")
        weights = self._weights(names)
        self.entries = []
        for i, item in enumerate(items):
            if item is None:
                continue
            if y_true[i] is None:
                raise ValueError(
                    f"fit: no target (y) was given for output {names[i]!r}, which "
                    f"has a loss"
                )
            resolved = resolve_loss(item, y_true[i], y_pred[i])
            self.entries.append((i, resolved, weights[i]))
        self.trackers = []
        if len(self.entries) > 1:
            self.trackers = [
                LossTracker(f"{names[i]}_loss") for i, _, _ in self.entries
            ]
        self.built = True

    def _weights(self, names: list[str]) -> list[float | None]:
        weights = self._user_weights
        if weights is None:
            return [None] * len(names)
        if isinstance(weights, numbers.Real) and not isinstance(weights, bool):
            return [float(weights)] * len(names)
        items = per_output(weights, names, "loss_weights")
        return [None if w is None else float(w) for w in items]

    def __call__(self, y_true: list[Any], y_pred: list[Any], sample_weight: Any) -> Any:
        total = None
        trackers = self.trackers
        for k, (i, loss, weight) in enumerate(self.entries):
            sw = None if sample_weight is None else sample_weight[i]
            value = loss(y_true[i], y_pred[i], sw)
            if trackers:
                trackers[k].update_state(float(value.data), len(y_true[i]))
            if weight is not None:
                value = value * weight
            total = value if total is None else total + value
        return total


def _check_loss_weights(weights: Any) -> None:
    items = list(weights.values()) if isinstance(weights, dict) else weights
    if items is None:
        return
    for w in items if isinstance(items, (list, tuple)) else [items]:
        if w is not None and (isinstance(w, bool) or not isinstance(w, numbers.Real)):
            raise ValueError(
                f"compile: loss_weights must be numbers (one, a list per output, "
                f"or a dict by output name), got {weights!r}"
            )


# -------------------------------------------------------------------- metrics
def _metrics_module() -> Any:
    from numdl import metrics

    return metrics


def check_metric_identifier(identifier: Any, what: str = "metrics") -> None:
    """Fail at compile time on an unknown metric name.

    >>> check_metric_identifier(["accuracy", None])
    """
    if identifier is None or _is_ambiguous(identifier, _ACCURACY + _CROSSENTROPY):
        return
    if isinstance(identifier, (list, tuple)):
        for item in identifier:
            check_metric_identifier(item, what)
        return
    if isinstance(identifier, dict):
        for item in identifier.values():
            check_metric_identifier(item, what)
        return
    if isinstance(identifier, str):
        try:
            _metrics_module().get(identifier)
        except ValueError as error:
            raise ValueError(f"compile({what}=[{identifier!r}]): {error}") from None


def resolve_metric(identifier: Any, y_true: Any, y_pred: Any) -> Any:
    """A stateful metric for one output, named as Keras names it.

    >>> import numpy as np, numdl
    >>> m = resolve_metric("acc", np.zeros(2), numdl.tensor(np.ones((2, 3))))
    >>> type(m).__name__, m.name
    ('SparseCategoricalAccuracy', 'acc')
    """
    metrics = _metrics_module()
    if _is_ambiguous(identifier, _ACCURACY):
        kind = _shape_kind(y_true, y_pred)
        cls = {
            "binary": "BinaryAccuracy",
            "sparse": "SparseCategoricalAccuracy",
            "categorical": "CategoricalAccuracy",
        }[kind]
        obj = getattr(metrics, cls)()
    elif _is_ambiguous(identifier, _CROSSENTROPY):
        kind = _shape_kind(y_true, y_pred)
        cls = {
            "binary": "BinaryCrossentropy",
            "sparse": "SparseCategoricalCrossentropy",
            "categorical": "CategoricalCrossentropy",
        }[kind]
        obj = getattr(metrics, cls)()
    else:
        obj = metrics.get(identifier)
    if isinstance(obj, type):
        obj = obj()
    if not hasattr(obj, "update_state"):
        if not callable(obj):
            raise ValueError(f"compile: could not interpret metric {identifier!r}")
        obj = metrics.MeanMetricWrapper(obj, name=_object_name(obj))
    if isinstance(identifier, str):
        obj.name = identifier
    return obj


class CompiledMetrics:
    """Per-output metric objects (plain and sample-weighted), updated per batch.

    >>> import numpy as np, numdl
    >>> c = CompiledMetrics(["accuracy"], None)
    >>> y, p = [np.array([1, 0])], [numdl.tensor(np.array([[0.2, 0.8], [0.9, 0.1]]))]
    >>> c.build(["out"], y, p); c.update_state(y, p, None); c.result()
    {'accuracy': 1.0}
    """

    def __init__(self, metrics: Any, weighted_metrics: Any) -> None:
        check_metric_identifier(metrics, "metrics")
        check_metric_identifier(weighted_metrics, "weighted_metrics")
        self._user = (metrics, weighted_metrics)
        self.built = False
        self.plain: list[tuple[int, Any, str]] = []
        self.weighted: list[tuple[int, Any, str]] = []

    @property
    def metrics(self) -> list[Any]:
        return [m for _, m, _ in self.plain + self.weighted]

    def build(self, names: list[str], y_true: list[Any], y_pred: list[Any]) -> None:
        """Resolve the metrics of every output; give each a unique log name."""
        seen: dict[str, int] = {}
        self.plain = self._build_set(self._user[0], names, y_true, y_pred, seen, "")
        self.weighted = self._build_set(
            self._user[1], names, y_true, y_pred, seen, "weighted_"
        )
        self.built = True

    def _build_set(
        self,
        spec: Any,
        names: list[str],
        y_true: list[Any],
        y_pred: list[Any],
        seen: dict[str, int],
        prefix: str,
    ) -> list[tuple[int, Any, str]]:
        if not spec:
            return []
        what = "weighted_metrics" if prefix else "metrics"
        multi = len(names) > 1
        if multi and isinstance(spec, (list, tuple)) and len(spec) != len(names):
            spec = [list(spec)] * len(names)  # tf.keras: every metric, every output
        out = []
        for i, items in enumerate(per_output(spec, names, what)):
            if items is None:
                continue
            for item in items if isinstance(items, (list, tuple)) else [items]:
                if item is None:
                    continue
                metric = resolve_metric(item, y_true[i], y_pred[i])
                name = f"{names[i]}_{metric.name}" if multi else metric.name
                out.append((i, metric, _unique(name, seen, prefix)))
        return out

    def update_state(
        self, y_true: list[Any], y_pred: list[Any], sample_weight: Any
    ) -> None:
        for i, metric, _ in self.plain:
            if y_true[i] is not None:
                metric.update_state(y_true[i], y_pred[i].data)
        for i, metric, _ in self.weighted:
            sw = None if sample_weight is None else sample_weight[i]
            if y_true[i] is not None:
                metric.update_state(y_true[i], y_pred[i].data, sample_weight=sw)

    def result(self) -> dict[str, Any]:
        """Python floats (a vector-valued result, e.g. per class, stays an array)."""
        return {
            name: _pythonify(m.result()) for _, m, name in self.plain + self.weighted
        }

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()


def _pythonify(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _unique(name: str, seen: dict[str, int], prefix: str) -> str:
    """Keras's naming of repeated metrics: ``x``, ``weighted_x`` or ``x_1``."""
    if name not in seen:
        seen[name] = 1
        return name
    if prefix and f"{prefix}{name}" not in seen:
        seen[f"{prefix}{name}"] = 1
        return f"{prefix}{name}"
    count = seen[name]
    seen[name] = count + 1
    return f"{name}_{count}"


# --------------------------------------------------------------- data checks
def check_targets(
    loss: CompiledLoss,
    y_true: list[Any],
    shapes: list[tuple[int, ...]],
    names: list[str],
    where: str,
) -> None:
    """Check targets against their loss once, before training starts.

    Sparse cross-entropy needs class indices in ``[0, classes)`` (one-hot
    rows are rejected with a hint); categorical cross-entropy needs one-hot
    (or probability) rows, not class indices.

    >>> import numpy as np, numdl
    >>> c = CompiledLoss("sparse_categorical_crossentropy", None)
    >>> c.build(["out"], [np.array([0])], [numdl.tensor(np.ones((1, 3)))])
    >>> check_targets(c, [np.array([0, 3])], [(1, 3)], ["out"], "fit")
    Traceback (most recent call last):
    ValueError: fit: y: label 3 at index 1 is out of range; y_pred has 3 classes, \
so labels must be in [0, 2]
    """
    for i, loss_obj, _ in loss.entries:
        fn, kwargs = loss_function_of(loss_obj)
        target, shape = y_true[i], shapes[i]
        if target is None or len(shape) < 2:
            continue
        label = "y" if len(names) == 1 else f"y for output {names[i]!r}"
        if fn is losses_module.sparse_categorical_crossentropy:
            _check_sparse(target, shape, kwargs, f"{where}: {label}")
        elif fn is losses_module.categorical_crossentropy:
            _check_categorical(target, shape, f"{where}: {label}")


def _check_sparse(
    target: Any, shape: tuple[int, ...], kwargs: dict, label: str
) -> None:
    from numdl.ops.nn import check_sparse_labels

    axis = kwargs.get("axis", -1) % len(shape)
    classes = shape[axis]
    t_shape = np.shape(target)
    if len(t_shape) == len(shape) and t_shape[-1] == classes and classes > 1:
        raise ValueError(
            f"{label} looks one-hot encoded (shape {t_shape}), but the loss "
            f"sparse_categorical_crossentropy expects integer class indices of "
            f"shape {t_shape[:-1]}; use loss='categorical_crossentropy', or pass "
            f"y.argmax(axis=-1)"
        )
    labels = target
    if len(t_shape) == len(shape) and t_shape[-1] == 1:
        labels = target[..., 0]
    check_sparse_labels(labels, classes, kwargs.get("ignore_class"), label)


def _check_categorical(target: Any, shape: tuple[int, ...], label: str) -> None:
    t_shape = np.shape(target)
    classes = shape[-1]
    index_like = len(t_shape) == len(shape) - 1 or (
        len(t_shape) == len(shape) and t_shape[-1] == 1
    )
    if classes > 1 and index_like:
        raise ValueError(
            f"{label} holds class indices (shape {t_shape}), but the loss "
            f"categorical_crossentropy expects one-hot rows of shape "
            f"{t_shape[:1] + (classes,)}; use loss='sparse_categorical_crossentropy', "
            f"or one-hot encode y with numdl.utils.to_categorical(y, {classes})"
        )
