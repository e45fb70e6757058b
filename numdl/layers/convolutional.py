"""Convolution layers (Keras 3's ``layers/convolutional``).

``Conv1D``, ``Conv2D``, ``DepthwiseConv1D``, ``DepthwiseConv2D``,
``SeparableConv1D``, ``SeparableConv2D``, ``Conv1DTranspose`` and
``Conv2DTranspose`` with Keras's arguments, defaults, kernel layouts, weight
names, output shapes and configs; ``channels_last`` (default) or
``channels_first`` inputs. The arithmetic is in :mod:`numdl.ops.conv`: one
fused op per convolution (bias, and a ``"relu"`` activation, included).

As in Keras, ``strides > 1`` together with ``dilation_rate > 1`` is refused
(the op itself computes both; the layers follow Keras).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numdl import activations, config
from numdl.autograd.tensor import _data
from numdl.layers.base import InputSpec, Layer, positive_int, runs_on_arrays
from numdl.ops.conv import _tuple as conv_tuple
from numdl.ops.conv import (
    conv,
    conv_output_length,
    conv_transpose,
    conv_transpose_output_length,
    depthwise_conv,
    separable_conv,
)

_LAYOUTS = {
    (1, False): "(batch, steps, channels)",
    (1, True): "(batch, channels, steps)",
    (2, False): "(batch, height, width, channels)",
    (2, True): "(batch, channels, height, width)",
}


class _Conv(Layer):
    """What every convolution layer shares: argument checks (errors name the
    layer), the channel axis, input checks with hints, output shapes."""

    rank = 2

    def _set_geometry(
        self,
        kernel_size: Any,
        strides: Any,
        padding: Any,
        data_format: Any,
        dilation_rate: Any,
        allow_causal: bool = False,
    ) -> None:
        self.kernel_size = self._tuple(kernel_size, "kernel_size")
        self.strides = self._tuple(strides, "strides")
        self.dilation_rate = self._tuple(dilation_rate, "dilation_rate")
        allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
        lowered = padding.lower() if isinstance(padding, str) else padding
        if lowered not in allowed:
            raise ValueError(
                f"{self._label()}: padding must be one of "
                f"{', '.join(map(repr, allowed))}, got {padding!r}"
            )
        self.padding = lowered
        try:
            self.data_format = config.standardize_data_format(data_format)
        except ValueError as err:
            raise ValueError(f"{self._label()}: {err}") from None
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{self._label()}: strides > 1 together with dilation_rate > 1 is "
                f"not supported (as in Keras), got strides={self.strides} and "
                f"dilation_rate={self.dilation_rate}"
            )
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _tuple(self, value: Any, what: str, minimum: int = 1) -> tuple[int, ...]:
        return conv_tuple(value, self.rank, what, self._label(), minimum)

    # --------------------------------------------------------- input checks
    @property
    def _channels_first(self) -> bool:
        return self.data_format == "channels_first"

    def _check_rank(self, shape: tuple) -> None:
        """Inputs must have ``rank + 2`` axes; one short gets the channel hint."""
        rank = self.rank
        if len(shape) == rank + 2:
            return
        expected = _LAYOUTS[(rank, self._channels_first)]
        message = (
            f"{self._label()} expects {rank + 2}-D inputs {expected}, got shape "
            f"{tuple(shape)}"
        )
        if len(shape) == rank + 1:
            sizes = tuple(shape[1:])
            if self._channels_first:
                target, index = (1,) + sizes, "x[:, None]"
            else:
                target, index = sizes + (1,), "x[..., None]"
            reshape = "" if None in sizes else f"layers.Reshape({target}) or "
            message += (
                f": the inputs have no channel axis. For single-channel data add "
                f"one with {reshape}{index}"
            )
        raise ValueError(message)

    # Eager calls check the real shape first, so that errors show the batch size.
    def _maybe_build(self, inputs: Any) -> None:
        if hasattr(inputs, "shape"):
            self._check_rank(tuple(inputs.shape))
        super()._maybe_build(inputs)

    def _check_input_spec(self, inputs: Any) -> None:
        if hasattr(inputs, "shape"):
            self._check_rank(tuple(inputs.shape))
        super()._check_input_spec(inputs)

    def _input_channels(self, input_shape: Any) -> int:
        """Check the input shape before building; return its channel count."""
        self._check_rank(tuple(input_shape))
        axis = 1 if self._channels_first else -1
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(
                f"{self._label()}: the channel axis of the inputs must be known, "
                f"got shape {tuple(input_shape)}"
            )
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={axis: channels})
        return channels

    def _spatial(self, input_shape: Any) -> tuple:
        shape = tuple(input_shape)
        return shape[2:] if self._channels_first else shape[1:-1]

    def _output_shape(self, input_shape: Any, channels: int, lengths: list) -> tuple:
        batch = tuple(input_shape)[0]
        if self._channels_first:
            return (batch, channels, *lengths)
        return (batch, *lengths, channels)

    def _conv_lengths(self, input_shape: Any) -> list:
        """Output lengths of a (non-transposed) convolution; raise when the
        kernel does not fit the (padded) input."""
        lengths = []
        spatial = self._spatial(input_shape)
        for axis, n in enumerate(spatial):
            k, s = self.kernel_size[axis], self.strides[axis]
            d = self.dilation_rate[axis]
            length = conv_output_length(n, k, s, self.padding, d)
            if length is not None and (length <= 0 or n == 0):
                dilated = (k - 1) * d + 1
                dil = f" (dilated to {dilated})" if d > 1 else ""
                raise ValueError(
                    f"{self._label()}: the kernel size {k}{dil} is larger than the "
                    f"input size {n} (padding {self.padding!r}) along spatial "
                    f"axis {axis}; inputs of shape {tuple(input_shape)}, "
                    f"kernel_size {self.kernel_size}"
                )
            lengths.append(length)
        return lengths

    @property
    def _fused_relu(self) -> bool:
        """Whether ReLU runs inside the convolution op (numdl's relu, default
        arguments). Read at each call, so an activation set after
        construction takes effect, as in Keras."""
        return self.activation is activations.relu

    def _output(self, out: Any) -> Any:
        if self.activation is activations.linear:
            return out
        return self.activation(out)


# ------------------------------------------------------------- convolution
class BaseConv(_Conv):
    """N-D convolution layer (Keras's ``BaseConv``); subclasses set ``rank``.

    >>> Conv1D.rank, Conv2D.rank
    (1, 2)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
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

        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.groups = positive_int(self, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"{self._label()}: filters ({self.filters}) must be a multiple of "
                f"groups ({self.groups})"
            )
        self._set_geometry(
            kernel_size, strides, padding, data_format, dilation_rate,
            allow_causal=self.rank == 1,
        )  # fmt: skip
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self._set_weight_options(
            "kernel", kernel_initializer, kernel_regularizer, kernel_constraint
        )
        self._set_weight_options(
            "bias", bias_initializer, bias_regularizer, bias_constraint
        )

    def build(self, input_shape: Any) -> None:
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"{self._label()}: the input channels ({channels}) must be a "
                f"multiple of groups ({self.groups}); inputs of shape "
                f"{tuple(input_shape)}"
            )
        self._conv_lengths(input_shape)
        self.kernel = self._add_weight_from_options(
            "kernel", self.kernel_size + (channels // self.groups, self.filters)
        )
        self.bias = None
        if self.use_bias:
            self.bias = self._add_weight_from_options("bias", (self.filters,))

    def call(self, inputs: Any) -> Any:
        return self._convolve(inputs, self.kernel, self.bias)

    def _convolve(self, inputs: Any, kernel: Any, bias: Any) -> Any:
        out = conv(
            inputs, kernel, self.strides, self.padding, self.data_format,
            self.dilation_rate, bias=bias, relu=self._fused_relu, name=self._label(),
        )  # fmt: skip
        return out if self._fused_relu else self._output(out)

    def _array_fn(self) -> Callable[[Any], Any] | None:
        return self._call_on_array if runs_on_arrays(self, BaseConv.call) else None

    def _call_on_array(self, x: Any) -> Any:
        """``call`` on a host array: the op's forward alone, no Tensor, no graph."""
        return self._convolve(x, self.kernel.data, _data(self.bias))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return self._output_shape(
            input_shape, self.filters, self._conv_lengths(input_shape)
        )

    def get_config(self) -> dict[str, Any]:

        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_options_config("kernel", "bias"),
        }


