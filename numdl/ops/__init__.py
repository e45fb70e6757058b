"""Differentiable primitives. Each is a ``Function`` class plus a snake_case wrapper.

Also the fused neural-network ops (dense, softmax cross-entropy, normalisation,
convolution, pooling) under Keras's ``keras.ops`` names; Keras's ``ops.conv`` is
``numdl.ops.conv.conv`` (``numdl.ops.conv`` is its module).

Given no Tensor argument, every function returns a plain array.
"""

from numdl.ops.conv import conv_transpose, depthwise_conv, separable_conv
from numdl.ops.math import (
    abs,
    add,
    argmax,
    argmin,
    cast,
    clip,
    cos,
    divide,
    erf,
    exp,
    expm1,
    log,
    log1p,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    power,
    prod,
    sign,
    sin,
    sqrt,
    square,
    std,
    subtract,
    sum,
    tanh,
    var,
    where,
)
from numdl.ops.nn import (
    dense,
    log_softmax,
    relu,
    sigmoid,
    sigmoid_binary_crossentropy,
    softmax,
    softmax_cross_entropy,
    softplus,
)
from numdl.ops.norm import batch_norm, batch_normalization, layer_norm
from numdl.ops.pool import average_pool, max_pool
from numdl.ops.shape import (
    concatenate,
    expand_dims,
    flatten,
    getitem,
    one_hot,
    pad,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    tile,
    transpose,
)

__all__ = [
    "abs", "add", "argmax", "argmin", "cast", "clip", "concatenate", "cos",
    "divide", "erf", "exp", "expand_dims", "expm1", "flatten", "getitem", "log",
    "log1p", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum",
    "multiply", "negative", "one_hot", "pad", "power", "prod", "repeat", "reshape",
    "sign", "sin", "split", "sqrt", "square", "squeeze", "stack", "std", "subtract",
    "sum", "tanh", "tile", "transpose", "var", "where",
    # fused neural-network ops
    "average_pool", "batch_norm", "batch_normalization", "conv_transpose",
    "dense", "depthwise_conv", "layer_norm", "log_softmax", "max_pool", "relu",
    "separable_conv", "sigmoid", "sigmoid_binary_crossentropy", "softmax",
    "softmax_cross_entropy", "softplus",
]  # fmt: skip
