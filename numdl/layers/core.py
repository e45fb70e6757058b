"""Core layers (Keras 3's ``core``, ``reshaping`` and ``Dropout``).

``Dense``, ``Activation``, ``Dropout``, ``Flatten``, ``Reshape``, ``Permute``,
``RepeatVector``, ``Identity`` and ``Lambda``, with Keras's argument names,
defaults, shapes and configs.
"""

from __future__ import annotations

import inspect
import math
import operator
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from numdl import activations, config, ops
from numdl.backend import array_module
from numdl.layers.base import InputSpec, Layer, positive_int, runs_on_arrays
from numdl.ops import _cupy_kernels as _gpu
from numdl.ops.nn import Dense as DenseOp
from numdl.ops.nn import dense_2d


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
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = positive_int(self, "units", units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self._set_weight_options(
            "kernel", kernel_initializer, kernel_regularizer, kernel_constraint
        )
        self._set_weight_options(
            "bias", bias_initializer, bias_regularizer, bias_constraint
        )
        self.input_spec = InputSpec(min_ndim=2)

    @property
    def _fused(self) -> str | None:
        """The activation when it fuses into the dense op: numdl's relu or
        sigmoid (default arguments). Read at each call, so an activation
        set after construction takes effect, as in Keras."""
        activation = self.activation
        if activation is activations.relu:
            return "relu"
        return "sigmoid" if activation is activations.sigmoid else None

    def build(self, input_shape: Any) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"Dense {self.name!r}: the last axis of the inputs must be known, "
                f"got shape {input_shape}"
            )
        self.kernel = self._add_weight_from_options("kernel", (input_dim, self.units))
        self.bias = None
        if self.use_bias:
            self.bias = self._add_weight_from_options("bias", (self.units,))
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})

    def call(self, inputs: Any) -> Any:
        # The InputSpec (set by build) has checked the last axis against the
        # kernel, so the op is applied without ops.dense's argument checks.
        fused = self._fused
        out = DenseOp.apply(inputs, self.kernel, self.bias, activation=fused)
        return self._activate(out, fused)

    def _activate(self, out: Any, fused: str | None) -> Any:
        """The activation, unless it is ``fused`` into the op (or linear)."""
        if fused is not None or self.activation is activations.linear:
            return out
        return self.activation(out)

    def _array_fn(self) -> Callable[[Any], Any] | None:
        own = runs_on_arrays(self, Dense.call)
        if not own or type(self)._activate is not Dense._activate:
            return None
        # Worked out once per plan (a plan lasts until any layer attribute is
        # set): ~1 us a layer of one-sample predict was these lookups.
        kernel, bias, fused, units = self.kernel, self.bias, self._fused, self.units
        activation = self.activation
        done = fused is not None or activation is activations.linear  # (_activate)

        def call_on_array(x: Any) -> Any:
            """``call`` on a host array: the op's forward alone, no graph."""
            b = None if bias is None else bias.data
            if x.ndim == 2:
                out = dense_2d(x, kernel.data, b, fused)
            else:
                out = dense_2d(x.reshape(-1, x.shape[-1]), kernel.data, b, fused)
                out = out.reshape(x.shape[:-1] + (units,))
            return out if done else activation(out)

        return call_on_array

    def get_config(self) -> dict[str, Any]:

        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_options_config("kernel", "bias"),
        }


# ------------------------------------------------------------------ helpers
def _rate(layer: Layer, value: Any, name: str = "rate", top: float = 1.0) -> float:
    """A float in ``[0, top]`` (Keras's check for dropout rates), else ValueError."""
    ok = isinstance(value, (int, float, np.floating, np.integer))
    ok = ok and not isinstance(value, bool) and 0 <= value <= top
    if not ok:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: {name} must be a number "
            f"between 0 and {top:g}, got {value!r}"
        )
    return value


def _seed(layer: Layer, seed: Any) -> np.random.Generator | None:
    """An int seed gives the layer its own Generator; None uses numdl's."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: seed must be an integer or "
            f"None, got {seed!r}"
        )
    return np.random.default_rng(int(seed))


def _generator(own: np.random.Generator | None) -> np.random.Generator:
    # Looked up at call time, so numdl.config.set_random_seed applies.
    return own if own is not None else config.rng()


def _as_float(layer: Layer, inputs: Any) -> Any:
    """Integer inputs become the layer's float type before noise is applied."""
    return inputs if inputs.dtype.kind == "f" else ops.cast(inputs, layer.dtype)


def _identity_shape(input_shape: Any) -> Any:
    return input_shape


