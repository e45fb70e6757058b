"""``Layer``: the base of every layer and model, with Keras's life cycle.

A layer is created with its settings, builds its weights the first time it is
called (when the input shape is known), then computes ``call(inputs)``:

>>> import numpy as np
>>> from numdl import layers
>>> dense = layers.Dense(3)
>>> dense.built
False
>>> y = dense(np.ones((2, 4), "float32"))   # builds a (4, 3) kernel, then calls
>>> y.shape, dense.kernel.shape
((2, 3), (4, 3))

Called on arrays or Tensors, a layer computes at once and returns a Tensor.
Called on the symbolic tensors that ``Input`` makes, it records a node of a
functional model instead (see ``symbolic.py``).
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from numdl import backend, config, tree
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module, to_numpy
from numdl.layers import symbolic
from numdl.variables import Variable

_NAME_COUNTS: dict[str, int] = {}
_LAYER_KWARGS = ("input_shape", "input_dim", "batch_size", "batch_input_shape")


def unique_name(base: str) -> str:
    """Return ``base``, then ``base_1``, ``base_2``, ... (Keras's auto names).

    >>> reset_names(); unique_name("dense"), unique_name("dense")
    ('dense', 'dense_1')
    """
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    """Restart auto names from ``dense`` (part of ``numdl.utils.clear_session``).

    >>> reset_names()
    """
    _NAME_COUNTS.clear()


def snake_case(name: str) -> str:
    """``BatchNormalization`` -> ``batch_normalization``.

    >>> snake_case("Conv2DTranspose")
    'conv2d_transpose'
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class _CallState(threading.local):
    """Where we are in nested layer calls: the outermost call clears old losses,
    and sublayers inherit ``training`` from the outer call unless given one.
    Per thread: ``predict`` may run one model on parts of a batch at once
    (numdl/parallel.py)."""

    depth = 0
    training: bool | None = None


_CallContext = _CallState()


class Changes:
    """A new :attr:`token` whenever an attribute of any layer is set (an
    activation, a weight, an input spec) or a layer moves to a device: what
    was worked out from layers (``Functional``'s plan for ``predict`` on
    arrays) holds while the token it was made with is still current.

    >>> from numdl import layers
    >>> before = Changes.token
    >>> layers.Dense(2).activation = None
    >>> Changes.token is before
    False
    """

    token = object()


class InputSpec:
    """What a layer accepts: ``ndim``/``min_ndim`` and fixed sizes of some axes.

    >>> InputSpec(min_ndim=2, axes={-1: 4}).axes
    {-1: 4}
    """

    def __init__(
        self,
        ndim: int | None = None,
        min_ndim: int | None = None,
        max_ndim: int | None = None,
        axes: dict[int, int] | None = None,
    ) -> None:
        self.ndim, self.min_ndim, self.max_ndim = ndim, min_ndim, max_ndim
        self.axes = axes or {}


class Layer:
    """Base class of layers: ``build`` once, then ``call`` (Keras's contract).

    Subclasses write ``__init__`` (settings), ``build(input_shape)`` (weights
    via ``add_weight``), ``call(inputs, training=None)`` and ``get_config``.

    >>> class Double(Layer):
    ...     def call(self, inputs):
    ...         return inputs * 2
    >>> Double()(np.array([1.0, 2.0])).tolist()
    [2.0, 4.0]
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # As in Keras, calling ``build`` (directly or on first call) marks the
        # layer built and remembers the shape it was built for.
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _build_wrapper(cls.__dict__["build"])

    def __init__(
        self,
        *,
        activity_regularizer: Any = None,
        trainable: bool = True,
        dtype: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = [k for k in kwargs if k not in _LAYER_KWARGS]
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) "
                f"{', '.join(unknown)}"
            )
        self._layers: list[Layer] = []
        self._own_weights: list[Variable] = []
        self._losses: list[Any] = []
        self._inbound_nodes: list[Any] = []
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._trainable = trainable
        self.dtype = np.dtype(dtype or config.floatx()).name
        self.built = False
        self.input_spec: InputSpec | None = None
        self._build_shapes: Any = None
        self._batch_input_shape = _batch_shape_from_kwargs(kwargs)
        self.activity_regularizer = _get_regularizer(activity_regularizer)

    # ---------------------------------------------------------- tracking
    def __setattr__(self, name: str, value: Any) -> None:
        # Sublayers assigned as attributes (or lists of them) are tracked, so
        # their weights belong to this layer, as in Keras and PyTorch.
        if isinstance(value, Layer) and name != "_layers":
            self._track(value)
        elif isinstance(value, (list, tuple)) and value and name != "_layers":
            for item in value:
                if isinstance(item, Layer):
                    self._track(item)
        Changes.token = object()
        super().__setattr__(name, value)

    def _track(self, layer: Layer) -> None:
        layers = self.__dict__.get("_layers")
        if layers is None:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning "
                f"layers to attributes"
            )
        if all(existing is not layer for existing in layers):
            layers.append(layer)

    # ------------------------------------------------------------ weights
    def add_weight(
        self,
        shape: Any = None,
        initializer: Any = "glorot_uniform",
        dtype: Any = None,
        trainable: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        name: str | None = None,
    ) -> Variable:
        """Create a weight, initialised and registered with this layer.

        >>> layer = Layer(name="demo")
        >>> w = layer.add_weight((2, 2), initializer="ones", name="w")
        >>> w.path, layer.count_params()
        ('demo/w', 4)
        """
        from numdl import constraints, initializers

        shape = tuple(int(n) for n in (shape or ()))
        dtype = np.dtype(dtype or self.dtype)
        value = initializers.get(initializer)(shape, dtype=dtype)
        value = np.asarray(value, dtype=dtype)  # drawn on the host, then moved
        device = self.__dict__.get("_device") or backend.default_device()
        if device != "cpu":
            value = backend.to_device(value, device)
        variable = Variable(
            value,
            trainable=trainable,
            name=name,
            regularizer=_get_regularizer(regularizer),
            constraint=constraints.get(constraint),
        )
        variable.path = f"{self.name}/{name}" if name else self.name
        variable.requires_grad = trainable and dtype.kind == "f" and self.trainable
        self._own_weights.append(variable)
        return variable

    # Keras layers take ``<name>_initializer``, ``<name>_regularizer`` and
    # ``<name>_constraint`` for each weight (kernel, bias, depthwise, gamma,
    # ...): these three keep them as attributes, build the weight from them
    # and write them back into ``get_config``.
    def _set_weight_options(
        self, name: str, initializer: Any, regularizer: Any, constraint: Any
    ) -> None:
        from numdl import constraints, initializers, regularizers

        setattr(self, f"{name}_initializer", initializers.get(initializer))
        setattr(self, f"{name}_regularizer", regularizers.get(regularizer))
        setattr(self, f"{name}_constraint", constraints.get(constraint))

    def _add_weight_from_options(
        self, name: str, shape: Any, weight_name: str | None = None
    ) -> Variable:
        return self.add_weight(
            shape,
            initializer=getattr(self, f"{name}_initializer"),
            regularizer=getattr(self, f"{name}_regularizer"),
            constraint=getattr(self, f"{name}_constraint"),
            name=weight_name or name,
        )

    def _weight_options_config(self, *names: str) -> dict[str, Any]:
        """Keras's order: every initializer, then regularizers, constraints."""
        from numdl import constraints, initializers, regularizers

        config = {}
        for kind, module in (
            ("initializer", initializers),
            ("regularizer", regularizers),
            ("constraint", constraints),
        ):
            for name in names:
                obj = getattr(self, f"{name}_{kind}")
                config[f"{name}_{kind}"] = obj if obj is None else module.serialize(obj)
        return config

    # ------------------------------------------------------------ devices
    def to(self, device: str) -> Layer:
        """Move every weight (and gradient) to ``device`` in place; return self.

        Weights keep their identity, so an optimizer's state follows them
        (moved at its next step, or at once by ``Model.to``). Weights built
        later are created there too, and array inputs are moved there.

        >>> from numdl import layers
        >>> dense = layers.Dense(2); dense.build((None, 3))
        >>> dense.to("cpu").device
        'cpu'
        """
        device = backend.normalize_device(device)
        backend.module_for(device)  # fail now if the GPU is missing
        Changes.token = object()
        for layer in _all_layers(self):
            layer.__dict__["_device"] = device
        for w in self.weights:
            w.data = backend.to_device(w.data, device)
            if w.grad is not None:
                w.grad = backend.to_device(w.grad, device)
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "to"):
            optimizer.to(device)
        return self

    @property
    def device(self) -> str:
        """Where the weights live (``"cpu"``/``"gpu"``); before any weight, where
        they will be created."""
        w = self._first_weight()
        if w is not None:
            return backend.device_of(w.data)
        return self.__dict__.get("_device") or backend.default_device()

    def _first_weight(self) -> Any:
        """The first weight of this layer or its sublayers (None if none),
        found without building the whole ``weights`` list: ``fit`` and
        ``predict`` ask for the device on every call."""
        for w in self._own_weights:
            return w
        for layer in self._layers:
            w = layer._first_weight()
            if w is not None:
                return w
        return None

    @property
    def trainable(self) -> bool:
        """Freeze a layer (and its sublayers) with ``layer.trainable = False``."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for v in self._own_weights:
            v.requires_grad = v.trainable and self._trainable
        for layer in self._layers:
            layer.trainable = value

    @property
    def weights(self) -> list[Variable]:
        """Every weight of this layer and its sublayers, each once.

        >>> from numdl import layers
        >>> dense = layers.Dense(2, name="d")
        >>> dense.build((None, 3))
        >>> [w.path for w in dense.weights]
        ['d/kernel', 'd/bias']
        """
        return _unique(self._own_weights + [w for s in self._layers for w in s.weights])

    @property
    def trainable_weights(self) -> list[Variable]:
        """The weights an optimizer updates (none when ``trainable`` is False)."""
        if not self.trainable:
            return []
        own = [v for v in self._own_weights if v.trainable]
        return _unique(own + [w for s in self._layers for w in s.trainable_weights])

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """The weights no optimizer touches (moving statistics, frozen layers)."""
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Return copies of the weights as NumPy arrays, in Keras's order.

        >>> from numdl import layers
        >>> dense = layers.Dense(2)
        >>> dense.build((None, 3))
        >>> [w.shape for w in dense.get_weights()]
        [(3, 2), (2,)]
        """
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Set every weight from a list of arrays (shapes must match).

        >>> from numdl import layers
        >>> d = layers.Dense(1)
        >>> d.build((None, 2))
        >>> d.set_weights([np.ones((2, 1)), np.zeros(1)])
        >>> d(np.array([[1.0, 2.0]])).tolist()
        [[3.0]]
        """
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(
                f"Layer {self.name!r}: set_weights expects a list of {len(own)} "
                f"arrays, got {len(weights)}"
            )
        bad = [
            f"{w.path}: expected {w.shape}, got {np.shape(value)}"
            for w, value in zip(own, weights)
            if tuple(np.shape(value)) != w.shape
        ]
        if bad:
            raise ValueError(
                f"Layer {self.name!r}: set_weights shape mismatch: " + "; ".join(bad)
            )
        for w, value in zip(own, weights):
            w.assign(to_numpy(value.data if isinstance(value, Tensor) else value))

    def count_params(self) -> int:
        """Number of scalars in all weights (the layer must be built).

        >>> from numdl import layers
        >>> dense = layers.Dense(2)
        >>> dense.build((None, 3))
        >>> dense.count_params()
        8
        """
        if not self.built and not self._own_weights:
            raise ValueError(
                f"Layer {self.name!r} is not built yet, so it has no weights to "
                f"count; call it on data or give it an input shape first"
            )
        return int(sum(w.size for w in self.weights))

    # ------------------------------------------------------------- losses
    def add_loss(self, loss: Any) -> None:
        """Add a loss term (a scalar Tensor) to be minimised with the main loss.

        >>> layer = Layer(); layer.add_loss(2.0); [float(x) for x in layer.losses]
        [2.0]
        """
        self._losses.append(loss)

    @property
    def losses(self) -> list[Any]:
        """Losses added during the last call plus weight regularization terms."""
        out = list(self._losses)
        for v in self._own_weights:
            if v.regularizer is not None and v.trainable:
                out.append(v.regularizer(v))
        for layer in self._layers:
            out.extend(layer.losses)
        return out

    def _clear_losses(self) -> None:
        # In place: this runs on every layer at every step, and ``losses``
        # hands out copies, so no caller holds this list.
        self._losses.clear()
        for layer in self._layers:
            layer._clear_losses()

    # --------------------------------------------------------------- call
    def build(self, input_shape: Any) -> None:
        """Create weights for inputs of ``input_shape`` (batch axis ``None``)."""
        self.built = True

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses override it."""
        return inputs

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if type(inputs) is Tensor:  # the common case: one tensor, no structure
            inputs = self._to_tensor(inputs)
        elif symbolic.any_symbolic(inputs):
            return symbolic.symbolic_call(self, inputs, args, kwargs)
        else:
            inputs = tree.map_structure(self._to_tensor, inputs)
        training = kwargs.pop("training", None)
        outer_training = _CallContext.training
        if training is None:
            training = outer_training
        if _CallContext.depth == 0:
            self._clear_losses()
        _CallContext.depth += 1
        _CallContext.training = training
        try:
            if not self.built:
                self._maybe_build(inputs)
            if self.input_spec is not None:
                self._check_input_spec(inputs)
            if training is not None and self._accepts_training():
                kwargs["training"] = training
            outputs = self.call(inputs, *args, **kwargs)
            if self.activity_regularizer is not None:
                for out in tree.flatten(outputs):
                    self.add_loss(self.activity_regularizer(out))
        finally:
            _CallContext.depth -= 1
            _CallContext.training = outer_training
        return outputs

    # A layer whose ``call`` runs on plain host arrays (only numdl ops, which
    # are NumPy in, NumPy out, and no weights) names that ``call`` here.
    _array_call: Callable[..., Any] | None = None

    def _array_fn(self) -> Callable[[Any], Any] | None:
        """This layer's inference as a function of one host array, or None.

        ``predict``'s shortcut for a chain of layers (see
        ``Functional._predict_arrays``) runs these on arrays: no Tensor, no
        graph, no call bookkeeping. None (the default) keeps the layer on
        the usual path; a subclass that overrides ``call`` gets None too.

        >>> from numdl.layers import Flatten
        >>> Flatten()._array_fn()(np.zeros((2, 3, 4))).shape
        (2, 12)
        """
        array_call = type(self)._array_call
        if array_call is None or not own_call(self, array_call):
            return None
        return self.call

    def _to_tensor(self, x: Any) -> Any:
        """Arrays and lists become Tensors; floats take the layer's dtype.

        On a GPU layer, host arrays and CPU tensors are moved to the GPU (as
        Keras converts a layer's inputs); a CPU tensor keeps its gradient.
        """
        if isinstance(x, Tensor):
            if type(x.data) is not np.ndarray:
                return x
            device = self.__dict__.get("_device") or backend._default_device
            return x if device == "cpu" else x.to(device)
        if x is None:
            return x
        if isinstance(x, (str, bool)) or callable(x):
            return x
        xp = array_module(x)
        arr = xp.asarray(x)
        if arr.dtype.kind == "f" and arr.dtype != self.dtype:
            arr = arr.astype(self.dtype)
        device = self.__dict__.get("_device") or backend._default_device
        if device != "cpu":  # arrays follow the layer (Keras-like convenience)
            arr = backend.to_device(arr, device)
        return Tensor(arr)

    def _maybe_build(self, inputs: Any) -> None:
        if self.built:
            return
        shapes = tree.map_structure(_shape_of, inputs)
        shapes = _with_unknown_batch(shapes)
        self._build_shapes = shapes
        self.build(shapes)
        self.built = True

    def _accepts_training(self) -> bool:
        cls = type(self)
        cached = _TRAINING_ARG.get(cls)
        if cached is None:
            params = inspect.signature(cls.call).parameters
            cached = "training" in params or any(
                p.kind is p.VAR_KEYWORD for p in params.values()
            )
            _TRAINING_ARG[cls] = cached
        return cached

    def _check_input_spec(self, inputs: Any) -> None:
        spec = self.input_spec
        if spec is None or not isinstance(inputs, (Tensor, np.ndarray)):
            return
        # A training loop calls with one shape step after step: a shape that
        # passed this spec last time passes again (one comparison, ~1 us less
        # per layer call). Arrays come from predict's shortcut (_array_fn).
        passed = (spec, inputs.shape)
        if self.__dict__.get("_spec_passed") != passed:
            check_input_spec(self, spec, passed[1])
            self.__dict__["_spec_passed"] = passed

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape for ``input_shape`` (found by running on dummy data).

        >>> from numdl import layers
        >>> layers.Dense(5).compute_output_shape((None, 3))
        (None, 5)
        """
        from numdl.layers import symbolic

        return symbolic.infer_output_shape(self, input_shape)

    # ------------------------------------------------------------ configs
    def get_config(self) -> dict[str, Any]:
        """Settings that recreate this layer (weights not included).

        >>> Layer(name="x").get_config()["name"]
        'x'
        """
        cfg: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype,
        }
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            from numdl import regularizers

            cfg["activity_regularizer"] = regularizers.serialize(
                self.activity_regularizer
            )
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """Recreate a layer from ``get_config()``.

        >>> Layer.from_config({"name": "y"}).name
        'y'
        """
        return cls(**config)

    def _label(self) -> str:
        """How errors name this layer: ``Dense 'dense_1'``."""
        return f"{type(self).__name__} {self.name!r}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"


_TRAINING_ARG: dict[type, bool] = {}


def _build_wrapper(build: Any) -> Any:
    @functools.wraps(build)
    def wrapped(self: Layer, input_shape: Any = None, *args: Any, **kw: Any) -> Any:
        result = build(self, input_shape, *args, **kw)
        self._build_shapes = input_shape
        self.built = True
        return result

    return wrapped


def own_call(layer: Layer, call: Callable[..., Any]) -> bool:
    """Whether ``layer`` runs ``call`` as its ``call``: not a subclass's
    override, nor a wrapper set on the instance (``GradientMonitor`` sets
    one during ``fit``). Shortcuts that skip ``call`` check this first.

    >>> from numdl import layers
    >>> dense = layers.Dense(2)
    >>> own_call(dense, layers.Dense.call)
    True
    >>> dense.call = lambda inputs: inputs
    >>> own_call(dense, layers.Dense.call)
    False
    """
    return type(layer).call is call and "call" not in layer.__dict__


def runs_on_arrays(layer: Layer, call: Callable[..., Any]) -> bool:
    """Whether a layer with weights can run its ``call`` on host arrays with
    its weights' arrays (see ``Layer._array_fn``): it runs ``call`` as its
    class defines it (:func:`own_call`), its kernel is on the host and its
    activation is numdl's own (a user's may need Tensors).

    >>> from numdl import layers
    >>> dense = layers.Dense(2); dense.build((None, 3))
    >>> runs_on_arrays(dense, layers.Dense.call)
    True
    """
    from numdl import activations  # (activations imports the ops, after layers)

    if not own_call(layer, call) or type(layer.kernel.data) is not np.ndarray:
        return False
    return activations.is_builtin(layer.activation)


def positive_int(layer: Layer, what: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (NumPy integers too), else a
    ValueError naming ``layer``.

    >>> positive_int(Layer(name="l"), "units", 0)
    Traceback (most recent call last):
    ValueError: Layer 'l': units must be a positive integer, got 0
    """
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or number < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{layer._label()}: {what} must be {kind}, got {value!r}")
    return number