class Conv1D(BaseConv):
    """1-D convolution over steps: ``(batch, steps, channels)`` inputs.

    Kernel ``(kernel_size, channels // groups, filters)``. ``padding`` may also
    be ``"causal"``: zeros on the left only, so ``output[t]`` never sees
    ``inputs[t + 1:]``.

    >>> import numpy as np
    >>> Conv1D(4, 3, padding="causal")(np.ones((2, 10, 3))).shape
    (2, 10, 4)
    """

    rank = 1


class Conv2D(BaseConv):
    """2-D convolution over images: ``(batch, height, width, channels)`` inputs.

    Kernel ``(kh, kw, channels // groups, filters)``; ``"same"`` padding puts
    the extra row/column of an odd total at the bottom/right (Keras, TF).

    >>> import numpy as np
    >>> Conv2D(32, 3, activation="relu")(np.ones((2, 28, 28, 1))).shape
    (2, 26, 26, 32)
    """

    rank = 2


# ------------------------------------------------------ depthwise, separable
class BaseDepthwiseConv(_Conv):
    """Depthwise convolution layer (Keras's ``BaseDepthwiseConv``).

    >>> DepthwiseConv2D(3, depth_multiplier=2).compute_output_shape((None, 9, 9, 4))
    (None, 7, 7, 8)
    """

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:

        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.depth_multiplier = positive_int(self, "depth_multiplier", depth_multiplier)
        self._set_geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self._set_weight_options(
            "depthwise",
            depthwise_initializer,
            depthwise_regularizer,
            depthwise_constraint,
        )
        self._set_weight_options(
            "bias", bias_initializer, bias_regularizer, bias_constraint
        )

    def build(self, input_shape: Any) -> None:
        channels = self._input_channels(input_shape)
        self._conv_lengths(input_shape)
        self.kernel = self._add_weight_from_options(
            "depthwise",
            self.kernel_size + (channels, self.depth_multiplier),
            weight_name="kernel",
        )
        self.bias = None
        if self.use_bias:
            self.bias = self._add_weight_from_options(
                "bias", (channels * self.depth_multiplier,)
            )

    def call(self, inputs: Any) -> Any:
        out = depthwise_conv(
            inputs, self.kernel, self.strides, self.padding, self.data_format,
            self.dilation_rate, bias=self.bias, name=self._label(),
        )  # fmt: skip
        return self._output(out)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        channels = input_shape[1 if self._channels_first else -1]
        filters = None if channels is None else channels * self.depth_multiplier
        return self._output_shape(input_shape, filters, self._conv_lengths(input_shape))

    def get_config(self) -> dict[str, Any]:

        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_options_config("depthwise", "bias"),
        }


