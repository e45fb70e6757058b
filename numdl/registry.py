"""Name registries: ``@register("activation", "relu")`` makes "relu" resolvable.

Adding an activation, loss, optimizer or initializer touches only its own
module: it registers itself here, and ``get(kind, name)`` finds it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_REGISTRIES: dict[str, dict[str, Any]] = {}


def register(kind: str, *names: str) -> Callable[[Any], Any]:
    """Decorator that registers an object under one or more names of ``kind``.

    >>> @register("demo", "twice")
    ... def twice(x): return 2 * x
    >>> get("demo", "twice")(3)
    6
    """

    def decorate(obj: Any) -> Any:
        table = _REGISTRIES.setdefault(kind, {})
        for name in names:
            if name in table and table[name] is not obj:
                raise ValueError(f"register: {kind} {name!r} is already registered")
            table[name] = obj
        return obj

    return decorate


def names(kind: str) -> list[str]:
    """Return the sorted names registered for ``kind``.

    >>> "relu" in names("activation")
    True
    """
    return sorted(_REGISTRIES.get(kind, {}))


def get(kind: str, identifier: Any) -> Any:
    """Resolve a registered name; non-strings (callables, objects) pass through.

    >>> get("activation", "relu").__name__
    'relu'
    """
    if not isinstance(identifier, str):
        return identifier
    table = _REGISTRIES.get(kind, {})
    key = identifier if identifier in table else identifier.lower()
    if key not in table:
        raise ValueError(
            f"Unknown {kind} {identifier!r}. Valid names: {', '.join(names(kind))}"
        )
    return table[key]


def name_of(kind: str, obj: Any) -> str | None:
    """Return the first registered name of ``obj`` in ``kind``, or None.

    >>> name_of("activation", get("activation", "relu"))
    'relu'
    """
    for name, value in _REGISTRIES.get(kind, {}).items():
        if value is obj:
            return name
    return None
