"""Fused normalisation ops: batch_norm, batch_normalization, layer_norm.

References: torch.nn.functional.batch_norm / layer_norm (forward and every
gradient), float64 central differences, and the formulas written out in NumPy
(Keras's: biased variance, ``rsqrt(var + epsilon)``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from numdl.autograd.tensor import Tensor
from numdl.ops.norm import batch_norm, batch_normalization, layer_norm
from numdl.testing import assert_close, assert_torch_parity, check_grad

DTYPES = [np.float64, np.float32]
SETTINGS = settings(max_examples=15, deadline=None)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _to_channels_first(axis, ndim):
    """Permutation moving ``axis`` to position 1 (torch's channel axis)."""
    axis %= ndim
    rest = [i for i in range(ndim) if i != axis]
    return [rest[0], axis] + rest[1:]


def _torch_bn(axis, ndim, eps, training, mean=None, var=None):
    perm = _to_channels_first(axis, ndim)
    inv = list(np.argsort(perm))

    def fn(x, gamma=None, beta=None):
        rm = None if mean is None else torch.tensor(mean)
        rv = None if var is None else torch.tensor(var)
        y = F.batch_norm(x.permute(perm), rm, rv, gamma, beta, training, 0.1, eps)
        return y.permute(inv)

    return fn


# -------------------------------------------------------------- batch_norm
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape, axis",
    [((6, 3), -1), ((6, 3), 1), ((4, 5, 3), -1), ((4, 3, 5), 1), ((2, 3, 2, 4), -1),
     ((2, 4, 3, 2), 1), ((3, 4, 2, 2), 0)],
)  # fmt: skip
def test_batch_norm_parity_with_torch(dtype, shape, axis):
    rng = _rng(len(shape) + axis)
    c = shape[axis]
    x = rng.normal(2.0, 3.0, size=shape).astype(dtype)
    gamma = rng.normal(size=c).astype(dtype)
    beta = rng.normal(size=c).astype(dtype)
    ref = _torch_bn(axis, len(shape), 1e-3, True)
    assert_torch_parity(
        lambda x, g, b: batch_norm(x, g, b, axis=axis)[0], ref, x, gamma, beta
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "center, scale", [(False, True), (True, False), (False, False)]
)
def test_batch_norm_without_gamma_or_beta(dtype, center, scale):
    rng = _rng(1)
    x = rng.normal(size=(5, 4)).astype(dtype)
    gamma = rng.normal(size=4).astype(dtype)
    beta = rng.normal(size=4).astype(dtype)
    arrays = [x] + ([gamma] if scale else []) + ([beta] if center else [])

    def split(args):
        g = args[1] if scale else None
        b = args[-1] if center and len(args) > 1 else None
        return args[0], g, b

    def ours(*args):
        x, g, b = split(args)
        return batch_norm(x, g, b, epsilon=1e-5)[0]

    def ref(*args):
        x, g, b = split(args)
        return F.batch_norm(x, None, None, g, b, True, 0.1, 1e-5)

    assert_torch_parity(ours, ref, *arrays)


def test_batch_norm_statistics_are_the_biased_moments():
    rng = _rng(2)
    x = rng.normal(1.0, 2.0, size=(7, 3, 5))
    _, mean, var = batch_norm(x, axis=1)
    assert mean.shape == var.shape == (3,)
    assert_close(mean, x.mean(axis=(0, 2)), 1e-13, "mean")
    assert_close(var, x.var(axis=(0, 2)), 1e-13, "biased variance")
    # torch's running statistics with momentum 1 are the batch mean and the
    # *unbiased* variance: ours times n / (n - 1).
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    F.batch_norm(torch.tensor(x), rm, rv, None, None, True, 1.0, 1e-3)
    n = 7 * 5
    assert_close(mean, rm.numpy(), 1e-13, "torch running mean")
    assert_close(var * n / (n - 1), rv.numpy(), 1e-13, "torch running var")


