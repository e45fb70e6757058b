"""Gradient checking for people who write their own ops.

``check_grad(fn, *inputs)`` compares the gradient autograd computes for
``fn(*inputs)`` with central finite differences in float64, and returns the
worst relative error per input. A correct op gives errors near 1e-8 or below.

``assert_torch_parity(fn, torch_fn, *arrays)`` runs an op and its PyTorch
reference on the same arrays and asserts that outputs and gradients agree
(PyTorch is a test dependency, imported only when this is called).

``check_model_gradients(model, x, y)`` does the finite-difference check for a
whole model, weight by weight, in float64, and names the worst layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from numdl import backend
from numdl.autograd.tensor import Tensor
from numdl.backend import to_numpy


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
    if isinstance(out, Tensor):  # the weights go where the output lives
        return (
            out * Tensor(backend.to_device(weights, backend.device_of(out.data)))
        ).sum()
    return float((np.asarray(to_numpy(out), dtype=np.float64) * weights).sum())


def _weights(out: Any, seed: int, dtype: Any = np.float64) -> Any:
    """Fixed random weights in [0.5, 1.5) shaped like ``out`` (or each output)."""
    rng = np.random.default_rng(seed)
    if isinstance(out, (list, tuple)):
        return [rng.uniform(0.5, 1.5, np.shape(o.data)).astype(dtype) for o in out]
    return rng.uniform(0.5, 1.5, np.shape(out.data)).astype(dtype)


def _on_host(x: Any) -> Any:
    """A Tensor's data or a device array as a NumPy array; others unchanged."""
    x = x.data if isinstance(x, Tensor) else x
    return to_numpy(x) if backend.device_of(x) == "gpu" else x


def _outputs_data(out: Any) -> Any:
    if isinstance(out, (list, tuple)):
        return [to_numpy(o.data) for o in out]
    return to_numpy(out.data)


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
    arrays = [np.array(_on_host(x), dtype=np.float64) for x in inputs]
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
        analytic = np.zeros_like(a) if analytic is None else to_numpy(analytic)
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
    match exactly; shapes must be equal. Tensors and device arrays are read
    on the host.

    >>> assert_close(np.array([1.0, np.inf]), np.array([1.0 + 1e-12, np.inf]), 1e-10)
    """
    actual = np.asarray(_on_host(actual), dtype=np.float64)
    expected = np.asarray(_on_host(expected), dtype=np.float64)
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


# ------------------------------------------------------------ whole models
@dataclass
class GradientReport:
    """What :func:`check_model_gradients` found: relative errors per weight
    (``"layer/kernel"``) and per layer (the worst of its weights).

    >>> report = GradientReport({"d/kernel": 2e-9}, {"d": 2e-9}, 1e-6)
    >>> report.worst_layer, report.ok
    ('d', True)
    """

    weights: dict[str, float]
    layers: dict[str, float]
    tolerance: float
    worst_layer: str = field(init=False)
    worst_error: float = field(init=False)

    def __post_init__(self) -> None:
        self.worst_layer = max(self.layers, key=self.layers.__getitem__, default="")
        self.worst_error = self.layers.get(self.worst_layer, 0.0)

    @property
    def ok(self) -> bool:
        """Every weight's error is within ``tolerance``."""
        return self.worst_error <= self.tolerance

    def __str__(self) -> str:
        lines = [f"{'weight':<40} relative error"]
        lines += [f"{name:<40} {err:.3g}" for name, err in self.weights.items()]
        verdict = "ok" if self.ok else "FAILED"
        lines.append(
            f"worst layer: {self.worst_layer!r} ({self.worst_error:.3g}; "
            f"tolerance {self.tolerance:g}: {verdict})"
        )
        return "\n".join(lines)


