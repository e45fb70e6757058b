"""Weight initializers with Keras 3 names, defaults and formulas.

An initializer is called with a shape (and optionally a dtype, default
``config.floatx()``) and returns a NumPy array::

    GlorotUniform(seed=1)((784, 128))   # limit = sqrt(6 / (fan_in + fan_out))
    get("he_normal")((3, 3, 16, 32))     # conv kernel: fan_in = 3 * 3 * 16

Fans follow Keras's ``compute_fans``: a kernel of shape ``(in, out)`` has
``fan_in = in`` and ``fan_out = out``; a kernel of rank > 2 has Keras's
layout ``(..., in, out)`` and both fans are multiplied by the receptive field
size (the product of the leading axes).

Seeding: with ``seed=None`` every call draws from ``numdl.config.rng()``, so
``numdl.config.set_random_seed(s)`` makes a whole model's weights
reproducible and two layers never share values. An integer seed gives the
initializer its own generator, restarted on every call: like Keras 3, a
seeded initializer returns the same values each time it is called. (Keras 3
also freezes an unseeded initializer at construction; numdl draws fresh
values instead, which is what sharing one unseeded instance between layers
needs.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from numdl import config
from numdl import registry as _registry

_KIND = "initializer"
# Standard deviation of a standard normal truncated to [-2, 2].
_TRUNCATED_STD = 0.87962566103423978


def _register(*names: str) -> Callable[[Any], Any]:
    return _registry.register(_KIND, *names)


def _shape(shape: Any, who: str) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints, or a clear error."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(int(d) for d in shape)
    except TypeError as err:
        raise TypeError(f"{who}: shape must be a tuple of ints, got {shape!r}") from err
    if any(d < 0 for d in dims) or any(int(d) != d for d in shape):
        raise ValueError(f"{who}: shape must hold non-negative ints, got {shape!r}")
    return dims


def _dtype(dtype: Any, who: str, floating: bool = False) -> np.dtype:
    """The requested dtype (``floatx()`` when None); floats only if asked."""
    dt = np.dtype(config.floatx() if dtype is None else dtype)
    if floating and dt.kind != "f":
        raise ValueError(f"{who}: expected a floating point dtype, got {dt.name}")
    return dt


def compute_fans(shape: Any) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras's ``compute_fans``.

    >>> compute_fans((784, 10)), compute_fans((3, 3, 16, 32))
    ((784, 10), (144, 288))
    """
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


class Initializer:
    """Base class: ``init(shape, dtype=None)`` returns a new ndarray.

    Subclasses implement ``__call__`` and, when they take arguments,
    ``get_config``; ``from_config(get_config())`` rebuilds an equal one.

    >>> class Twos(Initializer):
    ...     def __call__(self, shape, dtype=None):
    ...         return np.full(shape, 2.0, dtype=_dtype(dtype, "Twos"))
    >>> Twos()((2,)).tolist()
    [2.0, 2.0]
    """

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)

    def clone(self) -> Initializer:
        """A new initializer with the same configuration."""
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# ------------------------------------------------------------- constants
@_register("Zeros", "zeros", "zero")
class Zeros(Initializer):
    """All zeros.

    >>> Zeros()((2, 2)).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        return np.zeros(_shape(shape, "Zeros"), dtype=_dtype(dtype, "Zeros"))


@_register("Ones", "ones", "one")
class Ones(Initializer):
    """All ones.

    >>> Ones()((3,), dtype="float64").tolist()
    [1.0, 1.0, 1.0]
    """

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        return np.ones(_shape(shape, "Ones"), dtype=_dtype(dtype, "Ones"))


@_register("Constant", "constant")
class Constant(Initializer):
    """Every entry equal to ``value`` (a scalar, or an array broadcast to shape).

    >>> Constant(0.5)((2,)).tolist()
    [0.5, 0.5]
    """

    def __init__(self, value: Any = 0.0) -> None:
        if isinstance(value, (list, tuple, np.ndarray)):
            value = np.asarray(value).tolist()
        self.value = value

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape = _shape(shape, "Constant")
        value = np.asarray(self.value)
        try:
            out = np.broadcast_to(value, shape)
        except ValueError as err:
            raise ValueError(
                f"Constant: value of shape {value.shape} cannot fill shape {shape}"
            ) from err
        return out.astype(_dtype(dtype, "Constant"), copy=True)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


@_register("Identity", "identity", "IdentityInitializer", "identity_initializer")
class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; may be rectangular).

    >>> Identity(gain=2.0)((2, 3)).tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape = _shape(shape, "Identity")
        if len(shape) != 2:
            raise ValueError(
                f"Identity: can only initialize 2-D matrices, got shape {shape} "
                f"of rank {len(shape)}"
            )
        dt = _dtype(dtype, "Identity")
        return (self.gain * np.eye(*shape)).astype(dt)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


# ---------------------------------------------------------------- random
def _check_seed(seed: Any, who: str) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{who}: seed must be None or an int >= 0, got {seed!r}")
    return int(seed)


def _truncated_normal(
    rng: np.random.Generator, shape: tuple[int, ...], mean: float, stddev: float
) -> np.ndarray:
    """Normal draws; those more than 2 standard deviations out are redrawn."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return mean + stddev * z


