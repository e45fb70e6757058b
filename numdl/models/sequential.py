"""``Sequential``: a linear stack of layers, each feeding the next (Keras 3).

With an ``Input`` first (or a first layer given ``input_shape=``), the model is
built as layers are added: each layer is called on the previous layer's
symbolic output, so shapes are checked at once and ``summary()`` knows every
output shape. Without one, the model is built on its first call (or ``fit``)
from the shape of the data. Once built, it runs as a functional model.

>>> import numpy as np
>>> from numdl.layers import Dense, Input
>>> model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(2)])
>>> model.output_shape, model.count_params()
((None, 2), 58)
>>> model(np.ones((3, 4))).shape
(3, 2)
"""

from __future__ import annotations

from typing import Any

from numdl.autograd.tensor import Tensor
from numdl.backend import array_module
from numdl.layers.base import Layer, is_shape
from numdl.layers.input_layer import InputLayer
from numdl.layers.symbolic import KerasTensor
from numdl.models.functional import Functional
from numdl.models.model import Model, deserialize_layer, serialize_layer


class _NotBuiltError(ValueError, AttributeError):
    """Keras raises ValueError; being an AttributeError too lets ``hasattr``
    and ``getattr(model, "inputs", None)`` see an unbuilt model as having none."""


class Sequential(Model):
    """A stack of layers: ``Sequential([Input(shape=(784,)), Dense(10)])``.

    >>> from numdl.layers import Dense
    >>> model = Sequential()
    >>> model.add(Dense(3, input_shape=(5,)))  # built at once, Keras-style
    >>> model.add(Dense(1))
    >>> model.built, model.output_shape
    (True, (None, 1))
    """

    def __init__(
        self, layers: Any = None, trainable: bool = True, name: str | None = None
    ) -> None:
        Layer.__init__(self, trainable=trainable, name=name)
        self.__dict__["_functional"] = None
        self._layers = []
        if layers:
            if isinstance(layers, Layer) or not isinstance(layers, (list, tuple)):
                layers = [layers]
            for layer in layers:
                self.add(layer, rebuild=False)
            self._maybe_rebuild()
        if not trainable:
            self.trainable = False

    # ---------------------------------------------------------- stacking
    def add(self, layer: Any, rebuild: bool = True) -> None:
        """Put ``layer`` on top of the stack (an ``Input(...)`` tensor works too).

        >>> from numdl.layers import Dense, Input
        >>> model = Sequential()
        >>> model.add(Input(shape=(2,)))
        >>> model.add(Dense(4))
        >>> [type(layer).__name__ for layer in model.layers]
        ['Dense']
        """
        layer = self._as_layer(layer)
        if not self._layers and not isinstance(layer, InputLayer):
            if layer._batch_input_shape is not None:  # Dense(4, input_shape=...)
                self._layers.append(
                    InputLayer(batch_shape=layer._batch_input_shape, dtype=layer.dtype)
                )
        self._layers.append(layer)
        if not rebuild:
            self._reset_graph()
            return
        try:
            self._maybe_rebuild()
        except Exception:
            self._layers.pop()  # leave the model as it was before the add
            self._maybe_rebuild()
            raise

    def _as_layer(self, layer: Any) -> Layer:
        if isinstance(layer, KerasTensor):
            origin = layer._keras_history[0]
            if not isinstance(origin, InputLayer):
                raise ValueError(
                    f"Sequential model {self.name!r}: only a tensor made by "
                    f"Input(...) can be added, got the output of layer "
                    f"{origin.name!r}"
                )
            layer = origin
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Only instances of Layer can be added to a Sequential model "
                f"({self.name!r}). Received: {layer!r} (of type "
                f"{type(layer).__name__})"
            )
        if any(other.name == layer.name for other in self._layers):
            raise ValueError(
                f"All layers added to a Sequential model should have unique "
                f"names. Name {layer.name!r} is already the name of a layer in "
                f"model {self.name!r}. Pass a unique `name` to the layer."
            )
        if isinstance(layer, InputLayer) and self._layers:
            if isinstance(self._layers[0], InputLayer):
                raise ValueError(
                    f"Sequential model {self.name!r} has already been configured "
                    f"to use input shape {self._layers[0].batch_shape}. You "
                    f"cannot add a different Input layer to it."
                )
            raise ValueError(
                f"Sequential model {self.name!r}: an Input can only be the first "
                f"layer; it already has {len(self._layers)} layer(s)"
            )
        return layer

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove the top layer and return it.

        >>> from numdl.layers import Dense, Input
        >>> model = Sequential([Input(shape=(2,)), Dense(4), Dense(1)])
        >>> model.pop().units, model.output_shape
        (1, (None, 4))
        """
        if not self._layers:
            raise ValueError(f"Sequential model {self.name!r} has no layers to pop")
        layer = self._layers.pop()
        self._reset_graph()
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _reset_graph(self) -> None:
        self.built = False
        self.__dict__["_functional"] = None

    def _maybe_rebuild(self) -> None:
        self._reset_graph()
        if len(self._layers) > 1 and isinstance(self._layers[0], InputLayer):
            self.build(self._layers[0].batch_shape)

    # ------------------------------------------------------------- build
    def build(self, input_shape: Any = None) -> None:
        """Build for inputs of ``input_shape`` (batch axis ``None``).

        >>> from numdl.layers import Dense
        >>> model = Sequential([Dense(3), Dense(1)])
        >>> model.build((None, 4)); model.count_params()
        19
        """
        if input_shape is None and self._layers:
            first = self._layers[0]
            if isinstance(first, InputLayer):
                input_shape = first.batch_shape
        if isinstance(input_shape, list) and is_shape(tuple(input_shape)):
            input_shape = tuple(input_shape)
        if not is_shape(input_shape) or not input_shape:
            raise ValueError(
                f"Sequential model {self.name!r}: build() needs the shape of one "
                f"input, e.g. build((None, 784)); got {input_shape!r}"
            )
        self._build_graph(input_shape, dtype=None)

    def _build_graph(self, input_shape: tuple, dtype: Any) -> None:
        if not self._layers:
            raise ValueError(
                f"Sequential model {self.name!r} cannot be built because it has "
                f"no layers. Call `model.add(layer)`."
            )
        first = self._layers[0]
        if isinstance(first, InputLayer):
            if tuple(first.batch_shape) != tuple(input_shape):
                raise ValueError(
                    f"Sequential model {self.name!r} has already been configured "
                    f"to use input shape {first.batch_shape}. You cannot build "
                    f"it with input_shape {tuple(input_shape)}"
                )
            input_layer, stack = first, self._layers[1:]
        else:
            dtype = dtype or first.dtype
            input_layer = InputLayer(batch_shape=input_shape, dtype=dtype)
            stack = list(self._layers)
        x = input_layer.output
        for layer in stack:
            x = self._call_in_chain(layer, x)
        self._layers = [input_layer] + stack
        functional = Functional(input_layer.output, x, name=self.name)
        self.__dict__["_functional"] = functional
        self._build_shapes = tuple(input_shape)
        self.built = True

    def _call_in_chain(self, layer: Layer, x: KerasTensor) -> Any:
        """Call ``layer`` on the previous output; errors name the layer."""
        try:
            return layer(x)
        except (ValueError, TypeError, IndexError) as e:
            if layer.name in str(e):
                raise
            raise ValueError(
                f"Sequential model {self.name!r}: layer {layer.name!r} "
                f"({type(layer).__name__}) cannot take the output of the layer "
                f"before it, of shape {x.shape}: {e}"
            ) from e

    def _maybe_build(self, inputs: Any) -> None:
        if self.built:
            return
        if isinstance(inputs, Tensor) and self._layers:
            # Integer data (token ids) keeps an integer Input.
            dtype = inputs.dtype if inputs.dtype.kind in "iub" else None
            shape = (None,) + tuple(inputs.shape[1:])
            self._build_graph(shape, dtype=dtype)
        else:
            self.built = True  # nested inputs: the layers are applied in turn

    # -------------------------------------------------------------- call
    def _to_tensor(self, x: Any) -> Any:
        # Inputs keep their dtype; the Input layer converts them.
        if isinstance(x, Tensor) or x is None or isinstance(x, (str, bool)):
            return x
        if callable(x):
            return x
        return Tensor(array_module(x).asarray(x))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """Run the layers in order (through the built graph when there is one).

        >>> import numpy as np
        >>> from numdl.layers import Identity
        >>> Sequential([Identity()]).call(np.ones((1, 2))).tolist()
        [[1.0, 1.0]]
        """
        functional = self.__dict__.get("_functional")
        if functional is not None:
            return functional.call(inputs, training=training)
        outputs = inputs
        for layer in self.layers:
            if training is None:
                outputs = layer(outputs)
            else:
                outputs = layer(outputs, training=training)
        return outputs

    def _predict_arrays(self, x: Any) -> Any:
        """``self(x, training=False)`` on arrays where the layers allow it
        (``Functional._predict_arrays``); else None."""
        if type(self).call is not Sequential.call:
            return None
        functional = self.__dict__.get("_functional")  # (it checks its chain)
        return None if functional is None else functional._predict_arrays(x)

    # -------------------------------------------------------- properties
    @property
    def layers(self) -> list[Layer]:
        """The layers added, without the Input layer (as Keras)."""
        layers = self._layers
        if layers and isinstance(layers[0], InputLayer):
            return layers[1:]
        return list(layers)

    @layers.setter
    def layers(self, _: Any) -> None:
        raise AttributeError(
            "`Model.layers` attribute is reserved and should not be used. "
            "Please use another name."
        )

    def _graph(self, what: str) -> Functional:
        functional = self.__dict__.get("_functional")
        if functional is None:
            raise _NotBuiltError(
                f"Sequential model {self.name!r} has no defined {what} yet: give "
                f"it an Input first, call it on data, or build(input_shape)"
            )
        return functional

    @property
    def inputs(self) -> list[KerasTensor]:
        """The input KerasTensor (in a list); raises before the model is built."""
        return self._graph("inputs").inputs

    @property
    def outputs(self) -> list[KerasTensor]:
        """The output KerasTensor (in a list); raises before the model is built."""
        return self._graph("outputs").outputs

    @property
    def input(self) -> Any:
        """The input KerasTensor."""
        return self._graph("input").input

    @property
    def output(self) -> Any:
        """The output KerasTensor."""
        return self._graph("output").output

    @property
    def input_shape(self) -> Any:
        """The input shape, ``None`` for the batch axis."""
        return self._graph("input shape").input_shape

    @property
    def output_shape(self) -> Any:
        """The output shape, ``None`` for the batch axis."""
        return self._graph("output shape").output_shape

    def _default_output_names(self) -> list[str]:
        layers = self.layers
        return [layers[-1].name] if layers else []

    def _default_input_names(self) -> list[str] | None:
        if self._layers and isinstance(self._layers[0], InputLayer):
            return [self._layers[0].name]
        return None

    # ----------------------------------------------------------- configs
    def get_config(self) -> dict[str, Any]:
        """Keras's format: the name, each layer's config, the build shape.

        >>> from numdl.layers import Dense, Input
        >>> config = Sequential([Input(shape=(3,)), Dense(2)]).get_config()
        >>> [c["class_name"] for c in config["layers"]], config["build_input_shape"]
        (['InputLayer', 'Dense'], [None, 3])
        """
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype,
            "layers": [serialize_layer(layer) for layer in self._layers],
        }
        if self.__dict__.get("_functional") is not None:
            config["build_input_shape"] = list(self._layers[0].batch_shape)
        return config

    @classmethod
    def from_config(
        cls, config: Any, custom_objects: dict[str, Any] | None = None
    ) -> Sequential:
        """Recreate the model (new weights) from ``get_config()``.

        >>> from numdl.layers import Dense
        >>> model = Sequential([Dense(2)], name="s")
        >>> model.build((None, 3))
        >>> Sequential.from_config(model.get_config()).output_shape
        (None, 2)
        """
        if isinstance(config, list):  # tf.keras 1 format: just the layers
            config = {"layers": config}
        model = cls(name=config.get("name"))
        for layer_config in config["layers"]:
            model.add(deserialize_layer(layer_config, custom_objects), rebuild=False)
        if model._layers:
            model._maybe_rebuild()
        build_shape = config.get("build_input_shape")
        if model.__dict__.get("_functional") is None and build_shape:
            model.build(tuple(build_shape))
        if config.get("trainable") is False:
            model.trainable = False
        return model


def chain_model(model: Any) -> Functional | None:
    """The Functional that runs ``model`` (a Sequential or Functional whose
    ``call`` is the built-in one) when its layers form one chain, else None:
    the models whose layers shortcuts may run one after another.

    >>> from numdl import layers, models
    >>> m = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    >>> chain_model(m) is m._functional
    True
    """
    if type(model).call is Sequential.call:
        model = model.__dict__.get("_functional")
    if model is None or type(model).call is not Functional.call:
        return None
    return model if model._chain is not None else None
