"""Convolutions: ``conv``, ``conv_transpose``, ``depthwise_conv``, ``separable_conv``.

Keras 3's ``keras.ops`` functions with Keras's kernel layouts:

- ``conv``: kernel ``(*kernel_size, in_channels // groups, filters)``;
- ``depthwise_conv``: kernel ``(*kernel_size, in_channels, depth_multiplier)``;
- ``separable_conv``: a depthwise kernel, then a pointwise ``(1, ..., C * m, F)``;
- ``conv_transpose``: kernel ``(*kernel_size, filters, in_channels)``.

Inputs have 1 or 2 spatial axes, ``channels_last`` (default) or
``channels_first``. ``"same"`` padding is Keras's (TensorFlow's): the total
padding ``max((ceil(n/s) - 1) * s + (k - 1) * d + 1 - n, 0)`` with the odd one
on the right/bottom.

How it runs. Two ops do all the work, each with a hand-written backward:
:class:`Conv` (convolution, with the bias add and an optional ReLU fused) and
:class:`ConvTranspose` (the input-gradient of a convolution, run forward).
Both compute in one layout, NHWC: a 1-D convolution is a 2-D one of height 1,
and ``channels_first`` arrays are *viewed* as NHWC (a transpose, no copy).

- Forward (im2col): a strided view of the padded input with shape
  ``(N, Ho, Wo, kh, kw, C)`` is copied once into a matrix
  ``(N*Ho*Wo, kh*kw*C)`` and multiplied by the kernel, whose Keras layout
  ``(kh, kw, C, F)`` already *is* the matrix ``(kh*kw*C, F)``: one GEMM. The
  bias rides in it (a column of ones against a bias row), ReLU is applied in
  place.
- Backward: ``grad_kernel = cols.T @ g`` (one GEMM on the saved columns; its
  last row is the bias gradient) and the input gradient as ``kh*kw`` GEMMs
  ``g @ kernel[i, j].T`` each added into its strided window of the input
  (col2im without a column matrix): loops run over the kernel window only,
  never over the batch or the output positions.
- Groups (and so depthwise convolution) run as one batched matmul over the
  groups.

Measured choices (OpenBLAS, 1 thread, MNIST-convnet shapes) are noted where
they are made.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import numpy as np

from numdl import parallel
from numdl.autograd.function import Function
from numdl.autograd.grad_mode import is_grad_enabled
from numdl.backend import array_module
from numdl.ops import _cupy_kernels as _gpu


# ----------------------------------------------------------------- geometry
def conv_output_length(
    size: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: str = "valid",
    dilation: int = 1,
) -> int | None:
    """Output length of a convolution along one axis (``None`` stays ``None``).

    ``"valid"``: ``(size - (k-1)*d - 1) // stride + 1`` (0 or less when the
    kernel does not fit); ``"same"`` and ``"causal"``: ``ceil(size / stride)``.

    >>> conv_output_length(28, 3), conv_output_length(28, 3, 2, "same")
    (26, 14)
    """
    if size is None:
        return None
    if padding in ("same", "causal"):
        return -(-size // stride)
    return (size - (kernel_size - 1) * dilation - 1) // stride + 1


def same_padding(
    size: int, kernel_size: int, stride: int, dilation: int = 1
) -> tuple[int, int]:
    """Keras/TensorFlow ``"same"`` padding ``(before, after)`` of one axis.

    The total is ``max((ceil(n/s) - 1)*s + (k-1)*d + 1 - n, 0)``; the extra
    one of an odd total goes after (right/bottom).

    >>> same_padding(5, 4, 1), same_padding(6, 3, 2)
    ((1, 2), (0, 1))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def conv_transpose_output_length(
    size: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: str = "valid",
    output_padding: int | None = None,
    dilation: int = 1,
) -> int | None:
    """Output length of a transposed convolution along one axis (Keras's rule).

    ``"valid"``: ``(n-1)*s + K + output_padding`` with ``output_padding``
    defaulting to ``max(K, s) - K``; ``"same"``: ``n*s``, or
    ``(n-1)*s + K % 2 + output_padding`` when it is given (``K`` is the
    dilated kernel size).

    >>> conv_transpose_output_length(7, 3, 2)
    15
    >>> conv_transpose_output_length(7, 3, 2, "same")
    14
    """
    if size is None:
        return None
    k = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return (size - 1) * stride + k + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + k % 2 + output_padding


def _transpose_crop(
    kernel_size: int,
    stride: int,
    padding: str,
    output_padding: int | None,
    dilation: int,
) -> int:
    """Where the output of a transposed convolution starts in the full one.

    The full result of scattering every input through the kernel has length
    ``(n-1)*s + K``; Keras (its JAX/NumPy backends, and TensorFlow) keeps a
    window of it that starts ``K - 1 - left_pad`` in, where ``left_pad`` is
    what ``keras.src.backend.common.backend_utils`` computes.
    """
    k = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        return 0
    if output_padding is None:
        pad_len = stride + k - 2
    else:
        pad_len = k + k % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k - 1)
    return k - 1 - left


class Geometry(NamedTuple):
    """A 2-D convolution's shape parameters, NHWC (1-D ones have height 1).

    ``pads`` are ``((top, bottom), (left, right))``; ``out`` is ``(Ho, Wo)``.

    >>> Geometry((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (28, 28)).out
    (28, 28)
    """

    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    out: tuple[int, int]


