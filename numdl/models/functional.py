"""``Functional``: a model defined as a graph of layer calls (Keras 3).

``Input`` gives symbolic tensors; calling layers on them records nodes
(``numdl/layers/symbolic.py``). ``Model(inputs, outputs)`` walks the nodes
back from the outputs to the inputs, orders the layers as Keras does (by depth
in the graph, then by the order they were first reached) and, when called on
data, replays each node with real values in place of the symbolic tensors.

>>> import numpy as np
>>> from numdl.layers import Dense, Input, concatenate
>>> from numdl.models import Model
>>> a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
>>> shared = Dense(4)
>>> merged = concatenate([shared(a), Dense(4)(b)])
>>> model = Model({"a": a, "b": b}, {"y": Dense(1)(merged)})
>>> out = model({"a": np.ones((5, 3)), "b": np.ones((5, 2))})
>>> out["y"].shape, model.input_names, model.output_names
((5, 1), ['a', 'b'], ['y'])
"""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from numdl import ops, tree
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module
from numdl.layers.base import Changes, Layer, unique_name
from numdl.layers.input_layer import InputLayer
from numdl.layers.symbolic import KerasTensor, Node
from numdl.models.model import Model, serialize_layer


class Functional(Model):
    """A model made from ``Input`` tensors and the layer calls that follow.

    Inputs and outputs may be one KerasTensor, a list or a dict. The model
    is called with data in the same structure (a dict keyed by input name
    works for any model) and returns outputs in the structure it was built
    with.

    >>> from numdl.layers import Dense, Input
    >>> x = Input(shape=(4,))
    >>> model = Functional(x, Dense(3)(x))
    >>> model(np.zeros((2, 4))).shape
    (2, 3)
    """

    def __init__(
        self, inputs: Any, outputs: Any, name: str | None = None, **kwargs: Any
    ) -> None:
        trainable = kwargs.pop("trainable", None)
        Layer.__init__(self, name=name, **kwargs)
        _check_symbolic(self.name, "inputs", inputs)
        _check_symbolic(self.name, "outputs", outputs)
        _warn_dict_keys(inputs)
        if not all(_is_input_tensor(t) for t in tree.flatten(inputs)):
            inputs, outputs = clone_graph_nodes(inputs, outputs)
        self._inputs_struct = tree.map_structure(lambda t: t, inputs)
        self._outputs_struct = tree.map_structure(lambda t: t, outputs)
        self._inputs = tree.flatten(inputs)
        self._outputs = tree.flatten(outputs)
        graph = map_graph(self.name, self._inputs, self._outputs)
        self._network_nodes, self._nodes_by_depth, layers = graph
        self._exec_nodes = [
            node
            for depth in sorted(self._nodes_by_depth, reverse=True)
            for node in self._nodes_by_depth[depth]
            if node.input_tensors
        ]
        self._layers = layers
        self._chain = _linear_chain(self._exec_nodes, inputs, outputs)
        if trainable is not None:
            self.trainable = trainable
        self.built = True

    # ------------------------------------------------------------- call
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if len(self._inputs) == 1 and _is_number_list(inputs):
            inputs = np.asarray(inputs)  # one input given as nested lists
        return super().__call__(inputs, *args, **kwargs)

    def _to_tensor(self, x: Any) -> Any:
        # Each input is converted to its Input's dtype in ``call``, not to
        # the model's dtype here (an int input stays int).
        if isinstance(x, Tensor) or x is None or isinstance(x, (str, bool)):
            return x
        if callable(x):
            return x
        return Tensor(array_module(x).asarray(x))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """Replay the graph on ``inputs`` (checked against each Input first).

        >>> from numdl.layers import Identity, Input
        >>> x = Input(shape=(2,), name="x")
        >>> Functional(x, Identity()(x)).call({"x": np.ones((1, 2))}).tolist()
        [[1.0, 1.0]]
        """
        if self._chain is not None:  # one layer after another (most Sequentials)
            x = self._standardize_inputs(inputs)[0]
            for layer in self._chain:
                x = layer(x) if training is None else layer(x, training=training)
            return x
        values = dict(zip(map(id, self._inputs), self._standardize_inputs(inputs)))

        def fill(x: Any) -> Any:
            return values[id(x)] if isinstance(x, KerasTensor) else x

        for node in self._exec_nodes:
            args = tree.map_structure(fill, node.call_args)
            kwargs = tree.map_structure(fill, node.call_kwargs)
            if training is not None and "training" not in kwargs:
                kwargs["training"] = training
            outputs = node.layer(*args, **kwargs)
            for kt, value in zip(tree.flatten(node.outputs), tree.flatten(outputs)):
                values[id(kt)] = value
        flat = [values[id(t)] for t in self._outputs]
        return _unpack_singleton(tree.pack_sequence_as(self._outputs_struct, flat))

    def _predict_arrays(self, x: np.ndarray) -> Any:
        """``self(x, training=False)`` for one host array, run on arrays.

        For a chain of layers that each run on plain arrays
        (``Layer._array_fn``): the same checks and ops without Tensors, the
        graph or the per-layer call bookkeeping, about half of a one-sample
        MLP ``predict``. None where the model is not such a chain; the caller
        then takes the usual path.
        """
        if self._chain is None or type(self).call is not Functional.call:
            return None
        plan = self.__dict__.get("_arrays_plan")
        if plan is None or plan.token is not Changes.token:
            plan = self._array_plan()
        if plan.fns is None:
            return None
        if plan.passed == (x.shape, x.dtype):  # as last time: checked then
            for fn in plan.fns:
                x = fn(x)
            return x
        given = x
        x = self._conform_input(x, self._inputs[0])  # checked as in call
        x = x.data if isinstance(x, Tensor) else x
        as_given = x is given  # no cast, no reshape
        for layer, fn in zip(self._chain, plan.fns):
            layer._check_input_spec(x)
            x = fn(x)
        if as_given:  # the same input passes the same checks next time
            plan.passed = (given.shape, given.dtype)
        return x

    def _array_plan(self) -> _ArrayPlan:
        """The chain's array functions, worked out afresh (``_predict_arrays``
        keeps them until any layer changes, ``Changes``: ~1.5 us a layer
        saved per ``predict``)."""
        token = Changes.token
        fns = [layer._array_fn() for layer in self._chain]
        plan = _ArrayPlan(token, None if None in fns else fns)
        self.__dict__["_arrays_plan"] = plan
        return plan

    def _standardize_inputs(self, inputs: Any) -> list[Any]:
        """The inputs as a flat list in ``self.inputs`` order, checked."""
        expected = len(self._inputs)
        if isinstance(inputs, dict):
            flat = self._inputs_from_dict(inputs)
        elif isinstance(inputs, (list, tuple)):
            struct = self._inputs_struct
            if isinstance(struct, dict) and list(struct) != sorted(struct):
                raise ValueError(
                    f"Model {self.name!r} takes a dict of inputs with keys "
                    f"{list(struct)}; pass a dict, not a {type(inputs).__name__}"
                )
            flat = tree.flatten(inputs)
            if len(flat) != expected:
                raise ValueError(
                    f"Model {self.name!r} expects {expected} input(s) "
                    f"{self.input_names}, got a {type(inputs).__name__} of "
                    f"{len(flat)}"
                )
        else:
            if expected != 1:
                raise ValueError(
                    f"Model {self.name!r} expects {expected} inputs "
                    f"{self.input_names}: pass a list or a dict keyed by input "
                    f"name, got one array of shape {_shape_or_type(inputs)}"
                )
            flat = [inputs]
        return [self._conform_input(x, kt) for x, kt in zip(flat, self._inputs)]

    def _inputs_from_dict(self, inputs: dict[str, Any]) -> list[Any]:
        struct = self._inputs_struct
        if isinstance(struct, dict):
            keys = list(struct)
        else:
            keys = [t._keras_history[0].name for t in self._inputs]
        missing = [k for k in keys if k not in inputs]
        if missing:
            raise ValueError(
                f"Model {self.name!r}: missing input(s) {missing}; expected the "
                f"keys {keys}, got {list(inputs)}"
            )
        if isinstance(struct, dict):
            return tree.flatten({k: inputs[k] for k in keys})
        return [inputs[k] for k in keys]

    def _conform_input(self, x: Any, kt: KerasTensor) -> Any:
        """Check ``x`` against the Input ``kt``; fix a trailing 1 and the dtype."""
        if x is None:
            raise ValueError(
                f"Model {self.name!r}: input {kt.name!r} is not optional, but "
                f"None was passed"
            )
        x = self._to_tensor(x)
        if isinstance(x, Tensor):  # this shape and type passed last time
            seen = (id(kt), x.data.shape, x.data.dtype)
            if self.__dict__.get("_conformed") == seen:
                return x
        ref, got = kt.shape, tuple(x.shape)
        if len(got) == len(ref) + 1 and got[-1] == 1:
            x = ops.squeeze(x, -1)  # (batch, 1) data for Input(shape=())
        elif len(got) == len(ref) - 1 and ref and ref[-1] == 1:
            x = ops.expand_dims(x, -1)  # (batch,) data for Input(shape=(1,))
        shape = tuple(x.shape)
        # As Keras, the batch axis is not checked (Input(batch_size=...) too).
        if len(shape) != len(ref) or any(
            r is not None and r != s for r, s in zip(ref[1:], shape[1:])
        ):
            layer = kt._keras_history[0]
            raise ValueError(_shape_mismatch(self.name, layer.name, ref, got))
        if x.dtype != np.dtype(kt.dtype):
            return ops.cast(x, kt.dtype)
        if isinstance(x, Tensor) and tuple(x.shape) == got:  # as given: remember
            self.__dict__["_conformed"] = (id(kt), x.data.shape, x.data.dtype)
        return x

    # ------------------------------------------------------- properties
    @property
    def inputs(self) -> list[KerasTensor]:
        """The input KerasTensors, flat (dicts in sorted-key order)."""
        return list(self._inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        """The output KerasTensors, flat (dicts in sorted-key order)."""
        return list(self._outputs)

    @property
    def input(self) -> Any:
        """The inputs in the structure given at construction."""
        return self._inputs_struct

    @property
    def output(self) -> Any:
        """The outputs in the structure given at construction."""
        return self._outputs_struct

    @property
    def input_shape(self) -> Any:
        """Shape(s) of the inputs, ``None`` for unknown sizes."""
        shapes = tree.map_structure(lambda t: t.shape, self._inputs_struct)
        return _unpack_singleton(shapes)

    @property
    def output_shape(self) -> Any:
        """Shape(s) of the outputs, ``None`` for unknown sizes."""
        shapes = tree.map_structure(lambda t: t.shape, self._outputs_struct)
        return _unpack_singleton(shapes)

    def _default_output_names(self) -> list[str]:
        return _names(self._outputs_struct, self._outputs)

    def _default_input_names(self) -> list[str]:
        return _names(self._inputs_struct, self._inputs)

    def build(self, input_shape: Any = None) -> None:
        """A functional model is built when made; nothing to do."""
        self.built = True

    # ---------------------------------------------------------- configs
    def get_config(self) -> dict[str, Any]:
        """Keras's functional config: layers with their inbound nodes.

        >>> import json
        >>> from numdl.layers import Dense, Input
        >>> x = Input(shape=(3,), name="x")
        >>> config = Functional(x, Dense(2, name="d")(x)).get_config()
        >>> config["input_layers"], config["output_layers"]
        (['x', 0, 0], ['d', 0, 0])
        >>> len(json.dumps(config)) > 0
        True
        """
        if not _functional_like_constructor(type(self)):
            return Model.get_config(self)
        index_map = self._node_index_map()
        layer_configs = []
        for layer in self._layers:
            config = serialize_layer(layer)
            config["name"] = layer.name
            config["inbound_nodes"] = [
                _serialize_node(node, index_map)
                for node in layer._inbound_nodes
                if id(node) in self._network_nodes and node.input_tensors
            ]
            layer_configs.append(config)

        def tensor_config(t: KerasTensor) -> list[Any]:
            layer, node_index, tensor_index = t._keras_history
            return [layer.name, index_map[(id(layer), node_index)], tensor_index]

        return copy.deepcopy(
            {
                "name": self.name,
                "trainable": self.trainable,
                "layers": layer_configs,
                "input_layers": tree.map_structure(tensor_config, self._inputs_struct),
                "output_layers": tree.map_structure(
                    tensor_config, self._outputs_struct
                ),
            }
        )

    def _node_index_map(self) -> dict[tuple[int, int], int]:
        """Node indices counted among this model's nodes only (as Keras)."""
        index_map = {}
        for layer in self._layers:
            kept = 0
            for i, node in enumerate(layer._inbound_nodes):
                if id(node) in self._network_nodes:
                    index_map[(id(layer), i)] = kept
                    kept += 1
        return index_map


class _ArrayPlan:
    """What ``Functional._predict_arrays`` works out once: the layers' array
    functions (None if a layer has none) under the ``Changes`` token they
    were made with, and the input ``(shape, dtype)`` that passed the input
    checks with them (the shapes inside the chain follow from it, so the
    same input passes again while the token holds)."""

    __slots__ = ("token", "fns", "passed")

    def __init__(self, token: object, fns: list[Callable] | None) -> None:
        self.token, self.fns, self.passed = token, fns, None


# --------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------
def map_graph(
    model_name: str, inputs: list[KerasTensor], outputs: list[KerasTensor]
) -> tuple[set[int], dict[int, list[Node]], list[Layer]]:
    """Nodes and layers between ``inputs`` and ``outputs``, ordered as Keras.

    Returns the ids of the nodes, the nodes by depth (0 at the outputs) and
    the layers from the inputs on. Raises ValueError when an output needs a
    tensor that the inputs cannot give (a disconnected graph) and when two
    layers share a name.

    >>> from numdl.layers import Dense, Input
    >>> x = Input(shape=(2,), name="in")
    >>> y = Dense(1, name="out")(x)
    >>> _, by_depth, layers = map_graph("m", [x], [y])
    >>> [layer.name for layer in layers], sorted(by_depth)
    (['in', 'out'], [0, 1])
    """
    order, first_seen = _build_map({id(t) for t in inputs}, outputs)
    node_depth: dict[Node, int] = {}
    layer_depth: dict[Layer, int] = {}
    for node in reversed(order):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = node_depth[node] = depth
        for parent in node.parent_nodes:
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for t in inputs:  # inputs that no output uses stay part of the model
        layer, node_index, _ = t._keras_history
        if layer not in layer_depth:
            layer_depth[layer], first_seen[layer] = 0, -1
            node_depth[layer._inbound_nodes[node_index]] = 0
    nodes_by_depth: dict[int, list[Node]] = {}
    for node, depth in node_depth.items():
        nodes_by_depth.setdefault(depth, []).append(node)
    layers = sorted(layer_depth, key=lambda lay: (-layer_depth[lay], first_seen[lay]))
    _check_connected(model_name, inputs, outputs, nodes_by_depth)
    _check_unique_names(model_name, layers)
    return {id(n) for n in node_depth}, nodes_by_depth, layers


def _build_map(
    input_ids: set[int], outputs: list[KerasTensor]
) -> tuple[list[Node], dict[Layer, int]]:
    """Depth-first walk from the outputs (iterative): nodes inputs-first, and
    the order in which each layer was first reached (Keras's ``_build_map``)."""
    finished: set[int] = set()
    order: list[Node] = []
    first_seen: dict[Layer, int] = {}
    for output in outputs:
        stack: list[tuple[KerasTensor, bool]] = [(output, False)]
        while stack:
            tensor, expanded = stack.pop()
            node = tensor.node
            if expanded:
                if id(node) not in finished:
                    finished.add(id(node))
                    order.append(node)
                continue
            if id(node) in finished:
                continue
            first_seen.setdefault(node.layer, len(first_seen))
            stack.append((tensor, True))
            if id(tensor) not in input_ids:
                stack.extend((t, False) for t in reversed(node.input_tensors))
    return order, first_seen


def _check_connected(
    model_name: str,
    inputs: list[KerasTensor],
    outputs: list[KerasTensor],
    nodes_by_depth: dict[int, list[Node]],
) -> None:
    computable = {id(t) for t in inputs}
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            if not node.input_tensors:
                continue  # an Input: computable only when it is a model input
            for t in node.input_tensors:
                if id(t) not in computable:
                    raise ValueError(_disconnected(model_name, t, node.layer, inputs))
            computable.update(id(t) for t in tree.flatten(node.outputs))
    for t in outputs:
        if id(t) not in computable:
            raise ValueError(_disconnected(model_name, t, None, inputs))


def _disconnected(
    model_name: str, tensor: KerasTensor, consumer: Layer | None, inputs: list
) -> str:
    source = tensor._keras_history[0]
    if isinstance(source, InputLayer):
        what = f"Input {source.name!r} (shape {tensor.shape})"
    else:
        what = f"tensor {tensor.name!r} (shape {tensor.shape}) of layer {source.name!r}"
    who = f"layer {consumer.name!r} needs" if consumer else "the output is"
    names = [t._keras_history[0].name for t in inputs]
    return (
        f"Functional model {model_name!r}: graph disconnected: {who} {what}, "
        f"which cannot be computed from the model's inputs {names}. Add that "
        f"Input to `inputs`, or build the outputs from the given inputs."
    )


def _check_unique_names(model_name: str, layers: list[Layer]) -> None:
    counts = Counter(layer.name for layer in layers)
    for name, count in counts.items():
        if count > 1:
            raise ValueError(
                f"Functional model {model_name!r}: the name {name!r} is used "
                f"{count} times in the model. All layer names should be unique."
            )


def clone_graph_nodes(inputs: Any, outputs: Any) -> tuple[Any, Any]:
    """Start a model at intermediate tensors: new Inputs, and copies of the
    nodes between them and the outputs (the layers, and weights, are shared).

    >>> from numdl.layers import Dense, Input
    >>> x = Input(shape=(3,))
    >>> h = Dense(4)(x)
    >>> new_inputs, _ = clone_graph_nodes(h, Dense(2)(h))
    >>> type(new_inputs._keras_history[0]).__name__, new_inputs.shape
    ('InputLayer', (None, 4))
    """
    input_ids = {id(t) for t in tree.flatten(inputs)}
    order, _ = _build_map(input_ids, tree.flatten(outputs))
    mapping: dict[int, KerasTensor] = {}
    for t in tree.flatten(inputs):
        if _is_input_tensor(t):
            mapping[id(t)] = t
        else:
            name = unique_name(f"{t.name}_clone")
            layer = InputLayer(batch_shape=t.shape, dtype=t.dtype, name=name)
            mapping[id(t)] = layer.output

    def swap(x: Any) -> Any:
        return mapping.get(id(x), x) if isinstance(x, KerasTensor) else x

    def fresh(x: KerasTensor) -> KerasTensor:
        mapping[id(x)] = KerasTensor(x.shape, x.dtype, name=x.name)
        return mapping[id(x)]

    for node in order:
        outs = tree.flatten(node.outputs)
        if not node.input_tensors or any(id(o) in input_ids for o in outs):
            continue
        args = tree.map_structure(swap, node.call_args)
        kwargs = tree.map_structure(swap, node.call_kwargs)
        Node(node.layer, args, kwargs, tree.map_structure(fresh, node.outputs))
    return tree.map_structure(swap, inputs), tree.map_structure(swap, outputs)


# --------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------
class _NodeNotReady(Exception):
    """A node's inputs come from a node that is not rebuilt yet."""


def functional_from_config(
    cls: type, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> Model:
    """Rebuild a functional model (new weights) from ``get_config()``.

    >>> from numdl.layers import Dense, Input
    >>> x = Input(shape=(3,))
    >>> config = Functional(x, Dense(2)(x)).get_config()
    >>> functional_from_config(Functional, config).output_shape
    (None, 2)
    """
    from numdl.models.model import deserialize_layer

    config = dict(config)
    layer_configs = config.pop("layers")
    input_config = config.pop("input_layers")
    output_config = config.pop("output_layers")
    name = config.pop("name", None)
    trainable = config.pop("trainable", None)
    created: dict[str, Layer] = {}
    pending: dict[str, list[Any]] = {}
    for layer_config in layer_configs:
        layer = deserialize_layer(layer_config, custom_objects)
        layer_name = layer_config.get("name", layer.name)
        created[layer_name] = layer
        if layer_config.get("inbound_nodes"):
            pending[layer_name] = list(layer_config["inbound_nodes"])
    _replay_nodes(layer_configs, created, pending)

    def tensors(spec: Any) -> Any:
        if _is_history(spec):
            return _history_tensor(created, *spec[:3])
        if isinstance(spec, dict):
            return {k: tensors(v) for k, v in spec.items()}
        return type(spec)(tensors(v) for v in spec)

    if trainable is False:
        config["trainable"] = False
    return cls(
        inputs=tensors(input_config),
        outputs=tensors(output_config),
        name=name,
        **config,
    )


def _replay_nodes(
    layer_configs: list[dict], created: dict[str, Layer], pending: dict[str, list]
) -> None:
    """Call each layer on its inbound nodes, once the nodes it reads exist."""
    while pending:
        progressed = False
        for layer_config in layer_configs:
            layer_name = layer_config.get("name")
            queue = pending.get(layer_name)
            while queue:
                try:
                    args, kwargs = _deserialize_node(queue[0], created)
                except _NodeNotReady:
                    break
                created[layer_name](*args, **kwargs)
                queue.pop(0)
                progressed = True
            if queue == []:
                del pending[layer_name]
        if not progressed:
            raise ValueError(
                f"Functional.from_config: the inbound nodes of layers "
                f"{sorted(pending)} refer to nodes that do not exist"
            )


def _serialize_node(node: Node, index_map: dict[tuple[int, int], int]) -> dict:
    def serialize(x: Any) -> Any:
        if isinstance(x, KerasTensor):
            layer, node_index, tensor_index = x._keras_history
            history = [layer.name, index_map[(id(layer), node_index)], tensor_index]
            return {
                "class_name": "__keras_tensor__",
                "config": {
                    "shape": list(x.shape),
                    "dtype": x.dtype,
                    "keras_history": history,
                },
            }
        if isinstance(x, (np.generic, np.ndarray)):
            return x.tolist()
        return x

    return {
        "args": _map_json(serialize, list(node.call_args)),
        "kwargs": _map_json(serialize, dict(node.call_kwargs)),
    }


def _deserialize_node(data: Any, created: dict[str, Layer]) -> tuple[list, dict]:
    if isinstance(data, list):  # tf.keras format: [[layer, node, tensor, kw], ...]
        found = [_history_tensor(created, *item[:3]) for item in data]
        kwargs = next((item[3] for item in data if len(item) > 3), {})
        return [_unpack_singleton(found)], dict(kwargs)

    def revive(x: Any) -> Any:
        if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
            return _history_tensor(created, *x["config"]["keras_history"])
        if isinstance(x, dict):
            return {k: revive(v) for k, v in x.items()}
        if isinstance(x, list):
            return [revive(v) for v in x]
        return x

    return revive(data.get("args", [])), revive(data.get("kwargs", {}))


def _history_tensor(
    created: dict[str, Layer], layer_name: str, node_index: int, tensor_index: int
) -> KerasTensor:
    layer = created.get(layer_name)
    if layer is None:
        raise ValueError(
            f"Functional.from_config: unknown layer {layer_name!r}; the config "
            f"has layers {sorted(created)}"
        )
    if node_index >= len(layer._inbound_nodes):
        raise _NodeNotReady(layer_name)
    return tree.flatten(layer._inbound_nodes[node_index].outputs)[tensor_index]


def _is_history(spec: Any) -> bool:
    return (
        isinstance(spec, (list, tuple))
        and len(spec) == 3
        and isinstance(spec[0], str)
        and isinstance(spec[1], int)
    )


def _map_json(fn: Any, x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _map_json(fn, v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_map_json(fn, v) for v in x]
    return fn(x)


def _functional_like_constructor(cls: type) -> bool:
    args = inspect.getfullargspec(cls.__init__).args[1:]
    return args == inspect.getfullargspec(Functional.__init__).args[1:]


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _is_input_tensor(t: KerasTensor) -> bool:
    node = t.node
    return not node.input_tensors and isinstance(node.layer, InputLayer)


def _check_symbolic(model_name: str, what: str, structure: Any) -> None:
    flat = tree.flatten(structure)
    if not flat:
        raise ValueError(
            f"Functional model {model_name!r}: `{what}` cannot be empty, got "
            f"{structure!r}"
        )
    for x in flat:
        if not isinstance(x, KerasTensor):
            raise ValueError(
                f"Functional model {model_name!r}: every value in `{what}` must "
                f"be a KerasTensor (from Input or a layer called on one); got "
                f"{type(x).__name__} {x!r}"
            )


def _warn_dict_keys(inputs: Any) -> None:
    if not isinstance(inputs, dict):
        return
    for key, t in inputs.items():
        if isinstance(t, KerasTensor) and key != t.name:
            warnings.warn(
                f"When providing `inputs` as a dict, all keys in the dict must "
                f"match the names of the corresponding tensors. Received key "
                f"{key!r} mapping to a tensor named {t.name!r}. Change the "
                f"tensor name to {key!r} (via `Input(..., name={key!r})`)",
                stacklevel=3,
            )


def _names(structure: Any, flat: list[KerasTensor]) -> list[str]:
    """Dict keys for a flat dict of tensors, else the producing layers' names."""
    if isinstance(structure, dict) and all(
        isinstance(v, KerasTensor) for v in structure.values()
    ):
        return sorted(structure)
    return [t._keras_history[0].name for t in flat]


def _shape_mismatch(
    model_name: str, layer_name: str, expected: tuple, got: tuple
) -> str:
    message = (
        f"Model {model_name!r}: input layer {layer_name!r} expects data of shape "
        f"{expected}, got shape {got}"
    )
    want, have = expected[1:], got[1:]
    if not want or None in want or not have or math.prod(want) != math.prod(have):
        return message
    if len(want) == 1 and len(have) > 1:
        return message + (
            f" — the trailing sizes {have} hold {want[0]} values: reshape the "
            f"data to {(got[0], want[0])}, or start the model with "
            f"Input(shape={have}) followed by a Flatten layer?"
        )
    return message + f" — reshape the data to {(got[0],) + tuple(want)}?"


def _shape_or_type(x: Any) -> Any:
    return tuple(x.shape) if hasattr(x, "shape") else type(x).__name__


def _is_number_list(x: Any) -> bool:
    if not isinstance(x, (list, tuple)):
        return False
    leaves = tree.flatten(x)
    return len(leaves) > 0 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in leaves
    )


def _unpack_singleton(x: Any) -> Any:
    if isinstance(x, (list, tuple)) and len(x) == 1:
        return x[0]
    return x


def _linear_chain(nodes: list[Any], inputs: Any, outputs: Any) -> list[Layer] | None:
    """The layers of a graph that is one chain from a single Input to a single
    output, each layer called on the previous one's output alone; else None.

    ``Functional.call`` runs such a graph as a plain loop over its layers,
    without the per-node bookkeeping a general graph needs (~5 us a layer).
    """
    if not isinstance(inputs, KerasTensor) or not isinstance(outputs, KerasTensor):
        return None
    current, chain = inputs, []
    for node in nodes:
        if node.call_kwargs or len(node.call_args) != 1:
            return None
        if node.call_args[0] is not current or not isinstance(
            node.outputs, KerasTensor
        ):
            return None
        current = node.outputs
        chain.append(node.layer)
    return chain if current is outputs else None
