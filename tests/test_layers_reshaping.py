"""Spatial reshaping layers: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D
— PyTorch parity (F.pad, slicing, F.interpolate nearest and bilinear with
align_corners=False) in both layouts, shapes (eager, symbolic, unknown
sizes), configs, training steps and errors naming the layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from numdl import layers
from numdl.autograd.tensor import Tensor
from numdl.ops.image import _resize_matrix
from numdl.ops.nn import dense
from numdl.optimizers import SGD
from numdl.testing import assert_torch_parity, check_grad

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


def _images(data_format, shape=(2, 5, 4, 3), seed=0, dtype="float64"):
    x = _rng(seed).normal(size=shape).astype(dtype)
    return x if data_format == "channels_last" else x.transpose(0, 3, 1, 2).copy()


def _in_torch_layout(fn, data_format, nd=2):
    """Run a channels-first torch function on data in ``data_format``."""
    if data_format == "channels_first":
        return fn

    def wrapped(t):
        first = t.permute(0, nd + 1, *range(1, nd + 1))
        return fn(first).permute(0, *range(2, nd + 2), 1)

    return wrapped


def _image_shape(data_format, rows, cols, batch=2, channels=3):
    if data_format == "channels_last":
        return (batch, rows, cols, channels)
    return (batch, channels, rows, cols)


def _check_training_step(layer, x, units=3):
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


def _round_trip(layer, x, json_config=None):
    cfg = layer.get_config()
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    np.testing.assert_array_equal(layer(x).numpy(), clone(x).numpy())
    if json_config is not None:  # lists, as read back from JSON
        assert type(layer).from_config({**cfg, **json_config}).get_config() == cfg


def _symbolic_shapes(layer, x, expected):
    assert layer(x).shape == expected
    assert layer(layers.Input(shape=x.shape[1:])).shape == (None, *expected[1:])
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *expected[1:])


# ------------------------------------------------------------- ZeroPadding
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(
    ("padding", "pads"),
    [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))), (((1, 2), (3, 0)), None)],
)
def test_zero_padding_2d_matches_torch(float64, data_format, padding, pads):
    pads = pads or padding
    (top, bottom), (left, right) = pads
    layer = layers.ZeroPadding2D(padding, data_format=data_format)
    assert layer.padding == pads
    x = _images(data_format)
    ref = _in_torch_layout(lambda t: F.pad(t, (left, right, top, bottom)), data_format)
    assert_torch_parity(layer, ref, x)
    rows, cols = 5 + top + bottom, 4 + left + right
    expected = (
        (2, rows, cols, 3) if data_format == "channels_last" else (2, 3, rows, cols)
    )
    _symbolic_shapes(layer, x, expected)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("padding", "pads"), [(2, (2, 2)), ((0, 3), (0, 3))])
def test_zero_padding_1d_matches_torch(float64, data_format, padding, pads):
    layer = layers.ZeroPadding1D(padding, data_format=data_format)
    x = _images(data_format)[:, 0]  # (2, 4, 3) or (2, 5, 4)... 3-D either way
    ref = _in_torch_layout(lambda t: F.pad(t, pads), data_format, nd=1)
    assert_torch_parity(layer, ref, x)
    out = list(x.shape)
    out[1 if data_format == "channels_last" else 2] += sum(pads)
    _symbolic_shapes(layer, x, tuple(out))


@pytest.mark.parametrize("data_format", FORMATS)
def test_zero_padding_config_and_training_step(float64, data_format):
    x = _images(data_format)
    layer = layers.ZeroPadding2D(((1, 2), (0, 1)), data_format=data_format)
    cfg = layer.get_config()
    assert cfg["padding"] == ((1, 2), (0, 1)) and cfg["data_format"] == data_format
    _round_trip(layer, x, {"padding": [[1, 2], [0, 1]]})
    _check_training_step(layer, x)
    layer1 = layers.ZeroPadding1D((1, 2), data_format=data_format)
    assert layer1.get_config()["padding"] == (1, 2)
    _round_trip(layer1, x[:, 0], {"padding": [1, 2]})
    _check_training_step(layer1, x[:, 0])


def test_zero_padding_keras_defaults():
    assert layers.ZeroPadding2D().padding == ((1, 1), (1, 1))
    assert layers.ZeroPadding1D().get_config()["padding"] == (1, 1)
    assert layers.ZeroPadding2D().data_format == "channels_last"
    assert layers.ZeroPadding2D((np.int64(1), 2)).padding == ((1, 1), (2, 2))


# ---------------------------------------------------------------- Cropping
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(
    ("cropping", "crops"),
    [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))), (((0, 3), (1, 2)), None)],
)
def test_cropping_2d_matches_torch_slicing(float64, data_format, cropping, crops):
    crops = crops or cropping
    (top, bottom), (left, right) = crops
    layer = layers.Cropping2D(cropping, data_format=data_format)
    assert layer.cropping == crops
    x = _images(data_format, shape=(2, 7, 6, 3))
    ref = _in_torch_layout(
        lambda t: t[:, :, top : 7 - bottom, left : 6 - right], data_format
    )
    assert_torch_parity(layer, ref, x)
    rows, cols = 7 - top - bottom, 6 - left - right
    expected = (
        (2, rows, cols, 3) if data_format == "channels_last" else (2, 3, rows, cols)
    )
    _symbolic_shapes(layer, x, expected)


@pytest.mark.parametrize(("cropping", "crops"), [(1, (1, 1)), ((0, 2), (0, 2))])
def test_cropping_1d_matches_torch_slicing(float64, cropping, crops):
    layer = layers.Cropping1D(cropping)
    x = _rng(2).normal(size=(2, 6, 3))
    assert_torch_parity(layer, lambda t: t[:, crops[0] : 6 - crops[1]], x)
    _symbolic_shapes(layer, x, (2, 6 - sum(crops), 3))


def test_cropping_config_training_step_and_defaults(float64):
    for data_format in FORMATS:
        x = _images(data_format, shape=(2, 6, 5, 3))
        layer = layers.Cropping2D(((1, 2), (0, 1)), data_format=data_format)
        _round_trip(layer, x, {"cropping": [[1, 2], [0, 1]]})
        _check_training_step(layer, x)
    layer1 = layers.Cropping1D((2, 1))
    assert layer1.get_config()["cropping"] == (2, 1)
    _round_trip(layer1, x[:, 0], {"cropping": [2, 1]})
    _check_training_step(layer1, x[:, 0])
    assert layers.Cropping2D().cropping == ((0, 0), (0, 0))
    assert layers.Cropping1D().cropping == ((1, 1),)
    assert "data_format" not in layers.Cropping1D().get_config()  # as Keras


def test_cropping_everything_names_the_layer():
    layer = layers.Cropping2D(((2, 3), (0, 0)), name="crop")
    with pytest.raises(ValueError, match=r"Cropping2D 'crop': cropping .* axis 1"):
        layer(np.zeros((1, 5, 4, 1)))
    with pytest.raises(ValueError, match=r"Cropping2D 'crop'.*size 4"):
        layer(layers.Input(shape=(4, 4, 1)))
    with pytest.raises(ValueError, match=r"Cropping1D 'c1'"):
        layers.Cropping1D(3, name="c1")(np.zeros((1, 6, 2)))


# -------------------------------------------------------------- UpSampling
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("size", [2, (1, 3), (3, 2)])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_2d_matches_torch_interpolate(data_format, size, interpolation):
    layer = layers.UpSampling2D(
        size, data_format=data_format, interpolation=interpolation
    )
    factors = (size, size) if isinstance(size, int) else size
    extra = {"align_corners": False} if interpolation == "bilinear" else {}

    def ref(t):
        return F.interpolate(t, scale_factor=factors, mode=interpolation, **extra)

    for dtype in ("float64", "float32"):
        x = _images(data_format, shape=(2, 5, 4, 3), dtype=dtype)
        layer = layers.UpSampling2D(
            size, data_format=data_format, interpolation=interpolation, dtype=dtype
        )
        assert_torch_parity(layer, _in_torch_layout(ref, data_format), x)
    rows, cols = 5 * factors[0], 4 * factors[1]
    expected = (
        (2, rows, cols, 3) if data_format == "channels_last" else (2, 3, rows, cols)
    )
    _symbolic_shapes(layer, x, expected)


def test_bilinear_weights_are_half_pixel_linear_interpolation():
    # Size 3 upsampled 2x: sources (i + 0.5) / 2 - 0.5 = -0.25, 0.25, ..., 2.25,
    # clamped to [0, 2].
    w = _resize_matrix(3, 6, "bilinear", antialias=False)
    expected = [
        [1.0, 0.0, 0.0],
        [0.75, 0.25, 0.0],
        [0.25, 0.75, 0.0],
        [0.0, 0.75, 0.25],
        [0.0, 0.25, 0.75],
        [0.0, 0.0, 1.0],
    ]
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-15)
    rows = _resize_matrix(4, 12, "bilinear", antialias=False).sum(axis=1)
    np.testing.assert_allclose(rows, 1.0, rtol=1e-15)
    ones = _resize_matrix(1, 3, "bilinear", antialias=False)
    np.testing.assert_array_equal(ones, np.ones((3, 1)))


@pytest.mark.parametrize("size", [2, 3])
def test_upsampling_1d_matches_torch_nearest(float64, size):
    layer = layers.UpSampling1D(size)
    x = _rng(3).normal(size=(2, 4, 3))
    ref = _in_torch_layout(
        lambda t: F.interpolate(t, scale_factor=size, mode="nearest"),
        "channels_last",
        nd=1,
    )
    assert_torch_parity(layer, ref, x)
    _symbolic_shapes(layer, x, (2, 4 * size, 3))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_config_and_training_step(float64, interpolation):
    for data_format in FORMATS:
        x = _images(data_format, shape=(2, 3, 4, 3))
        layer = layers.UpSampling2D(
            (2, 3), data_format=data_format, interpolation=interpolation.upper()
        )
        cfg = layer.get_config()
        assert cfg["size"] == (2, 3) and cfg["interpolation"] == interpolation
        _round_trip(layer, x, {"size": [2, 3]})
        _check_training_step(layer, x)
    layer1 = layers.UpSampling1D(3)
    assert layer1.get_config()["size"] == 3
    _round_trip(layer1, x[:, 0])
    _check_training_step(layer1, x[:, 0])


def test_upsampling_unknown_sizes_and_defaults():
    layer = layers.UpSampling2D()
    assert layer.size == (2, 2) and layer.interpolation == "nearest"
    assert layer(layers.Input(shape=(None, 5, 3))).shape == (None, None, 10, 3)
    assert layers.UpSampling1D().size == 2
    assert layers.UpSampling1D()(layers.Input(shape=(None, 3))).shape == (None, None, 3)
    assert layers.ZeroPadding2D(2)(layers.Input(shape=(None, 5, 3))).shape == (
        None,
        None,
        9,
        3,
    )


def test_integer_inputs_become_float_for_bilinear_and_stay_for_padding():
    x = np.arange(4).reshape(1, 2, 2, 1)
    padded = layers.ZeroPadding2D(1)(x)
    assert padded.dtype == x.dtype and int(padded.numpy().sum()) == 6
    up = layers.UpSampling2D(interpolation="bilinear")(x)
    assert up.dtype == np.float32 and up.shape == (1, 4, 4, 1)
    np.testing.assert_allclose(up.numpy()[0, :, 0, 0], [0.0, 0.5, 1.5, 2.0])


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (layers.ZeroPadding2D, {"padding": -1}, "padding must be an integer >= 0"),
        (layers.ZeroPadding2D, {"padding": (1, 2, 3)}, "tuple of 2 ints"),
        (layers.ZeroPadding2D, {"padding": ((1, 2), (1,))}, "pair"),
        (layers.ZeroPadding2D, {"padding": 1.5}, "padding"),
        (layers.ZeroPadding1D, {"padding": (1, 2, 3)}, "pair"),
        (layers.Cropping2D, {"cropping": ((0, -1), (0, 0))}, "cropping"),
        (layers.Cropping1D, {"cropping": "ab"}, "cropping"),
        (layers.UpSampling2D, {"size": 0}, "size must be a positive integer"),
        (layers.UpSampling2D, {"size": (2, 2, 2)}, "size"),
        (layers.UpSampling1D, {"size": 2.0}, "size"),
        (layers.UpSampling2D, {"interpolation": "bicubic"}, "'nearest' or 'bilinear'"),
        (layers.ZeroPadding2D, {"data_format": "nchw"}, "data_format"),
    ],
)
def test_bad_arguments_name_the_layer(cls, kwargs, match):
    with pytest.raises(ValueError, match=rf"{cls.__name__} 'x': .*{match}"):
        cls(name="x", **kwargs)


@pytest.mark.parametrize(
    "layer",
    [
        layers.ZeroPadding2D(name="x"),
        layers.Cropping2D(name="x"),
        layers.UpSampling2D(name="x"),
        layers.ZeroPadding1D(name="x"),
        layers.UpSampling1D(name="x"),
    ],
)
def test_wrong_rank_names_the_layer(layer):
    with pytest.raises(ValueError, match=rf"{type(layer).__name__} 'x' expects"):
        layer(np.zeros((2, 3, 4, 5, 6)))


def test_upsampling_torch_module_agrees_on_channels_first_nearest():
    x = _rng(7).normal(size=(1, 2, 3, 3)).astype("float32")
    ours = layers.UpSampling2D(3, data_format="channels_first")(x).numpy()
    theirs = torch.nn.Upsample(scale_factor=3, mode="nearest")(torch.tensor(x))
    np.testing.assert_array_equal(ours, theirs.numpy())
