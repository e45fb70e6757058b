"""Fused CuPy kernels for the GPU's hot paths.

On the GPU a training step is bound by how many kernels Python launches, not
by arithmetic: ``g * (y > 0)`` is two launches and a temporary, an Adam
update through ``xp`` calls is twelve. Each function here does one such
piece of work in one kernel, with the same arithmetic (same operations, same
order, in the array's float type) as the NumPy code it replaces, so results
agree to rounding. The ops call them only for CuPy arrays
(``xp is not numpy``); the NumPy path is untouched. Kernels are compiled by
CuPy on first use and cached per float type.

CuPy comes from :func:`numdl.backend.gpu_module`; nothing here runs, or is
needed, without a GPU.

>>> callable(relu_grad) and callable(adam_update)
True
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from numdl.backend import gpu_module


@cache
def _elementwise(name: str, params: str, outputs: str, body: str) -> Any:
    return gpu_module().ElementwiseKernel(params, outputs, body, name)


# ------------------------------------------------------------ activations
def relu_grad(g: Any, y: Any) -> Any:
    """``g * (y > 0)``: ReLU's backward from its output ``y``."""
    kernel = _elementwise(
        "numdl_relu_grad", "T g, T y", "T dx", "dx = y > (T)0 ? g : (T)0"
    )
    return kernel(g, y)


def bias_relu_(out: Any, bias: Any, relu: bool) -> None:
    """``out += bias`` then ``max(out, 0)``, in place, in one kernel."""
    if bias is None or bias.dtype != out.dtype:  # (T binds one float type)
        if bias is not None:
            out += bias
        gpu_module().maximum(out, 0, out=out)
        return
    body = "T s = out + b; out = (relu && !(s > (T)0) && s == s) ? (T)0 : s"
    kernel = _elementwise("numdl_bias_relu", "T b, bool relu", "T out", body)
    kernel(bias, relu, out)


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid; ``exp`` only sees non-positive numbers."""
    body = "T z = exp(-fabs(x)); y = (x >= (T)0 ? (T)1 : z) / (z + (T)1)"
    return _elementwise("numdl_sigmoid", "T x", "T y", body)(x)


def sigmoid_grad(g: Any, y: Any) -> Any:
    """``(1 - y) * y * g``: sigmoid's backward from its output."""
    body = "dx = (((T)1 - y) * y) * g"
    return _elementwise("numdl_sigmoid_grad", "T g, T y", "T dx", body)(g, y)


def tanh_grad(g: Any, y: Any) -> Any:
    """``g * (1 - y * y)``: tanh's backward from its output."""
    body = "dx = g * ((T)1 - y * y)"
    return _elementwise("numdl_tanh_grad", "T g, T y", "T dx", body)(g, y)


def dropout_mask(rng: Any, shape: tuple, rate: float, scale: float, dtype: Any) -> Any:
    """``scale`` where a uniform draw (float32, on the device) is ``>= rate``,
    else 0: Dropout's mask in one kernel after the draw."""
    cp = gpu_module()
    u = rng.random(shape, dtype=cp.float32)
    body = "m = u >= (float)rate ? (T)scale : (T)0"
    kernel = _elementwise(
        "numdl_dropout_mask", "float32 u, float64 rate, float64 scale", "T m", body
    )
    out = cp.empty(shape, dtype=dtype)
    kernel(u, rate, scale, out)
    return out


# ------------------------------------------------------------- optimizers
def adam_update(
    w: Any, g: Any, m: Any, v: Any, b1: float, b2: float, eps: float, alpha: float
) -> None:
    """One Adam step in place (Keras's rule, as ``Adam._update``):
    ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
    ``w -= alpha * m / (sqrt(v) + eps)``."""
    body = (
        "T gm = g * (T)(1.0 - b1);"
        "m = m * (T)b1 + gm;"
        "T gg = (g * g) * (T)(1.0 - b2);"
        "v = v * (T)b2 + gg;"
        "w -= (m / (sqrt(v) + (T)eps)) * (T)alpha"
    )
    g = g.astype(w.dtype, copy=False)  # T is the parameter's type
    kernel = _elementwise(
        "numdl_adam",
        "T g, float64 b1, float64 b2, float64 eps, float64 alpha",
        "T w, T m, T v",
        body,
    )
    kernel(g, b1, b2, eps, alpha, w, m, v)


