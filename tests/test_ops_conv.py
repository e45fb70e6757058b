"""Convolution ops vs torch.nn.functional (layouts converted) and finite differences.

Keras's "same" padding is computed here independently from its definition
(total ``max((ceil(n/s) - 1)*s + (k-1)*d + 1 - n, 0)``, the odd one after) and
applied to the torch input with ``F.pad``; transposed convolutions are checked
against torch's full ``conv_transpose`` cropped by Keras's rule, and against
TensorFlow's definition (the gradient of a "same" convolution).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numdl
from numdl.autograd.tensor import Tensor
from numdl.ops import conv as C
from numdl.testing import assert_torch_parity, check_grad


# ------------------------------------------------------- torch references
def _keras_same(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def _to_torch_layout(x, rank, channels_first):
    """Our layout -> torch's channels-first (a differentiable permute)."""
    if channels_first:
        return x
    return x.permute(0, rank + 1, *range(1, rank + 1))


def _from_torch_layout(y, rank, channels_first):
    if channels_first:
        return y
    return y.permute(0, *range(2, rank + 2), 1)


def _torch_pads(spatial, ksize, strides, dilation, padding):
    """F.pad's argument (last axis first) for Keras's padding."""
    pads = []
    for n, k, s, d in zip(spatial, ksize, strides, dilation):
        if padding == "same":
            pads.append(_keras_same(n, k, s, d))
        elif padding == "causal":
            pads.append(((k - 1) * d, 0))
        else:
            pads.append((0, 0))
    return [p for pair in reversed(pads) for p in pair]


def torch_conv(x, kernel, bias, strides, padding, dilation, channels_first, relu=False):
    """Keras-layout convolution computed by torch.nn.functional.conv1d/2d."""
    rank = x.dim() - 2
    xt = _to_torch_layout(x, rank, channels_first)
    spatial = xt.shape[2:]
    ksize = kernel.shape[:rank]
    groups = xt.shape[1] // kernel.shape[-2]
    xt = F.pad(xt, _torch_pads(spatial, ksize, strides, dilation, padding))
    weight = kernel.permute(rank + 1, rank, *range(rank))  # (F, C/groups, *k)
    fn = F.conv1d if rank == 1 else F.conv2d
    y = fn(xt, weight, bias, tuple(strides), 0, tuple(dilation), groups)
    if relu:
        y = torch.relu(y)
    return _from_torch_layout(y, rank, channels_first)


def keras_transpose_length(n, k, s, padding, output_padding, d):
    """Keras's ``_get_output_shape_given_tf_padding``, written out here."""
    k = (k - 1) * d + 1
    if padding == "valid":
        extra = max(k, s) - k if output_padding is None else output_padding
        return (n - 1) * s + k + extra
    if output_padding is None:
        return n * s
    return (n - 1) * s + k % 2 + output_padding


