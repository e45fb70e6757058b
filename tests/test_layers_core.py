"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute,
RepeatVector, Identity, Lambda — shapes (eager and symbolic), weights,
configs, gradients (finite differences, PyTorch) and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numdl
from numdl import activations, layers, ops
from numdl.autograd.tensor import Tensor
from numdl.backend import to_numpy
from numdl.ops import nn as nn_ops
from numdl.ops.nn import dense
from numdl.optimizers import SGD
from numdl.testing import assert_close, check_grad


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _dense_then(layer, x, units, **call_kwargs):
    """Dense(units) -> layer, as a function of the Dense kernel and bias."""

    def fn(kernel, bias):
        return layer(dense(Tensor(x), kernel, bias), **call_kwargs)

    return fn


def _check_training_step(layer, x, units=3, reseed=None, **call_kwargs):
    """Dense -> layer -> weighted sum: gradients match finite differences, and
    one SGD step on the Dense weights lowers the loss."""
    rng = _rng(1)
    kernel, bias = rng.normal(size=(x.shape[-1], units)), rng.normal(size=units)
    fn = _dense_then(layer, x, units, **call_kwargs)
    if reseed is not None:
        inner = fn

        def fn(kernel, bias):  # the same random draws on every evaluation
            numdl.config.set_random_seed(reseed)
            return inner(kernel, bias)

    assert max(check_grad(fn, kernel, bias)) < 1e-7
    dense = layers.Dense(units)
    dense.build((None, x.shape[-1]))
    dense.set_weights([kernel, bias])
    target = rng.normal(size=fn(Tensor(kernel), Tensor(bias)).shape)

    def loss():
        if reseed is not None:
            numdl.config.set_random_seed(reseed)
        return ((layer(dense(x), **call_kwargs) - target) ** 2).sum()

    before = loss()
    before.backward()
    SGD(learning_rate=1e-3).step(dense.trainable_weights)
    assert float(loss()) < float(before)


def _round_trip(layer, x=None, **call_kwargs):
    """from_config(get_config()) gives an equal config (and equal outputs)."""
    cfg = layer.get_config()
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    if x is not None:
        if layer.weights:
            clone(x)
            clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(
            layer(x, **call_kwargs).numpy(), clone(x, **call_kwargs).numpy()
        )
    return clone


def _no_weights(layer):
    assert layer.weights == [] and layer.count_params() == 0


# -------------------------------------------------------------------- Dense
def test_dense_shapes_and_weights():
    layer = layers.Dense(4)
    assert layer(np.ones((2, 3))).shape == (2, 4)
    assert layer(np.ones((5, 2, 3))).shape == (5, 2, 4)
    assert [w.shape for w in layer.weights] == [(3, 4), (4,)]
    assert layer.count_params() == 16
    assert layers.Dense(4)(layers.Input(shape=(7, 3))).shape == (None, 7, 4)
    no_bias = layers.Dense(4, use_bias=False)
    no_bias.build((None, 3))
    assert len(no_bias.weights) == 1 and no_bias.count_params() == 12


