"""Vectorisation: a Python loop vs np.dot vs numdl on the same products.

Deep learning is mostly dot products. Written as a Python loop, each
multiply-add goes through the interpreter; ``np.dot`` hands the whole
product to compiled code (BLAS, SIMD, several cores). numdl runs on top of
NumPy, so a numdl matmul costs NumPy's time plus a small fixed overhead per
op (recording the graph for backward). The script times the three on a dot
product of two vectors and on a matrix product, checks they agree, and prints
the speedups. With ``--out DIR`` it also draws the times as bars (log
scale) to ``DIR/vectorisation.png`` (matplotlib).

Run: python examples/vectorisation.py [--out DIR]   (--smoke: tiny sizes)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import numdl


def loop_dot(a: list[float], b: list[float]) -> float:
    """The textbook loop: one multiply-add per element, in Python."""
    total = 0.0
    for i in range(len(a)):
        total += a[i] * b[i]
    return total


def loop_matmul(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """Row times column, element by element, in Python."""
    columns = list(zip(*b))
    return [[loop_dot(row, col) for col in columns] for row in a]


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The fastest of ``repeats`` runs (the least disturbed), and the result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare(title: str, a: np.ndarray, b: np.ndarray, repeats: int) -> dict:
    """Time the loop, NumPy and numdl on ``a @ b``; check they agree."""
    ta, tb = numdl.tensor(a, dtype="float64"), numdl.tensor(b, dtype="float64")
    la, lb = a.tolist(), b.tolist()  # Python floats: what the loop works on
    loop = loop_dot if a.ndim == 1 else loop_matmul
    candidates = {
        "python loop": (lambda: loop(la, lb), 1),
        "np.dot": (lambda: np.dot(a, b), repeats),
        "numdl": (lambda: (ta @ tb).data, repeats),
    }
    times, results = {}, {}
    for name, (fn, n) in candidates.items():
        times[name], results[name] = best_time(fn, n)
    reference = np.asarray(results["np.dot"])
    for name, value in results.items():
        np.testing.assert_allclose(value, reference, rtol=1e-9, err_msg=name)
    print(f"\n{title}")
    for name, seconds in times.items():
        speedup = times["python loop"] / seconds
        print(f"  {name:<12} {seconds * 1e3:10.3f} ms   {speedup:10.0f}x the loop")
    return times


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--out", default=None, help="folder for vectorisation.png")
    args = parser.parse_args(argv)
    n, m, repeats = (2_000, 12, 3) if args.smoke else (1_000_000, 120, 20)
    rng = np.random.default_rng(0)
    results = {
        "dot": compare(
            f"dot product of two vectors of {n:,} (float64)",
            rng.normal(size=n),
            rng.normal(size=n),
            repeats,
        ),
        "matmul": compare(
            f"matrix product ({m} x {m}) @ ({m} x {m}) (float64)",
            rng.normal(size=(m, m)),
            rng.normal(size=(m, m)),
            repeats,
        ),
    }
    print(
        "\nThe loop pays the interpreter for every multiply-add; np.dot and numdl "
        "pay it once per product."
    )
    if args.out:
        plot_times(results, Path(args.out) / "vectorisation.png")
    return results


def plot_times(results: dict[str, dict[str, float]], path: Path) -> None:
    """Bars of the times (log scale), one group per product."""
    from numdl import plot

    plt = plot.pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(9, 3.5))
    for ax, (title, times) in zip(axes, results.items()):
        ax.bar(list(times), [t * 1e3 for t in times.values()], color="C0")
        ax.set(title=title, ylabel="milliseconds", yscale="log")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
