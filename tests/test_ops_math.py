"""numdl.ops math: finite differences (float64) and parity with PyTorch 2.13 CPU.

Every op is checked twice over hypothesis-drawn shapes that include
broadcasting, size-1 axes and empty arrays: ``check_grad`` (central
differences, float64) and ``assert_torch_parity`` (same arrays into numdl and
torch, outputs and gradients compared; float64 to 1e-10, float32 to 1e-5).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numdl
from numdl import ops
from numdl.autograd.tensor import Tensor
from numdl.testing import assert_close, assert_torch_parity, check_grad

PARITY = settings(max_examples=30, deadline=None)
GRADCHECK = settings(max_examples=12, deadline=None)
seeds = st.integers(0, 2**32 - 1)
float_types = st.sampled_from([np.float64, np.float32])
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
pairs = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=4
)
small_pairs = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3
)
EXTREMES = np.array([-1e4, -1.0, 0.0, 1e-38, 1.0, 1e4])
GRAD_TOL = 1e-6  # check_grad: a correct op gives ~1e-9; a wrong one ~1e-1


# ------------------------------------------------------------------ domains
def normal(rng, shape):
    return rng.normal(size=shape)


def positive(rng, shape):
    return rng.uniform(0.2, 3.0, size=shape)


def above_minus_one(rng, shape):
    return rng.uniform(-0.8, 3.0, size=shape)


def away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 2.0, size=shape)


def integers(rng, shape):
    """Small integer values as floats: many ties for max / min."""
    return rng.integers(-2, 3, size=shape).astype(np.float64)


def rtol_for(dtype, float64_rtol=1e-10):
    return float64_rtol if dtype == np.float64 else 1e-5


# ---------------------------------------------------------------- unary ops
# name: (numdl op, torch op, domain, float64 rtol)
UNARY = {
    "negative": (ops.negative, torch.neg, normal, 1e-10),
    "exp": (ops.exp, torch.exp, normal, 1e-10),
    "log": (ops.log, torch.log, positive, 1e-10),
    "log1p": (ops.log1p, torch.log1p, above_minus_one, 1e-10),
    "expm1": (ops.expm1, torch.expm1, normal, 1e-10),
    "sqrt": (ops.sqrt, torch.sqrt, positive, 1e-10),
    "square": (ops.square, torch.square, normal, 1e-10),
    "abs": (ops.abs, torch.abs, away_from_zero, 1e-10),
    "sign": (ops.sign, torch.sign, away_from_zero, 1e-10),
    "tanh": (ops.tanh, torch.tanh, normal, 1e-10),
    "sin": (ops.sin, torch.sin, normal, 1e-10),
    "cos": (ops.cos, torch.cos, normal, 1e-10),
    "erf": (ops.erf, torch.erf, normal, 1e-7),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@PARITY
@given(shape=shapes, dtype=float_types, seed=seeds)
def test_unary_matches_torch(name, shape, dtype, seed):
    ours, ref, domain, rtol = UNARY[name]
    x = domain(np.random.default_rng(seed), shape).astype(dtype)
    assert_torch_parity(ours, ref, x, rtol=rtol_for(dtype, rtol))


@pytest.mark.parametrize("name", sorted(UNARY))
@GRADCHECK
@given(shape=small_shapes, seed=seeds)
def test_unary_finite_differences(name, shape, seed):
    ours, _, domain, _ = UNARY[name]
    x = domain(np.random.default_rng(seed), shape)
    assert check_grad(ours, x)[0] < GRAD_TOL


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_extremes_match_torch_silently(name, dtype):
    """+-1e4, 0, 1e-38: torch's values (inf / nan included), no RuntimeWarning."""
    ours, ref, _, rtol = UNARY[name]
    assert_torch_parity(ours, ref, EXTREMES.astype(dtype), rtol=rtol_for(dtype, rtol))


