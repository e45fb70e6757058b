"""Activation functions one by one, with their properties computed.

For every element-wise activation numdl registers, the script evaluates the
function and its derivative (by autograd) on a grid and reports what the
numbers say: the output range, f(0) and f'(0), whether the function is
zero-centred (takes both signs, f(0) = 0), monotonic, and whether it
saturates (derivative below 1e-3) on the left or the right, the cause of
vanishing gradients. Nothing in the table is typed in. Softmax, which works
on a whole vector, gets its own lines. With ``--out DIR`` it also draws the
gallery (``numdl.plot.plot_activations``, needs matplotlib).

Run: python examples/activations_tour.py [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

import numdl
from numdl import activations

VECTOR_FUNCTIONS = ("softmax", "log_softmax")
SATURATED = 1e-3  # |f'(x)| below this: the unit passes (almost) no gradient
FAR = 10.0  # where saturation is looked for


def value_and_derivative(fn: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``f(x)`` and ``f'(x)`` element-wise, the derivative from autograd."""
    t = numdl.tensor(x, requires_grad=True, dtype="float64")
    y = fn(t)
    y.sum().backward()
    return y.data, t.grad


def describe(fn: Any) -> dict[str, Any]:
    """The properties of one element-wise activation, computed."""
    grid = np.linspace(-FAR, FAR, 2001)
    y, dy = value_and_derivative(fn, grid)
    wide, _ = value_and_derivative(fn, np.array([-1e8, 1e8]))
    at_zero, slope_at_zero = value_and_derivative(fn, np.array([0.0]))
    return {
        "low": -np.inf if wide[0] < -1e3 else float(min(wide[0], y.min())),
        "high": np.inf if wide[1] > 1e3 else float(max(wide[1], y.max())),
        "f(0)": float(at_zero[0]),
        "f'(0)": float(slope_at_zero[0]),
        "zero-centred": bool(abs(at_zero[0]) < 1e-12 and y.min() < 0 < y.max()),
        "monotonic": bool(np.all(np.diff(y) >= -1e-12)),
        "saturates left": bool(abs(dy[0]) < SATURATED),
        "saturates right": bool(abs(dy[-1]) < SATURATED),
    }


def tour() -> dict[str, dict[str, Any]]:
    """Properties of every registered element-wise activation (aliases once)."""
    table: dict[str, dict[str, Any]] = {}
    seen: set[int] = set()
    for name in activations.names():
        fn = activations.get(name)
        if name in VECTOR_FUNCTIONS or id(fn) in seen:
            continue
        seen.add(id(fn))
        table[name] = describe(fn)
    return table


def print_table(table: dict[str, dict[str, Any]]) -> None:
    print(
        f"{'activation':<14}{'range':>18}{'f(0)':>9}{'slope at 0':>11}"
        f"{'0-centred':>11}{'monotonic':>11}{'saturates':>14}"
    )
    for name, p in table.items():
        span = f"{p['low']:.3g} .. {p['high']:.3g}"
        value, slope = p["f(0)"], p["f'(0)"]
        sides = " & ".join(s for s in ("left", "right") if p[f"saturates {s}"])
        print(
            f"{name:<14}{span:>18}{value:>9.3f}{slope:>11.3f}"
            f"{_yes(p['zero-centred']):>11}{_yes(p['monotonic']):>11}"
            f"{sides or 'no':>14}"
        )


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def softmax_lines() -> np.ndarray:
    """Softmax turns a vector of scores into probabilities."""
    scores = np.array([2.0, 1.0, 0.1])
    p = activations.softmax(scores)
    shifted = activations.softmax(scores + 1000.0)
    print(
        f"\nsoftmax({scores.tolist()}) = {np.round(p, 4).tolist()}, sum {p.sum():.6f}"
    )
    print(
        f"softmax(scores + 1000) is the same ({np.allclose(p, shifted)}): only "
        f"differences between scores matter, and large scores do not overflow"
    )
    return p


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the gallery PNG")
    parser.add_argument("--smoke", action="store_true", help="(already fast)")
    args = parser.parse_args(argv)
    table = tour()
    print_table(table)
    softmax_lines()
    if args.out:
        from numdl import plot

        path = Path(args.out) / "activations.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        plot.plot_activations(path=str(path))
        print(f"gallery: {path}")
    return table


if __name__ == "__main__":
    main()
