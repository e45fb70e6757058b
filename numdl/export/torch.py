"""Copy the weights of an equivalent PyTorch model into a numdl model.

``load_torch_state_dict(model, state_dict)`` pairs the numdl layers that
hold weights (Dense, Conv1D, Conv2D, BatchNormalization, LayerNormalization,
in the order the model runs them) with the PyTorch modules of the state dict
(Linear, Conv1d, Conv2d, BatchNorm1d/2d, LayerNorm, in the order of their
keys) and converts the layouts:

- Linear ``weight (out, in)`` -> Dense kernel ``(in, out)``;
- Conv ``weight (out, in/groups, *k)`` -> kernel ``(*k, in/groups, out)``;
- BatchNorm ``weight, bias, running_mean, running_var`` -> ``gamma, beta,
  moving_mean, moving_variance``, the variance shifted so that
  ``moving_variance + epsilon == running_var + eps`` (numdl/Keras's epsilon
  is 1e-3, PyTorch's 1e-5): the outputs are the same;
- LayerNorm ``weight, bias`` -> ``gamma, beta`` (the epsilons must agree: a
  per-sample statistic cannot absorb the difference).

A Linear after ``flatten`` of a feature map sees PyTorch's channels-first
order ``(C, H, W)``; numdl's Flatten (channels-last) gives ``(H, W, C)``.
With ``reorder_flatten=True`` (the default) the columns of such a Linear are
permuted to numdl's order; it applies when the Flatten's input comes from a
convolution or pooling layer (through elementwise layers). Pass False when
the PyTorch model flattens channels-last tensors itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from numdl.layers import convolutional as conv_layers
from numdl.layers import core, normalization
from numdl.layers.input_layer import InputLayer

_WHERE = "load_torch_state_dict"


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor (torch is not imported here)
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _modules(state_dict: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Group the entries by module prefix, in key order (num_batches_tracked
    is dropped)."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state_dict.items():
        prefix, _, name = key.rpartition(".")
        if name != "num_batches_tracked":
            groups.setdefault(prefix, {})[name] = _to_numpy(value)
    return list(groups.items())


def _torch_kind(params: dict[str, np.ndarray]) -> str:
    if "running_mean" in params:
        return "BatchNorm"
    weight = params.get("weight")
    ndim = None if weight is None else weight.ndim
    return {1: "LayerNorm", 2: "Linear", 3: "Conv1d", 4: "Conv2d"}.get(
        ndim, f"an unknown module with entries {sorted(params)}"
    )


def _label(layer: Any) -> str:
    return f"{type(layer).__name__} {layer.name!r}"


# ----------------------------------------------------------------- the graph
def _weighted_layers(model: Any) -> list[tuple[Any, Any]]:
    """(layer, node) for every layer holding weights, in execution order."""
    from numdl.models.model import Model

    graph = _graph(model)
    found: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    for node in graph._exec_nodes:
        layer = node.layer
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, Model):
            found.extend(_weighted_layers(layer))
        elif layer.weights:
            found.append((layer, node))
    return found


def _graph(model: Any) -> Any:
    from numdl.models.functional import Functional
    from numdl.models.sequential import Sequential

    if isinstance(model, Functional):
        return model
    if isinstance(model, Sequential):
        graph = model.__dict__.get("_functional")
        if graph is not None:
            return graph
        raise ValueError(
            f"{_WHERE}: Sequential model {model.name!r} is not built; give it an "
            f"Input(shape=...) or call model.build(input_shape) first"
        )
    raise TypeError(
        f"{_WHERE}: expected a Sequential or functional model, got "
        f"{type(model).__name__} (a subclassed model has no layer graph to follow)"
    )


_STOP = (core.Flatten, core.Reshape, core.Permute, core.Dense, InputLayer)


def _feature_map_layout(kt: Any) -> str | None:
    """The data_format of the conv/pooling layer that made ``kt``, or None.

    Walks back through single-input layers without a data_format
    (activations, dropout, normalisation); stops at reshaping layers."""
    while True:
        node = kt.node
        layer = node.layer
        fmt = getattr(layer, "data_format", None)
        if fmt is not None and not isinstance(layer, core.Flatten):
            return fmt
        if isinstance(layer, _STOP) or len(node.input_tensors) != 1:
            return None
        kt = node.input_tensors[0]


def _flatten_source(node: Any) -> tuple[Any, Any] | None:
    """(Flatten layer, its input) when the Dense's input is a Flatten's output."""
    kt = node.input_tensors[0]
    while True:
        producer = kt.node
        layer = producer.layer
        if isinstance(layer, core.Flatten):
            return layer, producer.input_tensors[0]
        passthrough = (core.Dropout, core.Activation, core.Identity)
        if not isinstance(layer, passthrough) or len(producer.input_tensors) != 1:
            return None
        kt = producer.input_tensors[0]


def _flatten_permutation(flatten: Any, kt: Any) -> tuple[list[int], list[int]] | None:
    """(torch axes, numdl flatten order) over the sample axes of ``kt``."""
    layout = _feature_map_layout(kt)
    dims = kt.shape[1:]
    if layout is None or len(dims) < 2:
        return None
    k = len(dims)
    if layout == "channels_last":
        torch_axes = [k - 1, *range(k - 1)]  # the channels come first in torch
    else:
        torch_axes = list(range(k))
    order = list(range(k))
    if flatten.data_format == "channels_first":
        order = [*range(1, k), 0]  # numdl's Flatten moves axis 1 last
    if torch_axes == order:
        return None
    return torch_axes, order


def _reorder_columns(layer: Any, weight: np.ndarray, node: Any) -> np.ndarray:
    source = _flatten_source(node)
    if source is None:
        return weight
    flatten, kt = source
    permutation = _flatten_permutation(flatten, kt)
    if permutation is None:
        return weight
    dims = kt.shape[1:]
    if None in dims or math.prod(dims) != weight.shape[1]:
        raise ValueError(
            f"{_WHERE}: {_label(layer)} follows Flatten {flatten.name!r} of a "
            f"feature map of shape {kt.shape}; the PyTorch Linear has "
            f"{weight.shape[1]} inputs, expected {math.prod(d or 0 for d in dims)}"
        )
    torch_axes, order = permutation
    blocks = weight.reshape(weight.shape[0], *[dims[a] for a in torch_axes])
    axes = [0, *[1 + torch_axes.index(a) for a in order]]
    return blocks.transpose(axes).reshape(weight.shape[0], -1)


# --------------------------------------------------------------- converters
def _bias(layer: Any, prefix: str, params: dict[str, np.ndarray], out: list) -> None:
    has = "bias" in params
    if has != (layer.bias is not None):
        state = "has a bias" if has else "has no bias"
        raise ValueError(
            f"{_WHERE}: {_label(layer)} has use_bias={layer.use_bias} but the "
            f"PyTorch module {prefix!r} {state}"
        )
    if has:
        out.append(params["bias"])


def _dense(layer: Any, prefix: str, params: dict, node: Any, opts: dict) -> list:
    weight = params["weight"]
    if opts["reorder_flatten"]:
        weight = _reorder_columns(layer, weight, node)
    out = [weight.T]
    _bias(layer, prefix, params, out)
    return out


def _conv(layer: Any, prefix: str, params: dict, node: Any, opts: dict) -> list:
    weight = params["weight"]
    nd = weight.ndim - 2
    out = [np.transpose(weight, (*range(2, nd + 2), 1, 0))]
    _bias(layer, prefix, params, out)
    return out


def _affine(layer: Any, prefix: str, params: dict, size: tuple) -> list:
    """gamma and beta as the layer has them (ones/zeros when torch has none)."""
    out = []
    for has, key, fill in ((layer.gamma, "weight", 1.0), (layer.beta, "bias", 0.0)):
        if has is not None:
            out.append(params.get(key, np.full(size, fill)))
        elif key in params:
            raise ValueError(
                f"{_WHERE}: {_label(layer)} has no {'gamma' if fill else 'beta'} "
                f"(scale/center False) but the PyTorch module {prefix!r} has a "
                f"{key}; create the layer with scale=True and center=True"
            )
    return out


def _batch_norm(layer: Any, prefix: str, params: dict, node: Any, opts: dict) -> list:
    mean, var = params["running_mean"], params.get("running_var")
    if var is None:
        raise ValueError(f"{_WHERE}: PyTorch module {prefix!r} has no running_var")
    variance = var.astype(np.float64) + opts["eps"] - layer.epsilon
    if (variance < 0).any():
        raise ValueError(
            f"{_WHERE}: {_label(layer)} has epsilon={layer.epsilon:g} but the "
            f"PyTorch BatchNorm {prefix!r} (eps={opts['eps']:g}) has running_var "
            f"{var.min():g} < {layer.epsilon - opts['eps']:g}: the difference "
            f"cannot be moved into the variance; create the layer with "
            f"epsilon={opts['eps']:g}"
        )
    return [*_affine(layer, prefix, params, mean.shape), mean, variance]


def _layer_norm(layer: Any, prefix: str, params: dict, node: Any, opts: dict) -> list:
    if layer.rms_scaling or not math.isclose(layer.epsilon, opts["eps"]):
        raise ValueError(
            f"{_WHERE}: {_label(layer)} (epsilon={layer.epsilon:g}, rms_scaling="
            f"{layer.rms_scaling}) cannot match PyTorch's LayerNorm {prefix!r} "
            f"(eps={opts['eps']:g}); create it with epsilon={opts['eps']:g} and "
            f"rms_scaling=False"
        )
    size = tuple(w.shape for w in layer.weights)[0]
    return _affine(layer, prefix, params, size)


_CONVERTERS = {
    core.Dense: ("Linear", _dense),
    conv_layers.Conv1D: ("Conv1d", _conv),
    conv_layers.Conv2D: ("Conv2d", _conv),
    normalization.BatchNormalization: ("BatchNorm", _batch_norm),
    normalization.LayerNormalization: ("LayerNorm", _layer_norm),
}


def _convert(layer: Any, node: Any, prefix: str, params: dict, opts: dict) -> list:
    entry = _CONVERTERS.get(type(layer))
    if entry is None:
        names = ", ".join(cls.__name__ for cls in _CONVERTERS)
        raise ValueError(
            f"{_WHERE}: {_label(layer)} has weights but no PyTorch counterpart; "
            f"supported layers: {names}"
        )
    kind, convert = entry
    found = _torch_kind(params)
    if found != kind:
        raise ValueError(
            f"{_WHERE}: {_label(layer)} expects a PyTorch {kind}, but module "
            f"{prefix!r} looks like {found}; the two models must have the same "
            f"layers in the same order"
        )
    weights = convert(layer, prefix, params, node, opts)
    expected = [w.shape for w in layer.get_weights()]
    got = [np.shape(w) for w in weights]
    if got != expected:
        raise ValueError(
            f"{_WHERE}: {_label(layer)} expects weights of shapes {expected} "
            f"(Keras layout), PyTorch module {prefix!r} gives {got} after "
            f"conversion (entries {[tuple(v.shape) for v in params.values()]})"
        )
    return weights


def load_torch_state_dict(
    model: Any,
    state_dict: Any,
    eps: float = 1e-5,
    reorder_flatten: bool = True,
) -> None:
    """Set ``model``'s weights from an equivalent PyTorch model's state dict.

    ``state_dict`` is a mapping of names to tensors or arrays (or a module,
    whose ``state_dict()`` is taken). ``eps`` is the epsilon of the PyTorch
    BatchNorm/LayerNorm layers (PyTorch's default). Nothing is set unless
    every layer converts; errors name the layer and the PyTorch module.

    >>> import numpy as np, numdl
    >>> from numdl import layers
    >>> model = numdl.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    >>> weight, bias = np.arange(6.0).reshape(2, 3), np.zeros(2)
    >>> load_torch_state_dict(model, {"0.weight": weight, "0.bias": bias})
    >>> model.layers[0].kernel.numpy().tolist()
    [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    """
    if callable(getattr(state_dict, "state_dict", None)):
        state_dict = state_dict.state_dict()
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"{_WHERE}: expected a state dict (a mapping of names to tensors), "
            f"got {type(state_dict).__name__}"
        )
    targets, modules = _weighted_layers(model), _modules(state_dict)
    if len(targets) != len(modules):
        raise ValueError(
            f"{_WHERE}: model {model.name!r} has {len(targets)} layers with "
            f"weights {[_label(t) for t, _ in targets]}, the state dict has "
            f"{len(modules)} modules {[p for p, _ in modules]}"
        )
    opts = {"eps": float(eps), "reorder_flatten": bool(reorder_flatten)}
    converted = [
        (layer, _convert(layer, node, prefix, params, opts))
        for (layer, node), (prefix, params) in zip(targets, modules)
    ]
    for layer, weights in converted:
        dtypes = [w.dtype for w in layer.get_weights()]
        layer.set_weights([np.asarray(w, d) for w, d in zip(weights, dtypes)])