def test_documented_extreme_values():
    """Hand-derived: the IEEE results the math.py docstring promises."""
    x = np.array([1e4, -1e4])
    assert ops.exp(x).tolist() == [math.inf, 0.0]
    assert ops.exp(x.astype(np.float32)).tolist() == [math.inf, 0.0]
    assert ops.log(np.array([0.0]))[0] == -math.inf
    assert np.isnan(ops.log(np.array([-1.0]))[0])
    assert np.isnan(ops.sqrt(np.array([-1.0]))[0])
    assert ops.divide(np.array([1.0, -1.0]), 0.0).tolist() == [math.inf, -math.inf]
    assert ops.power(np.array([0.0]), -1.0)[0] == math.inf
    assert ops.tanh(x).tolist() == [1.0, -1.0]
    t = Tensor(np.array([0.0]), requires_grad=True)
    ops.sqrt(t).backward(np.ones(1))
    assert t.grad[0] == math.inf  # sqrt'(0) = inf, as in torch


# --------------------------------------------------------------- binary ops
# name: (numdl op, torch op, domain of a, domain of b)
BINARY = {
    "add": (ops.add, torch.add, normal, normal),
    "subtract": (ops.subtract, torch.sub, normal, normal),
    "multiply": (ops.multiply, torch.mul, normal, normal),
    "divide": (ops.divide, torch.div, normal, away_from_zero),
    "power": (ops.power, torch.pow, positive, normal),
    "maximum": (ops.maximum, torch.maximum, normal, normal),
    "minimum": (ops.minimum, torch.minimum, normal, normal),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@PARITY
@given(shapes=pairs, dtype=float_types, seed=seeds)
def test_binary_matches_torch_with_broadcasting(name, shapes, dtype, seed):
    ours, ref, domain_a, domain_b = BINARY[name]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = domain_a(rng, sa).astype(dtype), domain_b(rng, sb).astype(dtype)
    assert_torch_parity(ours, ref, a, b, rtol=rtol_for(dtype))


@pytest.mark.parametrize("name", sorted(BINARY))
@GRADCHECK
@given(shapes=small_pairs, seed=seeds)
def test_binary_finite_differences(name, shapes, seed):
    ours, _, domain_a, domain_b = BINARY[name]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    errors = check_grad(ours, domain_a(rng, sa), domain_b(rng, sb))
    assert max(errors) < GRAD_TOL


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("scalar", [2.5, -3, 0.5])
def test_binary_with_python_scalar_matches_torch(name, scalar):
    ours, ref, domain_a, _ = BINARY[name]
    a = domain_a(np.random.default_rng(0), (3, 2))

    def number(x):  # torch.maximum / minimum take tensors only
        return (
            torch.tensor(scalar, dtype=x.dtype)
            if name in ("maximum", "minimum")
            else scalar
        )

    assert_torch_parity(lambda x: ours(x, scalar), lambda x: ref(x, number(x)), a)
    if name != "power":  # torch.pow(scalar, tensor) has its own name
        assert_torch_parity(lambda x: ours(scalar, x), lambda x: ref(number(x), x), a)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@PARITY
@given(shapes=pairs, dtype=float_types, seed=seeds)
def test_maximum_minimum_ties_split_the_gradient_like_torch(name, shapes, dtype, seed):
    ours, ref, _, _ = BINARY[name]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = integers(rng, sa).astype(dtype), integers(rng, sb).astype(dtype)
    assert_torch_parity(ours, ref, a, b)


@pytest.mark.parametrize("op", [ops.maximum, ops.minimum])
def test_maximum_minimum_tie_gives_half_to_each(op):
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([1.0, 0.0, 5.0]), requires_grad=True)
    op(a, b).sum().backward()
    a_wins = [0.5, 1.0, 0.0] if op is ops.maximum else [0.5, 0.0, 1.0]
    assert a.grad.tolist() == a_wins
    assert b.grad.tolist() == [1.0 - v for v in a_wins]


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, -1, -2, 0.5])
def test_power_with_number_exponent_matches_torch(exponent):
    rng = np.random.default_rng(int(10 * exponent) + 30)
    x = away_from_zero(rng, (4, 3))
    if exponent == 0.5:
        x = np.abs(x)
    assert_torch_parity(lambda t: ops.power(t, exponent), lambda t: t**exponent, x)
    assert check_grad(lambda t: ops.power(t, exponent), x)[0] < GRAD_TOL


