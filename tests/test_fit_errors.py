"""Bad input to compile/fit/evaluate fails before any step, saying what and where."""

from __future__ import annotations

import numpy as np
import pytest

import numdl
from numdl import layers, losses
from numdl.layers import Layer
from numdl.training import Trainer


class Net(Trainer, Layer):
    def __init__(self, units=3, activation="softmax"):
        super().__init__()
        self.d = layers.Dense(units, activation=activation)

    def call(self, x):
        return self.d(x[0] + x[1] if isinstance(x, list) else x)


class Heads(Trainer, Layer):
    output_names = ["a", "b"]

    def __init__(self):
        super().__init__()
        self.a, self.b = layers.Dense(1), layers.Dense(2)

    def call(self, x):
        return {"a": self.a(x), "b": self.b(x)}


def _data(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, n)


def _compiled(loss="sparse_categorical_crossentropy", **kwargs):
    numdl.set_random_seed(0)
    model = Net(**kwargs)
    model.compile(optimizer="sgd", loss=loss)
    return model


def _fails(model, match, error=ValueError, **fit_kwargs):
    """fit raises ``error`` matching ``match`` and leaves the weights alone."""
    model(np.zeros((1, 4), "float32"))
    before = model.get_weights()
    with pytest.raises(error, match=match):
        model.fit(**{"verbose": 0, **fit_kwargs})
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------- lengths
def test_x_and_y_of_different_lengths():
    x, y = _data()
    _fails(
        _compiled(),
        r"x and y have different numbers of samples: x has 12, "
        r"y has 11",
        x=x,
        y=y[:11],
    )
    with pytest.raises(ValueError, match="x has 12, y has 10"):
        _compiled().evaluate(x, y[:10], verbose=0)


def test_inputs_and_sample_weight_of_different_lengths():
    x, y = _data()
    _fails(
        _compiled(),
        r"x\[0\] and x\[1\] have different numbers of samples: "
        r"x\[0\] has 12, x\[1\] has 9",
        x=[x, x[:9]],
        y=y,
    )
    _fails(
        _compiled(), "x has 12, sample_weight has 5", x=x, y=y, sample_weight=np.ones(5)
    )


# -------------------------------------------------------------- values
def test_nan_in_x_names_the_first_bad_index():
    x, y = _data()
    x[7, 2] = np.nan
    x[9, 0] = np.nan
    _fails(_compiled(), r"fit: x contains NaN at index \(7, 2\) \(sample 7\)", x=x, y=y)


def test_inf_in_y_and_in_validation_data():
    x, _ = _data()
    y = np.zeros((12, 3), "float32")
    y[4, 1] = -np.inf
    model = _compiled("mse")
    _fails(model, r"fit: y contains -inf at index \(4, 1\) \(sample 4\)", x=x, y=y)
    y[4, 1] = 0.0
    bad_x = x.copy()
    bad_x[2, 3] = np.inf
    _fails(
        model,
        r"fit \(validation_data\): x contains inf at index \(2, 3\)",
        x=x,
        y=y,
        validation_data=(bad_x, y),
    )


def test_nan_in_the_first_batch_of_a_generator():
    x, y = _data()
    x[1, 1] = np.nan
    gen = ((x[s : s + 4], y[s : s + 4]) for s in range(0, 12, 4))
    _fails(_compiled(), r"x \(first batch\) contains NaN at index \(1, 1\)", x=gen)


# -------------------------------------------------------------- labels
def test_labels_outside_the_classes_of_a_sparse_loss():
    x, y = _data()
    y[8] = 3
    _fails(
        _compiled(),
        r"fit: y: label 3 at index 8 is out of range; y_pred has "
        r"3 classes, so labels must be in \[0, 2\]",
        x=x,
        y=y,
    )
    y[8] = -1
    _fails(_compiled(), "label -1 at index 8 is out of range", x=x, y=y)


def test_fractional_labels_for_a_sparse_loss():
    x, y = _data()
    y = y.astype("float32")
    y[5] = 1.5
    _fails(
        _compiled(),
        "labels must be integer class indices, got 1.5 at index 5",
        x=x,
        y=y,
    )


def test_labels_are_checked_with_sparse_loss_objects_and_ignore_class():
    x, y = _data()
    y[3] = 7
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    _fails(
        _compiled(loss),
        r"label 7 at index 3 is out of range.*ignore_class=-1",
        x=x,
        y=y,
    )
    y[3] = -1  # ignored: fine
    _compiled(loss).fit(x, y, verbose=0)


def test_one_hot_targets_given_to_a_sparse_loss():
    x, y = _data()
    onehot = np.eye(3)[y]
    _fails(
        _compiled(),
        r"y looks one-hot encoded \(shape \(12, 3\)\).*"
        r"use loss='categorical_crossentropy'",
        x=x,
        y=onehot,
    )


def test_class_indices_given_to_categorical_crossentropy():
    x, y = _data()
    for target in (y, y.reshape(-1, 1)):
        _fails(
            _compiled("categorical_crossentropy"),
            r"y holds class indices.*"
            r"expects one-hot rows of shape \(12, 3\).*to_categorical",
            x=x,
            y=target,
        )


def test_label_errors_name_the_output():
    x, _ = _data()
    model = Heads()
    model.compile(
        optimizer="sgd", loss={"a": "mse", "b": "sparse_categorical_crossentropy"}
    )
    with pytest.raises(ValueError, match=r"y for output 'b': label 2 at index 0"):
        model.fit(x, {"a": np.zeros((12, 1)), "b": np.full(12, 2)}, verbose=0)


