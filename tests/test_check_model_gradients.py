"""check_model_gradients: passes on correct models, names a layer whose
backward is wrong, and leaves the model as it found it."""

import numpy as np
import pytest

import numdl
from numdl import layers
from numdl.autograd.function import unbroadcast
from numdl.testing import check_model_gradients


class ScaleByWeight(numdl.Function):
    """``x * w``; with ``bug=True`` the gradient for ``w`` is doubled."""

    bug = False

    def forward(self, x, w):
        self.x, self.w = x, w
        return x * w

    def backward(self, g):
        gw = unbroadcast(g * self.x, self.w.shape)
        return g * self.w, 2 * gw if self.bug else gw


class BuggyScaleByWeight(ScaleByWeight):
    bug = True


class Scale(layers.Layer):
    """A custom layer with a per-feature weight, run by the Function above."""

    def __init__(self, function=ScaleByWeight, **kwargs):
        super().__init__(**kwargs)
        self.function = function

    def build(self, input_shape):
        self.w = self.add_weight((input_shape[-1],), "random_normal", name="w")

    def call(self, inputs):
        return self.function.apply(inputs, self.w)


def data(n=6, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)), rng.integers(0, classes, n)


def test_mlp_with_custom_layer_and_batchnorm_passes():
    numdl.config.set_random_seed(0)
    x, y = data()
    model = numdl.Sequential(
        [
            numdl.Input(shape=(4,)),
            layers.Dense(5, activation="tanh", kernel_regularizer="l2", name="d1"),
            Scale(name="scale"),
            layers.BatchNormalization(name="bn"),
            layers.Dense(3, activation="softmax", name="d2"),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy")
    report = check_model_gradients(model, x, y, training=True)
    assert report.ok, str(report)
    assert report.worst_error < 1e-6
    assert set(report.layers) == {"d1", "scale", "bn", "d2"}
    assert len(report.weights) == len(model.trainable_weights) == 7


def test_convnet_passes():
    numdl.config.set_random_seed(0)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 6, 6, 2)), rng.normal(size=(2, 2))
    model = numdl.Sequential(
        [
            numdl.Input(shape=(6, 6, 2)),
            layers.Conv2D(3, 3, activation="relu", name="conv"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(2),
        ]
    )
    report = check_model_gradients(model, x, y, "mse")
    assert report.ok and report.worst_error < 1e-6, str(report)
    assert "conv/kernel" in report.weights


def test_functional_model_passes():
    numdl.config.set_random_seed(0)
    a, b = numdl.Input(shape=(3,)), numdl.Input(shape=(2,))
    merged = layers.Concatenate()([layers.Dense(4, activation="sigmoid")(a), b])
    model = numdl.Model([a, b], layers.Dense(1, name="head")(merged))
    rng = np.random.default_rng(2)
    x, y = [rng.normal(size=(5, 3)), rng.normal(size=(5, 2))], rng.normal(size=(5, 1))
    report = check_model_gradients(model, x, y, numdl.losses.Huber())
    assert report.ok, str(report)
    assert "head" in report.layers


def test_wrong_backward_is_caught_and_named():
    numdl.config.set_random_seed(0)
    x, y = data()
    model = numdl.Sequential(
        [
            numdl.Input(shape=(4,)),
            layers.Dense(5, activation="relu", name="below"),
            Scale(BuggyScaleByWeight, name="buggy"),
            layers.Dense(3, name="above"),
        ]
    )
    report = check_model_gradients(
        model, x, y, numdl.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    assert not report.ok
    assert report.worst_layer == "buggy" and report.worst_error > 0.1
    assert report.layers["below"] < 1e-6 and report.layers["above"] < 1e-6
    assert "worst layer: 'buggy'" in str(report) and "FAILED" in str(report)


def test_model_is_unchanged_and_float32_again():
    numdl.config.set_random_seed(0)
    x, y = data()
    model = numdl.Sequential([numdl.Input(shape=(4,)), layers.Dense(3)])
    model.compile(loss="mse", optimizer="sgd")
    before = [w.copy() for w in model.get_weights()]
    predicted = model.predict(x, verbose=0)
    check_model_gradients(model, x, np.zeros((6, 3)))
    assert numdl.config.floatx() == "float32"
    assert all(layer.dtype == "float32" for layer in model.layers)
    assert all(w.dtype == np.float32 for w in model.weights)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert all(w.grad is None for w in model.weights)
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, predicted)


def test_max_entries_samples_each_weight():
    numdl.config.set_random_seed(0)
    x, y = data()
    calls = []

    def counting_mse(y_true, y_pred):
        calls.append(1)
        return numdl.losses.mean_squared_error(y_true, y_pred)

    model = numdl.Sequential([numdl.Input(shape=(4,)), layers.Dense(3)])
    report = check_model_gradients(
        model, x, np.zeros((6, 3)), counting_mse, max_entries=2
    )
    assert report.ok
    assert len(calls) == 1 + 2 * (2 + 2)  # one backward pass, two entries each


def test_no_loss_is_a_clear_error():
    model = numdl.Sequential([numdl.Input(shape=(4,)), layers.Dense(3)])
    with pytest.raises(ValueError, match="check_model_gradients: no loss"):
        check_model_gradients(model, np.ones((2, 4)), np.ones((2, 3)))


@pytest.mark.parametrize("seed", [None, 3])  # numdl's generator, the layer's own
def test_dropout_in_training_mode_draws_the_same_mask_every_pass(seed):
    numdl.config.set_random_seed(0)
    x, y = data()
    model = numdl.Sequential(
        [
            numdl.Input(shape=(4,)),
            layers.Dense(6, activation="tanh", name="d1"),
            layers.Dropout(0.5, seed=seed),
            layers.Dense(3, name="d2"),
        ]
    )
    state = numdl.config.rng().bit_generator.state
    own = model.layers[1]._rng
    own_state = None if own is None else own.bit_generator.state
    loss = numdl.losses.SparseCategoricalCrossentropy(from_logits=True)
    report = check_model_gradients(model, x, y, loss, training=True)
    assert report.ok, str(report)
    assert numdl.config.rng().bit_generator.state == state  # no draws consumed
    assert own is None or own.bit_generator.state == own_state
    # Dropout is active: the training loss differs from the inference one.
    train = float(loss(y, model(x, training=True)).data)
    infer = float(loss(y, model(x, training=False)).data)
    assert train != pytest.approx(infer)
