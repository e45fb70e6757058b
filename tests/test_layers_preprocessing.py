"""Rescaling and Normalization (with adapt).

References: the formulas (Keras: ``x * scale + offset``; ``(x - mean) /
max(sqrt(var), 1e-7)``), NumPy's mean and variance of all the data at once,
the values printed in Keras's own docstring examples, and central
differences for the input gradient.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import numdl
from numdl import layers
from numdl.autograd.tensor import Tensor
from numdl.testing import assert_close, check_grad


def _rng(seed=0):
    return np.random.default_rng(seed)


# --------------------------------------------------------------- Rescaling
def test_rescaling_formula_dtypes_and_shapes():
    x = np.array([[0, 127, 255]], "uint8")
    y = layers.Rescaling(1 / 127.5, offset=-1)(x)
    assert y.dtype == np.float32 and y.shape == (1, 3)
    expected = x.astype(np.float32) * np.float32(1 / 127.5) + np.float32(-1)
    np.testing.assert_array_equal(y.data, expected)
    scale = np.array([1.0, 2.0, 3.0])
    img = _rng(1).normal(size=(2, 4, 4, 3))
    y = layers.Rescaling(scale, offset=0.5, dtype="float64")(img)
    assert_close(y.data, img * scale + 0.5, 1e-15, "channels-last scale")
    sym = layers.Rescaling(2.0)(layers.Input(shape=(4, 4, 3)))
    assert sym.shape == (None, 4, 4, 3)


def test_rescaling_has_no_weights_and_passes_gradients():
    layer = layers.Rescaling(0.25, offset=1.0, dtype="float64")
    layer.build((None, 3))
    assert layer.weights == [] and layer.count_params() == 0
    errors = check_grad(layer, _rng(2).normal(size=(2, 3)))
    assert errors[0] < 1e-8
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    layer(x).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 0.25))


def test_rescaling_config_round_trip():
    for scale, offset in ((1 / 255, 0.0), (np.array([0.5, 2.0]), np.array([1.0, 0.0]))):
        layer = layers.Rescaling(scale, offset, name="r")
        cfg = json.loads(json.dumps(layer.get_config()))
        again = layers.Rescaling.from_config(cfg)
        assert again.get_config() == cfg
        x = np.array([[2.0, 4.0]], "float32")
        np.testing.assert_array_equal(again(x).data, layer(x).data)


def test_rescaling_errors_name_the_layer():
    with pytest.raises(TypeError, match="Rescaling 'r1': scale must be a number"):
        layers.Rescaling("big", name="r1")
    with pytest.raises(TypeError, match="Rescaling 'r2': offset must be a number"):
        layers.Rescaling(1.0, offset=None, name="r2")


# ----------------------------------------------------------- Normalization
def test_normalization_keras_docstring_examples():
    """The values Keras's documentation prints for the same calls."""
    layer = layers.Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], "float32"))
    y = layer(np.array([1.0, 2.0, 3.0], "float32")).data
    assert_close(y, [-1.4142135, -0.70710677, 0.0], 1e-7, "axis=None")
    data = np.array([[0, 7, 4], [2, 9, 6], [0, 7, 4], [2, 9, 6]], "float32")
    layer = layers.Normalization(axis=-1)
    layer.adapt(data)
    y = layer(np.array([[0.0, 7.0, 4.0]], "float32")).data
    assert_close(y, [[-1.0, -1.0, -1.0]], 1e-6, "axis=-1")
    layer = layers.Normalization(mean=3.0, variance=2.0)
    y = layer(np.array([[1.0], [2.0], [3.0]], "float32")).data
    assert_close(y, [[-1.4142135], [-0.70710677], [0.0]], 1e-7, "given mean")
    layer = layers.Normalization(axis=-1, invert=True)
    layer.adapt(data)
    y = layer(np.array([[1.0, 2.0, 3.0]], "float32")).data
    assert_close(y, [[2.0, 10.0, 8.0]], 1e-6, "invert")


@pytest.mark.parametrize("axis", [-1, None, (1, 2), 1, (-1, 1)])
def test_normalization_formula(axis):
    rng = _rng(3)
    data = rng.normal(5.0, 3.0, size=(20, 3, 4))
    layer = layers.Normalization(axis=axis, dtype="float64")
    layer.adapt(data)
    keep = () if axis is None else tuple(a % 3 for a in np.atleast_1d(axis))
    reduce = tuple(a for a in range(3) if a not in keep)
    mean = data.mean(axis=reduce, keepdims=True)
    var = data.var(axis=reduce, keepdims=True)
    x = rng.normal(size=(2, 3, 4))
    expected = (x - mean) / np.maximum(np.sqrt(var), 1e-7)
    assert_close(layer(x).data, expected, 1e-12, "normalised")
    assert layer.adapt_mean.shape == tuple(data.shape[a] for a in sorted(keep))
    assert_close(layer.mean, mean, 1e-12, "mean broadcast to the inputs' rank")


