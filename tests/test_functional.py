"""Functional models: graphs of layer calls, replayed on data (Keras 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import numdl
from numdl import layers
from numdl.layers import Dense, Input, InputLayer
from numdl.models import Functional, Model, Sequential
from numdl.models.functional import clone_graph_nodes


def relu(x):
    return np.maximum(x, 0)


def dense_np(layer, x):
    """The reference: inputs @ kernel + bias, in NumPy."""
    return x @ layer.kernel.numpy() + layer.bias.numpy()


def two_branch_model():
    """Two inputs, a shared Dense, a merge, two named outputs."""
    a = Input(shape=(3,), name="a")
    b = Input(shape=(3,), name="b")
    shared = Dense(4, activation="relu", name="shared")
    merged = layers.Concatenate(name="merge")([shared(a), shared(b)])
    y1 = Dense(1, name="y1")(merged)
    y2 = Dense(2, name="y2")(layers.Add(name="sum")([shared(a), Dense(4)(b)]))
    return Model([a, b], [y1, y2], name="two_branch")


# ------------------------------------------------------------------ building
def test_model_call_returns_functional_and_matches_numpy(float64):
    x = Input(shape=(4,))
    h = Dense(3, activation="relu", name="h")(x)
    out = Dense(2, name="out")(h)
    model = Model(inputs=x, outputs=out)
    assert type(model) is Functional and isinstance(model, Model)
    data = np.random.default_rng(0).normal(size=(5, 4))
    got = model(data)
    hidden = relu(dense_np(model.get_layer("h"), data))
    expected = dense_np(model.get_layer("out"), hidden)
    np.testing.assert_allclose(got.data, expected, rtol=1e-10)
    assert got.dtype == np.float64


def test_layers_in_keras_order_and_shapes():
    x = Input(shape=(4,), name="in")
    h = Dense(3, name="first")(x)
    out = Dense(2, name="second")(h)
    model = Model(x, out)
    assert [layer.name for layer in model.layers] == ["in", "first", "second"]
    assert isinstance(model.layers[0], InputLayer)
    assert model.inputs == [x] and model.outputs == [out]
    assert model.input is x and model.output is out
    assert model.input_shape == (None, 4) and model.output_shape == (None, 2)
    assert model.input_names == ["in"] and model.output_names == ["second"]
    # weights in layer order: kernel, bias of "first", then of "second"
    assert [w.path for w in model.weights] == [
        "first/kernel",
        "first/bias",
        "second/kernel",
        "second/bias",
    ]


def test_layer_order_follows_depth_then_traversal():
    # Keras orders by depth from the outputs, ties by first DFS visit.
    a = Input(shape=(2,), name="a")
    b = Input(shape=(2,), name="b")
    da = Dense(2, name="da")(a)
    deep = Dense(2, name="deep")(Dense(2, name="pre")(b))
    out = layers.Add(name="add")([da, deep])
    model = Model([a, b], out)
    names = [layer.name for layer in model.layers]
    assert names == ["b", "a", "pre", "da", "deep", "add"]


def test_multi_input_multi_output_structures():
    model = two_branch_model()
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    by_list = model([xa, xb])
    by_dict = model({"b": xb, "a": xa})
    assert isinstance(by_list, list) and len(by_list) == 2
    assert by_list[0].shape == (6, 1) and by_list[1].shape == (6, 2)
    for p, q in zip(by_list, by_dict):
        np.testing.assert_array_equal(p.data, q.data)
    assert model.output_names == ["y1", "y2"]
    assert model.input_names == ["a", "b"]


def test_dict_inputs_and_outputs_keep_their_structure():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(2,), name="b")
    merged = layers.concatenate([a, b])
    model = Model({"a": a, "b": b}, {"z": Dense(1)(merged), "c": merged})
    rng = np.random.default_rng(2)
    xa, xb = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    out = model({"a": xa, "b": xb})
    assert set(out) == {"z", "c"}
    np.testing.assert_allclose(out["c"].data, np.concatenate([xa, xb], 1), 1e-6)
    assert model.output_names == ["c", "z"]  # sorted keys, the flat order
    assert [t.shape for t in model.outputs] == [(None, 5), (None, 1)]
    positional = model([xa, xb])  # keys are in sorted order: a list is fine
    np.testing.assert_array_equal(positional["z"].data, out["z"].data)


def test_single_output_in_a_list_is_unpacked_like_keras():
    x = Input(shape=(2,))
    model = Model([x], [Dense(3)(x)])
    out = model(np.ones((2, 2)))
    assert isinstance(out, numdl.Tensor) and out.shape == (2, 3)


def test_shared_layer_has_one_set_of_weights_and_gets_both_gradients(float64):
    a = Input(shape=(3,))
    b = Input(shape=(3,))
    shared = Dense(2, name="shared")
    model = Model([a, b], layers.Add()([shared(a), shared(b)]))
    assert [layer.name for layer in model.layers].count("shared") == 1
    assert len(model.weights) == 2 and model.count_params() == 8
    assert len(shared._inbound_nodes) == 2
    rng = np.random.default_rng(3)
    xa, xb = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    out = model([xa, xb])
    expected = dense_np(shared, xa) + dense_np(shared, xb)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10)
    out.sum().backward()
    # d sum / d kernel: both calls contribute; d sum / d bias: 2 * batch.
    kernel_grad = np.outer(xa.sum(0) + xb.sum(0), np.ones(2))
    np.testing.assert_allclose(shared.kernel.grad, kernel_grad, rtol=1e-10)
    np.testing.assert_allclose(shared.bias.grad, [10.0, 10.0], rtol=1e-10)


def test_branches_and_merges_match_numpy(float64):
    x = Input(shape=(4,))
    left = Dense(3, name="left")(x)
    right = Dense(3, name="right")(x)
    added = layers.Add()([left, right])
    joined = layers.Concatenate()([added, x])
    out = Dense(1, name="head")(joined)
    model = Model(x, out)
    data = np.random.default_rng(4).normal(size=(7, 4))
    left_np = dense_np(model.get_layer("left"), data)
    right_np = dense_np(model.get_layer("right"), data)
    joined_np = np.concatenate([left_np + right_np, data], axis=1)
    expected = dense_np(model.get_layer("head"), joined_np)
    np.testing.assert_allclose(model(data).data, expected, rtol=1e-10)


def test_nested_model_as_a_layer_shares_weights(float64):
    inner_in = Input(shape=(3,))
    inner = Model(inner_in, Dense(2, name="inner_dense")(inner_in), name="inner")
    a = Input(shape=(3,))
    b = Input(shape=(3,))
    out = layers.Add()([inner(a), inner(b)])  # the nested model used twice
    outer = Model([a, b], Dense(1, name="head")(out), name="outer")
    assert inner in outer.layers
    inner_kernel = inner.get_layer("inner_dense").kernel
    assert any(w is inner_kernel for w in outer.weights)
    assert outer.count_params() == inner.count_params() + 3
    rng = np.random.default_rng(5)
    xa, xb = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    inner_dense = inner.get_layer("inner_dense")
    hidden = dense_np(inner_dense, xa) + dense_np(inner_dense, xb)
    expected = dense_np(outer.get_layer("head"), hidden)
    np.testing.assert_allclose(outer([xa, xb]).data, expected, rtol=1e-10)
    assert inner(Input(shape=(3,))).shape == (None, 2)


def test_sequential_nested_in_functional(float64):
    block = Sequential([Dense(4, activation="relu"), Dense(2)], name="block")
    x = Input(shape=(3,))
    model = Model(x, block(x))
    assert block.built and model.output_shape == (None, 2)
    data = np.random.default_rng(6).normal(size=(3, 3))
    first, second = block.layers
    expected = dense_np(second, relu(dense_np(first, data)))
    np.testing.assert_allclose(model(data).data, expected, rtol=1e-10)


def test_model_from_intermediate_tensors_shares_layers(float64):
    x = Input(shape=(4,))
    h = Dense(3, name="body")(x)
    out = Dense(2, name="tail")(h)
    full = Model(x, out)
    tail = Model(h, out)
    assert isinstance(tail.layers[0], InputLayer) and tail.input_shape == (None, 3)
    assert tail.get_layer("tail") is full.get_layer("tail")
    data = np.random.default_rng(7).normal(size=(5, 4))
    hidden = dense_np(full.get_layer("body"), data)
    np.testing.assert_allclose(tail(hidden).data, full(data).data, rtol=1e-10)
    # the original graph is untouched
    np.testing.assert_allclose(full(data).data, dense_np(tail.layers[1], hidden))


def test_clone_graph_nodes_gives_new_inputs():
    x = Input(shape=(3,))
    h = Dense(4)(x)
    out = Dense(2)(h)
    new_inputs, new_outputs = clone_graph_nodes([h], out)
    assert new_inputs[0] is not h and new_inputs[0].shape == (None, 4)
    assert new_outputs is not out and new_outputs.shape == out.shape


def test_inputs_not_used_by_outputs_stay_in_the_model():
    a = Input(shape=(2,), name="used")
    b = Input(shape=(5,), name="unused")
    model = Model([a, b], Dense(1, name="d")(a))
    # Keras puts an unused input at depth 0, the outputs' depth
    assert [layer.name for layer in model.layers] == ["used", "unused", "d"]
    assert model([np.ones((3, 2)), np.ones((3, 5))]).shape == (3, 1)


def test_identity_model_and_dtype_conversion():
    x = Input(shape=(3,), dtype="int32")
    model = Model(x, x)
    out = model(np.array([[1.7, 2.0, -3.2]]))
    assert out.dtype == np.int32 and out.data.tolist() == [[1, 2, -3]]
    y = Input(shape=(3,))
    floats = Model(y, y)(np.array([[1, 2, 3]]))
    assert floats.dtype == np.float32


def test_trailing_axis_of_one_is_added_or_removed_as_keras():
    x = Input(shape=(1,))
    model = Model(x, Dense(2)(x))
    assert model(np.ones(4)).shape == (4, 2)  # (4,) -> (4, 1)
    scalar = Input(shape=())
    flat = Model(scalar, layers.Identity()(scalar))
    assert flat(np.ones((4, 1))).shape == (4,)


def test_training_flag_reaches_the_layers():
    x = Input(shape=(200,))
    model = Model(x, layers.Dropout(0.5)(x))
    data = np.ones((2, 200))
    np.testing.assert_array_equal(model(data).data, data)
    np.testing.assert_array_equal(model(data, training=False).data, data)
    dropped = numdl.backend.to_numpy(model(data, training=True).data)
    assert (dropped == 0).any() and set(np.unique(dropped)) <= {0.0, 2.0}


def test_recorded_call_kwargs_are_replayed():
    x = Input(shape=(200,))
    kept = layers.Dropout(0.5)(x, training=False)  # frozen at graph time
    model = Model(x, kept)
    data = np.ones((2, 200))
    np.testing.assert_array_equal(model(data, training=True).data, data)


def test_inputs_as_python_lists():
    x = Input(shape=(2,))
    model = Model(x, layers.Identity()(x))
    assert model([[1.0, 2.0], [3.0, 4.0]]).data.tolist() == [[1.0, 2.0], [3.0, 4.0]]


# -------------------------------------------------------------------- errors
def test_disconnected_graph_names_the_input_and_layer():
    a = Input(shape=(2,), name="a_in")
    b = Input(shape=(2,), name="b_in")
    out = layers.Add(name="joiner")([Dense(2)(a), b])
    with pytest.raises(ValueError, match="disconnected") as info:
        Model(a, out, name="broken")
    message = str(info.value)
    assert "'broken'" in message and "'b_in'" in message and "'joiner'" in message


def test_output_that_is_a_foreign_input_is_disconnected():
    a = Input(shape=(2,), name="first")
    b = Input(shape=(2,), name="second")
    with pytest.raises(ValueError, match="'second'.*cannot be computed"):
        Model(a, b)


def test_input_shape_mismatch_names_model_and_layer_and_suggests_flatten():
    x = Input(shape=(784,), name="pixels")
    model = Model(x, Dense(10)(x), name="mnist")
    with pytest.raises(ValueError) as info:
        model(np.zeros((32, 28, 28)))
    message = str(info.value)
    assert "'mnist'" in message and "'pixels'" in message
    assert "(None, 784)" in message and "(32, 28, 28)" in message
    assert "Flatten" in message and "(32, 784)" in message


def test_input_shape_mismatch_without_flatten_hint():
    x = Input(shape=(4,), name="feat")
    model = Model(x, Dense(1)(x))
    with pytest.raises(ValueError, match=r"expects data of shape \(None, 4\)") as info:
        model(np.zeros((3, 5)))
    assert "Flatten" not in str(info.value)


def test_wrong_number_of_inputs_and_missing_keys():
    model = two_branch_model()
    with pytest.raises(ValueError, match="expects 2 inputs"):
        model(np.ones((2, 3)))
    with pytest.raises(ValueError, match="expects 2 input"):
        model([np.ones((2, 3))] * 3)
    with pytest.raises(ValueError, match=r"missing input\(s\) \['b'\]"):
        model({"a": np.ones((2, 3))})


def test_non_keras_tensor_inputs_are_rejected():
    x = Input(shape=(2,))
    with pytest.raises(ValueError, match="must be a KerasTensor"):
        Model(np.ones((2, 2)), Dense(1)(x))
    with pytest.raises(ValueError, match="cannot be empty"):
        Model([], Dense(1)(x))


def test_duplicate_layer_names_are_rejected():
    x = Input(shape=(2,))
    out = Dense(2, name="twin")(Dense(2, name="twin")(x))
    with pytest.raises(ValueError, match="'twin' is used 2 times"):
        Model(x, out)


def test_dict_key_differing_from_input_name_warns():
    x = Input(shape=(2,), name="real")
    with pytest.warns(UserWarning, match="'other'"):
        Model({"other": x}, Dense(1)(x))


# ------------------------------------------------------------------- configs
def copy_weights(source, target):
    target.set_weights(source.get_weights())


def test_config_round_trip_through_json():
    model = two_branch_model()
    config = model.get_config()
    assert {"name", "trainable", "layers", "input_layers", "output_layers"} <= set(
        config
    )
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"] == [["y1", 0, 0], ["y2", 0, 0]]
    shared = next(c for c in config["layers"] if c["name"] == "shared")
    assert shared["class_name"] == "Dense" and len(shared["inbound_nodes"]) == 3
    history = shared["inbound_nodes"][1]["args"][0]["config"]["keras_history"]
    assert history == ["b", 0, 0]
    restored = Model.from_config(json.loads(json.dumps(config)))
    assert type(restored) is Functional and restored.name == "two_branch"
    assert [w.shape for w in restored.weights] == [w.shape for w in model.weights]
    assert [layer.name for layer in restored.layers] == [
        layer.name for layer in model.layers
    ]
    copy_weights(model, restored)
    rng = np.random.default_rng(8)
    data = [rng.normal(size=(4, 3)), rng.normal(size=(4, 3))]
    for p, q in zip(model(data), restored(data)):
        np.testing.assert_array_equal(p.data, q.data)


def test_config_of_nested_models_and_dicts():
    inner_in = Input(shape=(3,))
    inner = Model(inner_in, Dense(2)(inner_in), name="inner_block")
    block = Sequential([Dense(2)], name="seq_block")
    x = Input(shape=(3,), name="x")
    outer = Model({"x": x}, {"out": block(inner(x))}, name="outer")
    text = outer.to_json()
    restored = numdl.models.model_from_json(text)
    kinds = [type(layer).__name__ for layer in restored.layers]
    assert kinds == ["InputLayer", "Functional", "Sequential"]
    copy_weights(outer, restored)
    data = {"x": np.random.default_rng(9).normal(size=(2, 3))}
    np.testing.assert_array_equal(outer(data)["out"].data, restored(data)["out"].data)


def test_tf_keras_style_inbound_nodes_load():
    config = {
        "name": "legacy",
        "layers": [
            {
                "class_name": "InputLayer",
                "config": {"batch_shape": [None, 3], "name": "x"},
                "name": "x",
                "inbound_nodes": [],
            },
            {
                "class_name": "Dense",
                "config": {"name": "d", "units": 2},
                "name": "d",
                "inbound_nodes": [[["x", 0, 0, {}]]],
            },
            {
                "class_name": "Add",
                "config": {"name": "plus"},
                "name": "plus",
                "inbound_nodes": [[["d", 0, 0, {}], ["d", 0, 0, {}]]],
            },
        ],
        "input_layers": [["x", 0, 0]],
        "output_layers": [["plus", 0, 0]],
    }
    model = Model.from_config(config)
    data = np.ones((1, 3), "float32")
    np.testing.assert_allclose(
        model(data).data, 2 * dense_np(model.get_layer("d"), data), rtol=1e-6
    )


def test_custom_layers_need_custom_objects():
    class Twice(layers.Layer):
        def call(self, inputs):
            return inputs * 2

    x = Input(shape=(2,))
    model = Model(x, Twice(name="twice")(x))
    config = json.loads(json.dumps(model.get_config()))
    with pytest.raises(ValueError, match="Unknown layer class 'Twice'.*custom_objects"):
        Model.from_config(config)
    restored = Model.from_config(config, custom_objects={"Twice": Twice})
    assert restored(np.ones((1, 2))).data.tolist() == [[2.0, 2.0]]


def test_every_exported_layer_class_is_resolvable():
    from numdl.models.model import get_layer_class

    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, layers.Layer):
            assert get_layer_class(name) is obj
    assert get_layer_class("Sequential") is Sequential


def test_frozen_layers_stay_frozen_after_round_trip():
    x = Input(shape=(2,))
    frozen = Dense(2, name="frozen")
    model = Model(x, Dense(1)(frozen(x)))
    frozen.trainable = False
    restored = Model.from_config(model.get_config())
    assert restored.get_layer("frozen").trainable is False
    assert len(restored.trainable_weights) == 2


# ------------------------------------------------------------------ training
def test_two_inputs_shared_layer_two_outputs_train_with_loss_weights():
    numdl.set_random_seed(0)
    a = Input(shape=(3,), name="a")
    b = Input(shape=(3,), name="b")
    shared = Dense(8, activation="tanh", name="shared")
    merged = layers.Concatenate()([shared(a), shared(b)])
    y1 = Dense(1, name="y1")(merged)
    y2 = Dense(2, name="y2")(merged)
    model = Model([a, b], [y1, y2])
    model.compile(optimizer="adam", loss=["mse", "mae"], loss_weights=[1.0, 0.25])
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(128, 3)), rng.normal(size=(128, 3))
    t1 = (xa[:, :1] - xb[:, 1:2]) * 0.5
    t2 = np.stack([xa[:, 2], xb[:, 0]], axis=1) * 0.5
    history = model.fit([xa, xb], [t1, t2], epochs=8, batch_size=32, verbose=0)
    h = history.history
    assert set(h) == {"loss", "y1_loss", "y2_loss"}
    assert h["loss"][-1] < 0.8 * h["loss"][0]
    assert h["y1_loss"][-1] < h["y1_loss"][0] and h["y2_loss"][-1] < h["y2_loss"][0]
    weighted = np.array(h["y1_loss"]) + 0.25 * np.array(h["y2_loss"])
    np.testing.assert_allclose(h["loss"], weighted, rtol=1e-5)
    evaluated = model.evaluate([xa, xb], [t1, t2], verbose=0, return_dict=True)
    pred1, pred2 = model.predict([xa, xb], verbose=0)
    mse = np.mean((pred1 - t1) ** 2)
    mae = np.mean(np.abs(pred2 - t2))
    np.testing.assert_allclose(evaluated["y1_loss"], mse, rtol=1e-4)
    np.testing.assert_allclose(evaluated["loss"], mse + 0.25 * mae, rtol=1e-4)


def test_batch_size_of_the_input_is_not_enforced():
    x = Input(shape=(2,), batch_size=4)
    model = Model(x, Dense(1)(x))
    assert model.input_shape == (4, 2)
    assert model(np.ones((3, 2))).shape == (3, 1)


def test_inputs_are_checked_again_after_a_call_that_passed():
    # The model remembers the last input shape and type that passed its Input
    # unchanged; anything else is checked (and converted) again.
    x = numdl.Input((3,))
    model = numdl.Model(x, numdl.layers.Dense(2)(x))
    model(np.ones((4, 3), np.float32))
    model(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expects data of shape \(None, 3\)"):
        model(np.ones((4, 5), np.float32))
    out = model(np.ones((4, 3), np.float64))  # cast to the Input's float32
    assert out.dtype == np.float32
    model(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expects data of shape \(None, 3\)"):
        model(np.ones((4, 3, 1, 1), np.float32))
