"""``Model``: layers grouped into one object that trains (Keras 3's ``Model``).

There are three ways to make a model, as in Keras:

- functional: ``Model(inputs, outputs)`` from ``Input`` and layer calls
  returns a ``Functional`` (``functional.py``);
- ``Sequential([...])``: a stack of layers (``sequential.py``);
- subclassing: layers assigned as attributes in ``__init__`` and the forward
  pass in ``call(self, inputs, training=None)``.

>>> import numpy as np
>>> from numdl import layers
>>> class TwoLayers(Model):
...     def __init__(self, units=4):
...         super().__init__()
...         self.hidden = layers.Dense(units, activation="relu")
...         self.head = layers.Dense(1)
...     def call(self, inputs):
...         return self.head(self.hidden(inputs))
>>> model = TwoLayers()
>>> model(np.ones((2, 3))).shape, model.count_params()
((2, 1), 21)

This module also holds what every model shares: ``get_layer``, ``summary``,
configs (``get_config``/``from_config``/``to_json``) and the lookup of layer
classes by name for deserialization.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import numpy as np

from numdl import registry
from numdl.autograd.grad_mode import no_grad
from numdl.layers.base import Layer, _shape_of, _with_unknown_batch
from numdl.training.trainer import Trainer


class Model(Trainer, Layer):
    """A model: layers with ``compile``/``fit``/``evaluate``/``predict``.

    ``Model(inputs, outputs)`` makes a functional model; subclass ``Model``
    and write ``call`` for a model of your own.

    >>> from numdl.layers import Dense, Input
    >>> x = Input(shape=(3,))
    >>> model = Model(x, Dense(2)(x))
    >>> type(model).__name__, model.output_shape
    ('Functional', (None, 2))
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Model:
        # As Keras: ``Model(inputs, outputs)`` is a Functional model.
        if cls is Model and _functional_init_arguments(args, kwargs):
            from numdl.models.functional import Functional

            return Functional.__new__(Functional, *args, **kwargs)
        instance = super().__new__(cls)
        object.__setattr__(instance, "_auto_config", _auto_config(cls, args, kwargs))
        return instance

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _functional_init_arguments(args, kwargs):
            # A subclass written as ``super().__init__(inputs, outputs)``.
            from numdl.models.functional import Functional

            _inject_functional_model_class(type(self))
            Functional.__init__(self, *args, **kwargs)
        else:
            Layer.__init__(self, *args, **kwargs)

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """The forward pass; a subclass of ``Model`` must write it."""
        raise NotImplementedError(
            f"Model {type(self).__name__} does not have a `call()` method "
            f"implemented: write call(self, inputs, training=None)"
        )

    # ------------------------------------------------------------- layers
    @property
    def layers(self) -> list[Layer]:
        """The model's layers (for a subclassed model: its tracked sublayers).

        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,), name="in")
        >>> [layer.name for layer in Model(x, Dense(1, name="out")(x)).layers]
        ['in', 'out']
        """
        return list(self._layers)

    @layers.setter
    def layers(self, _: Any) -> None:
        raise AttributeError(
            "`Model.layers` attribute is reserved and should not be used. "
            "Please use another name."
        )

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """Return a layer by its (unique) name or by its index in ``layers``.

        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,))
        >>> model = Model(x, Dense(2, name="scores")(x))
        >>> model.get_layer("scores").units, type(model.get_layer(index=0)).__name__
        (2, 'InputLayer')
        """
        layers = self.layers
        if index is not None and name is not None:
            raise ValueError(
                f"Model {self.name!r}: get_layer takes a layer name or an index, "
                f"not both. Received: name={name!r}, index={index}"
            )
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Model {self.name!r}: was asked for the layer at index "
                    f"{index} but the model has only {len(layers)} layers"
                )
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            raise ValueError(
                f"Model {self.name!r}: no such layer: {name!r}. Existing layers "
                f"are: {[layer.name for layer in layers]}"
            )
        raise ValueError(
            f"Model {self.name!r}: give get_layer a layer name or an index"
        )

    # -------------------------------------------------------------- build
    def build(self, input_shape: Any = None) -> None:
        """Create the weights by running ``call`` once on zeros of ``input_shape``.

        >>> import numpy as np
        >>> from numdl import layers
        >>> class Net(Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.dense = layers.Dense(2)
        ...     def call(self, inputs):
        ...         return self.dense(inputs)
        >>> net = Net(); net.build((None, 5)); net.count_params()
        12
        """
        if input_shape is None:
            raise ValueError(
                f"Model {self.name!r}: build() needs the input shape, e.g. "
                f"model.build((None, 784)) (None for the batch axis)"
            )
        if type(self).call is Model.call:
            raise NotImplementedError(
                f"Model {type(self).__name__} has no call() to build with"
            )
        self.built = True  # so the run below does not build again
        dummy = _zeros_like_shape(input_shape, self.dtype)
        try:
            with no_grad(), np.errstate(all="ignore"):
                self(dummy, training=False)
        finally:
            self._clear_losses()

    def _maybe_build(self, inputs: Any) -> None:
        # A model without its own ``build`` builds its sublayers as ``call``
        # runs them (Keras does the same); no extra run on dummy data.
        if self.built:
            return
        if type(self).build is Model.build:
            shapes = _shape_structure(inputs)
            self._build_shapes = _with_unknown_batch(shapes)
            self.built = True
            return
        super()._maybe_build(inputs)

    # ------------------------------------------------------------- names
    @property
    def output_names(self) -> list[str] | None:
        """Names of the outputs (the layers making them, or dict keys).

        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,))
        >>> Model(x, {"score": Dense(1)(x)}).output_names
        ['score']
        """
        names = self.__dict__.get("_output_names_override")
        return list(names) if names is not None else self._default_output_names()

    @output_names.setter
    def output_names(self, names: Any) -> None:
        self.__dict__["_output_names_override"] = None if names is None else list(names)

    @property
    def input_names(self) -> list[str] | None:
        """Names of the inputs (their Input layers, or dict keys)."""
        names = self.__dict__.get("_input_names_override")
        return list(names) if names is not None else self._default_input_names()

    @input_names.setter
    def input_names(self, names: Any) -> None:
        self.__dict__["_input_names_override"] = None if names is None else list(names)

    def _default_output_names(self) -> list[str] | None:
        return None  # a subclassed model's outputs are only known when called

    def _default_input_names(self) -> list[str] | None:
        return None

    # ----------------------------------------------------------- summary
    def summary(
        self,
        line_length: int | None = None,
        positions: list[float] | None = None,
        print_fn: Any = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range: Any = None,
    ) -> None:
        """Print the Keras table of layers, output shapes and parameter counts.

        ``print_fn`` (default: print to stdout) receives the whole text once,
        as in Keras 3.

        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(784,))
        >>> model = Model(x, Dense(32)(x), name="mlp")
        >>> lines = []
        >>> model.summary(print_fn=lines.append)
        >>> print(lines[0].splitlines()[-3])
         Total params: 25,120 (98.12 KB)
        """
        from numdl.models.summary import print_summary

        print_summary(
            self,
            line_length=line_length,
            positions=positions,
            print_fn=print_fn,
            expand_nested=expand_nested,
            show_trainable=show_trainable,
            layer_range=layer_range,
        )

    # ----------------------------------------------------------- configs
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments of a subclassed model (captured when made).

        >>> class Net(Model):
        ...     def __init__(self, units=3, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.units = units
        >>> Net(units=5, name="net").get_config()["units"]
        5
        """
        auto = self.__dict__.get("_auto_config")
        if auto is None:
            raise NotImplementedError(
                f"Model {type(self).__name__}: get_config() cannot be written "
                f"automatically because its constructor arguments are not "
                f"JSON-serializable; override get_config() (and from_config)"
            )
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype,
            **auto,
        }
        params = inspect.signature(type(self).__init__).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            config = {k: v for k, v in config.items() if k in params}
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Model:
        """Recreate a model from ``get_config()`` (functional configs included).

        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,))
        >>> model = Model(x, Dense(2)(x))
        >>> Model.from_config(model.get_config()).output_shape
        (None, 2)
        """
        from numdl.models.functional import functional_from_config

        keys = ("name", "layers", "input_layers", "output_layers")
        if all(key in config for key in keys) and _revivable_as_functional(cls):
            return functional_from_config(cls, config, custom_objects)
        try:
            return cls(**config)
        except TypeError as e:
            raise TypeError(
                f"Unable to revive model {cls.__name__} from config {config!r}: "
                f"{e}. When overriding get_config(), return every constructor "
                f"argument, or define from_config(cls, config)."
            ) from e

    def to_json(self, **kwargs: Any) -> str:
        """The model's config as a JSON string (``model_from_json`` reads it).

        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,))
        >>> json.loads(Model(x, Dense(2)(x)).to_json())["class_name"]
        'Functional'
        """
        return json.dumps(serialize_layer(self), **kwargs)

    # ------------------------------------------------------------- saving
    def save(
        self, filepath: Any, overwrite: bool = True, weights_format: Any = None
    ) -> None:
        """Save architecture, weights, compile settings and optimizer state to
        one ``.numdl`` file, atomically (``numdl.models.load_model`` reads it).

        >>> import os, tempfile
        >>> from numdl.layers import Dense, Input
        >>> from numdl.models import load_model
        >>> x = Input(shape=(3,))
        >>> model = Model(x, Dense(2)(x))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.numdl")
        >>> model.save(path); load_model(path).output_shape
        (None, 2)
        """
        from numdl.saving import save_model

        save_model(self, filepath, overwrite=overwrite, weights_format=weights_format)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """Write the weights to ``*.weights.safetensors`` or ``*.weights.npz``.

        >>> import os, tempfile
        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,))
        >>> model = Model(x, Dense(2)(x))
        >>> path = os.path.join(tempfile.mkdtemp(), "w.weights.npz")
        >>> model.save_weights(path); model.load_weights(path)
        """
        from numdl.saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False) -> None:
        """Load weights saved by ``save_weights`` (matched layer by layer; a
        mismatch raises a ValueError listing each layer, or is skipped).

        >>> import os, tempfile
        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,))
        >>> a, b = Model(x, Dense(2)(x)), Model(x, Dense(2)(x))
        >>> path = os.path.join(tempfile.mkdtemp(), "w.weights.npz")
        >>> a.save_weights(path); b.load_weights(path)
        >>> bool((a.get_weights()[0] == b.get_weights()[0]).all())
        True
        """
        from numdl.saving import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def get_compile_config(self) -> dict[str, Any] | None:
        """The ``compile`` arguments as JSON-able values (None if not compiled).

        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,))
        >>> model = Model(x, Dense(2)(x)); model.compile("sgd", "mse")
        >>> model.get_compile_config()["loss"]
        'mse'
        """
        from numdl import losses, metrics

        plan = self._plan
        if not self.compiled or plan is None:
            return None
        plain, weighted = plan.metrics._user
        return {
            "loss": _map_leaves(plan.loss._user_loss, losses.serialize),
            "loss_weights": plan.loss._user_weights,
            "metrics": _map_leaves(plain, metrics.serialize),
            "weighted_metrics": _map_leaves(weighted, metrics.serialize),
        }

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """``compile`` with ``get_compile_config()`` output (and an optimizer).

        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,))
        >>> model = Model(x, Dense(2)(x))
        >>> model.compile_from_config({"optimizer": "adam", "loss": "mse"})
        >>> type(model.optimizer).__name__
        'Adam'
        """
        from numdl import losses, metrics

        self.compile(
            optimizer=config.get("optimizer", "rmsprop"),
            loss=_map_leaves(config.get("loss"), losses.deserialize, objects=True),
            loss_weights=config.get("loss_weights"),
            metrics=_map_leaves(config.get("metrics"), metrics.deserialize, True),
            weighted_metrics=_map_leaves(
                config.get("weighted_metrics"), metrics.deserialize, True
            ),
        )


def _map_leaves(value: Any, fn: Any, objects: bool = False) -> Any:
    """Apply ``fn`` to the leaves of a compile argument (names stay names).

    With ``objects=True`` only serialized objects (``{"class_name", ...}``
    dicts) are leaves; other dicts are structures by output name.
    """
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, dict) and not (objects and "class_name" in value):
        return {k: _map_leaves(v, fn, objects) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_leaves(v, fn, objects) for v in value]
    return fn(value)


# --------------------------------------------------------------------------
# Construction helpers
# --------------------------------------------------------------------------
def _functional_init_arguments(args: tuple, kwargs: dict) -> bool:
    """Keras's test for ``Model(inputs, outputs)`` style arguments."""
    return (
        len(args) == 2
        or (len(args) == 1 and "outputs" in kwargs)
        or ("inputs" in kwargs and "outputs" in kwargs)
    )


