"""Pooling ops: max_pool and average_pool against torch.nn.functional (1-3
spatial axes, both layouts, valid and same padding, forward and gradients),
PyTorch's rule for tied maxima, the same-padding divisor, finite differences,
output sizes (Keras's formulas) and errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from numdl.autograd.tensor import Tensor
from numdl.ops.pool import average_pool, avg_pool, max_pool, pool_geometry
from numdl.testing import assert_torch_parity, check_grad

OPS = {"max": max_pool, "avg": average_pool}
TORCH = {
    ("max", 1): F.max_pool1d,
    ("max", 2): F.max_pool2d,
    ("max", 3): F.max_pool3d,
    ("avg", 1): F.avg_pool1d,
    ("avg", 2): F.avg_pool2d,
    ("avg", 3): F.avg_pool3d,
}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny torch references: one thread (a thread pool only contends with the
    other processes on a small machine; results are identical)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _same_pads(sizes, pool, strides):
    """TensorFlow's 'same' padding, written out independently of numdl."""
    pads = []
    for n, k, s in zip(sizes, pool, strides):
        out = math.ceil(n / s)
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _torch_pool(kind, x, pool, strides, padding, channels_last):
    """The reference: torch pooling on channels-first data; 'same' padding by
    F.pad (-inf for max), the average divided by the real inputs per window."""
    nd = x.ndim - 2
    if channels_last:
        x = x.permute(0, nd + 1, *range(1, nd + 1))
    pool_fn = TORCH[kind, nd]
    if padding == "same":
        pads = _same_pads(x.shape[2:], pool, strides)
        flat = [p for pair in reversed(pads) for p in pair]  # F.pad: last axis first
        if kind == "max":
            out = pool_fn(F.pad(x, flat, value=-math.inf), pool, strides)
        else:
            ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
            real = pool_fn(F.pad(ones, flat), pool, strides)
            out = pool_fn(F.pad(x, flat), pool, strides) / real
    else:
        out = pool_fn(x, pool, strides)
    if channels_last:
        out = out.permute(0, *range(2, nd + 2), 1)
    return out


def _ours(kind, pool, strides, padding, data_format):
    def fn(x):
        return OPS[kind](x, pool, strides, padding, data_format)

    return fn


def _theirs(kind, pool, strides, padding, channels_last):
    def fn(x):
        return _torch_pool(kind, x, pool, strides, padding, channels_last)

    return fn