def _batches_of(data, sizes):
    out, start = [], 0
    for size in sizes:
        out.append(data[start : start + size])
        start += size
    return out


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 1e-6)])
def test_adapt_in_batches_equals_adapting_all_at_once(dtype, rtol):
    rng = _rng(4)
    data = (rng.normal(1e3, 2.0, size=(103, 2, 3)) * rng.uniform(0.1, 10, 3)).astype(
        dtype
    )
    whole = layers.Normalization(axis=(1, 2), dtype=dtype)
    whole.adapt(data)
    mean = data.astype(np.float64).mean(axis=0)
    var = data.astype(np.float64).var(axis=0)
    assert_close(whole.adapt_mean.numpy(), mean, rtol, "whole mean vs numpy")
    assert_close(whole.adapt_variance.numpy(), var, rtol, "whole var vs numpy")
    sizes = [1, 30, 2, 0, 50, 20]  # uneven, one empty batch
    ways = [
        dict(data=_batches_of(data, sizes)),  # a list of batches
        dict(data=(b for b in _batches_of(data, sizes))),  # a generator
        dict(data=[(b, np.zeros(len(b))) for b in _batches_of(data, sizes)]),
        dict(data=data, batch_size=7),
        dict(data=Tensor(data), batch_size=64),
    ]
    for way in ways:
        layer = layers.Normalization(axis=(1, 2), dtype=dtype)
        layer.adapt(**way)
        assert_close(layer.adapt_mean.numpy(), mean, rtol, f"mean {way}")
        assert_close(layer.adapt_variance.numpy(), var, rtol, f"var {way}")
        assert int(layer.count.numpy()) == 103


def test_adapt_merges_exactly_in_float64_with_a_large_offset():
    """Naive sum-of-squares merging loses everything here; Chan's does not."""
    data = 1e8 + _rng(5).normal(size=(1000, 1))
    layer = layers.Normalization(dtype="float64")
    layer.adapt(data, batch_size=3)
    assert_close(layer.adapt_variance.numpy(), data.var(axis=0), 1e-9, "variance")


def test_adapt_steps_uses_only_the_first_batches():
    rng = _rng(6)
    data = rng.normal(size=(100, 2))
    layer = layers.Normalization(dtype="float64")
    layer.adapt(data, steps=2)  # Keras 2: batches of 32
    assert_close(layer.adapt_mean.numpy(), data[:64].mean(0), 1e-12, "2 x 32 rows")
    layer.adapt(data, batch_size=10, steps=3)
    assert_close(layer.adapt_mean.numpy(), data[:30].mean(0), 1e-12, "3 x 10 rows")
    drawn = []

    def endless():
        while True:
            drawn.append(1)
            yield rng.normal(size=(4, 2))

    layer.adapt(endless(), steps=5)
    assert len(drawn) == 5
    assert int(layer.count.numpy()) == 20


def test_adapt_again_replaces_the_statistics():
    layer = layers.Normalization(dtype="float64")
    layer.adapt(np.array([[0.0], [2.0]]))
    layer.adapt(np.array([[10.0], [14.0]]))
    assert layer.adapt_mean.numpy().tolist() == [12.0]
    assert layer.adapt_variance.numpy().tolist() == [4.0]


def test_given_mean_and_variance_broadcast_right_to_left():
    mean, var = np.array([1.0, 2.0, 3.0]), np.array([4.0, 1.0, 0.25])
    layer = layers.Normalization(axis=(1, 2), mean=mean, variance=var)
    x = _rng(7).normal(size=(2, 4, 3)).astype("float32")
    y = layer(x).data
    assert layer.weights == []
    assert_close(y, (x - mean) / np.sqrt(var), 1e-6, "broadcast over axis 1")
    scalar = layers.Normalization(axis=None, mean=2.0, variance=0.0)
    y = scalar(np.array([[2.0, 3.0]])).data
    np.testing.assert_array_equal(y, np.array([[0.0, 1e7]], "float32"))  # eps floor


def test_invert_undoes_normalization():
    rng = _rng(8)
    data = rng.normal(3.0, 5.0, size=(50, 4))
    forward = layers.Normalization()
    forward.adapt(data)
    backward = layers.Normalization(invert=True)
    backward.adapt(data)
    x = rng.normal(3.0, 5.0, size=(6, 4)).astype("float32")
    assert_close(backward(forward(x)).data, x, 1e-6, "round trip")


def test_using_before_adapt_raises_but_symbolic_calls_work():
    layer = layers.Normalization(name="norm")
    with pytest.raises(ValueError, match="Normalization 'norm' has no statistics"):
        layer(np.zeros((2, 3)))
    traced = layers.Normalization(name="norm2")
    out = traced(layers.Input(shape=(3,)))
    assert out.shape == (None, 3)
    with pytest.raises(ValueError, match="'norm2' has no statistics yet: call"):
        traced(np.zeros((2, 3)))
    data = _rng(9).normal(size=(10, 3))
    traced.adapt(data)
    assert traced.is_adapted
    assert np.abs(traced(data).data.mean(0)).max() < 1e-6