class Layout(NamedTuple):
    """How the caller's arrays map to NHWC: spatial rank and channel position.

    >>> import numpy as np
    >>> Layout(1, True).to_nhwc(np.zeros((2, 3, 10))).shape  # (N, C, L) -> NHWC
    (2, 1, 10, 3)
    """

    rank: int
    channels_first: bool

    def to_nhwc(self, a: Any) -> Any:
        """A view of ``a`` (batch, ..., channels) as 4-D NHWC."""
        if self.channels_first:
            a = a.transpose((0,) + tuple(range(2, a.ndim)) + (1,))
        return a[:, None] if self.rank == 1 else a

    def from_nhwc(self, a: Any) -> Any:
        """A view of a 4-D NHWC array in the caller's layout."""
        if self.rank == 1:
            a = a[:, 0]
        if self.channels_first:
            a = a.transpose((0, a.ndim - 1) + tuple(range(1, a.ndim - 1)))
        return a


# ----------------------------------------------------------- array kernels
def _pad(xp: Any, x: Any, pads: tuple) -> Any:
    """``x`` (NHWC) with zeros around its spatial axes (``x`` itself if none)."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, h, w, c = x.shape
    out = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    out[:, top : top + h, left : left + w] = x
    return out


def _windows(xp: Any, x: Any, geo: Geometry) -> Any:
    """A read-only view ``(N, Ho, Wo, kh, kw, C)`` of every window of ``x``."""
    n, _, _, c = x.shape
    sn, sh, sw, sc = x.strides
    (kh, kw), (s0, s1), (d0, d1) = geo.kernel, geo.strides, geo.dilation
    return xp.lib.stride_tricks.as_strided(
        x,
        shape=(n, geo.out[0], geo.out[1], kh, kw, c),
        strides=(sn, sh * s0, sw * s1, sh * d0, sw * d1, sc),
    )


def _im2col(
    xp: Any, x: Any, geo: Geometry, groups: int, ones: bool = False, out: Any = None
) -> Any:
    """The columns of a (padded) NHWC input: ``(M, kh*kw*C)`` for one group,
    ``(groups, M, kh*kw*C/groups)`` for several; ``M = N*Ho*Wo``.

    With ``ones`` (one group), a last column of ones is appended, so that a
    kernel matrix with the bias as its last row adds the bias inside the GEMM
    (and ``cols.T @ g`` yields the bias gradient as its last row). ``out``
    (one group, not pointwise): the array to write the columns into.
    """
    n, _, _, c = x.shape
    (kh, kw), (ho, wo) = geo.kernel, geo.out
    rows, size = n * ho * wo, kh * kw * c
    if groups > 1:
        win = _windows(xp, x, geo).reshape(n, ho, wo, kh, kw, groups, c // groups)
        return win.transpose(5, 0, 1, 2, 3, 4, 6).reshape(groups, rows, size // groups)
    if not ones and _pointwise(geo):
        return x.reshape(rows, c)  # a view (or a copy of a strided input)
    if xp is not np:  # GPU: one kernel reads each element once
        geometry = (geo.kernel, geo.strides, geo.dilation, geo.out)
        return _gpu.im2col(x, *geometry, ones, out)
    if out is None:
        out = _new_columns(xp, rows, size + ones, x.dtype, c)
    cols = out
    if ones:
        cols[:, size] = 1
    # Splitting both axes of a (strided) 2-D array is always a view.
    if c == 1 and cols.strides[0] < cols.strides[1]:  # stored transposed
        target = cols[:, :size].T.reshape(kh, kw, n, ho, wo)
        for i, rows_i, j, cols_j in _window_slices(geo):
            target[i, j] = x[:, rows_i, cols_j, 0]
        return cols
    target = cols[:, :size].reshape(n, ho, wo, kh, kw, c)
    if c == 1:  # one channel: a copy per window runs along image rows, ~3x faster
        for i, rows_i, j, cols_j in _window_slices(geo):
            target[:, :, :, i, j] = x[:, rows_i, cols_j]
    else:
        target[...] = _windows(xp, x, geo)
    return cols


def _new_columns(xp: Any, rows: int, width: int, dtype: Any, channels: int) -> Any:
    """An uninitialised ``(rows, width)`` array for the columns of a one-group
    convolution. With one input channel (on the host) it is stored
    transposed, the ``.T`` of ``(width, rows)``: each kernel offset's copy
    then writes one contiguous row instead of every ``width``-th number, and
    OpenBLAS reads it as fast or faster (the MNIST convnet's first layer,
    64 samples, one thread: columns 0.37 -> 0.19 ms, forward product
    0.87 -> 0.73 ms, kernel gradient 0.93 -> 0.78 ms)."""
    if channels == 1 and xp is np:
        return xp.empty((width, rows), dtype=dtype).T
    return xp.empty((rows, width), dtype=dtype)


def _pointwise(geo: Geometry) -> bool:
    """A 1x1 kernel with stride 1 and no padding: the columns are the input."""
    return geo.kernel == (1, 1) and geo.strides == (1, 1) and geo.pads == ((0, 0),) * 2


def _window_slices(geo: Geometry):
    """``(i, rows, j, cols)`` for each kernel offset: the input positions that
    offset ``(i, j)`` of the kernel sees, over every output position."""
    (kh, kw), (s0, s1), (d0, d1), (ho, wo) = (
        geo.kernel, geo.strides, geo.dilation, geo.out
    )  # fmt: skip
    for i in range(kh):
        rows = slice(i * d0, i * d0 + (ho - 1) * s0 + 1, s0)
        for j in range(kw):
            yield i, rows, j, slice(j * d1, j * d1 + (wo - 1) * s1 + 1, s1)


def _column_sums(xp: Any, a: Any) -> Any:
    """``a.sum(axis=0)`` of a 2-D array as a matrix-vector product: BLAS is
    ~6x faster than NumPy's reduction over rows of a few dozen columns."""
    return xp.ones(a.shape[0], dtype=a.dtype) @ a