class DepthwiseConv1D(BaseDepthwiseConv):
    """Depthwise 1-D convolution: each channel with its own ``depth_multiplier``
    filters; kernel ``(kernel_size, channels, depth_multiplier)``.

    >>> import numpy as np
    >>> DepthwiseConv1D(3, depth_multiplier=2)(np.ones((2, 10, 4))).shape
    (2, 8, 8)
    """

    rank = 1


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise 2-D convolution; kernel ``(kh, kw, channels, depth_multiplier)``.

    Output channel ``c * depth_multiplier + j`` comes from input channel ``c``.

    >>> import numpy as np
    >>> DepthwiseConv2D(3, depth_multiplier=3)(np.ones((4, 10, 10, 12))).shape
    (4, 8, 8, 36)
    """

    rank = 2


class BaseSeparableConv(_Conv):
    """Depthwise then pointwise convolution (Keras's ``BaseSeparableConv``).

    >>> SeparableConv2D(5, 3).compute_output_shape((None, 9, 9, 4))
    (None, 7, 7, 5)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:

        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.depth_multiplier = positive_int(self, "depth_multiplier", depth_multiplier)
        self._set_geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self._set_weight_options(
            "depthwise",
            depthwise_initializer,
            depthwise_regularizer,
            depthwise_constraint,
        )
        self._set_weight_options(
            "pointwise",
            pointwise_initializer,
            pointwise_regularizer,
            pointwise_constraint,
        )
        self._set_weight_options(
            "bias", bias_initializer, bias_regularizer, bias_constraint
        )

    def build(self, input_shape: Any) -> None:
        channels = self._input_channels(input_shape)
        self._conv_lengths(input_shape)
        self.depthwise_kernel = self._add_weight_from_options(
            "depthwise",
            self.kernel_size + (channels, self.depth_multiplier),
            weight_name="depthwise_kernel",
        )
        self.pointwise_kernel = self._add_weight_from_options(
            "pointwise",
            (1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            weight_name="pointwise_kernel",
        )
        self.bias = None
        if self.use_bias:
            self.bias = self._add_weight_from_options("bias", (self.filters,))

    def call(self, inputs: Any) -> Any:
        out = separable_conv(
            inputs, self.depthwise_kernel, self.pointwise_kernel, self.strides,
            self.padding, self.data_format, self.dilation_rate, bias=self.bias,
            relu=self._fused_relu, name=self._label(),
        )  # fmt: skip
        return out if self._fused_relu else self._output(out)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return self._output_shape(
            input_shape, self.filters, self._conv_lengths(input_shape)
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_options_config("depthwise", "pointwise", "bias"),
        }


class SeparableConv1D(BaseSeparableConv):
    """Separable 1-D convolution: depthwise over steps, then pointwise.

    >>> import numpy as np
    >>> SeparableConv1D(8, 3)(np.ones((2, 10, 4))).shape
    (2, 8, 8)
    """

    rank = 1


class SeparableConv2D(BaseSeparableConv):
    """Separable 2-D convolution: depthwise kernel ``(kh, kw, C, m)`` then a
    pointwise kernel ``(1, 1, C * m, filters)``, bias after the pointwise step.

    >>> import numpy as np
    >>> SeparableConv2D(16, 3, padding="same")(np.ones((2, 8, 8, 3))).shape
    (2, 8, 8, 16)
    """

    rank = 2


# ------------------------------------------------------------- transposed
class BaseConvTranspose(_Conv):
    """Transposed convolution layer (Keras's ``BaseConvTranspose``).

    ``output_padding`` (each entry < its stride) may be given; Keras 3 takes
    it through ``**kwargs`` and leaves it out of ``get_config``, numdl keeps it
    in the config so that a round trip rebuilds the same layer.

    >>> Conv2DTranspose(4, 3, strides=2, output_padding=1).compute_output_shape(
    ...     (None, 5, 5, 2))
    (None, 12, 12, 4)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        output_padding: Any = None,
        **kwargs: Any,
    ) -> None:

        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = positive_int(self, "filters", filters)
        self._set_geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = self._tuple(output_padding, "output_padding", 0)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(
                    f"{self._label()}: output_padding must be less than strides, "
                    f"got output_padding={self.output_padding} and "
                    f"strides={self.strides}"
                )
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self._set_weight_options(
            "kernel", kernel_initializer, kernel_regularizer, kernel_constraint
        )
        self._set_weight_options(
            "bias", bias_initializer, bias_regularizer, bias_constraint
        )

    def build(self, input_shape: Any) -> None:
        channels = self._input_channels(input_shape)
        self.kernel = self._add_weight_from_options(
            "kernel", self.kernel_size + (self.filters, channels)
        )
        self.bias = None
        if self.use_bias:
            self.bias = self._add_weight_from_options("bias", (self.filters,))

    def call(self, inputs: Any) -> Any:
        out = conv_transpose(
            inputs, self.kernel, self.strides, self.padding, self.output_padding,
            self.data_format, self.dilation_rate, bias=self.bias,
            name=self._label(),
        )  # fmt: skip
        return self._output(out)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        extra = self.output_padding or (None,) * self.rank
        lengths = [
            conv_transpose_output_length(n, k, s, self.padding, p, d)
            for n, k, s, p, d in zip(
                self._spatial(input_shape), self.kernel_size, self.strides, extra,
                self.dilation_rate,
            )
        ]  # fmt: skip
        return self._output_shape(input_shape, self.filters, lengths)

    def get_config(self) -> dict[str, Any]:

        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_options_config("kernel", "bias"),
        }


class Conv1DTranspose(BaseConvTranspose):
    """Transposed 1-D convolution; kernel ``(kernel_size, filters, channels)``.

    >>> import numpy as np
    >>> Conv1DTranspose(4, 3, strides=2)(np.ones((2, 5, 3))).shape
    (2, 11, 4)
    """

    rank = 1


class Conv2DTranspose(BaseConvTranspose):
    """Transposed 2-D convolution; kernel ``(kh, kw, filters, channels)``.

    Output size per axis: ``"valid"`` ``(n-1)*s + max(k, s)``, ``"same"``
    ``n*s``, or with ``output_padding`` Keras's formulas
    (:func:`numdl.ops.conv.conv_transpose_output_length`).

    >>> import numpy as np
    >>> Conv2DTranspose(32, 2, 2, activation="relu")(np.ones((4, 10, 8, 16))).shape
    (4, 20, 16, 32)
    """

    rank = 2


# Keras's aliases.
Convolution1D = Conv1D
Convolution2D = Conv2D
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
