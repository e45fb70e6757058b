"""Image resampling (Keras 3's ``ops.image``): ``affine_transform`` and ``resize``.

Both take one image (3-D) or a batch (4-D), ``"channels_last"`` (``(..., height,
width, channels)``) or ``"channels_first"`` (``(..., channels, height,
width)``); ``data_format=None`` means ``numdl.config.image_data_format()``.
Integer images are converted to ``numdl.config.floatx()`` first. Given a
Tensor they return a Tensor with gradients for the images; given arrays,
arrays.

``affine_transform`` computes, for every output pixel, where it comes from in
the input (the transform maps output coordinates to input coordinates, as in
Keras and TensorFlow) and reads the input there: ``"nearest"`` takes the
closest pixel, ``"bilinear"`` mixes the four around it. Reads outside the image
follow ``fill_mode``, applied to whole pixels before interpolating (NumPy's
``np.pad`` modes: ``"reflect"`` is ``np.pad``'s "symmetric", ``"mirror"`` its
"reflect"), so a shift by whole pixels is exact in every mode.

``resize`` is linear in the image: one interpolation matrix per spatial axis
(half-pixel centres, like ``jax.image.resize`` that Keras's NumPy and JAX
backends call, and ``torch.nn.functional.interpolate(..., align_corners=False)``),
applied as batched matrix products; its backward applies the transposed matrices.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from numdl import config
from numdl.autograd.function import Function
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module
from numdl.ops.math import cast
from numdl.ops.shape import expand_dims, getitem, pad, squeeze, transpose

INTERPOLATIONS = ("bilinear", "nearest")
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
_FAR = 1e9  # source coordinates are clipped to +-_FAR (all far outside any image)


# ------------------------------------------------------------------ checks
def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _images(images: Any, where: str) -> Any:
    """A float image batch or image (3-D or 4-D), else ValueError naming ``where``."""
    if not isinstance(images, Tensor) and not hasattr(images, "shape"):
        images = np.asarray(images)
    data = _data(images)
    if data.ndim not in (3, 4):
        raise ValueError(
            f"{where}: expected images of rank 3 (one image) or 4 (a batch), got "
            f"shape {tuple(data.shape)}"
        )
    if data.dtype.kind != "f":
        images = cast(images, config.floatx())
    return images


def _choice(where: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{where}: {name} must be one of {choices}, got {value!r}")
    return value


def _spatial_axes(ndim: int, data_format: str) -> tuple[int, int]:
    """Axes of height and width for an image (3-D) or a batch (4-D)."""
    return (
        (ndim - 3, ndim - 2) if data_format == "channels_last" else (ndim - 2, ndim - 1)
    )


# -------------------------------------------------------- affine transform
def affine_transform(
    images: Any,
    transform: Any,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: float = 0.0,
    data_format: str | None = None,
) -> Any:
    """Resample images through affine (or projective) transforms, Keras's way.

    ``transform`` is ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (shape ``(8,)`` for
    every image, or ``(batch, 8)``, one per image); it maps the output pixel
    ``(x, y)`` (column, row) to the input point ``((a0 x + a1 y + a2) / k,
    (b0 x + b1 y + b2) / k)`` with ``k = c0 x + c1 y + 1``. The output has the
    input's size. ``interpolation``: ``"bilinear"`` or ``"nearest"`` (ties
    round up). ``fill_mode`` (points outside the input): ``"constant"``
    (``fill_value``), ``"nearest"`` (edge pixel), ``"wrap"`` (periodic),
    ``"reflect"`` (``d c b a | a b c d | d c b a``), ``"mirror"``
    (``d c b | a b c d | c b a``). Differentiable in the images.

    >>> import numpy as np
    >>> image = np.arange(4.0).reshape(1, 4, 1)           # one row: 0 1 2 3
    >>> shift_right = [1, 0, -1, 0, 1, 0, 0, 0]           # x_in = x - 1
    >>> affine_transform(image, shift_right)[0, :, 0].tolist()
    [0.0, 0.0, 1.0, 2.0]
    >>> affine_transform(image, shift_right, fill_mode="wrap")[0, :, 0].tolist()
    [3.0, 0.0, 1.0, 2.0]
    """
    where = "affine_transform"
    data_format = config.standardize_data_format(data_format)
    _choice(where, "interpolation", interpolation, INTERPOLATIONS)
    _choice(where, "fill_mode", fill_mode, FILL_MODES)
    images = _images(images, where)
    ndim = _data(images).ndim
    x = images if ndim == 4 else expand_dims(images, 0)
    if data_format == "channels_first":
        x = transpose(x, (0, 2, 3, 1))
    batch, height, width, _ = _data(x).shape
    xp = array_module(_data(x))
    matrices = _transforms(xp, transform, batch, where)
    dtype = _data(x).dtype
    y_in, x_in = _source_coordinates(xp, matrices, batch, (height, width), dtype)
    taps, fill = _taps(
        xp, (y_in, x_in), (height, width), interpolation, fill_mode, fill_value, dtype
    )
    out = Resample.apply(x, taps=taps, fill=fill)
    if data_format == "channels_first":
        out = transpose(out, (0, 3, 1, 2))
    return out if ndim == 4 else squeeze(out, 0)


def _transforms(xp: Any, transform: Any, batch: int, where: str) -> Any:
    """``transform`` as a float64 ``(1 or batch, 8)`` array, else ValueError."""
    try:
        matrices = xp.asarray(_data(transform), dtype=xp.float64)
    except (TypeError, ValueError):
        matrices = None
    ok = matrices is not None and matrices.ndim in (1, 2) and matrices.shape[-1] == 8
    if ok and matrices.ndim == 2 and matrices.shape[0] not in (1, batch):
        ok = False
    if not ok:
        got = getattr(matrices, "shape", transform)
        raise ValueError(
            f"{where}: transform must have shape (8,) or ({batch}, 8) (one per "
            f"image), got {got}"
        )
    return matrices.reshape(-1, 8)


def _source_coordinates(
    xp: Any, matrices: Any, batch: int, size: tuple[int, int], dtype: Any
) -> tuple[Any, Any]:
    """Input (row, column) of every output pixel: two ``(batch, H, W)`` arrays,
    computed in the images' float type (float32 at least)."""
    height, width = size
    work = xp.result_type(dtype, xp.float32)
    projective = bool(xp.any(matrices[:, 6:] != 0))
    safe = bool(xp.all(xp.isfinite(matrices))) and not projective
    safe = safe and float(xp.abs(matrices).max()) * (height + width + 1) < _FAR
    coefficients = matrices.astype(work)
    rows = xp.arange(height, dtype=work)[None, :, None]
    cols = xp.arange(width, dtype=work)[None, None, :]
    a0, a1, a2, b0, b1, b2, c0, c1 = (coefficients[:, k, None, None] for k in range(8))
    x_in = a0 * cols + a1 * rows + a2
    y_in = b0 * cols + b1 * rows + b2
    if projective:  # divide by k (never by 0)
        k = c0 * cols + c1 * rows + 1.0
        k = xp.where(k == 0, xp.nan, k)
        x_in, y_in = x_in / k, y_in / k
    shape = (batch, height, width)
    y_in, x_in = xp.broadcast_to(y_in, shape), xp.broadcast_to(x_in, shape)
    if safe:  # every coordinate is finite and far below _FAR
        return y_in, x_in
    return _finite(xp, y_in), _finite(xp, x_in)


