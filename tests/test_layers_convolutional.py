"""Convolution layers: shapes (eager, symbolic, compute_output_shape), weight
counts and names, configs, a training step, PyTorch parity, Keras's argument
rules and errors. The convolution arithmetic itself is tested against PyTorch
in test_ops_conv.py; here the layers' wiring is."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import numdl
from numdl import activations, layers, models
from numdl.ops import conv as C
from numdl.optimizers import SGD

# (class, kwargs, input shape, output shape, number of weights)
SPECS = [
    (layers.Conv1D, dict(filters=4, kernel_size=3), (2, 10, 3), (2, 8, 4), 40),
    (
        layers.Conv1D,
        dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2),
        (2, 10, 3),
        (2, 10, 4),
        40,
    ),
    (
        layers.Conv1D,
        dict(filters=4, kernel_size=2, strides=2, padding="same", groups=2,
             data_format="channels_first"),
        (2, 2, 9),
        (2, 4, 5),
        12,
    ),
    (layers.Conv2D, dict(filters=5, kernel_size=3), (2, 8, 7, 3), (2, 6, 5, 5), 140),
    (
        layers.Conv2D,
        dict(filters=6, kernel_size=(3, 2), strides=2, padding="same", groups=3,
             data_format="channels_first", activation="relu"),
        (2, 3, 9, 8),
        (2, 6, 5, 4),
        42,
    ),
    (
        layers.Conv2D,
        dict(filters=4, kernel_size=3, use_bias=False, dilation_rate=2,
             activation="tanh"),
        (2, 9, 9, 2),
        (2, 5, 5, 4),
        72,
    ),
    (
        layers.DepthwiseConv1D,
        dict(kernel_size=3, depth_multiplier=2),
        (2, 10, 4),
        (2, 8, 8),
        32,
    ),
    (
        layers.DepthwiseConv2D,
        dict(kernel_size=3, depth_multiplier=2, padding="same"),
        (2, 7, 7, 3),
        (2, 7, 7, 6),
        60,
    ),
    (
        layers.SeparableConv1D,
        dict(filters=5, kernel_size=3, depth_multiplier=2),
        (2, 10, 3),
        (2, 8, 5),
        53,
    ),
    (
        layers.SeparableConv2D,
        dict(filters=4, kernel_size=3, strides=2, padding="same", activation="relu"),
        (2, 8, 8, 3),
        (2, 4, 4, 4),
        43,
    ),
    (
        layers.Conv1DTranspose,
        dict(filters=4, kernel_size=3, strides=2),
        (2, 5, 3),
        (2, 11, 4),
        40,
    ),
    (
        layers.Conv2DTranspose,
        dict(filters=4, kernel_size=3, strides=2, padding="same"),
        (2, 5, 6, 3),
        (2, 10, 12, 4),
        112,
    ),
    (
        layers.Conv2DTranspose,
        dict(filters=2, kernel_size=2, strides=3, output_padding=1,
             data_format="channels_first"),
        (2, 3, 4, 5),
        (2, 2, 12, 15),
        26,
    ),
]  # fmt: skip
IDS = [f"{cls.__name__}-{i}" for i, (cls, *_) in enumerate(SPECS)]


def _input(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("cls, kwargs, in_shape, out_shape, count", SPECS, ids=IDS)
def test_shapes_and_weight_counts(cls, kwargs, in_shape, out_shape, count):
    layer = cls(**kwargs)
    out = layer(_input(in_shape))
    assert out.shape == out_shape and out.dtype == np.float32
    assert layer.count_params() == count
    assert layer.compute_output_shape((None,) + in_shape[1:]) == (None,) + out_shape[1:]
    symbolic = cls(**kwargs)(layers.Input(in_shape[1:]))
    assert symbolic.shape == (None,) + out_shape[1:]


@pytest.mark.parametrize("cls, kwargs, in_shape, out_shape, count", SPECS, ids=IDS)
def test_unknown_spatial_sizes_stay_unknown(cls, kwargs, in_shape, out_shape, count):
    channels_first = kwargs.get("data_format") == "channels_first"
    rank = len(in_shape) - 2
    shape = (in_shape[1],) + (None,) * rank if channels_first else (None,) * rank
    shape = shape if channels_first else shape + (in_shape[-1],)
    out = cls(**kwargs)(layers.Input(shape))
    expected = (None,) * (rank + 1)
    channels = out_shape[1] if channels_first else out_shape[-1]
    if channels_first:
        assert out.shape == (None, channels) + expected[1:]
    else:
        assert out.shape == expected + (channels,)


@pytest.mark.parametrize("cls, kwargs, in_shape, out_shape, count", SPECS, ids=IDS)
def test_config_round_trip(cls, kwargs, in_shape, out_shape, count):
    layer = cls(**kwargs, name="conv_layer")
    x = _input(in_shape)
    y = layer(x)
    config = json.loads(json.dumps(layer.get_config()))
    clone = cls.from_config(config)
    assert json.dumps(clone.get_config()) == json.dumps(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), y.numpy())


@pytest.mark.parametrize("cls, kwargs, in_shape, out_shape, count", SPECS, ids=IDS)
def test_one_training_step(cls, kwargs, in_shape, out_shape, count):
    numdl.config.set_random_seed(0)
    model = models.Sequential(
        [layers.Input(in_shape[1:]), cls(**kwargs), layers.Flatten(), layers.Dense(1)]
    )
    model.compile(optimizer=SGD(learning_rate=1e-3), loss="mse")
    x, y = _input(in_shape), _input((in_shape[0], 1), seed=1)
    conv_layer = model.layers[0]
    before = [w.copy() for w in conv_layer.get_weights()]
    first = model.train_on_batch(x, y)
    assert all(
        not np.array_equal(a, b) for a, b in zip(before, conv_layer.get_weights())
    )
    assert model.train_on_batch(x, y) < first


# ------------------------------------------------------------ PyTorch parity
def _parity(ours, theirs, x_ours, x_theirs, rtol=1e-5):
    """Outputs and input gradients (same upstream gradient) agree."""
    x_t = torch.tensor(x_theirs, requires_grad=True)
    ref = theirs(x_t)
    x_n = numdl.tensor(x_ours, requires_grad=True)
    out = ours(x_n)
    g = np.random.default_rng(5).normal(size=out.shape).astype(np.float32)
    np.testing.assert_allclose(out.numpy(), ours.to_ours(ref.detach().numpy()),
                               rtol=rtol, atol=1e-5)  # fmt: skip
    (out * numdl.tensor(g)).sum().backward()
    ref.backward(torch.tensor(ours.to_theirs(g)))
    np.testing.assert_allclose(x_n.grad, ours.from_theirs_x(x_t.grad.numpy()),
                               rtol=rtol, atol=1e-5)  # fmt: skip


class _Wrapped:
    """A numdl layer with layout converters for comparing with torch (NCHW)."""

    def __init__(self, layer, channels_first):
        self.layer, self.channels_first = layer, channels_first

    def __call__(self, x):
        return self.layer(x)

    def _move(self, a, to_first):
        if self.channels_first:
            return a
        rank = a.ndim - 2
        if to_first:
            return a.transpose(0, rank + 1, *range(1, rank + 1))
        return a.transpose(0, *range(2, rank + 2), 1)

    def to_ours(self, a):
        return self._move(a, False)

    def to_theirs(self, a):
        return self._move(a, True)

    from_theirs_x = to_ours


@pytest.mark.parametrize("channels_first", [False, True])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_matches_torch_module(padding, channels_first):
    fmt = "channels_first" if channels_first else "channels_last"
    layer = layers.Conv2D(6, 3, padding=padding, data_format=fmt, activation="relu")
    x = _input((2, 9, 8, 4))
    x_ours = x.transpose(0, 3, 1, 2) if channels_first else x
    layer(x_ours)
    module = torch.nn.Conv2d(4, 6, 3, padding=1 if padding == "same" else 0)
    kernel, bias = layer.get_weights()
    with torch.no_grad():
        module.weight.copy_(torch.tensor(kernel.transpose(3, 2, 0, 1)))
        module.bias.copy_(torch.tensor(bias))
    wrapped = _Wrapped(layer, channels_first)
    _parity(wrapped, lambda t: torch.relu(module(t)), x_ours, x.transpose(0, 3, 1, 2))


def test_conv1d_transpose_and_depthwise_match_torch_modules():
    x = _input((2, 7, 3))
    layer = layers.Conv1DTranspose(4, 3, strides=2)  # valid: (7-1)*2 + 3 = 15
    layer(x)
    module = torch.nn.ConvTranspose1d(3, 4, 3, stride=2)
    kernel, bias = layer.get_weights()
    with torch.no_grad():
        module.weight.copy_(torch.tensor(kernel.transpose(2, 1, 0)))
        module.bias.copy_(torch.tensor(bias))
    _parity(_Wrapped(layer, False), module, x, x.transpose(0, 2, 1))

    x = _input((2, 6, 7, 3))
    layer = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")
    layer(x)
    module = torch.nn.Conv2d(3, 6, 3, padding=1, groups=3)
    kernel, bias = layer.get_weights()  # (3, 3, C, m) -> (C*m, 1, 3, 3)
    with torch.no_grad():
        module.weight.copy_(
            torch.tensor(kernel.reshape(3, 3, 6).transpose(2, 0, 1)[:, None])
        )
        module.bias.copy_(torch.tensor(bias))
    _parity(_Wrapped(layer, False), module, x, x.transpose(0, 3, 1, 2))


def test_fused_relu_equals_relu_after_linear():
    x = _input((2, 6, 6, 2))
    fused = layers.Conv2D(3, 3, activation="relu")
    plain = layers.Conv2D(3, 3)
    fused(x)
    plain(x)
    plain.set_weights(fused.get_weights())
    np.testing.assert_array_equal(fused(x).numpy(), activations.relu(plain(x)).numpy())


def test_channels_first_is_the_transposed_channels_last():
    x = _input((2, 7, 6, 4))
    last = layers.SeparableConv2D(5, 3, padding="same", depth_multiplier=2)
    first = layers.SeparableConv2D(
        5, 3, padding="same", depth_multiplier=2, data_format="channels_first"
    )
    y = last(x)
    first(x.transpose(0, 3, 1, 2))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(
        first(x.transpose(0, 3, 1, 2)).numpy(), y.numpy().transpose(0, 3, 1, 2),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


# ------------------------------------------------------------ Keras details
def test_weights_layouts_names_and_config_keys():
    conv = layers.Conv2D(8, (3, 2), groups=2, name="c")
    conv.build((None, 9, 9, 4))
    assert [(w.path, w.shape) for w in conv.weights] == [
        ("c/kernel", (3, 2, 2, 8)),
        ("c/bias", (8,)),
    ]
    depthwise = layers.DepthwiseConv2D(3, depth_multiplier=2, name="d")
    depthwise.build((None, 9, 9, 4))
    assert [(w.path, w.shape) for w in depthwise.weights] == [
        ("d/kernel", (3, 3, 4, 2)),
        ("d/bias", (8,)),
    ]
    separable = layers.SeparableConv2D(5, 3, depth_multiplier=2, name="s")
    separable.build((None, 9, 9, 4))
    assert [(w.path, w.shape) for w in separable.weights] == [
        ("s/depthwise_kernel", (3, 3, 4, 2)),
        ("s/pointwise_kernel", (1, 1, 8, 5)),
        ("s/bias", (5,)),
    ]
    transpose = layers.Conv2DTranspose(6, 3, name="t")
    transpose.build((None, 9, 9, 4))
    assert [w.shape for w in transpose.weights] == [(3, 3, 6, 4), (6,)]
    # Keras 3's BaseConv config keys (plus the base layer's).
    keras_conv = {
        "filters", "kernel_size", "strides", "padding", "data_format",
        "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer",
        "bias_initializer", "kernel_regularizer", "bias_regularizer",
        "kernel_constraint", "bias_constraint",
    }  # fmt: skip
    config = conv.get_config()
    assert keras_conv <= set(config)
    assert config["kernel_size"] == (3, 2) and config["strides"] == (1, 1)
    assert config["padding"] == "valid" and config["data_format"] == "channels_last"
    assert config["kernel_initializer"] == numdl.initializers.serialize(
        numdl.initializers.get("glorot_uniform")
    )


def test_defaults_follow_keras():
    conv = layers.Conv2D(4, 3)
    assert (conv.strides, conv.dilation_rate, conv.groups) == ((1, 1), (1, 1), 1)
    assert conv.padding == "valid" and conv.use_bias
    assert conv.activation is activations.linear
    assert layers.Conv1D(4, 3, padding="CAUSAL").padding == "causal"
    assert layers.DepthwiseConv2D(3).depth_multiplier == 1
    assert layers.Conv2DTranspose(4, 3).output_padding is None
    assert layers.Convolution2D is layers.Conv2D
    assert layers.SeparableConvolution2D is layers.SeparableConv2D


def test_data_format_none_follows_the_image_data_format():
    numdl.config.set_image_data_format("channels_first")
    try:
        layer = layers.Conv2D(4, 3)
        assert layer.data_format == "channels_first"
        assert layer(np.zeros((1, 2, 5, 5))).shape == (1, 4, 3, 3)
    finally:
        numdl.config.set_image_data_format("channels_last")
    assert layers.Conv2D(4, 3).data_format == "channels_last"


def test_regularizers_and_constraints():
    layer = layers.Conv2D(2, 3, kernel_regularizer="l2", bias_regularizer="l1",
                          kernel_constraint="non_neg")  # fmt: skip
    model = models.Sequential([layers.Input((5, 5, 1)), layer, layers.Flatten()])
    kernel = layer.kernel.numpy()
    bias = layer.bias.numpy() + 0.5
    layer.bias.assign(bias)
    penalties = sorted(float(p) for p in layer.losses)
    expected = sorted(
        [0.01 * float((kernel**2).sum()), 0.01 * float(np.abs(bias).sum())]
    )
    np.testing.assert_allclose(penalties, expected, rtol=1e-6)
    model.compile(optimizer=SGD(learning_rate=1.0), loss="mse")
    model.train_on_batch(_input((4, 5, 5, 1)), np.full((4, 18), 5.0, np.float32))
    assert (layer.kernel.numpy() >= 0).all()


# ------------------------------------------------------------------ errors
def test_missing_channel_axis_suggests_reshape():
    x = np.zeros((6, 28, 28), np.float32)
    with pytest.raises(ValueError) as err:
        layers.Conv2D(32, 3)(x)
    message = str(err.value)
    assert "(6, 28, 28)" in message and "channel" in message
    assert "Reshape((28, 28, 1))" in message and "x[..., None]" in message
    with pytest.raises(ValueError, match=r"Reshape\(\(28, 28, 1\)\)"):
        models.Sequential([layers.Input((28, 28)), layers.Conv2D(32, 3)])
    with pytest.raises(ValueError, match=r"Reshape\(\(1, 28, 28\)\).*x\[:, None\]"):
        layers.Conv2D(32, 3, data_format="channels_first")(x)
    with pytest.raises(ValueError, match=r"Reshape\(\(100, 1\)\)"):
        layers.Conv1D(4, 3)(np.zeros((2, 100)))
    built = layers.Conv2D(2, 3, name="built")
    built(np.zeros((1, 5, 5, 1)))
    with pytest.raises(ValueError, match=r"^Conv2D 'built'.*\(1, 5, 5\).*Reshape"):
        built(np.zeros((1, 5, 5)))


def test_kernel_larger_than_input_names_both_sizes():
    with pytest.raises(
        ValueError, match=r"Conv2D 'big'.*kernel size 5 is larger than the input size 3"
    ):
        layers.Conv2D(2, 5, name="big")(np.zeros((1, 3, 8, 1)))
    with pytest.raises(
        ValueError, match=r"kernel size 5 is larger than the input size 4"
    ):
        models.Sequential([layers.Input((4, 9, 1)), layers.Conv2D(2, 5)])
    layer = layers.Conv2D(2, 5, name="later")
    layer(layers.Input((None, None, 1)))  # unknown sizes: checked at call time
    with pytest.raises(ValueError, match=r"Conv2D 'later'.*input size 3"):
        layer(np.zeros((1, 3, 8, 1)))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: layers.Conv2D(0, 3, name="x"), "filters must be a positive integer"),
        (lambda: layers.Conv2D(4, (3,), name="x"), "kernel_size must be"),
        (lambda: layers.Conv2D(4, 0, name="x"), "kernel_size must be"),
        (lambda: layers.Conv2D(4, 3, strides=(1, 0), name="x"), "strides must be"),
        (lambda: layers.Conv2D(4, 3, padding="full", name="x"), "padding must be"),
        (lambda: layers.Conv2D(4, 3, padding="causal", name="x"), "padding must be"),
        (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2, name="x"),
         "strides > 1 together with dilation_rate > 1"),
        (lambda: layers.Conv2D(4, 3, groups=3, name="x"), r"filters \(4\) must be"),
        (lambda: layers.Conv2D(4, 3, data_format="NHWC", name="x"), "data_format"),
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0, name="x"), "multiplier"),
        (lambda: layers.SeparableConv2D(0, 3, name="x"), "filters"),
        (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2, name="x"),
         "output_padding must be less than strides"),
        (lambda: layers.Conv2DTranspose(4, 3, padding="causal", name="x"), "padding"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_layer(make, message):
    with pytest.raises(ValueError, match=message) as err:
        make()
    assert "'x'" in str(err.value)


def test_input_channel_errors_name_the_layer():
    with pytest.raises(
        ValueError, match=r"Conv2D 'g'.*input channels \(3\).*groups \(2\)"
    ):
        layers.Conv2D(4, 3, groups=2, name="g")(np.zeros((1, 5, 5, 3)))
    layer = layers.Conv2D(4, 3, name="fixed")
    layer(np.zeros((1, 5, 5, 3)))
    with pytest.raises(
        ValueError, match=r"Conv2D 'fixed'.*last axis 3, got shape \(1, 5, 5, 2\)"
    ):
        layer(np.zeros((1, 5, 5, 2)))
    with pytest.raises(ValueError, match=r"channel axis of the inputs must be known"):
        layers.Conv2D(4, 3).build((None, 5, 5, None))


def test_unknown_keyword_is_rejected():
    with pytest.raises(TypeError, match="stride"):
        layers.Conv2D(4, 3, stride=2)


def test_ops_and_layer_agree_for_causal_conv1d():
    layer = layers.Conv1D(3, 4, padding="causal", dilation_rate=2)
    x = _input((2, 12, 2))
    y = layer(x)
    kernel, bias = layer.get_weights()
    expected = C.conv(x, kernel, 1, "causal", dilation_rate=2, bias=bias)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda act: layers.Conv2D(3, 3, activation=act),
        lambda act: layers.Conv1D(3, 3, activation=act),
        lambda act: layers.SeparableConv2D(3, 3, activation=act),
    ],
)
@pytest.mark.parametrize("first, then", [("relu", None), (None, "relu")])
def test_activation_set_after_construction_takes_effect(make, first, then):
    # The fused ReLU was decided once in __init__: an activation set later
    # was ignored (Keras reads layer.activation at each call).
    layer, reference = make(first), make(then)
    x = _input(
        (2, 6, 6, 2)
        if isinstance(layer, layers.Conv2D | layers.SeparableConv2D)
        else (2, 6, 2)
    )
    layer(x)
    reference(x)
    reference.set_weights(layer.get_weights())
    layer.activation = activations.get(then)
    np.testing.assert_array_equal(layer(x).numpy(), reference(x).numpy())