@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_matches_torch_linear(float64, activation, use_bias):
    rng = _rng(2)
    x = rng.normal(size=(4, 2, 5))
    layer = layers.Dense(3, activation=activation, use_bias=use_bias)
    layer.build((None, 2, 5))
    linear = torch.nn.Linear(5, 3, bias=use_bias, dtype=torch.float64)
    # Keras's kernel is (in, out): Linear.weight.T.
    layer.kernel.assign(linear.weight.detach().numpy().T)
    if use_bias:
        layer.bias.assign(linear.bias.detach().numpy())
    xt = torch.tensor(x, requires_grad=True)
    xo = Tensor(x.copy(), requires_grad=True)
    ref = linear(xt)
    ref = {"relu": torch.relu, "tanh": torch.tanh}.get(activation, lambda t: t)(ref)
    out = layer(xo)
    assert_close(out.data, ref.detach().numpy(), 1e-12, "forward")
    g = rng.normal(size=out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    assert_close(xo.grad, xt.grad.numpy(), 1e-12, "grad x")
    assert_close(layer.kernel.grad, linear.weight.grad.numpy().T, 1e-12, "kernel")
    if use_bias:
        assert_close(layer.bias.grad, linear.bias.grad.numpy(), 1e-12, "bias")


def test_dense_float32_matches_torch():
    rng = _rng(3)
    x = rng.normal(size=(6, 5)).astype("float32")
    layer = layers.Dense(4, activation="relu")
    out = layer(x)
    assert out.dtype == np.float32
    w, b = layer.get_weights()
    ref = F.relu(F.linear(torch.tensor(x), torch.tensor(w.T), torch.tensor(b)))
    assert_close(out.data, ref.numpy(), 1e-5)


def test_dense_config_round_trip():
    layer = layers.Dense(
        3,
        activation="tanh",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer="l2",
        name="dd",
    )
    layer(np.ones((2, 4)))
    clone = _round_trip(layer, np.ones((2, 4)))
    assert clone.name == "dd" and clone.units == 3


def test_dense_training_step(float64):
    _check_training_step(
        layers.Dense(2, activation="tanh"), _rng(4).normal(size=(3, 4))
    )


def test_dense_errors_name_the_layer_and_suggest_flatten():
    layer = layers.Dense(5, name="head")
    layer.build((None, 12))
    with pytest.raises(ValueError) as err:
        layer(np.ones((2, 3, 4)))
    message = str(err.value)
    assert "'head'" in message and "12" in message and "(2, 3, 4)" in message
    assert "Flatten" in message
    with pytest.raises(ValueError) as err:
        layer(np.ones((2, 3, 5)))  # 15 values per sample: Flatten would not fit
    assert "'head'" in str(err.value) and "Flatten" not in str(err.value)
    symbolic = layers.Dense(5, name="head2")
    symbolic.build((None, 784))
    with pytest.raises(ValueError, match="head2.*784.*Flatten"):
        symbolic(layers.Input(shape=(28, 28)))


@pytest.mark.parametrize("units", [0, -1, 2.5, "3", True, None])
def test_dense_bad_units(units):
    with pytest.raises(ValueError, match="Dense .*units"):
        layers.Dense(units)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "linear"])
def test_dense_activation_matches_torch_fused_or_not(float64, name):
    """relu and sigmoid run inside the dense op (one graph node), the others
    as a second op; each equals torch's Linear then the activation."""
    x = _rng(11).normal(size=(4, 3))
    layer = layers.Dense(2, activation=name)
    xo = Tensor(x.copy(), requires_grad=True)
    out = layer(xo)
    fused = name in ("relu", "sigmoid")
    assert isinstance(out._ctx, nn_ops.Dense) is (fused or name == "linear")
    xt = torch.tensor(x, requires_grad=True)
    kt = torch.tensor(to_numpy(layer.kernel.data), requires_grad=True)
    bt = torch.tensor(to_numpy(layer.bias.data), requires_grad=True)
    ref = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
    expected = xt @ kt + bt
    expected = ref[name](expected) if name in ref else expected
    assert_close(out.data, expected.detach().numpy(), 1e-12)
    out.sum().backward()
    expected.sum().backward()
    assert_close(xo.grad, xt.grad.numpy(), 1e-12)
    assert_close(layer.kernel.grad, kt.grad.numpy(), 1e-12)
    assert_close(layer.bias.grad, bt.grad.numpy(), 1e-12)


def test_dense_accepts_numpy_integer_units():
    assert layers.Dense(np.int64(3))(np.ones((1, 2))).shape == (1, 3)


# --------------------------------------------------------------- Activation
@pytest.mark.parametrize(
    ("name", "ref"), [("relu", torch.relu), ("tanh", torch.tanh), ("sigmoid", None)]
)
def test_activation_matches_torch(float64, name, ref):
    ref = ref or torch.sigmoid
    x = _rng(5).normal(size=(3, 4))
    layer = layers.Activation(name)
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = layer(xo), ref(xt)
    assert_close(out.data, expected.detach().numpy(), 1e-12)
    out.sum().backward()
    expected.sum().backward()
    assert_close(xo.grad, xt.grad.numpy(), 1e-12)
    _no_weights(layer)


def test_activation_shapes_config_and_step(float64):
    layer = layers.Activation(activations.tanh)
    assert layer(np.ones((2, 3, 4))).shape == (2, 3, 4)
    assert layer(layers.Input(shape=(5,))).shape == (None, 5)
    assert layer.compute_output_shape((None, 5)) == (None, 5)
    assert layer.get_config()["activation"] == "tanh"
    _round_trip(layer, _rng(6).normal(size=(2, 3)))
    _check_training_step(layer, _rng(6).normal(size=(3, 4)))


def test_activation_unknown_name():
    with pytest.raises(ValueError, match="nope"):
        layers.Activation("nope")


