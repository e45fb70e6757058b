"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D and the global ones —
PyTorch parity in both layouts, output shapes (eager, symbolic, unknown
sizes), configs, training steps, Keras's defaults and aliases, masks and
errors naming the layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numdl
from numdl import layers
from numdl.autograd.tensor import Tensor
from numdl.ops.nn import dense
from numdl.optimizers import SGD
from numdl.testing import assert_close, assert_torch_parity, check_grad

LOCAL = {
    "MaxPooling1D": (layers.MaxPooling1D, F.max_pool1d, 1),
    "MaxPooling2D": (layers.MaxPooling2D, F.max_pool2d, 2),
    "AveragePooling1D": (layers.AveragePooling1D, F.avg_pool1d, 1),
    "AveragePooling2D": (layers.AveragePooling2D, F.avg_pool2d, 2),
}
GLOBAL = {
    "GlobalMaxPooling1D": (layers.GlobalMaxPooling1D, torch.amax, 1),
    "GlobalMaxPooling2D": (layers.GlobalMaxPooling2D, torch.amax, 2),
    "GlobalAveragePooling1D": (layers.GlobalAveragePooling1D, torch.mean, 1),
    "GlobalAveragePooling2D": (layers.GlobalAveragePooling2D, torch.mean, 2),
}
FORMATS = ["channels_last", "channels_first"]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny torch references: one thread (a thread pool only contends with the
    other processes on a small machine; results are identical)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _shape(nd, data_format, batch=2, channels=3, sizes=(7, 6)):
    spatial = sizes[:nd]
    if data_format == "channels_last":
        return (batch, *spatial, channels)
    return (batch, channels, *spatial)


def _to_first(t, nd):
    return t.permute(0, nd + 1, *range(1, nd + 1))


def _to_last(t, nd):
    return t.permute(0, *range(2, nd + 2), 1)


def _check_training_step(layer, x, units=3):
    """Dense -> layer -> weighted sum: gradients match finite differences, and
    one SGD step on the Dense weights lowers a squared error."""
    rng = _rng(1)
    kernel, bias = rng.normal(size=(x.shape[-1], units)), rng.normal(size=units)

    def fn(kernel, bias):
        return layer(dense(Tensor(x), kernel, bias))

    assert max(check_grad(fn, kernel, bias)) < 1e-7
    dense_layer = layers.Dense(units)
    dense_layer.build((None, x.shape[-1]))
    dense_layer.set_weights([kernel, bias])
    target = rng.normal(size=fn(Tensor(kernel), Tensor(bias)).shape)

    def loss():
        return ((layer(dense_layer(x)) - target) ** 2).sum()

    before = loss()
    before.backward()
    SGD(learning_rate=1e-3).step(dense_layer.trainable_weights)
    assert float(loss()) < float(before)


def _round_trip(layer, x):
    cfg = layer.get_config()
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    np.testing.assert_array_equal(layer(x).numpy(), clone(x).numpy())


# ---------------------------------------------------------- local pooling
@pytest.mark.parametrize("name", LOCAL)
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("k", "s"), [(2, None), (3, 1), (2, 3)])
def test_local_pooling_matches_torch(float64, name, data_format, k, s):
    cls, torch_fn, nd = LOCAL[name]
    layer = cls(pool_size=k, strides=s, data_format=data_format)
    x = _rng(k).normal(size=_shape(nd, data_format))
    last = data_format == "channels_last"

    def reference(t):
        t = _to_first(t, nd) if last else t
        out = torch_fn(t, k, s or k)
        return _to_last(out, nd) if last else out

    assert_torch_parity(layer, reference, x)


@pytest.mark.parametrize("name", LOCAL)
def test_local_pooling_same_padding_float32_matches_torch(name):
    cls, torch_fn, nd = LOCAL[name]
    layer = cls(pool_size=3, strides=1, padding="same", data_format="channels_first")
    x = _rng(2).normal(size=_shape(nd, "channels_first")).astype("float32")
    extra = {} if "Max" in name else {"count_include_pad": False}
    assert_torch_parity(layer, lambda t: torch_fn(t, 3, 1, padding=1, **extra), x)


@pytest.mark.parametrize("name", LOCAL)
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_local_pooling_shapes_eager_and_symbolic(name, data_format, padding):
    cls, _, nd = LOCAL[name]
    layer = cls(pool_size=2, strides=2, padding=padding, data_format=data_format)
    x = np.zeros(_shape(nd, data_format, sizes=(7, 6)), "float32")
    eager = layer(x).shape
    size = {"valid": {7: 3, 6: 3}, "same": {7: 4, 6: 3}}[padding]
    expected = _shape(nd, data_format, sizes=tuple(size[n] for n in (7, 6)[:nd]))
    assert eager == expected
    symbolic = layer(layers.Input(shape=x.shape[1:])).shape
    assert symbolic == (None, *expected[1:])
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *expected[1:])


