"""numdl.ops shape ops: finite differences (float64) and parity with PyTorch.

Each test draws shapes with hypothesis (size-1 and empty axes included), runs
the op and its torch equivalent on the same arrays (forward and gradient, in
float64 and float32), and checks the float64 gradient by central differences.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numdl import ops
from numdl.autograd.tensor import Tensor
from numdl.testing import assert_torch_parity, check_grad

SETTINGS = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**32 - 1)
float_types = st.sampled_from([np.float64, np.float32])
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
GRAD_TOL = 1e-6


def check(ours, ref, *arrays, dtype=np.float64):
    """Torch parity in ``dtype`` and, in float64, central differences."""
    assert_torch_parity(ours, ref, *(a.astype(dtype) for a in arrays))
    if dtype == np.float64:
        assert max(check_grad(ours, *arrays)) < GRAD_TOL


def data(seed, *shapes_):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in shapes_]


# ----------------------------------------------------------- reshape family
@st.composite
def reshape_args(draw):
    shape = draw(shapes)
    target = list(draw(st.permutations(list(shape)))) if shape else []
    if target and np.prod(shape) > 0 and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, tuple(target)


@SETTINGS
@given(args=reshape_args(), dtype=float_types, seed=seeds)
def test_reshape(args, dtype, seed):
    shape, target = args
    (x,) = data(seed, shape)
    check(lambda t: ops.reshape(t, target), lambda t: t.reshape(target), x, dtype=dtype)


@st.composite
def transpose_args(draw):
    shape = draw(shapes)
    axes = draw(st.none() | st.permutations(range(len(shape))).map(tuple))
    return shape, axes


@SETTINGS
@given(args=transpose_args(), dtype=float_types, seed=seeds)
def test_transpose(args, dtype, seed):
    shape, axes = args
    (x,) = data(seed, shape)
    perm = tuple(reversed(range(len(shape)))) if axes is None else axes
    check(lambda t: ops.transpose(t, axes), lambda t: t.permute(perm), x, dtype=dtype)


@SETTINGS
@given(shape=shapes, dtype=float_types, seed=seeds, data_=st.data())
def test_expand_dims(shape, dtype, seed, data_):
    axis = data_.draw(st.integers(-len(shape) - 1, len(shape)))
    (x,) = data(seed, shape)
    check(
        lambda t: ops.expand_dims(t, axis),
        lambda t: torch.unsqueeze(t, axis),
        x,
        dtype=dtype,
    )


@SETTINGS
@given(
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=2),
    dtype=float_types,
    seed=seeds,
    data_=st.data(),
)
def test_squeeze(shape, dtype, seed, data_):
    ones = [i for i, n in enumerate(shape) if n == 1]
    axis = data_.draw(st.none() | st.sampled_from(ones)) if ones else None
    (x,) = data(seed, shape)
    check(
        lambda t: ops.squeeze(t, axis),
        lambda t: torch.squeeze(t) if axis is None else torch.squeeze(t, axis),
        x,
        dtype=dtype,
    )


def test_squeeze_of_a_longer_axis_is_an_error():
    with pytest.raises(ValueError, match="axis 1 has size 3, expected 1"):
        ops.squeeze(np.zeros((1, 3)), 1)


@SETTINGS
@given(shape=shapes, dtype=float_types, seed=seeds, data_=st.data())
def test_flatten(shape, dtype, seed, data_):
    start = data_.draw(st.integers(0, max(len(shape) - 1, 0)))
    (x,) = data(seed, shape)
    check(
        lambda t: ops.flatten(t, start),
        lambda t: torch.flatten(t, start),
        x,
        dtype=dtype,
    )


# ------------------------------------------------------ joining and splitting
@st.composite
def concatenate_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    pieces = []
    for n in sizes:
        s = list(shape)
        s[axis] = n
        pieces.append(tuple(s))
    return pieces, axis


@SETTINGS
@given(args=concatenate_args(), dtype=float_types, seed=seeds)
def test_concatenate(args, dtype, seed):
    piece_shapes, axis = args
    arrays = data(seed, *piece_shapes)
    check(
        lambda *ts: ops.concatenate(list(ts), axis=axis),
        lambda *ts: torch.cat(ts, dim=axis),
        *arrays,
        dtype=dtype,
    )


@SETTINGS
@given(
    shape=shapes, count=st.integers(1, 3), dtype=float_types, seed=seeds, d=st.data()
)
def test_stack(shape, count, dtype, seed, d):
    axis = d.draw(st.integers(-len(shape) - 1, len(shape)))
    arrays = data(seed, *[shape] * count)
    check(
        lambda *ts: ops.stack(list(ts), axis=axis),
        lambda *ts: torch.stack(ts, dim=axis),
        *arrays,
        dtype=dtype,
    )


@st.composite
def split_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    sections = [k for k in range(1, 4) if n % k == 0]
    how = draw(
        st.sampled_from(sections).map(int)
        | st.lists(st.integers(0, n + 1), max_size=3)  # numpy: any order, clamped
    )
    return shape, how, axis


# An empty input (drawn now and then) makes PyTorch's reference backward warn
# about its own gradient layout; numdl's side is unaffected.
@pytest.mark.filterwarnings("ignore:grad and param do not obey:UserWarning")
@SETTINGS
@given(args=split_args(), dtype=float_types, seed=seeds)
def test_split(args, dtype, seed):
    shape, how, axis = args
    (x,) = data(seed, shape)
    check(
        lambda t: ops.split(t, how, axis=axis),
        lambda t: torch.tensor_split(t, how, dim=axis),
        x,
        dtype=dtype,
    )
    expected = np.split(x, how, axis=axis)
    assert [p.shape for p in ops.split(x, how, axis=axis)] == [
        e.shape for e in expected
    ]


def test_split_into_unequal_sections_is_an_error():
    with pytest.raises(ValueError, match="size 5 cannot be split into 2 equal"):
        ops.split(np.zeros(5), 2)


# ------------------------------------------------------------ pad, tile, repeat
@st.composite
def pad_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    width = [
        (draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(len(shape))
    ]
    return shape, width, draw(st.sampled_from([0.0, -1.5]))


@SETTINGS
@given(args=pad_args(), dtype=float_types, seed=seeds)
def test_pad(args, dtype, seed):
    shape, width, value = args
    (x,) = data(seed, shape)
    flat = [v for pair in reversed(width) for v in pair]  # torch: last axis first
    check(
        lambda t: ops.pad(t, width, constant_values=value),
        lambda t: F.pad(t, flat, value=value),
        x,
        dtype=dtype,
    )


@pytest.mark.parametrize("width", [1, (1, 2), ((0, 1),), ((2, 0), (1, 1))])
def test_pad_accepts_numpy_width_forms(width):
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(ops.pad(x, width), np.pad(x, width))
    assert check_grad(lambda t: ops.pad(t, width), x)[0] < GRAD_TOL


@SETTINGS
@given(
    shape=shapes,
    reps=st.lists(st.integers(0, 2), min_size=1, max_size=4).map(tuple),
    dtype=float_types,
    seed=seeds,
)
def test_tile(shape, reps, dtype, seed):
    (x,) = data(seed, shape)
    check(lambda t: ops.tile(t, reps), lambda t: torch.tile(t, reps), x, dtype=dtype)


@st.composite
def repeat_args(draw):
    shape = draw(shapes)
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1)) if shape else None
    n = int(np.prod(shape)) if axis is None else shape[axis]
    repeats = draw(
        st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=n, max_size=n)
    )
    return shape, repeats, axis


@SETTINGS
@given(args=repeat_args(), dtype=float_types, seed=seeds)
def test_repeat(args, dtype, seed):
    """Per-element counts, zeros included (an element repeated 0 times)."""
    shape, repeats, axis = args
    (x,) = data(seed, shape)
    counts = repeats if isinstance(repeats, int) else torch.tensor(repeats, dtype=int)
    check(
        lambda t: ops.repeat(t, repeats, axis=axis),
        lambda t: torch.repeat_interleave(t, counts, dim=axis),
        x,
        dtype=dtype,
    )


# ------------------------------------------------------------------- getitem
@st.composite
def basic_index(draw, shape):
    parts = []
    for n in shape:
        kind = draw(st.sampled_from(["slice", "int", "all"] if n else ["slice", "all"]))
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = draw(st.none() | st.integers(-n - 1, n + 1))
            stop = draw(st.none() | st.integers(-n - 1, n + 1))
            parts.append(slice(start, stop, draw(st.integers(1, 3))))
        else:
            parts.append(slice(None))
    if parts and draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), None)
    return tuple(parts)


@SETTINGS
@given(shape=shapes, dtype=float_types, seed=seeds, d=st.data())
def test_getitem_basic(shape, dtype, seed, d):
    index = d.draw(basic_index(shape))
    (x,) = data(seed, shape)
    check(lambda t: ops.getitem(t, index), lambda t: t[index], x, dtype=dtype)


@SETTINGS
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
    dtype=float_types,
    seed=seeds,
    d=st.data(),
)
def test_getitem_integer_array_accumulates_repeated_indices(shape, dtype, seed, d):
    n = shape[0]
    idx = np.array(d.draw(st.lists(st.integers(-n, n - 1), max_size=6)), dtype=np.int64)
    (x,) = data(seed, shape)
    check(
        lambda t: ops.getitem(t, idx),
        lambda t: t[torch.tensor(idx)],
        x,
        dtype=dtype,
    )


@SETTINGS
@given(
    shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4),
    dtype=float_types,
    seed=seeds,
    d=st.data(),
)
def test_getitem_mixed_advanced_index(shape, dtype, seed, d):
    """x[i, j] with broadcast integer arrays and x[:, i] with a slice."""
    rows = np.array(d.draw(st.lists(st.integers(0, shape[0] - 1), max_size=4)), int)
    cols = np.array(d.draw(st.lists(st.integers(0, shape[1] - 1), max_size=4)), int)
    assume(len(rows) == len(cols) or len(cols) == 1)
    (x,) = data(seed, shape)
    check(
        lambda t: ops.getitem(t, (rows, cols)),
        lambda t: t[torch.tensor(rows), torch.tensor(cols)],
        x,
        dtype=dtype,
    )
    check(
        lambda t: ops.getitem(t, (slice(None), cols)),
        lambda t: t[:, torch.tensor(cols)],
        x,
        dtype=dtype,
    )


@SETTINGS
@given(shape=shapes, dtype=float_types, seed=seeds)
def test_getitem_boolean_mask(shape, dtype, seed):
    (x,) = data(seed, shape)
    mask = np.random.default_rng(seed + 1).random(shape) < 0.5
    check(
        lambda t: ops.getitem(t, mask),
        lambda t: t[torch.tensor(mask)],
        x,
        dtype=dtype,
    )


def test_getitem_repeated_index_gradient_by_hand():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    out = x[[0, 2, 0, 0]]
    out.backward(np.array([1.0, 10.0, 100.0, 1000.0]))
    assert x.grad.tolist() == [1101.0, 0.0, 10.0]


def test_getitem_with_tensor_index():
    x = Tensor(np.arange(4.0), requires_grad=True)
    index = Tensor(np.array([3, 3]))
    out = x[index]
    assert out.tolist() == [3.0, 3.0]
    out.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 2.0]


# ------------------------------------------------------------------- one_hot
@SETTINGS
@given(
    shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4),
    classes=st.integers(1, 5),
    seed=seeds,
)
def test_one_hot_matches_torch(shape, classes, seed):
    idx = np.random.default_rng(seed).integers(0, classes, size=shape)
    expected = F.one_hot(torch.tensor(idx), classes).numpy()
    out = ops.one_hot(idx, classes)
    assert out.dtype == np.float32  # floatx, not torch's int64
    np.testing.assert_array_equal(out, expected)
    as_tensor = ops.one_hot(Tensor(idx), classes)
    assert isinstance(as_tensor, Tensor) and not as_tensor.requires_grad
    np.testing.assert_array_equal(as_tensor.data, expected)


def test_one_hot_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match="index 3 at flat position 1"):
        ops.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="must be integers"):
        ops.one_hot(np.array([0.5]), 3)


# ----------------------------------------------------- NumPy in, NumPy out
@pytest.mark.parametrize(
    "call",
    [
        lambda a: ops.reshape(a, (4,)),
        lambda a: ops.transpose(a),
        lambda a: ops.expand_dims(a, 0),
        lambda a: ops.squeeze(a[:1]),
        lambda a: ops.flatten(a),
        lambda a: ops.concatenate([a, a]),
        lambda a: ops.stack([a, a]),
        lambda a: ops.split(a, 2)[0],
        lambda a: ops.pad(a, 1),
        lambda a: ops.tile(a, 2),
        lambda a: ops.repeat(a, [1, 2], axis=0),
        lambda a: ops.getitem(a, [1, 1]),
        lambda a: ops.one_hot([0, 1], 2),
    ],
)
def test_shape_ops_without_tensors_return_numpy(call, xp):
    out = call(np.arange(4.0).reshape(2, 2))
    assert isinstance(out, xp.ndarray) and not isinstance(out, Tensor)


def test_shape_ops_keep_float32():
    t = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    out = ops.concatenate([t, np.zeros((1, 2))])  # a float64 constant joins
    assert out.dtype == np.float32
    out.sum().backward()
    assert t.grad.dtype == np.float32