def _finite(xp: Any, coords: Any) -> Any:
    """NaN and huge coordinates become far outside points (no overflow on cast)."""
    coords = xp.nan_to_num(coords, nan=-_FAR, posinf=_FAR, neginf=-_FAR)
    return xp.clip(coords, -_FAR, _FAR)


def _taps(
    xp: Any,
    coords: tuple[Any, Any],
    size: tuple[int, int],
    interpolation: str,
    fill_mode: str,
    fill_value: float,
    dtype: Any,
) -> tuple[list[tuple[Any, Any]], Any]:
    """The pixel reads of every output pixel: ``[(flat index, weight or None)]``
    (weights ``(N, 1)`` of ``dtype``) and the constant part contributed by
    reads outside the image (``None`` when zero)."""
    y_in, x_in = coords
    height, width = size
    base = xp.arange(y_in.shape[0])[:, None, None] * (height * width)
    rows = _axis_reads(xp, y_in, height, interpolation, fill_mode, dtype)
    cols = _axis_reads(xp, x_in, width, interpolation, fill_mode, dtype)
    rows = [(base + index * width, ok, weight) for index, ok, weight in rows]
    taps, outside = [], None
    for (row, row_ok, wy), (col, col_ok, wx) in itertools.product(rows, cols):
        weight = wx if wy is None else wy * wx
        ok = col_ok if row_ok is None else row_ok if col_ok is None else row_ok & col_ok
        if ok is not None:  # constant mode, some reads outside
            missing = ~ok if weight is None else weight * ~ok
            outside = missing if outside is None else outside + missing
            weight = ok.astype(dtype) if weight is None else weight * ok
        flat = (row + col).reshape(-1)
        taps.append((flat, None if weight is None else weight.reshape(-1, 1)))
    fill = None
    if outside is not None and fill_value != 0:
        fill = (fill_value * outside.reshape(-1, 1)).astype(dtype)
    return taps, fill


