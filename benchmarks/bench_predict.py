"""``predict`` on arrays against the Tensor path, NumPy and PyTorch.

``predict`` runs one host array through a chain of layers that each work on
plain arrays (Dense with numdl's activations, Activation, Dropout, Flatten,
Identity) without Tensors, the graph or the per-layer call bookkeeping
(``Functional._predict_arrays``). This times, on the suite's MLP
784-256-128-10 (``benchmarks/suite_latency.py``), calls of:

- ``model.predict(x, verbose=0)`` (the array path),
- the same with the array path switched off (every layer called on Tensors,
  as before),
- the three products, bias additions and ReLUs written by hand in NumPy
  (no checks at all: the floor), and the same after the input checks that
  ``predict`` makes, written inline (the floor for a checked ``predict``),
- PyTorch's ``net(x)`` under ``torch.no_grad()``,

in blocks of back-to-back calls, the blocks alternating in one process;
``--samples 1024`` predicts 1,024 samples in Keras's default batches of 32.

Run: python -m benchmarks.bench_predict [--samples 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import numpy as np

import numdl
from benchmarks.bench_engine import SIZES, torch_model
from benchmarks.harness import interleave, machine, set_threads, table
from benchmarks.numpy_mlp import NumpyMLP
from benchmarks.suite_mlp import data, numdl_mlp

TORCH = "pytorch model(x), no_grad"


@contextlib.contextmanager
def _on_tensors(model: numdl.Sequential) -> Iterator[None]:
    """``model``'s predict with the array path switched off."""
    model.__dict__["_predict_arrays"] = lambda x: None
    try:
        yield
    finally:
        del model.__dict__["_predict_arrays"]


def _by_hand(mlp: NumpyMLP, x: np.ndarray) -> Callable[[], np.ndarray]:
    """The forward pass in NumPy, nothing else (the floor)."""
    pairs = list(zip(mlp.params[::2], mlp.params[1::2]))

    def forward() -> np.ndarray:
        h = x
        for i, (w, b) in enumerate(pairs):
            h = h @ w
            h += b
            if i < len(pairs) - 1:
                np.maximum(h, 0, out=h)
        return h

    return forward


def _by_hand_checked(mlp: NumpyMLP, x: np.ndarray) -> Callable[[], np.ndarray]:
    """The floor with the input checks ``predict`` makes (an array of the
    model's dtype, a batch of the input's width, finite values), inline."""
    forward, width = _by_hand(mlp, x), mlp.params[0].shape[0]

    def checked() -> np.ndarray:
        if type(x) is not np.ndarray or x.dtype != np.float32:
            raise TypeError(f"expected a float32 array, got {x.dtype}")
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"expected data of shape (None, {width}), got {x.shape}")
        if np.count_nonzero(np.isfinite(x)) != x.size:
            raise ValueError("x contains NaN or inf")
        return forward()

    return checked


def cases(samples: int) -> dict[str, Callable[[], object]]:
    """Each way of predicting ``samples`` MNIST-shaped samples, checked to
    give PyTorch's logits.

    >>> list(cases(2))[:2]
    ['numdl predict (arrays)', 'numdl predict (Tensors)']
    """
    import torch

    mlp = NumpyMLP(SIZES, np.random.default_rng(0))
    model, net = numdl_mlp(mlp, "adam"), torch_model(mlp).eval()
    x = data(samples)[0]
    tx = torch.from_numpy(x)

    def on_tensors() -> np.ndarray:
        with _on_tensors(model):
            return model.predict(x, verbose=0)

    def torch_call() -> np.ndarray:
        with torch.no_grad():
            return net(tx).numpy()

    fns = {
        "numdl predict (arrays)": lambda: model.predict(x, verbose=0),
        "numdl predict (Tensors)": on_tensors,
        "numpy by hand": _by_hand(mlp, x),
        "numpy by hand, with predict's checks": _by_hand_checked(mlp, x),
        TORCH: torch_call,
    }
    expected = torch_call()
    for name, fn in fns.items():
        np.testing.assert_allclose(fn(), expected, rtol=1e-4, atol=1e-5, err_msg=name)
    return fns


def main(argv: list[str] | None = None) -> None:
    """Print the table.

    >>> main(["--repeats", "1", "--inner", "1"])  # doctest: +ELLIPSIS
    Machine: ...
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--inner", type=int, default=200, help="calls per block")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    print(f"Machine: {machine()}; threads: {args.threads}\n")
    timings = interleave(
        cases(args.samples), args.repeats, warmup=2, inner=args.inner, pause=0.05
    )
    unit = "us" if args.samples < 64 else "ms"
    title = f"MLP 784-256-128-10 predict, {args.samples} sample(s), per call"
    print(table(title, timings, TORCH, unit))


if __name__ == "__main__":
    main()