def test_weights_counts_and_set_weights():
    rng = _rng(10)
    layer = layers.Normalization(axis=(1, 2))
    assert layer(layers.Input(shape=(2, 3))).shape == (None, 2, 3)
    assert [w.path.split("/")[1] for w in layer.weights] == [
        "mean",
        "variance",
        "count",
    ]
    assert [w.shape for w in layer.weights] == [(2, 3), (2, 3), ()]
    assert layer.trainable_weights == [] and layer.count_params() == 13
    layer.adapt(rng.normal(size=(5, 2, 3)))
    other = layers.Normalization(axis=(1, 2))
    other.build((None, 2, 3))
    other.set_weights(layer.get_weights())  # loaded weights count as adapted
    x = rng.normal(size=(4, 2, 3))
    np.testing.assert_array_equal(other(x).data, layer(x).data)
    assert layer.count.dtype == np.int64


def test_normalization_gradient_reaches_the_inputs():
    numdl.config.set_floatx("float64")
    layer = layers.Normalization()
    layer.adapt(_rng(11).normal(2.0, 4.0, size=(30, 3)))
    x = _rng(12).normal(size=(2, 3))
    assert check_grad(layer, x)[0] < 1e-8
    inverse = layers.Normalization(invert=True)
    inverse.adapt(_rng(11).normal(2.0, 4.0, size=(30, 3)))
    assert check_grad(inverse, x)[0] < 1e-8


def test_normalization_config_round_trip():
    given = layers.Normalization(
        axis=(1,), mean=[1.0, 2.0], variance=[3.0, 4.0], invert=True, name="n"
    )
    cfg = json.loads(json.dumps(given.get_config()))
    assert cfg["mean"] == [1.0, 2.0] and cfg["variance"] == [3.0, 4.0]
    again = layers.Normalization.from_config(cfg)
    assert json.loads(json.dumps(again.get_config())) == cfg
    x = np.array([[1.0, 1.0]], "float32")
    np.testing.assert_array_equal(again(x).data, given(x).data)
    plain = layers.Normalization(axis=None)
    cfg = json.loads(json.dumps(plain.get_config()))
    assert cfg["mean"] is None and cfg["axis"] == []
    assert layers.Normalization.from_config(cfg).axis == ()


def test_normalization_errors_name_the_layer():
    with pytest.raises(ValueError, match="'n1': when setting values directly, both"):
        layers.Normalization(mean=1.0, name="n1")
    with pytest.raises(ValueError, match=r"'n2': mean and variance must have the same"):
        layers.Normalization(mean=[1.0, 2.0], variance=1.0, name="n2")
    with pytest.raises(ValueError, match=r"'n3': mean of shape \(1, 2\) has more"):
        layers.Normalization(mean=[[1.0, 2.0]], variance=[[1.0, 1.0]], name="n3")
    with pytest.raises(TypeError, match="'n4': axis must be None, an int or a tuple"):
        layers.Normalization(axis="last", name="n4")
    with pytest.raises(ValueError, match=r"'n5': axis=\(2,\) is out of range"):
        layers.Normalization(axis=2, name="n5").adapt(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="'n6': mean/variance of shape \\(3,\\)"):
        layers.Normalization(mean=[1.0, 2, 3], variance=[1.0, 1, 1], name="n6")(
            np.zeros((2, 4))
        )
    layer = layers.Normalization(name="n7")
    layer.adapt(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"'n7': adapt\(\) batch 1 has shape \(3, 5\)"):
        layer.adapt([np.zeros((3, 2)), np.zeros((3, 5))])
    bad = np.ones((4, 2))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"'n7': .*non-finite value nan at index"):
        layer.adapt(bad)
    with pytest.raises(ValueError, match="'n7': adapt\\(\\) received no batches"):
        layer.adapt([])
    with pytest.raises(ValueError, match="'n7': batch_size applies to arrays only"):
        layer.adapt([np.zeros((2, 2))], batch_size=2)
    with pytest.raises(ValueError, match="'n7': steps must be a positive integer"):
        layer.adapt(np.zeros((2, 2)), steps=0)
    with pytest.raises(TypeError, match="'n7': adapt\\(\\) expects batches that are"):
        layer.adapt([1.0, 2.0])
    with pytest.raises(TypeError, match="'n7': adapt\\(\\) expects an array or an"):
        layer.adapt(3.0)
    with pytest.raises(ValueError, match="'n7': adapt\\(\\) received batches with no"):
        layer.adapt(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="'n8' was created with mean and variance"):
        layers.Normalization(mean=0.0, variance=1.0, name="n8").adapt(np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"'n7' expects inputs with last axis 2"):
        layer(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"'n7' expects inputs with 2 dimensions"):
        layer(np.zeros(2))
    with pytest.raises(ValueError, match="'n9': kept axis 0 must have a known size"):
        layers.Normalization(axis=0, name="n9")(layers.Input(shape=(3,)))
