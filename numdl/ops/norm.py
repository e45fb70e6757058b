"""Normalisation ops with hand-written backward: batch and layer norm, fused.

- ``batch_norm(x, gamma, beta, axis, epsilon)``: training-mode batch
  normalisation. The mean and (biased) variance are taken over every axis but
  ``axis``; the op returns the output *and* those batch statistics, so that a
  layer can update its moving averages without computing them again. The
  gradient with respect to ``x`` includes the dependence of the statistics on
  ``x``.
- ``batch_normalization(x, mean, variance, axis, offset, scale, epsilon)``:
  normalisation with given statistics (inference mode), the signature of
  ``keras.ops.batch_normalization``; differentiable in every argument.
- ``layer_norm(x, gamma, beta, axis, epsilon, rms_scaling)``: normalisation of
  each sample over ``axis`` (an int or several axes), Keras's formula.

Every op computes ``xhat = (x - mean) / sqrt(var + epsilon)`` once, keeps it
for backward, and writes only into arrays it created itself. A constant input
(variance 0) gives ``xhat = 0``: finite, no warnings, as long as
``epsilon > 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from numdl.autograd.function import Function
from numdl.backend import array_module
from numdl.ops.nn import as_float


# ----------------------------------------------------------------- helpers
def _shape(x: Any) -> tuple[int, ...]:
    return tuple(getattr(x, "shape", ()))


def _count(shape: tuple[int, ...], axes: tuple[int, ...] | None = None) -> int:
    """Number of values on ``axes`` of ``shape`` (all axes when None)."""
    n = 1
    for a in range(len(shape)) if axes is None else axes:
        n *= shape[a]
    return n


def _normalize_axes(axis: Any, ndim: int, who: str) -> tuple[int, ...]:
    """``axis`` (int or ints, negative allowed) -> sorted non-negative axes."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if not axes or any(
        not isinstance(a, int) or isinstance(a, bool) or not -ndim <= a < ndim
        for a in axes
    ):
        raise ValueError(
            f"{who}: axis must be one or more integers in [{-ndim}, {ndim}) for "
            f"inputs with {ndim} dimensions, got axis={axis!r}"
        )
    out = tuple(sorted({a % ndim for a in axes}))
    if len(out) != len(axes):
        raise ValueError(f"{who}: repeated axis in axis={axis!r}")
    return out


def _affine(xhat: Any, gamma: Any, beta: Any, pshape: tuple[int, ...]) -> Any:
    """``xhat * gamma + beta`` (either may be None), as a new array if needed."""
    if gamma is None and beta is None:
        return xhat
    out = xhat * gamma.reshape(pshape) if gamma is not None else xhat.copy()
    if beta is not None:
        out += beta.reshape(pshape)
    return out


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _dot(a: Any, b: Any, axes: tuple[int, ...]) -> Any:
    """``sum(a * b)`` over ``axes``, keeping dims, without an ``a * b`` array.

    One ``einsum`` pass (several times faster than multiply-then-reduce).
    """
    ndim = a.ndim
    if ndim > len(_LETTERS):
        return (a * b).sum(axis=axes, keepdims=True)
    xp = array_module(a)
    sub = _LETTERS[:ndim]
    kept = "".join(c for i, c in enumerate(sub) if i not in axes)
    out = xp.einsum(f"{sub},{sub}->{kept}", a, b)
    return out.reshape([1 if i in axes else n for i, n in enumerate(a.shape)])


def _rsqrt(var: Any, epsilon: float) -> Any:
    """``1 / sqrt(var + epsilon)`` as a new array."""
    xp = array_module(var)
    inv = var + epsilon
    xp.sqrt(inv, out=inv)
    return xp.reciprocal(inv, out=inv)


def _check_param(p: Any, expected: tuple[int, ...], name: str, who: str) -> None:
    if p is not None and _shape(p) != expected:
        raise ValueError(
            f"{who}: {name} of shape {_shape(p)} does not fit the inputs; "
            f"expected shape {expected}"
        )