def check_input_spec(layer: Layer, spec: InputSpec, shape: tuple[int, ...]) -> None:
    """Raise a ValueError naming ``layer`` when ``shape`` breaks ``spec``.

    >>> check_input_spec(Layer(name="l"), InputSpec(ndim=2), (3, 4, 5))
    Traceback (most recent call last):
    ValueError: Layer 'l' expects inputs with 2 dimensions, got shape (3, 4, 5)
    """
    kind, name = type(layer).__name__, layer.name
    ndim = len(shape)
    if spec.ndim is not None and ndim != spec.ndim:
        raise ValueError(
            f"{kind} {name!r} expects inputs with {spec.ndim} dimensions, got "
            f"shape {shape}"
        )
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(
            f"{kind} {name!r} expects inputs with at least {spec.min_ndim} "
            f"dimensions, got shape {shape}"
        )
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(
            f"{kind} {name!r} expects inputs with at most {spec.max_ndim} "
            f"dimensions, got shape {shape}"
        )
    for axis, size in spec.axes.items():
        if -ndim <= axis < ndim and shape[axis] not in (size, None):
            raise ValueError(_axis_message(kind, name, axis, size, shape))


def _axis_message(
    kind: str, name: str, axis: int, size: int, shape: tuple[int, ...]
) -> str:
    where = "last axis" if axis == -1 else f"axis {axis}"
    message = f"{kind} {name!r} expects inputs with {where} {size}, got shape {shape}"
    rest = shape[1:]
    if axis == -1 and len(shape) > 2 and None not in rest and np.prod(rest) == size:
        message += " — add a Flatten layer before it?"
    return message


