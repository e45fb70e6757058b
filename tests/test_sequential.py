"""Sequential: a stack of layers, built early or on first call (Keras 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import numdl
from numdl import layers
from numdl.layers import Dense, Input, InputLayer
from numdl.layers.symbolic import KerasTensor
from numdl.models import Sequential


def relu(x):
    return np.maximum(x, 0)


def dense_np(layer, x):
    return x @ layer.kernel.numpy() + layer.bias.numpy()


def mlp_np(model, x):
    first, second = model.layers
    return dense_np(second, relu(dense_np(first, x)))


# -------------------------------------------------------------------- build
def test_with_input_is_built_at_once(float64):
    model = Sequential(
        [Input(shape=(4,), name="features"), Dense(8, activation="relu"), Dense(3)]
    )
    assert model.built and len(model.weights) == 4
    assert model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert isinstance(model.inputs[0], KerasTensor) and model.inputs[0].shape == (
        None,
        4,
    )
    assert model.outputs[0].shape == (None, 3) and model.output_shape == (None, 3)
    assert model.input_shape == (None, 4)
    assert model.input_names == ["features"]
    assert model.output_names == [model.layers[-1].name]
    data = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_allclose(model(data).data, mlp_np(model, data), rtol=1e-10)


def test_first_layer_input_shape_or_input_dim_builds_early():
    by_shape = Sequential([Dense(4, input_shape=(3,)), Dense(1)])
    by_dim = Sequential([Dense(4, input_dim=3), Dense(1)])
    for model in (by_shape, by_dim):
        assert model.built and model.input_shape == (None, 3)
        assert model.count_params() == 3 * 4 + 4 + 4 + 1
        assert isinstance(model._layers[0], InputLayer)


def test_without_input_builds_on_first_call(float64):
    model = Sequential([Dense(8, activation="relu"), Dense(2)])
    assert not model.built and model.weights == []
    assert not hasattr(model, "inputs")
    with pytest.raises(ValueError, match="no defined inputs yet"):
        _ = model.inputs
    data = np.random.default_rng(1).normal(size=(6, 5))
    out = model(data)
    assert model.built and model.input_shape == (None, 5)
    assert model.output_shape == (None, 2) and out.shape == (6, 2)
    np.testing.assert_allclose(out.data, mlp_np(model, data), rtol=1e-10)
    assert len(model.layers) == 2  # the Input made at build time is not listed


def test_explicit_build():
    model = Sequential([Dense(3), Dense(1)])
    model.build((None, 4))
    assert model.built and model.count_params() == 4 * 3 + 3 + 3 + 1
    assert model.output_shape == (None, 1)
    with pytest.raises(ValueError, match="build\\(\\) needs the shape"):
        Sequential([Dense(1)]).build()


def test_layer_order_is_preserved_and_shapes_known():
    model = Sequential(name="stack")
    model.add(Input(shape=(2, 3)))
    model.add(layers.Flatten(name="flat"))
    model.add(Dense(5, name="d5"))
    model.add(layers.Reshape((5, 1), name="reshape"))
    assert [layer.name for layer in model.layers] == ["flat", "d5", "reshape"]
    shapes = [layer._inbound_nodes[-1].outputs.shape for layer in model.layers]
    assert shapes == [(None, 6), (None, 5), (None, 5, 1)]


# ------------------------------------------------------------------ add/pop
def test_add_and_pop():
    model = Sequential()
    model.add(InputLayer(shape=(3,)))
    first = Dense(4, name="first")
    model.add(first)
    model.add(Dense(2, name="second"))
    assert model.output_shape == (None, 2)
    popped = model.pop()
    assert popped.name == "second" and [lay.name for lay in model.layers] == ["first"]
    assert model.output_shape == (None, 4) and model.built
    assert model.weights == first.weights
    model.pop()
    assert model.layers == [] and not model.built
    model.add(Dense(7))
    assert model.output_shape == (None, 7)


def test_pop_on_an_empty_model():
    with pytest.raises(ValueError, match="no layers to pop"):
        Sequential(name="empty").pop()


def test_add_rejects_bad_layers():
    model = Sequential([Input(shape=(3,)), Dense(2, name="dup")], name="m")
    with pytest.raises(ValueError, match="Only instances of Layer"):
        model.add("dense")
    with pytest.raises(ValueError, match="'dup' is already the name"):
        model.add(Dense(2, name="dup"))
    with pytest.raises(ValueError, match="already been configured"):
        model.add(Input(shape=(3,)))
    x = Input(shape=(3,))
    with pytest.raises(ValueError, match="only a tensor made by Input"):
        model.add(Dense(2)(x))
    no_input = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="can only be the first layer"):
        no_input.add(Input(shape=(2,)))
    assert len(model.layers) == 1


def test_incompatible_layer_error_names_the_layer_and_model_is_unchanged():
    model = Sequential([Input(shape=(3,)), Dense(4)], name="m")
    built_for_five = Dense(2, name="wants_five")
    built_for_five.build((None, 5))
    with pytest.raises(ValueError, match="'wants_five'"):
        model.add(built_for_five)
    assert len(model.layers) == 1 and model.output_shape == (None, 4)


def test_layer_errors_without_its_name_are_reworded():
    class BadReshape(layers.Layer):
        def call(self, inputs):
            return inputs.data.reshape(7, 7)  # fails with a NumPy message

    model = Sequential([Input(shape=(3,))], name="m")
    with pytest.raises(ValueError, match="layer 'odd' \\(BadReshape\\) cannot take"):
        model.add(BadReshape(name="odd"))


def test_data_shape_mismatch_suggests_flatten():
    model = Sequential([Input(shape=(784,)), Dense(10)], name="digits")
    with pytest.raises(ValueError) as info:
        model(np.zeros((32, 28, 28)))
    message = str(info.value)
    assert "'digits'" in message and "(None, 784)" in message
    assert "(32, 28, 28)" in message and "Flatten" in message


def test_dense_after_wrong_input_names_the_dense():
    model = Sequential([Dense(10, name="classifier")])
    model.build((None, 784))
    with pytest.raises(ValueError, match="expects data of shape \\(None, 784\\)"):
        model(np.zeros((2, 28, 28)))


# --------------------------------------------------------------- behaviour
def test_training_flag_reaches_dropout():
    model = Sequential([Input(shape=(100,)), layers.Dropout(0.5)])
    data = np.ones((3, 100))
    np.testing.assert_array_equal(model(data).data, data)
    assert (model(data, training=True).data == 0).any()


def test_unbuilt_model_with_nested_inputs_applies_layers_in_turn():
    class Pair(layers.Layer):
        def call(self, inputs):
            return inputs[0] + inputs[1]

    model = Sequential([Pair(), Dense(1, kernel_initializer="ones")])
    out = model([np.ones((2, 3)), np.ones((2, 3))])
    np.testing.assert_allclose(out.data, [[6.0], [6.0]])


def test_nested_sequential(float64):
    inner = Sequential([Dense(4, activation="relu"), Dense(2)], name="inner")
    outer = Sequential([Input(shape=(3,)), inner, Dense(1, name="head")])
    assert outer.count_params() == inner.count_params() + 3
    data = np.random.default_rng(2).normal(size=(4, 3))
    expected = dense_np(outer.get_layer("head"), mlp_np(inner, data))
    np.testing.assert_allclose(outer(data).data, expected, rtol=1e-10)


def test_trainable_false_freezes_all_layers():
    model = Sequential([Input(shape=(2,)), Dense(2), Dense(1)], trainable=False)
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    assert not any(w.requires_grad for w in model.weights)


def test_int_data_keeps_an_integer_input():
    model = Sequential([layers.Identity()])
    model(np.array([[1, 2]], dtype=np.int64))
    assert model.inputs[0].dtype == "int64"


def test_fit_builds_an_unbuilt_model():
    numdl.set_random_seed(1)
    model = Sequential([Dense(8, activation="tanh"), Dense(1)])
    model.compile(optimizer=numdl.optimizers.Adam(learning_rate=0.02), loss="mse")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(96, 4))
    y = x @ np.array([[0.5], [-1.0], [0.25], [0.0]])
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert model.built and model.input_shape == (None, 4)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


# ------------------------------------------------------------------ configs
def test_config_round_trip_through_json():
    model = Sequential(
        [Input(shape=(4,)), Dense(6, activation="relu"), layers.Dropout(0.1), Dense(2)],
        name="net",
    )
    config = json.loads(json.dumps(model.get_config()))
    assert config["name"] == "net" and config["build_input_shape"] == [None, 4]
    assert [c["class_name"] for c in config["layers"]] == [
        "InputLayer",
        "Dense",
        "Dropout",
        "Dense",
    ]
    restored = Sequential.from_config(config)
    assert restored.built and restored.name == "net"
    assert [type(lay) for lay in restored.layers] == [type(lay) for lay in model.layers]
    restored.set_weights(model.get_weights())
    data = np.random.default_rng(4).normal(size=(3, 4))
    np.testing.assert_array_equal(model(data).data, restored(data).data)


def test_config_of_model_built_by_call_and_of_unbuilt_model():
    built_by_call = Sequential([Dense(3)], name="late")
    built_by_call(np.ones((2, 5)))
    restored = Sequential.from_config(built_by_call.get_config())
    assert restored.input_shape == (None, 5)
    unbuilt = Sequential([Dense(3)], name="never")
    config = unbuilt.get_config()
    assert "build_input_shape" not in config
    assert not Sequential.from_config(config).built


def test_model_from_json_gives_a_sequential():
    model = Sequential([Input(shape=(2,)), Dense(1)])
    restored = numdl.models.model_from_json(model.to_json())
    assert isinstance(restored, Sequential) and restored.output_shape == (None, 1)