def keras_transpose_left_pad(k, s, padding, output_padding, d):
    """Keras's ``_convert_conv_tranpose_padding_args_from_keras_to_jax``."""
    k = (k - 1) * d + 1
    if padding == "valid":
        return k - 1
    if output_padding is None:
        pad_len = s + k - 2
    else:
        pad_len = k + k % 2 - 2 + output_padding
    return min(pad_len // 2 + pad_len % 2, k - 1)


def torch_conv_transpose(x, kernel, bias, strides, padding, output_padding, dilation):
    """Keras-layout transposed convolution from torch's full (unpadded) result,
    cropped where Keras's JAX/NumPy backends crop it (zeros past its end)."""
    rank = x.dim() - 2
    xt = _to_torch_layout(x, rank, False)
    weight = kernel.permute(rank + 1, rank, *range(rank))  # (C, F, *k)
    fn = F.conv_transpose1d if rank == 1 else F.conv_transpose2d
    full = fn(xt, weight, None, tuple(strides), 0, 0, 1, tuple(dilation))
    extra = output_padding or (None,) * rank
    index = [slice(None), slice(None)]
    grow = []
    for axis in range(rank):
        n, k, s, d = (
            xt.shape[2 + axis],
            kernel.shape[axis],
            strides[axis],
            dilation[axis],
        )
        length = keras_transpose_length(n, k, s, padding, extra[axis], d)
        start = (k - 1) * d - keras_transpose_left_pad(k, s, padding, extra[axis], d)
        index.append(slice(start, start + length))
        grow.append(max(0, start + length - full.shape[2 + axis]))
    full = F.pad(full, [p for g in reversed(grow) for p in (0, g)])
    y = full[tuple(index)]
    if bias is not None:
        y = y + bias.reshape(1, -1, *([1] * rank))
    return _from_torch_layout(y, rank, False)


def _arrays(rng, x_shape, k_shape, bias, dtype=np.float64):
    arrays = [rng.normal(size=x_shape), rng.normal(size=k_shape)]
    if bias:
        arrays.append(rng.normal(size=k_shape[-1]))
    return [a.astype(dtype) for a in arrays]


# ------------------------------------------------------------ conv 2-D
CASES_2D = [
    # (batch, H, W, C, F, kernel, strides, dilation, padding, groups)
    (2, 7, 8, 3, 4, (3, 3), (1, 1), (1, 1), "valid", 1),
    (2, 7, 8, 3, 4, (3, 3), (1, 1), (1, 1), "same", 1),
    (1, 8, 7, 2, 3, (2, 2), (2, 2), (1, 1), "same", 1),
    (2, 9, 9, 4, 6, (3, 2), (3, 3), (1, 1), "same", 2),
    (2, 10, 9, 4, 4, (3, 3), (2, 3), (1, 1), "valid", 4),
    (1, 9, 10, 2, 4, (3, 3), (1, 1), (2, 2), "same", 1),
    (2, 8, 8, 6, 6, (2, 3), (1, 1), (2, 1), "valid", 3),
    (1, 11, 10, 2, 2, (3, 3), (2, 2), (2, 2), "same", 1),
    (2, 6, 9, 3, 5, (4, 4), (3, 2), (1, 2), "valid", 1),
    (1, 5, 5, 3, 2, (1, 1), (1, 1), (1, 1), "valid", 1),
    (1, 4, 6, 2, 3, (5, 5), (2, 1), (1, 1), "same", 1),
    # one channel: im2col copies window by window
    (2, 9, 8, 1, 3, (3, 3), (2, 2), (1, 1), "same", 1),
    (1, 9, 9, 1, 2, (2, 3), (1, 1), (2, 1), "valid", 1),
]


@pytest.mark.parametrize(
    "case, channels_first",
    [(case, False) for case in CASES_2D]
    + [(case, True) for case in CASES_2D[2:5] + CASES_2D[6:8]],
)
def test_conv2d_matches_torch_float64(case, channels_first):
    n, h, w, c, f, k, s, d, padding, groups = case
    rng = np.random.default_rng(sum(case[:5]))
    x_shape = (n, c, h, w) if channels_first else (n, h, w, c)
    arrays = _arrays(rng, x_shape, k + (c // groups, f), bias=True)
    fmt = "channels_first" if channels_first else "channels_last"

    def ours(x, kernel, bias):
        return C.conv(x, kernel, s, padding, fmt, d, bias=bias)

    def ref(x, kernel, bias):
        return torch_conv(x, kernel, bias, s, padding, d, channels_first)

    assert_torch_parity(ours, ref, *arrays)


@pytest.mark.parametrize("case", CASES_2D[:5])  # [4]: depthwise
def test_conv2d_fused_relu_without_bias(case):
    n, h, w, c, f, k, s, d, padding, groups = case
    rng = np.random.default_rng(1)
    arrays = _arrays(rng, (n, h, w, c), k + (c // groups, f), bias=False)

    def ours(x, kernel):
        return C.conv(x, kernel, s, padding, dilation_rate=d, relu=True)

    def ref(x, kernel):
        return torch_conv(x, kernel, None, s, padding, d, False, relu=True)

    assert_torch_parity(ours, ref, *arrays)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("case", [CASES_2D[1], CASES_2D[3], CASES_2D[5]])
def test_conv2d_matches_torch_float32(case, relu):
    n, h, w, c, f, k, s, d, padding, groups = case
    rng = np.random.default_rng(2)
    arrays = _arrays(rng, (n, h, w, c), k + (c // groups, f), True, np.float32)

    def ours(x, kernel, bias):
        out = C.conv(x, kernel, s, padding, dilation_rate=d, bias=bias, relu=relu)
        assert out.dtype == np.float32
        return out

    def ref(x, kernel, bias):
        return torch_conv(x, kernel, bias, s, padding, d, False, relu=relu)

    assert_torch_parity(ours, ref, *arrays)


# ------------------------------------------------------------ conv 1-D
CASES_1D = [
    # (batch, L, C, F, k, stride, dilation, padding, groups)
    (2, 9, 3, 4, 3, 1, 1, "valid", 1),
    (1, 10, 2, 4, 4, 2, 1, "same", 2),
    (2, 11, 4, 4, 3, 3, 1, "same", 4),
    (2, 10, 2, 3, 3, 1, 2, "causal", 1),
    (1, 8, 3, 2, 2, 2, 1, "causal", 1),
    (2, 12, 2, 3, 3, 1, 2, "valid", 1),
    (2, 9, 1, 2, 3, 2, 1, "causal", 1),
]


@pytest.mark.parametrize("channels_first", [False, True])
@pytest.mark.parametrize("case", CASES_1D)
def test_conv1d_matches_torch(case, channels_first):
    n, length, c, f, k, s, d, padding, groups = case
    rng = np.random.default_rng(sum(case[:4]))
    x_shape = (n, c, length) if channels_first else (n, length, c)
    arrays = _arrays(rng, x_shape, (k, c // groups, f), bias=True)
    fmt = "channels_first" if channels_first else "channels_last"

    def ours(x, kernel, bias):
        return C.conv(x, kernel, s, padding, fmt, d, bias=bias)

    def ref(x, kernel, bias):
        return torch_conv(x, kernel, bias, (s,), padding, (d,), channels_first)

    assert_torch_parity(ours, ref, *arrays)


def test_causal_output_never_sees_the_future():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 12, 2))
    kernel = rng.normal(size=(3, 2, 2))
    base = C.conv(x, kernel, padding="causal", dilation_rate=2)
    later = x.copy()
    later[:, 7:] += 5.0  # change the future from step 7 on
    moved = C.conv(later, kernel, padding="causal", dilation_rate=2)
    assert base.shape == (1, 12, 2)
    np.testing.assert_array_equal(base[:, :7], moved[:, :7])
    assert not np.allclose(base[:, 7:], moved[:, 7:])


# ----------------------------------------------------- depthwise, separable
def torch_depthwise(x, kernel, bias, strides, padding, dilation, channels_first):
    """Keras's (*k, C, m) kernel as torch's groups=C weight (C*m, 1, *k)."""
    rank = kernel.dim() - 2
    c, m = kernel.shape[-2:]
    flat = kernel.reshape(*kernel.shape[:rank], 1, c * m)
    return torch_conv(x, flat, bias, strides, padding, dilation, channels_first)


@pytest.mark.parametrize("channels_first", [False, True])
@pytest.mark.parametrize(
    "x_shape, k, m, s, d, padding",
    [
        ((2, 7, 8, 3), (3, 3), 2, (1, 1), (1, 1), "same"),
        ((1, 9, 8, 4), (3, 2), 1, (2, 3), (1, 1), "valid"),
        ((2, 9, 9, 2), (3, 3), 3, (1, 1), (2, 2), "valid"),
        ((2, 10, 3), (3,), 2, (2,), (1,), "same"),
    ],
)
def test_depthwise_matches_torch(x_shape, k, m, s, d, padding, channels_first):
    rng = np.random.default_rng(4)
    c = x_shape[-1]
    if channels_first:
        x_shape = (x_shape[0], c) + x_shape[1:-1]
    arrays = _arrays(rng, x_shape, k + (c, m), bias=False)
    arrays.append(rng.normal(size=c * m))
    fmt = "channels_first" if channels_first else "channels_last"

    def ours(x, kernel, bias):
        return C.depthwise_conv(x, kernel, s, padding, fmt, d, bias=bias)

    def ref(x, kernel, bias):
        return torch_depthwise(x, kernel, bias, s, padding, d, channels_first)

    assert_torch_parity(ours, ref, *arrays)


@pytest.mark.parametrize(
    "x_shape, k, m, f, s, d, padding",
    [
        ((2, 7, 8, 3), (3, 3), 2, 4, (1, 1), (1, 1), "same"),
        ((1, 9, 9, 2), (2, 2), 1, 3, (2, 2), (1, 1), "valid"),
        ((2, 10, 2), (3,), 2, 3, (1,), (2,), "same"),
    ],
)
def test_separable_matches_torch(x_shape, k, m, f, s, d, padding):
    rng = np.random.default_rng(5)
    c, rank = x_shape[-1], len(k)
    arrays = [
        rng.normal(size=x_shape),
        rng.normal(size=k + (c, m)),
        rng.normal(size=(1,) * rank + (c * m, f)),
        rng.normal(size=f),
    ]

    def ours(x, dk, pk, bias):
        return C.separable_conv(x, dk, pk, s, padding, dilation_rate=d, bias=bias)

    def ref(x, dk, pk, bias):
        mid = torch_depthwise(x, dk, None, s, padding, d, False)
        return torch_conv(mid, pk, bias, (1,) * rank, "valid", (1,) * rank, False)

    assert_torch_parity(ours, ref, *arrays)


# ------------------------------------------------------------ transposed
CASES_T = [
    # (x_shape (NHWC / NLC), kernel, filters, strides, dilation, padding, out_pad)
    ((2, 3, 4, 2), (3, 3), 3, (2, 2), (1, 1), "valid", None),
    ((2, 3, 4, 2), (3, 3), 3, (2, 2), (1, 1), "same", None),
    ((1, 4, 3, 2), (4, 4), 2, (3, 3), (1, 1), "same", (2, 1)),
    ((2, 3, 3, 2), (2, 2), 2, (3, 3), (1, 1), "valid", None),
    ((1, 3, 5, 2), (3, 3), 3, (1, 1), (2, 2), "same", None),
    ((2, 3, 5, 2), (3, 2), 3, (2, 1), (1, 1), "valid", (1, 0)),
    ((1, 2, 2, 1), (1, 1), 2, (3, 3), (1, 1), "same", None),
    ((2, 5, 3), (3,), 4, (2,), (1,), "same", None),
    ((1, 4, 2), (4,), 2, (3,), (1,), "valid", (2,)),
    ((2, 4, 2), (3,), 3, (1,), (2,), "valid", None),
    ((2, 3, 4, 2), (3, 3), 1, (2, 2), (1, 1), "same", None),
]


@pytest.mark.parametrize("case", CASES_T)
def test_conv_transpose_matches_torch(case):
    x_shape, k, f, s, d, padding, out_pad = case
    rng = np.random.default_rng(6)
    arrays = _arrays(rng, x_shape, k + (f, x_shape[-1]), bias=False)
    arrays.append(rng.normal(size=f))

    def ours(x, kernel, bias):
        out = C.conv_transpose(x, kernel, s, padding, out_pad, None, d, bias=bias)
        expected = [
            keras_transpose_length(n, kk, ss, padding, p, dd)
            for n, kk, ss, p, dd in zip(
                x_shape[1:-1], k, s, out_pad or (None,) * len(k), d
            )
        ]
        assert out.shape == (x_shape[0], *expected, f)
        return out

    def ref(x, kernel, bias):
        return torch_conv_transpose(x, kernel, bias, s, padding, out_pad, d)

    assert_torch_parity(ours, ref, *arrays)


def test_conv_transpose_channels_first_is_the_transposed_layout():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 4, 2))
    kernel = rng.normal(size=(3, 3, 5, 2))
    last = C.conv_transpose(x, kernel, 2, "same")
    first = C.conv_transpose(x.transpose(0, 3, 1, 2), kernel, 2, "same", None,
                             "channels_first")  # fmt: skip
    np.testing.assert_allclose(first, last.transpose(0, 3, 1, 2), rtol=1e-12)


@pytest.mark.parametrize("k, s", [(3, 2), (4, 2), (3, 1), (2, 3), (5, 3)])
def test_same_transpose_is_the_gradient_of_same_conv(k, s):
    """TensorFlow's definition: conv2d_transpose(x) with "same" padding is the
    gradient of a "same" conv2d (of an input n*s long) with cotangent x."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(1, 4, 3, 2))
    kernel = rng.normal(size=(k, k, 3, 2))  # (k, k, filters, in)
    ours = C.conv_transpose(x, kernel, s, "same")
    y = torch.zeros((1, 3, 4 * s, 3 * s), dtype=torch.float64, requires_grad=True)
    pads = _torch_pads((4 * s, 3 * s), (k, k), (s, s), (1, 1), "same")
    weight = torch.tensor(kernel).permute(3, 2, 0, 1)  # conv 3 -> 2 channels
    out = F.conv2d(F.pad(y, pads), weight, stride=s)
    assert out.shape[2:] == (4, 3)
    out.backward(torch.tensor(x.transpose(0, 3, 1, 2)))
    expected = y.grad.numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


def test_conv_transpose_float32_matches_torch():
    rng = np.random.default_rng(9)
    arrays = _arrays(rng, (2, 4, 5, 3), (3, 3, 4, 3), False, np.float32)
    arrays.append(rng.normal(size=4).astype(np.float32))

    def ours(x, kernel, bias):
        return C.conv_transpose(x, kernel, 2, "same", bias=bias)

    def ref(x, kernel, bias):
        return torch_conv_transpose(x, kernel, bias, (2, 2), "same", None, (1, 1))

    assert_torch_parity(ours, ref, *arrays)


# ------------------------------------------------------ finite differences
def _conv_same(x, k, b):
    return C.conv(x, k, 2, "same", bias=b)


def _conv_dilated(x, k, b):
    return C.conv(x, k, 1, "valid", dilation_rate=2, bias=b)


def _conv_causal(x, k, b):
    return C.conv(x, k, 2, "causal", bias=b)


def _depthwise(x, k, b):
    return C.depthwise_conv(x, k, 1, "same", bias=b)


def _transpose_same(x, k, b):
    return C.conv_transpose(x, k, 2, "same", bias=b)


def _transpose_1d(x, k, b):
    return C.conv_transpose(x, k, 3, "valid", 1, bias=b)


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (_conv_same, [(1, 5, 4, 2), (3, 2, 2, 3), (3,)]),
        (_conv_dilated, [(2, 5, 5, 2), (2, 2, 1, 4), (4,)]),
        (_conv_causal, [(1, 6, 2), (3, 2, 2), (2,)]),
        (_depthwise, [(1, 4, 4, 2), (2, 3, 2, 2), (4,)]),
        (_transpose_same, [(1, 3, 2, 2), (3, 3, 2, 2), (2,)]),
        (_transpose_1d, [(1, 2, 3), (2, 2, 3), (2,)]),
    ],
)
def test_finite_differences(fn, shapes):
    rng = np.random.default_rng(10)
    arrays = [rng.normal(size=s) for s in shapes]
    assert max(check_grad(fn, *arrays)) < 1e-7


def test_separable_finite_differences():
    rng = np.random.default_rng(11)
    arrays = [rng.normal(size=s) for s in [(1, 4, 4, 2), (2, 2, 2, 2), (1, 1, 4, 3)]]
    fn = lambda x, dk, pk: C.separable_conv(x, dk, pk, 1, "same")  # noqa: E731
    assert max(check_grad(fn, *arrays)) < 1e-7


# --------------------------------------------------------------- geometry
@pytest.mark.parametrize("n", [1, 4, 5, 6, 7, 28])
@pytest.mark.parametrize(
    "k, s, d", [(1, 1, 1), (2, 1, 1), (3, 2, 1), (4, 3, 1), (3, 1, 2)]
)
def test_same_padding_and_lengths_follow_keras(n, k, s, d):
    assert C.same_padding(n, k, s, d) == _keras_same(n, k, s, d)
    assert C.conv_output_length(n, k, s, "same", d) == math.ceil(n / s)
    assert C.conv_output_length(n, k, s, "valid", d) == (n - (k - 1) * d - 1) // s + 1
    for p in (None,) + tuple(range(s)):
        for padding in ("valid", "same"):
            got = C.conv_transpose_output_length(n, k, s, padding, p, d)
            assert got == keras_transpose_length(n, k, s, padding, p, d)
    assert C.conv_output_length(None, k, s, "valid", d) is None


def test_numpy_in_numpy_out_and_dtypes():
    x = np.arange(32, dtype=np.float32).reshape(1, 4, 4, 2)
    out = C.conv(x, np.ones((2, 2, 2, 1), np.float32))
    assert type(out) is np.ndarray and out.dtype == np.float32
    # Each output sums a 2x2 window of both channels.
    assert out[0, 0, 0, 0] == x[0, :2, :2].sum()
    ints = C.conv(np.ones((1, 3, 3, 1), dtype=int), np.ones((3, 3, 1, 1)))
    assert ints.dtype.kind == "f" and ints.item() == 9.0


def test_tensor_result_and_empty_batch():
    x = Tensor(np.zeros((0, 5, 5, 2)), requires_grad=True)
    kernel = Tensor(np.ones((3, 3, 2, 4)), requires_grad=True)
    out = C.conv(x, kernel, padding="same")
    assert isinstance(out, Tensor) and out.shape == (0, 5, 5, 4)
    out.sum().backward()
    assert x.grad.shape == x.shape and not kernel.grad.any()


def test_float32_stays_float32_through_backward():
    x = numdl.tensor(np.ones((2, 6, 6, 3)), requires_grad=True)
    kernel = numdl.tensor(np.ones((3, 3, 3, 4)), requires_grad=True)
    bias = numdl.tensor(np.zeros(4), requires_grad=True)
    out = C.conv(x, kernel, 2, "same", bias=bias, relu=True)
    out.sum().backward()
    assert {t.grad.dtype for t in (x, kernel, bias)} == {np.dtype(np.float32)}


# ------------------------------------------------------------------ errors
def test_kernel_larger_than_input_names_both_sizes():
    with pytest.raises(
        ValueError, match=r"kernel size 5 is larger than the input size 3"
    ):
        C.conv(np.zeros((1, 3, 8, 1)), np.zeros((5, 3, 1, 1)))
    with pytest.raises(
        ValueError, match=r"kernel size 3 \(dilated to 5\).*input size 4"
    ):
        C.conv(np.zeros((1, 4, 8, 1)), np.zeros((3, 3, 1, 1)), dilation_rate=2)


@pytest.mark.parametrize(
    "fn, shapes, kwargs, message",
    [
        ("conv", [(1, 5, 5, 3), (3, 3, 2, 4)], {}, "3 channels"),
        ("conv", [(1, 5, 5, 4), (3, 3, 2, 3)], {}, "multiple of the groups"),
        ("conv", [(1, 5, 5, 1), (3, 1, 1)], {}, "kernel must have shape"),
        ("conv", [(1, 5, 1), (3, 1, 1)], {"padding": "full"}, "padding"),
        ("conv", [(1, 5, 5, 1), (3, 3, 1, 1)], {"padding": "causal"}, "padding"),
        ("conv", [(5, 5), (3, 3, 1, 1)], {}, "1 or 2 spatial"),
        ("conv", [(1, 5, 5, 1), (3, 3, 1, 2)], {"strides": 0}, "strides"),
        ("conv", [(1, 5, 5, 1), (3, 3, 1, 2)], {"dilation_rate": (1,)}, "dilation"),
        ("conv", [(1, 5, 5, 1), (3, 3, 1, 2)], {"bias": np.zeros(3)}, r"\(2,\)"),
        ("conv", [(1, 5, 5, 1), (3, 3, 1, 2)], {"data_format": "nhwc"}, "data_format"),
        ("depthwise_conv", [(1, 5, 5, 3), (3, 3, 2, 1)], {}, "depthwise"),
        ("conv_transpose", [(1, 5, 5, 3), (3, 3, 2, 2)], {}, r"shape\[-1\] == 3"),
        (
            "conv_transpose",
            [(1, 5, 5, 2), (3, 3, 2, 2)],
            {"strides": 2, "output_padding": 2},
            "output_padding must be less",
        ),
        ("separable_conv", [(1, 5, 5, 2), (3, 3, 2, 1), (3, 3, 2, 1)], {}, "pointwise"),
    ],
)
def test_bad_arguments_say_what_is_wrong(fn, shapes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(C, fn)(*[np.zeros(s) for s in shapes], **kwargs)


def test_errors_name_the_caller():
    with pytest.raises(ValueError, match=r"^Conv2D 'c': "):
        C.conv(np.zeros((1, 2, 2, 1)), np.zeros((3, 3, 1, 1)), name="Conv2D 'c'")


# ------------------------------------------- sizes that reach blocked paths
def test_thin_kernel_gradient_over_many_rows_matches_torch():
    # 16 x 26 x 26 = 10816 output positions with 10 columns: the kernel
    # gradient is summed over blocks of rows (_at_b's thin path).
    rng = np.random.default_rng(5)
    arrays = _arrays(rng, (16, 28, 28, 1), (3, 3, 1, 8), bias=True)
    assert 16 * 26 * 26 >= 4 * C._BLOCK_ROWS

    def ours(x, kernel, bias):
        return C.conv(x, kernel, 1, "valid", "channels_last", 1, bias=bias, relu=True)

    def ref(x, kernel, bias):
        return torch_conv(x, kernel, bias, (1, 1), "valid", (1, 1), False, relu=True)

    assert_torch_parity(ours, ref, *arrays)


def test_inference_in_blocks_equals_the_training_forward():
    # Without a backward to come, im2col runs a block of samples at a time.
    rng = np.random.default_rng(6)
    x, kernel, bias = _arrays(rng, (16, 28, 28, 4), (3, 3, 4, 8), bias=True)
    per_sample = 28 * 28 * (3 * 3 * 4 + 1) * x.itemsize  # stride 1, same
    assert 16 * per_sample > C._BLOCK_BYTES  # more than one block
    with numdl.no_grad():
        blocked = C.conv(
            Tensor(x), Tensor(kernel), 1, "same", "channels_last", 1, bias=Tensor(bias)
        ).data
    expected = torch_conv(
        torch.from_numpy(x),
        torch.from_numpy(kernel),
        torch.from_numpy(bias),
        (1, 1),
        "same",
        (1, 1),
        False,
    ).numpy()
    np.testing.assert_allclose(blocked, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_grad_passes_g_where_the_output_is_positive_only(dtype):
    """The fused ReLU's backward: 0 where the output is 0, negative zero or
    NaN, ``g`` where it is positive or inf (NaN in ``g`` passes there)."""
    out = np.array([[0.0, -0.0, np.nan, 2.0, np.inf, 1e-30]], dtype=dtype)
    g = np.array([[1.5, -2.0, 3.0, -4.25, 5.0, np.nan]], dtype=dtype)
    got = C._relu_grad(g, out)
    assert got.dtype == dtype and got is not g
    np.testing.assert_array_equal(got, np.where(out > 0, g, 0))
