"""numdl: deep learning in NumPy that a person can read.

>>> import numdl
>>> x = numdl.tensor([2.0], requires_grad=True)
>>> (x ** 3).sum().backward()
>>> x.grad.tolist()
[12.0]
"""

from numdl import activations, config, datasets, losses, ops, optimizers, testing
from numdl.autograd import Function, Tensor, enable_grad, no_grad, tensor
from numdl.config import set_random_seed

__version__ = "0.1.0"

__all__ = [
    "Function",
    "Tensor",
    "activations",
    "config",
    "datasets",
    "enable_grad",
    "losses",
    "no_grad",
    "ops",
    "optimizers",
    "set_random_seed",
    "tensor",
    "testing",
]
