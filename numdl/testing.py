"""Gradient checking for people who write their own ops.

``check_grad(fn, *inputs)`` compares the gradient autograd computes for
``fn(*inputs)`` with central finite differences in float64, and returns the
worst relative error per input. A correct op gives errors near 1e-8 or below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from numdl.autograd.tensor import Tensor


def _scalar_loss(out: Any, weights: np.ndarray) -> Any:
    """Reduce an output to a scalar with fixed random weights (tests every entry)."""
    if isinstance(out, Tensor):
        return (out * Tensor(weights)).sum()
    return float((np.asarray(out, dtype=np.float64) * weights).sum())


def check_grad(
    fn: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    seed: int = 0,
) -> list[float]:
    """Worst relative error of autograd vs central differences, per input.

    The output is reduced to a scalar with fixed random weights, so every
    output entry is checked. Inputs are converted to float64 tensors.

    >>> import numdl
    >>> err = check_grad(lambda x: numdl.ops.exp(x) * x, np.array([0.5, -1.0]))
    >>> err[0] < 1e-8
    True
    """
    arrays = [np.array(x, dtype=np.float64) for x in inputs]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, np.shape(out.data))
    _scalar_loss(out, weights).backward()
    errors = []
    for i, a in enumerate(arrays):
        analytic = tensors[i].grad
        numeric = _numeric_grad(fn, arrays, i, weights, eps)
        if analytic is None:
            analytic = np.zeros_like(a)
        scale = np.maximum(np.abs(numeric), np.abs(analytic)).max(initial=0.0)
        diff = np.abs(numeric - analytic).max(initial=0.0)
        errors.append(float(diff / max(scale, 1.0)))
    return errors


def _numeric_grad(
    fn: Callable[..., Any], arrays: list[np.ndarray], i: int, w: np.ndarray, eps: float
) -> np.ndarray:
    grad = np.zeros_like(arrays[i])
    flat = arrays[i].reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        plus = _scalar_loss(fn(*[Tensor(a.copy()) for a in arrays]).data, w)
        flat[j] = old - eps
        minus = _scalar_loss(fn(*[Tensor(a.copy()) for a in arrays]).data, w)
        flat[j] = old
        grad.reshape(-1)[j] = (plus - minus) / (2 * eps)
    return grad