def check_model_gradients(
    model: Any,
    x: Any,
    y: Any,
    loss: Any = None,
    *,
    training: bool = False,
    eps: float = 1e-6,
    max_entries: int | None = None,
    tolerance: float = 1e-6,
    seed: int = 0,
) -> GradientReport:
    """Finite-difference check of every trainable weight of ``model``.

    The model runs in float64 for the check (its layers, inputs and weights
    are cast, then restored: the model is unchanged afterwards). The loss is
    ``loss`` (a name, function or Loss; default the compiled loss) of
    ``model(x, training=training)`` against ``y``, averaged, plus the
    model's own losses (regularizers). Each weight's error is
    ``max|numeric - autograd| / max(max|numeric|, max|autograd|, 1e-6)``
    (gradients below 1e-6 are compared absolutely: central differences are
    only accurate to ~1e-10 there). ``max_entries`` checks that many random
    entries per weight instead of all (two forward passes each). Every pass
    draws the same random numbers (numdl's generator, the layers' own seeded
    ones and, on a GPU, the device generators are rewound before each), so
    ``training=True`` works with Dropout and noise layers too. Works on the
    model's device; the comparison is made on the host.

    >>> import numdl
    >>> model = numdl.Sequential([numdl.Input(shape=(3,)),
    ...                           numdl.layers.Dense(2, activation="tanh")])
    >>> report = check_model_gradients(model, np.ones((4, 3)), np.zeros((4, 2)), "mse")
    >>> report.ok, report.worst_error < 1e-7
    (True, True)
    """
    from numdl.autograd.grad_mode import no_grad

    loss_fn = _model_loss(model, loss)
    if not model.built:
        with no_grad():
            model(x)
    rng = np.random.default_rng(seed)
    owners = _weight_owners(model)
    with float64_model(model), _same_random_draws(model) as rewind:
        x64, y64 = _as_float64(x), _as_float64(y)

        def objective() -> Any:
            rewind()
            return _objective(model, loss_fn, x64, y64, training)

        weights = list(model.trainable_weights)
        analytic = _autograd_gradients(objective, weights)
        errors = {
            owners[id(w)]: _weight_error(objective, w, g, rng, eps, max_entries)
            for w, g in zip(weights, analytic)
        }
    per_layer: dict[str, float] = {}
    for name, err in errors.items():
        layer = name.rsplit("/", 1)[0]
        per_layer[layer] = max(per_layer.get(layer, 0.0), err)
    return GradientReport(errors, per_layer, tolerance)


def _model_loss(model: Any, loss: Any) -> Any:
    from numdl import losses

    loss = loss if loss is not None else getattr(model, "loss", None)
    if loss is None:
        raise ValueError(
            "check_model_gradients: no loss to differentiate; pass loss= (e.g. "
            "'mse') or compile the model with a loss first"
        )
    if isinstance(loss, (list, tuple, dict)):
        raise ValueError(
            f"check_model_gradients: expected one loss (a name, function or Loss), "
            f"got {type(loss).__name__}; pass loss= for a single output"
        )
    return losses.get(loss)


def _weight_owners(model: Any) -> dict[int, str]:
    """``id(weight) -> "layer/weight"`` for every trainable weight."""
    from numdl.diagnostics import sublayers

    names: dict[int, str] = {}
    for layer in reversed([model, *sublayers(model)]):  # innermost owner wins
        for i, w in enumerate(layer._own_weights):
            if id(w) not in names:
                taken = f"{layer.name}/{w.name}" in names.values()
                suffix = f"_{i}" if taken or not w.name else ""
                names[id(w)] = f"{layer.name}/{w.name or 'weight'}{suffix}"
    return names


def _as_float64(data: Any) -> Any:
    """Float arrays (in lists/dicts too) as float64 on their device; others as
    arrays."""
    from numdl import tree

    def convert(item: Any) -> Any:
        arr = item.data if isinstance(item, Tensor) else item
        if backend.device_of(arr) == "cpu":
            arr = np.asarray(arr)
        return arr.astype(np.float64) if arr.dtype.kind == "f" else arr

    return tree.map_structure(convert, data)


def _objective(model: Any, loss_fn: Any, x: Any, y: Any, training: bool) -> Any:
    from numdl import ops

    value = loss_fn(y, model(x, training=training))
    value = value if value.ndim == 0 else ops.mean(value)
    for extra in model.losses:
        value = value + extra
    return value


