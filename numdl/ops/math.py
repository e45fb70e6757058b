"""Elementwise arithmetic, unary functions and reductions, each with its gradient.

Every op is a ``Function`` subclass (``forward`` and ``backward`` side by side)
and a snake_case wrapper that users call. Arrays come from ``xp``, the module
that owns the inputs, never from ``np`` directly.

Extremes follow PyTorch: results that leave the floating range or the
function's domain are IEEE values, returned without a RuntimeWarning:
``exp(1e4) = inf`` (float32 and float64 alike), ``log(0) = -inf``,
``log(-1) = nan``, ``sqrt(-1) = nan``, ``1 / 0 = inf``, ``0 ** -1 = inf``,
``sqrt'(0) = inf``. Where the result is finite (``exp(-1e4) = 0``,
``tanh(1e4) = 1``, ``erf(1e-38)``) it is exact and silent. The cheap hot
ops (add, subtract, multiply, matmul, square, sum, mean) are not wrapped, to
keep them fast: they warn as NumPy does only past the float range (3e38 in
float32) or on ``inf - inf``, where PyTorch is silent.

Reductions over an empty axis follow PyTorch too: ``sum`` 0, ``prod`` 1,
``mean``/``var``/``std`` NaN, ``logsumexp`` -inf; ``max``/``min`` raise.
"""

from __future__ import annotations

import builtins
import contextlib
from typing import Any

import numpy as _numpy

from numdl.autograd.function import Function, unbroadcast
from numdl.backend import array_module
from numdl.ops import _cupy_kernels as _gpu

_ndarray = _numpy.ndarray


def _shape(x: Any) -> tuple[int, ...]:
    """Shape of an operand: arrays have one, Python numbers are 0-d."""
    return getattr(x, "shape", ())


def _quiet(xp: Any) -> Any:
    """Compute IEEE inf / nan silently, as PyTorch does (see module docstring)."""
    errstate = getattr(xp, "errstate", None)
    return errstate(all="ignore") if errstate else contextlib.nullcontext()


# ---------------------------------------------------------------- binary ops
class Add(Function):
    promote_integers = True

    def forward(self, a, b):
        self.shapes = (_shape(a), _shape(b))
        return a + b

    def backward(self, g):
        sa, sb = self.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Subtract(Function):
    promote_integers = True

    def forward(self, a, b):
        self.shapes = (_shape(a), _shape(b))
        return a - b

    def backward(self, g):
        sa, sb = self.shapes
        gb = unbroadcast(-g, sb) if self.needs_input_grad[1] else None
        return unbroadcast(g, sa), gb


class Multiply(Function):
    promote_integers = True

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        a, b = self.a, self.b
        ga = unbroadcast(g * b, _shape(a)) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * a, _shape(b)) if self.needs_input_grad[1] else None
        return ga, gb


class Divide(Function):
    """``a / b``; division by zero gives inf or nan silently (PyTorch)."""

    promote_integers = True

    def forward(self, a, b):
        self.a, self.b = a, b
        with _quiet(array_module(a, b)):
            return a / b

    def backward(self, g):
        a, b = self.a, self.b
        with _quiet(array_module(g)):
            g_over_b = g / b
            ga = unbroadcast(g_over_b, _shape(a)) if self.needs_input_grad[0] else None
            gb = None
            if self.needs_input_grad[1]:  # -g a / b**2, without overflowing b**2
                gb = unbroadcast(-(g_over_b * a) / b, _shape(b))
        return ga, gb


