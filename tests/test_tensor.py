"""Tensor and autograd: attributes, operators, backward, grad modes, dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import numdl
from numdl import ops
from numdl.autograd.tensor import Tensor
from numdl.testing import assert_torch_parity


def leaf(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


# --------------------------------------------------------------- attributes
def test_attributes():
    data = np.arange(6.0).reshape(2, 3)
    t = Tensor(data, requires_grad=True)
    assert t.data is data
    assert t.grad is None and t.requires_grad and t.is_leaf
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6
    assert t.dtype == np.float64
    assert len(t) == 2
    np.testing.assert_array_equal(t.T.data, data.T)
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), data)
    assert t.tolist() == data.tolist()


def test_item():
    assert Tensor(np.array([[2.5]])).item() == 2.5
    assert isinstance(Tensor(np.array(3.0)).item(), float)
    with pytest.raises(ValueError, match=r"one element, got shape \(2,\)"):
        Tensor(np.zeros(2)).item()


def test_len_of_0d_tensor_is_an_error():
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(np.array(1.0)))


def test_detach_shares_data_and_leaves_the_graph():
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    assert d.data is y.data


def test_repr():
    assert repr(numdl.tensor([1.0, 2.0])) == "tensor([1., 2.], dtype=float32)"
    assert repr(leaf([1.5])) == "tensor([1.5], dtype=float64, requires_grad=True)"
    assert "grad_fn=Multiply" in repr(leaf([1.0]) * 2)


def test_numpy_conversion_protocol():
    t = numdl.tensor([1.0, 2.0])
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    tiled = np.tile(t, 2)
    assert isinstance(tiled, np.ndarray) and tiled.tolist() == [1.0, 2.0, 1.0, 2.0]
    copy = np.array(t, copy=True)
    copy[0] = 5.0
    assert t.data[0] == 1.0


# ---------------------------------------------------------------- operators
OPERATORS = {
    "+": (lambda a, b: a + b),
    "-": (lambda a, b: a - b),
    "*": (lambda a, b: a * b),
    "/": (lambda a, b: a / b),
    "**": (lambda a, b: a**b),
}


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_binary_operators_match_torch(op):
    f = OPERATORS[op]
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2.0, (3, 4)), rng.uniform(0.5, 2.0, (4,))
    assert_torch_parity(f, f, a, b)


@pytest.mark.parametrize("op", sorted(OPERATORS))
@pytest.mark.parametrize("other", [2.0, 3, np.float64(1.5), "ndarray"])
def test_operators_with_constants_on_either_side(op, other):
    """Reflected forms: number or ndarray on the left still gives a Tensor."""
    f = OPERATORS[op]
    if isinstance(other, str):
        other = np.array([0.5, 1.5, 2.0])
    x = np.array([1.0, 2.0, 3.0])
    for left in (True, False):

        def ours(t, left=left):
            return f(other, t) if left else f(t, other)

        def ref(t, left=left):
            o = torch.tensor(other) if isinstance(other, np.ndarray) else other
            return f(o, t) if left else f(t, o)

        out = ours(Tensor(x.copy(), requires_grad=True))
        assert isinstance(out, Tensor) and out.requires_grad
        assert_torch_parity(ours, ref, x)


def test_ndarray_on_the_left_gives_tensor_with_gradient():
    t = leaf([1.0, 2.0, 3.0])
    out = np.ones(3) + t
    assert isinstance(out, Tensor)
    (np.array([1.0, 2.0, 3.0]) * out).sum().backward()
    assert t.grad.tolist() == [1.0, 2.0, 3.0]


def test_matmul_operator_both_sides():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    assert_torch_parity(lambda x, y: x @ y, lambda x, y: x @ y, a, b)
    t = Tensor(b, requires_grad=True)
    out = a @ t
    assert isinstance(out, Tensor)
    out.sum().backward()
    np.testing.assert_allclose(t.grad, a.sum(axis=0)[:, None] * np.ones((1, 4)))


def test_unary_operators():
    t = leaf([1.0, -2.0])
    assert (-t).tolist() == [-1.0, 2.0]
    assert (+t) is t
    assert abs(t).tolist() == [1.0, 2.0]
    (-t).sum().backward()
    assert t.grad.tolist() == [-1.0, -1.0]


def test_comparisons_give_boolean_tensors_without_gradient():
    t = leaf([1.0, 2.0, 3.0])
    for result, expected in [
        (t < 2, [True, False, False]),
        (t <= 2, [True, True, False]),
        (t > 2, [False, False, True]),
        (t >= 2, [False, True, True]),
        (t == 2, [False, True, False]),
        (t != 2, [True, False, True]),
    ]:
        assert result.dtype == bool and not result.requires_grad
        assert result.tolist() == expected


def test_broadcasting_gradient_is_summed_to_the_input_shape():
    a = leaf(np.ones((2, 1, 3)))
    b = leaf(np.arange(4.0).reshape(4, 1))
    out = a * b
    assert out.shape == (2, 4, 3)
    out.sum().backward()
    assert a.grad.shape == (2, 1, 3) and b.grad.shape == (4, 1)
    np.testing.assert_array_equal(a.grad, np.full((2, 1, 3), 0.0 + 1 + 2 + 3))
    np.testing.assert_array_equal(b.grad, np.full((4, 1), 6.0))


# ----------------------------------------------------------------- backward
def test_long_chain_backpropagates_without_recursion():
    x = leaf([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward(np.ones(1))
    assert x.grad.tolist() == [1.0]
    del y  # freeing the 200,000-node graph must not overflow the stack either


def test_gradients_accumulate_across_backward_calls_like_torch():
    x = leaf([1.0, 2.0])
    xt = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    for _ in range(3):
        (x * x).sum().backward()
        (xt * xt).sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())
    x.zero_grad()
    assert x.grad is None


def test_tensor_used_twice_collects_both_gradients():
    x = leaf([3.0])
    (x * x + x).backward(np.ones(1))
    assert x.grad.tolist() == [7.0]  # d(x^2 + x)/dx = 2x + 1


def test_diamond_graph_gradient():
    x = leaf([2.0])
    a = x * 3
    b = x * 5
    (a * b).backward(np.ones(1))  # d(15 x^2)/dx = 30 x
    assert x.grad.tolist() == [60.0]


def test_leaf_gradients_are_writeable_and_not_shared():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad is not b.grad
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 1.0  # an optimizer may update in place
    assert b.grad.tolist() == [1.0, 1.0]
    c, d = leaf([1.0]), leaf([2.0])
    out = ops.concatenate([c, d])
    out.backward(np.array([5.0, 6.0]))
    assert c.grad.flags.writeable and not np.shares_memory(c.grad, d.grad)


def test_gradient_of_0d_leaf_is_a_writeable_array():
    x = Tensor(np.array(2.0), requires_grad=True)
    (x * x).backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.flags.writeable
    assert x.grad.shape == () and float(x.grad) == 4.0


def test_backward_with_explicit_gradient():
    x = leaf([1.0, 2.0])
    (x * 3).backward(np.array([1.0, 10.0]))
    assert x.grad.tolist() == [3.0, 30.0]


def test_backward_of_a_leaf():
    x = leaf([1.0])
    x.backward()
    assert x.grad.tolist() == [1.0]


# ------------------------------------------------------------------ errors
def test_backward_of_non_scalar_needs_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(
        RuntimeError, match=r"only for a tensor with one element.*\(2,\)"
    ):
        (x * 2).backward()


def test_backward_gradient_of_wrong_shape():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected .*\(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_without_graph_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(1)).backward()


def test_integer_tensors_cannot_require_gradients():
    with pytest.raises(TypeError, match="Only floating point tensors.*int64"):
        Tensor(np.array([1, 2]), requires_grad=True)
    with pytest.raises(TypeError, match="Only floating point"):
        numdl.tensor([1, 2], dtype="int64", requires_grad=True)
    # without a dtype, integer data asking for gradients becomes floatx
    assert numdl.tensor([1, 2], requires_grad=True).dtype == np.float32


def test_second_backward_through_a_freed_graph():
    x = leaf([1.0, 2.0])
    y = (ops.exp(x) * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (ops.exp(x) * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-15)
    np.testing.assert_allclose(first, np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])))


# -------------------------------------------------------------- grad modes
def test_requires_grad_propagation():
    a, b = leaf([1.0]), Tensor(np.array([2.0]))
    assert (a * b).requires_grad
    assert not (b * b).requires_grad
    assert not (b * 2).requires_grad
    assert (a * b)._ctx is not None and (b * b)._ctx is None


def test_no_grad_context_manager():
    x = leaf([1.0])
    with numdl.no_grad():
        y = x * 2
        with numdl.enable_grad():
            z = x * 2
        w = x * 2
    assert not y.requires_grad and y._ctx is None
    assert z.requires_grad
    assert not w.requires_grad
    assert (x * 2).requires_grad


@pytest.mark.parametrize("decorator", [numdl.no_grad(), numdl.no_grad])
def test_no_grad_decorator(decorator):
    @decorator
    def double(t):
        """Doc."""
        return t * 2

    assert not double(leaf([1.0])).requires_grad
    assert double.__doc__ == "Doc."
    assert (leaf([1.0]) * 2).requires_grad


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(KeyError), numdl.no_grad():
        raise KeyError
    assert numdl.autograd.is_grad_enabled()


def test_enable_grad_decorator_inside_no_grad():
    @numdl.enable_grad()
    def double(t):
        return t * 2

    with numdl.no_grad():
        assert double(leaf([1.0])).requires_grad


# ------------------------------------------------------------------ dtypes
def test_float32_is_the_default():
    assert numdl.tensor([1.0]).dtype == np.float32
    assert numdl.tensor(np.array([1.0])).dtype == np.float32
    assert numdl.tensor(2.0).dtype == np.float32
    assert numdl.tensor([1, 2]).dtype.kind == "i"


def test_set_floatx_float64(float64):
    assert numdl.config.floatx() == "float64"
    assert numdl.tensor([1.0]).dtype == np.float64
    assert ops.one_hot([0], 2).dtype == np.float64


def test_set_floatx_rejects_unknown_types():
    with pytest.raises(ValueError, match="float16.*float32.*float64"):
        numdl.config.set_floatx("int8")


CONSTANTS = {
    "python float": 2.5,
    "python int": 3,
    "numpy float64 scalar": np.float64(2.5),
    "float64 ndarray": np.array([1.5, 2.5, 3.5]),
    "int64 ndarray": np.array([1, 2, 3]),
}


@pytest.mark.parametrize("name", sorted(CONSTANTS))
@pytest.mark.parametrize("op", sorted(OPERATORS) + ["@", "maximum", "where"])
def test_constants_do_not_upcast_float32(name, op):
    """Result and gradient stay float32, with the constant on either side."""
    c = CONSTANTS[name]
    x = numdl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    if op == "@":
        c = c if np.ndim(c) else np.full(3, c)
        outs = [x @ c, c @ x]
    elif op == "maximum":
        outs = [ops.maximum(x, c), ops.maximum(c, x)]
    elif op == "where":
        mask = np.array([True, False, True])
        outs = [ops.where(mask, x, c), ops.where(mask, c, x)]
    else:
        outs = [OPERATORS[op](x, c), OPERATORS[op](c, x)]
    for out in outs:
        assert out.dtype == np.float32, out.dtype
        out.backward(np.ones(out.shape, np.float32))
        assert x.grad.dtype == np.float32
        x.grad = None


def test_mixed_float_tensors_promote_like_torch():
    a = numdl.tensor([1.0], requires_grad=True)
    b = numdl.tensor(np.array([2.0]), requires_grad=True, dtype="float64")
    out = a * b
    expected = torch.tensor([1.0]) * torch.tensor([2.0], dtype=torch.float64)
    assert out.dtype == np.float64 and expected.dtype == torch.float64
    out.backward(np.ones(1))
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
