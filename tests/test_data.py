"""numdl.training.data: normalising, checking, splitting and batching data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import numdl
from numdl.training import data


def _arrays(n=10):
    x = np.arange(n * 2, dtype="float32").reshape(n, 2)
    return x, np.arange(n)


# ------------------------------------------------------------------ leaves
def test_inputs_are_flattened_cast_and_repacked():
    leaves, labels, pack = data.flatten_inputs(
        {"b": np.ones((2, 1)), "a": [[1], [2]]}, "fit"
    )
    assert labels == ["x['a']", "x['b']"]
    assert leaves[0].dtype == np.int64 and leaves[1].dtype == np.float32
    assert pack([1, 2]) == {"a": 1, "b": 2}
    leaves, labels, pack = data.flatten_inputs([np.ones(3), np.ones(3)], "fit")
    assert labels == ["x[0]", "x[1]"] and pack([1, 2]) == [1, 2]
    # a list of numbers is one input, not several
    leaves, labels, pack = data.flatten_inputs([[1.0, 2.0], [3.0, 4.0]], "fit")
    assert labels == ["x"] and leaves[0].shape == (2, 2) and pack([7]) == 7


def test_float32_data_is_not_copied_and_float64_follows_floatx():
    x = np.ones((4, 2), "float32")
    t = numdl.Tensor(x)
    assert data.to_array(x, "x", "fit") is x
    assert np.shares_memory(data.to_array(t, "x", "fit"), x)
    assert data.to_array(np.ones(3), "x", "fit").dtype == np.float32
    numdl.config.set_floatx("float64")
    assert data.to_array(x, "x", "fit").dtype == np.float64


def test_targets_per_output():
    names = ["a", "b"]
    y0, y1 = np.zeros(3), np.ones(3)
    assert data.per_output_targets([y0, y1], names, "y", "fit") == [y0, y1]
    assert data.per_output_targets({"b": y1, "a": y0}, names, "y", "fit") == [y0, y1]
    assert data.per_output_targets({"b": y1}, names, "y", "fit") == [None, y1]
    assert data.per_output_targets(y0, ["out"], "y", "fit") == [y0]
    assert data.per_output_targets({"k": y0}, ["out"], "y", "fit") == [y0]
    same = data.per_output_targets(y0, names, "sample_weight", "fit")
    assert same == [y0, y0]  # one weight array serves every output
    with pytest.raises(ValueError, match="y is a list of 3 arrays but the model"):
        data.per_output_targets([y0, y0, y0], names, "y", "fit")


# ------------------------------------------------------------------ checks
def test_lengths_and_finiteness():
    assert (
        data.check_lengths([np.zeros(3), None, np.zeros(3)], ["x", "y", "w"], "fit")
        == 3
    )
    with pytest.raises(
        ValueError, match="x and w have different numbers of samples: x has 3, w has 4"
    ):
        data.check_lengths([np.zeros(3), np.zeros(4)], ["x", "w"], "fit")
    data.check_finite(np.arange(3), "y", "fit")  # integers are always finite
    with pytest.raises(ValueError, match="y contains inf at index 2 "):
        data.check_finite(np.array([0.0, 1.0, np.inf, np.nan]), "y", "fit")


def test_class_weights_to_sample_weights():
    cw = {0: 0.5, 2: 4.0}
    sparse = data.class_weights_to_sample_weights(np.array([0, 1, 2, 2]), cw)
    np.testing.assert_array_equal(sparse, [0.5, 1.0, 4.0, 4.0])
    onehot = data.class_weights_to_sample_weights(np.eye(3)[[2, 0, 1]], cw)
    np.testing.assert_array_equal(onehot, [4.0, 0.5, 1.0])
    column = data.class_weights_to_sample_weights(np.array([[0.0], [2.0]]), cw)
    np.testing.assert_array_equal(column, [0.5, 4.0])


# ------------------------------------------------------------------ arrays
def test_batches_in_order_are_views():
    x, y = _arrays(10)
    d = data.ArrayData(x, y)
    d.set_outputs(["out"])
    batches = list(d.batches(4, shuffle=False))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    for b in batches:
        assert isinstance(b[0], numdl.Tensor) and np.shares_memory(b[0].data, d.x[0])
    np.testing.assert_array_equal(np.concatenate([b[1][0] for b in batches]), y)
    assert batches[0][2] is None and d.num_batches(4) == 3


def test_shuffling_follows_the_seed_and_keeps_pairs():
    x, y = _arrays(12)
    d = data.ArrayData(x, y, sample_weight=np.arange(12) * 10.0)
    d.set_outputs(["out"])

    def epoch():
        return [
            (b[0].data.copy(), b[1][0].copy(), b[2][0].copy())
            for b in d.batches(5, shuffle=True)
        ]

    numdl.set_random_seed(0)
    first, second = epoch(), epoch()
    numdl.set_random_seed(0)
    again = epoch()
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    order1 = np.concatenate([b[1] for b in first])
    order2 = np.concatenate([b[1] for b in second])
    assert sorted(order1) == list(range(12)) and not np.array_equal(order1, order2)
    assert not np.array_equal(order1, np.arange(12))
    for xb, yb, wb in first:  # rows stay with their labels and weights
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)
        np.testing.assert_array_equal(wb, 10 * yb)


def test_batch_shuffle_moves_whole_batches():
    x, y = _arrays(12)
    d = data.ArrayData(x, y)
    d.set_outputs(["out"])
    numdl.set_random_seed(1)
    chunks = [b[1][0].tolist() for b in d.batches(4, shuffle="batch")]
    assert sorted(chunks) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_split_takes_the_last_fraction():
    x, y = _arrays(10)
    train, val = data.ArrayData(x, {"out": y}).split(0.25)
    assert (train.n, val.n) == (7, 3)  # floor(10 * 0.75) = 7, as Keras
    val.set_outputs(["out"])
    np.testing.assert_array_equal(val.y[0], [7, 8, 9])
    np.testing.assert_array_equal(val.x[0], x[7:])


def test_class_weight_and_sample_weight_on_array_data():
    x, y = _arrays(4)
    d = data.ArrayData(x, y % 2)
    d.set_outputs(["out"], class_weight={1: 3.0})
    np.testing.assert_array_equal(d.sw[0], [1.0, 3.0, 1.0, 3.0])
    d = data.ArrayData(x, [y, y], sample_weight=np.ones(4))
    d.set_outputs(["a", "b"])
    assert len(d.sw) == 2


# --------------------------------------------------------------- iterables
def test_batch_sources():
    gen = (i for i in range(3))
    assert data.is_iterable_data(gen) and not data.is_iterable_data({"a": 1})

    class Sequence:  # like keras.utils.PyDataset: len and indexing
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.full((2, 1), float(i)), np.full(2, float(i))

    seq = data.IterableData(Sequence(), "fit")
    assert seq.reiterable and data.is_iterable_data(Sequence())
    seq.set_outputs(["out"])
    assert [b[1][0].tolist() for b in seq.batches()] == [[0.0, 0.0], [1.0, 1.0]]
    assert [b[1][0].tolist() for b in seq.batches()] == [[0.0, 0.0], [1.0, 1.0]]
    assert not data.IterableData(gen, "fit").reiterable


def test_unpack_batch_follows_keras():
    assert data.unpack_batch((1,)) == (1, None, None)
    assert data.unpack_batch((1, 2, 3)) == (1, 2, 3)
    assert data.unpack_batch([1, 2]) == ([1, 2], None, None)  # a list is x
    with pytest.raises(ValueError, match="tuple of length 4"):
        data.unpack_batch((1, 2, 3, 4))


def test_the_peeked_first_batch_is_not_lost():
    x, y = _arrays(6)
    gen = ((x[i : i + 2], y[i : i + 2]) for i in range(0, 6, 2))
    d = data.IterableData(gen, "fit")
    xb, yb = d.sample()
    assert xb.shape == (2, 2) and yb.tolist() == [0, 1]
    d.set_outputs(["out"])
    assert [b[1][0].tolist() for b in d.batches()] == [[0, 1], [2, 3], [4, 5]]


def test_epoch_iterator():
    full = data.EpochIterator(lambda: iter([1, 2, 3]), steps=None)
    assert [list(full.epoch()) for _ in range(2)] == [[1, 2, 3], [1, 2, 3]]
    short = data.EpochIterator(lambda: iter([1, 2, 3]), steps=2)
    with pytest.warns(UserWarning, match="ran out of data after 1 of 2 steps"):
        assert [list(short.epoch()) for _ in range(3)] == [[1, 2], [3], [1, 2]]
    source = iter([1, 2, 3])
    once = data.EpochIterator(lambda: source, steps=2, reiterable=False)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert list(once.epoch()) == [1, 2] and list(once.epoch()) == [3]
    assert once.exhausted


def test_input_batches_for_predict():
    x, _ = _arrays(10)
    batches, total = data.input_batches(
        data.make_data(x, None, None, "predict"), 4, steps=2
    )
    assert total == 2 and [len(b) for b in batches] == [4, 4]
    gen = data.make_data(iter([(x[:3],), (x[3:],)]), None, None, "predict")
    batches, total = data.input_batches(gen, 32, None)
    assert total is None and [len(b) for b in batches] == [3, 7]


def test_make_data_and_batch_size_errors():
    with pytest.raises(ValueError, match="predict: x is required, got None"):
        data.make_data(None, None, None, "predict")
    with pytest.raises(ValueError, match="could not be read as an array"):
        data.make_data([[1, 2], [3]], None, None, "fit")
    assert data.default_batch_size(None) == 32
    with pytest.raises(ValueError, match="positive integer, got True"):
        data.default_batch_size(True)


def test_shuffled_fit_never_copies_the_training_set():
    """Batches are gathered by index: peak traced memory of an epoch stays far
    below the inputs' size (a copy of x alone would trace 8 MB; the NaN check
    traces a 2 MB mask)."""
    import tracemalloc

    x = np.random.default_rng(0).random((20_000, 100), dtype=np.float32)
    y = np.zeros((20_000, 1), dtype=np.float32)
    model = numdl.Sequential([numdl.Input((100,)), numdl.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x[:100], y[:100], verbose=0)  # build and plan outside the trace
    tracemalloc.start()
    try:
        model.fit(x, y, batch_size=100, epochs=1, shuffle=True, verbose=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * x.nbytes, f"fit traced {peak} bytes for {x.nbytes} of inputs"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, data._FINITE_BLOCK, 3 * data._FINITE_BLOCK - 1])
def test_check_finite_finds_a_bad_value_in_any_block(bad, where):
    x = np.ones(3 * data._FINITE_BLOCK, dtype=np.float32).reshape(-1, 4)
    x.reshape(-1)[where] = bad
    with pytest.raises(ValueError, match=f"sample {where // 4}"):
        data.check_finite(x, "x", "fit")
    data.check_finite(np.ones_like(x), "x", "fit")  # all finite: no error


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_check_finite_accepts_large_finite_values_whose_sum_overflows(dtype):
    """The blocks' sums overflow to inf here; the values are finite."""
    x = np.full(3 * data._FINITE_BLOCK, np.finfo(dtype).max, dtype=dtype)
    x[::2] = np.finfo(dtype).min  # and sums of opposite infinities: NaN
    x[:4] = np.finfo(dtype).max
    data.check_finite(x.reshape(-1, 4), "x", "fit")
    x[-1] = np.nan
    with pytest.raises(ValueError, match=f"NaN at index .* {len(x) // 4 - 1}"):
        data.check_finite(x.reshape(-1, 4), "x", "fit")


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_check_finite_of_a_small_array_whose_sum_of_squares_overflows(dtype):
    """predict's check of a small array: the sum of squares overflows to inf
    for these finite values; the check then goes element by element."""
    numdl.config.set_floatx(dtype)  # (the conftest fixture puts it back)
    big = np.finfo(dtype).max
    x = np.array([[big, -big, 1.0], [0.5, big, -big]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no overflow warning either)
        assert data.checked_array(x, "predict") is x
        for bad, name in ((np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")):
            x[1, 2] = bad
            with pytest.raises(ValueError, match=rf"{name} at index \(1, 2\)"):
                data.checked_array(x, "predict")


def test_check_finite_sees_complex_and_strided_data():
    with pytest.raises(ValueError, match="NaN at index 1"):
        data.check_finite(np.array([1 + 1j, complex(0, np.nan)]), "x", "fit")
    x = np.ones((4, 6))
    x[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"inf at index \(2, 0\)"):
        data.check_finite(x[:, 1::2], "x", "fit")