class Power(Function):
    """``a ** b``; inf / nan results (``0 ** -1``, ``(-1) ** 0.5``) are silent."""

    promote_integers = True

    def forward(self, a, b):
        self.a, self.b = a, b
        with _quiet(array_module(a, b)):
            self.out = a**b
        return self.out

    def backward(self, g):
        a, b = self.a, self.b
        xp = array_module(a, b)
        ga = gb = None
        with _quiet(xp):
            if self.needs_input_grad[0]:
                # b * a**(b-1), with 0 where b == 0 (torch: d/da a**0 = 0)
                # (a Python scalar ``b`` apart: CuPy's where takes no bool)
                if isinstance(b, (int, float)):
                    da = b * a ** (b - 1) if b else xp.zeros_like(a)
                else:
                    da = xp.where(b == 0, 0.0, b * a ** (b - 1))
                ga = unbroadcast(g * da.astype(g.dtype), _shape(a))
            if self.needs_input_grad[1]:
                # out * log(a); 0 where a == 0 and b >= 0 (torch's mask)
                if isinstance(a, (int, float)):  # CuPy's where takes no bool
                    a = xp.asarray(a)
                safe = xp.where(a > 0, a, 1.0)
                log_a = xp.where(a < 0, xp.nan, xp.where(a == 0, -xp.inf, xp.log(safe)))
                db = xp.where((a == 0) & (b >= 0), 0.0, self.out * log_a)
                gb = unbroadcast(g * db.astype(g.dtype), _shape(b))
        return ga, gb


class Maximum(Function):
    """Elementwise maximum; at ties each input gets half the gradient (torch)."""

    promote_integers = True

    def forward(self, a, b):
        self.a, self.b = a, b
        return array_module(a, b).maximum(a, b)

    def backward(self, g):
        return _tie_split(self, g, self.a > self.b)


class Minimum(Function):
    """Elementwise minimum; at ties each input gets half the gradient (torch)."""

    promote_integers = True

    def forward(self, a, b):
        self.a, self.b = a, b
        return array_module(a, b).minimum(a, b)

    def backward(self, g):
        return _tie_split(self, g, self.a < self.b)


def _tie_split(fn: Function, g: Any, a_wins: Any) -> tuple[Any, Any]:
    share = a_wins + 0.5 * (fn.a == fn.b)  # 1 where a wins, 0.5 at ties
    share = share.astype(g.dtype) if hasattr(share, "astype") else share
    ga = unbroadcast(g * share, _shape(fn.a)) if fn.needs_input_grad[0] else None
    gb = unbroadcast(g * (1 - share), _shape(fn.b)) if fn.needs_input_grad[1] else None
    return ga, gb


class MatMul(Function):
    """Matrix product with NumPy's batching and 1-D rules (``a @ b``)."""

    promote_integers = True

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the hot path: dense layers
            return (g @ b.T if need_a else None), (a.T @ g if need_b else None)
        if a.ndim == 1 and b.ndim == 1:
            return (g * b if need_a else None), (g * a if need_b else None)
        xp = array_module(a, b)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = xp.expand_dims(g, -2) if a.ndim == 1 else g
        g2 = xp.expand_dims(g2, -1) if b.ndim == 1 else g2
        ga = gb = None
        if need_a:
            ga = unbroadcast(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


# ----------------------------------------------------------------- unary ops
class Negative(Function):
    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)


class Exp(Function):
    """``e ** x``; overflows to inf silently (``exp(1e4)``), as in PyTorch."""

    def forward(self, x):
        xp = array_module(x)
        with _quiet(xp):
            self.out = xp.exp(x)
        return self.out

    def backward(self, g):
        with _quiet(array_module(g)):
            return (g * self.out,)


class Log(Function):
    """Natural log; log(0) = -inf and log(-1) = nan silently, as in PyTorch."""

    def forward(self, x):
        self.x = x
        xp = array_module(x)
        with _quiet(xp):
            return xp.log(x)

    def backward(self, g):
        with _quiet(array_module(g)):
            return (g / self.x,)


class Log1p(Function):
    """``log(1 + x)``; -inf at -1 and nan below, silently (PyTorch)."""

    def forward(self, x):
        self.x = x
        xp = array_module(x)
        with _quiet(xp):
            return xp.log1p(x)

    def backward(self, g):
        with _quiet(array_module(g)):
            return (g / (1 + self.x),)