def test_batch_norm_statistics_have_no_gradient_and_inputs_are_untouched():
    x = Tensor(_rng(3).normal(size=(4, 2)), requires_grad=True)
    before = x.data.copy()
    y, mean, var = batch_norm(x)
    assert isinstance(y, Tensor) and y.requires_grad
    assert isinstance(mean, np.ndarray) and isinstance(var, np.ndarray)
    assert mean.dtype == var.dtype == np.float64
    np.testing.assert_array_equal(x.data, before)


@pytest.mark.parametrize("shape, axis", [((4, 3), -1), ((3, 2, 4), 1), ((2, 3, 2), 0)])
def test_batch_norm_finite_differences(shape, axis):
    rng = _rng(4)
    c = shape[axis]
    x, g, b = rng.normal(size=shape), rng.normal(size=c), rng.normal(size=c)
    errors = check_grad(lambda x, g, b: batch_norm(x, g, b, axis=axis)[0], x, g, b)
    assert max(errors) < 1e-7, errors


@SETTINGS
@given(
    n=st.integers(1, 4),
    c=st.integers(1, 3),
    spatial=st.lists(st.integers(1, 3), max_size=2),
    seed=st.integers(0, 2**31),
)
def test_batch_norm_parity_over_shapes(n, c, spatial, seed):
    rng = _rng(seed)
    shape = (n, c, *spatial)
    x = rng.normal(size=shape)
    if n * int(np.prod(spatial)) == 1:  # torch refuses one value per channel
        y, mean, var = batch_norm(x, axis=1)
        np.testing.assert_array_equal(var, np.zeros(c))
        np.testing.assert_array_equal(y, np.zeros(shape))
        return
    g, b = rng.normal(size=c), rng.normal(size=c)
    ref = _torch_bn(1, len(shape), 1e-3, True)
    assert_torch_parity(lambda x, g, b: batch_norm(x, g, b, axis=1)[0], ref, x, g, b)


# ----------------------------------------------------- batch_normalization
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", [((5, 3), -1), ((2, 3, 4), 1), ((2, 2, 3), -1)])
def test_batch_normalization_parity_with_torch(dtype, shape, axis):
    rng = _rng(5)
    c = shape[axis]
    x = rng.normal(size=shape).astype(dtype)
    mean = rng.normal(size=c).astype(dtype)
    var = rng.uniform(0.2, 3.0, size=c).astype(dtype)
    g, b = rng.normal(size=c).astype(dtype), rng.normal(size=c).astype(dtype)
    ref = _torch_bn(axis, len(shape), 1e-3, False, mean, var)

    def ours(x, g, b):
        return batch_normalization(x, mean, var, axis=axis, offset=b, scale=g)

    assert_torch_parity(ours, ref, x, g, b)


def test_batch_normalization_keras_formula_and_gradients_of_statistics():
    rng = _rng(6)
    x, mean = rng.normal(size=(4, 3)), rng.normal(size=3)
    var, g, b = rng.uniform(0.5, 2, 3), rng.normal(size=3), rng.normal(size=3)
    y = batch_normalization(x, mean, var, offset=b, scale=g, epsilon=0.01)
    assert_close(y, (x - mean) / np.sqrt(var + 0.01) * g + b, 1e-14, "formula")

    def fn(x, m, v, g, b):
        return batch_normalization(x, m, v, offset=b, scale=g, epsilon=0.01)

    errors = check_grad(fn, x, mean, var, g, b)
    assert max(errors) < 1e-7, errors