# --------------------------------------------------------- compile/fit
def test_an_uncompiled_model_asks_for_compile():
    x, y = _data()
    model = Net()
    for call in (
        lambda: model.fit(x, y),
        lambda: model.evaluate(x, y),
        lambda: model.train_on_batch(x, y),
    ):
        with pytest.raises(RuntimeError, match=r"call compile\(\) before"):
            call()
    assert model.predict(x, verbose=0).shape == (12, 3)  # predict needs none


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"optimizer": "adamm"},
            r"compile\(optimizer='adamm'\): Unknown optimizer "
            r"'adamm'. Valid names: .*adam",
        ),
        (
            {"loss": "mse_"},
            r"compile\(loss='mse_'\): Unknown loss 'mse_'. Valid "
            r"names: .*mean_squared_error",
        ),
        ({"loss": ["mse", "nope"]}, r"Unknown loss 'nope'"),
        (
            {"loss": "mse", "metrics": ["acuracy"]},
            r"compile\(metrics=\['acuracy'\]\)"
            r": Unknown metric 'acuracy'. Valid names: .*accuracy",
        ),
        ({"loss": "mse", "weighted_metrics": ["x"]}, r"weighted_metrics.*Unknown"),
        (
            {"loss": "mse", "loss_weights": [1.0, "x"], "metrics": []},
            r"loss_weights must be numbers .* got \[1.0, 'x'\]",
        ),
    ],
)
def test_unknown_names_fail_at_compile_with_the_valid_names(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Net().compile(**kwargs)


def test_no_loss_at_all():
    x, y = _data()
    model = Net()
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"No loss to compute: pass a `loss`"):
        model.fit(x, y, verbose=0)


def test_outputs_and_targets_that_do_not_match():
    x, _ = _data()
    model = Heads()
    with pytest.raises(
        ValueError,
        match=r"`loss` has key\(s\) \['c'\] that match "
        r"no model output; the outputs are \['a', 'b'\]",
    ):
        model.compile(optimizer="sgd", loss={"c": "mse"})
        model.fit(x, {"a": np.zeros((12, 1))}, verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(
        ValueError, match="the model has 2 outputs .* but y is a single array"
    ):
        model.fit(x, np.zeros((12, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"y has key\(s\) \['z'\]"):
        model.fit(x, {"a": np.zeros((12, 1)), "z": np.zeros((12, 2))}, verbose=0)
    with pytest.raises(
        ValueError, match="`loss` is a list of 3 entries but the model has 2 output"
    ):
        model.compile(optimizer="sgd", loss=["mse"] * 3)
        model.fit(x, [np.zeros((12, 1)), np.zeros((12, 2))], verbose=0)


# ------------------------------------------------------------ arguments
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer, got 2.5"),
        ({"verbose": 3}, "verbose must be 0, 1, 2 or 'auto', got 3"),
        ({"validation_split": 1.5}, r"validation_split must be in \(0, 1\)"),
        ({"validation_split": 0.99}, "12 samples are too few to split"),
        ({"validation_data": (1,)}, r"validation_data must be \(x_val, y_val\)"),
        ({"validation_freq": 0}, "validation_freq must be an integer >= 1"),
        (
            {"class_weight": {0: 2.0}, "sample_weight": np.ones(12)},
            "either class_weight or sample_weight, not both",
        ),
    ],
)
def test_bad_fit_arguments(kwargs, match):
    x, y = _data()
    if "validation_freq" in kwargs:
        kwargs["validation_data"] = (x, y)
    _fails(_compiled(), match, x=x, y=y, **kwargs)


def test_generator_arguments():
    x, y = _data()
    gen = ((x[s : s + 4], y[s : s + 4]) for s in range(0, 12, 4))
    _fails(_compiled(), "y must be None when x is a generator", x=gen, y=y)
    gen = ((x[s : s + 4], y[s : s + 4]) for s in range(0, 12, 4))
    _fails(
        _compiled(),
        "validation_split is only supported for array data",
        x=gen,
        validation_split=0.5,
    )
    _fails(_compiled(), "the data yielded no batches", x=iter([]))


def test_class_weight_needs_a_single_output():
    x, _ = _data()
    model = Heads()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(
        ValueError,
        match="class_weight is only supported for models with a single output",
    ):
        model.fit(
            x, [np.zeros((12, 1)), np.zeros((12, 2))], class_weight={0: 1.0}, verbose=0
        )


def test_data_that_is_not_numeric():
    _, y = _data()
    _fails(
        _compiled(),
        "x is not a numeric array",
        x=np.array(["a"] * 12, dtype=object),
        y=y,
    )
    _fails(_compiled(), "x must have a batch axis", x=np.float32(1.0), y=y)


def test_a_validation_generator_is_checked_on_every_fit():
    x, y = _data()
    model = _compiled()
    model.fit(x, y, verbose=0)  # losses and metrics are built now
    bad = x.copy()
    bad[0, 0] = np.nan
    gen = ((bad[s : s + 4], y[s : s + 4]) for s in range(0, 12, 4))
    _fails(
        model,
        r"fit \(validation_data\): x \(first batch\) contains NaN at "
        r"index \(0, 0\)",
        x=x,
        y=y,
        validation_data=gen,
    )
