"""Case 4: inference latency of the MLP, numdl vs PyTorch ``model(x)``.

The MLP of case 1 (784-256-128-10, float32, the same weights in both) on one
sample and on 1,024 samples:

- numdl ``model.predict(x, verbose=0)`` (Keras's default ``batch_size`` of
  32: 1,024 samples are 32 batches), ``predict(x, batch_size=1024)``,
  ``model(x)`` (eager call, records the graph as weights need gradients) and
  ``model(x)`` under ``numdl.no_grad()``;
- PyTorch ``net(x)`` under ``torch.no_grad()`` (the context manager is part of
  the timed call, as a user writes it), the network in ``eval()`` mode.

Calls are timed in blocks of many back-to-back calls (one call is too short
to time alone), blocks alternating between implementations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import numdl
from benchmarks.bench_engine import SIZES, torch_model
from benchmarks.harness import Target, interleave, rate_table, targets_table
from benchmarks.numpy_mlp import NumpyMLP
from benchmarks.suite_mlp import data, numdl_mlp

PREDICT, TORCH = "numdl predict", "pytorch model(x), no_grad"


@dataclass(frozen=True)
class Sizes:
    """How much case 4 runs: calls per block for 1 and for 1,024 samples."""

    inner_one: int = 200
    inner_many: int = 5
    repeats: int = 15
    warmup: int = 2
    pause: float = 0.1


MODES = {
    "full": Sizes(),
    "quick": Sizes(inner_one=100, inner_many=3, repeats=7, pause=0.05),
    "smoke": Sizes(inner_one=2, inner_many=1, repeats=1, warmup=1, pause=0.0),
}


def call_fns(model: numdl.Sequential, net, x: np.ndarray) -> dict[str, Callable]:
    """Each way of running the MLP on ``x``.

    >>> mlp = NumpyMLP(SIZES, np.random.default_rng(0))
    >>> fns = call_fns(numdl_mlp(mlp, "sgd"), torch_model(mlp), data(1)[0])
    >>> len(fns), TORCH in fns
    (4, True)
    """
    import torch

    tx = torch.from_numpy(x)

    def no_grad_call():
        with numdl.no_grad():
            return model(x)

    def torch_call():
        with torch.no_grad():
            return net(tx)

    fns = {PREDICT: lambda: model.predict(x, verbose=0)}
    if len(x) > 32:
        big = len(x)
        fns[f"numdl predict(batch_size={big})"] = lambda: model.predict(
            x, batch_size=big, verbose=0
        )
    fns["numdl model(x)"] = lambda: model(x)
    fns["numdl model(x), no_grad"] = no_grad_call
    fns[TORCH] = torch_call
    return fns


def check_same(fns: dict[str, Callable]) -> None:
    """Every way must give PyTorch's logits.

    >>> mlp = NumpyMLP(SIZES, np.random.default_rng(0))
    >>> check_same(call_fns(numdl_mlp(mlp, "sgd"), torch_model(mlp), data(40)[0]))
    """
    expected = fns[TORCH]().numpy()
    for name, fn in fns.items():
        out = fn()
        got = out if isinstance(out, np.ndarray) else np.asarray(out.numpy())
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=name)


def run(sizes: Sizes, emit: Callable[[str], None]) -> list[Target]:
    """Time each way on 1 and on 1,024 samples; emit a table for each.

    >>> [t.unit for t in run(MODES["smoke"], lambda text: None)]
    [' us', 'x']
    """
    mlp = NumpyMLP(SIZES, np.random.default_rng(0))
    model = numdl_mlp(mlp, "adam")
    net = torch_model(mlp).eval()
    found = []
    for n, inner in ((1, sizes.inner_one), (1024, sizes.inner_many)):
        x, _ = data(n)
        fns = call_fns(model, net, x)
        check_same(fns)
        timings = interleave(
            fns, sizes.repeats, sizes.warmup, inner=inner, pause=sizes.pause
        )
        title = f"Case 4: MLP inference latency, {n} sample{'s' * (n > 1)}"
        unit = "us" if n == 1 else "ms"
        table = rate_table(title, timings, [TORCH], 1, n, unit=unit, per="call")
        if n == 1:
            predict = timings[PREDICT].median
            targets = [
                Target("MLP predict, 1 sample (us)", predict * 1e6, 100, unit=" us"),
                Target(
                    "MLP predict, 1 sample, numdl / pytorch",
                    predict / timings[TORCH].median,
                    0.5,
                ),
            ]
            table += "\n\n" + targets_table(targets)
            found += targets
        emit(table)
    return found