def _axis_reads(
    xp: Any, coords: Any, n: int, interpolation: str, fill_mode: str, dtype: Any
) -> list[tuple[Any, Any, Any]]:
    """Reads along one axis: ``[(index in [0, n), inside mask or None, weight
    or None)]``, one for nearest, two (floor and floor + 1) for bilinear."""
    if interpolation == "nearest":
        index = xp.floor(coords + 0.5).astype(xp.int64)
        return [(*_extend(xp, index, n, fill_mode, 1)[0], None)]
    start = xp.floor(coords)
    frac = (coords - start).astype(dtype, copy=False)
    second = bool(xp.any(frac))  # whole-pixel coordinates need no second read
    reads = _extend(xp, start.astype(xp.int64), n, fill_mode, 2 if second else 1)
    weights = [1 - frac, frac]
    return [(index, inside, w) for (index, inside), w in zip(reads, weights)]


def _extend(
    xp: Any, index: Any, n: int, fill_mode: str, reads: int
) -> list[tuple[Any, Any]]:
    """``index``, ``index + 1``, ... (``reads`` of them) mapped into ``[0, n)``
    by ``fill_mode``, each with None when every index was inside, else
    (``"constant"`` only) which were inside (the others read ``fill_value``)."""
    if index.size == 0:
        return [(index, None)] * reads
    lo, hi = int(index.min()), int(index.max()) + reads - 1
    if lo >= 0 and hi < n:
        return [(index + shift if shift else index, None) for shift in range(reads)]
    if hi - lo > 2 * index.size + 64:  # a wide range: map every index
        return [
            _extend_range(xp, index + shift, n, fill_mode) for shift in range(reads)
        ]
    # The indices span a short range: map it once, then look them up.
    table, inside = _extend_range(xp, xp.arange(lo, hi + 1), n, fill_mode)
    position = index - lo
    return [
        (table[shift:][position], None if inside is None else inside[shift:][position])
        for shift in range(reads)
    ]


def _extend_range(xp: Any, index: Any, n: int, fill_mode: str) -> tuple[Any, Any]:
    if fill_mode == "constant":
        inside = (index >= 0) & (index < n)
        return xp.clip(index, 0, n - 1), inside
    if fill_mode == "nearest":
        return xp.clip(index, 0, n - 1), None
    if fill_mode == "wrap":
        return index % n, None
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a: period 2n
        index = index % (2 * n)
        return xp.where(index >= n, 2 * n - 1 - index, index), None
    if n == 1:  # mirror about the edge pixels: period 2n - 2
        return xp.zeros_like(index), None
    index = index % (2 * n - 2)
    return xp.where(index >= n, 2 * n - 2 - index, index), None


