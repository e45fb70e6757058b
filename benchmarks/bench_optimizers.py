"""One optimizer step on small parameters: numdl grouped, one by one, PyTorch.

An optimizer's step makes a dozen NumPy calls per parameter; on biases and
small kernels the calls are the whole cost. numdl's built-in optimizers
update their small parameters together over flat arrays
(``numdl/optimizers/small.py``). For three sets of parameters (the suite's
2-3-1 tiny net, the MNIST MLP's biases, the MNIST convnet's small
parameters), this times one ``apply_gradients`` step of each optimizer with
the small parameters together and one by one (the same optimizer with
``_small_together`` off), and ``torch.optim``'s step with ``foreach`` on and
off for Adam, all interleaved in one process, float32, one thread.

Run: python -m benchmarks.bench_optimizers [--repeats 15] [--inner 500]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

import numdl
from benchmarks.harness import interleave, machine, set_threads, table
from numdl import optimizers

SETS = {
    "tiny 2-3-1 net (4 parameters, 13 numbers)": [(2, 3), (3,), (3, 1), (1,)],
    "MLP 784-256-128-10 biases (3, 394)": [(256,), (128,), (10,)],
    "convnet's small parameters (5, 16394)": [
        (3, 3, 1, 32),
        (32,),
        (64,),
        (1600, 10),
        (10,),
    ],  # fmt: skip
}

OPTIMIZERS: dict[str, Callable[[], optimizers.Optimizer]] = {
    "Adam": lambda: optimizers.Adam(1e-3),
    "Nadam": lambda: optimizers.Nadam(1e-3),
    "RMSprop": lambda: optimizers.RMSprop(1e-3),
    "Adadelta": lambda: optimizers.Adadelta(1.0),
    "Lion": lambda: optimizers.Lion(1e-4),
}


def numdl_step(make: Callable, shapes: list, together: bool) -> Callable[[], object]:
    """One ``apply_gradients`` step on fresh float32 parameters."""
    rng = np.random.default_rng(0)
    params = [numdl.Tensor(rng.random(s, dtype=np.float32), requires_grad=True)
              for s in shapes]  # fmt: skip
    grads = [rng.random(s, dtype=np.float32) for s in shapes]
    opt = make()
    opt._small_together = together
    return lambda: opt.apply_gradients(zip(grads, params))


def torch_step(shapes: list, foreach: bool) -> Callable[[], object]:
    """``torch.optim.Adam.step`` on the same shapes (gradients kept)."""
    import torch

    params = [torch.zeros(s, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = torch.rand(p.shape)
    opt = torch.optim.Adam(params, lr=1e-3, foreach=foreach)
    return opt.step


def report(repeats: int, inner: int) -> str:
    tables = []
    for title, shapes in SETS.items():
        for name, make in OPTIMIZERS.items():
            cases = {
                f"numdl {name}, small ones together": numdl_step(make, shapes, True),
                f"numdl {name}, one by one": numdl_step(make, shapes, False),
            }
            if name == "Adam":
                cases["torch Adam, foreach"] = torch_step(shapes, True)
                cases["torch Adam, per tensor"] = torch_step(shapes, False)
            timings = interleave(cases, repeats=repeats, warmup=2, inner=inner)
            reference = f"numdl {name}, one by one"
            tables.append(table(f"{name}, {title}", timings, reference, "us"))
    return "\n\n".join(tables)


def main(argv: list[str] | None = None) -> None:
    """Print the tables.

    >>> main(["--repeats", "1", "--inner", "1"])  # doctest: +ELLIPSIS
    Machine: ...
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--inner", type=int, default=500)
    args = parser.parse_args(argv)
    set_threads(1)
    print(f"Machine: {machine()}; threads: 1\n")
    print(report(args.repeats, args.inner))


if __name__ == "__main__":
    main()
