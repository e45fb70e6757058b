"""Max and average pooling over 1, 2 or 3 spatial axes, one op each.

``max_pool`` and ``average_pool`` (alias ``avg_pool``) follow ``keras.ops``:
``pool_size`` and ``strides`` (``None`` = ``pool_size``) are ints or tuples,
``padding`` is ``"valid"`` or ``"same"`` with TensorFlow's arithmetic, and
``data_format`` is ``"channels_last"`` (``(batch, *spatial, channels)``, the
default) or ``"channels_first"`` (``(batch, channels, *spatial)``).

- Output size: ``valid``: ``(n - pool) // stride + 1``; ``same``:
  ``ceil(n / stride)``, padding ``max((out - 1) * stride + pool - n, 0)``
  split with the smaller half before (TensorFlow's rule).
- Max pooling pads with ``-inf``; its gradient goes to one input per window,
  the first maximum in row-major window order (PyTorch's rule for ties).
- Average pooling with ``same`` padding divides by the number of real
  (unpadded) inputs in each window, as Keras and TensorFlow do
  (PyTorch's ``count_include_pad=False``).

Both run as a loop over the offsets inside the window (4 for a 2x2 pool),
each step one vectorised operation on strided views of the whole batch; the
backward pass scatters the same way. No loop runs over the batch or over
output positions.
"""

from __future__ import annotations

import itertools
import math
import operator
from typing import Any

import numpy as np  # host-side bookkeeping only (window counts, sizes)

from numdl import parallel
from numdl.autograd.function import Function
from numdl.autograd.grad_mode import is_grad_enabled
from numdl.backend import array_module
from numdl.ops import _cupy_kernels as _gpu
from numdl.ops.nn import as_float


