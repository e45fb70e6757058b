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


def resolve(kind: str, identifier: Any, module: str, factories: tuple = ()) -> Any:
    """Keras's ``get``: None, a name, a config dict, a class or a callable.

    Names and classes (and the registered ``factories``) give a new instance
    with default arguments; a config dict goes through :func:`deserialize`;
    other callables pass through.

    >>> type(resolve("initializer", "ones", "initializers")).__name__
    'Ones'
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(kind, identifier, module, factories)
    obj = get(kind, identifier) if isinstance(identifier, str) else identifier
    if isinstance(obj, type) or obj in factories:
        return obj()
    if callable(obj):
        return obj
    raise ValueError(
        f"{module}.get: could not interpret {kind} identifier {identifier!r}"
    )


def serialize(kind: str, obj: Any, base: type, module: str) -> Any:
    """``{"class_name", "config"}`` for instances of ``base``, else a name.

    >>> from numdl.initializers import Initializer, Constant
    >>> serialize("initializer", Constant(2.0), Initializer, "initializers")
    {'class_name': 'Constant', 'config': {'value': 2.0}}
    """
    if isinstance(obj, base):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    name = name_of(kind, obj) or getattr(obj, "__name__", None)
    if name is None:
        raise ValueError(f"{module}.serialize: cannot serialize {obj!r}")
    return name


def deserialize(kind: str, config: Any, module: str, factories: tuple = ()) -> Any:
    """Inverse of :func:`serialize`: a name or ``{"class_name", "config"}``.

    >>> c = deserialize("constraint", {"class_name": "MaxNorm", "config": {}}, "c")
    >>> type(c).__name__
    'MaxNorm'
    """
    if isinstance(config, str):
        return resolve(kind, config, module, factories)
    if isinstance(config, dict) and "class_name" in config:
        cls = get(kind, config["class_name"])
        if isinstance(cls, type):
            return cls.from_config(dict(config.get("config") or {}))
        return resolve(kind, cls, module, factories)
    raise ValueError(f"{module}.deserialize: could not interpret {config!r}")