# -------------------------------------------------------------- layer_norm
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape, axis",
    [((4, 5), -1), ((3, 4, 5), -1), ((2, 3, 4), [1, 2]), ((2, 3, 4), (-2, -1))],
)
def test_layer_norm_parity_with_torch(dtype, shape, axis):
    rng = _rng(7)
    axes = [axis] if isinstance(axis, int) else list(axis)
    pshape = tuple(shape[a] for a in axes)
    x = rng.normal(1.0, 2.0, size=shape).astype(dtype)
    g = rng.normal(size=pshape).astype(dtype)
    b = rng.normal(size=pshape).astype(dtype)
    assert_torch_parity(
        lambda x, g, b: layer_norm(x, g, b, axis=axis, epsilon=1e-3),
        lambda x, g, b: F.layer_norm(x, pshape, g, b, 1e-3),
        x,
        g,
        b,
    )
    assert_torch_parity(
        lambda x: layer_norm(x, axis=axis, epsilon=1e-5),
        lambda x: F.layer_norm(x, pshape, eps=1e-5),
        x,
    )


def _layer_norm_reference(x, g, b, axes, eps, rms=False):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    pshape = [n if i in axes else 1 for i, n in enumerate(x.shape)]
    if rms:
        return x / np.sqrt(var + eps) * g.reshape(pshape)
    return (x - mean) / np.sqrt(var + eps) * g.reshape(pshape) + b.reshape(pshape)


@pytest.mark.parametrize("axis", [0, (0, 2), [2, 0], 1])
def test_layer_norm_any_axes_formula_and_finite_differences(axis):
    rng = _rng(8)
    x = rng.normal(size=(3, 2, 4))
    axes = tuple(sorted(a % 3 for a in ([axis] if isinstance(axis, int) else axis)))
    pshape = tuple(x.shape[a] for a in axes)
    g, b = rng.normal(size=pshape), rng.normal(size=pshape)
    y = layer_norm(x, g, b, axis=axis, epsilon=0.1)
    assert_close(y, _layer_norm_reference(x, g, b, axes, 0.1), 1e-14, "formula")
    errors = check_grad(lambda x, g, b: layer_norm(x, g, b, axis=axis), x, g, b)
    assert max(errors) < 1e-7, errors


def test_layer_norm_rms_scaling_is_keras_variance_scaling():
    rng = _rng(9)
    x = rng.normal(0.5, 1.0, size=(3, 5))
    g, b = rng.normal(size=5), rng.normal(size=5)
    y = layer_norm(x, g, b, rms_scaling=True, epsilon=0.01)
    expected = _layer_norm_reference(x, g, None, (1,), 0.01, rms=True)
    assert_close(y, expected, 1e-14, "rms_scaling (beta ignored)")
    errors = check_grad(
        lambda x, g: layer_norm(x, g, axis=-1, rms_scaling=True, epsilon=0.01), x, g
    )
    assert max(errors) < 1e-7, errors


def test_layer_norm_accepts_gamma_in_keras_axis_order():
    """Keras gives gamma the shape (x.shape[a] for a in axis) and reshapes it."""
    rng = _rng(10)
    x = rng.normal(size=(2, 3, 4))
    g = rng.normal(size=(4, 3))  # axis=[2, 1]
    y = layer_norm(x, g, None, axis=[2, 1], epsilon=1e-3)
    expected = _layer_norm_reference(x, g.reshape(3, 4), np.zeros(12), (1, 2), 1e-3)
    assert_close(y, expected, 1e-14, "reshaped gamma")
    gt = Tensor(g.copy(), requires_grad=True)
    layer_norm(x, gt, None, axis=[2, 1]).sum().backward()
    assert gt.grad.shape == (4, 3)


@SETTINGS
@given(
    lead=st.lists(st.integers(0, 3), min_size=1, max_size=2),
    feat=st.integers(1, 4),
    seed=st.integers(0, 2**31),
)
def test_layer_norm_parity_over_shapes(lead, feat, seed):
    rng = _rng(seed)
    x = rng.normal(size=(*lead, feat))
    g, b = rng.normal(size=feat), rng.normal(size=feat)
    if feat == 1:  # xhat is exactly 0 here; torch leaves rounding noise (1e-16)
        np.testing.assert_array_equal(layer_norm(x, g, b), np.broadcast_to(b, x.shape))
        return
    assert_torch_parity(
        lambda x, g, b: layer_norm(x, g, b),
        lambda x, g, b: F.layer_norm(x, (feat,), g, b, 1e-3),
        x,
        g,
        b,
    )


