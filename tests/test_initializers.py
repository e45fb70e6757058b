"""Initializers: Keras formulas checked by the statistics of large draws."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import numdl
from numdl import initializers as init

TRUNC_STD = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]
BIG = (300, 400)  # 120,000 draws: std estimates good to about 0.2 %


def _check_std(x: np.ndarray, expected: float, rtol: float = 0.02) -> None:
    x = x.astype(np.float64)
    assert abs(x.mean()) < 5 * expected / math.sqrt(x.size)
    assert x.std() == pytest.approx(expected, rel=rtol)


def test_truncated_normal_std_constant():
    """The Keras constant is the std of a standard normal truncated at +-2."""
    phi = math.exp(-2.0) / math.sqrt(2 * math.pi)  # pdf at 2
    mass = math.erf(2 / math.sqrt(2))  # P(|z| < 2)
    assert math.sqrt(1 - 2 * 2 * phi / mass) == pytest.approx(TRUNC_STD, rel=1e-14)


# ------------------------------------------------------------------ fans
@pytest.mark.parametrize(
    "shape, fans",
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((784, 10), (784, 10)),
        ((5, 3, 8), (15, 40)),  # Conv1D (width, in, out)
        ((3, 3, 16, 32), (144, 288)),  # Conv2D (h, w, in, out)
        ((2, 3, 4, 5, 6), (120, 144)),  # Conv3D
    ],
)
def test_compute_fans(shape, fans):
    assert init.compute_fans(shape) == fans


# --------------------------------------------------------------- constants
def test_zeros_ones_constant_values_and_dtypes():
    assert init.Zeros()((2, 3)).dtype == np.float32
    assert not init.Zeros()((2, 3)).any()
    assert (init.Ones()((4,), dtype="float64") == 1).all()
    assert init.Ones()((4,), dtype="float64").dtype == np.float64
    assert init.Zeros()((3,), dtype="int32").dtype == np.int32
    c = init.Constant(2.5)((2, 2))
    assert c.dtype == np.float32 and (c == 2.5).all()
    row = init.Constant([1.0, 2.0, 3.0])((2, 3))
    np.testing.assert_array_equal(row, [[1, 2, 3], [1, 2, 3]])
    row[0, 0] = 9.0  # a fresh writeable array, not a broadcast view
    assert init.Constant([1.0, 2.0, 3.0])((2, 3))[0, 0] == 1.0


def test_floatx_is_the_default_dtype(float64):
    assert init.Ones()((2,)).dtype == np.float64
    assert init.GlorotUniform()((2, 2)).dtype == np.float64
    assert init.RandomNormal(seed=1)((2,)).dtype == np.float64


def test_identity():
    np.testing.assert_array_equal(init.Identity()((3, 3)), np.eye(3))
    np.testing.assert_array_equal(init.Identity(gain=0.5)((2, 4)), 0.5 * np.eye(2, 4))
    with pytest.raises(ValueError, match="Identity: can only initialize 2-D"):
        init.Identity()((2, 2, 2))


def test_constant_shape_mismatch_error():
    with pytest.raises(ValueError, match=r"Constant: value of shape \(2,\)"):
        init.Constant([1.0, 2.0])((3, 3))


# ---------------------------------------------------------- random basics
def test_random_normal_statistics():
    x = init.RandomNormal(mean=0.5, stddev=2.0, seed=1)(BIG, dtype="float64")
    assert x.mean() == pytest.approx(0.5, abs=5 * 2.0 / math.sqrt(x.size))
    assert x.std() == pytest.approx(2.0, rel=0.02)
    _check_std(init.RandomNormal(seed=2)(BIG), 0.05)  # Keras default stddev


def test_random_uniform_statistics():
    x = init.RandomUniform(minval=-1.0, maxval=3.0, seed=1)(BIG, dtype="float64")
    assert x.min() >= -1.0 and x.max() < 3.0
    assert x.min() < -0.99 and x.max() > 2.99  # fills the whole interval
    assert x.mean() == pytest.approx(1.0, abs=0.02)
    assert x.std() == pytest.approx(4.0 / math.sqrt(12), rel=0.02)
    d = init.RandomUniform(seed=3)(BIG)
    assert d.min() >= -0.05 and d.max() <= 0.05 and d.max() > 0.0499


def test_truncated_normal_statistics():
    x = init.TruncatedNormal(mean=1.0, stddev=0.5, seed=1)(BIG, dtype="float64")
    assert np.abs(x - 1.0).max() <= 2 * 0.5
    assert np.abs(x - 1.0).max() > 0.99  # reaches the bounds
    assert x.mean() == pytest.approx(1.0, abs=0.01)
    assert x.std() == pytest.approx(TRUNC_STD * 0.5, rel=0.02)


# ----------------------------------------------- variance scaling formulas
FAN_SHAPES = [(300, 200), (3, 3, 40, 60), (5, 80, 30)]


def _n(shape, mode):
    fan_in, fan_out = init.compute_fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[
        mode
    ]


@pytest.mark.parametrize("shape", FAN_SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize(
    "distribution", ["truncated_normal", "untruncated_normal", "uniform"]
)
def test_variance_scaling(shape, mode, distribution):
    scale = 1.7
    x = init.VarianceScaling(scale, mode, distribution, seed=5)(shape, "float64")
    assert x.shape == shape
    std = math.sqrt(scale / _n(shape, mode))
    _check_std(x, std)  # every distribution has variance scale / n
    if distribution == "uniform":
        assert np.abs(x).max() <= math.sqrt(3) * std
        assert np.abs(x).max() > 0.999 * math.sqrt(3) * std
    if distribution == "truncated_normal":
        assert np.abs(x).max() <= 2 * std / TRUNC_STD


def test_variance_scaling_fan_below_one_counts_as_one():
    x = init.VarianceScaling(4.0, "fan_in", "uniform", seed=0)((0, 5000))
    assert x.shape == (0, 5000)
    y = init.VarianceScaling(4.0, "fan_out", "uniform", seed=0)((2000, 1))
    assert np.abs(y).max() <= math.sqrt(3 * 4.0)  # n = max(1, 1)
    assert np.abs(y).max() > 0.99 * math.sqrt(3 * 4.0)


def test_variance_scaling_normal_means_truncated_normal():
    assert init.VarianceScaling(distribution="Normal").distribution == (
        "truncated_normal"
    )


# Each named initializer against its closed form, written out independently.
@pytest.mark.parametrize("shape", [(250, 350), (3, 3, 30, 50)])
@pytest.mark.parametrize(
    "cls, kind, limit_or_std",
    [
        (init.GlorotUniform, "uniform", lambda i, o: math.sqrt(6 / (i + o))),
        (init.GlorotNormal, "normal", lambda i, o: math.sqrt(2 / (i + o))),
        (init.HeUniform, "uniform", lambda i, o: math.sqrt(6 / i)),
        (init.HeNormal, "normal", lambda i, o: math.sqrt(2 / i)),
        (init.LecunUniform, "uniform", lambda i, o: math.sqrt(3 / i)),
        (init.LecunNormal, "normal", lambda i, o: math.sqrt(1 / i)),
    ],
)
def test_named_variance_initializers(shape, cls, kind, limit_or_std):
    receptive = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    value = limit_or_std(fan_in, fan_out)
    x = cls(seed=11)(shape, dtype="float64")
    if kind == "uniform":
        assert np.abs(x).max() <= value and np.abs(x).max() > 0.999 * value
        _check_std(x, value / math.sqrt(3))
    else:  # truncated at 2 * (value / TRUNC_STD); overall std = value
        assert np.abs(x).max() <= 2 * value / TRUNC_STD
        assert np.abs(x).max() > 0.99 * 2 * value / TRUNC_STD
        _check_std(x, value)


# ----------------------------------------------------------- orthogonal
@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (3, 3, 4, 8)])
def test_orthogonal(shape):
    q = init.Orthogonal(gain=1.5, seed=2)(shape, dtype="float64")
    assert q.shape == shape
    m = q.reshape(-1, shape[-1]) / 1.5
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_sign_convention_makes_r_diagonal_positive():
    """As Keras: Q is the QR factor of the normal draws with diag(R) > 0."""
    q = init.Orthogonal(seed=4)((7, 5), dtype="float64")
    a = np.random.default_rng(4).standard_normal((7, 5))
    r = q.T @ a  # R of a = QR
    np.testing.assert_allclose(np.tril(r, -1), 0.0, atol=1e-12)
    assert (np.diag(r) > 0).all()


def test_orthogonal_needs_two_dims():
    with pytest.raises(ValueError, match="Orthogonal: the shape must be at least 2-D"):
        init.Orthogonal()((5,))


# ----------------------------------------------------------- determinism
ALL_RANDOM = [
    init.RandomNormal,
    init.RandomUniform,
    init.TruncatedNormal,
    init.VarianceScaling,
    init.GlorotUniform,
    init.GlorotNormal,
    init.HeUniform,
    init.HeNormal,
    init.LecunUniform,
    init.LecunNormal,
    init.Orthogonal,
]


@pytest.mark.parametrize("cls", ALL_RANDOM)
def test_set_random_seed_reproduces_unseeded_draws(cls):
    numdl.config.set_random_seed(123)
    a, b = cls()((5, 4)), cls()((5, 4))
    numdl.config.set_random_seed(123)
    c, d = cls()((5, 4)), cls()((5, 4))
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, d)
    assert not np.array_equal(a, b)  # fresh values on each call


@pytest.mark.parametrize("cls", ALL_RANDOM)
def test_int_seed_gives_same_values_every_call(cls):
    numdl.config.set_random_seed(0)
    a = cls(seed=42)((5, 4))
    numdl.config.set_random_seed(1)  # the global generator does not matter
    b = cls(seed=42)((5, 4))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cls(seed=42)((5, 4)), cls(seed=42)((5, 4)))
    one = cls(seed=42)
    np.testing.assert_array_equal(one((5, 4)), one((5, 4)))
    assert not np.array_equal(a, cls(seed=43)((5, 4)))


def test_seeded_float32_is_float64_draw_rounded():
    a = init.HeNormal(seed=9)((6, 3), dtype="float64")
    b = init.HeNormal(seed=9)((6, 3), dtype="float32")
    np.testing.assert_array_equal(a.astype(np.float32), b)


# ------------------------------------------------------------- errors
def test_random_initializers_reject_integer_dtypes():
    with pytest.raises(ValueError, match="GlorotUniform: expected a floating point"):
        init.GlorotUniform()((2, 2), dtype="int32")


@pytest.mark.parametrize("seed", [1.5, "1", -3, True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="RandomNormal: seed must be None or an int"):
        init.RandomNormal(seed=seed)


def test_bad_variance_scaling_arguments():
    with pytest.raises(ValueError, match="scale must be positive"):
        init.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        init.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution must be one of"):
        init.VarianceScaling(distribution="cauchy")


def test_bad_shapes():
    with pytest.raises(ValueError, match="Zeros: shape must hold non-negative ints"):
        init.Zeros()((2, -1))
    with pytest.raises(ValueError, match="HeNormal: shape must hold non-negative"):
        init.HeNormal()((2.5, 2))
    with pytest.raises(TypeError, match="Ones: shape must be a tuple of ints"):
        init.Ones()(None)
    assert init.Zeros()(3).shape == (3,)


# ------------------------------------------------------- names, configs
KERAS_NAMES = {
    "zeros": init.Zeros,
    "ones": init.Ones,
    "constant": init.Constant,
    "identity": init.Identity,
    "random_normal": init.RandomNormal,
    "random_uniform": init.RandomUniform,
    "truncated_normal": init.TruncatedNormal,
    "variance_scaling": init.VarianceScaling,
    "glorot_uniform": init.GlorotUniform,
    "glorot_normal": init.GlorotNormal,
    "he_uniform": init.HeUniform,
    "he_normal": init.HeNormal,
    "lecun_uniform": init.LecunUniform,
    "lecun_normal": init.LecunNormal,
    "orthogonal": init.Orthogonal,
    "uniform": init.RandomUniform,
    "normal": init.RandomNormal,
    "one": init.Ones,
    "zero": init.Zeros,
}


@pytest.mark.parametrize("name, cls", KERAS_NAMES.items())
def test_keras_names(name, cls):
    obj = init.get(name)
    assert type(obj) is cls
    assert type(init.get(cls.__name__)) is cls
    assert init.get(name) is not obj  # a fresh instance each time


@pytest.mark.parametrize(
    "obj",
    [
        init.Zeros(),
        init.Constant([1.0, 2.0]),
        init.Identity(gain=3.0),
        init.RandomNormal(1.0, 2.0, seed=3),
        init.RandomUniform(-2.0, 5.0, seed=4),
        init.TruncatedNormal(0.0, 1.0),
        init.VarianceScaling(2.0, "fan_out", "uniform", seed=7),
        init.GlorotUniform(seed=8),
        init.HeNormal(),
        init.Orthogonal(gain=2.0, seed=9),
    ],
)
def test_serialize_round_trip(obj):
    config = json.loads(json.dumps(init.serialize(obj)))
    back = init.deserialize(config)
    assert type(back) is type(obj)
    assert back.get_config() == obj.get_config()
    assert init.get(config).get_config() == obj.get_config()
    assert obj.clone().get_config() == obj.get_config()
    if getattr(obj, "seed", None) is not None:
        np.testing.assert_array_equal(back((3, 2)), obj((3, 2)))


def test_get_passes_through_instances_classes_and_callables():
    g = init.GlorotUniform()
    assert init.get(g) is g
    assert type(init.get(init.HeUniform)) is init.HeUniform

    def custom(shape, dtype=None):
        return np.full(shape, 7.0)

    assert init.get(custom) is custom
    assert init.serialize(custom) == "custom"
    assert init.get(None) is None


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'") as err:
        init.get("glorot")
    assert "glorot_uniform" in str(err.value) and "he_normal" in str(err.value)
    with pytest.raises(ValueError, match="could not interpret"):
        init.get(3)
    with pytest.raises(ValueError, match="could not interpret"):
        init.deserialize([1])