# --------------------------------------------------------------- Activation
class Activation(Layer):
    """Apply an activation function (a name or a callable) to the inputs.

    >>> import numpy as np
    >>> Activation("relu")(np.array([-3.0, -1.0, 0.0, 2.0])).tolist()
    [0.0, 0.0, 0.0, 2.0]
    """

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return self.activation(inputs)

    _array_call = call

    def _array_fn(self) -> Callable[[Any], Any] | None:
        # numdl's own activations only (a user's may need Tensors)
        builtin = activations.is_builtin(self.activation)
        return super()._array_fn() if builtin else None

    compute_output_shape = staticmethod(_identity_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": activations.serialize(self.activation),
        }


# ------------------------------------------------------------------ Dropout
class Dropout(Layer):
    """Set a fraction ``rate`` of the inputs to 0 while training (inverted dropout).

    Kept units are scaled by ``1 / (1 - rate)``, so the expected sum is
    unchanged; at inference (``training`` falsy) the layer is the identity.
    ``noise_shape`` gives the shape of the 0/1 mask, broadcast over the
    inputs; its ``None`` entries take the inputs' size (``(None, 1, None)``
    drops the same features at every time step). ``seed=None`` draws from
    ``numdl.config.rng()``; an int seed gives the layer its own generator.

    >>> import numpy as np
    >>> layer = Dropout(0.5, seed=0)
    >>> layer(np.ones((2, 4))).tolist()                 # inference: unchanged
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    >>> sorted(set(layer(np.ones((2, 4)), training=True).numpy().ravel().tolist()))
    [0.0, 2.0]
    """

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.rate = _rate(self, rate)
        self.seed = seed
        self.noise_shape = self._validate_noise_shape(noise_shape)
        self._rng = _seed(self, seed)
        self.built = True

    def _validate_noise_shape(self, noise_shape: Any) -> tuple[Any, ...] | None:
        if noise_shape is None:
            return None
        try:
            if isinstance(noise_shape, str):
                raise TypeError
            shape = tuple(noise_shape)
        except TypeError:
            shape = None
        bad = shape is None or any(
            d is not None
            and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0)
            for d in shape
        )
        if bad:
            raise ValueError(
                f"Dropout {self.name!r}: noise_shape must be a tuple of positive "
                f"integers or None, got {noise_shape!r}"
            )
        return tuple(None if d is None else int(d) for d in shape)

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.noise_shape is None:
            return shape
        concrete = tuple(n if d is None else d for d, n in zip(self.noise_shape, shape))
        if len(self.noise_shape) != len(shape) or any(
            d not in (1, n) for d, n in zip(concrete, shape)
        ):
            raise ValueError(
                f"Dropout {self.name!r}: noise_shape {self.noise_shape} does not "
                f"broadcast to inputs of shape {shape}; give one entry per axis, "
                f"each 1, None or the input's size"
            )
        return concrete

    def call(self, inputs: Any, training: Any = None) -> Any:
        if not training or self.rate == 0:
            return inputs
        inputs = _as_float(self, inputs)
        shape = self._mask_shape(tuple(inputs.shape))
        xp = array_module(inputs.data)  # drawn where the data lives
        rng = config.rng_for(xp, self._rng)
        scale = 0.0 if self.rate >= 1 else 1.0 / (1.0 - self.rate)
        if xp is not np:  # one fused kernel on the GPU
            mask = _gpu.dropout_mask(rng, shape, self.rate, scale, inputs.dtype)
            return ops.multiply(inputs, mask)
        # float32 draws (as Keras and the GPU kernel): half the time of float64
        mask = (rng.random(shape, dtype=np.float32) >= self.rate).astype(inputs.dtype)
        mask *= scale
        return ops.multiply(inputs, mask)

    _array_call = call  # the identity at inference

    compute_output_shape = staticmethod(_identity_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": self.noise_shape,
        }


