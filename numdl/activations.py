"""Activation functions with Keras 3 names, signatures and defaults.

Each activation is either one op with a hand-written backward (``relu``,
``sigmoid``, ``leaky_relu``, ``elu``, ``softplus``, ``softmax``,
``log_softmax``, ``gelu``, ``silu``) or a composition of ops. Each registers
itself, so ``get("relu")`` finds it and ``serialize(relu)`` gives ``"relu"``.

NumPy in, NumPy out: given arrays, scalars or lists, every activation returns
an ndarray; given a Tensor, a Tensor on the graph. Integer inputs become
``config.floatx()``; float arrays keep their type.

Where Keras 3 and PyTorch differ, Keras is followed (see each docstring):
``leaky_relu`` slope 0.2 (torch 0.01), ``softplus`` exact everywhere (torch
returns ``x`` above ``threshold=20``), ``relu`` with Keras's
``negative_slope``/``max_value``/``threshold``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from numdl import ops
from numdl import registry as _registry
from numdl.autograd.function import Function
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module
from numdl.ops import nn
from numdl.ops.nn import apply_unary, as_float


def _register(*names: str) -> Callable[[Any], Any]:
    return _registry.register("activation", *names)


def _out(y: Any) -> Any:
    """NumPy in, NumPy out: a result that is not a Tensor becomes an ndarray."""
    return y if isinstance(y, Tensor) else array_module(y).asarray(y)


# --------------------------------------------------------------------- ops
class LeakyReLU(Function):
    """``x`` where ``x > 0``, else ``negative_slope * x``."""

    def forward(self, x, negative_slope=0.2):
        xp = array_module(x)
        self.x, self.slope = x, negative_slope
        out = x * negative_slope
        if 0 <= negative_slope <= 1:
            return xp.maximum(x, out, out=out)
        return xp.where(x > 0, x, out)

    def backward(self, g):
        xp = array_module(g)
        return (xp.where(self.x > 0, g, g * self.slope),)


class ELU(Function):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``; saves x and y."""

    def forward(self, x, alpha=1.0):
        xp = array_module(x)
        self.x, self.alpha = x, alpha
        out = xp.minimum(x, 0)  # expm1 of non-positive numbers only
        xp.expm1(out, out=out)
        out *= alpha
        xp.copyto(out, x, where=x > 0)
        self.out = out
        return out

    def backward(self, g):
        xp = array_module(g)
        return (xp.where(self.x > 0, g, g * (self.out + self.alpha)),)


class GELU(Function):
    """Gaussian error linear unit, exact (erf) or with the tanh approximation.

    The approximation is computed as ``x * sigmoid(2u)``, which equals
    ``0.5 * x * (1 + tanh(u))`` without its cancellation for negative x.
    """

    def forward(self, x, approximate=False):
        self.x, self.approximate = x, approximate
        if approximate:
            two_u = x * x
            two_u *= _GELU_A
            two_u += 1
            two_u *= x
            two_u *= 2 * _SQRT_2_OVER_PI  # 2u = 2 sqrt(2/pi) (x + a x^3)
            self.s = nn._sigmoid(two_u)
            return x * self.s
        from numdl.ops import special  # looked up per call: it may be replaced

        cdf2 = special.erf(x * _SQRT_HALF)
        cdf2 += 1
        self.cdf2 = cdf2  # 1 + erf(x / sqrt(2)) = 2 Phi(x)
        out = cdf2 * x
        out *= 0.5
        return out

    def backward(self, g):
        xp = array_module(g)
        x = self.x
        if self.approximate:
            s = self.s
            grad = x * x
            grad *= 3 * _GELU_A
            grad += 1
            grad *= 2 * _SQRT_2_OVER_PI  # d(2u)/dx
            grad *= x
            grad *= 1 - s
            grad += 1
            grad *= s  # s + x s (1 - s) d(2u)/dx
        else:
            grad = x * x
            grad *= -0.5
            xp.exp(grad, out=grad)
            grad *= x
            grad *= _SQRT_2_OVER_PI  # 2 x phi(x)
            grad += self.cdf2
            grad *= 0.5  # Phi(x) + x phi(x)
        grad *= g
        return (grad,)


class SiLU(Function):
    """``x * sigmoid(x)``; gradient ``s * (1 + x * (1 - s))``."""

    def forward(self, x):
        self.x = x
        self.s = nn._sigmoid(x)
        return x * self.s

    def backward(self, g):
        s = self.s
        grad = 1 - s
        grad *= self.x
        grad += 1
        grad *= s
        grad *= g
        return (grad,)