class Resample(Function):
    """``out[p] = sum_t weight_t[p] * x[index_t[p]] + fill[p]`` over NHWC pixels.

    ``taps`` lists ``(flat pixel index, weight (N, 1) or None)``; backward
    scatters the gradient back to the pixels read (``add.at`` accumulates
    pixels read more than once).
    """

    def forward(self, x, taps=None, fill=None):
        self.shape, self.taps = x.shape, taps
        pixels = x.reshape(-1, x.shape[-1])
        out = None
        for index, weight in taps:
            value = pixels[index]
            if weight is not None:
                value = value * weight
            out = value if out is None else out + value
        if fill is not None:
            out = out + fill
        return out.reshape(x.shape)

    def backward(self, g):
        xp = array_module(g)
        channels = self.shape[-1]
        g = g.reshape(-1, channels)
        grad = xp.zeros((int(np.prod(self.shape[:-1])), channels), dtype=g.dtype)
        for index, weight in self.taps:
            xp.add.at(grad, index, g if weight is None else g * weight)
        return (grad.reshape(self.shape),)


# ------------------------------------------------------------------- resize
def resize(
    images: Any,
    size: Any,
    interpolation: str = "bilinear",
    antialias: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    fill_mode: str = "constant",
    fill_value: float = 0.0,
    data_format: str | None = None,
) -> Any:
    """Resize images to ``size = (height, width)`` (Keras 3's ``ops.image.resize``).

    ``"bilinear"``: half-pixel centres, the source point ``(i + 0.5) * in / out
    - 0.5`` mixed from its two neighbours along each axis, the weights of
    neighbours outside the image dropped and the rest renormalised (which is
    clamping to the edge); with ``antialias=True`` a downscale widens the
    triangle kernel by ``in / out`` (``jax.image.resize``). ``"nearest"``: input
    index ``floor((i + 0.5) * in / out)`` (PyTorch's ``"nearest-exact"``).
    ``crop_to_aspect_ratio`` first crops the largest centred window with the
    target's aspect ratio; ``pad_to_aspect_ratio`` pads the short side with
    ``fill_value`` instead (only ``fill_mode="constant"``). Differentiable.

    >>> import numpy as np
    >>> resize(np.array([[[0.0], [4.0]]]), (1, 4))[0, :, 0].tolist()
    [0.0, 1.0, 3.0, 4.0]
    """
    where = "resize"
    data_format = config.standardize_data_format(data_format)
    _choice(where, "interpolation", interpolation, INTERPOLATIONS)
    if fill_mode != "constant":
        raise ValueError(
            f"{where}: only fill_mode='constant' is supported, got {fill_mode!r}"
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            f"{where}: only one of crop_to_aspect_ratio and pad_to_aspect_ratio "
            f"can be True"
        )
    target = _size(size, where)
    images = _images(images, where)
    axes = _spatial_axes(_data(images).ndim, data_format)
    if crop_to_aspect_ratio:
        images = _crop_to_aspect(images, axes, target)
    elif pad_to_aspect_ratio:
        images = _pad_to_aspect(images, axes, target, fill_value)
    shape = _data(images).shape
    xp = array_module(_data(images))
    matrices = [
        xp.asarray(
            _resize_matrix(shape[axis], n, interpolation, antialias),
            dtype=_data(images).dtype,
        )
        for axis, n in zip(axes, target)
    ]
    return Resize.apply(images, matrices=matrices, axes=axes)


def _size(size: Any, where: str) -> tuple[int, int]:
    try:
        ok = len(size) == 2 and all(
            int(n) == n and n > 0 and not isinstance(n, bool) for n in size
        )
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{where}: size must be two positive integers (height, width), got {size!r}"
        )
    return int(size[0]), int(size[1])


