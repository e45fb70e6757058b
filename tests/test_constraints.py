"""Constraints: Keras formulas slice by slice, dtypes, names and configs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import numdl
from numdl import constraints as cons

EPS = 1e-7
RNG = np.random.default_rng(0)


def _slices(shape, axis):
    """Index tuples selecting each slice that a norm along ``axis`` covers."""
    axes = {a % len(shape) for a in ([axis] if isinstance(axis, int) else axis)}
    kept = [d for d in range(len(shape)) if d not in axes]
    for idx in itertools.product(*(range(shape[d]) for d in kept)):
        index = [slice(None)] * len(shape)
        for d, i in zip(kept, idx):
            index[d] = i
        yield tuple(index)


def _reference(w, axis, desired_fn):
    out = np.empty_like(w)
    for index in _slices(w.shape, axis):
        norm = np.sqrt(np.sum(w[index] ** 2))
        out[index] = w[index] * desired_fn(norm) / (EPS + norm)
    return out


# Scales 0.2 .. 3 give slice norms below, inside and above the bounds.
CASES = [
    ((6, 5), 0),
    ((6, 5), 1),
    ((3, 3, 4, 5), [0, 1, 2]),
    ((4, 3, 5), -1),
]


def _weights(shape):
    w = RNG.normal(size=shape)
    return w * RNG.uniform(0.05, 1.5, size=shape[-1])


@pytest.mark.parametrize("shape, axis", CASES)
def test_max_norm(shape, axis):
    w = _weights(shape)
    got = cons.MaxNorm(max_value=1.3, axis=axis)(w)
    expected = _reference(w, axis, lambda n: min(n, 1.3))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    for index in _slices(shape, axis):
        assert np.linalg.norm(got[index]) <= 1.3


@pytest.mark.parametrize("shape, axis", CASES)
def test_unit_norm(shape, axis):
    w = _weights(shape)
    got = cons.UnitNorm(axis=axis)(w)
    np.testing.assert_allclose(got, _reference(w, axis, lambda n: 1.0), rtol=1e-12)
    for index in _slices(shape, axis):
        assert np.linalg.norm(got[index]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("rate", [1.0, 0.25])
@pytest.mark.parametrize("shape, axis", CASES)
def test_min_max_norm(shape, axis, rate):
    w = _weights(shape)
    got = cons.MinMaxNorm(0.8, 1.2, rate=rate, axis=axis)(w)

    def desired(n):
        return rate * min(max(n, 0.8), 1.2) + (1 - rate) * n

    np.testing.assert_allclose(got, _reference(w, axis, desired), rtol=1e-12)


def test_max_norm_keeps_small_slices_up_to_epsilon():
    w = np.array([[0.3], [0.4]])  # norm 0.5 < 2: only the Keras epsilon shrink
    np.testing.assert_allclose(cons.MaxNorm()(w), w * 0.5 / (0.5 + EPS), rtol=1e-15)


def test_zero_slices_stay_zero():
    w = np.zeros((3, 2))
    for c in [cons.MaxNorm(), cons.UnitNorm(), cons.MinMaxNorm(1.0, 2.0)]:
        out = c(w)
        assert (out == 0).all() and np.isfinite(out).all()


def test_non_neg():
    w = RNG.normal(size=(4, 5))
    np.testing.assert_array_equal(cons.NonNeg()(w), np.where(w < 0, 0.0, w))


@pytest.mark.parametrize(
    "c", [cons.MaxNorm(1.0), cons.NonNeg(), cons.UnitNorm(), cons.MinMaxNorm()]
)
def test_dtypes_inputs_and_no_mutation(c):
    w = RNG.normal(size=(3, 4)).astype(np.float32)
    before = w.copy()
    out = c(w)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(w, before)  # a new array, input untouched
    expected = c(w.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(c(w.tolist()), expected, rtol=1e-6)
    np.testing.assert_array_equal(c(numdl.tensor(w)), out)
    assert c(np.array([[1, -2], [3, 4]])).dtype == np.float32  # ints -> floatx


# ------------------------------------------------------- names, configs
@pytest.mark.parametrize(
    "name, cls",
    [
        ("max_norm", cons.MaxNorm),
        ("MaxNorm", cons.MaxNorm),
        ("non_neg", cons.NonNeg),
        ("NonNeg", cons.NonNeg),
        ("unit_norm", cons.UnitNorm),
        ("UnitNorm", cons.UnitNorm),
        ("min_max_norm", cons.MinMaxNorm),
        ("MinMaxNorm", cons.MinMaxNorm),
    ],
)
def test_names(name, cls):
    assert type(cons.get(name)) is cls


def test_defaults_are_keras():
    assert cons.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert cons.UnitNorm().get_config() == {"axis": 0}
    assert cons.MinMaxNorm().get_config() == {
        "min_value": 0.0,
        "max_value": 1.0,
        "rate": 1.0,
        "axis": 0,
    }


@pytest.mark.parametrize(
    "obj",
    [
        cons.MaxNorm(3.0, axis=[0, 1, 2]),
        cons.NonNeg(),
        cons.UnitNorm(axis=1),
        cons.MinMaxNorm(0.5, 2.0, 0.3, axis=-1),
    ],
    ids=repr,
)
def test_serialize_round_trip(obj):
    config = json.loads(json.dumps(cons.serialize(obj)))
    back = cons.deserialize(config)
    assert type(back) is type(obj) and back.get_config() == obj.get_config()
    w = RNG.normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(back(w), obj(w))


def test_get_pass_through_and_errors():
    c = cons.UnitNorm()
    assert cons.get(c) is c and cons.get(None) is None
    assert type(cons.get(cons.NonNeg)) is cons.NonNeg

    def clip_one(w):
        return np.clip(w, -1, 1)

    assert cons.get(clip_one) is clip_one and cons.serialize(clip_one) == "clip_one"
    with pytest.raises(ValueError, match="Unknown constraint 'maxnorm'") as err:
        cons.get("maxnorm")
    assert "max_norm" in str(err.value) and "non_neg" in str(err.value)
    with pytest.raises(ValueError, match="could not interpret"):
        cons.get(2)
    with pytest.raises(ValueError, match="could not interpret"):
        cons.deserialize({"config": {}})
