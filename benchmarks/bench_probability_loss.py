"""A Keras-style classifier's step: the probability cross-entropy fused or not.

Keras's classic classifier ends in ``Dense(10, activation="softmax")`` with
``loss="sparse_categorical_crossentropy"`` (or ``"categorical_crossentropy"``
with one-hot labels) on probabilities, not logits. Each loss on
probabilities (normalise, clip, log, pick or weigh) is one op in numdl
(``SparseProbabilityCrossEntropy``, ``ProbabilityCrossEntropy``) where it
was eight or seven. This times one epoch of ``fit`` per step of the
MNIST-shaped MLP 784-256-128-10 with that head, with the fused op and with
the composite (for the sparse loss: its fused path switched off; for the
categorical one: the former formula as a loss function of ops), their
epochs alternating in one process.

Run: python -m benchmarks.bench_probability_loss [--loss sparse|categorical]
[--batch 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import numpy as np

import numdl
from benchmarks.harness import interleave, machine, per_step, set_threads, table
from numdl import layers, losses


@contextlib.contextmanager
def _composite() -> Iterator[None]:
    """The loss as eight ops on host arrays (the fused path switched off)."""
    fused = losses._fused_rows
    losses._fused_rows = lambda data, axis: (
        type(data) is not np.ndarray and fused(data, axis)
    )
    try:
        yield
    finally:
        losses._fused_rows = fused


def _categorical_composite(y_true: object, y_pred: object) -> object:
    """Categorical cross-entropy on probabilities as seven ops (the former
    ``losses.categorical_crossentropy``)."""
    eps = numdl.config.epsilon()
    total = numdl.ops.sum(y_pred, axis=-1, keepdims=True)
    q = numdl.ops.clip(y_pred / total, eps, 1.0 - eps)
    return -numdl.ops.sum(y_true * numdl.ops.log(q), axis=-1)


def epoch_fn(
    batch: int, samples: int, fused: bool, loss: str = "sparse"
) -> Callable[[], object]:
    """One epoch of the softmax-headed MLP's ``fit``."""
    numdl.utils.set_random_seed(0)
    model = numdl.Sequential(
        [
            numdl.Input((784,)),
            layers.Dense(256, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.random((samples, 784), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    if loss == "categorical":
        y = np.eye(10, dtype=np.float32)[y]
        fn = "categorical_crossentropy" if fused else _categorical_composite
        model.compile(optimizer="sgd", loss=fn)
    else:
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    switch = loss == "sparse" and not fused

    def epoch() -> object:
        with _composite() if switch else contextlib.nullcontext():
            return model.fit(x, y, batch_size=batch, epochs=1, verbose=0)

    return epoch


def report(batch: int, samples: int, repeats: int, loss: str = "sparse") -> str:
    cases = {
        "one op (fused)": epoch_fn(batch, samples, True, loss),
        "composite": epoch_fn(batch, samples, False, loss),
    }
    timings = interleave(cases, repeats=repeats, warmup=1, pause=0.1)
    per_step(timings, -(-samples // batch))  # seconds per epoch -> per step
    title = f"MLP 784-256-128-10, softmax head, {loss} CE, batch {batch}, per step"
    return table(title, timings, "composite", "us")


def main(argv: list[str] | None = None) -> None:
    """Print the table.

    >>> main(["--samples", "64", "--repeats", "1"])  # doctest: +ELLIPSIS
    Machine: ...
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loss", choices=["sparse", "categorical"], default="sparse")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    print(f"Machine: {machine()}; threads: {args.threads}\n")
    print(report(args.batch, args.samples, args.repeats, args.loss))


if __name__ == "__main__":
    main()