# ------------------------------------------------------------------ Dropout
def test_dropout_is_identity_at_inference():
    x = _rng(7).normal(size=(4, 5)).astype("float32")
    layer = layers.Dropout(0.5)
    for training in (None, False, 0):
        np.testing.assert_array_equal(layer(x, training=training).numpy(), x)
    np.testing.assert_array_equal(layers.Dropout(0.0)(x, training=True).numpy(), x)
    _no_weights(layer)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.75])
def test_dropout_scaling_like_torch(rate):
    numdl.config.set_random_seed(0)
    x = _rng(8).uniform(0.5, 1.5, size=(200, 500))  # 1e5 values, none zero
    out = layers.Dropout(rate, dtype="float64")(x, training=True).numpy()
    dropped = out == 0
    # zeros fraction ~ rate (7 standard deviations of a binomial proportion)
    assert abs(dropped.mean() - rate) < 7 * np.sqrt(rate * (1 - rate) / x.size)
    # kept units are scaled as torch scales them: x / (1 - rate)
    ref = F.dropout(torch.tensor(x), p=rate, training=True).numpy()
    torch_scale = np.unique((ref[ref != 0] / x[ref != 0]).round(12))
    our_scale = np.unique((out[~dropped] / x[~dropped]).round(12))
    np.testing.assert_allclose(our_scale, torch_scale, rtol=1e-12)
    np.testing.assert_allclose(our_scale, [1 / (1 - rate)], rtol=1e-12)
    # the mean is preserved (expected value of each output equals the input)
    assert abs(out.mean() / x.mean() - 1) < 0.05


def test_dropout_rate_one_gives_zeros():
    out = layers.Dropout(1.0)(np.ones((3, 4)), training=True)
    np.testing.assert_array_equal(out.numpy(), np.zeros((3, 4)))


def test_dropout_gradient_is_the_scaled_mask(float64):
    numdl.config.set_random_seed(3)
    x = Tensor(_rng(9).uniform(1, 2, size=(6, 7)), requires_grad=True)
    out = layers.Dropout(0.4)(x, training=True)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, out.numpy() / x.data, rtol=1e-12)
    x = _rng(9).normal(size=(3, 4))
    _check_training_step(layers.Dropout(0.4), x, reseed=3, training=True)


def test_dropout_noise_shape():
    x = np.ones((4, 6, 5))
    out = layers.Dropout(0.5, noise_shape=(None, 1, None), seed=1)(x, training=True)
    out = out.numpy()
    assert (out == out[:, :1, :]).all()  # one mask for every time step
    assert 0 < (out == 0).mean() < 1
    out = layers.Dropout(0.5, noise_shape=(4, 1, 1), seed=2)(x, training=True).numpy()
    assert (out == out[:, :1, :1]).all()
    layer = layers.Dropout(0.5, noise_shape=[None, 1, None])
    assert layer.get_config()["noise_shape"] == (None, 1, None)


@pytest.mark.parametrize("noise_shape", [(None, 3), (4, 2, 5), (None, None)])
def test_dropout_noise_shape_that_does_not_fit(noise_shape):
    layer = layers.Dropout(0.5, noise_shape=noise_shape, name="drop")
    with pytest.raises(ValueError, match="Dropout 'drop'.*noise_shape.*\\(4, 6, 5\\)"):
        layer(np.ones((4, 6, 5)), training=True)


def test_dropout_seeds():
    x = np.ones((8, 8))
    a = layers.Dropout(0.5, seed=42)(x, training=True).numpy()
    b = layers.Dropout(0.5, seed=42)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)  # an int seed: the layer's own stream
    layer = layers.Dropout(0.5, seed=42)
    layer(x, training=True)
    assert not np.array_equal(layer(x, training=True).numpy(), a)  # it advances
    numdl.config.set_random_seed(7)
    c = layers.Dropout(0.5)(x, training=True).numpy()
    numdl.config.set_random_seed(7)
    d = layers.Dropout(0.5)(x, training=True).numpy()
    np.testing.assert_array_equal(c, d)  # seed=None: numdl.config.rng()


def test_dropout_config_round_trip_and_symbolic_shape():
    layer = layers.Dropout(0.25, noise_shape=(None, 1), seed=5)
    cfg = layer.get_config()
    assert {k: cfg[k] for k in ("rate", "seed", "noise_shape")} == {
        "rate": 0.25,
        "seed": 5,
        "noise_shape": (None, 1),
    }
    _round_trip(layer, np.ones((3, 4)), training=True)
    assert layers.Dropout(0.5)(layers.Input(shape=(3, 4))).shape == (None, 3, 4)
    assert layer.compute_output_shape((None, 7)) == (None, 7)