def _inject_functional_model_class(cls: type) -> type:
    """Put ``Functional`` in place of ``Model`` among ``cls``'s bases (Keras)."""
    from numdl.models.functional import Functional

    if cls is Model:
        return Functional
    if cls is object or issubclass(cls, Functional) or not issubclass(cls, Model):
        return cls
    cls.__bases__ = tuple(_inject_functional_model_class(b) for b in cls.__bases__)
    return cls


def _revivable_as_functional(cls: type) -> bool:
    from numdl.models.functional import Functional

    if cls in (Model, Functional):
        return True
    spec = inspect.getfullargspec(cls.__init__)
    functional_args = inspect.getfullargspec(Functional.__init__).args[1:]
    return spec.args[1:] == functional_args or (
        spec.varargs is not None and spec.varkw is not None and len(spec.args) == 1
    )


def _auto_config(cls: type, args: tuple, kwargs: dict) -> dict[str, Any] | None:
    """The constructor arguments, when JSON can hold them (Keras's auto config)."""
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError:
        return None
    config: dict[str, Any] = {}
    params = list(inspect.signature(cls.__init__).parameters.values())
    for param in params[1:]:
        if param.name not in bound.arguments:
            continue
        value = bound.arguments[param.name]
        if param.kind is param.VAR_POSITIONAL:
            if value:
                return None
        elif param.kind is param.VAR_KEYWORD:
            config.update(value)
        else:
            config[param.name] = value
    try:
        json.dumps(config)
    except (TypeError, ValueError):
        return None
    return config