class _Geometry:
    """Where the windows of one pooling call lie (sizes, padding, slices)."""

    def __init__(
        self,
        shape: tuple[int, ...],
        pool: tuple[int, ...],
        strides: tuple[int, ...],
        padding: str,
        channels_last: bool,
        name: str,
    ) -> None:
        nd = len(pool)
        first = 1 if channels_last else 2
        self.axes = tuple(range(first, first + nd))
        sizes = tuple(shape[a] for a in self.axes)
        if padding == "valid":
            if any(n < k for n, k in zip(sizes, pool)):
                raise ValueError(
                    f"{name}: pool_size {pool} is larger than the spatial size "
                    f"{sizes} of the inputs (shape {shape}) with padding='valid'; "
                    f"use a smaller pool_size or padding='same'"
                )
            out = tuple((n - k) // s + 1 for n, k, s in zip(sizes, pool, strides))
            pads = tuple((0, 0) for _ in sizes)
        else:
            out = tuple(-(-n // s) for n, s in zip(sizes, strides))
            totals = (
                max((o - 1) * s + k - n, 0)
                for o, s, k, n in zip(out, strides, pool, sizes)
            )
            pads = tuple((t // 2, t - t // 2) for t in totals)
        self.shape, self.sizes, self.out, self.pads = shape, sizes, out, pads
        self.pool, self.strides = pool, strides
        self.padded = any(p != (0, 0) for p in pads)
        # Each input lies in at most one window: gradients are written, not added.
        self.disjoint = all(s >= k for s, k in zip(strides, pool))
        # ... and windows abut (no gaps): only a tail past the last window
        # is left out, so the gradient buffer needs zeros there only.
        self.abutting = all(s == k for s, k in zip(strides, pool))
        out_shape = list(shape)
        for a, o in zip(self.axes, out):
            out_shape[a] = o
        self.out_shape = tuple(out_shape)

    def padded_shape(self) -> tuple[int, ...]:
        shape = list(self.shape)
        for a, (lo, hi) in zip(self.axes, self.pads):
            shape[a] += lo + hi
        return tuple(shape)

    def interior(self) -> tuple[slice, ...]:
        """Where the inputs lie inside the padded array."""
        index = [slice(None)] * len(self.shape)
        for a, (lo, _), n in zip(self.axes, self.pads, self.sizes):
            index[a] = slice(lo, lo + n)
        return tuple(index)

    def windows(self) -> list[tuple[slice, ...]]:
        """One index per offset in the window, row-major: the strided view of
        the (padded) inputs holding that offset of every window."""
        ranges = [range(k) for k in self.pool]
        index = [slice(None)] * len(self.shape)
        views = []
        for offsets in itertools.product(*ranges):
            for a, i, s, o in zip(self.axes, offsets, self.strides, self.out):
                index[a] = slice(i, i + s * (o - 1) + 1, s)
            views.append(tuple(index))
        return views

    def counts(self, dtype: Any) -> np.ndarray:
        """Real inputs per window, shaped to broadcast against the output."""
        total = np.ones((1,) * len(self.shape), dtype=dtype)
        for a, (lo, _), n, k, s, o in zip(
            self.axes, self.pads, self.sizes, self.pool, self.strides, self.out
        ):
            start = np.arange(o) * s - lo
            count = np.minimum(start + k, n) - np.maximum(start, 0)
            shape = [1] * len(self.shape)
            shape[a] = o
            total = total * count.reshape(shape).astype(dtype)
        return total


def _pad(x: Any, geo: _Geometry, value: float) -> Any:
    """``x`` inside a buffer of ``value`` (``same`` padding); ``x`` itself if none."""
    if not geo.padded:
        return x
    xp = array_module(x)
    out = xp.full(geo.padded_shape(), value, dtype=x.dtype)
    out[geo.interior()] = x
    return out


def _grad_buffer(g: Any, geo: _Geometry) -> Any:
    """The (padded) input gradient, zero wherever no window reaches."""
    xp = array_module(g)
    shape = geo.padded_shape()
    if not geo.abutting:
        return xp.zeros(shape, g.dtype)
    grad = xp.empty(shape, g.dtype)
    for a, o, k in zip(geo.axes, geo.out, geo.pool):
        if o * k < shape[a]:  # a tail the windows do not reach (valid padding)
            grad[(slice(None),) * a + (slice(o * k, None),)] = 0
    return grad


def _unpad(grad: Any, geo: _Geometry) -> Any:
    return grad[geo.interior()] if geo.padded else grad


class MaxPool(Function):
    """Max over each window; the gradient goes to the first maximum.

    Forward records, per output, which offset of its window won (``index``,
    one byte each for windows of up to 255 offsets): backward then routes the
    gradient with one comparison against ``index`` per offset, without the
    inputs (not kept alive) or a comparison against them. On a 2x2 pool of
    (128, 26, 26, 32) float32 that took backward from ~9 ms to ~1 ms (1
    thread); forward does the extra bookkeeping in ~1 ms more.
    """

    def forward(self, x, geo=None):
        xp = array_module(x)
        self.geo = geo
        x = _pad(x, geo, -xp.inf)
        if xp is not np and _gpu.pool2d_supported(x, geo.axes):  # one kernel
            return self._gpu_forward(xp, x, geo)
        out = xp.empty(geo.out_shape, dtype=x.dtype)
        kind = self._index_type(xp, geo)
        index = views = None
        if kind is not None:
            self.index = index = xp.empty(out.shape, dtype=kind)
            views = geo.windows()

        def part(s: slice) -> None:  # samples s (numdl.parallel splits the batch)
            if index is None:  # no backward to come: the maximum alone
                _reduce_axes(xp, xp.maximum, x[s], geo, out[s])
            else:
                _max_windows(xp, x[s], views, out[s], index[s])

        cost = parallel.FLOPS_PER_BYTE * x.size * x.itemsize  # element-wise: bytes
        parallel.run(part, parallel.split(x.shape[0], cost), x.shape[0])
        return out

    def _index_type(self, xp, geo):
        """The dtype of the winning offsets if a backward may follow, else None."""
        if not (is_grad_enabled() and any(getattr(self, "needs_input_grad", ()))):
            return None
        return xp.uint8 if math.prod(geo.pool) <= 255 else xp.int32

    def _gpu_forward(self, xp, x, geo):
        index_type = self._index_type(xp, geo)
        out, self.index = _gpu.max_pool2d(x, geo.pool, geo.strides, geo.out, index_type)
        return out

    def backward(self, g):
        xp = array_module(g)
        geo, index = self.geo, self.index
        if xp is not np and _gpu.pool2d_supported(g, geo.axes):  # one kernel
            shape = geo.padded_shape()
            grad = _gpu.max_pool2d_grad(g, index, shape, geo.pool, geo.strides)
            return (_unpad(grad, geo),)
        grad = _grad_buffer(g, geo)
        views = geo.windows()

        def part(s: slice) -> None:
            _route(xp, g[s], index[s], views, grad[s], geo.disjoint)

        cost = parallel.FLOPS_PER_BYTE * grad.size * g.itemsize
        parallel.run(part, parallel.split(g.shape[0], cost), len(g))
        return (_unpad(grad, geo),)


def _max_windows(xp: Any, x: Any, views: list, out: Any, index: Any) -> None:
    """``out`` = the maximum over each window of ``x``; ``index`` = which
    offset won."""
    out[...] = x[views[0]]
    index[...] = 0
    won = xp.empty(out.shape, dtype=index.dtype)
    for k, view in enumerate(views[1:], 1):
        # Strictly greater: a tie keeps the earlier offset (torch's rule).
        # A NaN never wins here (the gradient stays with the maximum
        # before it); the output is NaN all the same (maximum propagates).
        xp.greater(x[view], out, out=won)
        # Offsets come in increasing order, so a new winner's k exceeds
        # every index so far: index = max(index, won * k) is "index = k
        # where won", branch-free (copyto(where=) is ~100x slower).
        xp.multiply(won, k, out=won)
        xp.maximum(index, won, out=index)
        xp.maximum(out, x[view], out=out)


def _reduce_axes(xp: Any, ufunc: Any, x: Any, geo: _Geometry, out: Any) -> Any:
    """``ufunc`` (maximum or add) over each window of ``x``, one spatial axis
    at a time (a box's maximum or sum is that over its rows of the maxima or
    sums over its columns); the result in ``out`` if given. The first axis's
    slices are whole image rows (channels-last: one contiguous run each),
    and each later axis works on an array ``k`` times smaller: 2x2 max
    pooling of (64, 26, 26, 32) float32, one thread, took 0.71-0.83 of the
    time of one pass per window offset (4 strided views, one ``ufunc`` each).
    """
    last = len(geo.axes) - 1
    for n, (a, k, s, o) in enumerate(zip(geo.axes, geo.pool, geo.strides, geo.out)):
        index = [slice(None)] * x.ndim
        parts = []
        for i in range(k):
            index[a] = slice(i, i + s * (o - 1) + 1, s)
            parts.append(x[tuple(index)])
        x = _fold(xp, ufunc, parts, out if n == last else None)
    return x


def _fold(xp: Any, ufunc: Any, parts: list, out: Any) -> Any:
    """``ufunc`` over ``parts`` (``parts[0]`` alone if only one), written in
    ``out`` if given."""
    if len(parts) == 1:
        if out is None:
            return parts[0]
        xp.copyto(out, parts[0])
        return out
    result = ufunc(parts[0], parts[1], out=out)
    for part in parts[2:]:
        ufunc(result, part, out=result)
    return result


def _route(xp: Any, g: Any, index: Any, views: list, grad: Any, disjoint: bool):
    """Send each output's gradient ``g`` to the offset ``index`` names, in
    ``grad`` (the input gradient of the same samples)."""
    hit = xp.empty(index.shape, dtype=bool)
    part = None if disjoint else xp.empty_like(g)
    for k, view in enumerate(views):
        xp.equal(index, k, out=hit)
        if part is None:  # each input in one window: write, no zeros needed
            xp.multiply(g, hit, out=grad[view])
        else:
            grad[view] += xp.multiply(g, hit, out=part)


class AveragePool(Function):
    """Mean over each window (``same``: over its real inputs only)."""

    def forward(self, x, geo=None):
        xp = array_module(x)
        self.geo = geo
        x = _pad(x, geo, 0)
        out = _reduce_axes(xp, xp.add, x, geo, xp.empty(geo.out_shape, x.dtype))
        if geo.padded:
            self.divisor = xp.asarray(geo.counts(x.dtype))
        else:
            self.divisor = x.dtype.type(math.prod(geo.pool))
        out /= self.divisor
        return out

    def backward(self, g):
        geo = self.geo
        share = g / self.divisor
        grad = _grad_buffer(g, geo)
        for view in geo.windows():
            if geo.disjoint:
                grad[view] = share
            else:
                grad[view] += share
        return (_unpad(grad, geo),)


# ------------------------------------------------------------------ wrappers
def _tuple(value: Any, nd: int, what: str, name: str) -> tuple[int, ...]:
    """An int or a tuple of ``nd`` positive ints, as a tuple."""
    items = (value,) * nd if not isinstance(value, (tuple, list)) else tuple(value)
    try:
        if isinstance(value, (str, bool)) or any(isinstance(v, bool) for v in items):
            raise TypeError
        numbers = tuple(operator.index(v) for v in items)
    except TypeError:
        numbers = ()
    if len(numbers) != nd or any(n < 1 for n in numbers):
        raise ValueError(
            f"{name}: {what} must be a positive integer or a tuple of {nd} "
            f"positive integers, got {value!r}"
        )
    return numbers


def pool_arguments(
    nd: int, pool_size: Any, strides: Any, padding: Any, name: str
) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """``(pool_size, strides, padding)`` checked and as tuples / lowercase.

    ``strides=None`` means ``pool_size``. ``name`` starts every error message.

    >>> pool_arguments(2, 3, None, "SAME", "max_pool")
    ((3, 3), (3, 3), 'same')
    """
    pool = _tuple(pool_size, nd, "pool_size", name)
    steps = pool if strides is None else _tuple(strides, nd, "strides", name)
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise ValueError(f"{name}: padding must be 'valid' or 'same', got {padding!r}")
    return pool, steps, mode


def pool_geometry(
    shape: tuple[Any, ...],
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
    name: str = "pool",
) -> _Geometry:
    """Check pooling arguments against an input shape; return the windows.

    ``geometry.out_shape`` is the output shape. Raises ValueError naming
    ``name`` for a bad argument, a wrong rank or a pool larger than the input.

    >>> pool_geometry((8, 28, 28, 3), 2).out_shape
    (8, 14, 14, 3)
    """
    from numdl import config

    shape = tuple(shape)
    nd = len(shape) - 2
    if nd not in (1, 2, 3):
        raise ValueError(
            f"{name}: expected inputs with 3, 4 or 5 dimensions (batch, 1-3 "
            f"spatial axes, channels), got shape {shape}"
        )
    try:
        data_format = config.standardize_data_format(data_format)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    pool, steps, mode = pool_arguments(nd, pool_size, strides, padding, name)
    return _Geometry(shape, pool, steps, mode, data_format == "channels_last", name)


def pooled_size(size: Any, pool: int, stride: int, padding: str) -> Any:
    """Output length of one spatial axis (``None`` stays ``None``).

    >>> pooled_size(11, 2, 2, "valid"), pooled_size(11, 2, 2, "same")
    (5, 6)
    """
    if size is None:
        return None
    if padding == "valid":
        return (size - pool) // stride + 1 if size >= pool else 0
    return -(-size // stride)


def max_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Any:
    """Max pooling over the spatial axes (``keras.ops.max_pool``).

    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> max_pool(x, 2)[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    x = as_float(inputs)
    geo = pool_geometry(x.shape, pool_size, strides, padding, data_format, "max_pool")
    return MaxPool.apply(x, geo=geo)


def average_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Any:
    """Average pooling over the spatial axes (``keras.ops.average_pool``).

    With ``padding="same"`` each window's mean is over its real inputs only.

    >>> x = np.array([[[1.0], [2.0], [3.0]]])
    >>> average_pool(x, 2, 2, padding="same")[0, :, 0].tolist()
    [1.5, 3.0]
    """
    x = as_float(inputs)
    geo = pool_geometry(
        x.shape, pool_size, strides, padding, data_format, "average_pool"
    )
    return AveragePool.apply(x, geo=geo)


avg_pool = average_pool