def test_dropout_inherits_training_from_the_outer_call():
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.5, seed=0)

        def call(self, inputs, training=None):
            return self.drop(inputs)

    x = np.ones((10, 10))
    assert (Block()(x, training=True).numpy() == 0).any()
    np.testing.assert_array_equal(Block()(x, training=False).numpy(), x)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": -0.1},
        {"rate": 1.5},
        {"rate": "0.5"},
        {"rate": 0.5, "noise_shape": "abc"},
        {"rate": 0.5, "noise_shape": (None, 0)},
        {"rate": 0.5, "noise_shape": (2.5,)},
        {"rate": 0.5, "seed": 1.5},
    ],
)
def test_dropout_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Dropout 'bad'"):
        layers.Dropout(name="bad", **kwargs)


# ------------------------------------------------------------------ Flatten
def test_flatten_matches_torch(float64):
    x = _rng(10).normal(size=(2, 3, 4, 5))
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = layers.Flatten()(xo), torch.flatten(xt, 1)
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    g = _rng(11).normal(size=out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())
    # channels_first: channels go last before flattening (Keras's order)
    first = layers.Flatten(data_format="channels_first")(x).numpy()
    ref = torch.flatten(torch.tensor(x).permute(0, 2, 3, 1), 1).numpy()
    np.testing.assert_array_equal(first, ref)


def test_flatten_shapes_config_and_step(float64):
    layer = layers.Flatten()
    assert layer(np.ones((3,))).shape == (3, 1)  # no feature axis: adds one
    assert layer(np.ones((2, 3))).shape == (2, 3)
    assert layer(np.ones((0, 3, 2))).shape == (0, 6)
    assert layers.Flatten()(layers.Input(shape=(10, 64))).shape == (None, 640)
    assert layer.compute_output_shape((None, None, 3)) == (None, None)
    assert layer.compute_output_shape((5, 2, 3)) == (5, 6)
    cf = layers.Flatten(data_format="CHANNELS_FIRST")
    assert cf.get_config()["data_format"] == "channels_first"
    _round_trip(cf, _rng(12).normal(size=(2, 3, 4)))
    _no_weights(layer)
    seq = layers.Flatten()
    x = _rng(13).normal(size=(2, 5))
    _check_training_step(_Chain(layers.Reshape((3, 2)), seq), x, units=6)


def test_flatten_bad_data_format():
    with pytest.raises(ValueError, match="Flatten 'f'.*data_format"):
        layers.Flatten(data_format="nchw", name="f")


class _Chain(layers.Layer):
    """Two layers in a row (a tiny Sequential, for training-step checks)."""

    def __init__(self, first, second):
        super().__init__()
        self.first, self.second = first, second

    def call(self, inputs, training=None):
        return self.second(self.first(inputs))


# ------------------------------------------------------------------ Reshape
@pytest.mark.parametrize("target", [(3, 4), (-1, 2, 2), (2, -1), (12,), (1, 12, 1)])
def test_reshape_matches_torch(float64, target):
    x = _rng(14).normal(size=(2, 12))
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = layers.Reshape(target)(xo), xt.reshape((2, *target))
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    g = _rng(15).normal(size=out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())


def test_reshape_shapes_config_and_step(float64):
    assert layers.Reshape((3, 4))(layers.Input(shape=(12,))).shape == (None, 3, 4)
    assert layers.Reshape((-1, 2, 2))(layers.Input(shape=(12,))).shape == (
        None,
        3,
        2,
        2,
    )
    layer = layers.Reshape([-1, 2])
    assert layer.get_config()["target_shape"] == (-1, 2)
    assert layer.compute_output_shape((None, 3, 4)) == (None, 6, 2)
    assert layer.compute_output_shape((None, None)) == (None, None, 2)
    assert layer(np.ones((0, 4))).shape == (0, 2, 2)
    _round_trip(layer, np.arange(8.0).reshape(2, 4))
    _no_weights(layer)
    _check_training_step(layers.Reshape((2, 3)), _rng(16).normal(size=(2, 4)), units=6)


@pytest.mark.parametrize("target", [(-1, -1), (0, 3), (-2, 3), "abc", (2.5, 2), 5])
def test_reshape_bad_target_shape(target):
    with pytest.raises(ValueError, match="Reshape 'r'.*target_shape"):
        layers.Reshape(target, name="r")


