"""Activations: values, gradients, PyTorch parity, Keras formulas, extremes, names."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import numdl
from numdl import activations
from numdl.autograd.tensor import Tensor
from numdl.testing import check_grad

SETTINGS = settings(max_examples=25, deadline=None)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2**32 - 1)


def _softplus_ref(x: torch.Tensor) -> torch.Tensor:
    return torch.logaddexp(x, torch.zeros_like(x))  # exact: no threshold


# name -> (numdl function, torch reference, kinks to keep away from)
CASES = {
    "linear": (activations.linear, lambda x: x, ()),
    "sigmoid": (activations.sigmoid, torch.sigmoid, ()),
    # torch's own hardsigmoid backward uses a float32 1/6 (error 3e-8 in float64)
    "hard_sigmoid": (
        activations.hard_sigmoid,
        lambda x: F.relu6(x + 3.0) / 6.0,
        (-3.0, 3.0),
    ),
    "relu": (activations.relu, F.relu, (0.0,)),
    "relu6": (activations.relu6, F.relu6, (0.0, 6.0)),
    "leaky_relu": (activations.leaky_relu, lambda x: F.leaky_relu(x, 0.2), (0.0,)),
    "elu": (activations.elu, F.elu, (0.0,)),
    "selu": (activations.selu, F.selu, (0.0,)),
    "gelu": (activations.gelu, F.gelu, ()),
    "gelu_tanh": (
        lambda x: activations.gelu(x, approximate=True),
        lambda x: F.gelu(x, approximate="tanh"),
        (),
    ),
    "softplus": (activations.softplus, _softplus_ref, ()),
    "softsign": (activations.softsign, F.softsign, ()),
    "silu": (activations.silu, F.silu, ()),
    "swish": (activations.swish, F.silu, ()),
    "mish": (activations.mish, F.mish, ()),
    "tanh": (activations.tanh, torch.tanh, ()),
    "exponential": (activations.exponential, torch.exp, ()),
    "softmax": (activations.softmax, lambda x: F.softmax(x, dim=-1), ()),
    "log_softmax": (activations.log_softmax, lambda x: F.log_softmax(x, dim=-1), ()),
}
ERF_BASED = {"gelu"}
HOT = ["sigmoid", "relu", "leaky_relu", "elu", "softplus", "softmax", "log_softmax"]
HOT += ["gelu", "silu"]


def _draw(shape: tuple[int, ...], seed: int, kinks=(), scale: float = 3.0):
    """Random inputs kept at least 1e-3 away from the points where f has a kink."""
    x = np.random.default_rng(seed).normal(0.0, scale, shape)
    for k in kinks:
        near = np.abs(x - k) < 1e-3
        x[near] = k + 1e-2
    return x


def _numdl_forward_backward(fn, x: np.ndarray, g: np.ndarray):
    t = Tensor(x.copy(), requires_grad=True)
    y = fn(t)
    y.backward(g)
    return y.data, t.grad


def _torch_forward_backward(ref, x: np.ndarray, g: np.ndarray):
    t = torch.tensor(x, requires_grad=True)
    y = ref(t)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), t.grad.numpy()


# ------------------------------------------------------------ worked examples
def test_sigmoid_worked_example_numpy_in_numpy_out():
    x = np.array([[0, 1], [-1, 2], [-2, 3]])
    y = activations.sigmoid(x)
    assert type(y) is np.ndarray
    expected = [
        [0.5, 0.73105858],
        [0.26894142, 0.88079708],
        [0.11920292, 0.95257413],
    ]
    np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_relu_worked_example_numpy_in_numpy_out():
    y = activations.relu(np.array([[-1, 0, 1], [-2, 3, -0.5]]))
    assert type(y) is np.ndarray
    np.testing.assert_array_equal(y, [[0, 0, 1], [0, 3, 0]])


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("x", [[1.0, -2.0], 0.5, np.float64(-1.5), [[3]]])
def test_numpy_in_numpy_out(name, x):
    fn = CASES[name][0]
    y = fn(x)
    assert type(y) is np.ndarray
    assert y.shape == np.shape(x)
    assert y.dtype.kind == "f"


@pytest.mark.parametrize("name", sorted(CASES))
def test_tensor_in_tensor_out_and_dtype_kept(name):
    fn = CASES[name][0]
    x32 = numdl.tensor([[0.5, -1.5, 2.0]], requires_grad=True)
    y = fn(x32)
    assert isinstance(y, Tensor) and y.dtype == np.float32
    y.sum().backward()
    assert x32.grad.dtype == np.float32
    assert fn(np.array([0.5, -1.0], dtype=np.float32)).dtype == np.float32
    assert fn(np.array([0.5, -1.0])).dtype == np.float64


@pytest.mark.parametrize("name", HOT)
def test_hot_activations_are_single_ops(name):
    x = Tensor(np.array([[0.3, -1.2, 2.5]]), requires_grad=True)
    y = activations.get(name)(x)
    assert y._ctx is not None
    assert y._ctx.inputs[0] is x  # one op straight from the input
    assert type(y._ctx).backward is not numdl.Function.backward


# ---------------------------------------------------------- PyTorch parity
@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_float64_parity_with_torch(name, shape, seed):
    fn, ref, kinks = CASES[name]
    x = _draw(shape, seed, kinks)
    g = np.random.default_rng(seed + 1).normal(size=shape)
    y, dx = _numdl_forward_backward(fn, x, g)
    y_ref, dx_ref = _torch_forward_backward(ref, x, g)
    rtol, atol = (1e-7, 1e-12) if name in ERF_BASED else (1e-10, 1e-14)
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dx, dx_ref, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_float32_parity_with_torch(name, shape, seed):
    fn, ref, kinks = CASES[name]
    x = _draw(shape, seed, kinks).astype(np.float32)
    g = np.random.default_rng(seed + 1).normal(size=shape).astype(np.float32)
    y, dx = _numdl_forward_backward(fn, x, g)
    # against the exact answer for the float32 inputs (torch in float64):
    # torch's own float32 gelu/tanh loses more in the negative tail
    y_ref, dx_ref = _torch_forward_backward(ref, x.astype(float), g.astype(float))
    assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-5)
    y32, dx32 = _torch_forward_backward(ref, x, g)  # and with torch's float32
    np.testing.assert_allclose(y, y32, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dx32, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@SETTINGS
@given(seed=seeds, rows=st.integers(1, 4), cols=st.integers(1, 4))
def test_softmax_axis_parity_with_torch(name, axis, seed, rows, cols):
    fn = getattr(activations, name)
    ref = getattr(F, name)
    x = _draw((rows, cols, 2), seed)
    g = np.random.default_rng(seed + 1).normal(size=x.shape)
    y, dx = _numdl_forward_backward(lambda t: fn(t, axis=axis), x, g)
    y_ref, dx_ref = _torch_forward_backward(lambda t: ref(t, dim=axis), x, g)
    np.testing.assert_allclose(y, y_ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-14)


# ------------------------------------------------------ finite differences
@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_gradient_matches_finite_differences(name, shape, seed):
    fn, _, kinks = CASES[name]
    x = _draw(shape, seed, kinks, scale=2.0)
    assert check_grad(fn, x)[0] < 1e-7


KERAS_RELU_OPTIONS = [
    {"negative_slope": 0.5},
    {"max_value": 5.0},
    {"threshold": 1.5},
    {"threshold": -1.0},
    {"negative_slope": 0.3, "max_value": 2.0, "threshold": 0.5},
    {"negative_slope": 0.1, "threshold": -0.5},
]


@pytest.mark.parametrize("kwargs", KERAS_RELU_OPTIONS)
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_relu_options_gradient(kwargs, shape, seed):
    kinks = (0.0, kwargs.get("threshold", 0.0), kwargs.get("max_value", 0.0))
    x = _draw(shape, seed, kinks)
    assert check_grad(lambda t: activations.relu(t, **kwargs), x)[0] < 1e-7


# ---------------------------------------------------------- Keras formulas
def _keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 3's ReLU.static_call, step by step, in NumPy."""
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return np.where(x >= 0, x, negative_slope * x)
        negative_part = np.maximum(threshold - x, 0)
    clip_max = max_value is not None
    if threshold != 0:
        x = x * (x > threshold)
    elif max_value == 6:
        x = np.minimum(np.maximum(x, 0), 6)
        clip_max = False
    else:
        x = np.maximum(x, 0)
    if clip_max:
        x = np.clip(x, 0, max_value)
    if negative_slope != 0.0:
        x = x - negative_slope * negative_part
    return x