def _check_epsilon(epsilon: Any, who: str) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise TypeError(f"{who}: epsilon must be a number, got {epsilon!r}")
    if not epsilon >= 0:
        raise ValueError(f"{who}: epsilon must be >= 0, got {epsilon!r}")
    return float(epsilon)


# --------------------------------------------------------------- functions
class BatchNorm(Function):
    """Training-mode batch norm over ``axes`` (every axis but the channel one).

    Forward: ``y = (x - mean) * scale + beta`` with ``scale = gamma * inv``,
    ``inv = 1/sqrt(var + eps)``. Backward, with ``xhat = (x - mean) * inv``,
    sums over ``axes`` and ``n`` the number of values per channel:
    ``grad_x = scale * (g - sum(g)/n - xhat * sum(g * xhat)/n)``,
    ``grad_gamma = sum(g * xhat)``, ``grad_beta = sum(g)``.
    The batch mean and variance (shape ``(C,)``) are appended to ``stats``.
    """

    def forward(self, x, gamma, beta, axes=(0,), epsilon=1e-3, stats=None):
        pshape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        n = _count(x.shape, axes)
        mean = x.mean(axis=axes, keepdims=True)
        d = x - mean
        var = _dot(d, d, axes)
        var /= n
        inv = _rsqrt(var, epsilon)
        scale = inv if gamma is None else inv * gamma.reshape(pshape)
        self.d, self.inv, self.scale, self.axes, self.n = d, inv, scale, axes, n
        if stats is not None:
            stats.extend((mean.reshape(-1), var.reshape(-1)))
        out = d * scale
        if beta is not None:
            out += beta.reshape(pshape)
        return out

    def backward(self, g):
        need_x, need_gamma, need_beta = self.needs_input_grad
        d, inv, axes, n = self.d, self.inv, self.axes, self.n
        gsum = g.sum(axis=axes, keepdims=True)
        gxsum = _dot(g, d, axes)
        gxsum *= inv  # sum(g * xhat)
        grad_x = grad_gamma = grad_beta = None
        if need_x:
            grad_x = d * (gxsum * inv / -n)
            grad_x += g
            grad_x -= gsum / n
            grad_x *= self.scale
        if need_gamma:
            grad_gamma = gxsum.reshape(-1)
        if need_beta:
            grad_beta = gsum.reshape(-1)
        return grad_x, grad_gamma, grad_beta


class BatchNormInference(Function):
    """Batch norm with given per-channel ``mean`` and ``variance``.

    ``y = (x - mean) * inv * scale + offset`` with ``inv = 1/sqrt(var + eps)``.
    Backward (sums over every axis but the channel one):
    ``grad_x = g * scale * inv``, ``grad_mean = -sum(g) * scale * inv``,
    ``grad_variance = -sum(g * xhat) * scale * inv**2 / 2``,
    ``grad_offset = sum(g)``, ``grad_scale = sum(g * xhat)``.
    """

    def forward(self, x, mean, variance, offset, scale, axis=-1, epsilon=1e-3):
        axis = axis % x.ndim
        pshape = tuple(n if i == axis else 1 for i, n in enumerate(x.shape))
        self.axes = tuple(i for i in range(x.ndim) if i != axis)
        self.inv = inv = _rsqrt(variance.reshape(pshape), epsilon)
        self.factor = inv if scale is None else inv * scale.reshape(pshape)
        self.x, self.mean = x, mean.reshape(pshape)
        out = x - self.mean
        out *= self.factor
        if offset is not None:
            out += offset.reshape(pshape)
        return out

    def backward(self, g):
        need_x, need_mean, need_var, need_offset, need_scale = self.needs_input_grad
        axes, inv, factor = self.axes, self.inv, self.factor
        grads = [None] * 5
        gsum = g.sum(axis=axes, keepdims=True) if need_mean or need_offset else None
        gxsum = None
        if need_var or need_scale:
            gxsum = _dot(g, self.x - self.mean, axes)
            gxsum *= inv  # sum(g * xhat)
        if need_x:
            grads[0] = g * factor
        if need_mean:
            grads[1] = (-gsum * factor).reshape(-1)
        if need_var:
            grads[2] = (gxsum * factor * inv * -0.5).reshape(-1)
        if need_offset:
            grads[3] = gsum.reshape(-1)
        if need_scale:
            grads[4] = gxsum.reshape(-1)
        return tuple(grads)


