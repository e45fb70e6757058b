"""Training steps of Dense chains on arrays (numdl/training/dense_chain.py)
give what the usual Tensor path gives, to the bit, and are used only where
they apply."""

from __future__ import annotations

import numpy as np
import pytest

import numdl
from numdl import layers, regularizers
from numdl.training import loop


def _mlp(activations=("relu", "sigmoid", None), use_bias=True, **dense_kwargs):
    model = numdl.Sequential(
        [numdl.Input((6,))]
        + [
            layers.Dense(5 if a else 4, activation=a, use_bias=use_bias, **dense_kwargs)
            for a in activations
        ]
    )
    rng = np.random.default_rng(0)
    model.set_weights([rng.standard_normal(w.shape) * 0.5 for w in model.get_weights()])
    return model


def _data(n=37, classes=4, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, rng.integers(0, classes, n)


def _on_host(model):
    return model.device == "cpu"


def _tensor_path(monkeypatch):
    monkeypatch.setattr(loop.StepPlan, "dense_chain", lambda self, x: None)


def _fit_both(monkeypatch, build, compile_kwargs, fit_kwargs, data=None):
    """Weights and history of the same training with and without the chain."""
    x, y = data or _data()
    results = []
    for on_arrays in (True, False):
        if not on_arrays:
            _tensor_path(monkeypatch)
        model = build()
        model.compile(**compile_kwargs())
        history = model.fit(x, y, verbose=0, shuffle=False, **fit_kwargs)
        if on_arrays:  # (GPU models take the Tensor path)
            chain = model._plan.dense_chain(numdl.Tensor(x[:3]))
            assert (chain is not None) == _on_host(model)
        results.append((model.get_weights(), history.history))
    return results


CASES = {
    "sparse CE from logits, SGD": (
        lambda: _mlp(),
        lambda: {
            "optimizer": numdl.optimizers.SGD(0.1, momentum=0.9),
            "loss": numdl.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": ["accuracy"],
        },
        {"epochs": 3, "batch_size": 8},
    ),
    "no bias, Adam, class weights": (
        lambda: _mlp(("relu", None), use_bias=False),
        lambda: {
            "optimizer": numdl.optimizers.Adam(0.01),
            "loss": numdl.losses.SparseCategoricalCrossentropy(from_logits=True),
        },
        {"epochs": 2, "batch_size": 16, "class_weight": {0: 2.0, 3: 0.5}},
    ),
    "regularized, constrained, mse": (
        lambda: _mlp(
            ("relu", None),
            kernel_regularizer=regularizers.L2(0.01),
            bias_regularizer=regularizers.L1(0.02),
            kernel_constraint=numdl.constraints.MaxNorm(1.0),
        ),
        lambda: {"optimizer": "rmsprop", "loss": "mse", "metrics": ["mae"]},
        {"epochs": 2, "batch_size": 10},
    ),
    "one layer, sigmoid, binary CE": (
        lambda: _mlp(("sigmoid",)),
        lambda: {"optimizer": "sgd", "loss": "binary_crossentropy"},
        {"epochs": 2, "batch_size": 5},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_chain_trains_as_the_tensor_path(monkeypatch, case):
    build, compile_kwargs, fit_kwargs = CASES[case]
    x, y = _data()
    if "mse" in case or "binary" in case:  # targets shaped like the outputs
        width = build().output_shape[-1]
        y = (np.random.default_rng(2).random((len(x), width)) > 0.5).astype("f4")
    (w_chain, h_chain), (w_tensor, h_tensor) = _fit_both(
        monkeypatch, build, compile_kwargs, fit_kwargs, (x, y)
    )
    assert h_chain == h_tensor
    for a, b in zip(w_chain, w_tensor):
        np.testing.assert_array_equal(a, b)


def test_chain_with_a_frozen_layer_and_sample_weights(monkeypatch):
    def build():
        model = _mlp(("relu", "relu", None))
        model.layers[1].trainable = False
        return model

    x, y = _data()
    weights = np.linspace(0.5, 1.5, len(x)).astype(np.float32)
    results = []
    for on_arrays in (True, False):
        if not on_arrays:
            _tensor_path(monkeypatch)
        model = build()
        model.compile(
            optimizer=numdl.optimizers.SGD(0.05),
            loss=numdl.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(
            x,
            y,
            sample_weight=weights,
            epochs=2,
            batch_size=8,
            verbose=0,
            shuffle=False,
        )
        results.append(model.get_weights())
    frozen = _mlp(("relu", "relu", None)).layers[1].get_weights()
    np.testing.assert_array_equal(results[0][2], frozen[0])  # not trained
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def _plan_chain(model, x):
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(x, np.zeros((len(x), *model.output_shape[1:]), "f4"))
    return model._plan.dense_chain(numdl.Tensor(x))


class _Doubled(layers.Dense):
    def call(self, inputs):
        return super().call(inputs) * 2.0


@pytest.mark.parametrize(
    "build",
    [
        lambda: _mlp(("softmax",)),  # an activation outside the op
        lambda: _mlp(("relu",), activity_regularizer=regularizers.L2(0.1)),
        lambda: numdl.Sequential(
            [numdl.Input((6,)), layers.Dense(4), layers.Dropout(0.5), layers.Dense(2)]
        ),
        lambda: numdl.Sequential([numdl.Input((6,)), _Doubled(3)]),
        lambda: numdl.Sequential([numdl.Input((6,)), layers.Dense(3, dtype="float64")]),
        lambda: numdl.Sequential([numdl.Input((2, 6)), layers.Dense(3)]),
    ],
    ids=["softmax", "activity", "dropout", "subclass", "float64", "3-D inputs"],
)
def test_other_models_take_the_tensor_path(build):
    model = build()
    shape = (4, *model.input_shape[1:])
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert _plan_chain(model, x) is None


def test_a_changed_layer_is_read_again():
    """Setting an activation (or anything on a layer) between steps: the
    next step trains what the model now computes."""
    x = _data()[0][:8]
    model = _mlp(("relu", None))
    host = _on_host(model)  # (GPU models take the Tensor path)
    assert (_plan_chain(model, x) is not None) == host
    model.layers[0].activation = numdl.activations.get("softmax")
    assert model._plan.dense_chain(numdl.Tensor(x)) is None
    model.layers[0].activation = numdl.activations.get("sigmoid")
    chain = model._plan.dense_chain(numdl.Tensor(x))
    assert (chain is not None) == host
    assert chain is None or chain.layers[0]._fused == "sigmoid"
    assert model._plan.dense_chain(numdl.Tensor(x.astype(np.float64))) is None


def test_a_call_wrapped_on_a_layer_runs():
    """A layer whose ``call`` is wrapped on the instance (GradientMonitor
    does) runs its wrapper in training and in predict: no array shortcut."""
    x = _data()[0][:8]
    model = _mlp(("relu", None))
    assert (_plan_chain(model, x) is not None) == _on_host(model)
    seen = []
    call = model.layers[0].call

    def watched(inputs):
        seen.append(len(inputs))
        return call(inputs)

    model.layers[0].call = watched
    assert model._plan.dense_chain(numdl.Tensor(x)) is None
    model.train_on_batch(x, np.zeros((8, 4), "f4"))
    model.predict(x, verbose=0)
    assert seen == [8, 8]


def test_a_loss_added_outside_a_call_is_cleared_as_a_call_would(monkeypatch):
    """``add_loss`` between steps: a model call clears it before the next
    loss, and so does the chain (the same weights either way)."""
    x, y = _data()
    results = []
    for on_arrays in (True, False):
        if not on_arrays:
            _tensor_path(monkeypatch)
        model = _mlp(("relu", None))
        model.compile(optimizer="sgd", loss="mse")
        target = np.zeros((len(x), 4), "f4")
        model.fit(x, target, epochs=1, batch_size=8, verbose=0, shuffle=False)
        model.add_loss(numdl.ops.sum(model.layers[0].kernel) * 100.0)
        model.fit(x, target, epochs=1, batch_size=8, verbose=0, shuffle=False)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


class _Halved(numdl.losses.SparseCategoricalCrossentropy):
    def __call__(self, y_true, y_pred, sample_weight=None):
        return super().__call__(y_true, y_pred, sample_weight) * 0.5


def _one_hot(y, classes=4):
    return np.eye(classes)[y]  # float64 labels for float32 logits


SCE = numdl.losses.SparseCategoricalCrossentropy
# (loss, targets from the labels, compile and fit extras, computed on arrays)
LOSSES = {
    "sparse CE": (lambda: SCE(from_logits=True), None, {}, {}, True),
    "sparse CE, ignore_class": (
        lambda: SCE(from_logits=True, ignore_class=0), None, {}, {}, True
    ),
    "categorical CE, smoothed": (
        lambda: numdl.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=0.1
        ),
        _one_hot, {}, {}, True,
    ),
    "binary CE": (
        lambda: numdl.losses.BinaryCrossentropy(from_logits=True),
        _one_hot, {}, {}, True,
    ),
    "sum reduction": (
        lambda: SCE(from_logits=True, reduction="sum"), None, {}, {}, False
    ),
    "mse": (lambda: "mse", _one_hot, {}, {}, False),
    "loss weight": (
        lambda: SCE(from_logits=True), None, {"loss_weights": 0.5}, {}, False
    ),
    "sample weights": (
        lambda: SCE(from_logits=True), None, {},
        {"sample_weight": np.linspace(0.5, 1.5, 37)}, False,
    ),
    "own __call__": (lambda: _Halved(from_logits=True), None, {}, {}, False),
}  # fmt: skip


@pytest.mark.parametrize("case", list(LOSSES))
def test_the_loss_on_arrays_gives_the_tensor_path_bits(monkeypatch, case):
    """Where the loss is one op of its own with nothing added to it, the
    chain computes it and its gradient on arrays (``OpCall.value_and_grad``);
    either way the weights and the logged losses are those of the Tensor
    path to the bit."""
    make_loss, targets, compile_extra, fit_extra, on_arrays = LOSSES[case]
    x, labels = _data()
    y = labels if targets is None else targets(labels)
    used = []
    value_and_grad = numdl.autograd.function.OpCall.value_and_grad

    def spy(self):
        used.append(self.op.__name__)
        return value_and_grad(self)

    monkeypatch.setattr(numdl.autograd.function.OpCall, "value_and_grad", spy)
    (w_chain, h_chain), (w_tensor, h_tensor) = _fit_both(
        monkeypatch,
        lambda: _mlp(("relu", None)),
        lambda: {"optimizer": "adam", "loss": make_loss(), **compile_extra},
        {"epochs": 2, "batch_size": 8, **fit_extra},
        (x, y),
    )
    steps = 2 * 5  # 37 samples in batches of 8, twice
    model_on_host = _on_host(_mlp())
    assert len(used) == (steps if on_arrays and model_on_host else 0)
    assert h_chain == h_tensor
    for a, b in zip(w_chain, w_tensor):
        np.testing.assert_array_equal(a, b)


def test_a_regularized_chain_adds_its_terms_on_the_tensor_path(monkeypatch):
    """Weight regularizers add to the loss: no loss on arrays, the terms'
    gradients reach the weights as on the Tensor path."""
    used = []
    monkeypatch.setattr(
        numdl.autograd.function.OpCall,
        "value_and_grad",
        lambda self: used.append(1),
    )
    (w_chain, h_chain), (w_tensor, h_tensor) = _fit_both(
        monkeypatch,
        lambda: _mlp(("relu", None), kernel_regularizer=regularizers.L2(0.1)),
        lambda: {"optimizer": "sgd", "loss": SCE(from_logits=True)},
        {"epochs": 1, "batch_size": 8},
    )
    assert used == []
    assert h_chain == h_tensor
    for a, b in zip(w_chain, w_tensor):
        np.testing.assert_array_equal(a, b)