def test_reshape_size_mismatch_names_the_layer():
    with pytest.raises(ValueError, match=r"Reshape 'r'.*\(10,\).*\(3, 4\)"):
        layers.Reshape((3, 4), name="r")(np.ones((2, 10)))
    with pytest.raises(ValueError, match="Reshape 'r2'"):
        layers.Reshape((-1, 3), name="r2")(np.ones((2, 10)))
    with pytest.raises(ValueError, match="Reshape 'r3'"):
        layers.Reshape((3, 4), name="r3")(layers.Input(shape=(10,)))


# ------------------------------------------------------------------ Permute
@pytest.mark.parametrize("dims", [(2, 1), (1, 2), (3, 1, 2), (2, 3, 1)])
def test_permute_matches_torch(float64, dims):
    shape = (2, 3, 4) if len(dims) == 2 else (2, 3, 4, 5)
    x = _rng(17).normal(size=shape)
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = layers.Permute(dims)(xo), xt.permute(0, *dims)
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    g = _rng(18).normal(size=out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())


def test_permute_shapes_config_and_step(float64):
    layer = layers.Permute([2, 1])
    assert layer(layers.Input(shape=(10, 64))).shape == (None, 64, 10)
    assert layer.compute_output_shape((None, 3, 5)) == (None, 5, 3)
    assert layer.get_config()["dims"] == (2, 1)
    _round_trip(layer, _rng(19).normal(size=(2, 3, 4)))
    _no_weights(layer)
    _check_training_step(
        _Chain(layers.Reshape((2, 3)), layers.Permute((2, 1))),
        _rng(19).normal(size=(2, 4)),
        units=6,
    )


@pytest.mark.parametrize("dims", [(0, 1), (1, 3), (1, 1), (2,), "ab", 2])
def test_permute_bad_dims(dims):
    with pytest.raises(ValueError, match="Permute 'p'.*dims"):
        layers.Permute(dims, name="p")


def test_permute_wrong_rank_names_the_layer():
    with pytest.raises(ValueError, match=r"Permute 'p'.*3 dimensions.*\(2, 3\)"):
        layers.Permute((2, 1), name="p")(np.ones((2, 3)))