def _input(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _shape(nd, spatial, channels_last, batch=2, channels=3):
    if channels_last:
        return (batch, *spatial, channels)
    return (batch, channels, *spatial)


GRID = list(
    itertools.product(
        ["max", "avg"], [2, 3], [1, 2, 3], ["valid", "same"], [True, False]
    )
)


# ------------------------------------------------------------- torch parity
@pytest.mark.parametrize(("kind", "k", "s", "padding", "last"), GRID)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pool2d_matches_torch(kind, k, s, padding, last, dtype):
    # 7 rows (odd), 6 columns (even); batch of 1 as well as 2.
    fmt = "channels_last" if last else "channels_first"
    for batch in (1, 2):
        x = _input(_shape(2, (7, 6), last, batch), dtype, seed=k * 10 + s)
        assert_torch_parity(
            _ours(kind, k, s, padding, fmt),
            _theirs(kind, (k, k), (s, s), padding, last),
            x,
        )


@pytest.mark.parametrize(("kind", "k", "s", "padding", "last"), GRID)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pool1d_matches_torch(kind, k, s, padding, last, dtype):
    fmt = "channels_last" if last else "channels_first"
    for steps, batch in ((7, 2), (8, 1)):
        x = _input(_shape(1, (steps,), last, batch), dtype, seed=k + s)
        assert_torch_parity(
            _ours(kind, k, s, padding, fmt),
            _theirs(kind, (k,), (s,), padding, last),
            x,
        )


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_rectangular_pools_and_strides_match_torch(kind, padding):
    x = _input((2, 9, 8, 2), "float64", seed=3)
    assert_torch_parity(
        _ours(kind, (2, 3), (1, 2), padding, "channels_last"),
        _theirs(kind, (2, 3), (1, 2), padding, True),
        x,
    )
    assert_torch_parity(
        _ours(kind, (3, 2), (3, 1), padding, "channels_last"),
        _theirs(kind, (3, 2), (3, 1), padding, True),
        x,
    )


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pool3d_matches_torch(kind, padding):
    x = _input((2, 5, 4, 6, 2), "float64", seed=4)
    assert_torch_parity(
        _ours(kind, 2, (1, 2, 3), padding, "channels_last"),
        _theirs(kind, (2, 2, 2), (1, 2, 3), padding, True),
        x,
    )


INFERENCE_CASES = [  # (pool, strides, spatial sizes): 1-3 axes, overlaps, k=1
    (2, 2, (26, 26)),
    (3, 2, (7, 6)),
    (3, 1, (7, 6)),
    ((2, 3), (1, 2), (9, 8)),
    ((1, 2), (1, 2), (5, 6)),
    (3, 2, (9,)),
    (2, (1, 2, 3), (5, 4, 6)),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("pool", "strides", "spatial"), INFERENCE_CASES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("last", [True, False])
def test_forward_without_backward_matches_torch(
    kind, pool, strides, spatial, padding, last
):
    # Plain arrays record no backward: the window is reduced one spatial
    # axis at a time (no argmax kept), which must give the same numbers.
    nd = len(spatial)
    fmt = "channels_last" if last else "channels_first"
    x = _input(_shape(nd, spatial, last), "float64", seed=nd)
    x[0, ..., 0] = np.round(x[0, ..., 0])  # ties among the maxima
    ours = OPS[kind](x, pool, strides, padding, fmt)
    pools = (pool,) * nd if isinstance(pool, int) else pool
    steps = (strides,) * nd if isinstance(strides, int) else strides
    theirs = _torch_pool(kind, torch.tensor(x), pools, steps, padding, last).numpy()
    recorded = OPS[kind](Tensor(x, requires_grad=True), pool, strides, padding, fmt)
    if kind == "max":  # a maximum is exact, whatever the order
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(ours, recorded.data)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours, recorded.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [3, 5])
def test_symmetric_same_padding_is_torchs_own_padding(k):
    """Stride 1 and an odd pool pad (k - 1) / 2 on both sides: torch's own
    padding argument (with count_include_pad=False for the average) agrees."""
    x = _input((2, 3, 7, 6), "float64", seed=k)
    p = (k - 1) // 2
    assert_torch_parity(
        _ours("max", k, 1, "same", "channels_first"),
        lambda t: F.max_pool2d(t, k, 1, padding=p),
        x,
    )
    assert_torch_parity(
        _ours("avg", k, 1, "same", "channels_first"),
        lambda t: F.avg_pool2d(t, k, 1, padding=p, count_include_pad=False),
        x,
    )
    assert_torch_parity(
        _ours("avg", k, 1, "same", "channels_first"),
        lambda t: F.avg_pool1d(t, k, 1, padding=p, count_include_pad=False),
        x[:, :, 0],
    )


def test_same_average_divides_by_real_inputs():
    x = np.array([[[1.0], [2.0], [3.0], [4.0], [5.0]]])  # 5 steps
    # pool 2 stride 2 'same': 3 windows, padding (0, 1): [1, 2], [3, 4], [5, pad]
    out = average_pool(x, 2, 2, "same")
    np.testing.assert_array_equal(out[0, :, 0], [1.5, 3.5, 5.0])
    # pool 3 stride 1: padding (1, 1); the edge windows hold 2 real inputs
    out = average_pool(x, 3, 1, "same")
    np.testing.assert_allclose(out[0, :, 0], [1.5, 2.0, 3.0, 4.0, 4.5], rtol=1e-15)


# ------------------------------------------------------------------- ties
@pytest.mark.parametrize(("k", "s"), [(2, 2), (3, 1), (2, 1), (3, 2)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_tied_maxima_give_the_gradient_to_the_first_like_torch(k, s, padding):
    # Few distinct values: most windows hold tied maxima.
    rng = np.random.default_rng(k + s)
    x = rng.integers(0, 3, size=(2, 7, 6, 2)).astype("float64")
    x[0] = 1.0  # a sample where every window is one tie
    assert_torch_parity(
        _ours("max", k, s, padding, "channels_last"),
        _theirs("max", (k, k), (s, s), padding, True),
        x,
    )
    t = Tensor(x, requires_grad=True)
    max_pool(t, k, s, padding).sum().backward()
    # Each window gives its whole gradient to exactly one input.
    assert t.grad.sum() == math.prod(max_pool(x, k, s, padding).shape)


def test_tie_goes_to_the_first_position_in_row_major_order():
    x = np.zeros((1, 2, 2, 1))
    t = Tensor(x, requires_grad=True)
    max_pool(t, 2).sum().backward()
    np.testing.assert_array_equal(t.grad[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])


# --------------------------------------------------------- finite differences
def _distinct(shape, seed):
    """Values at least 0.05 apart: no ties, and no maximum changes within eps."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(math.prod(shape)) * 0.05 - 1.0).reshape(shape)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("k", "s", "padding"), [(2, 2, "valid"), (3, 2, "same")])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_gradients_match_finite_differences(kind, k, s, padding, fmt):
    x2 = _distinct((2, 5, 4, 2), seed=k)
    assert max(check_grad(_ours(kind, k, s, padding, fmt), x2)) < 1e-8
    x1 = _distinct((2, 5, 3), seed=s)
    assert max(check_grad(_ours(kind, k, s, padding, fmt), x1)) < 1e-8


def test_overlapping_windows_accumulate_gradients(float64):
    x = _distinct((1, 6, 6, 1), seed=5)
    for kind in ("max", "avg"):
        assert max(check_grad(_ours(kind, 3, 1, "valid", None), x)) < 1e-8


# --------------------------------------------------------------- shapes
@pytest.mark.parametrize("n", [1, 2, 5, 6, 7, 28])
@pytest.mark.parametrize(("k", "s"), [(1, 1), (2, 1), (2, 2), (3, 2), (3, 3)])
def test_output_sizes_follow_keras_formulas(n, k, s):
    x = np.zeros((1, n, n, 1), "float32")
    same = max_pool(x, k, s, "same")
    assert same.shape == (1, (n - 1) // s + 1, (n - 1) // s + 1, 1)
    if n >= k:
        valid = average_pool(x, k, s, "valid")
        assert valid.shape == (1, (n - k) // s + 1, (n - k) // s + 1, 1)
    assert pool_geometry(x.shape, k, s, "same").out_shape == same.shape


def test_strides_default_to_pool_size_and_padding_is_case_insensitive():
    x = _input((2, 8, 6, 3), "float32")
    np.testing.assert_array_equal(max_pool(x, 2), max_pool(x, 2, 2))
    np.testing.assert_array_equal(max_pool(x, 2, padding="SAME"), max_pool(x, 2))
    assert max_pool(x, (2, 3)).shape == (2, 4, 2, 3)


def test_data_format_none_is_channels_last_and_layouts_agree():
    x = _input((2, 7, 6, 3), "float64")
    cf = np.transpose(x, (0, 3, 1, 2))
    for op in (max_pool, average_pool):
        last = op(x, 3, 2, "same")
        first = op(cf, 3, 2, "same", "channels_first")
        np.testing.assert_array_equal(np.transpose(first, (0, 2, 3, 1)), last)


def test_numpy_in_numpy_out_and_types():
    x = _input((1, 4, 4, 2), "float32")
    out = max_pool(x, 2)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert average_pool(x.astype("float64"), 2).dtype == np.float64
    ints = np.arange(16).reshape(1, 4, 4, 1)
    assert max_pool(ints, 2).dtype == np.float32
    t = max_pool(Tensor(x, requires_grad=True), 2)
    assert isinstance(t, Tensor) and t.dtype == np.float32 and t.requires_grad
    assert avg_pool is average_pool


def test_inputs_are_not_modified_and_gradient_is_writeable():
    x = _input((2, 7, 7, 2), "float32")
    keep = x.copy()
    t = Tensor(x, requires_grad=True)
    max_pool(t, 3, 2, "same").sum().backward()
    average_pool(t, 2, 1, "same").sum().backward()
    np.testing.assert_array_equal(x, keep)
    assert t.grad.flags.writeable and t.grad.shape == x.shape


def test_empty_batch():
    x = np.zeros((0, 4, 4, 2), "float32")
    assert max_pool(x, 2).shape == (0, 2, 2, 2)
    assert average_pool(x, 3, 1, "same").shape == (0, 4, 4, 2)


def test_extreme_values_stay_finite_or_exact():
    x = np.array([[[1e4], [-1e4], [np.inf], [-3.0], [5e-324]]])
    expected = [1e4, np.inf, np.inf, 5e-324]
    np.testing.assert_array_equal(max_pool(x, 2, 1)[0, :, 0], expected)
    tail = max_pool(x[:, 3:], 2, 1, "same")[0, :, 0]  # padding never wins
    np.testing.assert_array_equal(tail, [5e-324, 5e-324])
    np.testing.assert_array_equal(average_pool(x[:, :2], 2)[0, :, 0], [0.0])
    t = Tensor(x, requires_grad=True)
    max_pool(t, 2, 1).sum().backward()
    np.testing.assert_array_equal(t.grad[0, :, 0], [1, 0, 2, 0, 1])


def test_nan_propagates_like_torch():
    x = np.array([[[1.0], [np.nan], [0.5], [2.0]]])
    ours = max_pool(x, 2)[0, :, 0]
    theirs = F.max_pool1d(torch.tensor(x).permute(0, 2, 1), 2)[0, 0].numpy()
    np.testing.assert_array_equal(ours, theirs)  # [nan, 2.0]
    assert np.isnan(average_pool(x, 2)[0, 0, 0])


# ------------------------------------------------------------------ errors
def test_pool_larger_than_input_names_both_sizes():
    x = np.zeros((1, 3, 5, 2), "float32")
    with pytest.raises(ValueError, match=r"max_pool: pool_size \(4, 4\).*\(3, 5\)"):
        max_pool(x, 4)
    assert max_pool(x, 4, padding="same").shape == (1, 1, 2, 2)


@pytest.mark.parametrize("shape", [(4,), (2, 4), (1, 2, 2, 2, 2, 2)])
def test_wrong_rank_names_the_op_and_shape(shape):
    with pytest.raises(ValueError, match=r"average_pool: expected inputs with 3, 4"):
        average_pool(np.zeros(shape), 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pool_size": 0}, "pool_size must be a positive integer"),
        ({"pool_size": (2, 2, 2)}, "tuple of 2 positive integers"),
        ({"pool_size": 2.5}, "pool_size"),
        ({"pool_size": True}, "pool_size"),
        ({"pool_size": 2, "strides": 0}, "strides"),
        ({"pool_size": 2, "strides": (1,)}, "strides"),
        ({"pool_size": 2, "padding": "full"}, "padding must be 'valid' or 'same'"),
        ({"pool_size": 2, "data_format": "nhwc"}, "max_pool: data_format must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        max_pool(np.zeros((1, 4, 4, 1)), **kwargs)
