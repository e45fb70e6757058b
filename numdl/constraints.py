"""Weight constraints with Keras 3 names, defaults and formulas.

A constraint is a projection applied to a weight's data after each optimizer
update: ``w.data[...] = constraint(w.data)``. It takes and returns arrays
(no gradient flows through it). Norms are taken along ``axis``: for a
``Dense`` kernel of shape ``(input_dim, units)``, ``axis=0`` constrains the
incoming weights of each unit; for a ``Conv2D`` kernel
``(rows, cols, in, out)`` use ``axis=[0, 1, 2]``.

As in Keras, the norm-based constraints rescale by
``desired / (epsilon + norm)`` with ``epsilon = config.epsilon()``, so a
weight already inside the bounds still shrinks by a factor
``norm / (epsilon + norm)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numdl import config
from numdl import registry as _registry
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module

_KIND = "constraint"


def _register(*names: str) -> Callable[[Any], Any]:
    return _registry.register(_KIND, *names)


def _array(w: Any) -> Any:
    """``w`` (an array, list or Tensor) as an array with a float type."""
    w = w.data if isinstance(w, Tensor) else w
    xp = array_module(w)
    w = xp.asarray(w)
    return w if w.dtype.kind == "f" else w.astype(config.floatx())


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _norms(w: Any, axis: Any) -> Any:
    xp = array_module(w)
    return xp.sqrt(xp.sum(xp.square(w), axis=_axis(axis), keepdims=True))


class Constraint:
    """Base class: ``new_w = constraint(w)``; the default changes nothing.

    >>> import numpy as np
    >>> Constraint()(np.array([1.0, -1.0])).tolist()
    [1.0, -1.0]
    """

    def __call__(self, w: Any) -> Any:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@_register("MaxNorm", "max_norm")
class MaxNorm(Constraint):
    """Scale each slice along ``axis`` down to norm at most ``max_value``.

    ``w * clip(norm, 0, max_value) / (epsilon + norm)``.

    >>> import numpy as np
    >>> MaxNorm(1.0)(np.array([[3.0], [4.0]])).round(6).tolist()
    [[0.6], [0.8]]
    """

    def __init__(self, max_value: float = 2, axis: Any = 0) -> None:
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w: Any) -> Any:
        w = _array(w)
        norms = _norms(w, self.axis)
        desired = array_module(w).clip(norms, 0, self.max_value)
        return (w * (desired / (config.epsilon() + norms))).astype(w.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


@_register("NonNeg", "non_neg")
class NonNeg(Constraint):
    """Replace negative weights by zero.

    >>> import numpy as np
    >>> NonNeg()(np.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    def __call__(self, w: Any) -> Any:
        w = _array(w)
        return array_module(w).maximum(w, 0).astype(w.dtype)


@_register("UnitNorm", "unit_norm")
class UnitNorm(Constraint):
    """Scale each slice along ``axis`` to unit norm: ``w / (epsilon + norm)``.

    >>> import numpy as np
    >>> UnitNorm()(np.array([[3.0], [4.0]])).round(6).tolist()
    [[0.6], [0.8]]
    """

    def __init__(self, axis: Any = 0) -> None:
        self.axis = axis

    def __call__(self, w: Any) -> Any:
        w = _array(w)
        return (w / (config.epsilon() + _norms(w, self.axis))).astype(w.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


@_register("MinMaxNorm", "min_max_norm")
class MinMaxNorm(Constraint):
    """Move each slice's norm into ``[min_value, max_value]`` at ``rate``.

    ``desired = rate * clip(norm, min_value, max_value) + (1 - rate) * norm``
    and ``w * desired / (epsilon + norm)``.

    >>> import numpy as np
    >>> MinMaxNorm(2.0, 3.0)(np.array([[0.6], [0.8]])).round(6).tolist()
    [[1.2], [1.6]]
    """

    def __init__(
        self,
        min_value: float = 0.0,
        max_value: float = 1.0,
        rate: float = 1.0,
        axis: Any = 0,
    ) -> None:
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w: Any) -> Any:
        w = _array(w)
        norms = _norms(w, self.axis)
        clipped = array_module(w).clip(norms, self.min_value, self.max_value)
        desired = self.rate * clipped + (1 - self.rate) * norms
        return (w * (desired / (config.epsilon() + norms))).astype(w.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


# ------------------------------------------------------------ name lookup
def names() -> list[str]:
    """The registered constraint names.

    >>> "max_norm" in names()
    True
    """
    return _registry.names(_KIND)


def get(identifier: Any) -> Any:
    """Resolve a constraint: a name, a config dict, a class, a callable or None.

    >>> type(get("non_neg")).__name__, get(None)
    ('NonNeg', None)
    """
    return _registry.resolve(_KIND, identifier, "constraints")


def serialize(constraint: Any) -> Any:
    """A JSON-able form: ``{"class_name": ..., "config": ...}`` (or a name).

    >>> serialize(MaxNorm(3.0))
    {'class_name': 'MaxNorm', 'config': {'max_value': 3.0, 'axis': 0}}
    """
    return _registry.serialize(_KIND, constraint, Constraint, "constraints")


def deserialize(config: Any) -> Any:
    """Inverse of :func:`serialize`.

    >>> deserialize({"class_name": "UnitNorm", "config": {"axis": 1}}).axis
    1
    """
    return _registry.deserialize(_KIND, config, "constraints")


# Keras's lowercase aliases: ``keras.constraints.max_norm(2.0)``.
max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm
