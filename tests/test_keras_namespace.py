"""``import numdl as keras``: the names Keras programs use exist and behave."""

import numpy as np
import pytest

import numdl as keras

KERAS_NAMES = [
    "Sequential",
    "Model",
    "Input",
    "layers.Dense",
    "layers.Dropout",
    "layers.BatchNormalization",
    "layers.Normalization",
    "layers.Concatenate",
    "models.Sequential",
    "optimizers.Adam",
    "optimizers.schedules.ExponentialDecay",
    "losses.SparseCategoricalCrossentropy",
    "metrics.AUC",
    "callbacks.EarlyStopping",
    "callbacks.ReduceLROnPlateau",
    "initializers.GlorotUniform",
    "regularizers.L2",
    "constraints.MaxNorm",
    "utils.to_categorical",
    "utils.set_random_seed",
    "datasets.digits.load_data",
    "datasets.mnist.load_data",
    "datasets.fashion_mnist.load_data",
]


@pytest.mark.parametrize("path", KERAS_NAMES)
def test_keras_name_exists(path):
    obj = keras
    for part in path.split("."):
        obj = getattr(obj, part)
    assert callable(obj)


@pytest.mark.parametrize(
    "alias, cls, kwargs",
    [
        ("regularizers.l1", "regularizers.L1", {"l1": 0.1}),
        ("regularizers.l2", "regularizers.L2", {"l2": 0.1}),
        ("constraints.max_norm", "constraints.MaxNorm", {"max_value": 2.0}),
        ("constraints.non_neg", "constraints.NonNeg", {}),
        ("initializers.he_normal", "initializers.HeNormal", {"seed": 1}),
        ("initializers.glorot_uniform", "initializers.GlorotUniform", {"seed": 1}),
        ("initializers.orthogonal", "initializers.Orthogonal", {"seed": 1}),
    ],
)
def test_lowercase_aliases_are_the_classes(alias, cls, kwargs):
    def resolve(path):
        obj = keras
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj

    made = resolve(alias)(**kwargs)
    assert type(made) is resolve(cls)
    assert made.get_config() == resolve(cls)(**kwargs).get_config()


def test_l2_alias_penalises_like_keras():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert float(keras.regularizers.l2(0.1)(w)) == pytest.approx(0.1 * (1 + 4 + 0.25))
