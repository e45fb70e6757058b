"""numdl.testing: check_grad finds wrong gradients; assert_torch_parity compares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from numdl import ops
from numdl.autograd.function import Function
from numdl.testing import assert_close, assert_torch_parity, check_grad


class WrongSquare(Function):
    """x * x with a deliberately wrong gradient (x instead of 2 x)."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return (g * self.x,)


class RightSquare(WrongSquare):
    def backward(self, g):
        return (2 * g * self.x,)


class ForgetsSecondInput(Function):
    """a * b that returns no gradient for b."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return g * self.b, None


X = np.array([[0.5, -1.5, 2.0], [1.0, 3.0, -0.25]])


def test_check_grad_small_for_a_correct_op():
    errors = check_grad(RightSquare.apply, X)
    assert len(errors) == 1 and errors[0] < 1e-8


def test_check_grad_large_for_a_wrong_op():
    (error,) = check_grad(WrongSquare.apply, X)
    # the error is |x| / |2x| = 1/2 of the largest gradient entry
    assert error == pytest.approx(0.5, rel=1e-6)


def test_check_grad_reports_each_input():
    a, b = X, X[::-1].copy()
    good_a, missing_b = check_grad(ForgetsSecondInput.apply, a, b)
    assert good_a < 1e-8
    assert missing_b > 0.5  # b's gradient is a (nonzero), autograd gave nothing


def test_check_grad_handles_lists_of_outputs_and_constant_outputs():
    assert check_grad(lambda x: ops.split(x, 3, axis=1), X)[0] < 1e-8
    assert check_grad(lambda x: ops.sign(x), X)[0] == 0.0


def test_check_grad_with_a_composite_function():
    def softplus(x):
        return ops.log1p(ops.exp(x))

    assert check_grad(softplus, X)[0] < 1e-8


def test_check_grad_leaves_inputs_unchanged():
    x = X.copy()
    check_grad(RightSquare.apply, x)
    np.testing.assert_array_equal(x, X)


def test_assert_torch_parity_passes_and_fails():
    assert_torch_parity(RightSquare.apply, torch.square, X)
    with pytest.raises(AssertionError, match="gradient 0"):
        assert_torch_parity(WrongSquare.apply, torch.square, X)
    with pytest.raises(AssertionError, match="output"):
        assert_torch_parity(ops.exp, torch.expm1, X)


def test_assert_torch_parity_checks_dtypes():
    with pytest.raises(AssertionError, match="dtype"):
        assert_torch_parity(
            lambda t: ops.cast(t, "float64"), lambda t: t * 1, X.astype(np.float32)
        )


def test_assert_close():
    assert_close([1.0, np.inf, np.nan], [1.0 + 1e-12, np.inf, np.nan], 1e-10)
    with pytest.raises(AssertionError, match="worst relative error"):
        assert_close([1.0, 2.0], [1.0, 2.001], 1e-5)
    with pytest.raises(AssertionError, match="non-finite"):
        assert_close([np.inf], [-np.inf], 1e-5)
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.zeros(2), np.zeros(3), 1e-5)