class LayerNorm(Function):
    """Normalisation of each sample over ``axes``; ``gamma``/``beta`` span them.

    Forward: ``y = xhat * gamma + beta`` with ``xhat = (x - mean) * inv``.
    Backward, with ``h = g * gamma`` and means over ``axes``:
    ``grad_x = inv * (h - mean(h) - xhat * mean(h * xhat))``,
    ``grad_gamma = sum(g * xhat)``, ``grad_beta = sum(g)`` over the other axes.

    ``rms_scaling`` is Keras's variant ``y = x * inv * gamma`` (no centring of
    the output, no beta; ``inv`` still uses the variance), whose gradient is
    ``grad_x = inv * (h - xhat * inv * mean(h * x))``.
    """

    def forward(self, x, gamma, beta, axes=(-1,), epsilon=1e-3, rms_scaling=False):
        pshape = tuple(n if i in axes else 1 for i, n in enumerate(x.shape))
        self.n = n = _count(x.shape, axes)
        mean = x.mean(axis=axes, keepdims=True)
        d = x - mean
        var = _dot(d, d, axes)
        var /= n
        inv = _rsqrt(var, epsilon)
        d *= inv  # d is now xhat
        self.xhat, self.inv, self.gamma, self.beta = d, inv, gamma, beta
        self.axes, self.pshape, self.rms = axes, pshape, rms_scaling
        self.others = tuple(i for i in range(x.ndim) if i not in axes)
        if rms_scaling:
            self.x = x
            return _affine(x * inv, gamma, None, pshape)
        return _affine(d, gamma, beta, pshape)

    def backward(self, g):
        need_x, need_gamma, need_beta = self.needs_input_grad
        xhat, inv, axes, pshape = self.xhat, self.inv, self.axes, self.pshape
        grad_x = grad_gamma = grad_beta = None
        if need_x:
            h = g if self.gamma is None else g * self.gamma.reshape(pshape)
            if self.rms:
                coef = _dot(h, self.x, axes)
                coef *= inv
            else:
                coef = _dot(h, xhat, axes)
            coef /= -self.n
            grad_x = xhat * coef
            grad_x += h
            if not self.rms:
                grad_x -= h.mean(axis=axes, keepdims=True)
            grad_x *= inv
        if need_gamma:
            if self.rms:
                grad_gamma = _dot(g * inv, self.x, self.others)
            else:
                grad_gamma = _dot(g, xhat, self.others)
            grad_gamma = grad_gamma.reshape(self.gamma.shape)
        if need_beta:
            grad_beta = g.sum(axis=self.others).reshape(self.beta.shape)
        return grad_x, grad_gamma, grad_beta


