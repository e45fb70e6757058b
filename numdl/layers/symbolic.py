"""Symbolic tensors: how ``Input`` and layer calls describe a functional model.

``Input(shape=(4,))`` returns a ``KerasTensor``: a shape and a dtype, no
values. Calling a layer on KerasTensors builds the layer, works out the output
shape and records a ``Node`` (this layer, called on these tensors, made those
tensors). ``Model(inputs, outputs)`` later walks the nodes back from its
outputs and replays them on real data.

The output shape is found by running the layer on dummy zeros, twice: once
with every unknown (``None``) size set to 1 and once set to 2. Sizes that
differ between the two runs are unknown in the output too. Every layer gets
shape inference this way without writing ``compute_output_shape``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numdl import tree
from numdl.autograd.grad_mode import no_grad


class KerasTensor:
    """A symbolic tensor: a shape (``None`` for unknown sizes) and a dtype.

    >>> from numdl.layers import Input
    >>> x = Input(shape=(3,))
    >>> x.shape, x.dtype
    ((None, 3), 'float32')
    """

    def __init__(
        self,
        shape: tuple[Any, ...],
        dtype: str = "float32",
        name: str | None = None,
    ) -> None:
        self.shape = tuple(None if n is None else int(n) for n in shape)
        self.dtype = np.dtype(dtype).name
        self.name = name
        self._keras_history: tuple[Any, int, int] | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def node(self) -> Node:
        """The node that produced this tensor."""
        layer, node_index, _ = self._keras_history
        return layer._inbound_nodes[node_index]

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "A symbolic tensor (from Input or a layer called on one) has no "
            "values. Build a Model(inputs, outputs) and call it on data."
        )

    def _no_ops(self, *args: Any) -> Any:
        raise TypeError(
            "Arithmetic on symbolic tensors is not supported; use a merging "
            "layer (layers.Add, layers.Multiply, ...) or layers.Lambda."
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _no_ops
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __neg__ = _no_ops
    __pow__ = __getitem__ = _no_ops


class Node:
    """One call of a layer on symbolic tensors: its arguments and outputs.

    >>> from numdl.layers import Input, Dense
    >>> y = Dense(2)(Input(shape=(3,)))
    >>> type(y.node.layer).__name__, len(y.node.input_tensors)
    ('Dense', 1)
    """

    def __init__(
        self, layer: Any, call_args: tuple, call_kwargs: dict, outputs: Any
    ) -> None:
        self.layer = layer
        self.call_args = call_args
        self.call_kwargs = call_kwargs
        self.outputs = outputs
        self.input_tensors = [
            t for t in tree.flatten((call_args, call_kwargs)) if is_symbolic(t)
        ]
        node_index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)
        for i, t in enumerate(tree.flatten(outputs)):
            t._keras_history = (layer, node_index, i)

    @property
    def parent_nodes(self) -> list[Node]:
        return [t.node for t in self.input_tensors]


def is_symbolic(x: Any) -> bool:
    """True for a KerasTensor.

    >>> is_symbolic(1.0)
    False
    """
    return isinstance(x, KerasTensor)


def any_symbolic(inputs: Any) -> bool:
    """True when a KerasTensor is anywhere in ``inputs``.

    >>> from numdl.layers import Input
    >>> any_symbolic([Input(shape=(2,)), 1.0])
    True
    """
    return any(isinstance(x, KerasTensor) for x in tree.flatten(inputs))


def symbolic_call(layer: Any, inputs: Any, args: tuple, kwargs: dict) -> Any:
    """Build ``layer`` for ``inputs``, infer its outputs and record a Node.

    >>> from numdl.layers import Input, Dense
    >>> Dense(4)(Input(shape=(3,))).shape
    (None, 4)
    """
    from numdl.layers.base import check_input_spec

    shapes = tree.map_structure(lambda t: t.shape, inputs)
    if not layer.built:
        layer._build_shapes = shapes
        layer.build(shapes)
        layer.built = True
    if layer.input_spec is not None and is_symbolic(inputs):
        check_input_spec(layer, layer.input_spec, inputs.shape)
    specs = _infer_specs(layer, inputs, args, kwargs)
    outputs = tree.map_structure(
        lambda s: KerasTensor(s.shape, s.dtype, name=layer.name), specs
    )
    Node(layer, (inputs,) + tuple(args), dict(kwargs), outputs)
    return outputs


def infer_output_shape(layer: Any, input_shape: Any) -> Any:
    """Output shape(s) of ``layer`` for ``input_shape`` (``None`` = unknown).

    >>> from numdl.layers import Dense
    >>> infer_output_shape(Dense(2), (None, 5, 3))
    (None, 5, 2)
    """
    inputs = _symbolic_like(input_shape)
    if not layer.built:
        layer.build(input_shape)
        layer.built = True
    specs = _run_on_dummies(layer, inputs, (), {})
    return tree.map_structure(lambda s: s.shape, specs)


def _symbolic_like(shape: Any) -> Any:
    if isinstance(shape, tuple) and all(
        isinstance(n, (int, type(None))) for n in shape
    ):
        return KerasTensor(shape)
    if isinstance(shape, dict):
        return {k: _symbolic_like(v) for k, v in shape.items()}
    return type(shape)(_symbolic_like(s) for s in shape)


def _infer_specs(layer: Any, inputs: Any, args: tuple, kwargs: dict) -> Any:
    """Output specs (shape and dtype) of ``layer`` called on ``inputs``.

    A layer that defines ``compute_output_shape`` gives exact shapes (dummy
    runs cannot see an unknown size through a stride: ceil(1/2) == ceil(2/2));
    one dummy run then supplies the dtype. Other layers are run on dummies
    twice and the two output shapes compared.
    """
    from numdl.layers.base import Layer, is_shape

    if type(layer).compute_output_shape is Layer.compute_output_shape:
        return _run_on_dummies(layer, inputs, args, kwargs)
    shapes = layer.compute_output_shape(tree.map_structure(lambda t: t.shape, inputs))
    try:
        dtypes = [
            s.dtype for s in tree.flatten(_run_once(layer, inputs, args, kwargs, 1))
        ]
    except ValueError:  # e.g. a kernel larger than a size-1 dummy image
        dtypes = [_output_dtype(layer, inputs)]
    if is_shape(shapes):
        return _Spec(shapes, dtypes[0])
    return [
        _Spec(tuple(shape), dtypes[min(i, len(dtypes) - 1)])
        for i, shape in enumerate(shapes)
    ]


def _output_dtype(layer: Any, inputs: Any) -> str:
    """Float inputs give the layer's dtype; integer-only inputs keep theirs."""
    dtypes = [t.dtype for t in tree.flatten(inputs) if is_symbolic(t)]
    floats = any(np.dtype(d).kind == "f" for d in dtypes)
    return layer.dtype if floats or not dtypes else dtypes[0]