class Expm1(Function):
    """``exp(x) - 1``; overflows to inf silently, as in PyTorch."""

    def forward(self, x):
        xp = array_module(x)
        with _quiet(xp):
            self.out = xp.expm1(x)
        return self.out

    def backward(self, g):
        with _quiet(array_module(g)):
            return (g * (self.out + 1),)


class Sqrt(Function):
    """Square root; sqrt(-1) = nan and sqrt'(0) = inf silently (PyTorch)."""

    def forward(self, x):
        xp = array_module(x)
        with _quiet(xp):
            self.out = xp.sqrt(x)
        return self.out

    def backward(self, g):
        with _quiet(array_module(g)):
            return (g / (2 * self.out),)


class Square(Function):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return (2 * g * self.x,)


class Abs(Function):
    def forward(self, x):
        self.x = x
        return array_module(x).abs(x)

    def backward(self, g):
        return (g * array_module(self.x).sign(self.x),)


class Sign(Function):
    """Sign of x; its gradient is zero everywhere (PyTorch's convention)."""

    def forward(self, x):
        return array_module(x).sign(x)

    def backward(self, g):
        return (array_module(g).zeros_like(g),)


class Tanh(Function):
    def forward(self, x):
        self.out = array_module(x).tanh(x)
        return self.out

    def backward(self, g):
        # One fused kernel on the GPU (the NumPy path pays one type check).
        if type(g) is not _ndarray and array_module(g) is not _numpy:
            return (_gpu.tanh_grad(g, self.out),)
        return (g * (1 - self.out * self.out),)


class Sin(Function):
    """Sine; sin(inf) = nan silently (PyTorch)."""

    def forward(self, x):
        self.x = x
        xp = array_module(x)
        with _quiet(xp):
            return xp.sin(x)

    def backward(self, g):
        xp = array_module(g)
        with _quiet(xp):
            return (g * xp.cos(self.x),)


class Cos(Function):
    """Cosine; cos(inf) = nan silently (PyTorch)."""

    def forward(self, x):
        self.x = x
        xp = array_module(x)
        with _quiet(xp):
            return xp.cos(x)

    def backward(self, g):
        xp = array_module(g)
        with _quiet(xp):
            return (-g * xp.sin(self.x),)


class Erf(Function):
    """The error function (NumPy-only, see ``numdl.ops.special.erf``)."""

    def forward(self, x):
        from numdl.ops.special import erf as _erf

        self.x = x
        return _erf(x)

    def backward(self, g):
        xp = array_module(self.x)
        two_over_sqrt_pi = 1.1283791670955126
        a = xp.minimum(xp.abs(self.x), 40)  # exp(-1600) is 0: x * x never overflows
        return (g * (two_over_sqrt_pi * xp.exp(-a * a)).astype(g.dtype),)


class Clip(Function):
    """Clamp to [lo, hi]; the gradient passes where lo <= x <= hi (PyTorch).

    Array bounds take x's float type (no float64 upcast) and may broadcast x
    to a larger shape; the gradient is summed back to x's shape.
    """

    def forward(self, x, lo=None, hi=None):
        xp = array_module(x)
        lo, hi = _bound(lo, x), _bound(hi, x)
        self.x, self.lo, self.hi = x, lo, hi
        out = x
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return out

    def backward(self, g):
        inside = True
        if self.lo is not None:
            inside = self.x >= self.lo
        if self.hi is not None:
            inside = inside & (self.x <= self.hi)
        return (unbroadcast(g * inside, self.x.shape),)


def _bound(bound: Any, x: Any) -> Any:
    """A clip bound as a number or an array of x's float type."""
    if bound is None or isinstance(bound, (int, float)) and not hasattr(bound, "dtype"):
        return bound
    bound = array_module(x).asarray(bound)
    return bound.astype(x.dtype) if x.dtype.kind == "f" else bound