@pytest.mark.parametrize("kwargs", KERAS_RELU_OPTIONS + [{"max_value": 6.0}, {}])
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_relu_options_match_keras_formula(kwargs, shape, seed):
    x = _draw(shape, seed)
    np.testing.assert_allclose(
        activations.relu(x, **kwargs), _keras_relu(x, **kwargs), rtol=1e-15
    )


def test_relu_keras_documented_examples():
    x = np.array([-10, -5, 0.0, 5, 10])
    relu = activations.relu
    np.testing.assert_array_equal(relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(relu(x, threshold=5.0), [0, 0, 0, 0, 10])


def test_keras_defaults():
    assert activations.leaky_relu(np.array([-1.0]))[0] == pytest.approx(-0.2)
    x = np.array([-1.0, 0.5, 2.0])
    erf = np.array([math.erf(v / math.sqrt(2.0)) for v in x])
    exact = 0.5 * x * (1 + erf)  # Keras 3's activation defaults to the exact form
    np.testing.assert_allclose(activations.gelu(x), exact, rtol=1e-12)
    np.testing.assert_allclose(activations.elu(x), [np.expm1(-1.0), 0.5, 2.0])


def test_hard_sigmoid_keras3_formula():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 0.3, 3.0, 5.0])
    expected = np.clip(x / 6.0 + 0.5, 0.0, 1.0)  # Keras 3: relu6(x + 3) / 6
    np.testing.assert_allclose(activations.hard_sigmoid(x), expected, rtol=1e-15)