# ---------------------------------------------------------------- extremes
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [0.0, 7.5, -1e4, 1e4, 1e-310])
def test_constant_inputs_give_beta_and_finite_gradients(dtype, value):
    x0 = np.full((4, 3), value).astype(dtype)
    g0 = np.array([1.0, 2.0, -1.0], dtype)
    b0 = np.array([0.5, -0.5, 3.0], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for op in ("batch", "layer"):
            x = Tensor(x0.copy(), requires_grad=True)
            g = Tensor(g0.copy(), requires_grad=True)
            b = Tensor(b0.copy(), requires_grad=True)
            if op == "batch":
                y, _, var = batch_norm(x, g, b)
                np.testing.assert_array_equal(var, np.zeros(3, dtype))
            else:
                y = layer_norm(x, g, b)
            np.testing.assert_array_equal(y.data, np.broadcast_to(b0, (4, 3)))
            (y * Tensor(_rng(11).normal(size=(4, 3)).astype(dtype))).sum().backward()
            for t in (x, g, b):
                assert np.isfinite(t.grad).all() and t.grad.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_offsets_keep_float32_accuracy(dtype):
    rng = _rng(12)
    base = rng.normal(size=(16, 3))
    x = (1e4 + base).astype(dtype)
    y, mean, var = batch_norm(x)
    exact = x.astype(np.float64)
    ref = (exact - exact.mean(0)) / np.sqrt(exact.var(0) + 1e-3)
    assert_close(y, ref, 1e-10 if dtype == np.float64 else 1e-3, "batch_norm")
    assert np.isfinite(y).all()


def test_numpy_in_numpy_out():
    x = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)
    y, mean, var = batch_norm(x)
    assert type(y) is np.ndarray and y.dtype == np.float32
    assert type(layer_norm(x)) is np.ndarray
    assert type(batch_normalization(x, mean, var)) is np.ndarray
    assert layer_norm([[1, 2]]).dtype == np.float32  # integers become floatx


def test_only_requested_gradients_are_computed():
    x = Tensor(_rng(13).normal(size=(3, 2)), requires_grad=True)
    g = Tensor(np.ones(2))  # a constant
    y, _, _ = batch_norm(x, g, None)
    y.sum().backward()
    assert x.grad is not None and g.grad is None


# ------------------------------------------------------------------ errors
def test_errors_name_the_op_and_say_what_is_wrong():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"batch_norm: gamma of shape \(4,\) .*\(3,\)"):
        batch_norm(x, np.ones(4))
    with pytest.raises(ValueError, match=r"batch_norm: axis must be .*axis=2"):
        batch_norm(x, axis=2)
    with pytest.raises(TypeError, match="batch_norm: axis must be an integer"):
        batch_norm(x, axis=(0, 1))
    with pytest.raises(ValueError, match="batch_norm: cannot compute batch stat"):
        batch_norm(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="batch_norm: inputs must have at least"):
        batch_norm(np.float64(1.0))
    with pytest.raises(ValueError, match="batch_norm: epsilon must be >= 0"):
        batch_norm(x, epsilon=-1.0)
    with pytest.raises(ValueError, match=r"batch_normalization: variance of shape"):
        batch_normalization(x, np.zeros(3), np.ones(2))
    with pytest.raises(ValueError, match=r"layer_norm: gamma of shape \(4,\)"):
        layer_norm(x, np.ones(4))
    with pytest.raises(ValueError, match="layer_norm: repeated axis"):
        layer_norm(x, axis=[1, -1])
    with pytest.raises(ValueError, match="layer_norm: cannot normalise over axes"):
        layer_norm(np.zeros((2, 0)))


def test_empty_batch_in_layer_norm_is_fine():
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    y = layer_norm(x, np.ones(3), np.zeros(3))
    assert y.shape == (0, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 3)