# ---------------------------------------------------------------- wrappers
def _channel_axis(x: Any, axis: Any, who: str) -> int:
    """The channel axis of ``x`` as a non-negative int (checked)."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"{who}: axis must be an integer, got {axis!r}")
    if x.ndim == 0:
        raise ValueError(f"{who}: inputs must have at least one axis, got a scalar")
    return _normalize_axes(axis, x.ndim, who)[0]


def batch_norm(
    x: Any,
    gamma: Any = None,
    beta: Any = None,
    axis: int = -1,
    epsilon: float = 1e-3,
) -> tuple[Any, Any, Any]:
    """Training-mode batch normalisation; returns ``(y, mean, variance)``.

    ``mean`` and ``variance`` are the batch statistics over every axis but
    ``axis`` (the biased variance, as Keras's ``ops.moments``), arrays of shape
    ``(x.shape[axis],)`` in ``x``'s dtype, with no gradient; ``y`` is
    ``gamma * (x - mean) / sqrt(variance + epsilon) + beta`` (``gamma`` and
    ``beta`` of shape ``(x.shape[axis],)`` or None).

    >>> y, mean, var = batch_norm([[1.0, 2.0], [3.0, 6.0]])
    >>> mean.tolist(), var.tolist()
    ([2.0, 4.0], [1.0, 4.0])
    """
    who = "batch_norm"
    x, gamma, beta = _as_input(x), _as_input(gamma), _as_input(beta)
    axis = _channel_axis(x, axis, who)
    epsilon = _check_epsilon(epsilon, who)
    channels = (x.shape[axis],)
    _check_param(gamma, channels, "gamma", who)
    _check_param(beta, channels, "beta", who)
    axes = tuple(i for i in range(x.ndim) if i != axis)
    if _count(x.shape, axes) == 0:
        raise ValueError(
            f"{who}: cannot compute batch statistics of inputs of shape {x.shape}: "
            f"no values per channel (axis {axis})"
        )
    stats: list[Any] = []
    y = BatchNorm.apply(x, gamma, beta, axes=axes, epsilon=epsilon, stats=stats)
    return y, stats[0], stats[1]


def batch_normalization(
    x: Any,
    mean: Any,
    variance: Any,
    axis: int = -1,
    offset: Any = None,
    scale: Any = None,
    epsilon: float = 1e-3,
) -> Any:
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset`` (Keras's op).

    The per-channel ``mean``, ``variance``, ``offset`` and ``scale`` have shape
    ``(x.shape[axis],)`` (``offset``/``scale`` may be None). One fused op,
    differentiable in every argument.

    >>> batch_normalization([[3.0, 4.0]], [1.0, 2.0], [4.0, 1.0], epsilon=0.0)
    array([[1., 2.]])
    """
    who = "batch_normalization"
    x, offset, scale = _as_input(x), _as_input(offset), _as_input(scale)
    axis = _channel_axis(x, axis, who)
    epsilon = _check_epsilon(epsilon, who)
    channels = (x.shape[axis],)
    mean, variance = _as_input(mean), _as_input(variance)
    for name, p in (("mean", mean), ("variance", variance)):
        _check_param(p, channels, name, who)
    _check_param(offset, channels, "offset", who)
    _check_param(scale, channels, "scale", who)
    return BatchNormInference.apply(
        x, mean, variance, offset, scale, axis=axis, epsilon=epsilon
    )


def layer_norm(
    x: Any,
    gamma: Any = None,
    beta: Any = None,
    axis: int | Sequence[int] = -1,
    epsilon: float = 1e-3,
    rms_scaling: bool = False,
) -> Any:
    """Layer normalisation over ``axis`` (an int or several), Keras's formula.

    ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta`` with the mean and
    biased variance of each sample over ``axis``. ``gamma`` and ``beta`` have
    the shape of ``x`` on those axes, in sorted order (a Keras-style
    ``(x.shape[a] for a in axis)`` of the same size is reshaped to it, as
    Keras does). ``rms_scaling=True`` gives Keras's ``x / sqrt(var +
    epsilon) * gamma`` and ignores ``beta``.

    >>> layer_norm([[1.0, 3.0]], epsilon=0.0).tolist()
    [[-1.0, 1.0]]
    """
    who = "layer_norm"
    x, gamma, beta = _as_input(x), _as_input(gamma), _as_input(beta)
    if x.ndim == 0:
        raise ValueError(f"{who}: inputs must have at least one axis, got a scalar")
    axes = _normalize_axes(axis, x.ndim, who)
    epsilon = _check_epsilon(epsilon, who)
    if _count(x.shape, axes) == 0:
        raise ValueError(
            f"{who}: cannot normalise over axes {axes} of inputs of shape "
            f"{x.shape}: they hold no values"
        )
    expected = tuple(x.shape[a] for a in axes)
    size = _count(x.shape, axes)
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None and _count(_shape(p)) != size:
            raise ValueError(
                f"{who}: {name} of shape {_shape(p)} does not fit inputs of shape "
                f"{x.shape} normalised over axes {axes}; expected shape {expected}"
            )
    if rms_scaling:
        beta = None
    return LayerNorm.apply(
        x, gamma, beta, axes=axes, epsilon=epsilon, rms_scaling=rms_scaling
    )


def _as_input(x: Any) -> Any:
    """Tensors and float arrays as they are; lists and integers as floats."""
    return None if x is None else as_float(x)
