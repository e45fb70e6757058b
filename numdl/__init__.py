"""numdl: deep learning in NumPy that a person can read.

Two levels share one engine. Underneath, ``numdl.Tensor`` with reverse-mode
autograd (PyTorch habits: ``.backward()``, ``.grad``, ``no_grad``); on top, a
Keras-compatible model API, so ``import numdl as keras`` runs Keras programs.

>>> import numdl
>>> x = numdl.tensor([2.0], requires_grad=True)
>>> (x ** 3).sum().backward()
>>> x.grad.tolist()
[12.0]
"""

from numdl import (
    activations,
    callbacks,
    config,
    constraints,
    datasets,
    export,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    parallel,
    plot,
    regularizers,
    saving,
    testing,
    utils,
)
from numdl.autograd import Function, Tensor, enable_grad, no_grad, tensor
from numdl.config import set_random_seed
from numdl.layers import Input
from numdl.models import Model, Sequential
from numdl.variables import Variable

__version__ = "0.1.0"

__all__ = [
    "Function",
    "Input",
    "Model",
    "Sequential",
    "Tensor",
    "Variable",
    "activations",
    "callbacks",
    "config",
    "constraints",
    "datasets",
    "enable_grad",
    "export",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "no_grad",
    "ops",
    "optimizers",
    "parallel",
    "plot",
    "regularizers",
    "saving",
    "set_random_seed",
    "tensor",
    "testing",
    "utils",
]