def sgd_update(w: Any, g: Any, v: Any, lr: float, mu: float, nesterov: bool) -> None:
    """One SGD step in place (Keras's rule, as ``SGD._update``); ``v`` is the
    momentum buffer, or None without momentum."""
    g = g.astype(w.dtype, copy=False)  # T is the parameter's type
    if v is None:
        body = "w -= g * (T)lr"
        _elementwise("numdl_sgd", "T g, float64 lr", "T w", body)(g, lr, w)
        return
    body = (
        "T step = g * (T)lr; v = v * (T)mu - step;"
        "if (nesterov) { w -= step; w += v * (T)mu; } else { w += v; }"
    )
    kernel = _elementwise(
        "numdl_sgd_momentum",
        "T g, float64 lr, float64 mu, bool nesterov",
        "T w, T v",
        body,
    )
    kernel(g, lr, mu, nesterov, w, v)


# ---------------------------------------------------------- cross-entropy
_LOG_SOFTMAX_ROWS = r"""
extern "C" __global__ void numdl_log_softmax_rows_{name}(
    const {T}* z, const long long* labels, {T}* logp, {T}* loss,
    long long n, long long c)
{{
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n) return;
    const {T}* row = z + i * c;
    {T}* out = logp + i * c;
    {T} m = row[0];
    for (long long j = 1; j < c; ++j) {{
        {T} r = row[j];
        m = (r > m || r != r) ? r : m;  /* NaN propagates, as max does */
    }}
    {T} s = 0;
    for (long long j = 0; j < c; ++j) s += exp(row[j] - m);
    {T} ls = log(s);
    for (long long j = 0; j < c; ++j) out[j] = (row[j] - m) - ls;
    if (loss) loss[i] = -out[labels[i]];
}}
"""


# The float types these kernels are written for, by dtype (NumPy computes
# ``dtype.name`` in Python: ~5 us a call, on every step's loss).
FLOAT_NAMES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}


@cache
def _rows_kernel(dtype_name: str) -> Any:
    c_type = {"float32": "float", "float64": "double"}[dtype_name]
    code = _LOG_SOFTMAX_ROWS.format(T=c_type, name=dtype_name)
    return gpu_module().RawKernel(code, f"numdl_log_softmax_rows_{dtype_name}")


