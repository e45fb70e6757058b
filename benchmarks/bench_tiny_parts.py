"""The suite's tiny 2-3-1 net with and without two of its step's savings.

The tiny net (Dense 3 sigmoid, Dense 1, binary cross-entropy from logits,
Adam, batch 32; ``benchmarks/suite_tiny.py``) is all framework cost, and two
changes cut it: the sigmoid fused into the dense op (one graph node, not
two; ``numdl/ops/nn.py``) and Adam's update of the small parameters
together (``numdl/optimizers/small.py``). This times one epoch of ``fit``
per step with each switched on or off (``layer._fused`` and the optimizer's
``_small_together``), the four variants' epochs alternating in one process.

Run: python -m benchmarks.bench_tiny_parts [--samples 40000] [--repeats 12]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from benchmarks import suite_tiny
from benchmarks.harness import interleave, machine, per_step, set_threads, table


def variant(fused: bool, together: bool, samples: int) -> Callable[[], object]:
    """One epoch of the tiny net's ``fit``, with or without each saving."""
    x, y = suite_tiny.data(samples)
    model = suite_tiny.numdl_net()
    model.layers[0]._fused = "sigmoid" if fused else None
    model.fit(x[:64], y[:64], batch_size=suite_tiny.BATCH, verbose=0)
    model.optimizer._small_together = together

    def epoch() -> object:
        return model.fit(x, y, batch_size=suite_tiny.BATCH, epochs=1, verbose=0)

    return epoch


def report(samples: int, repeats: int) -> str:
    cases = {
        "sigmoid fused, update together (now)": variant(True, True, samples),
        "sigmoid fused, update one by one": variant(True, False, samples),
        "two ops, update together": variant(False, True, samples),
        "two ops, update one by one (before)": variant(False, False, samples),
    }
    timings = interleave(cases, repeats=repeats, warmup=1, pause=0.1)
    per_step(timings, -(-samples // suite_tiny.BATCH))  # seconds per epoch -> per step
    title = f"tiny 2-3-1 net, fit, time per step ({samples} samples an epoch)"
    return table(title, timings, "two ops, update one by one (before)", "us")


def main(argv: list[str] | None = None) -> None:
    """Print the table.

    >>> main(["--samples", "64", "--repeats", "1"])  # doctest: +ELLIPSIS
    Machine: ...
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=12)
    args = parser.parse_args(argv)
    set_threads(1)
    print(f"Machine: {machine()}; threads: 1\n")
    print(report(args.samples, args.repeats))


if __name__ == "__main__":
    main()