@pytest.mark.parametrize("name", LOCAL)
def test_local_pooling_unknown_spatial_sizes(name):
    cls, _, nd = LOCAL[name]
    layer = cls(pool_size=3)
    shape = (None,) * nd + (4,)
    assert layer(layers.Input(shape=shape)).shape == (None, *shape)
    # Unknown sizes stay unknown; the layer then runs on any large-enough input.
    out = layer(np.zeros((1,) + (9,) * nd + (4,), "float32"))
    assert out.shape == (1,) + (3,) * nd + (4,)


@pytest.mark.parametrize("name", LOCAL)
@pytest.mark.parametrize("data_format", FORMATS)
def test_local_pooling_config_round_trip(name, data_format):
    cls, _, nd = LOCAL[name]
    layer = cls(pool_size=3, strides=2, padding="SAME", data_format=data_format)
    cfg = layer.get_config()
    assert cfg["pool_size"] == (3,) * nd and cfg["strides"] == (2,) * nd
    assert cfg["padding"] == "same" and cfg["data_format"] == data_format
    _round_trip(layer, _rng().normal(size=_shape(nd, data_format)))
    # Configs read back from JSON hold lists.
    clone = cls.from_config({**cfg, "pool_size": [3] * nd, "strides": [2] * nd})
    assert clone.get_config() == cfg


@pytest.mark.parametrize("name", LOCAL)
@pytest.mark.parametrize("data_format", FORMATS)
def test_local_pooling_training_step(float64, name, data_format):
    cls, _, nd = LOCAL[name]
    x = _rng(3).normal(size=(2,) + (5, 4)[:nd] + (3,))
    _check_training_step(cls(pool_size=2, strides=1, data_format=data_format), x)


def test_keras_defaults_and_aliases():
    assert layers.MaxPooling2D().get_config()["pool_size"] == (2, 2)
    assert layers.MaxPooling2D().strides == (2, 2)
    assert layers.AveragePooling1D().pool_size == (2,)
    assert layers.MaxPooling1D(3).strides == (3,)
    assert layers.MaxPooling2D().padding == "valid"
    assert layers.MaxPooling2D().data_format == "channels_last"
    assert layers.MaxPooling2D(name="p").name == "p"
    assert layers.MaxPool1D is layers.MaxPooling1D
    assert layers.MaxPool2D is layers.MaxPooling2D
    assert layers.AvgPool1D is layers.AveragePooling1D
    assert layers.AvgPool2D is layers.AveragePooling2D
    assert layers.GlobalMaxPool1D is layers.GlobalMaxPooling1D
    assert layers.GlobalMaxPool2D is layers.GlobalMaxPooling2D
    assert layers.GlobalAvgPool1D is layers.GlobalAveragePooling1D
    assert layers.GlobalAvgPool2D is layers.GlobalAveragePooling2D
    numdl.layers.base.reset_names()
    assert layers.MaxPool2D().name == "max_pooling2d"
    assert layers.GlobalAvgPool1D().name == "global_average_pooling1d"


def test_image_data_format_setting_is_the_default():
    numdl.config.set_image_data_format("channels_first")
    try:
        layer = layers.MaxPooling2D()
        glob = layers.GlobalAveragePooling2D()
    finally:
        numdl.config.set_image_data_format("channels_last")
    assert layer.data_format == glob.data_format == "channels_first"
    assert layer(np.zeros((1, 3, 4, 6))).shape == (1, 3, 2, 3)


def test_integer_inputs_become_float():
    x = np.arange(16).reshape(1, 4, 4, 1)
    out = layers.MaxPooling2D()(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy()[0, :, :, 0], [[5, 7], [13, 15]])
    assert layers.GlobalAveragePooling2D()(x).dtype == np.float32