# ------------------------------------------------------------- RepeatVector
def test_repeat_vector_matches_torch(float64):
    x = _rng(20).normal(size=(2, 5))
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = layers.RepeatVector(3)(xo), xt.unsqueeze(1).repeat(1, 3, 1)
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    g = _rng(21).normal(size=out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    assert_close(xo.grad, xt.grad.numpy(), 1e-12)


def test_repeat_vector_shapes_config_and_step(float64):
    layer = layers.RepeatVector(np.int32(3))
    assert layer(layers.Input(shape=(32,))).shape == (None, 3, 32)
    assert layer.compute_output_shape((None, 7)) == (None, 3, 7)
    assert layers.RepeatVector(0)(np.ones((2, 4))).shape == (2, 0, 4)
    assert layer.get_config()["n"] == 3
    _round_trip(layer, _rng(22).normal(size=(2, 4)))
    _no_weights(layer)
    _check_training_step(layers.RepeatVector(2), _rng(22).normal(size=(2, 4)))


def test_repeat_vector_errors():
    with pytest.raises(TypeError, match="RepeatVector 'rv'.*integer"):
        layers.RepeatVector(2.5, name="rv")
    with pytest.raises(ValueError, match="RepeatVector 'rv2'.*n"):
        layers.RepeatVector(-1, name="rv2")
    with pytest.raises(ValueError, match=r"RepeatVector 'rv3'.*2 dimensions"):
        layers.RepeatVector(2, name="rv3")(np.ones((2, 3, 4)))


# ----------------------------------------------------------------- Identity
def test_identity(float64):
    x = numdl.tensor(np.ones((2, 3)))  # on the layer's (default) device
    layer = layers.Identity()
    assert layer(x) is x
    pair = layer([x, x])
    assert pair[0] is x and pair[1] is x
    assert layer(layers.Input(shape=(4, 2))).shape == (None, 4, 2)
    assert layer.compute_output_shape((None, 4)) == (None, 4)
    _round_trip(layer, np.ones((2, 3)))
    _no_weights(layer)
    _check_training_step(layer, _rng(23).normal(size=(2, 4)))


# ------------------------------------------------------------------- Lambda
def _times(x, factor=1.0):
    return x * factor


def _scaled_when_training(x, training=None):
    return x * 3 if training else x


def test_lambda_calls_the_function(float64):
    x = _rng(24).normal(size=(2, 3))
    np.testing.assert_array_equal(layers.Lambda(lambda t: t**2)(x).numpy(), x**2)
    layer = layers.Lambda(_times, arguments={"factor": 4.0})
    np.testing.assert_array_equal(layer(x).numpy(), 4 * x)
    train = layers.Lambda(_scaled_when_training)
    np.testing.assert_array_equal(train(x, training=True).numpy(), 3 * x)
    np.testing.assert_array_equal(train(x).numpy(), x)
    _no_weights(layer)
    _check_training_step(layers.Lambda(ops.tanh), _rng(25).normal(size=(2, 4)))


def test_lambda_shapes():
    layer = layers.Lambda(lambda t: ops.concatenate([t, t], axis=-1))
    assert layer(layers.Input(shape=(3,))).shape == (None, 6)
    assert layer.compute_output_shape((None, 5)) == (None, 10)
    fixed = layers.Lambda(lambda t: t, output_shape=(7,))
    assert fixed.compute_output_shape((None, 5)) == (None, 7)
    fn = layers.Lambda(lambda t: t, output_shape=lambda s: (s[0], 1))
    assert fn.compute_output_shape((4, 5)) == (4, 1)


def test_lambda_config_of_named_functions():
    layer = layers.Lambda(ops.square, output_shape=(3,), name="sq")
    cfg = layer.get_config()
    assert cfg["function"]["config"] == "square"
    assert cfg["function"]["module"] == "numdl.ops.math"
    clone = _round_trip(layer, np.array([[1.0, -2.0, 3.0]]))
    assert clone.function is ops.square
    relu = _round_trip(layers.Lambda(activations.relu), np.array([[-1.0, 2.0]]))
    assert relu.function is activations.relu
    custom = layers.Lambda(_times, arguments={"factor": 2.0})
    with pytest.raises(ValueError, match="_times.*custom_objects"):
        layers.Lambda.from_config(custom.get_config())
    clone = layers.Lambda.from_config(
        custom.get_config(), custom_objects={"_times": _times}
    )
    assert clone.get_config() == custom.get_config()
    np.testing.assert_array_equal(clone(np.ones((1, 2))).numpy(), [[2.0, 2.0]])


def test_lambda_config_of_a_lambda_holds_no_code():
    layer = layers.Lambda(lambda t: t * 5)
    cfg = layer.get_config()
    assert cfg["function"]["class_name"] == "__lambda__"
    assert "t * 5" in cfg["function"]["config"]["source"]  # text for people
    assert set(cfg["function"]["config"]) == {"source"}
    with pytest.raises(ValueError, match="lambda"):
        layers.Lambda.from_config(cfg)


def test_lambda_config_never_imports_or_reaches_outside_math():
    for module, name in [("os", "system"), ("builtins", "eval"), ("numdl", "x")]:
        cfg = layers.Lambda(ops.square).get_config()
        cfg["function"] = {"module": module, "class_name": "function", "config": name}
        with pytest.raises(ValueError, match="not found"):
            layers.Lambda.from_config(cfg)


def test_lambda_bad_arguments():
    with pytest.raises(TypeError, match="Lambda 'l'.*callable"):
        layers.Lambda(3, name="l")
    with pytest.raises(ValueError, match="Lambda 'l2'.*arguments"):
        layers.Lambda(ops.square, arguments=[1], name="l2")
    with pytest.raises(ValueError, match="Lambda 'l3'.*mask"):
        layers.Lambda(ops.square, mask=3, name="l3")


def test_dropout_of_integer_inputs_is_float():
    out = layers.Dropout(0.3, seed=0)(np.ones((4, 5), "int64"), training=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.unique(out.numpy()), [0.0, 1 / 0.7], rtol=1e-6)


def test_input_spec_is_checked_on_every_new_shape_after_a_passing_call():
    # The layer remembers the last shape that passed its spec; any other
    # shape (or a new spec) is checked again.
    layer = layers.Dense(2)
    layer(np.ones((4, 3), np.float32))
    layer(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"Dense 'dense\w*' expects inputs with last"):
        layer(np.ones((4, 5), np.float32))
    layer(np.ones((7, 3), np.float32))  # another batch size passes
    layer.input_spec = layers.InputSpec(ndim=3)
    with pytest.raises(ValueError, match="expects inputs with 3 dimensions"):
        layer(np.ones((4, 3), np.float32))
