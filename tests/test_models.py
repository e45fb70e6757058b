"""Model: the functional switch in ``__new__``, subclassed models, get_layer,
build, configs and training through the Trainer mixin."""

from __future__ import annotations

import json

import numpy as np
import pytest

import numdl
from numdl import layers
from numdl.layers import Dense, Input
from numdl.models import Functional, Model, Sequential, model_from_json


def relu(x):
    return np.maximum(x, 0)


def dense_np(layer, x):
    return x @ layer.kernel.numpy() + layer.bias.numpy()


class MLP(Model):
    """A subclassed model: layers as attributes, a list of layers too."""

    def __init__(self, units=4, depth=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.blocks = [Dense(units, activation="relu") for _ in range(depth)]
        self.dropout = layers.Dropout(0.5)
        self.head = Dense(1)

    def call(self, inputs, training=None):
        x = inputs
        for block in self.blocks:
            x = block(x)
        x = self.dropout(x, training=training)
        return self.head(x)


# ------------------------------------------------------------- construction
def test_model_with_inputs_and_outputs_is_functional():
    x = Input(shape=(2,))
    y = Dense(1)(x)
    for model in (Model(x, y), Model(inputs=x, outputs=y), Model(x, outputs=y)):
        assert type(model) is Functional and isinstance(model, Model)
    assert type(MLP()) is MLP
    assert Model(x, y, name="named").name == "named"


def test_subclassed_model_tracks_weights_and_computes(float64):
    model = MLP(units=3, depth=2)
    assert not model.built and model.weights == []
    data = np.random.default_rng(0).normal(size=(5, 4))
    out = model(data)
    assert model.built and out.shape == (5, 1)
    assert len(model.weights) == 6
    assert model.count_params() == (4 * 3 + 3) + (3 * 3 + 3) + (3 + 1)
    assert model.layers == [*model.blocks, model.dropout, model.head]
    hidden = relu(dense_np(model.blocks[1], relu(dense_np(model.blocks[0], data))))
    expected = dense_np(model.head, hidden)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10)


def test_subclassed_training_argument_flows():
    model = MLP(units=64, depth=1)
    data = np.ones((8, 4))
    inference = model(data).data
    np.testing.assert_array_equal(model(data, training=False).data, inference)
    assert not np.allclose(model(data, training=True).data, inference)


def test_build_creates_weights_and_summary_knows_shapes():
    model = MLP(units=5, depth=1, name="built_mlp")
    model.build((None, 3))
    assert model.built and model.count_params() == (3 * 5 + 5) + (5 + 1)
    lines = []
    model.summary(print_fn=lines.append, line_length=80)
    text = lines[0]
    assert "(None, 5)" in text and "(None, 1)" in text and "unbuilt" not in text