def _is_shape(x: Any) -> bool:
    return isinstance(x, (tuple, list)) and all(
        isinstance(n, (int, np.integer, type(None))) and not isinstance(n, bool)
        for n in x
    )


def _zeros_like_shape(shape: Any, dtype: str) -> Any:
    """Zeros for a shape or a structure of shapes (unknown sizes become 1)."""
    if _is_shape(shape):
        return np.zeros(tuple(1 if n is None else int(n) for n in shape), dtype)
    if isinstance(shape, dict):
        return {k: _zeros_like_shape(v, dtype) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        return [_zeros_like_shape(s, dtype) for s in shape]
    raise ValueError(f"build: expected a shape such as (None, 784), got {shape!r}")


def _shape_structure(inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return {k: _shape_structure(v) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [_shape_structure(v) for v in inputs]
    return _shape_of(inputs)


# --------------------------------------------------------------------------
# Serialization: layers to configs and back, with class lookup by name
# --------------------------------------------------------------------------
_MODEL_CLASSES = ("Functional", "Model", "Sequential")


def serialize_layer(layer: Layer) -> dict[str, Any]:
    """A layer (or model) as Keras's ``{"class_name", "config", ...}`` dict.

    >>> from numdl.layers import Dense
    >>> cfg = serialize_layer(Dense(2, name="d"))
    >>> cfg["class_name"], cfg["config"]["units"]
    ('Dense', 2)
    """
    cls = type(layer)
    builtin = cls.__module__.startswith("numdl.")
    module = cls.__module__
    if builtin and module.startswith("numdl.layers"):
        module = "numdl.layers"
    elif builtin and module.startswith("numdl.models"):
        module = "numdl.models"
    return {
        "module": module,
        "class_name": cls.__name__,
        "config": layer.get_config(),
        "registered_name": None if builtin else cls.__name__,
    }


def deserialize_layer(
    config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> Layer:
    """Recreate a layer (or model) from ``serialize_layer``'s dict.

    >>> from numdl.layers import Dense
    >>> deserialize_layer(serialize_layer(Dense(2, name="d"))).name
    'd'
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"deserialize_layer: expected a dict with 'class_name' and 'config', "
            f"got {config!r}"
        )
    name = config.get("registered_name") or config["class_name"]
    cls = get_layer_class(name, custom_objects, fallback=config["class_name"])
    layer_config = config.get("config", {})
    if isinstance(cls, type) and issubclass(cls, Model):
        return cls.from_config(layer_config, custom_objects=custom_objects)
    return cls.from_config(layer_config)


def get_layer_class(
    name: str, custom_objects: dict[str, Any] | None = None, fallback: str = ""
) -> type:
    """The layer class called ``name``: ``custom_objects``, then the registry.

    Every layer class that ``numdl.layers`` exports, and the model classes,
    are in the registry (kind ``"layer"``) under their class names.

    >>> get_layer_class("Dense").__name__
    'Dense'
    """
    custom_objects = custom_objects or {}
    for key in (name, fallback):
        if key and key in custom_objects:
            return custom_objects[key]
    register_layer_classes()
    known = set(registry.names("layer"))
    for key in (name, fallback):
        if key in known:
            return registry.get("layer", key)
    raise ValueError(
        f"Unknown layer class {name!r}: it is neither a numdl layer nor in "
        f"custom_objects. Pass custom_objects={{{name!r}: {name}}} (the class) "
        f"to from_config / model_from_json."
    )


def register_layer_classes() -> None:
    """Register every Layer class exported by ``numdl.layers``, and the models.

    >>> register_layer_classes(); "Dense" in registry.names("layer")
    True
    """
    import numdl.layers as layers_module
    from numdl.models.functional import Functional
    from numdl.models.sequential import Sequential

    known = set(registry.names("layer"))
    candidates = [(n, getattr(layers_module, n, None)) for n in layers_module.__all__]
    candidates += [("Functional", Functional), ("Model", Model)]
    candidates += [("Sequential", Sequential)]
    for name, obj in candidates:
        if isinstance(obj, type) and issubclass(obj, Layer) and name not in known:
            registry.register("layer", name)(obj)


def model_from_json(
    json_string: str, custom_objects: dict[str, Any] | None = None
) -> Layer:
    """Recreate a model (new weights) from ``model.to_json()``.

    >>> from numdl.layers import Dense, Input
    >>> x = Input(shape=(3,))
    >>> model_from_json(Model(x, Dense(2)(x)).to_json()).output_shape
    (None, 2)
    """
    return deserialize_layer(json.loads(json_string), custom_objects)
