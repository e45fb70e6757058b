"""Core layers: Dense (more are added next to it)."""

from __future__ import annotations

from typing import Any

from numdl import activations
from numdl.layers.base import InputSpec, Layer
from numdl.ops.nn import dense


def _serialize(module: Any, obj: Any) -> Any:
    return None if obj is None else module.serialize(obj)


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``: a fully connected layer.

    The kernel has Keras's layout ``(input_dim, units)``. Matmul, bias and a
    ReLU activation run as one fused op (``numdl.ops.dense``).

    >>> import numpy as np
    >>> layer = Dense(3, activation="relu")
    >>> layer(np.ones((2, 5))).shape
    (2, 3)
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        from numdl import constraints, initializers, regularizers

        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                f"Dense {self.name!r}: units must be a positive integer, got {units!r}"
            )
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)
        # relu with default arguments fuses into the dense op.
        self._fused_relu = self.activation is activations.relu

    def build(self, input_shape: Any) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"Dense {self.name!r}: the last axis of the inputs must be known, "
                f"got shape {input_shape}"
            )
        self.kernel = self.add_weight(
            (input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                (self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})

    def call(self, inputs: Any) -> Any:
        out = dense(inputs, self.kernel, self.bias, relu=self._fused_relu)
        if self._fused_relu or self.activation is activations.linear:
            return out
        return self.activation(out)

    def get_config(self) -> dict[str, Any]:
        from numdl import constraints, initializers, regularizers

        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize(regularizers, self.kernel_regularizer),
            "bias_regularizer": _serialize(regularizers, self.bias_regularizer),
            "kernel_constraint": _serialize(constraints, self.kernel_constraint),
            "bias_constraint": _serialize(constraints, self.bias_constraint),
        }
