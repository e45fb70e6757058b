"""Regularization layers (Keras 3): noise while training, activity penalties.

``GaussianNoise`` adds ``N(0, stddev**2)`` noise and ``GaussianDropout``
multiplies by ``N(1, rate / (1 - rate))`` noise, both only while training;
``ActivityRegularization`` adds ``l1 * sum(|x|) + l2 * sum(x**2)`` of its
inputs to the layer's losses (summed over the batch, not divided by the
batch size: Keras 3's formula). ``SpatialDropout1D/2D`` drop whole channels
(feature maps) while training. ``Dropout`` lives in ``core.py``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from numdl import config, ops, regularizers
from numdl.backend import array_module
from numdl.layers.base import InputSpec, Layer
from numdl.layers.core import (
    Dropout,
    _as_float,
    _identity_shape,
    _rate,
    _seed,
)
from numdl.layers.pooling import _data_format


def _normal(layer: Layer, inputs: Any, mean: float, stddev: float) -> Any:
    """``N(mean, stddev**2)`` noise shaped and typed like ``inputs``."""
    xp = array_module(inputs.data)  # drawn where the data lives
    draw = config.rng_for(xp, layer._rng).standard_normal(tuple(inputs.shape))
    return (draw * stddev + mean).astype(inputs.dtype)


class GaussianNoise(Layer):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` while training.

    ``stddev`` must be in ``[0, 1]`` (Keras's check). ``seed=None`` draws from
    ``numdl.config.rng()``; an int seed gives the layer its own generator.

    >>> import numpy as np
    >>> layer = GaussianNoise(0.1, seed=0)
    >>> layer(np.zeros((1, 3))).tolist()           # inference: unchanged
    [[0.0, 0.0, 0.0]]
    >>> bool((layer(np.zeros((1, 3)), training=True).numpy() != 0).all())
    True
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stddev = _rate(self, stddev, name="stddev")
        self.seed = seed
        self._rng = _seed(self, seed)
        self.built = True

    def call(self, inputs: Any, training: Any = None) -> Any:
        if not training or self.stddev == 0:
            return inputs
        inputs = _as_float(self, inputs)
        return ops.add(inputs, _normal(self, inputs, 0.0, self.stddev))

    compute_output_shape = staticmethod(_identity_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiply by Gaussian noise of mean 1, stddev ``sqrt(rate / (1 - rate))``.

    Active only while training. ``rate`` must be in ``[0, 1)``: Keras accepts
    ``rate=1``, which gives infinite noise; numdl rejects it.

    >>> import numpy as np
    >>> GaussianDropout(0.2)(np.ones((1, 2))).tolist()   # inference: unchanged
    [[1.0, 1.0]]
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = _rate(self, rate)
        if self.rate == 1:
            raise ValueError(
                f"GaussianDropout {self.name!r}: rate must be below 1 (rate=1 "
                f"gives noise of infinite standard deviation), got {rate!r}"
            )
        self.seed = seed
        self._rng = _seed(self, seed)
        self.built = True

    def call(self, inputs: Any, training: Any = None) -> Any:
        if not training or self.rate == 0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        inputs = _as_float(self, inputs)
        return ops.multiply(inputs, _normal(self, inputs, 1.0, stddev))

    compute_output_shape = staticmethod(_identity_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(Layer):
    """Return the inputs; add ``l1 * sum(|x|) + l2 * sum(x**2)`` to ``losses``.

    As in Keras 3 the penalty is a sum over the whole batch (not divided by
    the batch size), added on every call, training or not.

    >>> import numpy as np
    >>> layer = ActivityRegularization(l1=0.2, l2=0.3)
    >>> y = layer(np.full((2, 1), 2.0))
    >>> round(float(layer.losses[0]), 6)   # 0.2 * 4 + 0.3 * 8
    3.2
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        if "activity_regularizer" in kwargs:
            raise TypeError(
                "ActivityRegularization: activity_regularizer is set from l1 and "
                "l2; do not pass it"
            )
        super().__init__(**kwargs)
        self.l1 = _factor(self, "l1", l1)
        self.l2 = _factor(self, "l2", l2)
        self.activity_regularizer = regularizers.L1L2(l1=self.l1, l2=self.l2)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return inputs

    compute_output_shape = staticmethod(_identity_shape)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("activity_regularizer", None)
        return {**cfg, "l1": self.l1, "l2": self.l2}


def _factor(layer: Layer, name: str, value: Any) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"ActivityRegularization {layer.name!r}: {name} must be a finite "
            f"number >= 0, got {value!r}"
        )
    return float(value)


# ------------------------------------------------------------ SpatialDropout
class _SpatialDropout(Dropout):
    """Dropout of whole channels: one draw per sample and channel, shared by
    every spatial position (Tompson et al., 2014)."""

    _nd = 2

    def __init__(
        self,
        rate: float,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if "noise_shape" in kwargs:
            raise TypeError(
                f"{type(self).__name__}: noise_shape is set by the layer (one "
                f"draw per sample and channel); do not pass it"
            )
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = _data_format(self, data_format)
        self.input_spec = InputSpec(ndim=self._nd + 2)

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.data_format == "channels_first":
            return shape[:2] + (1,) * self._nd
        return (shape[0],) + (1,) * self._nd + (shape[-1],)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("noise_shape", None)
        return {**cfg, "data_format": self.data_format}


class SpatialDropout1D(_SpatialDropout):
    """Drop whole features of sequences ``(batch, steps, features)`` while training.

    Each (sample, feature) pair is kept or dropped at every step together;
    kept ones are scaled by ``1 / (1 - rate)``. Identity at inference. Keras
    has no ``data_format`` here (always channels last); numdl accepts one.

    >>> import numpy as np
    >>> out = SpatialDropout1D(0.5, seed=1)(np.ones((1, 3, 4)), training=True)
    >>> bool((out.numpy() == out.numpy()[:, :1]).all())   # same at every step
    True
    """

    _nd = 1


class SpatialDropout2D(_SpatialDropout):
    """Drop whole channels (feature maps) of images while training.

    Each (sample, channel) pair is kept or dropped over the whole image; kept
    ones are scaled by ``1 / (1 - rate)``. Identity at inference.

    >>> import numpy as np
    >>> layer = SpatialDropout2D(0.5, seed=0)
    >>> out = layer(np.ones((2, 4, 4, 8)), training=True).numpy()
    >>> sorted(set(out.ravel().tolist())), bool((out == out[:, :1, :1]).all())
    ([0.0, 2.0], True)
    """

    _nd = 2
