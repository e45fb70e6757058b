"""Reverse-mode automatic differentiation: Tensor, Function, grad modes."""

from numdl.autograd.function import Function, unbroadcast
from numdl.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from numdl.autograd.tensor import Tensor, tensor

__all__ = [
    "Function",
    "Tensor",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "tensor",
    "unbroadcast",
]