def test_build_with_several_inputs():
    class Pair(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(2)

        def call(self, inputs):
            return self.dense(layers.concatenate([inputs[0], inputs[1]]))

    model = Pair()
    model.build([(None, 3), (None, 4)])
    assert model.dense.kernel.shape == (7, 2)


def test_build_errors():
    with pytest.raises(ValueError, match="build\\(\\) needs the input shape"):
        MLP().build()

    class NoCall(Model):
        pass

    with pytest.raises(NotImplementedError, match="call"):
        NoCall().build((None, 2))
    with pytest.raises(NotImplementedError, match="does not have a `call\\(\\)`"):
        NoCall()(np.ones((1, 2)))


def test_count_params_before_build_is_an_error():
    with pytest.raises(ValueError, match="not built yet"):
        MLP(name="lazy").count_params()


def test_layers_attribute_is_reserved():
    model = MLP()
    with pytest.raises(AttributeError, match="reserved"):
        model.layers = []


def test_subclass_with_functional_constructor_becomes_functional(float64):
    class Wrapped(Model):
        def __init__(self, units):
            inputs = Input(shape=(3,))
            outputs = Dense(units, name="wrapped_dense")(inputs)
            super().__init__(inputs, outputs, name="wrapped")
            self.units = units

    model = Wrapped(2)
    assert isinstance(model, Functional) and isinstance(model, Wrapped)
    assert model.output_shape == (None, 2) and model.name == "wrapped"
    data = np.ones((2, 3))
    expected = dense_np(model.get_layer("wrapped_dense"), data)
    np.testing.assert_allclose(model(data).data, expected, rtol=1e-10)
    assert model.get_config()["units"] == 2  # constructor arguments, not a graph


# ------------------------------------------------------------------ get_layer
def test_get_layer_by_name_and_index():
    x = Input(shape=(2,), name="inp")
    h = Dense(3, name="hidden")(x)
    model = Model(x, Dense(1, name="out")(h))
    assert model.get_layer("hidden") is model.layers[1]
    assert model.get_layer(index=2).name == "out"
    assert model.get_layer(index=-1).name == "out"


def test_get_layer_errors_are_clear():
    x = Input(shape=(2,), name="inp")
    model = Model(x, Dense(1, name="out")(x), name="m")
    with pytest.raises(ValueError, match="no such layer: 'missing'.*'inp', 'out'"):
        model.get_layer("missing")
    with pytest.raises(ValueError, match="index 5 but the model has only 2 layers"):
        model.get_layer(index=5)
    with pytest.raises(ValueError, match="not both"):
        model.get_layer("out", index=0)
    with pytest.raises(ValueError, match="give get_layer a layer name or an index"):
        model.get_layer()


def test_get_layer_on_subclassed_model():
    model = MLP(depth=1)
    assert model.get_layer(model.head.name) is model.head


# -------------------------------------------------------------------- names
def test_output_and_input_names_can_be_set():
    x = Input(shape=(2,), name="in")
    model = Model(x, [Dense(1, name="a")(x), Dense(1, name="b")(x)])
    assert model.output_names == ["a", "b"] and model.input_names == ["in"]
    model.output_names = ["first", "second"]
    assert model.output_names == ["first", "second"]
    assert MLP().output_names is None and MLP().input_names is None


# ------------------------------------------------------------------ configs
def test_subclassed_config_from_constructor_arguments():
    model = MLP(units=6, depth=3, name="configured")
    config = json.loads(json.dumps(model.get_config()))
    assert config["units"] == 6 and config["depth"] == 3
    assert config["name"] == "configured"
    restored = MLP.from_config(config)
    assert type(restored) is MLP and restored.units == 6 and len(restored.blocks) == 3


def test_subclassed_config_keeps_only_accepted_arguments():
    class Fixed(Model):
        def __init__(self, width=3):
            super().__init__()
            self.dense = Dense(width)

        def call(self, inputs):
            return self.dense(inputs)

    config = Fixed(width=4).get_config()
    assert config == {"width": 4}
    assert Fixed.from_config(config).dense.units == 4


def test_unserializable_constructor_arguments():
    class TakesLayer(Model):
        def __init__(self, layer, **kwargs):
            super().__init__(**kwargs)
            self.inner = layer

        def call(self, inputs):
            return self.inner(inputs)

    with pytest.raises(NotImplementedError, match="override get_config"):
        TakesLayer(Dense(2)).get_config()


def test_from_config_failure_is_explained():
    class Strict(Model):
        def __init__(self, width):
            super().__init__()
            self.width = width

    with pytest.raises(TypeError, match="Unable to revive model Strict"):
        Strict.from_config({"height": 3})


def test_to_json_and_model_from_json():
    x = Input(shape=(3,), name="x")
    model = Model(x, Dense(2, name="d")(Dense(4)(x)), name="json_model")
    text = model.to_json()
    payload = json.loads(text)
    assert payload["class_name"] == "Functional" and payload["module"] == "numdl.models"
    restored = model_from_json(text)
    assert restored.name == "json_model" and restored.count_params() == 16 + 10
    restored.set_weights(model.get_weights())
    data = np.ones((2, 3))
    np.testing.assert_array_equal(model(data).data, restored(data).data)


def test_model_inside_sequential_inside_functional_round_trip():
    inner = MLP(units=2, depth=1, name="sub")
    x = Input(shape=(3,))
    model = Model(x, Sequential([inner], name="wrap")(x))
    restored = model_from_json(model.to_json(), custom_objects={"MLP": MLP})
    wrap = restored.get_layer("wrap")
    assert type(wrap.layers[0]) is MLP and wrap.layers[0].units == 2
    restored.set_weights(model.get_weights())
    data = np.random.default_rng(1).normal(size=(2, 3))
    np.testing.assert_array_equal(model(data).data, restored(data).data)


# ----------------------------------------------------------------- training
def test_subclassed_model_trains_with_fit():
    numdl.set_random_seed(2)
    model = MLP(units=16, depth=1)
    model.compile(optimizer=numdl.optimizers.Adam(learning_rate=0.01), loss="mse")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(128, 3))
    y = np.sin(x[:, :1]) + 0.5 * x[:, 1:2]
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    assert model.predict(x[:5], verbose=0).shape == (5, 1)


def test_functional_model_trains_and_predicts_numpy():
    numdl.set_random_seed(3)
    x = Input(shape=(2,))
    model = Model(x, Dense(1)(Dense(8, activation="tanh")(x)))
    model.compile(optimizer=numdl.optimizers.Adam(learning_rate=0.02), loss="mse")
    rng = np.random.default_rng(6)
    data = rng.normal(size=(64, 2))
    target = data[:, :1] * data[:, 1:]
    before = model.evaluate(data, target, verbose=0)
    model.fit(data, target, epochs=15, batch_size=16, verbose=0)
    after = model.evaluate(data, target, verbose=0)
    assert after < 0.8 * before
    prediction = model.predict(data, verbose=0)
    assert isinstance(prediction, np.ndarray)
    np.testing.assert_allclose(prediction, model(data).data, rtol=1e-6)
