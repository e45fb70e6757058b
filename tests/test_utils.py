"""Utils: to_categorical, normalize, set_random_seed, clear_session, split_dataset."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numdl
from numdl import initializers
from numdl.layers.base import unique_name
from numdl.testing import assert_torch_parity, check_grad
from numdl.utils import (
    clear_session,
    normalize,
    set_random_seed,
    split_dataset,
    to_categorical,
)

RNG = np.random.default_rng(0)


# ------------------------------------------------------------ to_categorical
@pytest.mark.parametrize(
    "shape, out_shape",
    [((7,), (7, 5)), ((7, 1), (7, 5)), ((3, 4), (3, 4, 5)), ((2, 3, 1), (2, 3, 5))],
)
def test_to_categorical_matches_torch_one_hot(shape, out_shape):
    labels = RNG.integers(0, 5, size=shape)
    out = to_categorical(labels, num_classes=5)
    assert out.shape == out_shape and out.dtype == np.float32
    expected = F.one_hot(torch.tensor(labels.reshape(out_shape[:-1])), 5).numpy()
    np.testing.assert_array_equal(out, expected)


def test_to_categorical_inference_inputs_and_dtype(float64):
    out = to_categorical([2, 0])
    assert out.dtype == np.float64  # floatx
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(
        to_categorical(np.array([1.0, 3.0]), 4)[1], [0, 0, 0, 1]
    )
    np.testing.assert_array_equal(
        to_categorical(numdl.tensor([1, 0]), 2), np.eye(2)[::-1]
    )
    np.testing.assert_array_equal(to_categorical(2, 3), [0, 0, 1])  # a scalar label
    assert to_categorical(np.zeros(0, dtype=int), 3).shape == (0, 3)


@pytest.mark.parametrize(
    "labels, num_classes, match",
    [
        ([0, 3], 3, r"labels must be in \[0, 3\), got 3 at flat index 1"),
        ([[0], [-1]], None, r"labels must be in \[0, 1\), got -1 at flat index 1"),
        ([0.0, 1.5], None, "expected integer class labels, got 1.5 at flat index 1"),
        ([np.nan], 2, "expected integer class labels, got nan"),
        (["a"], 2, "expected integer class labels, got dtype"),
        ([], None, "cannot infer num_classes from empty labels"),
        ([1], 2.5, "num_classes must be a positive int"),
    ],
)
def test_to_categorical_errors(labels, num_classes, match):
    with pytest.raises(ValueError, match=match):
        to_categorical(labels, num_classes)


# ------------------------------------------------------------------ normalize
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("order", [1, 2, 3, np.inf])
def test_normalize_arrays(axis, order):
    x = RNG.normal(size=(4, 5))
    x[1] = 0.0  # a zero row stays zero
    norms = np.apply_along_axis(lambda v: np.linalg.norm(v, order), axis, x)
    norms = np.expand_dims(np.where(norms == 0, 1.0, norms), axis)
    np.testing.assert_allclose(normalize(x, axis, order), x / norms, rtol=1e-14)


def test_normalize_default_is_l2_over_last_axis_and_keeps_dtype():
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    out = normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, rtol=1e-6)
    assert normalize([[3, 4]]).dtype == np.float32  # ints -> floatx
    np.testing.assert_allclose(normalize([[3, 4]]), [[0.6, 0.8]], rtol=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis, order", [(-1, 2), (0, 2), (1, 1), (-1, 3)])
def test_normalize_tensor_torch_parity(axis, order, dtype):
    x = RNG.normal(size=(4, 5)).astype(dtype)

    def ours(t):
        return normalize(t, axis=axis, order=order)

    def theirs(t):
        return F.normalize(t, p=order, dim=axis, eps=1e-7)

    assert_torch_parity(ours, theirs, x)
    assert check_grad(ours, x.astype(np.float64))[0] < 1e-8


def test_normalize_tensor_zero_row_and_order_error():
    t = numdl.tensor(np.zeros((2, 3)), dtype="float64")
    assert (normalize(t).data == 0).all()
    with pytest.raises(ValueError, match="order must be an int >= 1 for a Tensor"):
        normalize(t, order=np.inf)


# ------------------------------------------------------------ set_random_seed
def test_set_random_seed_repeats_every_generator():
    def draws():
        return (
            numdl.config.rng().random(),
            random.random(),
            np.random.rand(),
            initializers.GlorotUniform()((3, 2)).tolist(),
        )

    set_random_seed(1234)
    first = draws()
    set_random_seed(1234)
    assert draws() == first
    set_random_seed(1235)
    assert draws() != first


@pytest.mark.parametrize("seed", [-1, 2**32, 1.0, "1", True])
def test_set_random_seed_errors(seed):
    with pytest.raises(ValueError, match="set_random_seed: seed must be"):
        set_random_seed(seed)


# -------------------------------------------------------------- clear_session
def test_clear_session_restarts_layer_names():
    clear_session()
    assert unique_name("probe") == "probe"
    assert unique_name("probe") == "probe_1"
    clear_session()
    assert unique_name("probe") == "probe"


# -------------------------------------------------------------- split_dataset
X = np.arange(20).reshape(10, 2)
Y = np.arange(10) * 10


@pytest.mark.parametrize(
    "left_size, right_size, n_left, n_right",
    [
        (0.8, None, 8, 2),
        (None, 0.3, 7, 3),
        (6, None, 6, 4),
        (None, 1, 9, 1),
        (0.2, 0.3, 2, 3),  # left from the start, right from the end
        (4, 0.5, 4, 5),
        (0.25, None, 2, 8),  # round(2.5) == 2, Python's rounding as Keras
        (0.35, None, 4, 6),  # round(3.5) == 4
    ],
)
def test_split_sizes(left_size, right_size, n_left, n_right):
    left, right = split_dataset(X, left_size, right_size)
    np.testing.assert_array_equal(left, X[:n_left])
    np.testing.assert_array_equal(right, X[10 - n_right :])


def test_split_keeps_structure_and_alignment():
    (xl, yl), (xr, yr) = split_dataset((X, Y), left_size=0.6, shuffle=True, seed=3)
    assert xl.shape == (6, 2) and yr.shape == (4,)
    both = np.concatenate([yl, yr])
    assert sorted(both.tolist()) == Y.tolist()  # a permutation, nothing lost
    assert both.tolist() != Y.tolist()  # shuffled
    for x, y in ((xl, yl), (xr, yr)):
        np.testing.assert_array_equal(x[:, 0], y // 5)  # rows stay paired
    left, right = split_dataset({"a": X, "b": [Y, Y]}, right_size=2)
    assert set(left) == {"a", "b"} and isinstance(left["b"], tuple)
    np.testing.assert_array_equal(right["b"][1], Y[8:])
    left, _ = split_dataset([numdl.tensor(X), Y], left_size=3)
    assert isinstance(left, tuple) and isinstance(left[0], np.ndarray)
    np.testing.assert_array_equal(left[0], X[:3])


def test_split_shuffle_is_reproducible():
    a = split_dataset(Y, 0.5, shuffle=True, seed=7)
    b = split_dataset(Y, 0.5, shuffle=True, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    numdl.config.set_random_seed(5)
    c = split_dataset(Y, 0.5, shuffle=True)
    numdl.config.set_random_seed(5)
    np.testing.assert_array_equal(c[0], split_dataset(Y, 0.5, shuffle=True)[0])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({}, ValueError, "at least one of left_size and right_size"),
        ({"left_size": "half"}, TypeError, "left_size must be an int, a float"),
        ({"right_size": True}, TypeError, "right_size must be an int, a float"),
        ({"left_size": 0}, ValueError, r"left_size must be an int in \(0, 10\)"),
        ({"left_size": 10}, ValueError, r"left_size must be an int in \(0, 10\)"),
        ({"right_size": 1.0}, ValueError, r"right_size must be a float in \(0, 1\)"),
        ({"left_size": 0.7, "right_size": 0.6}, ValueError, "at most 1"),
        ({"left_size": 7, "right_size": 4}, ValueError, "11 samples is more than"),
        ({"left_size": 0.01}, ValueError, "leave the left part empty"),
    ],
)
def test_split_size_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        split_dataset(X, **kwargs)


def test_split_data_errors():
    with pytest.raises(ValueError, match="same length, got 10 for array 0 and 9"):
        split_dataset((X, Y[:9]), 0.5)
    with pytest.raises(ValueError, match="expected arrays with a sample axis"):
        split_dataset([1, 2, 3], 0.5)
    with pytest.raises(ValueError, match="holds no arrays"):
        split_dataset((), 0.5)