def sparse_softmax_cross_entropy(logits: Any, labels: Any) -> tuple[Any, Any]:
    """``(loss, log_softmax)`` of 2-D ``logits`` against class ``labels``
    (checked), one thread per row: max, sum of exponentials, the logs and the
    picked loss in one kernel."""
    cp = gpu_module()
    n, c = logits.shape
    logits = cp.ascontiguousarray(logits)
    labels = cp.ascontiguousarray(labels.reshape(n), dtype=cp.int64)
    logp = cp.empty_like(logits)
    loss = cp.empty(n, dtype=logits.dtype)
    if n:
        threads = 128
        _rows_kernel(FLOAT_NAMES[logits.dtype])(
            ((n + threads - 1) // threads,),
            (threads,),
            (logits, labels, logp, loss, cp.int64(n), cp.int64(c)),
        )
    return loss, logp


def sparse_softmax_cross_entropy_grad(logp: Any, labels: Any, g: Any) -> Any:
    """``(softmax - onehot(labels)) * g[:, None]`` for 2-D ``logp``."""
    cp = gpu_module()
    n, c = logp.shape
    body = (
        "long long r = i / c; long long j = i - r * c;"
        "dz = (exp(logp[i]) - (j == labels[r] ? (T)1 : (T)0)) * g[r]"
    )
    kernel = _elementwise(
        "numdl_sparse_ce_grad",
        "raw T logp, raw I labels, raw T g, int64 c",
        "T dz",
        body,
    )
    out = cp.empty((n, c), dtype=logp.dtype)
    kernel(logp, labels.reshape(n), g.reshape(n), c, out)
    return out


# ----------------------------------------------------- softmax over rows
_SOFTMAX_ROWS = r"""
extern "C" __global__ void numdl_softmax_rows_{name}(
    const {T}* z, {T}* y, long long n, long long c)
{{
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n) return;
    const {T}* row = z + i * c;
    {T}* out = y + i * c;
    {T} m = row[0];
    for (long long j = 1; j < c; ++j) {{
        {T} r = row[j];
        m = (r > m || r != r) ? r : m;
    }}
    {T} s = 0;
    for (long long j = 0; j < c; ++j) {{
        {T} e = exp(row[j] - m);
        out[j] = e;
        s += e;
    }}
    for (long long j = 0; j < c; ++j) out[j] = out[j] / s;
}}

extern "C" __global__ void numdl_softmax_rows_grad_{name}(
    const {T}* y, const {T}* g, {T}* dz, long long n, long long c)
{{
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n) return;
    const {T}* yr = y + i * c;
    const {T}* gr = g + i * c;
    {T} dot = 0;
    for (long long j = 0; j < c; ++j) dot += gr[j] * yr[j];
    for (long long j = 0; j < c; ++j) dz[i * c + j] = (gr[j] - dot) * yr[j];
}}

extern "C" __global__ void numdl_sparse_prob_ce_{name}(
    const {T}* p, const long long* labels, {T}* loss, {T}* sums, {T}* picked,
    long long n, long long c, double eps)
{{
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n) return;
    const {T}* row = p + i * c;
    {T} s = 0;
    for (long long j = 0; j < c; ++j) s += row[j];
    {T} q = row[labels[i]] / s;
    {T} lo = ({T})eps, hi = ({T})(1.0 - eps);
    {T} clipped = q < lo ? lo : (q > hi ? hi : q);
    loss[i] = -log(clipped);
    sums[i] = s;
    picked[i] = q;
}}
"""


@cache
def _module(dtype_name: str) -> Any:
    c_type = {"float32": "float", "float64": "double"}[dtype_name]
    code = _SOFTMAX_ROWS.format(T=c_type, name=dtype_name)
    return gpu_module().RawModule(code=code)


def _launch(name: str, a: Any, rows: int, *args: Any) -> None:
    if rows:
        dtype_name = FLOAT_NAMES[a.dtype]
        kernel = _module(dtype_name).get_function(f"{name}_{dtype_name}")
        threads = 128
        kernel(((rows + threads - 1) // threads,), (threads,), args)


def rows_supported(x: Any, axis: int) -> bool:
    """Whether the one-thread-per-row kernels take ``x`` (2-D, last axis,
    few classes, float32/float64)."""
    return (
        x.ndim == 2
        and axis in (-1, 1)
        and 0 < x.shape[1] <= 64
        and x.dtype in FLOAT_NAMES
    )


def softmax_rows(z: Any) -> Any:
    """Softmax over the last axis of 2-D ``z`` (max subtracted), one kernel."""
    cp = gpu_module()
    z = cp.ascontiguousarray(z)
    n, c = z.shape
    y = cp.empty_like(z)
    _launch("numdl_softmax_rows", z, n, z, y, cp.int64(n), cp.int64(c))
    return y


def softmax_rows_grad(y: Any, g: Any) -> Any:
    """``(g - sum(g * y)) * y`` over the last axis of 2-D arrays, one kernel."""
    cp = gpu_module()
    g = cp.ascontiguousarray(g, dtype=y.dtype)
    n, c = y.shape
    dz = cp.empty_like(y)
    _launch("numdl_softmax_rows_grad", y, n, y, g, dz, cp.int64(n), cp.int64(c))
    return dz


def sparse_probability_cross_entropy(
    p: Any, labels: Any, eps: float
) -> tuple[Any, Any, Any]:
    """``-log(clip(p[y] / sum(p), eps, 1 - eps))`` per row of 2-D ``p``
    (Keras's rule for probabilities); returns the loss, the row sums and the
    unclipped ``p[y] / sum(p)`` (for the gradient)."""
    cp = gpu_module()
    p = cp.ascontiguousarray(p)
    n, c = p.shape
    labels = cp.ascontiguousarray(labels.reshape(n), dtype=cp.int64)
    loss, sums, picked = (cp.empty(n, dtype=p.dtype) for _ in range(3))
    args = (p, labels, loss, sums, picked, cp.int64(n), cp.int64(c), float(eps))
    _launch("numdl_sparse_prob_ce", p, n, *args)
    return loss, sums, picked


def sparse_probability_cross_entropy_grad(
    labels: Any, sums: Any, picked: Any, g: Any, c: int, eps: float
) -> Any:
    """The gradient of :func:`sparse_probability_cross_entropy` w.r.t. ``p``:
    ``-g (onehot - q) / (q s)`` where ``eps <= q <= 1 - eps``, else 0."""
    cp = gpu_module()
    n = sums.shape[0]
    body = (
        "long long r = i / c; long long j = i - r * c; T q = q_[r];"
        "bool inside = q >= (T)eps && q <= (T)(1.0 - eps);"
        "T hit = j == labels[r] ? (T)1 : (T)0;"
        "dp = inside ? -g[r] * (hit - q) / (q * s[r]) : (T)0"
    )
    kernel = _elementwise(
        "numdl_sparse_prob_ce_grad",
        "raw I labels, raw T s, raw T q_, raw T g, int64 c, float64 eps",
        "T dp",
        body,
    )
    out = cp.empty((n, c), dtype=sums.dtype)
    kernel(labels.reshape(n), sums, picked, g.reshape(n), c, eps, out)
    return out


# ------------------------------------------------- pooling and convolution
# 2-D, channels-last (N, H, W, C) inputs, already padded; one thread per
# output (pooling forward) or per input element (the gradients, gathered
# over the windows that hold it: no atomics, deterministic).
_INDEX_NHWC = (
    "long long ii = i; long long c = ii % C; long long t = ii / C;"
    "long long ow = t % OW; t /= OW; long long oh = t % OH; long long n = t / OH;"
)
_INPUT_NHWC = (
    "long long ii = i; long long c = ii % C; long long t = ii / C;"
    "long long w = t % W; t /= W; long long h = t % H; long long n = t / H;"
)


def _indexed(name: str, params: str, outputs: str, body: str, size: int) -> Any:
    """An elementwise kernel whose index arithmetic is 32-bit when every index
    fits (64-bit division is several times slower on the GPU)."""
    if size < 2**31:
        name, body = name + "_i32", body.replace("long long", "int")
        params = params.replace("int64", "int32")
    return _elementwise(name, params, outputs, body)


def pool2d_supported(x: Any, axes: tuple[int, ...]) -> bool:
    """Whether the fused pooling kernels take ``x``: 4-D channels-last, float."""
    return x.ndim == 4 and tuple(axes) == (1, 2) and x.dtype.kind == "f"


def max_pool2d(
    x: Any, pool: tuple, strides: tuple, out_hw: tuple, index_dtype: Any
) -> tuple[Any, Any]:
    """Max over each window of padded NHWC ``x`` and (unless ``index_dtype``
    is None) which row-major offset won: the first maximum, a NaN never wins
    but makes the output NaN (as the NumPy path)."""
    cp = gpu_module()
    x = cp.ascontiguousarray(x)
    n, h, w, c = x.shape
    (ph, pw), (sh, sw), (oh, ow) = pool, strides, out_hw
    out = cp.empty((n, oh, ow, c), dtype=x.dtype)
    body = (
        _INDEX_NHWC + "long long base = ((n * H + oh * sh) * W + ow * sw) * C + c;"
        "T best = x[base]; int won = 0;"
        "for (int a = 0; a < ph; ++a) for (int b = 0; b < pw; ++b) {"
        "  if (a == 0 && b == 0) continue;"
        "  T v = x[base + (a * W + b) * C];"
        "  if (v > best) { best = v; won = a * pw + b; }"
        "  else if (v != v) { best = v; }"
        "}"
        "out = best;"
    )
    params = (
        "raw T x, int64 H, int64 W, int64 C, int64 OH, int64 OW, "
        "int64 ph, int64 pw, int64 sh, int64 sw"
    )
    args = (x, h, w, c, oh, ow, ph, pw, sh, sw)
    if index_dtype is None:
        _indexed("numdl_max_pool2d", params, "T out", body, x.size)(*args, out)
        return out, None
    index = cp.empty(out.shape, dtype=index_dtype)
    kernel = _indexed(
        "numdl_max_pool2d_index",
        params,
        "T out, I index",
        body + "index = won;",
        x.size,
    )
    kernel(*args, out, index)
    return out, index


def max_pool2d_grad(
    g: Any, index: Any, padded_shape: tuple, pool: tuple, strides: tuple
) -> Any:
    """The padded input's gradient: each element gathers ``g`` of the windows
    whose winning offset it is."""
    cp = gpu_module()
    g = cp.ascontiguousarray(g)
    n, oh, ow, c = g.shape
    _, h, w, _ = padded_shape
    (ph, pw), (sh, sw) = pool, strides
    body = (
        _INPUT_NHWC + "T acc = 0;"
        "long long y0 = h - ph + 1; y0 = y0 <= 0 ? 0 : (y0 + sh - 1) / sh;"
        "long long x0 = w - pw + 1; x0 = x0 <= 0 ? 0 : (x0 + sw - 1) / sw;"
        "long long y1 = min(h / sh, OH - 1); long long x1 = min(w / sw, OW - 1);"
        "for (long long y = y0; y <= y1; ++y) for (long long z = x0; z <= x1; ++z) {"
        "  long long o = ((n * OH + y) * OW + z) * C + c;"
        "  if ((long long)index[o] == (h - y * sh) * pw + (w - z * sw)) acc += g[o];"
        "}"
        "dx = acc;"
    )
    kernel = _indexed(
        "numdl_max_pool2d_grad",
        "raw T g, raw I index, int64 H, int64 W, int64 C, int64 OH, int64 OW, "
        "int64 ph, int64 pw, int64 sh, int64 sw",
        "T dx",
        body,
        max(g.size, math.prod(padded_shape)),
    )
    dx = cp.empty(padded_shape, dtype=g.dtype)
    kernel(g, index, h, w, c, oh, ow, ph, pw, sh, sw, dx)
    return dx


def col2im(
    cols: Any,
    padded_shape: tuple,
    kernel_hw: tuple,
    strides: tuple,
    dilation: tuple,
    out_hw: tuple,
    out: Any = None,
) -> Any:
    """The padded NHWC input-gradient from column gradients ``(N*Ho*Wo,
    kh*kw*C)`` (``g @ kernel_matrix.T``): each input element sums the
    columns that read it, one kernel."""
    cp = gpu_module()
    cols = cp.ascontiguousarray(cols)
    _, h, w, c = padded_shape
    (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel_hw, strides, dilation, out_hw
    body = (
        _INPUT_NHWC + "T acc = 0;"
        "for (long long a = 0; a < kh; ++a) {"
        "  long long y = h - a * d0; if (y < 0 || y % s0) continue; y /= s0;"
        "  if (y >= OH) continue;"
        "  for (long long b = 0; b < kw; ++b) {"
        "    long long z = w - b * d1; if (z < 0 || z % s1) continue; z /= s1;"
        "    if (z >= OW) continue;"
        "    long long r = (n * OH + y) * OW + z;"
        "    acc += cols[r * (kh * kw * C) + (a * kw + b) * C + c];"
        "  }"
        "}"
        "dx = acc;"
    )
    kernel = _indexed(
        "numdl_col2im",
        "raw T cols, int64 H, int64 W, int64 C, int64 OH, int64 OW, int64 kh, "
        "int64 kw, int64 s0, int64 s1, int64 d0, int64 d1",
        "T dx",
        body,
        max(cols.size, math.prod(padded_shape)),
    )
    if out is None:
        out = cp.empty(padded_shape, dtype=cols.dtype)
    kernel(cols, h, w, c, oh, ow, kh, kw, s0, s1, d0, d1, out)
    return out


def im2col(
    x: Any,
    kernel_hw: tuple,
    strides: tuple,
    dilation: tuple,
    out_hw: tuple,
    ones: bool,
    out: Any = None,
) -> Any:
    """The columns ``(N*Ho*Wo, kh*kw*C [+ 1])`` of padded NHWC ``x`` (with a
    last column of ones if ``ones``), each element read once, one kernel."""
    cp = gpu_module()
    x = cp.ascontiguousarray(x)
    n, h, w, c = x.shape
    (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel_hw, strides, dilation, out_hw
    size = kh * kw * c
    width = size + int(ones)
    if out is None:
        out = cp.empty((n * oh * ow, width), dtype=x.dtype)
    body = (
        "long long ii = i; long long r = ii / width; long long q = ii - r * width;"
        "if (q == size) { col = (T)1; } else {"
        "  long long c = q % C; long long t = q / C; long long b = t % kw;"
        "  long long a = t / kw; long long z = r % OW; long long y = (r / OW) % OH;"
        "  long long m = r / (OW * OH);"
        "  col = x[((m * H + y * s0 + a * d0) * W + z * s1 + b * d1) * C + c];"
        "}"
    )
    kernel = _indexed(
        "numdl_im2col",
        "raw T x, int64 H, int64 W, int64 C, int64 OH, int64 OW, int64 kw, "
        "int64 s0, int64 s1, int64 d0, int64 d1, int64 size, int64 width",
        "T col",
        body,
        max(out.size, x.size),
    )
    kernel(x, h, w, c, oh, ow, kw, s0, s1, d0, d1, size, width, out)
    return out