def _scatter(
    xp: Any,
    g2: Any,
    kernel: Any,
    shape: tuple,
    geo: Geometry,
    groups: int,
    out: Any = None,
):
    """``sum over windows (i, j)`` of ``g2 @ kernel[i, j].T`` added at the
    window's input positions: the input-gradient of a convolution (col2im of
    ``g2 @ kernel.T``), as ``kh*kw`` GEMMs and strided slice additions.

    ``g2`` is ``(N*Ho*Wo, F)``, ``kernel`` ``(kh, kw, C/groups, F)``, ``shape``
    the NHWC shape of the (padded) input. One GEMM per window writes a
    contiguous block that is added in place, which is faster than one big
    GEMM followed by additions from the strided column matrix. ``out``: the
    array (of ``shape``) to write the gradient into.
    """
    if xp is not np and groups == 1:  # GPU: one GEMM, then one col2im kernel
        cols = g2 @ kernel.reshape(-1, kernel.shape[-1]).T
        return _gpu.col2im(
            cols, shape, geo.kernel, geo.strides, geo.dilation, geo.out, out
        )
    n, h, w, c = shape
    ho, wo = geo.out
    if out is None:
        out = xp.empty(shape, dtype=g2.dtype)
    if groups == 1 and geo.kernel == (1, 1) and (ho, wo) == (h, w):
        xp.matmul(g2, kernel[0, 0].T, out=out.reshape(-1, c))  # pointwise: one GEMM
        return out
    out[...] = 0
    m = g2.shape[0]
    if groups == 1:
        target, grads = out, g2
        part = xp.empty((m, c), dtype=g2.dtype)  # one buffer for every window
        view = part.reshape(n, ho, wo, c)
    else:  # (groups, M, fg) against kernels (groups, fg, cg), into (N, H, W, G, cg)
        cg = c // groups
        target = out.reshape(n, h, w, groups, cg)
        grads = _group_rows(g2, groups)
        part = xp.empty((groups, m, cg), dtype=g2.dtype)
        view = part.reshape(groups, n, ho, wo, cg).transpose(1, 2, 3, 0, 4)
    for i, rows, j, cols in _window_slices(geo):
        k = kernel[i, j]  # (cg, F)
        if groups == 1:
            xp.matmul(grads, k.T, out=part)
        else:
            xp.matmul(
                grads, k.reshape(k.shape[0], groups, -1).transpose(1, 2, 0), out=part
            )
        target[:, rows, cols] += view
    return out