def _autograd_gradients(objective: Callable[[], Any], weights: list[Any]) -> list:
    """One backward pass; each weight's gradient, flat (zeros where None)."""
    for w in weights:
        w.grad = None
    objective().backward()
    grads = [  # on the host: the comparison is bookkeeping
        np.zeros(w.data.size) if w.grad is None else to_numpy(w.grad).reshape(-1)
        for w in weights
    ]
    for w in weights:
        w.grad = None
    return grads


def _weight_error(
    objective: Callable[[], Any],
    weight: Any,
    analytic: np.ndarray,
    rng: np.random.Generator,
    eps: float,
    max_entries: int | None,
) -> float:
    """Relative error of autograd's gradient for one weight (sampled entries)."""
    from numdl.autograd.grad_mode import no_grad

    flat = weight.data.reshape(-1)
    entries = np.arange(flat.size)
    if max_entries is not None and max_entries < flat.size:
        entries = rng.choice(flat.size, max_entries, replace=False)
    numeric = np.empty(entries.size)
    with no_grad():
        for k, j in enumerate(entries):
            old = float(flat[j])  # a value: CuPy's flat[j] is a view
            flat[j] = old + eps
            plus = float(objective().data)
            flat[j] = old - eps
            minus = float(objective().data)
            flat[j] = old
            numeric[k] = (plus - minus) / (2 * eps)
    picked = analytic[entries]
    scale = max(np.abs(numeric).max(initial=0), np.abs(picked).max(initial=0), 1e-6)
    return float(np.abs(numeric - picked).max(initial=0) / scale)


@contextmanager
def _same_random_draws(model: Any) -> Iterator[Callable[[], None]]:
    """Yield ``rewind()``, which puts the generators a forward pass draws from
    back where they were: numdl's (``config.rng()``), the layers' own seeded
    ones, and the device generators ``config.rng_for`` makes for CuPy. CuPy's
    generators have no state to set, so rewind drops them and ``rng_for``
    makes them again from the same seed (``set_random_seed``'s, or a draw
    from the rewound host generator). Everything is restored on exit."""
    from numdl import config
    from numdl.diagnostics import sublayers

    hosts = [config.rng()] + [
        layer._rng
        for layer in sublayers(model)
        if isinstance(getattr(layer, "_rng", None), np.random.Generator)
    ]
    states = [(g, g.bit_generator.state) for g in hosts]
    device = config._device_rng, dict(config._device_own)

    def rewind() -> None:
        for generator, state in states:
            generator.bit_generator.state = state
        config._device_rng = None
        config._device_own.clear()

    try:
        yield rewind
    finally:
        rewind()
        config._device_rng = device[0]
        config._device_own.update(device[1])


@contextmanager
def float64_model(model: Any) -> Iterator[Any]:
    """Run ``model`` in float64 inside the block: floatx, every layer's dtype,
    its Input dtypes and its float weights (as copies); all restored after.

    >>> import numdl
    >>> model = numdl.Sequential([numdl.Input(shape=(2,)), numdl.layers.Dense(1)])
    >>> with float64_model(model):
    ...     str(model.predict(np.ones((1, 2)), verbose=0).dtype)
    'float64'
    >>> model.weights[0].dtype
    dtype('float32')
    """
    from numdl import config
    from numdl.diagnostics import sublayers

    layers = [model, *sublayers(model)]
    inputs = [layer.output for layer in layers if type(layer).__name__ == "InputLayer"]
    saved = (
        config.floatx(),
        [(item, item.dtype) for item in [*layers, *inputs]],
        [(w, w.data) for w in model.weights],
    )
    try:
        config.set_floatx("float64")
        for item, dtype in saved[1]:
            if np.dtype(dtype).kind == "f":
                item.dtype = "float64"
        for w, data in saved[2]:
            if data.dtype.kind == "f":
                w.data = data.astype(np.float64)
        yield model
    finally:
        config.set_floatx(saved[0])
        for item, dtype in saved[1]:
            item.dtype = dtype
        for w, data in saved[2]:
            w.data = data
