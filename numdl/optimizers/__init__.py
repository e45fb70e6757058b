"""Optimizers, as Keras 3: ``numdl.optimizers.get("adam")``, ``SGD(0.1)``, ...

Every optimizer updates ``param.data`` in place, through
``apply_gradients(zip(grads, params))`` (Keras) or ``step(params)`` with
``zero_grad(params)`` (PyTorch). Learning rate schedules live in
:mod:`numdl.optimizers.schedules`.

>>> import numdl
>>> type(get("adam")).__name__, names()[:3]
('Adam', ['adadelta', 'adagrad', 'adam'])
"""

from __future__ import annotations

import inspect
from typing import Any

from numdl import registry as _registry
from numdl.optimizers import schedules
from numdl.optimizers.adadelta import Adadelta
from numdl.optimizers.adagrad import Adagrad
from numdl.optimizers.adam import Adam, Adamax, AdamW, Nadam
from numdl.optimizers.base import Optimizer
from numdl.optimizers.lion import Lion
from numdl.optimizers.rmsprop import RMSprop
from numdl.optimizers.sgd import SGD

_KIND = "optimizer"


def names() -> list[str]:
    """The registered optimizer names.

    >>> "sgd" in names()
    True
    """
    return _registry.names(_KIND)


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` (JSON-able unless a plain callable
    is the learning rate).

    >>> serialize(SGD(0.1))["config"]["learning_rate"]
    0.1
    """
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any]) -> Optimizer:
    """Inverse of :func:`serialize`; the class name is case-insensitive.

    >>> deserialize({"class_name": "Adam", "config": {"beta_1": 0.8}}).beta_1
    0.8
    """
    cls = _registry.get(_KIND, config["class_name"])
    return cls.from_config(dict(config.get("config", {})))


def get(identifier: Any) -> Optimizer | None:
    """Resolve an optimizer: a name, a config dict, a class or an instance.

    A name (``"adam"``, ``"Adam"``) or a class gives a new instance with the
    defaults, a dict is deserialized, an instance passes through.

    >>> type(get("rmsprop")).__name__, get(None)
    ('RMSprop', None)
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    obj = (
        _registry.get(_KIND, identifier) if isinstance(identifier, str) else identifier
    )
    if inspect.isclass(obj) and issubclass(obj, Optimizer):
        return obj()
    if isinstance(obj, Optimizer):
        return obj
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "names",
    "schedules",
]
