"""``Input`` and ``InputLayer``: where a functional or Sequential model starts."""

from __future__ import annotations

from typing import Any

from numdl.layers.base import Layer
from numdl.layers.symbolic import KerasTensor, Node


class InputLayer(Layer):
    """The entry point of a model: holds the input's shape and dtype.

    >>> InputLayer(shape=(28, 28)).batch_shape
    (None, 28, 28)
    """

    def __init__(
        self,
        shape: Any = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        batch_shape: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if "input_shape" in kwargs and shape is None:
            shape = kwargs.pop("input_shape")
        super().__init__(name=name, dtype=dtype, **kwargs)
        if sparse:
            raise ValueError(
                f"InputLayer {self.name!r}: sparse inputs are not supported"
            )
        if batch_shape is None:
            if shape is None:
                raise ValueError(
                    f"InputLayer {self.name!r}: give shape=(...) (without the batch "
                    f"axis) or batch_shape=(...)"
                )
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        self.batch_shape = tuple(batch_shape)
        self.built = True
        self.output = KerasTensor(self.batch_shape, self.dtype, name=self.name)
        Node(self, (), {}, self.output)

    def call(self, inputs: Any) -> Any:
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_shape": list(self.batch_shape),
            "dtype": self.dtype,
            "sparse": False,
            "name": self.name,
        }


def Input(  # noqa: N802 (Keras's name)
    shape: Any = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
    batch_shape: Any = None,
    name: str | None = None,
) -> KerasTensor:
    """A symbolic model input: ``Input(shape=(784,))`` (batch axis left out).

    >>> x = Input(shape=(784,), name="pixels")
    >>> x.shape, x.name
    ((None, 784), 'pixels')
    """
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        name=name,
    )
    return layer.output
