"""Fused nn ops: dense, softmax cross-entropy, sigmoid cross-entropy, activations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import numdl
from numdl.autograd.tensor import Tensor
from numdl.ops import nn
from numdl.testing import check_grad

SETTINGS = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)
leading = st.lists(st.integers(0, 3), min_size=0, max_size=2).map(tuple)


def _torch_grads(fn, *arrays, g):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def _our_grads(fn, *arrays, g):
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(g)
    return out.data, [t.grad for t in ts]


# -------------------------------------------------------------------- dense
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
@pytest.mark.parametrize("bias", [True, False])
@SETTINGS
@given(
    lead=leading,
    batch=st.integers(1, 4),
    fan_in=st.integers(1, 5),
    units=st.integers(1, 4),
    seed=seeds,
)
def test_dense_parity_with_torch(activation, bias, lead, batch, fan_in, units, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(*lead, batch, fan_in))
    w = rng.normal(size=(fan_in, units))
    b = rng.normal(size=units)
    g = rng.normal(size=(*lead, batch, units))
    arrays = (x, w, b) if bias else (x, w)

    def ours(*ts):
        return nn.dense(*ts, activation=activation)

    def ref(x, w, b=None):
        out = F.linear(x, w.T, b)
        fn = {None: None, "relu": F.relu, "sigmoid": torch.sigmoid}[activation]
        return out if fn is None else fn(out)

    out, grads = _our_grads(ours, *arrays, g=g)
    out_ref, grads_ref = _torch_grads(ref, *arrays, g=g)
    assert out.shape == (*lead, batch, units)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(lead=leading, seed=seeds)
def test_dense_gradient_matches_finite_differences(lead, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(*lead, 2, 3))
    w, b = rng.normal(size=(3, 4)), rng.normal(size=4)
    errors = check_grad(lambda x, w, b: nn.dense(x, w, b), x, w, b)
    assert max(errors) < 1e-8
    assume(np.abs(x @ w + b).min(initial=1.0) > 1e-3)  # off the ReLU kink
    errors = check_grad(lambda x, w, b: nn.dense(x, w, b, relu=True), x, w, b)
    assert max(errors) < 1e-8
    fn = lambda x, w, b: nn.dense(x, w, b, activation="sigmoid")  # noqa: E731
    assert max(check_grad(fn, x, w, b)) < 1e-8


def test_dense_fused_sigmoid_equals_the_two_ops_bit_for_bit():
    """The fused sigmoid computes what nn.sigmoid after nn.dense computes,
    forward and backward, to the last bit (the same NumPy steps)."""
    rng = np.random.default_rng(7)
    x, w, b = rng.normal(size=(6, 5)), rng.normal(size=(5, 3)), rng.normal(size=3)
    g = rng.normal(size=(6, 3))
    out, grads = _our_grads(
        lambda *ts: nn.dense(*ts, activation="sigmoid"), x, w, b, g=g
    )
    out_ref, grads_ref = _our_grads(lambda *ts: nn.sigmoid(nn.dense(*ts)), x, w, b, g=g)
    np.testing.assert_array_equal(out, out_ref)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_array_equal(got, want)


def test_dense_fused_sigmoid_is_stable_at_large_inputs():
    x = np.array([[1e4], [-1e4], [0.0]], dtype=np.float32)
    w = Tensor(np.ones((1, 2), np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = nn.dense(x, w, activation="sigmoid")
        out.backward(np.ones((3, 2), np.float32))
    np.testing.assert_array_equal(out.data[:, 0], [1.0, 0.0, 0.5])
    assert np.isfinite(w.grad).all()


def test_dense_unknown_activation_is_refused():
    with pytest.raises(ValueError, match=r"dense: activation must be one of .*'tanh'"):
        nn.dense(np.ones((2, 3)), np.ones((3, 1)), activation="tanh")


def test_dense_numpy_in_numpy_out_and_formula():
    x = np.array([[1.0, 2.0], [3.0, -4.0]])
    w = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    b = np.array([0.1, 0.2, 0.3])
    out = nn.dense(x, w, b)
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, x @ w + b, rtol=1e-15)
    np.testing.assert_allclose(nn.dense(x, w, b, relu=True), np.maximum(x @ w + b, 0))
    np.testing.assert_allclose(nn.dense(x[0], w), x[0] @ w)  # 1-D input


def test_dense_float32_and_inputs_untouched():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    w = rng.normal(size=(3, 2)).astype(np.float32)
    b = rng.normal(size=2).astype(np.float32)
    copies = [a.copy() for a in (x, w, b)]
    ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = nn.dense(*ts, relu=True)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert all(t.grad.dtype == np.float32 for t in ts)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


def test_dense_is_one_op():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    w = Tensor(np.ones((3, 4)), requires_grad=True)
    b = Tensor(np.ones(4), requires_grad=True)
    out = nn.dense(x, w, b)
    assert isinstance(out._ctx, nn.Dense) and out._ctx.inputs == (x, w, b)


def test_dense_empty_batch():
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    b = Tensor(np.ones(2), requires_grad=True)
    out = nn.dense(x, w, b)
    assert out.shape == (0, 2)
    out.sum().backward()
    assert x.grad.shape == (0, 3)
    np.testing.assert_array_equal(w.grad, np.zeros((3, 2)))
    np.testing.assert_array_equal(b.grad, np.zeros(2))


def test_dense_shape_errors():
    with pytest.raises(ValueError, match=r"dense: inputs of shape \(2, 5\).*\(4, 3\)"):
        nn.dense(np.ones((2, 5)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"bias of shape \(4,\).*expected \(3,\)"):
        nn.dense(np.ones((2, 4)), np.ones((4, 3)), np.ones(4))


# ----------------------------------------------------- softmax cross-entropy
def test_gpu_row_kernels_take_float32_and_float64_only():
    """The one-thread-per-row kernels' float-type check (by dtype: NumPy
    computes ``dtype.name`` in Python, ~5 us a call) and the names their
    kernels are compiled under."""
    from numdl.ops import _cupy_kernels as gpu

    for dtype, ok in [(np.float32, True), (np.float64, True), (np.float16, False)]:
        assert gpu.rows_supported(np.zeros((2, 3), dtype), -1) is ok
        name = np.dtype(dtype).name if ok else None
        assert gpu.FLOAT_NAMES.get(np.dtype(dtype)) == name
    assert not gpu.rows_supported(np.zeros((2, 3), np.int64), -1)


@pytest.mark.parametrize("axis", [-1, 1])
@SETTINGS
@given(
    batch=st.integers(1, 4),
    classes=st.integers(1, 5),
    extra=st.integers(1, 3),
    seed=seeds,
    scale=st.sampled_from([1.0, 10.0]),
)
def test_sparse_softmax_cross_entropy_parity(axis, batch, classes, extra, seed, scale):
    rng = np.random.default_rng(seed)
    shape = (batch, extra, classes) if axis == -1 else (batch, classes, extra)
    z = rng.normal(0, scale, shape)
    labels = rng.integers(0, classes, (batch, extra))
    g = rng.normal(size=(batch, extra))
    out, (grad,) = _our_grads(
        lambda z: nn.softmax_cross_entropy(z, labels, axis=axis), z, g=g
    )
    zt = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(zt.movedim(axis, 1), torch.tensor(labels), reduction="none")
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-12, atol=1e-14)
    # the gradient is (softmax - onehot) * g, written out
    e = np.exp(z - z.max(axis, keepdims=True))
    softmax = e / e.sum(axis, keepdims=True)
    onehot = np.moveaxis(np.eye(classes)[labels], -1, axis)
    expected = (softmax - onehot) * np.expand_dims(g, axis)
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-14)


@SETTINGS
@given(batch=st.integers(1, 4), classes=st.integers(1, 5), seed=seeds)
def test_dense_softmax_cross_entropy_parity(batch, classes, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, (batch, classes))
    y = rng.uniform(0, 1, (batch, classes))  # soft labels, not normalised
    g = rng.normal(size=batch)

    def ref(z, y):
        return F.cross_entropy(z, y, reduction="none")

    out, grads = _our_grads(nn.softmax_cross_entropy, z, y, g=g)
    out_ref, grads_ref = _torch_grads(ref, z, y, g=g)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-14)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert max(check_grad(nn.softmax_cross_entropy, z, y)) < 1e-7


@SETTINGS
@given(batch=st.integers(1, 4), classes=st.integers(2, 5), seed=seeds)
def test_softmax_cross_entropy_finite_differences(batch, classes, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(batch, classes))
    labels = rng.integers(0, classes, batch)
    assert check_grad(lambda z: nn.softmax_cross_entropy(z, labels), z)[0] < 1e-7


def test_softmax_cross_entropy_ignore_class():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 4))
    labels = np.array([1, 9, 3, 9, 0])
    out, (grad,) = _our_grads(
        lambda z: nn.softmax_cross_entropy(z, labels, ignore_class=9), z, g=np.ones(5)
    )
    zt = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(zt, torch.tensor(labels), ignore_index=9, reduction="none")
    ref.sum().backward()
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert out[1] == 0.0 and (grad[[1, 3]] == 0.0).all()


def test_softmax_cross_entropy_is_one_op_and_numpy_in_numpy_out():
    z = Tensor(np.zeros((2, 3)), requires_grad=True)
    out = nn.softmax_cross_entropy(z, np.array([0, 2]))
    assert isinstance(out._ctx, nn.SoftmaxCrossEntropy) and out._ctx.inputs[0] is z
    plain = nn.softmax_cross_entropy(np.zeros((2, 3)), [0, 2])
    assert type(plain) is np.ndarray
    np.testing.assert_allclose(plain, [np.log(3.0)] * 2)


def test_softmax_cross_entropy_extremes():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e-38], [0.0, 0.0, 0.0]])
    for dtype in (np.float64, np.float32):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for labels in (np.array([1, 0, 2]), np.eye(3)[[1, 0, 2]]):
                zt = Tensor(z.astype(dtype), requires_grad=True)
                out = nn.softmax_cross_entropy(zt, labels)
                out.backward(np.ones(3, dtype=dtype))
                assert np.isfinite(out.data).all() and np.isfinite(zt.grad).all()
                np.testing.assert_allclose(out.data, [2e4, 2e4, np.log(3)], rtol=1e-6)


def test_sparse_label_errors():
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"label 4 at index 2 .*\[0, 3\]"):
        nn.softmax_cross_entropy(z, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"label -1 at index 0"):
        nn.softmax_cross_entropy(z, np.array([-1, 1, 2]))
    with pytest.raises(ValueError, match=r"my_loss: label 7 at index \(0, 1\)"):
        nn.softmax_cross_entropy(np.zeros((2, 2, 4)), [[0, 7], [1, 1]], name="my_loss")
    with pytest.raises(ValueError, match=r"labels of shape \(2,\).*\(3, 4\)"):
        nn.softmax_cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match="integer class indices, got nan"):
        nn.softmax_cross_entropy(z, np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="ignore_class needs integer"):
        nn.softmax_cross_entropy(z, np.ones((3, 4)), ignore_class=0)


def test_check_sparse_labels():
    labels, valid = nn.check_sparse_labels(np.array([0.0, 2.0]), 3)
    assert labels.dtype.kind == "i" and labels.tolist() == [0, 2] and valid is None
    labels, valid = nn.check_sparse_labels(np.array([-1, 2]), 3, ignore_class=-1)
    assert labels.tolist() == [0, 2] and valid.tolist() == [False, True]
    with pytest.raises(TypeError):
        nn.check_sparse_labels(np.array(["a"]), 3)


# ------------------------------------------------ sigmoid cross-entropy
@SETTINGS
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=3), seed=seeds)
def test_sigmoid_binary_crossentropy_parity(shape, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 5, shape)
    y = rng.uniform(0, 1, shape)
    g = rng.normal(size=shape)

    def ref(z, y):
        return F.binary_cross_entropy_with_logits(z, y, reduction="none")

    out, grads = _our_grads(nn.sigmoid_binary_crossentropy, z, y, g=g)
    out_ref, grads_ref = _torch_grads(ref, z, y, g=g)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-14)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # gradient (sigmoid(z) - y) * g, written out; an absolute tolerance too:
    # where y is close to sigmoid(z) the written-out difference cancels
    # (seed 2671: 3.8e-5 off by 1e-16, a relative 2.8e-12)
    written = (1 / (1 + np.exp(-z)) - y) * g
    np.testing.assert_allclose(grads[0], written, rtol=1e-12, atol=1e-14)
    if z.size:
        assert max(check_grad(nn.sigmoid_binary_crossentropy, z, y)) < 1e-7


def test_sigmoid_binary_crossentropy_extremes_and_errors():
    z = np.array([1e4, -1e4, 0.0, 1e-38, 40.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zt = Tensor(z.copy(), requires_grad=True)
        out = nn.sigmoid_binary_crossentropy(zt, y)
        out.backward(np.ones(5))
    expected = [1e4, 1e4, np.log(2), np.log(2), np.exp(-40.0)]
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    np.testing.assert_allclose(zt.grad, [1.0, -1.0, -0.5, 0.5, -np.exp(-40.0)])
    with pytest.raises(ValueError, match=r"labels of shape \(3,\).*\(3, 1\)"):
        nn.sigmoid_binary_crossentropy(np.zeros((3, 1)), np.zeros(3))


# ---------------------------------------------------------- activation ops
@pytest.mark.parametrize(
    "op, ref",
    [
        (nn.relu, F.relu),
        (nn.sigmoid, torch.sigmoid),
        (nn.softplus, lambda x: torch.logaddexp(x, torch.zeros_like(x))),
        (nn.softmax, lambda x: F.softmax(x, -1)),
        (nn.log_softmax, lambda x: F.log_softmax(x, -1)),
    ],
)
@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=seeds)
def test_activation_ops_parity(op, ref, shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 4, shape)
    g = rng.normal(size=shape)
    out, (grad,) = _our_grads(op, x, g=g)
    out_ref, (grad_ref,) = _torch_grads(ref, x, g=g)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("op", [nn.relu, nn.sigmoid, nn.softplus, nn.softmax])
def test_activation_ops_leave_inputs_alone_and_keep_dtype(op):
    x = np.array([[1.0, -2.0, 0.5]], dtype=np.float32)
    before = x.copy()
    t = Tensor(x, requires_grad=True)
    out = op(t)
    out.backward(np.ones(out.shape, dtype=np.float32))
    np.testing.assert_array_equal(x, before)
    assert out.dtype == np.float32 and t.grad.dtype == np.float32
    assert op(numdl.tensor(2.0)).shape == ()  # 0-d inputs work


def test_softmax_over_empty_axis():
    assert nn.softmax(np.zeros((2, 0))).shape == (2, 0)
    assert nn.log_softmax(np.zeros((0, 3))).shape == (0, 3)


@pytest.mark.parametrize(
    "make",
    [
        lambda z, rng: nn.softmax_cross_entropy_op(
            z,
            rng.random(z.shape),
            reduction="mean",  # float64 soft labels
        ),
        lambda z, rng: nn.softmax_cross_entropy_op(
            z, rng.integers(0, 3, 4), ignore_class=1, reduction="mean"
        ),
        lambda z, rng: nn.sigmoid_binary_crossentropy_op(
            z,
            rng.random(z.shape) > 0.5,
            reduction="mean",  # boolean labels
        ),
    ],
    ids=["dense float64 labels", "ignored class", "binary"],
)
def test_op_call_value_and_grad_is_apply_then_backward(make):
    """On arrays, without a graph: the value and the first argument's .grad
    that apply + backward give with that argument a Tensor (the constants
    converted as apply converts them), to the bit."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 3)).astype(np.float32)
    call = make(z, np.random.default_rng(1))
    value, grad = call.value_and_grad()
    leaf = Tensor(z, requires_grad=True)
    ref_call = make(leaf, np.random.default_rng(1))
    out = ref_call.apply()
    out.backward()
    assert value.dtype == out.dtype and value.shape == out.shape
    np.testing.assert_array_equal(value, out.data)
    assert grad.dtype == np.float32
    np.testing.assert_array_equal(grad, leaf.grad)


def test_op_call_value_and_grad_needs_one_element():
    call = nn.softmax_cross_entropy_op(np.zeros((2, 3)), [0, 1])  # per sample
    with pytest.raises(ValueError, match="SoftmaxCrossEntropy: value_and_grad needs"):
        call.value_and_grad()