# Depthwise convolution (groups == channels): einsum over the window view, ~5x
# faster than the grouped GEMMs, whose column copy moves the groups first.
def _depthwise(xp: Any, x: Any, kernel: Any, geo: Geometry) -> Any:
    """``(M, C*m)`` outputs of a depthwise kernel ``(kh, kw, 1, C*m)``."""
    kh, kw, _, f = kernel.shape
    c = x.shape[3]
    k = kernel.reshape(kh, kw, c, f // c)
    return xp.einsum("nhwijc,ijcm->nhwcm", _windows(xp, x, geo), k).reshape(-1, f)


def _depthwise_kernel_grad(xp: Any, x: Any, g2: Any, geo: Geometry, shape: tuple):
    """Gradient of a depthwise kernel: window view against ``g``, one einsum."""
    n, c = x.shape[0], x.shape[3]
    g5 = g2.reshape(n, geo.out[0], geo.out[1], c, -1)
    grad = xp.einsum("nhwijc,nhwcm->ijcm", _windows(xp, x, geo), g5)
    return grad.reshape(shape)


def _depthwise_scatter(xp: Any, g2: Any, kernel: Any, shape: tuple, geo: Geometry):
    """Input gradient of a depthwise convolution: per kernel offset, ``g``
    times that offset's weights added into its window of the input."""
    n, _, _, c = shape
    kh, kw, _, f = kernel.shape
    g5 = g2.reshape(n, geo.out[0], geo.out[1], c, f // c)
    k = kernel.reshape(kh, kw, c, f // c)
    out = xp.zeros(shape, dtype=g2.dtype)
    for i, rows, j, cols in _window_slices(geo):
        if f == c:  # depth_multiplier 1: a plain product
            out[:, rows, cols] += g5[..., 0] * k[i, j, :, 0]
        else:
            out[:, rows, cols] += xp.einsum("nhwcm,cm->nhwc", g5, k[i, j])
    return out


def _kernel_matrix(kernel: Any, groups: int) -> Any:
    """A ``(kh, kw, cg, F)`` kernel as ``(kh*kw*cg, F)`` (a view), or
    ``(groups, kh*kw*cg, F/groups)`` for grouped convolutions."""
    kh, kw, cg, f = kernel.shape
    if groups == 1:
        return kernel.reshape(kh * kw * cg, f)
    return kernel.reshape(kh * kw * cg, groups, f // groups).transpose(1, 0, 2)


def _group_rows(g2: Any, groups: int) -> Any:
    """``(M, F)`` as ``(groups, M, F/groups)`` (a view)."""
    m, f = g2.shape
    return g2.reshape(m, groups, f // groups).transpose(1, 0, 2)


def _ungroup_rows(a: Any) -> Any:
    """``(groups, M, fg)`` -> ``(M, groups*fg)``."""
    g, m, fg = a.shape
    return a.transpose(1, 0, 2).reshape(m, g * fg)


# --------------------------------------------------------------------- ops
class Conv(Function):
    """Convolution (cross-correlation) + bias (+ ReLU), NHWC inside.

    Inputs: ``x`` in the caller's layout, ``kernel`` ``(*k, C/groups, F)``,
    ``bias`` ``(F,)`` or None. Backward gives all three gradients. Called
    through :func:`conv`, which checks the arguments and builds the geometry.

    >>> import numpy as np
    >>> geo = Geometry((2, 2), (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1))
    >>> Conv.apply(np.ones((1, 2, 2, 1)), np.ones((2, 2, 1, 1)), geometry=geo,
    ...            layout=Layout(2, False)).tolist()
    [[[[4.0]]]]
    """

    def forward(self, x, kernel, bias=None, geometry=None, layout=None, relu=False):
        xp = array_module(x, kernel)
        geo: Geometry = geometry
        x4 = layout.to_nhwc(x)
        k4 = kernel if kernel.ndim == 4 else kernel.reshape((1,) + kernel.shape)
        groups = x4.shape[3] // k4.shape[2]
        xpad = _pad(xp, x4, geo.pads)
        # Depthwise (one input channel per group): an einsum over the windows.
        self.depthwise = depthwise = groups > 1 and k4.shape[2] == 1
        # Otherwise the bias rides in the GEMM (a row of the kernel matrix
        # against a column of ones) unless the columns are a view of the input.
        fold = bias is not None and not depthwise and groups == 1
        fold = fold and not _pointwise(geo)
        clipped = False
        if depthwise:
            out = _depthwise(xp, xpad, k4, geo)
            self.xpad = xpad
        else:
            kmat = _kernel_matrix(k4, groups)
            if fold:
                bias_row = bias.reshape(1, -1).astype(kmat.dtype)
                kmat = xp.concatenate([kmat, bias_row])
            if groups == 1 and not _pointwise(geo):  # ReLU applied in parts
                out = self._columns_product(xp, xpad, kmat, geo, fold, relu)
                clipped = relu
            else:
                cols = _im2col(xp, xpad, geo, groups, ones=fold)
                out = cols @ kmat
                if groups > 1:
                    out = _ungroup_rows(out)
                self.cols = cols
        if bias is not None and not fold:
            out += bias
        if relu and not clipped:
            # clip with both bounds takes NumPy's vectorised path: 3.5x faster
            # than maximum(out, 0) (0.3 vs 1.0 ms on 86528 x 32), NaN kept.
            xp.clip(out, 0, xp.inf, out=out)
        if relu:
            self.out = out
        self.k4, self.groups, self.relu, self.fold = k4, groups, relu, fold
        self.geo, self.layout, self.kernel_shape = geo, layout, kernel.shape
        self.x_shape, self.padded_shape = x4.shape, xpad.shape
        n, ho, wo, f = x4.shape[0], geo.out[0], geo.out[1], k4.shape[3]
        return layout.from_nhwc(out.reshape(n, ho, wo, f))

    def _columns_product(self, xp, x, kmat, geo, ones, relu):
        """``im2col(x) @ kmat`` (+ ReLU) for one group, the batch split over
        numdl's threads (:mod:`numdl.parallel`); keeps the columns for the
        backward when one may follow, else works a block at a time."""
        n, per_sample = x.shape[0], geo.out[0] * geo.out[1]
        rows, width = n * per_sample, kmat.shape[0]
        keep = _backward_follows(self)
        cols = _new_columns(xp, rows, width, x.dtype, x.shape[3]) if keep else None
        out = xp.empty((rows, kmat.shape[1]), dtype=x.dtype)

        def part(s: slice) -> None:
            r = slice(s.start * per_sample, s.stop * per_sample)
            if keep:
                _im2col(xp, x[s], geo, 1, ones=ones, out=cols[r])
                xp.matmul(cols[r], kmat, out=out[r])
            else:
                _blockwise_product(xp, x[s], geo, kmat, ones, out=out[r])
            if relu:
                xp.clip(out[r], 0, xp.inf, out=out[r])

        parallel.run(part, parallel.split(n, 2.0 * rows * width * kmat.shape[1]), n)
        if keep:
            self.cols = cols
        return out

    def backward(self, g):
        need_x, need_kernel, need_bias = self.needs_input_grad
        g4 = self.layout.to_nhwc(g)
        g2 = g4.reshape(-1, g4.shape[3])
        xp = array_module(g2)
        if self._splits_backward(need_kernel):
            return self._split_backward(xp, g2, need_x, need_kernel, need_bias)
        if self.relu and xp is not np:  # one fused kernel on the GPU
            g2 = _gpu.relu_grad(g2, self.out)
        elif self.relu:
            g2 = _relu_grad(g2, self.out)
        gx = gk = gb = None
        if need_kernel and self.depthwise:
            gk = _depthwise_kernel_grad(xp, self.xpad, g2, self.geo, self.kernel_shape)
        elif need_kernel:
            gk = _kernel_grad(self.cols, g2, self.groups)
            if self.fold:  # the last row is the bias gradient
                gk, gb = gk[:-1], gk[-1].copy()
            gk = gk.reshape(self.kernel_shape)
        if need_bias and gb is None:
            gb = _column_sums(xp, g2)
        if need_x:
            gx = self._input_grad(g2)
        return gx, gk, gb

    def _splits_backward(self, need_kernel) -> bool:
        """Whether the backward runs in parts (the one-group GEMM path)."""
        return (
            not self.depthwise
            and self.groups == 1
            and hasattr(self, "cols")
            and not _pointwise(self.geo)
            and parallel.split(self.x_shape[0], self._flops()) is not None
        )

    def _flops(self) -> float:
        rows, width = self.cols.shape
        return 2.0 * rows * width * self.k4.shape[3]

    def _split_backward(self, xp, g2, need_x, need_kernel, need_bias):
        """The backward with the batch split over numdl's threads: each part
        masks its rows of ``g``, adds its own partial kernel gradient
        ``cols.T @ g`` (summed afterwards) and writes its samples' input
        gradient."""
        n, per_sample = self.x_shape[0], self.geo.out[0] * self.geo.out[1]
        dx = xp.empty(self.padded_shape, dtype=g2.dtype) if need_x else None

        def part(s: slice):
            r = slice(s.start * per_sample, s.stop * per_sample)
            gs = g2[r]
            if self.relu:
                gs = _relu_grad(gs, self.out[r])
            gk = _at_b(self.cols[r], gs) if need_kernel or self.fold else None
            gb = _column_sums(xp, gs) if need_bias and not self.fold else None
            if need_x:
                shape = (s.stop - s.start,) + self.padded_shape[1:]
                _scatter(xp, gs, self.k4, shape, self.geo, 1, out=dx[s])
            return gk, gb

        parts = parallel.run(part, parallel.split(n, self._flops()), n)
        gk = gb = None
        if need_kernel or self.fold:
            gk = sum(p[0] for p in parts[1:]) + parts[0][0]
            if self.fold:  # the last row is the bias gradient
                gk, gb = gk[:-1], gk[-1].copy()
            gk = gk.reshape(self.kernel_shape) if need_kernel else None
        if need_bias and not self.fold:
            gb = sum(p[1] for p in parts[1:]) + parts[0][1]
        gx = self._crop(dx) if need_x else None
        return gx, gk, (gb if need_bias else None)

    def _crop(self, dx):
        """The input gradient without the padding, in the caller's layout."""
        (top, _), (left, _) = self.geo.pads
        _, h, w, _ = self.x_shape
        if dx.shape != self.x_shape:
            dx = dx[:, top : top + h, left : left + w]
        return self.layout.from_nhwc(dx)

    def _input_grad(self, g2):
        xp = array_module(g2)
        groups, geo = self.groups, self.geo
        if self.depthwise:
            dx = _depthwise_scatter(xp, g2, self.k4, self.padded_shape, geo)
        else:
            dx = _scatter(xp, g2, self.k4, self.padded_shape, geo, groups)
        return self._crop(dx)


def _relu_grad(g: Any, out: Any) -> Any:
    """``g`` where the ReLU's output ``out`` is positive, else 0 (a new array)."""
    # The comparison written straight into a float mask: one pass less than a
    # boolean mask cast to float (and float * bool products ran ~30% slower);
    # 1.13 -> 0.96 ms on (43264, 32) float32, half the first layer's at 128.
    mask = np.empty_like(g)
    np.greater(out, 0, out=mask)
    return np.multiply(mask, g, out=mask)


def _backward_follows(fn: Function) -> bool:
    """Whether ``fn``'s backward may run: graph recording is on and an input
    needs a gradient (``needs_input_grad`` is unset on plain arrays)."""
    return is_grad_enabled() and any(getattr(fn, "needs_input_grad", ()))


# Bytes of columns per block of a convolution without backward (see below).
_BLOCK_BYTES = 2 << 20


def _blockwise_product(
    xp: Any, x: Any, geo: Geometry, kmat: Any, ones: bool, out: Any = None
):
    """``im2col(x) @ kmat`` (``ones``: with the ones column), a block of
    samples at a time: with no backward to keep the columns for, each
    block's columns (~2 MB) are multiplied while still in cache and never
    reach memory (Keras MNIST convnet's second convolution, batch 128: 5.2
    -> 4.0 ms at 2 threads; predict_on_batch -18% at 1 thread, but slower
    when the test VM's two cores sit far apart, see docs/benchmarks.md).
    Returns the ``(N*Ho*Wo, F)`` output (written into ``out`` if given)."""
    n = x.shape[0]
    per_sample = geo.out[0] * geo.out[1]
    step = max(_BLOCK_BYTES // (per_sample * kmat.shape[0] * x.itemsize), 1)
    if out is None:
        out = xp.empty((n * per_sample, kmat.shape[1]), dtype=x.dtype)
    for start in range(0, n, step):
        rows = slice(start * per_sample, (start + step) * per_sample)
        cols = _im2col(xp, x[start : start + step], geo, 1, ones=ones)
        xp.matmul(cols, kmat, out=out[rows])
    return out


def _kernel_grad(cols: Any, g2: Any, groups: int) -> Any:
    """``cols.T @ g`` in the kernel's ``(kh*kw*cg, F)`` order."""
    if groups == 1:
        return _at_b(cols, g2)
    gk = cols.transpose(0, 2, 1) @ _group_rows(g2, groups)  # (G, kh*kw*cg, fg)
    return _ungroup_rows(gk)


# Rows per block of a thin ``a.T @ b`` (see _at_b).
_BLOCK_ROWS = 2048


def _at_b(a: Any, b: Any) -> Any:
    """``a.T @ b`` for tall ``a`` and ``b`` (a kernel gradient: a sum over
    every output position).

    Thin operands (a few dozen columns, as in a first layer's
    ``86528 x 10`` columns against its ``86528 x 32`` gradient) are
    memory-bound, and OpenBLAS runs such a product over 86528 rows at half
    the speed it reaches on blocks of 2048 rows that stay in cache: the
    blocks' products are summed (1.3 -> 0.6 ms at 1 and 2 threads).
    Otherwise OpenBLAS is ~10% faster computing ``(b.T @ a).T`` when ``a`` is
    the wider one (measured on 15488 x 289 and 15488 x 64; the other way
    round for 86528 x 10 and 86528 x 32)."""
    if type(a) is not np.ndarray:  # GPU: cuBLAS takes the product whole
        return a.T @ b
    rows = _BLOCK_ROWS
    if a.shape[1] * b.shape[1] <= 64 * 64 and a.shape[0] >= 4 * rows:
        out = a[:rows].T @ b[:rows]
        for start in range(rows, a.shape[0], rows):
            out += a[start : start + rows].T @ b[start : start + rows]
        return out
    if a.shape[1] >= b.shape[1]:
        return (b.T @ a).T
    return a.T @ b


class ConvTranspose(Function):
    """Transposed convolution: the input-gradient of :class:`Conv`, run forward.

    ``x`` ``(N, *spatial, C)`` (caller's layout), ``kernel`` ``(*k, F, C)``,
    ``bias`` ``(F,)``. The full result (every input scattered through the
    kernel) is cropped at ``crop`` to ``size`` (zeros past its end). Called
    through :func:`conv_transpose`.

    >>> import numpy as np
    >>> geo = Geometry((2, 2), (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1))
    >>> ConvTranspose.apply(np.ones((1, 1, 1, 1)), np.ones((2, 2, 1, 1)),
    ...     geometry=geo, layout=Layout(2, False), size=(2, 2))[..., 0].tolist()
    [[[1.0, 1.0], [1.0, 1.0]]]
    """

    def forward(
        self, x, kernel, bias=None, geometry=None, layout=None, crop=(0, 0), size=None
    ):
        xp = array_module(x, kernel)
        geo: Geometry = geometry
        x4 = layout.to_nhwc(x)
        k4 = kernel if kernel.ndim == 4 else kernel.reshape((1,) + kernel.shape)
        n, hi, wi, c = x4.shape
        kh, kw, f, _ = k4.shape
        x2 = x4.reshape(n * hi * wi, c)
        kmat = k4.reshape(kh * kw * f, c)
        full = _full_shape(geo, n, hi, wi, f, crop, size)
        out = _scatter(xp, x2, k4, full, geo, 1)
        out = out[:, crop[0] : crop[0] + size[0], crop[1] : crop[1] + size[1]]
        if bias is not None:
            out += bias
        self.x2, self.kmat, self.geo, self.layout = x2, kmat, geo, layout
        self.crop, self.size, self.full = crop, size, full
        self.x_shape, self.kernel_shape = x4.shape, kernel.shape
        return layout.from_nhwc(out)

    def backward(self, g):
        xp = array_module(g)
        need_x, need_kernel, need_bias = self.needs_input_grad
        g4 = self.layout.to_nhwc(g)
        gx = gk = gb = None
        if need_bias:
            gb = _column_sums(xp, g4.reshape(-1, g4.shape[3]))
        if need_x or need_kernel:
            (top, left), (h, w) = self.crop, self.size
            bottom, right = self.full[1] - top - h, self.full[2] - left - w
            gpad = _pad(xp, g4, ((top, bottom), (left, right)))
            cols = _im2col(xp, gpad, self.geo, 1)
            if need_x:
                gx = self.layout.from_nhwc((cols @ self.kmat).reshape(self.x_shape))
            if need_kernel:
                gk = _at_b(cols, self.x2).reshape(self.kernel_shape)
        return gx, gk, gb


def _full_shape(geo: Geometry, n: int, hi: int, wi: int, f: int, crop, size):
    """The NHWC shape the transposed convolution scatters into: the full
    result ``(in-1)*s + K``, or longer when the kept window runs past it."""
    dims = []
    for axis, length in enumerate((hi, wi)):
        k = (geo.kernel[axis] - 1) * geo.dilation[axis] + 1
        full = (length - 1) * geo.strides[axis] + k
        dims.append(max(full, crop[axis] + size[axis]))
    return (n, dims[0], dims[1], f)


# --------------------------------------------------------------- arguments
def _shape(x: Any) -> tuple[int, ...]:
    if hasattr(x, "shape"):
        return tuple(x.shape)
    return tuple(array_module(x).shape(x))


def _tuple(value: Any, rank: int, what: str, name: str, minimum: int = 1):
    """An int or a sequence of ``rank`` ints, each >= ``minimum``, as a tuple."""
    items = (value,) * rank if not isinstance(value, (tuple, list)) else value
    try:
        if isinstance(value, str) or any(isinstance(v, bool) for v in items):
            raise TypeError
        out = tuple(operator.index(v) for v in items)
    except TypeError:
        out = None
    if out is None or len(out) != rank or any(v < minimum for v in out):
        kind = "positive integer" if minimum == 1 else f"integer >= {minimum}"
        raise ValueError(
            f"{name}: {what} must be a {kind} or a tuple of {rank} of them, got "
            f"{value!r}"
        )
    return out


def standardize_padding(padding: Any, name: str, allow_causal: bool = False) -> str:
    """``"valid"`` or ``"same"`` (any case); ``"causal"`` where allowed.

    >>> standardize_padding("SAME", "conv")
    'same'
    """
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    lowered = padding.lower() if isinstance(padding, str) else padding
    if lowered not in allowed:
        raise ValueError(
            f"{name}: padding must be one of {', '.join(map(repr, allowed))}, "
            f"got {padding!r}"
        )
    return lowered


def _data_format(data_format: Any, name: str) -> bool:
    """True for channels_first (``None`` -> numdl's image data format)."""
    from numdl import config

    try:
        return config.standardize_data_format(data_format) == "channels_first"
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def _spatial_rank(x_shape: tuple, name: str) -> int:
    rank = len(x_shape) - 2
    if rank not in (1, 2):
        raise ValueError(
            f"{name}: expected inputs of shape (batch, steps, channels) or "
            f"(batch, height, width, channels) (1 or 2 spatial axes, channels "
            f"last or first), got shape {x_shape}"
        )
    return rank


def _check_kernel(k_shape: tuple, rank: int, what: str, name: str, layout: str):
    if len(k_shape) != rank + 2 or 0 in k_shape:
        raise ValueError(
            f"{name}: the {what} must have shape {layout} ({rank + 2} axes for "
            f"{rank + 2}-D inputs), got shape {k_shape}"
        )


def _geometry(
    spatial: tuple,
    kernel_size: tuple,
    strides: tuple,
    dilation: tuple,
    padding: str,
    name: str,
) -> Geometry:
    """Pads and output sizes; a kernel larger than the padded input raises."""
    pads, out = [], []
    for axis, (n, k, s, d) in enumerate(zip(spatial, kernel_size, strides, dilation)):
        dilated = (k - 1) * d + 1
        if padding == "same":
            pad = same_padding(n, k, s, d)
        elif padding == "causal":
            pad = (dilated - 1, 0)
        else:
            pad = (0, 0)
        length = (n + pad[0] + pad[1] - dilated) // s + 1
        if length <= 0 or n == 0:
            dil = f" (dilated to {dilated})" if d > 1 else ""
            raise ValueError(
                f"{name}: the kernel size {k}{dil} is larger than the input size "
                f"{n + pad[0] + pad[1]} (padding {padding!r}) along spatial axis "
                f"{axis}; input spatial shape {spatial}, kernel size {kernel_size}"
            )
        pads.append(pad)
        out.append(length)
    return _as_2d(kernel_size, strides, dilation, pads, out)


def _as_2d(kernel_size, strides, dilation, pads, out) -> Geometry:
    if len(kernel_size) == 1:  # 1-D: height 1
        return Geometry(
            (1,) + tuple(kernel_size), (1,) + tuple(strides),
            (1,) + tuple(dilation), ((0, 0), tuple(pads[0])), (1, out[0]),
        )  # fmt: skip
    return Geometry(
        tuple(kernel_size), tuple(strides), tuple(dilation),
        (tuple(pads[0]), tuple(pads[1])), tuple(out),
    )  # fmt: skip


def _check_bias(bias: Any, channels: int, name: str) -> None:
    if bias is not None and _shape(bias) != (channels,):
        raise ValueError(
            f"{name}: bias must have shape ({channels},), got {_shape(bias)}"
        )


# ---------------------------------------------------------------- wrappers
def conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
    *,
    bias: Any = None,
    relu: bool = False,
    name: str = "conv",
) -> Any:
    """N-D convolution (1-D or 2-D), Keras's ``ops.conv`` with a fused bias/ReLU.

    ``kernel`` has shape ``(*kernel_size, in_channels // groups, filters)``;
    ``groups`` is ``in_channels // kernel.shape[-2]``. ``padding`` is
    ``"valid"``, ``"same"`` or (1-D) ``"causal"``. ``bias`` (shape
    ``(filters,)``) is added and ``relu=True`` applies ReLU inside the op.
    ``name`` is used in error messages.

    >>> import numpy as np
    >>> conv(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2))).shape
    (1, 2, 2, 2)
    """
    inputs, kernel = as_float(inputs), as_float(kernel)
    x_shape, k_shape = _shape(inputs), _shape(kernel)
    rank = _spatial_rank(x_shape, name)
    layout = Layout(rank, _data_format(data_format, name))
    _check_kernel(k_shape, rank, "kernel", name, "(*kernel_size, in/groups, filters)")
    channels = x_shape[1] if layout.channels_first else x_shape[-1]
    spatial = x_shape[2:] if layout.channels_first else x_shape[1:-1]
    cg, filters = k_shape[-2], k_shape[-1]
    groups = channels // cg
    if channels % cg or filters % groups:
        raise ValueError(
            f"{name}: inputs with {channels} channels do not fit a kernel of shape "
            f"{k_shape}: the channels must be a multiple of kernel.shape[-2] "
            f"({cg}; the quotient is the number of groups) and the filters "
            f"({filters}) a multiple of the groups"
        )
    _check_bias(bias, filters, name)
    geo = _geometry(
        spatial,
        k_shape[:rank],
        _tuple(strides, rank, "strides", name),
        _tuple(dilation_rate, rank, "dilation_rate", name),
        standardize_padding(padding, name, allow_causal=rank == 1),
        name,
    )
    return Conv.apply(inputs, kernel, bias, geometry=geo, layout=layout, relu=relu)


def depthwise_conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
    *,
    bias: Any = None,
    name: str = "depthwise_conv",
) -> Any:
    """Depthwise convolution: each channel convolved with its own filters.

    ``kernel`` has shape ``(*kernel_size, in_channels, depth_multiplier)``;
    output channel ``c * depth_multiplier + j`` comes from input channel ``c``
    (Keras's and TensorFlow's order). Runs as a grouped :func:`conv`.

    >>> import numpy as np
    >>> depthwise_conv(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 2))).shape
    (1, 3, 3, 6)
    """
    k_shape = _shape(kernel)
    x_shape = _shape(inputs)
    rank = _spatial_rank(x_shape, name)
    _check_kernel(k_shape, rank, "kernel", name, "(*kernel_size, in, multiplier)")
    channels = x_shape[1] if _data_format(data_format, name) else x_shape[-1]
    if k_shape[-2] != channels:
        raise ValueError(
            f"{name}: inputs with {channels} channels do not fit a depthwise "
            f"kernel of shape {k_shape}; expected kernel.shape[-2] == {channels}"
        )
    kernel = reshape(as_float(kernel), k_shape[:rank] + (1, k_shape[-2] * k_shape[-1]))
    return conv(
        inputs, kernel, strides, padding, data_format, dilation_rate,
        bias=bias, name=name,
    )  # fmt: skip


def separable_conv(
    inputs: Any,
    depthwise_kernel: Any,
    pointwise_kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
    *,
    bias: Any = None,
    relu: bool = False,
    name: str = "separable_conv",
) -> Any:
    """Depthwise convolution, then a pointwise (1x1) one that mixes channels.

    ``pointwise_kernel`` has shape ``(1, ..., in_channels * multiplier,
    filters)``; ``bias`` and ``relu`` apply to the pointwise step.

    >>> import numpy as np
    >>> x = np.ones((1, 5, 5, 3))
    >>> separable_conv(x, np.ones((3, 3, 3, 2)), np.ones((1, 1, 6, 4))).shape
    (1, 3, 3, 4)
    """
    rank = _spatial_rank(_shape(inputs), name)
    p_shape = _shape(pointwise_kernel)
    if len(p_shape) != rank + 2 or p_shape[:rank] != (1,) * rank:
        raise ValueError(
            f"{name}: the pointwise kernel must have shape "
            f"{(1,) * rank + ('channels * multiplier', 'filters')}, got {p_shape}"
        )
    depthwise = depthwise_conv(
        inputs, depthwise_kernel, strides, padding, data_format, dilation_rate,
        name=name,
    )  # fmt: skip
    return conv(
        depthwise, pointwise_kernel, 1, "valid", data_format, 1,
        bias=bias, relu=relu, name=name,
    )  # fmt: skip


def conv_transpose(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    data_format: str | None = None,
    dilation_rate: Any = 1,
    *,
    bias: Any = None,
    name: str = "conv_transpose",
) -> Any:
    """Transposed convolution (the gradient of ``conv`` w.r.t. its input).

    ``kernel`` has shape ``(*kernel_size, filters, in_channels)``. Output
    sizes follow Keras (:func:`conv_transpose_output_length`); each entry of
    ``output_padding`` must be less than its stride.

    >>> import numpy as np
    >>> conv_transpose(np.ones((1, 3, 3, 2)), np.ones((3, 3, 4, 2)), 2).shape
    (1, 7, 7, 4)
    """
    inputs, kernel = as_float(inputs), as_float(kernel)
    x_shape, k_shape = _shape(inputs), _shape(kernel)
    rank = _spatial_rank(x_shape, name)
    layout = Layout(rank, _data_format(data_format, name))
    _check_kernel(k_shape, rank, "kernel", name, "(*kernel_size, filters, in)")
    channels = x_shape[1] if layout.channels_first else x_shape[-1]
    spatial = x_shape[2:] if layout.channels_first else x_shape[1:-1]
    if k_shape[-1] != channels:
        raise ValueError(
            f"{name}: inputs with {channels} channels do not fit a kernel of shape "
            f"{k_shape}; expected kernel.shape[-1] == {channels}"
        )
    _check_bias(bias, k_shape[-2], name)
    strides = _tuple(strides, rank, "strides", name)
    dilation = _tuple(dilation_rate, rank, "dilation_rate", name)
    padding = standardize_padding(padding, name)
    extra = (None,) * rank
    if output_padding is not None:
        extra = _tuple(output_padding, rank, "output_padding", name, minimum=0)
        if any(p >= s for p, s in zip(extra, strides)):
            raise ValueError(
                f"{name}: output_padding must be less than strides, got "
                f"output_padding={extra} and strides={strides}"
            )
    if 0 in spatial:
        raise ValueError(f"{name}: inputs have an empty spatial axis: {x_shape}")
    sizes, crops = [], []
    for n, k, s, d, p in zip(spatial, k_shape[:rank], strides, dilation, extra):
        sizes.append(conv_transpose_output_length(n, k, s, padding, p, d))
        crops.append(_transpose_crop(k, s, padding, p, d))
    if min(sizes) <= 0:
        raise ValueError(f"{name}: the output would be empty (sizes {tuple(sizes)})")
    geo = _as_2d(k_shape[:rank], strides, dilation, [(0, 0)] * rank, spatial)
    if rank == 1:
        sizes, crops = [1] + sizes, [0] + crops
    return ConvTranspose.apply(
        inputs, kernel, bias, geometry=geo, layout=layout,
        crop=tuple(crops), size=tuple(sizes),
    )  # fmt: skip


# At the end: these modules import the autograd core, which must load first.
from numdl.ops.nn import as_float  # noqa: E402
from numdl.ops.shape import reshape  # noqa: E402
