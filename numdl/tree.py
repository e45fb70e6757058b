"""Nested structures of lists, tuples and dicts ("trees"), as Keras's ``tree``.

Models take and return such structures (several inputs as a list, named
outputs as a dict); these helpers walk them in a fixed order: sequences in
order, dicts by sorted key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def is_nested(x: Any) -> bool:
    """True for lists, tuples and dicts.

    >>> is_nested([1, 2]), is_nested(3)
    (True, False)
    """
    return isinstance(x, (list, tuple, dict))


def flatten(x: Any) -> list[Any]:
    """Return the leaves of ``x`` in order (dicts by sorted key).

    >>> flatten([1, (2, 3), {"b": 5, "a": 4}])
    [1, 2, 3, 4, 5]
    """
    if isinstance(x, dict):
        return [leaf for key in sorted(x) for leaf in flatten(x[key])]
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in flatten(item)]
    return [x]


def map_structure(fn: Callable[[Any], Any], x: Any) -> Any:
    """Apply ``fn`` to every leaf, keeping the structure.

    >>> map_structure(lambda v: v * 10, [1, {"a": 2}])
    [10, {'a': 20}]
    """
    if isinstance(x, dict):
        return {key: map_structure(fn, value) for key, value in x.items()}
    if isinstance(x, (list, tuple)):
        items = [map_structure(fn, item) for item in x]
        return items if isinstance(x, list) else type(x)(items)
    return fn(x)


def pack_sequence_as(structure: Any, leaves: list[Any]) -> Any:
    """Put ``leaves`` (as ``flatten`` orders them) back into ``structure``.

    >>> pack_sequence_as([0, {"b": 0, "a": 0}], [1, 2, 3])
    [1, {'b': 3, 'a': 2}]
    """
    it = iter(leaves)

    def fill(s: Any) -> Any:
        if isinstance(s, dict):
            filled = {key: fill(s[key]) for key in sorted(s)}
            return {key: filled[key] for key in s}
        if isinstance(s, (list, tuple)):
            items = [fill(item) for item in s]
            return items if isinstance(s, list) else type(s)(items)
        return next(it)

    return fill(structure)