class KerasReLU(Function):
    """Keras's ``relu`` with ``negative_slope``, ``max_value`` and ``threshold``.

    ``y = clip(x if x > threshold else 0, 0, max_value)
    - negative_slope * max(threshold - x, 0)`` (clipping only when
    ``max_value`` is given).
    """

    def forward(self, x, negative_slope=0.0, max_value=None, threshold=0.0):
        xp = array_module(x)
        self.x = x
        self.slope, self.max_value, self.threshold = (
            negative_slope,
            max_value,
            threshold,
        )
        out = xp.where(x > threshold, x, 0)
        if max_value is not None:
            xp.clip(out, 0, max_value, out=out)
        if negative_slope:
            below = threshold - x
            xp.maximum(below, 0, out=below)
            below *= negative_slope
            out -= below
        return out

    def backward(self, g):
        x, hi = self.x, self.max_value
        passes = x > self.threshold
        if hi is not None:
            passes &= (x > 0) & (x < hi)
        grad = g * passes
        if self.slope:
            grad += g * (self.slope * (x < self.threshold))
        return (grad,)


_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# -------------------------------------------------------------- activations
@_register("linear")
def linear(x: Any) -> Any:
    """Identity: returns ``x`` unchanged (an ndarray when ``x`` is not a Tensor).

    >>> linear([1.0, -2.0]).tolist()
    [1.0, -2.0]
    """
    return x if isinstance(x, Tensor) else _out(as_float(x))


@_register("sigmoid")
def sigmoid(x: Any) -> Any:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, one op, never overflows.

    ``exp`` only ever sees ``-|x|``; the gradient is ``y * (1 - y)`` from the
    saved output.

    >>> sigmoid([[0.0, 1.0], [-1.0, 2.0]]).round(8).tolist()
    [[0.5, 0.73105858], [0.26894142, 0.88079708]]
    """
    return _out(nn.sigmoid(x))


@_register("hard_sigmoid")
def hard_sigmoid(x: Any) -> Any:
    """Keras 3 hard sigmoid: ``relu6(x + 3) / 6`` (0 below -3, 1 above 3).

    Same as ``torch.nn.functional.hardsigmoid``. (Keras 2 used
    ``clip(0.2 * x + 0.5, 0, 1)``.) A composition of ops.

    >>> hard_sigmoid([-4.0, 0.0, 1.5, 4.0]).tolist()
    [0.0, 0.5, 0.75, 1.0]
    """
    return _out(ops.clip(as_float(x) + 3.0, 0.0, 6.0) / 6.0)


@_register("relu")
def relu(
    x: Any,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
) -> Any:
    """Rectified linear unit with Keras's options; ``max(x, 0)`` by default.

    ``f(x) = clip(x if x > threshold else 0, 0, max_value)
    - negative_slope * max(threshold - x, 0)``, where the clip applies only
    when ``max_value`` is given. Like Keras, values in ``(threshold, 0)`` are
    kept when ``threshold < 0`` and no ``max_value`` is set. The plain case is
    one op (``numdl.ops.nn.relu``); the gradient at 0 is 0, as in PyTorch.

    >>> relu([[-1, 0, 1], [-2, 3, -0.5]]).tolist()
    [[0.0, 0.0, 1.0], [0.0, 3.0, 0.0]]
    """
    if max_value is None and threshold == 0:
        if negative_slope == 0:
            return _out(nn.relu(x))
        return _out(apply_unary(LeakyReLU, x, negative_slope=negative_slope))
    return _out(
        apply_unary(
            KerasReLU,
            x,
            negative_slope=negative_slope,
            max_value=max_value,
            threshold=threshold,
        )
    )


@_register("relu6")
def relu6(x: Any) -> Any:
    """``min(max(x, 0), 6)``, as ``torch.nn.functional.relu6``.

    >>> relu6([-1.0, 3.0, 8.0]).tolist()
    [0.0, 3.0, 6.0]
    """
    return relu(x, max_value=6.0)


@_register("leaky_relu")
def leaky_relu(x: Any, negative_slope: float = 0.2) -> Any:
    """``x`` for ``x > 0``, else ``negative_slope * x``; one op.

    Keras 3's default slope is 0.2 (PyTorch's is 0.01; Keras 2's layer used
    0.3).

    >>> leaky_relu([-1.0, 2.0]).tolist()
    [-0.2, 2.0]
    """
    return _out(apply_unary(LeakyReLU, x, negative_slope=negative_slope))


@_register("elu")
def elu(x: Any, alpha: float = 1.0) -> Any:
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    One op; ``expm1`` only sees non-positive numbers, so large inputs are safe.

    >>> elu([-1.0, 2.0]).round(6).tolist()
    [-0.632121, 2.0]
    """
    return _out(apply_unary(ELU, x, alpha=alpha))


@_register("selu")
def selu(x: Any) -> Any:
    """Scaled ELU: ``scale * elu(x, alpha)``, alpha ~ 1.6733, scale ~ 1.0507.

    The constants of Klambauer et al. (2017), as in Keras and PyTorch.

    >>> selu([0.0, 1.0]).round(6).tolist()
    [0.0, 1.050701]
    """
    return _out(apply_unary(ELU, x, alpha=_SELU_ALPHA) * _SELU_SCALE)