def test_power_at_zero_base_matches_torch():
    a = np.array([0.0, 0.0, 0.0, 2.0])
    b = np.array([0.0, 2.0, -1.0, 0.0])
    assert_torch_parity(ops.power, torch.pow, a, b)


def test_divide_by_zero_matches_torch_silently():
    a = np.array([1.0, -1.0, 0.0, 1e4])
    b = np.array([0.0, 0.0, 0.0, 1e-38])
    assert_torch_parity(ops.divide, torch.div, a, b)


# ------------------------------------------------------------------- matmul
@st.composite
def matmul_shapes(draw, max_side=3):
    batch = draw(
        hnp.mutually_broadcastable_shapes(
            num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=max_side
        )
    )
    n, k, m = (draw(st.integers(0, max_side)) for _ in range(3))
    a_vector, b_vector = draw(st.booleans()), draw(st.booleans())
    sa = (k,) if a_vector else batch.input_shapes[0] + (n, k)
    sb = (k,) if b_vector else batch.input_shapes[1] + (k, m)
    return sa, sb


@PARITY
@given(shapes=matmul_shapes(), dtype=float_types, seed=seeds)
def test_matmul_matches_torch(shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = (normal(rng, s).astype(dtype) for s in shapes)
    assert_torch_parity(ops.matmul, torch.matmul, a, b)


@GRADCHECK
@given(shapes=matmul_shapes(max_side=2), seed=seeds)
def test_matmul_finite_differences(shapes, seed):
    rng = np.random.default_rng(seed)
    assert max(check_grad(ops.matmul, *(normal(rng, s) for s in shapes))) < GRAD_TOL


def test_matmul_one_dimensional_rules():
    """NumPy's 1-D rules, checked by hand: (k,) @ (k,) is a scalar, etc."""
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([[1.0, 0.0, 2.0], [3.0, 1.0, 0.0]]), requires_grad=True)
    out = ops.matmul(a, b)
    assert out.shape == (3,)
    assert out.tolist() == [7.0, 2.0, 2.0]
    out.sum().backward()
    assert a.grad.tolist() == [3.0, 4.0]  # row sums of b
    assert b.grad.tolist() == [[1.0] * 3, [2.0] * 3]
    assert ops.matmul(a, a).shape == ()


# -------------------------------------------------------------- where, clip
@PARITY
@given(
    shapes=hnp.mutually_broadcastable_shapes(
        num_shapes=3, min_dims=0, max_dims=3, min_side=0, max_side=4
    ),
    dtype=float_types,
    seed=seeds,
)
def test_where_matches_torch(shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    sc, sa, sb = shapes.input_shapes
    cond = rng.random(sc) < 0.5
    a, b = normal(rng, sa).astype(dtype), normal(rng, sb).astype(dtype)
    assert_torch_parity(
        lambda x, y: ops.where(cond, x, y),
        lambda x, y: torch.where(torch.tensor(cond), x, y),
        a,
        b,
    )
    errors = check_grad(lambda x, y: ops.where(cond, x, y), a, b)
    assert max(errors) < GRAD_TOL


@pytest.mark.parametrize("bounds", [(-0.5, 0.7), (None, 0.2), (-0.1, None), (1, -1)])
@PARITY
@given(shape=shapes, dtype=float_types, seed=seeds)
def test_clip_matches_torch(bounds, shape, dtype, seed):
    lo, hi = bounds
    x = normal(np.random.default_rng(seed), shape).astype(dtype)
    assert_torch_parity(
        lambda t: ops.clip(t, lo, hi), lambda t: torch.clamp(t, lo, hi), x
    )


def test_clip_gradient_passes_at_the_bounds_like_torch():
    x = np.array([-1.0, -0.5, 0.0, 0.7, 2.0])
    assert_torch_parity(
        lambda t: ops.clip(t, -0.5, 0.7), lambda t: torch.clamp(t, -0.5, 0.7), x
    )
    assert check_grad(lambda t: ops.clip(t, -0.6, 0.6), x)[0] < GRAD_TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_with_array_bounds_broadcasts_without_upcasting(dtype):
    rng = np.random.default_rng(1)
    x = normal(rng, (3, 1)).astype(dtype)
    lo, hi = np.array([-0.5, -0.2, 0.0, 0.1]), np.array(0.6)  # float64 bounds
    assert_torch_parity(
        lambda t: ops.clip(t, lo, hi),
        lambda t: torch.clamp(
            t, torch.tensor(lo, dtype=t.dtype), torch.tensor(hi, dtype=t.dtype)
        ),
        x,
    )


# --------------------------------------------------------------- reductions
@st.composite
def reduction_args(draw, min_side=0, max_side=4):
    shape = draw(
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=min_side, max_side=max_side)
    )
    ndim = len(shape)
    axis = None
    if ndim:
        axis = draw(
            st.none()
            | st.integers(-ndim, ndim - 1)
            | st.lists(
                st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True
            ).map(tuple)
        )
    return shape, axis, draw(st.booleans())


