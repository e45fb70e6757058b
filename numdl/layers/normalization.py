"""Normalisation layers: BatchNormalization, LayerNormalization, UnitNormalization.

Keras 3's argument names, defaults, formulas, weight order and configs. The
batch and layer normalisations run as single fused ops with hand-written
backward (``numdl.ops.norm``).

Where Keras and PyTorch differ:

- momentum: Keras updates ``moving = momentum * moving + (1 - momentum) *
  batch`` with ``momentum=0.99``; ``torch.nn.BatchNorm*d(momentum=0.01)`` is
  the same average.
- the moving variance: Keras (and numdl) average the *biased* batch variance
  (divided by n); PyTorch's ``running_var`` averages the unbiased one (divided
  by n - 1). Both normalise the batch itself with the biased variance.
- epsilon: Keras's default is 1e-3, PyTorch's 1e-5.
"""

from __future__ import annotations

from typing import Any

from numdl.layers.base import InputSpec, Layer
from numdl.ops.norm import batch_norm, batch_normalization, layer_norm


def _serialize(module: Any, obj: Any) -> Any:
    return None if obj is None else module.serialize(obj)


def _axis_list(layer: Layer, axis: Any) -> Any:
    """Keras's ``axis`` argument: an int, or a list for a list/tuple of ints."""
    if isinstance(axis, (list, tuple)):
        if all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            return list(axis)
    elif isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    raise TypeError(
        f"{type(layer).__name__} {layer.name!r}: axis must be an int or a list/tuple "
        f"of ints, got {axis!r}"
    )


def _check_axes(layer: Layer, axes: list[int], input_shape: Any) -> None:
    """Every axis in range and of known size, else an error naming the layer."""
    ndim = len(input_shape)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{type(layer).__name__} {layer.name!r}: axis {a} is out of range "
                f"for inputs of shape {tuple(input_shape)} (axis={layer.axis!r})"
            )
        if input_shape[a] is None:
            raise ValueError(
                f"{type(layer).__name__} {layer.name!r}: the size of axis {a} must be "
                f"known, got inputs of shape {tuple(input_shape)}"
            )


def _spec_for(axes: list[int], input_shape: Any) -> InputSpec:
    """Inputs of at least the built rank's needs, with the normalised sizes."""
    ndim = len(input_shape)
    need = max(a + 1 if a >= 0 else -a for a in axes)
    return InputSpec(min_ndim=need, axes={a: input_shape[a % ndim] for a in axes})


class _AffineNormalization(Layer):
    """Shared settings of batch and layer normalisation: gamma and beta."""

    def _affine_settings(self, initializers_and_co: dict[str, Any]) -> None:
        from numdl import constraints, initializers, regularizers

        kinds = {
            "initializer": initializers.get,
            "regularizer": regularizers.get,
            "constraint": constraints.get,
        }
        for name, value in initializers_and_co.items():
            setattr(self, name, kinds[name.split("_")[-1]](value))

    def _add_gamma_beta(self, shape: tuple[int, ...], gamma: bool, beta: bool) -> None:
        self.gamma = self.beta = None
        if gamma:
            self.gamma = self.add_weight(
                shape,
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                name="gamma",
            )
        if beta:
            self.beta = self.add_weight(
                shape,
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                name="beta",
            )

    def _affine_config(self) -> dict[str, Any]:
        from numdl import constraints, initializers, regularizers

        return {
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": _serialize(regularizers, self.beta_regularizer),
            "gamma_regularizer": _serialize(regularizers, self.gamma_regularizer),
            "beta_constraint": _serialize(constraints, self.beta_constraint),
            "gamma_constraint": _serialize(constraints, self.gamma_constraint),
        }

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output has the shape of the input."""
        return input_shape


class BatchNormalization(_AffineNormalization):
    """Normalise each channel with batch statistics (training) or moving ones.

    Training (``training=True`` and the layer trainable): ``gamma * (x -
    mean) / sqrt(var + epsilon) + beta`` with the mean and biased variance of
    the batch over every axis but ``axis``, and in-place updates
    ``moving = momentum * moving + (1 - momentum) * batch``. Inference (the
    default, or ``trainable=False``, as in Keras 3): the moving statistics.
    Weights in Keras's order: gamma, beta, moving_mean, moving_variance.

    >>> import numpy as np
    >>> bn = BatchNormalization()
    >>> y = bn(np.array([[1.0, 2.0], [3.0, 6.0]]), training=True)
    >>> print(bn.moving_mean.numpy())
    [0.02 0.04]
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(
                f"BatchNormalization {self.name!r}: axis must be an int, got {axis!r}"
            )
        if synchronized:
            raise ValueError(
                f"BatchNormalization {self.name!r}: synchronized=True needs "
                f"distributed training (TensorFlow backend in Keras); numdl "
                f"trains on one device"
            )
        self.axis = int(axis)
        self.synchronized = synchronized
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self._affine_settings(
            {
                "beta_initializer": beta_initializer,
                "gamma_initializer": gamma_initializer,
                "moving_mean_initializer": moving_mean_initializer,
                "moving_variance_initializer": moving_variance_initializer,
                "beta_regularizer": beta_regularizer,
                "gamma_regularizer": gamma_regularizer,
                "beta_constraint": beta_constraint,
                "gamma_constraint": gamma_constraint,
            }
        )

    def build(self, input_shape: Any) -> None:
        _check_axes(self, [self.axis], input_shape)
        shape = (input_shape[self.axis],)
        self._add_gamma_beta(shape, self.scale, self.center)
        self.moving_mean = self.add_weight(
            shape,
            initializer=self.moving_mean_initializer,
            trainable=False,
            name="moving_mean",
        )
        self.moving_variance = self.add_weight(
            shape,
            initializer=self.moving_variance_initializer,
            trainable=False,
            name="moving_variance",
        )
        self.input_spec = InputSpec(
            ndim=len(input_shape), axes={self.axis: input_shape[self.axis]}
        )

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training and self.trainable:
            outputs, mean, variance = batch_norm(
                inputs, self.gamma, self.beta, axis=self.axis, epsilon=self.epsilon
            )
            self._update_moving(self.moving_mean, mean)
            self._update_moving(self.moving_variance, variance)
            return outputs
        return batch_normalization(
            inputs,
            self.moving_mean,
            self.moving_variance,
            axis=self.axis,
            offset=self.beta,
            scale=self.gamma,
            epsilon=self.epsilon,
        )

    def _update_moving(self, variable: Any, batch_value: Any) -> None:
        """``moving = moving * momentum + batch * (1 - momentum)``, in place."""
        momentum = self.momentum
        value = variable.data * momentum + batch_value * (1.0 - momentum)
        variable.data[...] = value

    def get_config(self) -> dict[str, Any]:
        from numdl import initializers

        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **self._affine_config(),
            "moving_mean_initializer": initializers.serialize(
                self.moving_mean_initializer
            ),
            "moving_variance_initializer": initializers.serialize(
                self.moving_variance_initializer
            ),
            "synchronized": self.synchronized,
        }