def _run_once(layer: Any, inputs: Any, args: tuple, kwargs: dict, size: int) -> Any:
    """Run ``layer`` on zeros with every unknown size set to ``size``."""
    kwargs = dict(kwargs)
    kwargs.setdefault("training", False)

    def dummy(x: Any) -> Any:
        if not is_symbolic(x):
            return x
        return np.zeros(tuple(size if n is None else n for n in x.shape), x.dtype)

    with no_grad(), np.errstate(all="ignore"):
        out = layer(
            tree.map_structure(dummy, inputs),
            *tree.map_structure(dummy, list(args)),
            **tree.map_structure(dummy, kwargs),
        )
    layer._clear_losses()
    return out


def _run_on_dummies(layer: Any, inputs: Any, args: tuple, kwargs: dict) -> Any:
    """Run ``layer`` on zeros twice (unknown sizes 1, then 2); compare shapes."""
    runs = [_run_once(layer, inputs, args, kwargs, size) for size in (1, 2)]
    return _merge_specs(runs[0], runs[1])


def _merge_specs(a: Any, b: Any) -> Any:
    if isinstance(a, dict):
        return {k: _merge_specs(a[k], b[k]) for k in a}
    if isinstance(a, (list, tuple)):
        return type(a)(_merge_specs(x, y) for x, y in zip(a, b))
    shape = tuple(m if m == n else None for m, n in zip(a.shape, b.shape))
    return _Spec(shape, a.dtype.name)


class _Spec:
    """Shape and dtype of one output (a leaf, not a tuple, for ``tree``)."""

    def __init__(self, shape: tuple[Any, ...], dtype: str) -> None:
        self.shape, self.dtype = shape, dtype
