"""Export a Sequential or functional model to ONNX (``numdl.export.to_onnx``).

The graph is written with ``onnx.helper``, one converter per layer type.
numdl layers are channels-last by default, ONNX's Conv and pooling ops are
channels-first: each channels-last convolution or pooling is wrapped in two
Transposes (NHWC -> NCHW -> NHWC), which ONNX Runtime's optimiser folds away
between consecutive convolutions. The batch axis is dynamic (``"batch"``).
The ``onnx`` package is an optional extra: ``pip install "numdl[onnx]"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from numdl import registry
from numdl.backend import to_numpy
from numdl.layers import convolutional as conv_layers
from numdl.layers import core, merging, normalization, pooling, preprocessing
from numdl.layers import regularization as reg
from numdl.layers.input_layer import InputLayer

DEFAULT_OPSET = 17
SUPPORTED_OPSETS = range(13, 22)  # 13 ... 21


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - the extra is installed in CI
        raise ImportError(
            'numdl.export.to_onnx needs the onnx package: pip install "numdl[onnx]"'
        ) from err
    return onnx


# ------------------------------------------------------------------ builder
class _Builder:
    """Collects ONNX nodes and initializers under unique names."""

    def __init__(self, onnx: Any, opset: int, dtype: str) -> None:
        self.onnx, self.opset, self.dtype = onnx, opset, np.dtype(dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._used: set[str] = set()

    def name(self, base: str) -> str:
        name, i = base, 1
        while name in self._used:
            name, i = f"{base}_{i}", i + 1
        self._used.add(name)
        return name

    def const(self, value: Any, base: str, dtype: Any = None) -> str:
        """An initializer holding ``value`` (the model's float type by default)."""
        array = np.asarray(to_numpy(value), dtype=dtype or self.dtype)
        name = self.name(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values: Any, base: str) -> str:
        return self.const(np.asarray(values, dtype=np.int64), base, np.int64)

    def op(self, op_type: str, inputs: list[str], base: str, **attrs: Any) -> str:
        out = self.name(f"{base}/{op_type}")
        node = self.onnx.helper.make_node(
            op_type, inputs, [out], name=out, **{k: v for k, v in attrs.items()}
        )
        self.nodes.append(node)
        return out

    def reduce(
        self, op_type: str, x: str, axes: list[int], base: str, keepdims: bool
    ) -> str:
        """ReduceMean/ReduceMax: ``axes`` is an attribute before opset 18."""
        if self.opset >= 18:
            axes_input = self.ints(axes, f"{base}/axes")
            return self.op(op_type, [x, axes_input], base, keepdims=int(keepdims))
        return self.op(op_type, [x], base, axes=list(axes), keepdims=int(keepdims))


# -------------------------------------------------------------- activations
def _act_silu(g: _Builder, x: str, base: str) -> str:
    return g.op("Mul", [x, g.op("Sigmoid", [x], base)], base)


def _act_gelu(g: _Builder, x: str, base: str) -> str:
    # 0.5 * x * (1 + erf(x / sqrt(2))): exact GELU in every opset.
    erf = g.op("Erf", [g.op("Mul", [x, g.const(1 / math.sqrt(2), "c")], base)], base)
    half_x = g.op("Mul", [x, g.const(0.5, "c")], base)
    return g.op("Mul", [half_x, g.op("Add", [erf, g.const(1.0, "c")], base)], base)


def _act_mish(g: _Builder, x: str, base: str) -> str:
    return g.op("Mul", [x, g.op("Tanh", [g.op("Softplus", [x], base)], base)], base)


def _act_relu6(g: _Builder, x: str, base: str) -> str:
    return g.op("Clip", [x, g.const(0.0, "c"), g.const(6.0, "c")], base)


def _simple(op_type: str, **attrs: Any) -> Callable[[_Builder, str, str], str]:
    return lambda g, x, base: g.op(op_type, [x], base, **attrs)


_ACTIVATIONS: dict[str, Callable[[_Builder, str, str], str]] = {
    "linear": lambda g, x, base: x,
    "relu": _simple("Relu"),
    "relu6": _act_relu6,
    "sigmoid": _simple("Sigmoid"),
    "hard_sigmoid": _simple("HardSigmoid", alpha=1 / 6, beta=0.5),
    "tanh": _simple("Tanh"),
    "softmax": _simple("Softmax", axis=-1),
    "log_softmax": _simple("LogSoftmax", axis=-1),
    "softplus": _simple("Softplus"),
    "softsign": _simple("Softsign"),
    "elu": _simple("Elu", alpha=1.0),
    "selu": _simple("Selu", alpha=1.6732632423543772848, gamma=1.0507009873554804934),
    "leaky_relu": _simple("LeakyRelu", alpha=0.2),
    "exponential": _simple("Exp"),
    "gelu": _act_gelu,
    "silu": _act_silu,
    "swish": _act_silu,
    "mish": _act_mish,
}


def _activation(g: _Builder, layer: Any, x: str) -> str:
    name = registry.name_of("activation", layer.activation)
    if name not in _ACTIVATIONS:
        label = getattr(layer.activation, "__name__", repr(layer.activation))
        raise ValueError(
            f"to_onnx: {type(layer).__name__} {layer.name!r} uses the activation "
            f"{label!r}, which has no ONNX conversion; supported activations: "
            f"{', '.join(sorted(_ACTIVATIONS))}"
        )
    return _ACTIVATIONS[name](g, x, layer.name)


# --------------------------------------------------------------- converters
# Each converter takes (builder, layer, input names, input KerasTensors) and
# returns the name of the layer's output.
def _identity(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    return xs[0]


def _dense(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    kernel = g.const(layer.kernel.data, f"{layer.name}/kernel")
    y = g.op("MatMul", [xs[0], kernel], layer.name)
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(layer.bias.data, f"{layer.name}/bias")], layer.name)
    return _activation(g, layer, y)


def _activation_layer(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    return _activation(g, layer, xs[0])


def _flatten(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    x, rank = xs[0], len(kts[0].shape)
    if layer.data_format == "channels_first" and rank > 2:
        x = g.op("Transpose", [x], layer.name, perm=[0, *range(2, rank), 1])
    return g.op("Flatten", [x], layer.name, axis=1)


def _reshape(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    shape = g.ints([0, *layer.target_shape], f"{layer.name}/shape")
    return g.op("Reshape", [xs[0], shape], layer.name)


def _permute(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    return g.op("Transpose", [xs[0]], layer.name, perm=[0, *layer.dims])


def _cast_to_layer(g: _Builder, layer: Any, x: str, kt: Any) -> str:
    if np.dtype(kt.dtype) == g.dtype:
        return x
    to = g.onnx.helper.np_dtype_to_tensor_dtype(g.dtype)
    return g.op("Cast", [x], layer.name, to=int(to))


def _rescaling(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    x = _cast_to_layer(g, layer, xs[0], kts[0])
    y = g.op("Mul", [x, g.const(layer.scale, f"{layer.name}/scale")], layer.name)
    return g.op("Add", [y, g.const(layer.offset, f"{layer.name}/offset")], layer.name)


def _normalization(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    mean, std = (to_numpy(a) for a in layer._mean_and_std())
    x = _cast_to_layer(g, layer, xs[0], kts[0])
    mean_c = g.const(mean, f"{layer.name}/mean")
    std_c = g.const(std, f"{layer.name}/std")
    if layer.invert:
        return g.op("Add", [mean_c, g.op("Mul", [x, std_c], layer.name)], layer.name)
    return g.op("Div", [g.op("Sub", [x, mean_c], layer.name), std_c], layer.name)


def _trailing_shape(shape: tuple, axes: list[int], sizes: tuple) -> list[int]:
    """The shape that broadcasts values over ``axes`` from the first of them."""
    rank = len(shape)
    full = [1] * rank
    for a, n in zip(axes, sizes):
        full[a % rank] = n
    return full[min(a % rank for a in axes) :]


def _batch_norm(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    variance = to_numpy(layer.moving_variance.data).astype(np.float64)
    scale = 1.0 / np.sqrt(variance + layer.epsilon)
    if layer.gamma is not None:
        scale = scale * to_numpy(layer.gamma.data)
    shift = -to_numpy(layer.moving_mean.data) * scale
    if layer.beta is not None:
        shift = shift + to_numpy(layer.beta.data)
    shape = _trailing_shape(kts[0].shape, [layer.axis], scale.shape)
    y = g.op(
        "Mul", [xs[0], g.const(scale.reshape(shape), f"{layer.name}/scale")], layer.name
    )
    return g.op(
        "Add", [y, g.const(shift.reshape(shape), f"{layer.name}/shift")], layer.name
    )


def _layer_norm(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    x, base, rank = xs[0], layer.name, len(kts[0].shape)
    axes = sorted(a % rank for a in layer.axis)
    centred = g.op("Sub", [x, g.reduce("ReduceMean", x, axes, base, True)], base)
    variance = g.reduce(
        "ReduceMean", g.op("Mul", [centred, centred], base), axes, base, True
    )
    std = g.op(
        "Sqrt", [g.op("Add", [variance, g.const(layer.epsilon, "eps")], base)], base
    )
    y = g.op("Div", [x if layer.rms_scaling else centred, std], base)
    shape = _trailing_shape(kts[0].shape, axes, tuple(kts[0].shape[a] for a in axes))
    if layer.gamma is not None:
        gamma = g.const(to_numpy(layer.gamma.data).reshape(shape), f"{base}/gamma")
        y = g.op("Mul", [y, gamma], base)
    if layer.beta is not None:
        y = g.op(
            "Add",
            [y, g.const(to_numpy(layer.beta.data).reshape(shape), f"{base}/beta")],
            base,
        )
    return y


# ------------------------------------------------------ convolution, pooling
def _pads(
    padding: str, sizes: tuple, kernel: tuple, strides: tuple, dilation: tuple
) -> dict[str, Any]:
    """ONNX padding attributes for Keras's ``valid``, ``same`` and ``causal``."""
    begins, ends = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        reach = (k - 1) * d + 1
        if padding == "valid":
            total = 0
        elif padding == "causal":
            begins.append(reach - 1)
            ends.append(0)
            continue
        elif n is None:  # TensorFlow's "same" is ONNX's SAME_UPPER
            return {"auto_pad": "SAME_UPPER"}
        else:
            total = max((-(-n // s) - 1) * s + reach - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return {"pads": begins + ends}


def _channels_first(g: _Builder, x: str, rank: int, base: str) -> str:
    return g.op("Transpose", [x], base, perm=[0, rank - 1, *range(1, rank - 1)])


def _channels_last(g: _Builder, x: str, rank: int, base: str) -> str:
    return g.op("Transpose", [x], base, perm=[0, *range(2, rank), 1])


def _spatial_op(
    g: _Builder, layer: Any, x: str, kt: Any, make: Callable[[str, tuple], str]
) -> str:
    """Run ``make(x_nchw, spatial_sizes)`` in channels-first layout."""
    rank, last = len(kt.shape), layer.data_format == "channels_last"
    sizes = kt.shape[1:-1] if last else kt.shape[2:]
    if last:
        x = _channels_first(g, x, rank, layer.name)
    y = make(x, sizes)
    return _channels_last(g, y, rank, layer.name) if last else y


def _conv(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    nd = layer.rank
    kernel = np.transpose(to_numpy(layer.kernel.data), (nd + 1, nd, *range(nd)))
    inputs = [g.const(kernel, f"{layer.name}/kernel")]
    if layer.bias is not None:
        inputs.append(g.const(layer.bias.data, f"{layer.name}/bias"))

    def make(x: str, sizes: tuple) -> str:
        geometry = (layer.kernel_size, layer.strides, layer.dilation_rate)
        return g.op(
            "Conv",
            [x, *inputs],
            layer.name,
            kernel_shape=list(layer.kernel_size),
            strides=list(layer.strides),
            dilations=list(layer.dilation_rate),
            group=layer.groups,
            **_pads(layer.padding, sizes, *geometry),
        )

    return _activation(g, layer, _spatial_op(g, layer, xs[0], kts[0], make))


def _pool(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    is_max = isinstance(layer, (pooling.MaxPooling1D, pooling.MaxPooling2D))
    extra = {} if is_max else {"count_include_pad": 0}

    def make(x: str, sizes: tuple) -> str:
        ones = (1,) * len(sizes)
        return g.op(
            "MaxPool" if is_max else "AveragePool",
            [x],
            layer.name,
            kernel_shape=list(layer.pool_size),
            strides=list(layer.strides),
            **_pads(layer.padding, sizes, layer.pool_size, layer.strides, ones),
            **extra,
        )

    return _spatial_op(g, layer, xs[0], kts[0], make)


def _global_pool(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    is_max = isinstance(layer, pooling._GlobalMax)
    op_type = "ReduceMax" if is_max else "ReduceMean"
    axes = list(layer._axes())
    return g.reduce(op_type, xs[0], axes, layer.name, layer.keepdims)


# ------------------------------------------------------------------ merging
def _expanded(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> list[str]:
    """Lower-rank inputs get size-1 axes after the batch axis, as in numdl."""
    ndim = max(len(kt.shape) for kt in kts)
    out = []
    for x, kt in zip(xs, kts):
        missing = ndim - len(kt.shape)
        if missing:
            axes = g.ints(list(range(1, missing + 1)), f"{layer.name}/axes")
            x = g.op("Unsqueeze", [x, axes], layer.name)
        out.append(x)
    return out


def _fold(op_type: str) -> Callable[[_Builder, Any, list[str], list[Any]], str]:
    def convert(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
        xs = _expanded(g, layer, xs, kts)
        out = xs[0]
        for x in xs[1:]:
            out = g.op(op_type, [out, x], layer.name)
        return out

    return convert


def _average(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    total = _fold("Add")(g, layer, xs, kts)
    return g.op("Div", [total, g.const(float(len(xs)), "n")], layer.name)


def _concatenate(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    axis = layer.axis % len(kts[0].shape)
    return g.op("Concat", xs, layer.name, axis=axis)


_IDENTITY_LAYERS = (
    InputLayer,
    core.Dropout,
    core.Identity,
    reg.GaussianDropout,
    reg.GaussianNoise,
    reg.ActivityRegularization,
    reg.SpatialDropout1D,
    reg.SpatialDropout2D,
)

_CONVERTERS: dict[type, Callable[[_Builder, Any, list[str], list[Any]], str]] = {
    **dict.fromkeys(_IDENTITY_LAYERS, _identity),
    core.Dense: _dense,
    core.Activation: _activation_layer,
    core.Flatten: _flatten,
    core.Reshape: _reshape,
    core.Permute: _permute,
    preprocessing.Rescaling: _rescaling,
    preprocessing.Normalization: _normalization,
    normalization.BatchNormalization: _batch_norm,
    normalization.LayerNormalization: _layer_norm,
    conv_layers.Conv1D: _conv,
    conv_layers.Conv2D: _conv,
    pooling.MaxPooling1D: _pool,
    pooling.MaxPooling2D: _pool,
    pooling.AveragePooling1D: _pool,
    pooling.AveragePooling2D: _pool,
    pooling.GlobalMaxPooling1D: _global_pool,
    pooling.GlobalMaxPooling2D: _global_pool,
    pooling.GlobalAveragePooling1D: _global_pool,
    pooling.GlobalAveragePooling2D: _global_pool,
    merging.Add: _fold("Add"),
    merging.Subtract: _fold("Sub"),
    merging.Multiply: _fold("Mul"),
    merging.Maximum: _fold("Max"),
    merging.Minimum: _fold("Min"),
    merging.Average: _average,
    merging.Concatenate: _concatenate,
}


def supported_layers() -> list[str]:
    """The layer classes ``to_onnx`` converts (nested models are inlined).

    >>> "Conv2D" in supported_layers()
    True
    """
    return sorted(cls.__name__ for cls in _CONVERTERS)


# -------------------------------------------------------------------- graph
def _graph_of(model: Any) -> Any:
    """The Functional graph of a Sequential or functional model."""
    from numdl.models.functional import Functional
    from numdl.models.sequential import Sequential

    if isinstance(model, Sequential):
        graph = model.__dict__.get("_functional")
        if graph is None:
            raise ValueError(
                f"to_onnx: Sequential model {model.name!r} is not built; give it "
                f"an Input(shape=...) or call model.build(input_shape) first"
            )
        return graph
    if isinstance(model, Functional):
        return model
    raise TypeError(
        f"to_onnx: expected a Sequential or functional model, got "
        f"{type(model).__name__} {getattr(model, 'name', '')!r} (a subclassed "
        f"model has no layer graph to export)"
    )


def _is_model(layer: Any) -> bool:
    from numdl.models.model import Model

    return isinstance(layer, Model)


def _convert(g: _Builder, layer: Any, xs: list[str], kts: list[Any]) -> str:
    convert = _CONVERTERS.get(type(layer))
    if convert is None:
        raise ValueError(
            f"to_onnx: layer {layer.name!r} ({type(layer).__name__}) has no ONNX "
            f"conversion; supported layers: {', '.join(supported_layers())}"
        )
    return convert(g, layer, xs, kts)


def _emit(g: _Builder, graph: Any, names: dict[int, str]) -> None:
    """Add the nodes of ``graph``; ``names`` maps id(KerasTensor) -> ONNX name."""
    from numdl import tree

    for node in graph._exec_nodes:
        layer, kts = node.layer, node.input_tensors
        xs = [names[id(kt)] for kt in kts]
        if _is_model(layer):  # a nested model: inline its graph
            inner = _graph_of(layer)
            inner_names = {id(t): x for t, x in zip(inner._inputs, xs)}
            _emit(g, inner, inner_names)
            results = [inner_names[id(t)] for t in inner._outputs]
        else:
            results = [_convert(g, layer, xs, kts)]
        for kt, result in zip(tree.flatten(node.outputs), results):
            names[id(kt)] = result


def _value_info(g: _Builder, name: str, kt: Any) -> Any:
    dims = [
        n if n is not None else ("batch" if i == 0 else f"{name}_dim{i}")
        for i, n in enumerate(kt.shape)
    ]
    elem = g.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(kt.dtype))
    return g.onnx.helper.make_tensor_value_info(name, elem, dims)


# Lowest IR version that carries each opset (older runtimes refuse newer IR).
_IR_VERSION = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


def to_onnx(model: Any, path: Any = None, opset: int = DEFAULT_OPSET) -> Any:
    """Export a Sequential or functional ``model`` to ONNX; return the ModelProto.

    The file at ``path`` (when given) is written atomically. ``opset`` is
    one of 13 ... 21 (default 17). The batch axis is dynamic. Layers without
    a conversion raise a ValueError naming the layer and listing
    :func:`supported_layers`.

    >>> import numdl
    >>> from numdl import layers
    >>> model = numdl.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    >>> proto = to_onnx(model)
    >>> [n.op_type for n in proto.graph.node]
    ['MatMul', 'Add', 'Identity']
    """
    onnx = _import_onnx()
    if isinstance(opset, bool) or opset not in SUPPORTED_OPSETS:
        raise ValueError(
            f"to_onnx: opset must be an int from {SUPPORTED_OPSETS.start} to "
            f"{SUPPORTED_OPSETS.stop - 1}, got {opset!r}"
        )
    graph = _graph_of(model)
    g = _Builder(onnx, opset, model.dtype)
    input_names = [
        g.name(kt.name or f"input_{i}") for i, kt in enumerate(graph._inputs)
    ]
    output_names = [g.name(n) for n in _output_names(model, graph)]
    names = {id(kt): n for kt, n in zip(graph._inputs, input_names)}
    _emit(g, graph, names)
    for kt, out in zip(graph._outputs, output_names):
        g.nodes.append(
            onnx.helper.make_node("Identity", [names[id(kt)]], [out], name=out)
        )
    proto = onnx.helper.make_model(
        onnx.helper.make_graph(
            g.nodes,
            model.name,
            [_value_info(g, n, kt) for n, kt in zip(input_names, graph._inputs)],
            [_value_info(g, n, kt) for n, kt in zip(output_names, graph._outputs)],
            initializer=g.initializers,
        ),
        opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="numdl",
        ir_version=_IR_VERSION[opset],
    )
    onnx.checker.check_model(proto)
    if path is not None:
        _save(onnx, proto, path)
    return proto


def _output_names(model: Any, graph: Any) -> list[str]:
    try:
        names = list(model.output_names or [])
    except (AttributeError, ValueError):
        names = []
    if len(names) != len(graph._outputs):
        names = [f"output_{i}" for i in range(len(graph._outputs))]
    return names


def _save(onnx: Any, proto: Any, path: Any) -> None:
    """Write to a temporary file in the same folder, then rename (atomic)."""
    import os
    import tempfile

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".onnx")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(proto.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