class LayerNormalization(_AffineNormalization):
    """Normalise each sample over ``axis``: ``(x - mean) / sqrt(var + eps)``.

    Then ``* gamma + beta``, both spanning ``axis`` (Keras's layer; one fused
    op). ``rms_scaling=True`` is Keras's variant ``x / sqrt(var + epsilon) *
    gamma`` (the variance, not the mean square; no beta), which Keras 3.9+
    keeps but deprecates in favour of ``RMSNormalization``. As in Keras, an
    int ``axis`` becomes a one-element list when the layer is built.

    >>> import numpy as np
    >>> LayerNormalization(epsilon=0.0)(np.array([[1.0, 3.0]])).numpy().tolist()
    [[-1.0, 1.0]]
    """

    def __init__(
        self,
        axis: int | list[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        rms_scaling: bool = False,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = _axis_list(self, axis)
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.rms_scaling = rms_scaling
        self._affine_settings(
            {
                "beta_initializer": beta_initializer,
                "gamma_initializer": gamma_initializer,
                "beta_regularizer": beta_regularizer,
                "gamma_regularizer": gamma_regularizer,
                "beta_constraint": beta_constraint,
                "gamma_constraint": gamma_constraint,
            }
        )

    def build(self, input_shape: Any) -> None:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        _check_axes(self, axes, input_shape)
        shape = tuple(input_shape[a] for a in axes)
        self.axis = axes
        self._add_gamma_beta(
            shape,
            gamma=self.scale or self.rms_scaling,
            beta=self.center and not self.rms_scaling,
        )
        self.input_spec = _spec_for(axes, input_shape)

    def call(self, inputs: Any) -> Any:
        return layer_norm(
            inputs,
            self.gamma,
            self.beta,
            axis=self.axis,
            epsilon=self.epsilon,
            rms_scaling=self.rms_scaling,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            **self._affine_config(),
        }


class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm over ``axis``.

    ``x / sqrt(max(sum(x**2, axis), 1e-12))`` (Keras's formula; the same as
    ``torch.nn.functional.normalize(x, dim=axis, eps=1e-6)``).

    >>> import numpy as np
    >>> print(UnitNormalization()(np.array([[3.0, 4.0]])).numpy())
    [[0.6 0.8]]
    """

    def __init__(self, axis: int | list[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = _axis_list(self, axis)

    def build(self, input_shape: Any) -> None:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in axes):
            raise ValueError(
                f"UnitNormalization {self.name!r}: axis={self.axis!r} is out of "
                f"range for inputs of shape {tuple(input_shape)}"
            )

    def call(self, inputs: Any) -> Any:
        from numdl import ops

        if inputs.dtype != self.dtype:
            inputs = ops.cast(inputs, self.dtype)
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        square_sum = ops.sum(ops.square(inputs), axis=axis, keepdims=True)
        return ops.divide(inputs, ops.sqrt(ops.maximum(square_sum, 1e-12)))

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output has the shape of the input."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