def is_shape(x: Any) -> bool:
    """True for a shape tuple such as ``(None, 3)``, False for lists of them.

    >>> is_shape((None, 3)), is_shape([(None, 3), (None, 4)])
    (True, False)
    """
    return isinstance(x, tuple) and all(isinstance(n, (int, type(None))) for n in x)


def _shape_of(x: Any) -> Any:
    return tuple(x.shape) if hasattr(x, "shape") else None


def _with_unknown_batch(shapes: Any) -> Any:
    """Build shapes have ``None`` for the batch axis, as in Keras."""
    if is_shape(shapes):
        return (None,) + shapes[1:] if shapes else shapes
    if isinstance(shapes, (list, tuple)):
        return type(shapes)(_with_unknown_batch(s) for s in shapes)
    if isinstance(shapes, dict):
        return {k: _with_unknown_batch(v) for k, v in shapes.items()}
    return shapes


def _batch_shape_from_kwargs(kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """``input_shape=(4,)`` / ``input_dim=4`` -> ``(None, 4)``, Keras-style."""
    if kwargs.get("batch_input_shape") is not None:
        return tuple(kwargs["batch_input_shape"])
    if kwargs.get("input_shape") is not None:
        return (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
    if kwargs.get("input_dim") is not None:
        return (kwargs.get("batch_size"), int(kwargs["input_dim"]))
    return None


def _get_regularizer(identifier: Any) -> Any:
    if identifier is None:
        return None
    from numdl import regularizers

    return regularizers.get(identifier)


def _unique(variables: list[Variable]) -> list[Variable]:
    seen: set[int] = set()
    out = []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _all_layers(layer: Layer) -> list[Layer]:
    """``layer`` and every layer below it, each once (iterative)."""
    seen: dict[int, Layer] = {}
    stack = [layer]
    while stack:
        item = stack.pop()
        if id(item) not in seen:
            seen[id(item)] = item
            stack.extend(item.__dict__.get("_layers", ()))
    return list(seen.values())
