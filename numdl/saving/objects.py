"""Custom classes and functions that configs can name: ``register_serializable``.

A config (``model.get_config()``, a saved model) names layers, activations,
losses, metrics, initializers, regularizers, constraints and optimizers by
string; loading looks the names up in :mod:`numdl.registry`. Registering a
custom object puts it there under ``"package>name"`` (Keras's
``register_keras_serializable``) and, when that is free, under its plain name.
``custom_object_scope`` does the same for the duration of a ``with`` block.
Nothing is ever imported from a name: an unknown name is an error.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from numdl import registry

_FUNCTION_KINDS = ("activation", "loss", "metric")


def _kinds(obj: Any) -> tuple[str, ...]:
    """The registry kinds an object belongs to."""
    from numdl.constraints import Constraint
    from numdl.initializers import Initializer
    from numdl.layers.base import Layer
    from numdl.losses import Loss
    from numdl.metrics import Metric
    from numdl.optimizers import Optimizer
    from numdl.regularizers import Regularizer

    if not inspect.isclass(obj):
        return _FUNCTION_KINDS if callable(obj) else ()
    bases = {
        "layer": Layer,
        "loss": Loss,
        "metric": Metric,
        "initializer": Initializer,
        "regularizer": Regularizer,
        "constraint": Constraint,
        "optimizer": Optimizer,
    }
    return tuple(kind for kind, base in bases.items() if issubclass(obj, base))


def register_serializable(
    package: str = "Custom", name: str | None = None
) -> Callable[[Any], Any]:
    """Decorator: make a custom class or function loadable by name.

    >>> import numpy as np
    >>> from numdl import activations
    >>> @register_serializable(package="Demo")
    ... def double_relu(x):
    ...     return 2 * activations.relu(x)
    >>> activations.get("Demo>double_relu") is double_relu
    True
    """

    def decorate(obj: Any) -> Any:
        kinds = _kinds(obj)
        if not kinds:
            raise ValueError(
                f"register_serializable: expected a class (Layer, Loss, Metric, "
                f"initializer, regularizer, constraint, optimizer) or a function, "
                f"got {obj!r}"
            )
        plain = name or obj.__name__
        for kind in kinds:
            registry.register(kind, f"{package}>{plain}")(obj)
            if plain not in registry.names(kind):
                registry.register(kind, plain)(obj)
        return obj

    return decorate


@contextlib.contextmanager
def custom_object_scope(objects: dict[str, Any] | None) -> Iterator[None]:
    """Make ``objects`` (name -> class or function) resolvable inside the block.

    >>> from numdl import activations
    >>> def triple(x):
    ...     return 3 * x
    >>> with custom_object_scope({"triple": triple}):
    ...     activations.get("triple") is triple
    True
    >>> "triple" in registry.names("activation")
    False
    """
    added: list[tuple[dict[str, Any], str]] = []
    try:
        for key, obj in (objects or {}).items():
            for kind in _kinds(obj):
                table = registry._REGISTRIES.setdefault(kind, {})
                if key not in table:
                    table[key] = obj
                    added.append((table, key))
        yield
    finally:
        for table, key in added:
            table.pop(key, None)
