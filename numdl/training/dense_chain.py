"""A training step's forward and backward through a chain of Dense layers,
run on arrays.

Most MLPs are a ``Sequential`` of ``Dense`` layers. Through the layers and
the autograd graph, each layer of a step costs Python around its products
(``Layer.__call__``, ``Function.apply``, a Tensor, the backward walk): on
the MNIST MLP about 0.1 ms a step, a tenth of the step at batch 32. For
such a model, :func:`numdl.training.loop.train_step` runs the layers' own
ops (``numdl.ops.nn.Dense``: the same forward and backward code, so the
same numbers to the bit) one after another on arrays, and their backward
in reverse order. The loss too runs on arrays when it is one op of its own
with nothing added to it (the cross-entropies from logits without sample
or loss weights or regularizers: ``OpCall.value_and_grad``); any other loss
is computed on a Tensor of the logits, whose gradient starts the chain's
backward, and weight regularization terms add their gradients through
autograd as before. The optimizer, constraints and metrics are unchanged.

Used only for a chain of plain ``Dense`` layers (ReLU, sigmoid or no
activation, fused into the op), without activity regularizers, on host
arrays of the weights' dtype, with the inputs' shape the model was built
for; every other model takes the usual path.

>>> import numpy as np, numdl
>>> from numdl import layers
>>> model = numdl.Sequential([numdl.Input((3,)), layers.Dense(2)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> chain = DenseChain.of(model, model.trainable_weights)
>>> [layer.name for layer in chain.layers] == [model.layers[0].name]
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numdl import activations
from numdl.autograd.tensor import _accumulate_leaf, _data
from numdl.layers.base import own_call
from numdl.layers.core import Dense
from numdl.ops.nn import Dense as DenseOp


class DenseChain:
    """The Dense layers of a model, in order, and which gradients each needs
    (valid while no layer changes: ``StepPlan.dense_chain`` reads it again
    under a new ``Changes`` token).
    """

    __slots__ = ("layers", "needs", "shape", "dtype")

    def __init__(self, params: list[Any], layers: list[Dense]) -> None:
        self.layers = layers
        trainable = {id(p) for p in params}
        self.needs, upstream = [], False
        for layer in layers:
            kernel = id(layer.kernel) in trainable
            bias = layer.bias is not None and id(layer.bias) in trainable
            self.needs.append((upstream, kernel, bias))
            upstream = upstream or kernel or bias
        self.shape = (layers[0].kernel.data.shape[0],)
        self.dtype = layers[0].kernel.data.dtype

    @classmethod
    def of(cls, model: Any, params: list[Any]) -> DenseChain | None:
        """The chain for ``model`` (its trainable weights ``params``), or
        None when the model is not a chain of plain Dense layers on the host.
        """
        from numdl.models.sequential import chain_model  # (models import training)

        functional = chain_model(model)
        layers = None if functional is None else functional._chain
        if not layers or not all(_plain_dense(layer) for layer in layers):
            return None
        kinds = {(type(w.data), w.data.dtype) for w in _weights(layers)}
        if len(kinds) != 1 or next(iter(kinds))[0] is not np.ndarray:
            return None
        chain = cls(params, layers)
        if tuple(functional._inputs[0].shape[1:]) != chain.shape:
            return None  # inputs of more axes: the usual path checks them
        return chain

    def fits(self, x: Any) -> bool:
        """Whether ``x`` (a Tensor) goes through this chain as the model
        would take it: host data of the weights' dtype and the model's
        input shape (anything else is converted or refused by the model)."""
        data = x.data
        return (
            type(data) is np.ndarray
            and data.dtype is self.dtype
            and data.shape[1:] == self.shape
        )

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[DenseOp]]:
        """The logits for ``x`` and each layer's op (holding what its
        backward needs), as ``layer(x, training=True)`` in turn computes."""
        ops = []
        for layer, needs in zip(self.layers, self.needs):
            op = DenseOp()
            op.needs_input_grad = needs
            bias = _data(layer.bias)
            x = op.forward(x, layer.kernel.data, bias, activation=layer._fused)
            ops.append(op)
        return x, ops

    def backward(self, ops: list[DenseOp], g: np.ndarray) -> None:
        """Add each weight's gradient from ``g``, the logits' gradient, as
        autograd's backward through the ops would."""
        for layer, op in zip(reversed(self.layers), reversed(ops)):
            gx, gk, gb = op.backward(g)
            if gk is not None:
                _accumulate_leaf(layer.kernel, gk)
            if gb is not None:
                _accumulate_leaf(layer.bias, gb)
            if gx is None:
                return
            g = gx


def _plain_dense(layer: Any) -> bool:
    """A Dense layer as built in (its own call), whose activation runs
    inside its op, without an activity regularizer."""
    return (
        isinstance(layer, Dense)
        and own_call(layer, Dense.call)
        and type(layer)._activate is Dense._activate
        and (layer._fused is not None or layer.activation is activations.linear)
        and layer.activity_regularizer is None
        and layer.built
    )


def _weights(layers: list[Dense]) -> list[Any]:
    return [w for layer in layers for w in (layer.kernel, layer.bias) if w is not None]
