"""Weight regularizers with Keras 3 names, defaults and formulas.

A regularizer maps a weight to a scalar penalty that is added to the loss.
It is built from numdl ops, so called on a Tensor that requires gradients it
returns a Tensor whose ``backward()`` reaches the weight; called on an
ndarray it returns a NumPy scalar. As in Keras, there is no factor 1/2:
``L2(0.01)(w) == 0.01 * sum(w ** 2)``.

``get("l2")`` gives ``L2(l2=0.01)``; ``get("l1_l2")`` gives
``L1L2(l1=0.01, l2=0.01)`` as Keras documents (the class ``L1L2()`` itself
defaults to zero penalties, also as in Keras).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from numdl import config, ops
from numdl import registry as _registry
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module
from numdl.ops.nn import as_float

_KIND = "regularizer"


def _register(*names: str) -> Callable[[Any], Any]:
    return _registry.register(_KIND, *names)


def _factor(value: Any, name: str, who: str) -> float:
    """A non-negative finite float, as Keras's ``validate_float_arg``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(
            f"{who}: {name} must be a non-negative float, got {name}={value!r}"
        )
    return float(value)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


class Regularizer:
    """Base class: ``penalty = regularizer(weight)``, a scalar.

    Any function of one weight that returns a scalar also works wherever a
    regularizer is expected.

    >>> import numpy as np
    >>> class Sum(Regularizer):
    ...     def __call__(self, x):
    ...         return ops.sum(x)
    >>> float(Sum()(np.ones((2, 2))))
    4.0
    """

    def __call__(self, x: Any) -> Any:
        return 0.0

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"{type(self).__name__} does not implement get_config"
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@_register("L1L2", "l1l2")
class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x ** 2)``.

    >>> import numpy as np
    >>> float(L1L2(l1=0.5, l2=0.25)(np.array([1.0, -2.0])))
    2.75
    """

    def __init__(self, l1: float | None = 0.0, l2: float | None = 0.0) -> None:
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", "L1L2")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", "L1L2")

    def __call__(self, x: Any) -> Any:
        x = as_float(x)
        penalty = array_module(_data(x)).asarray(0.0, dtype=x.dtype)
        if self.l1:
            penalty = penalty + self.l1 * ops.sum(ops.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * ops.sum(ops.square(x))
        return penalty

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


@_register("L1", "l1")
class L1(Regularizer):
    """``l1 * sum(|x|)``.

    >>> import numpy as np
    >>> float(L1(0.1)(np.array([[1.0, -3.0]])))
    0.4
    """

    def __init__(self, l1: float | None = 0.01) -> None:
        self.l1 = _factor(0.01 if l1 is None else l1, "l1", "L1")

    def __call__(self, x: Any) -> Any:
        return self.l1 * ops.sum(ops.abs(as_float(x)))

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


@_register("L2", "l2")
class L2(Regularizer):
    """``l2 * sum(x ** 2)`` (no factor 1/2, as Keras).

    >>> import numpy as np
    >>> float(L2(2.0)(np.ones((5, 5))))
    50.0
    """

    def __init__(self, l2: float | None = 0.01) -> None:
        self.l2 = _factor(0.01 if l2 is None else l2, "l2", "L2")

    def __call__(self, x: Any) -> Any:
        return self.l2 * ops.sum(ops.square(as_float(x)))

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """``L1L2`` with Keras's documented string defaults, ``l1 = l2 = 0.01``.

    >>> l1_l2().get_config()
    {'l1': 0.01, 'l2': 0.01}
    """
    return L1L2(l1=l1, l2=l2)


_register("l1_l2")(l1_l2)
_FACTORIES = (l1_l2,)


def _l2_normalize(x: Any, axis: int) -> Any:
    """``x / max(||x||, eps)`` along ``axis`` (Keras's ``ops.normalize``)."""
    eps = config.epsilon()
    squares = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x / ops.sqrt(ops.maximum(squares, eps * eps))


@_register("OrthogonalRegularizer", "orthogonal_regularizer")
class OrthogonalRegularizer(Regularizer):
    """Penalise non-orthogonal rows (or columns) of a 2-D weight, as Keras 3.

    With the rows (``mode="rows"``) or columns L2-normalised, the penalty is
    ``factor * 0.5 * sum(|off-diagonal of the Gram matrix|) / num_pairs``,
    ``num_pairs = n * (n - 1) / 2``: ``factor`` times the mean absolute
    cosine between distinct rows. A single row has no pairs and gives 0
    (Keras divides by zero).

    >>> import numpy as np
    >>> float(OrthogonalRegularizer(1.0)(np.array([[1.0, 0.0], [1.0, 1.0]])))
    0.7071067811865475
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise ValueError(
                f"OrthogonalRegularizer: mode must be 'rows' or 'columns', got {mode!r}"
            )
        self.mode = mode

    def __call__(self, x: Any) -> Any:
        x = as_float(x)
        if len(x.shape) != 2:
            raise ValueError(
                "OrthogonalRegularizer: expected a weight of rank 2, got shape "
                f"{tuple(x.shape)}"
            )
        if self.mode == "rows":
            u = _l2_normalize(x, axis=1)
            gram, size = ops.matmul(u, ops.transpose(u)), x.shape[0]
        else:
            u = _l2_normalize(x, axis=0)
            gram, size = ops.matmul(ops.transpose(u), u), x.shape[1]
        xp = array_module(_data(x))
        off_diagonal = 1.0 - xp.eye(size, dtype=x.dtype)
        total = ops.sum(ops.abs(gram * off_diagonal))
        num_pairs = size * (size - 1) / 2.0
        return self.factor * 0.5 * total / max(num_pairs, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


# ------------------------------------------------------------ name lookup
def names() -> list[str]:
    """The registered regularizer names.

    >>> names()[:3]
    ['L1', 'L1L2', 'L2']
    """
    return _registry.names(_KIND)


def get(identifier: Any) -> Any:
    """Resolve a regularizer: a name, a config dict, a class, a callable or None.

    >>> get("l2").get_config(), get(None)
    ({'l2': 0.01}, None)
    """
    return _registry.resolve(_KIND, identifier, "regularizers", _FACTORIES)


def serialize(regularizer: Any) -> Any:
    """A JSON-able form: ``{"class_name": ..., "config": ...}`` (or a name).

    >>> serialize(L1(0.5))
    {'class_name': 'L1', 'config': {'l1': 0.5}}
    """
    return _registry.serialize(_KIND, regularizer, Regularizer, "regularizers")


def deserialize(config: Any) -> Any:
    """Inverse of :func:`serialize`.

    >>> deserialize({"class_name": "L2", "config": {"l2": 0.5}}).l2
    0.5
    """
    return _registry.deserialize(_KIND, config, "regularizers", _FACTORIES)


# Keras's lowercase aliases: ``keras.regularizers.l2(1e-4)``.
l1 = L1
l2 = L2
orthogonal_regularizer = OrthogonalRegularizer
