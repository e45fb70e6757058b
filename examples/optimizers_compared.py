"""Optimizers and losses compared: GD, momentum, Nesterov, RMSprop, Adam; MSE, MAE.

Two problems, each optimizer started from the same point with numdl's
optimizers and autograd (``loss.backward()``, ``optimizer.step``):

- a linear regression (mean squared error of ``X @ w`` against noisy
  targets), whose best loss is known from least squares;
- an ill-conditioned quadratic ``0.5 * w^T H w`` (H has eigenvalues 1 and
  50, along rotated axes): plain gradient descent must take steps small
  enough for the steep direction and crawls along the flat one; momentum
  builds up speed along the flat one; RMSprop and Adam rescale each
  coordinate, so their step sizes follow the learning rate more than the
  gradient: at a constant rate they close in slowly (Adam) or hover near
  the minimum (RMSprop).

The script prints each optimizer's final excess loss (loss minus the best
possible) and, with ``--out DIR``, plots the convergence curves (log scale)
to ``DIR/optimizers.png`` (matplotlib).

Then the loss itself: a line fitted (with Adam) under mean squared error,
mean absolute error and Huber to points of which a tenth are outliers. The
squared error lets the outliers pull the line; the other two barely notice.

Run: python examples/optimizers_compared.py [--steps N] [--out DIR]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import numdl
from numdl import losses, optimizers


def linear_regression(seed: int = 0) -> tuple[Callable, np.ndarray, float]:
    """Loss of ``w`` (3 weights and a bias), start point, least-squares loss."""
    rng = np.random.default_rng(seed)
    x = np.hstack([rng.normal(size=(200, 3)), np.ones((200, 1))])
    y = x @ np.array([2.0, -1.0, 0.5, 3.0]) + rng.normal(scale=0.1, size=200)
    best = np.linalg.lstsq(x, y, rcond=None)[0]
    data, target = numdl.tensor(x, dtype="float64"), numdl.tensor(y, dtype="float64")

    def loss(w: Any) -> Any:
        residual = data @ w - target
        return (residual * residual).mean()

    minimum = float(np.mean((x @ best - y) ** 2))
    return loss, np.zeros(4), minimum


def ill_conditioned_quadratic(condition: float = 50.0) -> tuple[Callable, Any, float]:
    """``0.5 * w^T H w`` with eigenvalues 1 and ``condition`` (axes at 30 deg)."""
    angle = np.pi / 6
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    )
    h = numdl.tensor(rotation @ np.diag([1.0, condition]) @ rotation.T, dtype="float64")

    def loss(w: Any) -> Any:
        return 0.5 * (w * (h @ w)).sum()

    return loss, np.array([2.0, 2.0]), 0.0


def make_optimizers(lr: float, adaptive_lr: float) -> dict[str, Any]:
    """One of each, Keras's defaults apart from the learning rates."""
    return {
        "gradient descent": optimizers.SGD(lr),
        "momentum": optimizers.SGD(lr, momentum=0.9),
        "nesterov": optimizers.SGD(lr, momentum=0.9, nesterov=True),
        "rmsprop": optimizers.RMSprop(adaptive_lr),
        "adam": optimizers.Adam(adaptive_lr),
    }


def descend(loss: Callable, start: np.ndarray, optimizer: Any, steps: int) -> list:
    """Excess losses along ``steps`` optimizer steps from ``start``."""
    w = numdl.tensor(start, requires_grad=True, dtype="float64")
    history = []
    for _ in range(steps):
        value = loss(w)
        history.append(float(value.data))
        w.grad = None
        value.backward()
        optimizer.step([w])
    history.append(float(loss(w).data))
    return history


def compare(steps: int) -> dict[str, dict[str, list[float]]]:
    """Every optimizer on both problems: excess-loss curves."""
    problems = {
        "linear regression": (linear_regression(), make_optimizers(0.1, 0.1)),
        "ill-conditioned quadratic (condition 50)": (
            ill_conditioned_quadratic(),
            make_optimizers(0.02, 0.05),
        ),
    }
    curves: dict[str, dict[str, list[float]]] = {}
    for title, ((loss, start, minimum), opts) in problems.items():
        curves[title] = {
            name: [v - minimum for v in descend(loss, start, opt, steps)]
            for name, opt in opts.items()
        }
    return curves


def report(curves: dict[str, dict[str, list[float]]]) -> None:
    for title, runs in curves.items():
        steps = len(next(iter(runs.values()))) - 1
        print(f"\n{title}: loss above the minimum after {steps} steps")
        for name, values in sorted(runs.items(), key=lambda item: item[1][-1]):
            print(f"  {name:<18} {values[-1]:.3e}   (start {values[0]:.3g})")


def plot(curves: dict[str, dict[str, list[float]]], path: Path) -> Any:
    """Convergence curves, one panel per problem, log scale; saved to ``path``."""
    from numdl import plot as numdl_plot

    plt = numdl_plot.pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(11, 4))
    for ax, (title, runs) in zip(axes, curves.items()):
        for name, values in runs.items():
            ax.semilogy(np.maximum(values, 1e-16), label=name)
        ax.set(title=title, xlabel="step", ylabel="loss - minimum")
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return fig


def robust_fits(steps: int = 300) -> dict[str, tuple[float, float]]:
    """Slope and intercept fitted under three losses; the true line is 2x + 1."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, 100)
    y = 2.0 * x + 1.0 + rng.normal(scale=0.05, size=100)
    y[:10] += 8.0  # outliers
    fits = {}
    for name, loss in {
        "mean squared error": losses.mean_squared_error,
        "mean absolute error": losses.mean_absolute_error,
        "huber": losses.huber,
    }.items():
        w = numdl.tensor([0.0, 0.0], requires_grad=True, dtype="float64")
        optimizer = optimizers.Adam(0.05)
        for _ in range(steps):
            value = loss(y, w[0] * x + w[1])
            w.grad = None
            value.backward()
            optimizer.step([w])
        fits[name] = (float(w.data[0]), float(w.data[1]))
    print("\nline fitted to data with 10% outliers (true: slope 2, intercept 1)")
    for name, (slope, intercept) in fits.items():
        print(f"  {name:<20} slope {slope:6.3f}   intercept {intercept:6.3f}")
    return fits


def main(argv: list[str] | None = None) -> dict[str, dict[str, list[float]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="40 steps")
    parser.add_argument("--out", default=None, help="folder for optimizers.png")
    args = parser.parse_args(argv)
    curves = compare(40 if args.smoke else args.steps)
    report(curves)
    if args.out:
        path = Path(args.out) / "optimizers.png"
        plot(curves, path)
        print(f"\nconvergence plot: {path}")
    robust_fits(60 if args.smoke else 300)
    return curves


if __name__ == "__main__":
    main()