class Where(Function):
    promote_integers = True

    def forward(self, cond, a, b):
        self.cond = cond
        self.shapes = (_shape(a), _shape(b))
        return array_module(a, b).where(cond, a, b)

    def backward(self, g):
        xp = array_module(g)
        zero = xp.zeros((), dtype=g.dtype)
        ga = gb = None
        if self.needs_input_grad[1]:
            ga = unbroadcast(xp.where(self.cond, g, zero), self.shapes[0])
        if self.needs_input_grad[2]:
            gb = unbroadcast(xp.where(self.cond, zero, g), self.shapes[1])
        return None, ga, gb


class Cast(Function):
    def forward(self, x, dtype=None):
        self.dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return (g.astype(self.dtype),)


# ---------------------------------------------------------------- reductions
def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim if ndim else a for a in axis))


# Below this many elements a reduction's gradient is written out in full: a
# fresh, writeable array costs less than ``broadcast_to``'s Python overhead.
_MATERIALIZE = 1 << 15


def _expand(
    g: Any, shape: tuple[int, ...], axis: Any, keepdims: bool, divisor: Any = None
) -> Any:
    """Broadcast the gradient of a reduction back to the input's shape.

    With ``divisor`` (mean's count) every element is divided by it as well.
    """
    if not keepdims and axis is not None and shape:
        # A full reduction (axis None) gives one number, which broadcasts as is.
        axes = _axes(axis, len(shape))
        g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    xp = array_module(g)
    if _prod(shape) <= _MATERIALIZE:
        out = xp.empty(shape, dtype=g.dtype)
        out[...] = g
        if divisor is not None:
            out /= divisor  # the same division, element by element, as g / divisor
        return out
    return xp.broadcast_to(g if divisor is None else g / divisor, shape)


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for k in shape:
        n *= k
    return n


def _count(shape: tuple[int, ...], axis: Any) -> int:
    n = 1
    for a in _axes(axis, len(shape)):
        n *= shape[a]
    return n


