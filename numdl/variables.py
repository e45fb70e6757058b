"""``Variable``: a named, trainable Tensor owned by a layer (a weight).

A Variable is a leaf Tensor whose ``requires_grad`` follows its ``trainable``
flag, with the extras a layer needs: a ``name`` ("dense/kernel"), an optional
regularizer (a penalty added to the loss) and constraint (applied to the value
after each optimizer update), and ``assign`` to change its value in place.
"""

from __future__ import annotations

from typing import Any

from numdl.autograd.tensor import Tensor
from numdl.backend import array_module, to_numpy


class Variable(Tensor):
    """A layer weight: a leaf Tensor with a name and a trainable flag.

    >>> import numpy as np
    >>> v = Variable(np.zeros((2, 3), "float32"), name="kernel")
    >>> v.shape, v.trainable, v.requires_grad
    ((2, 3), True, True)
    """

    __slots__ = ("_trainable", "regularizer", "constraint", "path")

    def __init__(
        self,
        value: Any,
        trainable: bool = True,
        name: str | None = None,
        regularizer: Any = None,
        constraint: Any = None,
    ) -> None:
        super().__init__(value, requires_grad=trainable, name=name)
        self._trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint
        self.path = name

    @property
    def trainable(self) -> bool:
        """Whether an optimizer updates this variable (sets ``requires_grad``)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        self.requires_grad = bool(value)

    def assign(self, value: Any) -> None:
        """Overwrite the value in place (same shape; cast to the variable's dtype).

        >>> import numpy as np
        >>> v = Variable(np.zeros(2, "float32"))
        >>> v.assign([1.0, 2.0]); v.numpy().tolist()
        [1.0, 2.0]
        """
        value = value.data if isinstance(value, Tensor) else value
        xp = array_module(self.data)
        value = xp.asarray(value)
        if value.shape != self.data.shape:
            raise ValueError(
                f"Variable {self.name!r}: cannot assign a value of shape "
                f"{value.shape} to a variable of shape {self.data.shape}"
            )
        self.data[...] = value

    def numpy(self) -> Any:
        """Return a NumPy copy of the value (safe to modify).

        >>> import numpy as np
        >>> Variable(np.ones(2, "float32")).numpy().tolist()
        [1.0, 1.0]
        """
        return to_numpy(self.data).copy()

    def __repr__(self) -> str:
        return (
            f"<Variable path={self.path!r}, shape={self.shape}, "
            f"dtype={self.dtype}, trainable={self.trainable}>"
        )
