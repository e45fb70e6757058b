"""Gradient checking for people who write their own ops.

``check_grad(fn, *inputs)`` compares the gradient autograd computes for
``fn(*inputs)`` with central finite differences in float64, and returns the
worst relative error per input. A correct op gives errors near 1e-8 or below.

``assert_torch_parity(fn, torch_fn, *arrays)`` runs an op and its PyTorch
reference on the same arrays and asserts that outputs and gradients agree
(PyTorch is a test dependency, imported only when this is called).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from numdl.autograd.tensor import Tensor


def _scalar_loss(out: Any, weights: Any) -> Any:
    """Reduce an output to a scalar with fixed random weights (tests every entry).

    ``out`` may be a list or tuple of outputs (``split``); ``weights`` is then
    a list with one array per output.
    """
    if isinstance(out, (list, tuple)):
        losses = [_scalar_loss(o, w) for o, w in zip(out, weights)]
        total = losses[0]
        for loss in losses[1:]:
            total = total + loss
        return total
    if isinstance(out, Tensor):
        return (out * Tensor(weights)).sum()
    return float((np.asarray(out, dtype=np.float64) * weights).sum())


def _weights(out: Any, seed: int, dtype: Any = np.float64) -> Any:
    """Fixed random weights in [0.5, 1.5) shaped like ``out`` (or each output)."""
    rng = np.random.default_rng(seed)
    if isinstance(out, (list, tuple)):
        return [rng.uniform(0.5, 1.5, np.shape(o.data)).astype(dtype) for o in out]
    return rng.uniform(0.5, 1.5, np.shape(out.data)).astype(dtype)


def _outputs_data(out: Any) -> Any:
    if isinstance(out, (list, tuple)):
        return [o.data for o in out]
    return out.data


def check_grad(
    fn: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    seed: int = 0,
) -> list[float]:
    """Worst relative error of autograd vs central differences, per input.

    The output (a Tensor, or a list of them) is reduced to a scalar with
    fixed random weights, so every output entry is checked. Inputs are
    converted to float64 tensors. The error is ``max|numeric - analytic|``
    divided by the largest gradient entry (or by 1 when all are below 1).

    >>> import numdl
    >>> err = check_grad(lambda x: numdl.ops.exp(x) * x, np.array([0.5, -1.0]))
    >>> err[0] < 1e-8
    True
    """
    arrays = [np.array(x, dtype=np.float64) for x in inputs]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = _weights(out, seed)
    loss = _scalar_loss(out, weights)
    if loss.requires_grad:  # False when the output does not depend on the inputs
        loss.backward()
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
        plus = _scalar_loss(_outputs_data(fn(*[Tensor(a.copy()) for a in arrays])), w)
        flat[j] = old - eps
        minus = _scalar_loss(_outputs_data(fn(*[Tensor(a.copy()) for a in arrays])), w)
        flat[j] = old
        grad.reshape(-1)[j] = (plus - minus) / (2 * eps)
    return grad


def assert_close(actual: Any, expected: Any, rtol: float, what: str = "") -> None:
    """Assert ``|actual - expected| <= rtol * (|expected| + max|expected|)``.

    The second term makes the test normwise where sums cancel (a sum of
    numbers near 1 that is near 0). NaN must match NaN and infinities must
    match exactly; shapes must be equal.

    >>> assert_close(np.array([1.0, np.inf]), np.array([1.0 + 1e-12, np.inf]), 1e-10)
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape} != {expected.shape}")
    finite = np.isfinite(expected)
    if not np.array_equal(np.isnan(actual), np.isnan(expected)) or not np.array_equal(
        actual[~finite & ~np.isnan(expected)], expected[~finite & ~np.isnan(expected)]
    ):
        raise AssertionError(f"{what}: non-finite values differ\n{actual}\n{expected}")
    a, e = actual[finite], expected[finite]
    scale = np.abs(e).max(initial=0.0)
    bad = np.abs(a - e) > rtol * (np.abs(e) + scale)
    if bad.any():
        worst = np.abs(a - e).max() / max(scale, np.finfo(float).tiny)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {a.size} values differ, worst relative "
            f"error {worst:.3g} > rtol {rtol:g}\nactual   {a[bad][:5]}\n"
            f"expected {e[bad][:5]}"
        )


def assert_torch_parity(
    fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    *arrays: np.ndarray,
    rtol: float | None = None,
    grad_rtol: float | None = None,
    seed: int = 0,
) -> None:
    """Assert that ``fn`` matches ``torch_fn`` in output and gradient.

    Both run on tensors built from the same ``arrays`` (their dtype is kept;
    floating ones require gradients); both are differentiated with the same
    fixed random weights as the upstream gradient (the gradient of
    ``sum(weights * output)``). The output dtype and every
    gradient's dtype must match PyTorch's. ``rtol`` defaults to 1e-10 for
    float64 and 1e-5 for float32.

    >>> import numdl, torch
    >>> assert_torch_parity(numdl.ops.exp, torch.exp, np.array([0.5, -1.0]))
    """
    import torch

    floating = [np.asarray(a).dtype.kind == "f" for a in arrays]
    ours = [Tensor(np.array(a), requires_grad=f) for a, f in zip(arrays, floating)]
    theirs = [
        torch.tensor(np.array(a), requires_grad=f) for a, f in zip(arrays, floating)
    ]
    out, ref = fn(*ours), torch_fn(*theirs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
    assert len(outs) == len(refs), f"{len(outs)} outputs, PyTorch gives {len(refs)}"
    dtype = outs[0].dtype
    if rtol is None:
        rtol = 1e-10 if dtype == np.float64 else 1e-5
    for o, r in zip(outs, refs):
        expected = r.detach().numpy()
        assert o.dtype == expected.dtype, f"output dtype {o.dtype} != {expected.dtype}"
        assert_close(o.data, expected, rtol, "output")
    weights = _weights(outs, seed, dtype)
    # Upstream gradient = the weights, i.e. d/dx sum(w * out); passing it to
    # backward keeps inf / nan outputs out of a reducing sum.
    for o, r, w in zip(outs, refs, weights):
        if o.requires_grad:
            o.backward(w, retain_graph=True)
            r.backward(torch.tensor(w), retain_graph=True)
    for i, (t, tt) in enumerate(zip(ours, theirs)):
        if not floating[i]:
            continue
        expected = tt.grad.numpy() if tt.grad is not None else np.zeros(t.shape)
        got = t.grad if t.grad is not None else np.zeros(t.shape, t.dtype)
        assert got.dtype == t.dtype, f"gradient {i} dtype {got.dtype} != {t.dtype}"
        assert got.flags.writeable, f"gradient {i} is not writeable"
        assert_close(got, expected, grad_rtol or rtol, f"gradient {i}")