class Sum(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(self, g):
        return (_expand(g, self.shape, self.axis, self.keepdims),)


class Mean(Function):
    """Mean; over an empty axis it is NaN without a warning, as in PyTorch."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        self.n = n = x.size if axis is None else _count(x.shape, axis)
        total = x.sum(axis=axis, keepdims=keepdims)
        divisor = x.dtype.type(n) if x.dtype.kind == "f" else n
        if n:  # only 0 / 0 or x / 0 can warn: skip errstate's cost otherwise
            return total / divisor
        with _quiet(array_module(x)):
            return total / divisor

    def backward(self, g):
        divisor = g.dtype.type(builtins.max(self.n, 1))
        return (_expand(g, self.shape, self.axis, self.keepdims, divisor),)


def _reduced(out: Any, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """Drop the reduced axes of a keepdims result unless ``keepdims``."""
    if keepdims:
        return out
    axes = _axes(axis, len(shape))
    return out.reshape([n for i, n in enumerate(shape) if i not in axes])


class _Extreme(Function):
    """max / min: the gradient is shared equally among tied extremes (amax)."""

    reduce = "max"

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        self.out = getattr(x, self.reduce)(axis=axis, keepdims=True)
        return _reduced(self.out, x.shape, axis, keepdims)

    def backward(self, g):
        mask = self.x == self.out
        with _quiet(array_module(g)):  # a NaN extreme matches nothing: 0 / 0
            share = mask / mask.sum(axis=self.axis, keepdims=True)
        return (
            _expand(g, self.x.shape, self.axis, self.keepdims) * share.astype(g.dtype),
        )


class Max(_Extreme):
    reduce = "max"


class Min(_Extreme):
    reduce = "min"


class Var(Function):
    """Variance with ``ddof`` (torch's ``correction``).

    The divisor is ``max(n - ddof, 0)`` as in PyTorch; when it is 0 (or the
    axis is empty) the result is NaN or inf silently, with a NaN gradient.
    """

    def forward(self, x, axis=None, keepdims=False, ddof=0):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        self.mean, self.denom, out = _moments(x, axis, ddof)
        return _reduced(out, x.shape, axis, keepdims)

    def backward(self, g):
        with _quiet(array_module(g)):
            scale = (self.x - self.mean) * (2 / self.denom)
            return (_expand(g, self.x.shape, self.axis, self.keepdims) * scale,)


def _moments(x: Any, axis: Any, ddof: int) -> tuple[Any, Any, Any]:
    """(mean, divisor, variance), keepdims, computed silently like PyTorch."""
    xp = array_module(x)
    n = _count(x.shape, axis)
    dtype = x.dtype if x.dtype.kind == "f" else xp.dtype("float64")
    denom = xp.asarray(builtins.max(n - ddof, 0), dtype=dtype)
    with _quiet(xp):
        mean = x.sum(axis=axis, keepdims=True, dtype=dtype) / xp.asarray(n, dtype)
        d = x - mean
        return mean, denom, (d * d).sum(axis=axis, keepdims=True) / denom


class Std(Function):
    """Standard deviation; where it is 0 the gradient is 0 (as PyTorch 2.x)."""

    def forward(self, x, axis=None, keepdims=False, ddof=0):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        self.mean, self.denom, variance = _moments(x, axis, ddof)
        self.out = array_module(x).sqrt(variance)
        return _reduced(self.out, x.shape, axis, keepdims)

    def backward(self, g):
        xp = array_module(g)
        zero = self.out == 0
        with _quiet(xp):
            scale = (self.x - self.mean) / (self.denom * xp.where(zero, 1, self.out))
            scale = xp.where(zero, 0, scale)
        return (
            _expand(g, self.x.shape, self.axis, self.keepdims) * scale.astype(g.dtype),
        )


class LogSumExp(Function):
    """log(sum(exp(x))) computed with the max subtracted: never overflows.

    Over an empty axis it is -inf (PyTorch); all -inf gives -inf, +inf gives inf.
    """

    def forward(self, x, axis=None, keepdims=False):
        xp = array_module(x)
        self.x, self.axis, self.keepdims = x, axis, keepdims
        if x.size:
            m = x.max(axis=axis, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
        else:  # max of an empty axis is undefined; the shift does not matter
            axes = _axes(axis, x.ndim)
            m = xp.zeros([1 if i in axes else n for i, n in enumerate(x.shape)])
            m = m.astype(x.dtype)
        with _quiet(xp):
            out = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
        self.out = out
        return _reduced(out, x.shape, axis, keepdims)

    def backward(self, g):
        xp = array_module(g)
        with _quiet(xp):
            softmax = xp.exp(self.x - self.out)
        return (_expand(g, self.x.shape, self.axis, self.keepdims) * softmax,)


class Prod(Function):
    """Product; the gradient is the product of the other factors (exact at 0).

    The other factors come from prefix and suffix cumulative products, so a
    zero factor needs no division and gives the exact gradient.
    """

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        return x.prod(axis=axis, keepdims=keepdims)

    def backward(self, g):
        xp = array_module(g)
        x = self.x
        if x.size == 0:
            return (xp.zeros(x.shape, dtype=g.dtype),)
        axes = _axes(self.axis, x.ndim)
        rest = [i for i in range(x.ndim) if i not in axes]
        moved = xp.transpose(x, rest + list(axes))
        flat = moved.reshape([x.shape[i] for i in rest] + [-1])
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=x.dtype)
        left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], -1), axis=-1)
        right = xp.cumprod(xp.concatenate([ones, flat[..., :0:-1]], -1), axis=-1)
        others = (left * right[..., ::-1]).reshape(moved.shape)
        inverse = [0] * x.ndim
        for position, a in enumerate(rest + list(axes)):
            inverse[a] = position
        others = xp.transpose(others, inverse)
        return (_expand(g, x.shape, self.axis, self.keepdims) * others,)


class ArgMax(Function):
    differentiable = False

    def forward(self, x, axis=None):
        return array_module(x).argmax(x, axis=axis)


class ArgMin(Function):
    differentiable = False

    def forward(self, x, axis=None):
        return array_module(x).argmin(x, axis=axis)


# ------------------------------------------------------------------ wrappers
def add(a: Any, b: Any) -> Any:
    """Elementwise ``a + b`` with broadcasting.

    >>> add([1.0, 2.0], 1.0).tolist()
    [2.0, 3.0]
    """
    return Add.apply(a, b)


def subtract(a: Any, b: Any) -> Any:
    """Elementwise ``a - b``.

    >>> subtract([3.0], [1.0]).tolist()
    [2.0]
    """
    return Subtract.apply(a, b)


def multiply(a: Any, b: Any) -> Any:
    """Elementwise ``a * b``.

    >>> multiply([2.0], [3.0]).tolist()
    [6.0]
    """
    return Multiply.apply(a, b)


def divide(a: Any, b: Any) -> Any:
    """Elementwise ``a / b``.

    >>> divide([1.0], [4.0]).tolist()
    [0.25]
    """
    return Divide.apply(a, b)


def power(a: Any, b: Any) -> Any:
    """Elementwise ``a ** b``.

    >>> power([2.0], 3).tolist()
    [8.0]
    """
    return Power.apply(a, b)


def negative(x: Any) -> Any:
    """Elementwise ``-x``.

    >>> negative([1.0]).tolist()
    [-1.0]
    """
    return Negative.apply(x)


def matmul(a: Any, b: Any) -> Any:
    """Matrix product ``a @ b`` (batched over leading axes, 1-D as NumPy).

    >>> matmul([[1.0, 2.0]], [[3.0], [4.0]]).tolist()
    [[11.0]]
    """
    return MatMul.apply(a, b)


def maximum(a: Any, b: Any) -> Any:
    """Elementwise maximum.

    >>> maximum([1.0, 5.0], 2.0).tolist()
    [2.0, 5.0]
    """
    return Maximum.apply(a, b)


def minimum(a: Any, b: Any) -> Any:
    """Elementwise minimum.

    >>> minimum([1.0, 5.0], 2.0).tolist()
    [1.0, 2.0]
    """
    return Minimum.apply(a, b)


def exp(x: Any) -> Any:
    """Elementwise ``e ** x``.

    >>> float(exp(0.0))
    1.0
    """
    return Exp.apply(x)


def log(x: Any) -> Any:
    """Natural logarithm.

    >>> float(log(1.0))
    0.0
    """
    return Log.apply(x)


def log1p(x: Any) -> Any:
    """``log(1 + x)``, accurate for small x.

    >>> float(log1p(0.0))
    0.0
    """
    return Log1p.apply(x)


def expm1(x: Any) -> Any:
    """``exp(x) - 1``, accurate for small x.

    >>> float(expm1(0.0))
    0.0
    """
    return Expm1.apply(x)


def sqrt(x: Any) -> Any:
    """Elementwise square root.

    >>> sqrt([4.0]).tolist()
    [2.0]
    """
    return Sqrt.apply(x)


def square(x: Any) -> Any:
    """Elementwise ``x * x``.

    >>> square([3.0]).tolist()
    [9.0]
    """
    return Square.apply(x)


def abs(x: Any) -> Any:  # noqa: A001 (NumPy's name)
    """Elementwise absolute value.

    >>> abs([-2.0]).tolist()
    [2.0]
    """
    return Abs.apply(x)


def sign(x: Any) -> Any:
    """Elementwise sign (-1, 0 or 1).

    >>> sign([-2.0, 0.0, 3.0]).tolist()
    [-1.0, 0.0, 1.0]
    """
    return Sign.apply(x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent.

    >>> float(tanh(0.0))
    0.0
    """
    return Tanh.apply(x)


def sin(x: Any) -> Any:
    """Sine.

    >>> float(sin(0.0))
    0.0
    """
    return Sin.apply(x)


def cos(x: Any) -> Any:
    """Cosine.

    >>> float(cos(0.0))
    1.0
    """
    return Cos.apply(x)


def erf(x: Any) -> Any:
    """The error function.

    >>> round(float(erf(1.0)), 6)
    0.842701
    """
    return Erf.apply(x)


def clip(x: Any, min_value: Any = None, max_value: Any = None) -> Any:
    """Clamp to ``[min_value, max_value]`` (either may be None).

    >>> clip([-2.0, 0.5, 3.0], 0.0, 1.0).tolist()
    [0.0, 0.5, 1.0]
    """
    if isinstance(min_value, Tensor) or isinstance(max_value, Tensor):
        raise TypeError("clip: min_value and max_value must be numbers or arrays")
    return Clip.apply(x, lo=min_value, hi=max_value)


def where(condition: Any, a: Any, b: Any) -> Any:
    """Choose ``a`` where ``condition`` holds, else ``b``.

    >>> where([True, False], [1.0, 2.0], [3.0, 4.0]).tolist()
    [1.0, 4.0]
    """
    if isinstance(condition, Tensor):
        condition = condition.data
    elif isinstance(condition, (list, tuple)):
        condition = array_module(a, b).asarray(condition)
    return Where.apply(condition, a, b)


def cast(x: Any, dtype: Any) -> Any:
    """Convert to ``dtype``; the gradient is converted back.

    >>> cast([1.5], "float32").dtype
    dtype('float32')
    """
    return Cast.apply(x, dtype=dtype)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over ``axis`` (all axes when None).

    >>> sum([[1.0, 2.0], [3.0, 4.0]], axis=0).tolist()
    [4.0, 6.0]
    """
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Arithmetic mean over ``axis``.

    >>> mean([[1.0, 2.0], [3.0, 4.0]], axis=1).tolist()
    [1.5, 3.5]
    """
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Maximum over ``axis``; ties share the gradient equally.

    >>> max([[1.0, 5.0], [3.0, 4.0]], axis=0).tolist()
    [3.0, 5.0]
    """
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Minimum over ``axis``; ties share the gradient equally.

    >>> min([[1.0, 5.0], [3.0, 4.0]], axis=0).tolist()
    [1.0, 4.0]
    """
    return Min.apply(x, axis=axis, keepdims=keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    """Variance over ``axis`` (``ddof=1`` for the unbiased estimate).

    >>> float(var([1.0, 3.0]))
    1.0
    """
    return Var.apply(x, axis=axis, keepdims=keepdims, ddof=ddof)


def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    """Standard deviation over ``axis``.

    >>> float(std([1.0, 3.0]))
    1.0
    """
    return Std.apply(x, axis=axis, keepdims=keepdims, ddof=ddof)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``log(sum(exp(x)))`` over ``axis``, stable for large inputs.

    >>> round(float(logsumexp([1e4, 1e4])), 4)
    10000.6931
    """
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Product over ``axis``.

    >>> float(prod([2.0, 3.0]))
    6.0
    """
    return Prod.apply(x, axis=axis, keepdims=keepdims)


def argmax(x: Any, axis: Any = None) -> Any:
    """Index of the maximum (not differentiable).

    >>> int(argmax([1.0, 3.0, 2.0]))
    1
    """
    return ArgMax.apply(x, axis=axis)


def argmin(x: Any, axis: Any = None) -> Any:
    """Index of the minimum (not differentiable).

    >>> int(argmin([1.0, 3.0, 0.5]))
    2
    """
    return ArgMin.apply(x, axis=axis)


from numdl.autograd.tensor import Tensor  # noqa: E402