class RandomInitializer(Initializer):
    """Base of the random initializers: ``seed`` (int or None) and a generator.

    >>> a, b = RandomNormal(seed=3)((2,)), RandomNormal(seed=3)((2,))
    >>> bool((a == b).all())
    True
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = _check_seed(seed, type(self).__name__)

    def _rng(self) -> np.random.Generator:
        if self.seed is None:
            return config.rng()
        return np.random.default_rng(self.seed)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        who = type(self).__name__
        shape, dt = _shape(shape, who), _dtype(dtype, who, floating=True)
        return self._draw(self._rng(), shape).astype(dt, copy=False)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


@_register("RandomNormal", "random_normal", "normal")
class RandomNormal(RandomInitializer):
    """Normal draws with ``mean`` and ``stddev``.

    >>> round(float(RandomNormal(stddev=1.0, seed=0)((1000,)).std()), 1)
    1.0
    """

    def __init__(
        self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None
    ) -> None:
        self.mean, self.stddev = mean, stddev
        super().__init__(seed=seed)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(self.mean, self.stddev, shape)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


@_register("TruncatedNormal", "truncated_normal")
class TruncatedNormal(RandomInitializer):
    """Normal draws, redrawn when more than 2 ``stddev`` from ``mean``.

    The result's standard deviation is about ``0.88 * stddev``.

    >>> bool(np.abs(TruncatedNormal(stddev=1.0, seed=0)((1000,))).max() <= 2.0)
    True
    """

    def __init__(
        self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None
    ) -> None:
        self.mean, self.stddev = mean, stddev
        super().__init__(seed=seed)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return _truncated_normal(rng, shape, self.mean, self.stddev)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


@_register("RandomUniform", "random_uniform", "uniform")
class RandomUniform(RandomInitializer):
    """Uniform draws in ``[minval, maxval)``.

    >>> x = RandomUniform(0.0, 1.0, seed=0)((100,))
    >>> bool((x >= 0).all() and (x < 1).all())
    True
    """

    def __init__(
        self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
    ) -> None:
        self.minval, self.maxval = minval, maxval
        super().__init__(seed=seed)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.uniform(self.minval, self.maxval, shape)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


@_register("VarianceScaling", "variance_scaling")
class VarianceScaling(RandomInitializer):
    """Draws scaled to the weight's fans, as Keras's ``VarianceScaling``.

    With ``n`` = fan_in, fan_out or their mean (``mode``), the draws have
    variance ``scale / n``: a normal truncated at 2 standard deviations with
    ``stddev = sqrt(scale / n) / 0.87962566103423978`` (the correction that
    restores the variance lost to truncation), an untruncated normal with
    ``stddev = sqrt(scale / n)``, or a uniform in ``[-limit, limit]`` with
    ``limit = sqrt(3 * scale / n)``. ``n`` is at least 1.

    >>> w = VarianceScaling(2.0, "fan_in", "uniform", seed=0)((50, 3))
    >>> bool(np.abs(w).max() <= np.sqrt(3 * 2.0 / 50))
    True
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        if not scale > 0.0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale!r}")
        if mode not in _MODES:
            raise ValueError(
                f"VarianceScaling: mode must be one of {_MODES}, got {mode!r}"
            )
        distribution = str(distribution).lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"VarianceScaling: distribution must be one of {_DISTRIBUTIONS}, "
                f"got {distribution!r}"
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution
        super().__init__(seed=seed)

    def _variance(self, shape: tuple[int, ...]) -> float:
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
        return self.scale / max(1.0, n[self.mode])

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        variance = self._variance(shape)
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / _TRUNCATED_STD
            return _truncated_normal(rng, shape, 0.0, stddev)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)

    def get_config(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are fixed."""

    _args: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self._args, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


@_register("GlorotUniform", "glorot_uniform")
class GlorotUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    >>> bool(np.abs(GlorotUniform(seed=0)((10, 20))).max() <= np.sqrt(6 / 30))
    True
    """

    _args = (1.0, "fan_avg", "uniform")


@_register("GlorotNormal", "glorot_normal")
class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal, ``stddev = sqrt(2 / (fan_in + fan_out))``.

    >>> GlorotNormal(seed=0)((4, 4)).shape
    (4, 4)
    """

    _args = (1.0, "fan_avg", "truncated_normal")


@_register("HeUniform", "he_uniform")
class HeUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / fan_in)``.

    >>> bool(np.abs(HeUniform(seed=0)((24, 5))).max() <= 0.5)
    True
    """

    _args = (2.0, "fan_in", "uniform")


@_register("HeNormal", "he_normal")
class HeNormal(_FixedVarianceScaling):
    """Truncated normal, ``stddev = sqrt(2 / fan_in)``.

    >>> HeNormal(seed=0)((3, 3, 8, 16)).dtype
    dtype('float32')
    """

    _args = (2.0, "fan_in", "truncated_normal")


@_register("LecunUniform", "lecun_uniform")
class LecunUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(3 / fan_in)``.

    >>> bool(np.abs(LecunUniform(seed=0)((12, 5))).max() <= 0.5)
    True
    """

    _args = (1.0, "fan_in", "uniform")


@_register("LecunNormal", "lecun_normal")
class LecunNormal(_FixedVarianceScaling):
    """Truncated normal, ``stddev = sqrt(1 / fan_in)``.

    >>> LecunNormal(seed=0)((2, 3)).shape
    (2, 3)
    """

    _args = (1.0, "fan_in", "truncated_normal")


@_register(
    "Orthogonal", "orthogonal", "OrthogonalInitializer", "orthogonal_initializer"
)
class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix times ``gain``, from the QR of normal draws.

    Shapes of rank > 2 are treated as ``(prod(shape[:-1]), shape[-1])``
    matrices. With fewer rows than columns the rows are orthonormal,
    otherwise the columns. Signs follow ``diag(R)``, as in Keras.

    >>> q = Orthogonal(seed=0)((4, 3), dtype="float64")
    >>> bool(np.allclose(q.T @ q, np.eye(3)))
    True
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain = gain
        super().__init__(seed=seed)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) < 2:
            raise ValueError(
                f"Orthogonal: the shape must be at least 2-D, got shape {shape} "
                f"of rank {len(shape)}"
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "gain": self.gain}


# ------------------------------------------------------------ name lookup
def names() -> list[str]:
    """The registered initializer names.

    >>> "glorot_uniform" in names()
    True
    """
    return _registry.names(_KIND)


def get(identifier: Any) -> Any:
    """Resolve an initializer: a name, a config dict, a class, an instance or None.

    Names give a new instance with default arguments (``"he_normal"``,
    ``"HeNormal"``); any other callable ``fn(shape, dtype=None)`` is returned
    as it is.

    >>> type(get("glorot_uniform")).__name__, get(None)
    ('GlorotUniform', None)
    """
    return _registry.resolve(_KIND, identifier, "initializers")


def serialize(initializer: Any) -> Any:
    """A JSON-able form: ``{"class_name": ..., "config": ...}`` (or a name).

    >>> serialize(RandomNormal(stddev=1.0))
    {'class_name': 'RandomNormal', 'config': {'seed': None, 'mean': 0.0, 'stddev': 1.0}}
    """
    return _registry.serialize(_KIND, initializer, Initializer, "initializers")


def deserialize(config: Any) -> Any:
    """Inverse of :func:`serialize`.

    >>> deserialize({"class_name": "Constant", "config": {"value": 3.0}}).value
    3.0
    """
    return _registry.deserialize(_KIND, config, "initializers")


# Keras's lowercase aliases: ``keras.initializers.he_normal(seed=1)``.
zeros = Zeros
ones = Ones
constant = Constant
identity = Identity
random_normal = RandomNormal
truncated_normal = TruncatedNormal
random_uniform = RandomUniform
variance_scaling = VarianceScaling
glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal
he_uniform = HeUniform
he_normal = HeNormal
lecun_uniform = LecunUniform
lecun_normal = LecunNormal
orthogonal = Orthogonal