def _crop_to_aspect(images: Any, axes: tuple[int, int], target: tuple[int, int]) -> Any:
    """The largest centred window with the target's aspect ratio (Keras's ints)."""
    shape = _data(images).shape
    height, width = shape[axes[0]], shape[axes[1]]
    crop_h = max(min(height, int(width * target[0] / target[1])), 1)
    crop_w = max(min(width, int(height * target[1] / target[0])), 1)
    top, left = int((height - crop_h) / 2), int((width - crop_w) / 2)
    index = [slice(None)] * len(shape)
    index[axes[0]] = slice(top, top + crop_h)
    index[axes[1]] = slice(left, left + crop_w)
    return getitem(images, tuple(index))


def _pad_to_aspect(
    images: Any, axes: tuple[int, int], target: tuple[int, int], fill_value: float
) -> Any:
    """Pad the short side evenly (Keras: the same ``int(extra / 2)`` on each side)."""
    shape = _data(images).shape
    height, width = shape[axes[0]], shape[axes[1]]
    pad_h = int((max(height, int(width * target[0] / target[1])) - height) / 2)
    pad_w = int((max(width, int(height * target[1] / target[0])) - width) / 2)
    if pad_h == 0 and pad_w == 0:
        return images
    width_spec = [(0, 0)] * len(shape)
    width_spec[axes[0]] = (pad_h, pad_h) if pad_h else (0, 0)
    width_spec[axes[1]] = (0, 0) if pad_h else (pad_w, pad_w)
    return pad(images, width_spec, constant_values=fill_value)


def _resize_matrix(n_in: int, n_out: int, interpolation: str, antialias: bool) -> Any:
    """The ``(n_out, n_in)`` matrix that resizes one axis (host-side, float64)."""
    if interpolation == "nearest":
        # floor((i + 0.5) * n_in / n_out) in exact integer arithmetic
        source = ((2 * np.arange(n_out) + 1) * n_in) // (2 * n_out)
        matrix = np.zeros((n_out, n_in))
        matrix[np.arange(n_out), source] = 1.0
        return matrix
    scale = n_in / n_out
    centre = (np.arange(n_out) + 0.5) * scale - 0.5
    width = max(scale, 1.0) if antialias else 1.0
    distance = np.abs(centre[:, None] - np.arange(n_in)[None, :]) / width
    weights = np.maximum(0.0, 1.0 - distance)
    return weights / weights.sum(axis=1, keepdims=True)


class Resize(Function):
    """Apply one matrix per axis: ``out = M_h x M_w^T`` over the spatial axes."""

    def forward(self, x, matrices=None, axes=None):
        self.matrices, self.axes = matrices, axes
        return _apply_matrices(x, matrices, axes, transpose=False)

    def backward(self, g):
        return (_apply_matrices(g, self.matrices, self.axes, transpose=True),)


def _apply_matrices(x: Any, matrices: Any, axes: Any, transpose: bool) -> Any:
    xp = array_module(x)
    source = x
    for matrix, axis in zip(matrices, axes):
        if transpose:
            matrix = matrix.T
        if matrix.shape[0] == matrix.shape[1] and _is_identity(xp, matrix):
            continue
        # (lead, n, trail) contiguous blocks: one batched matmul, no transposes
        shape = x.shape
        blocks = xp.ascontiguousarray(x).reshape(
            -1, shape[axis], _prod(shape[axis + 1 :])
        )
        x = xp.matmul(matrix, blocks).reshape(
            shape[:axis] + (matrix.shape[0],) + shape[axis + 1 :]
        )
    return x.copy() if x is source else x  # never the input's own buffer


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for n in shape:
        out *= n
    return out


def _is_identity(xp: Any, matrix: Any) -> bool:
    return bool(xp.all(matrix == xp.eye(matrix.shape[0], dtype=matrix.dtype)))
