"""Regularization layers: GaussianNoise, GaussianDropout, ActivityRegularization
— noise statistics, inference identity, seeds, gradients, the penalty's
formula and scaling (Keras 3: a sum over the batch), configs and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import numdl
from numdl import layers
from numdl.autograd.tensor import Tensor
from numdl.ops.nn import dense
from numdl.optimizers import SGD
from numdl.testing import assert_close, check_grad

NOISY = [
    (layers.GaussianNoise, {"stddev": 0.3}),
    (layers.GaussianDropout, {"rate": 0.3}),
]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_training_step(layer, x, units=3, reseed=None, **call_kwargs):
    """Dense -> layer -> weighted sum (+ the layer's losses): gradients match
    finite differences; one SGD step lowers the loss."""
    rng = _rng(1)
    kernel, bias = rng.normal(size=(x.shape[-1], units)), rng.normal(size=units)

    def fn(kernel, bias):
        if reseed is not None:
            numdl.config.set_random_seed(reseed)
        out = layer(dense(Tensor(x), kernel, bias), **call_kwargs)
        return out if not layer.losses else out.sum() + layer.losses[0]

    assert max(check_grad(fn, kernel, bias)) < 1e-7
    dense_layer = layers.Dense(units)
    dense_layer.build((None, x.shape[-1]))
    dense_layer.set_weights([kernel, bias])

    def loss():
        if reseed is not None:
            numdl.config.set_random_seed(reseed)
        out = layer(dense_layer(x), **call_kwargs)
        total = ((out - 1.0) ** 2).sum()
        return total + sum(layer.losses) if layer.losses else total

    before = loss()
    before.backward()
    SGD(learning_rate=1e-3).step(dense_layer.trainable_weights)
    assert float(loss()) < float(before)


def _round_trip(layer):
    cfg = layer.get_config()
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    return clone


# ---------------------------------------------------- noise: shared checks
@pytest.mark.parametrize(("cls", "kwargs"), NOISY)
def test_noise_layers_are_identity_at_inference(cls, kwargs):
    x = _rng(2).normal(size=(3, 4)).astype("float32")
    layer = cls(**kwargs)
    for training in (None, False):
        np.testing.assert_array_equal(layer(x, training=training).numpy(), x)
    assert not np.array_equal(layer(x, training=True).numpy(), x)
    assert layer.weights == [] and layer.count_params() == 0


@pytest.mark.parametrize(("cls", "kwargs"), NOISY)
def test_noise_layers_shapes_and_dtypes(cls, kwargs):
    layer = cls(**kwargs)
    assert layer(layers.Input(shape=(3, 4))).shape == (None, 3, 4)
    assert layer(layers.Input(shape=(3, 4)), training=True).shape == (None, 3, 4)
    assert layer.compute_output_shape((None, 5)) == (None, 5)
    out = layer(np.ones((2, 3)), training=True)
    assert out.shape == (2, 3) and out.dtype == np.float32
    out = cls(dtype="float64", **kwargs)(np.ones((2, 3)), training=True)
    assert out.dtype == np.float64


@pytest.mark.parametrize(("cls", "kwargs"), NOISY)
def test_noise_layers_seeds_and_config(cls, kwargs):
    x = np.ones((4, 5))
    layer = cls(seed=3, name="noisy", **kwargs)
    cfg = layer.get_config()
    assert cfg["seed"] == 3 and cfg["name"] == "noisy"
    clone = _round_trip(layer)
    # an int seed: each layer has its own stream, so the clone repeats it
    np.testing.assert_array_equal(
        layer(x, training=True).numpy(), clone(x, training=True).numpy()
    )
    numdl.config.set_random_seed(11)
    a = cls(**kwargs)(x, training=True).numpy()
    numdl.config.set_random_seed(11)
    b = cls(**kwargs)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)  # seed=None: numdl.config.rng()


@pytest.mark.parametrize(("cls", "kwargs"), NOISY)
def test_noise_layers_training_step(float64, cls, kwargs):
    x = _rng(4).normal(size=(3, 4))
    _check_training_step(cls(**kwargs), x, reseed=5, training=True)


@pytest.mark.parametrize(("cls", "kwargs"), NOISY)
def test_noise_layers_inherit_training(cls, kwargs):
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.noise = cls(**kwargs)

        def call(self, inputs, training=None):
            return self.noise(inputs)

    x = np.ones((3, 3))
    assert not np.array_equal(Block()(x, training=True).numpy(), x)
    np.testing.assert_array_equal(Block()(x, training=False).numpy(), x)


# ------------------------------------------------------------ GaussianNoise
def test_gaussian_noise_statistics_and_gradient(float64):
    numdl.config.set_random_seed(0)
    x = Tensor(_rng(6).normal(size=(200, 500)), requires_grad=True)
    out = layers.GaussianNoise(0.2)(x, training=True)
    noise = out.numpy() - x.data  # read on the host (out is on the default device)
    n = noise.size
    assert abs(noise.mean()) < 7 * 0.2 / np.sqrt(n)
    assert abs(noise.std() / 0.2 - 1) < 7 / np.sqrt(2 * n)
    # its distribution is torch's: N(0, stddev^2) — compare quantiles
    ref = (torch.randn(n, generator=torch.Generator().manual_seed(0)) * 0.2).numpy()
    q = [0.05, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_allclose(np.quantile(noise, q), np.quantile(ref, q), atol=0.01)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(x.shape))  # additive: identity


def test_gaussian_noise_zero_stddev_is_identity():
    x = np.ones((2, 3))
    np.testing.assert_array_equal(
        layers.GaussianNoise(0.0)(x, training=True).numpy(), x
    )


@pytest.mark.parametrize("stddev", [-0.1, 1.5, "0.1", None])
def test_gaussian_noise_bad_stddev(stddev):
    with pytest.raises(ValueError, match="GaussianNoise 'gn'.*stddev"):
        layers.GaussianNoise(stddev, name="gn")


def test_gaussian_noise_bad_seed():
    with pytest.raises(ValueError, match="GaussianNoise 'gn'.*seed"):
        layers.GaussianNoise(0.1, seed="x", name="gn")


# ---------------------------------------------------------- GaussianDropout
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_gaussian_dropout_statistics_and_gradient(float64, rate):
    numdl.config.set_random_seed(1)
    x = Tensor(_rng(7).uniform(1, 2, size=(200, 500)), requires_grad=True)
    out = layers.GaussianDropout(rate)(x, training=True)
    factor = out.numpy() / x.data  # read on the host (out is on the default device)
    n = factor.size
    stddev = np.sqrt(rate / (1 - rate))  # Keras's formula
    assert abs(factor.mean() - 1) < 7 * stddev / np.sqrt(n)
    assert abs(factor.std() / stddev - 1) < 7 / np.sqrt(2 * n)
    out.sum().backward()
    assert_close(x.grad, factor, 1e-12)  # multiplicative: the factor itself


def test_gaussian_dropout_rate_zero_and_config():
    x = np.ones((2, 3))
    layer = layers.GaussianDropout(0.0)
    np.testing.assert_array_equal(layer(x, training=True).numpy(), x)
    assert layer.get_config()["rate"] == 0.0
    assert _round_trip(layers.GaussianDropout(0.4)).rate == 0.4


@pytest.mark.parametrize("rate", [-0.1, 1.0, 2.0, "0.5"])
def test_gaussian_dropout_bad_rate(rate):
    with pytest.raises(ValueError, match="GaussianDropout 'gd'.*rate"):
        layers.GaussianDropout(rate, name="gd")


# --------------------------------------------------- ActivityRegularization
def test_activity_regularization_keras_value():
    # Keras's own test: l1=0.2, l2=0.3 on a single 2.0 gives 4*0.3 + 2*0.2
    layer = layers.ActivityRegularization(l1=0.2, l2=0.3)
    out = layer(2 * np.ones((1,)))
    np.testing.assert_array_equal(out.numpy(), [2.0])
    assert len(layer.losses) == 1
    assert_close(float(layer.losses[0]), 4 * 0.3 + 2 * 0.2, 1e-6)


def test_activity_regularization_sums_over_the_batch(float64):
    x = _rng(8).normal(size=(5, 3))
    layer = layers.ActivityRegularization(l1=0.1, l2=0.01)
    layer(x)
    expected = 0.1 * np.abs(x).sum() + 0.01 * (x**2).sum()  # not / batch size
    assert_close(float(layer.losses[0]), expected, 1e-12)
    # the same as torch's penalty and its gradient
    xt = torch.tensor(x, requires_grad=True)
    ref = 0.1 * xt.abs().sum() + 0.01 * (xt**2).sum()
    ref.backward()
    xo = Tensor(x.copy(), requires_grad=True)
    layer(xo)
    layer.losses[0].backward()
    assert_close(xo.grad, xt.grad.numpy(), 1e-12)


def test_activity_regularization_losses_are_per_call():
    layer = layers.ActivityRegularization(l2=1.0)
    layer(np.ones((2, 2)))
    layer(np.ones((1, 1)))
    assert len(layer.losses) == 1 and float(layer.losses[0]) == 1.0
    layer(np.ones((2, 2)), training=False)  # added at inference too
    assert float(layer.losses[0]) == 4.0
    default = layers.ActivityRegularization()
    default(np.ones((2, 2)))
    assert float(default.losses[0]) == 0.0


def test_activity_regularization_inside_another_layer():
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.reg = layers.ActivityRegularization(l1=0.5)

        def call(self, inputs):
            return self.reg(inputs)

    block = Block()
    block(np.full((2, 3), 2.0))
    assert [float(v) for v in block.losses] == [6.0]


def test_activity_regularization_shapes_config_and_step(float64):
    layer = layers.ActivityRegularization(l1=0.1, l2=0.2, name="ar")
    assert layer(layers.Input(shape=(3, 4))).shape == (None, 3, 4)
    assert layer.losses == []  # symbolic calls leave no loss behind
    assert layer.compute_output_shape((None, 5)) == (None, 5)
    cfg = layer.get_config()
    assert cfg["l1"] == 0.1 and cfg["l2"] == 0.2
    assert "activity_regularizer" not in cfg
    clone = _round_trip(layer)
    x = _rng(9).normal(size=(2, 3))
    layer(x), clone(x)
    assert float(layer.losses[0]) == float(clone.losses[0])
    layer.build((None, 3))
    assert layer.weights == [] and layer.count_params() == 0
    _check_training_step(
        layers.ActivityRegularization(l1=0.01, l2=0.05),
        _rng(10).normal(size=(3, 4)),
    )


@pytest.mark.parametrize(
    "kwargs", [{"l1": -0.1}, {"l2": float("inf")}, {"l1": "0.1"}, {"l2": None}]
)
def test_activity_regularization_bad_factors(kwargs):
    with pytest.raises(ValueError, match="ActivityRegularization 'ar'"):
        layers.ActivityRegularization(name="ar", **kwargs)


def test_activity_regularization_rejects_its_own_regularizer():
    with pytest.raises(TypeError, match="activity_regularizer"):
        layers.ActivityRegularization(l1=0.1, activity_regularizer="l2")


@pytest.mark.parametrize(("cls", "kwargs"), NOISY)
def test_noise_layers_make_integer_inputs_float(cls, kwargs):
    out = cls(seed=0, **kwargs)(np.ones((3, 4), "int64"), training=True)
    assert out.dtype == np.float32 and not (out.numpy() == 1).all()


# ----------------------------------------------------------- SpatialDropout
SPATIAL = [
    (layers.SpatialDropout1D, (8, 5, 6)),  # (batch, steps, features)
    (layers.SpatialDropout2D, (8, 5, 4, 6)),  # (batch, rows, cols, channels)
]
FORMATS = ["channels_last", "channels_first"]


def _channel_axis(data_format, ndim):
    return ndim - 1 if data_format == "channels_last" else 1


@pytest.mark.parametrize(("cls", "shape"), SPATIAL)
@pytest.mark.parametrize("data_format", FORMATS)
def test_spatial_dropout_drops_whole_channels(cls, shape, data_format):
    rate = 0.4
    x = _rng(7).uniform(1.0, 2.0, size=shape).astype("float32")
    layer = cls(rate, data_format=data_format, seed=1)
    out = layer(x, training=True).numpy()
    ratio = out / x  # 0 or 1 / (1 - rate) everywhere
    kept = np.isclose(ratio, 1 / (1 - rate), rtol=1e-6)
    assert (kept | (ratio == 0)).all()
    channel = _channel_axis(data_format, len(shape))
    spatial = tuple(a for a in range(1, len(shape)) if a != channel)
    # one decision per (sample, channel), shared by every position
    assert (kept == kept.any(axis=spatial, keepdims=True)).all()
    assert kept.any() and not kept.all()


@pytest.mark.parametrize(("cls", "shape"), SPATIAL)
def test_spatial_dropout_identity_at_inference_and_shapes(cls, shape):
    x = _rng(8).normal(size=shape).astype("float32")
    layer = cls(0.5)
    for training in (None, False):
        np.testing.assert_array_equal(layer(x, training=training).numpy(), x)
    assert layer(layers.Input(shape=shape[1:])).shape == (None, *shape[1:])
    assert layer(layers.Input(shape=shape[1:]), training=True).shape[1:] == shape[1:]
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *shape[1:])
    assert layer.weights == [] and layer.count_params() == 0
    np.testing.assert_array_equal(cls(0.0)(x, training=True).numpy(), x)
    np.testing.assert_array_equal(cls(1.0)(x, training=True).numpy(), 0 * x)


def test_spatial_dropout_keeps_each_channel_with_probability_1_minus_rate():
    numdl.config.set_random_seed(0)
    rate = 0.3
    out = layers.SpatialDropout2D(rate)(np.ones((400, 2, 2, 50)), training=True)
    dropped = (out.numpy()[:, 0, 0, :] == 0).mean()
    # 20000 Bernoulli(0.3) draws: standard error 0.0032
    assert abs(dropped - rate) < 0.015


@pytest.mark.parametrize(("cls", "shape"), SPATIAL)
@pytest.mark.parametrize("data_format", FORMATS)
def test_spatial_dropout_gradient_and_training_step(float64, cls, shape, data_format):
    layer = cls(0.5, data_format=data_format)
    x = _rng(9).normal(size=(2,) + shape[1:-1] + (3,))
    _check_training_step(layer, x, units=4, reseed=3, training=True)
    numdl.config.set_random_seed(4)
    t = Tensor(x, requires_grad=True)
    out = layer(t, training=True)
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(t.grad, out.numpy() / x)  # the scaled mask


@pytest.mark.parametrize(("cls", "shape"), SPATIAL)
def test_spatial_dropout_config_seeds_and_keras_defaults(cls, shape):
    layer = cls(0.25, data_format="channels_first", seed=5, name="sd")
    cfg = layer.get_config()
    assert cfg["rate"] == 0.25 and cfg["seed"] == 5
    assert cfg["data_format"] == "channels_first" and "noise_shape" not in cfg
    clone = _round_trip(layer)
    x = np.ones(shape)
    np.testing.assert_array_equal(
        layer(x, training=True).numpy(), clone(x, training=True).numpy()
    )
    assert cls(0.1).data_format == "channels_last"
    numdl.layers.base.reset_names()
    assert cls(0.1).name == (
        "spatial_dropout1d" if "1D" in cls.__name__ else "spatial_dropout2d"
    )


def test_spatial_dropout_in_a_model_trains_and_predicts_deterministically():
    numdl.config.set_random_seed(0)
    model = numdl.Sequential(
        [
            layers.Input((6, 6, 4)),
            layers.SpatialDropout2D(0.5),
            layers.GlobalAveragePooling2D(),
            layers.Dense(1),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    x = _rng(10).normal(size=(16, 6, 6, 4)).astype("float32")
    y = x.mean(axis=(1, 2, 3))[:, None]
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), model.predict(x, verbose=0)
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 1.5}, "rate must be a number between 0 and 1"),
        ({"rate": 0.5, "data_format": "nhwc"}, "data_format must be"),
        ({"rate": 0.5, "seed": "x"}, "seed must be an integer"),
    ],
)
def test_spatial_dropout_bad_arguments_name_the_layer(kwargs, match):
    with pytest.raises(ValueError, match=rf"SpatialDropout2D 'sd': {match}"):
        layers.SpatialDropout2D(name="sd", **kwargs)
    with pytest.raises(TypeError, match="noise_shape"):
        layers.SpatialDropout2D(0.5, noise_shape=(None, 1, 1, None))


def test_spatial_dropout_wrong_rank_names_the_layer():
    with pytest.raises(ValueError, match="SpatialDropout1D 'sd' expects inputs with 3"):
        layers.SpatialDropout1D(0.5, name="sd")(np.ones((2, 3, 4, 5)), training=True)