def test_mnist_style_stack_in_a_sequential_model_and_json():
    model = numdl.Sequential(
        [
            layers.Input((28, 28, 1)),
            layers.MaxPooling2D(),
            layers.AveragePooling2D(pool_size=3, strides=2, padding="same"),
            layers.GlobalMaxPooling2D(keepdims=True),
            layers.Flatten(),
            layers.Dense(2),
        ]
    )
    assert model.output_shape == (None, 2)
    shapes = [layer._inbound_nodes[-1].outputs.shape for layer in model.layers[:3]]
    assert shapes == [
        (None, 14, 14, 1),
        (None, 7, 7, 1),
        (None, 1, 1, 1),
    ]
    clone = numdl.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    x = _rng().normal(size=(3, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), clone.predict(x, verbose=0)
    )


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("name", LOCAL)
def test_pool_larger_than_input_names_the_layer_and_both_sizes(name):
    cls, _, nd = LOCAL[name]
    layer = cls(pool_size=4, name="pool")
    x = np.zeros((1,) + (3,) * nd + (2,), "float32")
    sizes = r"\(" + ", ".join(["4"] * nd) + r",?\)"
    match = rf"{name} 'pool': pool_size {sizes} is larger than .*\(3,"
    with pytest.raises(ValueError, match=match):
        layer(x)
    with pytest.raises(ValueError, match=match):
        layer(layers.Input(shape=x.shape[1:]))
    assert cls(pool_size=4, padding="same")(x).shape == (1,) + (1,) * nd + (2,)


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.GlobalAveragePooling1D])
def test_wrong_rank_names_the_layer(cls):
    layer = cls(name="p")
    with pytest.raises(ValueError, match=rf"{cls.__name__} 'p' expects inputs with"):
        layer(np.zeros((2, 3, 4, 5, 6)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pool_size": 0}, "pool_size must be a positive integer"),
        ({"pool_size": (2, 2, 2)}, "tuple of 2 positive integers"),
        ({"strides": -1}, "strides"),
        ({"padding": "causal"}, "padding must be 'valid' or 'same'"),
        ({"data_format": "NHWC"}, "data_format must be"),
        ({"pool_sizes": 2}, "unexpected keyword"),
    ],
)
def test_bad_arguments_name_the_layer(kwargs, match):
    error = TypeError if "pool_sizes" in kwargs else ValueError
    with pytest.raises(error, match=match):
        layers.MaxPooling2D(name="p", **kwargs)
    if error is ValueError:
        with pytest.raises(ValueError, match="MaxPooling2D 'p'"):
            layers.MaxPooling2D(name="p", **kwargs)


# ----------------------------------------------------------------- global
@pytest.mark.parametrize("name", GLOBAL)
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_torch(float64, name, data_format, keepdims):
    cls, torch_fn, nd = GLOBAL[name]
    layer = cls(data_format=data_format, keepdims=keepdims)
    x = _rng(4).normal(size=_shape(nd, data_format))
    first = 1 if data_format == "channels_last" else 2
    axes = tuple(range(first, first + nd))
    assert_torch_parity(layer, lambda t: torch_fn(t, dim=axes, keepdim=keepdims), x)


def test_global_max_shares_the_gradient_among_ties_like_torch_amax(float64):
    x = np.array([[[1.0, 2.0], [1.0, 0.0], [0.5, 2.0]]])  # ties in both channels
    assert_torch_parity(layers.GlobalMaxPooling1D(), lambda t: torch.amax(t, dim=1), x)


@pytest.mark.parametrize("name", GLOBAL)
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_shapes(name, data_format, keepdims):
    cls, _, nd = GLOBAL[name]
    layer = cls(data_format=data_format, keepdims=keepdims)
    last = data_format == "channels_last"
    expected = (2, 3)
    if keepdims:
        expected = (2, *[1] * nd, 3) if last else (2, 3, *[1] * nd)
    assert layer(np.zeros(_shape(nd, data_format))).shape == expected
    unknown = (*[None] * nd, 3) if last else (3, *[None] * nd)
    assert layer(layers.Input(shape=unknown)).shape == (None, *expected[1:])


@pytest.mark.parametrize("name", GLOBAL)
@pytest.mark.parametrize("data_format", FORMATS)
def test_global_pooling_config_and_training_step(float64, name, data_format):
    cls, _, nd = GLOBAL[name]
    layer = cls(data_format=data_format, keepdims=True)
    cfg = layer.get_config()
    assert cfg["data_format"] == data_format and cfg["keepdims"] is True
    x = _rng(5).normal(size=(2,) + (5, 4)[:nd] + (3,))
    _round_trip(layer, x)
    _check_training_step(layer, x)


@pytest.mark.parametrize("data_format", FORMATS)
def test_global_average_1d_mask_leaves_out_masked_steps(float64, data_format):
    x = _rng(6).normal(size=(2, 5, 3))
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], bool)
    expected = np.stack([x[i][mask[i]].mean(axis=0) for i in range(2)])
    if data_format == "channels_first":
        x = x.transpose(0, 2, 1)
    layer = layers.GlobalAveragePooling1D(data_format=data_format)
    assert_close(layer(x, mask=mask).numpy(), expected, 1e-12)
    kept = layers.GlobalAveragePooling1D(data_format=data_format, keepdims=True)
    last = data_format == "channels_last"
    assert kept(x, mask=mask).shape == ((2, 1, 3) if last else (2, 3, 1))
    t = Tensor(x, requires_grad=True)
    layer(t, mask=mask).sum().backward()
    counts = mask.sum(axis=1, keepdims=True)
    grad = (mask / counts)[:, :, None] * np.ones((1, 1, 3))
    if data_format == "channels_first":
        grad = grad.transpose(0, 2, 1)
    assert_close(t.grad, grad, 1e-12)
    with pytest.raises(ValueError, match="GlobalAveragePooling1D .*mask of shape"):
        layer(x, mask=mask[:, :3])


def test_global_pooling_bad_keepdims():
    with pytest.raises(ValueError, match="GlobalMaxPooling2D 'g': keepdims"):
        layers.GlobalMaxPooling2D(keepdims="yes", name="g")