# ---------------------------------------------------------------- reshaping
class Flatten(Layer):
    """Flatten every axis but the batch axis: ``(batch, ...)`` -> ``(batch, n)``.

    ``data_format="channels_first"`` moves the channel axis last first, so the
    features come out in the same order as for channels-last inputs.

    >>> import numpy as np
    >>> Flatten()(np.zeros((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = _data_format(self, data_format)
        self.input_spec = InputSpec(min_ndim=1)
        self.built = True

    def call(self, inputs: Any) -> Any:
        rank = inputs.ndim
        if self.data_format == "channels_first" and rank > 2:
            inputs = ops.transpose(inputs, (0, *range(2, rank), 1))
        batch = inputs.shape[0]
        return ops.reshape(inputs, (batch, math.prod(inputs.shape[1:])))

    _array_call = call

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        rest = tuple(input_shape[1:])
        size = None if None in rest else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


def _data_format(layer: Layer, value: str | None) -> str:
    if value is None:
        getter = getattr(config, "image_data_format", None)
        return getter() if getter is not None else "channels_last"
    fmt = str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: data_format must be "
            f"'channels_last' or 'channels_first', got {value!r}"
        )
    return fmt


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (the batch axis is kept).

    One entry of ``target_shape`` may be -1: it is inferred from the size.

    >>> import numpy as np
    >>> Reshape((3, 4))(np.zeros((2, 12))).shape
    (2, 3, 4)
    >>> Reshape((-1, 2, 2))(np.zeros((2, 12))).shape
    (2, 3, 2, 2)
    """

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            shape = tuple(int(operator.index(d)) for d in target_shape)
        except TypeError:
            shape = None
        if shape is None or any(d < -1 or d == 0 for d in shape):
            raise ValueError(
                f"Reshape {self.name!r}: target_shape must be a tuple of positive "
                f"integers (one may be -1), got {target_shape!r}"
            )
        if shape.count(-1) > 1:
            raise ValueError(
                f"Reshape {self.name!r}: target_shape may contain at most one -1, "
                f"got {shape}"
            )
        self.target_shape = shape
        self.built = True

    def _resolve(self, sample_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        """``target_shape`` with its -1 worked out (None when the size is unknown)."""
        known = math.prod(d for d in self.target_shape if d != -1)
        if None in sample_shape:
            if -1 in self.target_shape:
                return tuple(None if d == -1 else d for d in self.target_shape)
            return self.target_shape
        size = math.prod(sample_shape)
        if -1 in self.target_shape:
            fits = known > 0 and size % known == 0
            out = tuple(size // known if d == -1 else d for d in self.target_shape)
        else:
            fits, out = size == known, self.target_shape
        if not fits:
            raise ValueError(
                f"Reshape {self.name!r}: cannot reshape samples of shape "
                f"{sample_shape} ({size} values) to target_shape {self.target_shape}"
            )
        return out

    def call(self, inputs: Any) -> Any:
        shape = tuple(inputs.shape)
        return ops.reshape(inputs, (shape[0],) + self._resolve(shape[1:]))

    _array_call = call

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[0],) + self._resolve(tuple(input_shape[1:]))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permute the non-batch axes; ``dims`` counts from 1 (the batch axis is 0).

    >>> import numpy as np
    >>> Permute((2, 1))(np.zeros((2, 10, 64))).shape
    (2, 64, 10)
    """

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            dims = tuple(int(operator.index(d)) for d in dims)
        except TypeError:
            dims = None
        if dims is None or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                f"Permute {self.name!r}: dims must be a permutation of 1..n (the "
                f"batch axis excluded), e.g. (2, 1), got {dims!r}"
            )
        self.dims = dims
        self.input_spec = InputSpec(ndim=len(dims) + 1)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return ops.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeat 2-D inputs ``n`` times: ``(batch, features)`` -> ``(batch, n, features)``.

    >>> import numpy as np
    >>> RepeatVector(3)(np.zeros((2, 32))).shape
    (2, 3, 32)
    """

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            operator.index(n)
        except TypeError:
            raise TypeError(
                f"RepeatVector {self.name!r}: n must be an integer, got "
                f"{type(n).__name__} {n!r}"
            ) from None
        self.n = positive_int(self, "n", n, minimum=0)
        self.input_spec = InputSpec(ndim=2)
        self.built = True

    def call(self, inputs: Any) -> Any:
        batch, features = inputs.shape
        return ops.repeat(ops.reshape(inputs, (batch, 1, features)), self.n, axis=1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class Identity(Layer):
    """Return the inputs unchanged (a placeholder layer).

    >>> import numpy as np
    >>> Identity()(np.array([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return inputs

    _array_call = call
    compute_output_shape = staticmethod(_identity_shape)


# ------------------------------------------------------------------- Lambda
class Lambda(Layer):
    """Wrap a function of the inputs as a layer: ``Lambda(lambda x: x ** 2)``.

    ``arguments`` are passed to ``function`` as keyword arguments, and
    ``training`` too when ``function`` takes it. ``output_shape`` (a shape
    without the batch axis, or a function of the input shape) is used by
    ``compute_output_shape``; otherwise the shape is inferred.

    Configs never contain code. A named function is stored by module and
    name, and found again on loading in ``custom_objects``, in ``__main__`` or
    in numdl's math (``numdl.ops``, ``numdl.activations``); nothing is
    imported. A Python lambda is stored as a marker with its source text (for
    people); loading it raises ValueError, as Keras does in its default safe
    mode. Give the function a name to save such a model.

    >>> Lambda(lambda x: x * 2)(np.array([1.0, 2.0])).tolist()
    [2.0, 4.0]
    >>> Lambda(ops.square).get_config()["function"]["config"]
    'square'
    """

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(
                f"Lambda {self.name!r}: function must be callable, got "
                f"{type(function).__name__} {function!r}"
            )
        if arguments is not None and not isinstance(arguments, dict):
            raise ValueError(
                f"Lambda {self.name!r}: arguments must be a dict of keyword "
                f"arguments, got {type(arguments).__name__}"
            )
        if mask is not None and not callable(mask):
            raise ValueError(
                f"Lambda {self.name!r}: mask must be None or a callable "
                f"(inputs, mask) -> mask, got {type(mask).__name__}"
            )
        self.function = function
        self._output_shape = _shape_or_function(output_shape)
        self.mask = mask
        self.arguments = dict(arguments or {})
        params = _parameters(function)
        self._fn_expects_training_arg = "training" in params
        self._fn_expects_mask_arg = "mask" in params
        self.built = True

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        kwargs = dict(self.arguments)
        if self._fn_expects_mask_arg:
            kwargs["mask"] = mask
        if self._fn_expects_training_arg:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        from numdl import tree

        batch = tree.flatten(input_shape)[0]
        return (batch,) + tuple(self._output_shape)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The output mask: ``mask(inputs, mask)`` when a mask function was given."""
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def get_config(self) -> dict[str, Any]:
        cfg = {**super().get_config(), "function": _serialize_fn(self.function)}
        if self._output_shape is not None:
            shape = self._output_shape
            cfg["output_shape"] = _serialize_fn(shape) if callable(shape) else shape
        if self.mask is not None:
            cfg["mask"] = _serialize_fn(self.mask)
        cfg["arguments"] = dict(self.arguments)
        return cfg

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Lambda:
        """Recreate a Lambda; functions are looked up by name, never run from text.

        >>> layer = Lambda.from_config(Lambda(ops.square).get_config())
        >>> layer.function is ops.square
        True
        """
        config = dict(config)
        config["function"] = _deserialize_fn(config["function"], custom_objects)
        shape = config.get("output_shape")
        if isinstance(shape, dict):
            config["output_shape"] = _deserialize_fn(shape, custom_objects)
        if config.get("mask") is not None:
            config["mask"] = _deserialize_fn(config["mask"], custom_objects)
        return cls(**config)


def _shape_or_function(output_shape: Any) -> Any:
    if output_shape is None or callable(output_shape):
        return output_shape
    if isinstance(output_shape, list) and all(
        isinstance(d, (int, type(None))) for d in output_shape
    ):
        return tuple(output_shape)
    return output_shape


def _parameters(function: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # some builtins have no signature
        return set()


def _serialize_fn(fn: Callable[..., Any]) -> dict[str, Any]:
    """Keras's config for a function: module and name; a lambda gets a marker."""
    name = getattr(fn, "__name__", None)
    if name == "<lambda>":
        try:
            source = inspect.getsource(fn).strip()
        except (OSError, TypeError):
            source = None
        return {"class_name": "__lambda__", "config": {"source": source}}
    if name is None:
        raise ValueError(f"Lambda: cannot serialize {fn!r}; it has no __name__")
    return {
        "module": getattr(fn, "__module__", None),
        "class_name": "function",
        "config": name,
        "registered_name": "function",
    }


def _deserialize_fn(
    cfg: Any, custom_objects: dict[str, Any] | None
) -> Callable[..., Any]:
    """Find a serialized function by name; no import, no code from the config."""
    if callable(cfg):
        return cfg
    if isinstance(cfg, dict) and cfg.get("class_name") == "__lambda__":
        raise ValueError(
            "Lambda: this config holds a Python lambda, which numdl cannot "
            "recreate (it never stores or runs code from a config). Define a "
            "named function and pass it as custom_objects={name: function}, or "
            "recreate the layer in code."
        )
    name = cfg.get("config") if isinstance(cfg, dict) else cfg
    module = cfg.get("module") if isinstance(cfg, dict) else None
    if not isinstance(name, str):
        raise ValueError(f"Lambda: cannot read a function from config {cfg!r}")
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    fn = getattr(sys.modules.get(module), name, None) if _trusted(module) else None
    if not callable(fn):
        raise ValueError(
            f"Lambda: function {name!r} (module {module!r}) was not found; pass "
            f"custom_objects={{{name!r}: function}} when loading"
        )
    return fn


def _trusted(module: Any) -> bool:
    """Modules whose functions a config may name: pure math, and the script."""
    if not isinstance(module, str):
        return False
    return module in ("__main__", "numdl.activations", "numdl.ops") or (
        module.startswith("numdl.ops.")
    )