def _dims(x, axis):
    return tuple(range(x.ndim)) if axis is None else axis


def torch_prod(x, axis, keepdims):
    """torch.prod reduces one dim at a time: reduce the axes from the last."""
    if x.ndim == 0:
        return x.prod()
    dims = _dims(x, axis)
    dims = (dims,) if isinstance(dims, int) else dims
    for d in sorted((d % x.ndim for d in dims), reverse=True):
        x = torch.prod(x, d, keepdim=keepdims)
    return x


def with_zeros(rng, shape):
    """Normal values with some exact zeros (prod's gradient must stay exact)."""
    x = rng.normal(size=shape)
    return np.where(rng.random(shape) < 0.2, 0.0, x)


# name: (numdl op, torch reference(x, axis, keepdims), domain, defined on empty)
REDUCTIONS = {
    "sum": (ops.sum, lambda x, a, k: torch.sum(x, _dims(x, a), k), normal, True),
    "mean": (ops.mean, lambda x, a, k: torch.mean(x, _dims(x, a), k), normal, True),
    "max": (ops.max, lambda x, a, k: torch.amax(x, _dims(x, a), k), integers, False),
    "min": (ops.min, lambda x, a, k: torch.amin(x, _dims(x, a), k), integers, False),
    "var": (
        ops.var,
        lambda x, a, k: torch.var(x, _dims(x, a), correction=0, keepdim=k),
        normal,
        True,
    ),
    "std": (
        ops.std,
        lambda x, a, k: torch.std(x, _dims(x, a), correction=0, keepdim=k),
        normal,
        True,
    ),
    "logsumexp": (
        ops.logsumexp,
        lambda x, a, k: torch.logsumexp(x, _dims(x, a), k),
        normal,
        True,
    ),
    "prod": (ops.prod, torch_prod, with_zeros, True),
}


def _reduces_empty(shape, axis):
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    return any(shape[a] == 0 for a in axes)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: var of nothing
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@PARITY
@given(args=reduction_args(), dtype=float_types, seed=seeds)
def test_reduction_matches_torch(name, args, dtype, seed):
    """Ties (max / min over small integers) share the gradient as torch.amax."""
    ours, ref, domain, empty_ok = REDUCTIONS[name]
    shape, axis, keepdims = args
    if not empty_ok:
        assume(not _reduces_empty(shape, axis))
    x = domain(np.random.default_rng(seed), shape).astype(dtype)
    assert_torch_parity(
        lambda t: ours(t, axis=axis, keepdims=keepdims),
        lambda t: ref(t, axis, keepdims),
        x,
    )


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@GRADCHECK
@given(args=reduction_args(min_side=1, max_side=3), seed=seeds)
def test_reduction_finite_differences(name, args, seed):
    ours, _, domain, _ = REDUCTIONS[name]
    shape, axis, keepdims = args
    # continuous values: max / min without ties, std away from 0
    x = (with_zeros if name == "prod" else normal)(np.random.default_rng(seed), shape)
    if name == "std":
        assume(np.all(np.std(x, axis=axis) > 1e-3))
    err = check_grad(lambda t: ours(t, axis=axis, keepdims=keepdims), x)
    assert err[0] < GRAD_TOL