def test_hard_sigmoid_close_to_torch_hardsigmoid():
    x = _draw((50,), 1, (-3.0, 3.0))
    g = np.random.default_rng(2).normal(size=x.shape)
    y, dx = _numdl_forward_backward(activations.hard_sigmoid, x, g)
    y_ref, dx_ref = _torch_forward_backward(F.hardsigmoid, x, g)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-7)


def test_selu_constants():
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    x = np.array([-2.0, 3.0])
    expected = [scale * alpha * np.expm1(-2.0), scale * 3.0]
    np.testing.assert_allclose(activations.selu(x), expected, rtol=1e-15)


# --------------------------------------------------------------- extremes
EXTREMES = np.array([1e4, -1e4, 0.0, 1e-38, -1e-38, 5e-324, 30.0, -30.0])
FINITE_AT_EXTREMES = sorted(set(CASES) - {"exponential"})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", FINITE_AT_EXTREMES)
def test_extremes_finite_without_warnings(name, dtype):
    fn = CASES[name][0]
    x = EXTREMES.astype(dtype).reshape(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = Tensor(x.copy(), requires_grad=True)
        y = fn(t)
        y.backward(np.ones(y.shape, dtype=dtype))
        plain = fn(x)
    assert np.isfinite(y.data).all() and np.isfinite(t.grad).all()
    np.testing.assert_array_equal(plain, y.data)


def test_extreme_values_are_right():
    x = np.array([1e4, -1e4, 0.0])
    np.testing.assert_array_equal(activations.sigmoid(x), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(activations.softplus(x), [1e4, 0.0, np.log(2.0)])
    np.testing.assert_allclose(activations.softmax(x), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(activations.log_softmax(x), [0.0, -2e4, -1e4])
    t = Tensor(np.array([-800.0]), requires_grad=True)
    activations.sigmoid(t).sum().backward()
    assert t.grad[0] == 0.0 and activations.sigmoid(np.array([-800.0]))[0] == 0.0
    # the left tail keeps its relative accuracy (no 1 - tiny cancellation)
    np.testing.assert_allclose(
        activations.sigmoid(np.array([-40.0])), [4.248354255291589e-18], rtol=1e-14
    )


def test_empty_batch():
    x = np.zeros((0, 3))
    for name in sorted(CASES):
        fn = CASES[name][0]
        assert fn(x).shape == (0, 3)
        t = Tensor(x.copy(), requires_grad=True)
        fn(t).sum().backward()
        assert t.grad.shape == (0, 3)


def test_inputs_are_not_modified():
    x = np.array([[1.5, -2.0, 0.25]])
    for name in sorted(CASES):
        before = x.copy()
        t = Tensor(x, requires_grad=True)
        CASES[name][0](t).sum().backward()
        np.testing.assert_array_equal(x, before)


# ------------------------------------------------------------------ names
@pytest.mark.parametrize(
    "name",
    [
        "linear", "sigmoid", "hard_sigmoid", "relu", "relu6", "leaky_relu", "elu",
        "selu", "gelu", "softplus", "softsign", "silu", "swish", "mish", "tanh",
        "exponential", "softmax", "log_softmax",
    ],
)  # fmt: skip
def test_get_and_serialize_round_trip(name):
    fn = activations.get(name)
    assert fn is getattr(activations, name)
    assert activations.get(activations.serialize(fn)) is fn
    assert activations.deserialize(activations.serialize(fn)) is fn


def test_get_none_callable_and_unknown():
    assert activations.get(None) is activations.linear
    assert activations.get("ReLU") is activations.relu  # case-insensitive fallback
    assert activations.serialize(activations.swish) == "silu"

    def custom(x):
        return x

    assert activations.get(custom) is custom
    assert activations.serialize(custom) == "custom"
    with pytest.raises(ValueError, match="nope"):
        activations.get("nope")
    with pytest.raises(TypeError):
        activations.get(3)
