"""Switch graph recording off (``no_grad``) and back on (``enable_grad``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class _State:
    enabled = True


def is_grad_enabled() -> bool:
    """Return True while operations record the graph for backward.

    >>> is_grad_enabled()
    True
    """
    return _State.enabled


class _GradMode:
    """Context manager and decorator that sets the grad mode inside it.

    Used as ``with no_grad():``, ``@no_grad()`` or ``@no_grad`` (PyTorch
    accepts all three). The previous mode is restored on exit, also after an
    exception, and one object may be entered again while it is active.
    """

    mode = True

    def __new__(cls, fn: Callable | None = None) -> Any:
        self = super().__new__(cls)
        self._previous = []
        return self(fn) if fn is not None else self

    def __enter__(self) -> None:
        self._previous.append(_State.enabled)
        _State.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        _State.enabled = self._previous.pop()

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Do not record operations: no graph, no gradients, less memory.

    >>> import numdl
    >>> x = numdl.tensor([1.0], requires_grad=True)
    >>> with numdl.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    mode = False


class enable_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Record operations again inside a ``no_grad`` block.

    >>> import numdl
    >>> with numdl.no_grad(), numdl.enable_grad():
    ...     numdl.autograd.grad_mode.is_grad_enabled()
    True
    """

    mode = True