@pytest.mark.parametrize("op", [ops.max, ops.min])
def test_max_min_ties_share_the_gradient_equally(op):
    x = Tensor(np.array([[3.0, 1.0, 3.0, 3.0], [1.0, 1.0, 0.0, 2.0]]), True)
    op(x, axis=1).sum().backward()
    expected = (
        [[1 / 3, 0.0, 1 / 3, 1 / 3], [0.0, 0.0, 0.0, 1.0]]
        if op is ops.max
        else [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    )
    np.testing.assert_allclose(x.grad, expected, rtol=1e-15)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: degrees of freedom <= 0
@pytest.mark.parametrize("name", ["var", "std"])
@PARITY
@given(args=reduction_args(max_side=3), dtype=float_types, seed=seeds)
def test_var_std_with_ddof_match_torch(name, args, dtype, seed):
    """ddof=1 is torch's correction=1; n - ddof <= 0 gives NaN like torch."""
    shape, axis, keepdims = args
    ours = ops.var if name == "var" else ops.std
    ref = torch.var if name == "var" else torch.std
    x = normal(np.random.default_rng(seed), shape).astype(dtype)
    assert_torch_parity(
        lambda t: ours(t, axis=axis, keepdims=keepdims, ddof=1),
        lambda t: ref(t, _dims(t, axis), correction=1, keepdim=keepdims),
        x,
    )


def test_std_of_constant_has_zero_gradient_like_torch():
    x = np.full((2, 3), 1.5)
    assert_torch_parity(lambda t: ops.std(t, axis=1), lambda t: t.std(1, False), x)
    t = Tensor(x.copy(), requires_grad=True)
    ops.std(t, axis=1).sum().backward()
    assert t.grad.tolist() == [[0.0] * 3] * 2


def test_empty_reductions_follow_torch():
    x = np.zeros((0, 3))
    assert ops.sum(x, axis=0).tolist() == [0.0] * 3
    assert ops.prod(x, axis=0).tolist() == [1.0] * 3
    assert np.isnan(ops.mean(x, axis=0)).all()
    assert np.isnan(ops.var(x, axis=0)).all()
    assert ops.logsumexp(x, axis=0).tolist() == [-math.inf] * 3
    with pytest.raises(ValueError):
        ops.max(x, axis=0)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reduction_extremes_match_torch_silently(name, dtype):
    ours, ref, _, _ = REDUCTIONS[name]
    x = np.array([-1e4, -1.0, 0.0, 1e-38, 2.0, 1e4, 1e4], dtype)  # no exact cancel
    assert_torch_parity(lambda t: ours(t), lambda t: ref(t, None, False), x)


def test_logsumexp_does_not_overflow():
    """Hand-derived: log(2 e^1e4) = 1e4 + log 2; gradient 1/2 each."""
    t = Tensor(np.array([1e4, 1e4]), requires_grad=True)
    out = ops.logsumexp(t)
    assert out.item() == pytest.approx(1e4 + math.log(2), rel=1e-15)
    out.backward()
    np.testing.assert_allclose(t.grad, [0.5, 0.5], rtol=1e-11)  # exp(-log 2)


@PARITY
@given(args=reduction_args(min_side=1), dtype=float_types, seed=seeds)
def test_argmax_matches_torch_and_has_no_gradient(args, dtype, seed):
    shape, axis, _ = args
    assume(axis is None or isinstance(axis, int))
    x = integers(np.random.default_rng(seed), shape).astype(dtype)  # ties: first
    ours = ops.argmax(Tensor(x, requires_grad=True), axis=axis)
    expected = torch.argmax(torch.tensor(x), dim=axis).numpy()
    assert not ours.requires_grad
    assert ours.dtype.kind == "i"
    np.testing.assert_array_equal(ours.data, expected)


# ------------------------------------------------------------------------ erf
def test_erf_matches_math_erf_on_a_dense_grid():
    """Relative error <= 1e-12 on [-8, 8] and over the tails down to 1e-300."""
    grid = np.concatenate(
        [
            np.linspace(-8.0, 8.0, 40001),
            np.geomspace(1e-300, 40.0, 4000),
            -np.geomspace(1e-300, 40.0, 4000),
        ]
    )
    expected = np.array([math.erf(v) for v in grid])
    got = ops.erf(grid)
    rel = np.abs(got - expected) / np.abs(expected).clip(min=1e-300)
    assert rel.max() <= 1e-12, grid[rel.argmax()]


def test_erf_matches_torch_erf_in_float64_and_float32():
    grid = np.linspace(-7.0, 7.0, 10001)
    assert_close(ops.erf(grid), torch.erf(torch.tensor(grid)).numpy(), 1e-12)
    g32 = grid.astype(np.float32)
    assert ops.erf(g32).dtype == np.float32
    assert_close(ops.erf(g32), torch.erf(torch.tensor(g32)).numpy(), 1e-6)


def test_erf_extremes_are_exact_and_silent():
    x = np.array([1e4, -1e4, 0.0, -0.0, 1e-38, math.inf, -math.inf, 5e-324])
    got = ops.erf(x)
    assert got[:4].tolist() == [1.0, -1.0, 0.0, 0.0]
    assert got[4] == pytest.approx(2 / math.sqrt(math.pi) * 1e-38, rel=1e-15)
    assert got[5:7].tolist() == [1.0, -1.0]
    assert np.isnan(ops.erf(np.array([math.nan])))[0]
    assert ops.erf(np.array([1, 2])).dtype == np.float64  # ints give float64


def test_erf_does_not_use_math_erf(monkeypatch):
    def forbidden(x):
        raise AssertionError("math.erf called")

    monkeypatch.setattr(math, "erf", forbidden)
    assert ops.erf(np.array([0.5]))[0] == pytest.approx(0.5204998778130465, 1e-15)


# ------------------------------------------------------- NumPy in, NumPy out
def _calls_without_tensors():
    a = np.array([[0.5, 1.5], [2.0, 0.25]])
    return {
        "add": lambda: ops.add(a, 1.0),
        "subtract": lambda: ops.subtract(a, a),
        "multiply": lambda: ops.multiply(a, 2),
        "divide": lambda: ops.divide(a, 2.0),
        "power": lambda: ops.power(a, 2),
        "matmul": lambda: ops.matmul(a, a),
        "maximum": lambda: ops.maximum(a, 1.0),
        "minimum": lambda: ops.minimum([1.0, 2.0], 1.5),
        "where": lambda: ops.where(a > 1, a, 0.0),
        "clip": lambda: ops.clip(a, 0.3, 1.0),
        "cast": lambda: ops.cast(a, "float32"),
        "argmax": lambda: ops.argmax(a),
        "argmin": lambda: ops.argmin(a, axis=0),
        **{name: (lambda f=f: f(a)) for name, (f, *_) in UNARY.items()},
        **{name: (lambda f=f: f(a, axis=0)) for name, (f, *_) in REDUCTIONS.items()},
        "sum_all": lambda: ops.sum(a),
    }


@pytest.mark.parametrize("name", sorted(_calls_without_tensors()))
def test_ops_without_tensors_return_numpy(name, xp):
    out = _calls_without_tensors()[name]()
    assert not isinstance(out, Tensor)
    assert isinstance(out, (xp.ndarray, xp.generic))


def test_python_numbers_give_numpy_scalars():
    out = ops.add(1.0, 2.0)
    assert isinstance(out, np.floating)
    assert out == 3.0
    assert isinstance(ops.multiply(2, 3), np.integer)


def test_cast_to_integer_records_no_graph():
    t = Tensor(np.array([1.7, -2.2]), requires_grad=True)
    out = ops.cast(t, "int64")
    assert out.dtype == np.int64 and not out.requires_grad
    assert out.tolist() == [1, -2]
    half = ops.cast(t, "float32")
    assert half.requires_grad
    half.sum().backward()
    assert t.grad.dtype == np.float64 and t.grad.tolist() == [1.0, 1.0]


def test_float64_default_gives_float64_tensors(float64):
    t = numdl.tensor([1.0, 2.0], requires_grad=True)
    assert t.dtype == np.float64
    ops.exp(t).sum().backward()
    assert t.grad.dtype == np.float64