@_register("gelu")
def gelu(x: Any, approximate: bool = False) -> Any:
    """Gaussian error linear unit ``x * Phi(x)``; one op.

    ``approximate=False`` (Keras 3's default for the activation, PyTorch's
    ``approximate="none"``): ``0.5 * x * (1 + erf(x / sqrt(2)))``.
    ``approximate=True`` (PyTorch's ``"tanh"``):
    ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``.
    (``keras.ops.gelu`` defaults to ``approximate=True``; the activation does
    not.)

    >>> gelu([-1.0, 0.0, 1.0]).round(6).tolist()
    [-0.158655, 0.0, 0.841345]
    """
    return _out(apply_unary(GELU, x, approximate=bool(approximate)))


@_register("softplus")
def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``, exact and never overflowing; one op.

    Computed as ``max(x, 0) + log1p(exp(-|x|))``. PyTorch's softplus returns
    ``x`` itself above ``threshold=20``; numdl does not (differences < 2e-9).

    >>> softplus([0.0, 1e4]).round(6).tolist()
    [0.693147, 10000.0]
    """
    return _out(nn.softplus(x))


@_register("softsign")
def softsign(x: Any) -> Any:
    """``x / (|x| + 1)``; a composition of ops.

    >>> softsign([-1.0, 3.0]).tolist()
    [-0.5, 0.75]
    """
    x = as_float(x)
    return _out(x / (ops.abs(x) + 1.0))


@_register("silu", "swish")
def silu(x: Any) -> Any:
    """Sigmoid linear unit (swish) ``x * sigmoid(x)``; one op.

    >>> silu([0.0, 1.0]).round(6).tolist()
    [0.0, 0.731059]
    """
    return _out(apply_unary(SiLU, x))


swish = silu


@_register("mish")
def mish(x: Any) -> Any:
    """``x * tanh(softplus(x))`` (Misra, 2019); a composition of ops.

    >>> mish([0.0, 1.0]).round(6).tolist()
    [0.0, 0.865098]
    """
    x = as_float(x)
    return _out(x * ops.tanh(nn.softplus(x)))


@_register("tanh")
def tanh(x: Any) -> Any:
    """Hyperbolic tangent.

    >>> tanh([0.0]).tolist()
    [0.0]
    """
    return _out(apply_unary(ops.math.Tanh, x))


@_register("exponential")
def exponential(x: Any) -> Any:
    """``exp(x)`` (overflows to inf above ~709 in float64, ~88 in float32).

    >>> exponential([0.0]).tolist()
    [1.0]
    """
    return _out(apply_unary(ops.math.Exp, x))


@_register("softmax")
def softmax(x: Any, axis: int = -1) -> Any:
    """Softmax along ``axis``: ``exp(x - max) / sum(exp(x - max))``; one op.

    The gradient is ``y * (g - sum(g * y))`` from the saved output.

    >>> softmax([[1.0, 1.0], [0.0, 1e4]]).tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    """
    return _out(nn.softmax(x, axis=axis))


@_register("log_softmax")
def log_softmax(x: Any, axis: int = -1) -> Any:
    """``x - max - log(sum(exp(x - max)))`` along ``axis``; one op.

    >>> log_softmax([[0.0, 0.0]]).round(6).tolist()
    [[-0.693147, -0.693147]]
    """
    return _out(nn.log_softmax(x, axis=axis))


# ------------------------------------------------------------ name lookup
def get(identifier: Any) -> Callable[..., Any]:
    """Resolve an activation: a name, a callable (returned as is) or None.

    None gives ``linear``; a dict ``{"class_name": name}`` (Keras's serialized
    form) gives the named activation.

    >>> get("relu") is relu, get(None) is linear
    (True, True)
    """
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        identifier = identifier.get("config", identifier.get("class_name"))
    if isinstance(identifier, str):
        return _registry.get("activation", identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"activations.get: expected a name, a callable or None, got "
        f"{type(identifier).__name__} {identifier!r}"
    )


def serialize(activation: Callable[..., Any]) -> str:
    """Return the registered name of an activation (``relu`` -> ``"relu"``).

    Unregistered functions give their ``__name__``.

    >>> serialize(relu), serialize(swish)
    ('relu', 'silu')
    """
    name = _registry.name_of("activation", activation)
    if name is not None:
        return name
    name = getattr(activation, "__name__", None)
    if name is None:
        raise ValueError(f"activations.serialize: cannot name {activation!r}")
    return name


def is_builtin(activation: Any) -> bool:
    """Whether ``activation`` is one of numdl's own functions (which take
    arrays as well as Tensors; a user's function may need Tensors).

    >>> is_builtin(relu), is_builtin(abs)
    (True, False)
    """
    if isinstance(activation, type):  # the op classes above
        return False
    name = getattr(activation, "__name__", None)
    return name is not None and globals().get(name) is activation


def deserialize(name: Any) -> Callable[..., Any]:
    """Inverse of :func:`serialize`.

    >>> deserialize("tanh") is tanh
    True
    """
    return get(name)


def names() -> list[str]:
    """The registered activation names.

    >>> "gelu" in names()
    True
    """
    return _registry.names("activation")
