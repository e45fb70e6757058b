"""The activation gallery: each function, its autograd derivative, saturation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import numdl
from numdl import activations, ops
from numdl.plot._base import (
    finish,
    host,
    panels,
    pyplot,  # noqa: F401 (the doctests close figures)
)

NOT_ELEMENTWISE = ("softmax", "log_softmax")
"""Drawn only when named, as the first output of the pair ``(x, 0)``."""

SATURATION = 1e-2
"""Shaded where ``|f'(x)| < SATURATION`` on a flat tail (a run of such
points reaching an end of the range): a gradient passing through is shrunk
more than 100 times (sigmoid beyond |x| ~ 4.6, tanh beyond |x| ~ 3.0, relu
for x < 0). An isolated flat point inside the range (the minimum of silu or
mish) is not saturation and is not shaded."""


def gallery_names() -> list[str]:
    """Every registered elementwise activation, once (aliases such as
    ``swish`` for ``silu`` are left out).

    >>> {"relu", "sigmoid", "tanh"} <= set(gallery_names())
    True
    """
    chosen: list[str] = []
    seen: set[int] = set()
    for name in activations.names():
        fn = activations.get(name)
        if name in NOT_ELEMENTWISE or id(fn) in seen:
            continue
        seen.add(id(fn))
        chosen.append(activations.serialize(fn))
    return chosen


def activation_curve(
    name: str, x_range: tuple[float, float] = (-6.0, 6.0), num: int = 400
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x``, ``f(x)`` and ``f'(x)`` (by autograd, float64) on a grid.

    >>> x, y, dy = activation_curve("relu", (-1.0, 1.0), 4)
    >>> y.tolist(), dy.tolist()
    ([0.0, 0.0, 0.33333333333333326, 1.0], [0.0, 0.0, 1.0, 1.0])
    """
    fn = activations.get(name)
    grid = np.linspace(float(x_range[0]), float(x_range[1]), int(num))
    x = numdl.tensor(grid, requires_grad=True, dtype="float64")
    if name in NOT_ELEMENTWISE:
        y = fn(ops.stack([x, x * 0.0], axis=-1))[:, 0]
    else:
        y = fn(x)
    y.sum().backward()
    return host(x), host(y), host(x.grad)


def plot_activations(
    names: list[str] | None = None,
    derivative: bool = True,
    x_range: tuple[float, float] = (-6.0, 6.0),
    path: str | Path | None = None,
    saturation: float = SATURATION,
    num: int = 400,
) -> Any:
    """A gallery of activations, one panel each: ``f`` (solid), its
    derivative by autograd (dashed), the flat tails shaded where
    ``|f'(x)| < saturation`` (see :data:`SATURATION`).

    ``names=None`` draws every registered elementwise activation
    (:func:`gallery_names`); ``softmax`` and ``log_softmax`` are drawn when
    named, as the first output for the pair of logits ``(x, 0)``.

    >>> fig = plot_activations(["sigmoid", "relu"], num=50)
    >>> [ax.get_title() for ax in fig.axes]
    ['sigmoid', 'relu']
    >>> pyplot().close(fig)
    """
    names = _check_names(names)
    lo, hi = _check_range(x_range)
    fig, axes = panels(len(names), ncols=4, size=(3.2, 2.6))
    for ax, name in zip(axes, names):
        x, y, dy = activation_curve(name, (lo, hi), num)
        _draw_panel(ax, name, x, y, dy if derivative else None)
        _shade(ax, x, np.abs(dy) < saturation)
    axes[0].legend(fontsize="small", loc="best")
    return finish(fig, path)


def _check_names(names: Any) -> list[str]:
    if names is None:
        return gallery_names()
    if isinstance(names, str):
        names = [names]
    names = list(names)
    valid = activations.names()
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise ValueError(
            f"plot_activations: unknown activation {unknown or names!r}; valid "
            f"names: {', '.join(valid)}"
        )
    return names


def _check_range(x_range: Any) -> tuple[float, float]:
    lo, hi = (float(v) for v in x_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(
            f"plot_activations: x_range must be (low, high) with low < high, "
            f"got {tuple(x_range)!r}"
        )
    return lo, hi


def _draw_panel(ax: Any, name: str, x: Any, y: Any, dy: Any) -> None:
    ax.axhline(0.0, color="0.6", linewidth=0.6)
    ax.plot(x, y, color="tab:blue", label=name)
    if dy is not None:
        ax.plot(x, dy, color="tab:orange", linestyle="--", label="derivative")
    ax.set_title(f"{name} of (x, 0)" if name in NOT_ELEMENTWISE else name)
    ax.set_xlim(x[0], x[-1])
    ax.grid(alpha=0.3)


def saturated_spans(x: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """The ``(start, end)`` of each run of ``mask`` that reaches an end of the
    grid ``x`` (the flat tails).

    A run reaches halfway to the neighbouring grid point (the boundary is
    known to half a step).

    >>> saturated_spans(np.arange(6.0), np.array([1, 1, 0, 1, 0, 1], bool))
    [(0.0, 1.5), (4.5, 5.0)]
    """
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    middles = np.concatenate([[x[0]], (x[1:] + x[:-1]) / 2, [x[-1]]])
    return [
        (float(middles[i]), float(middles[j + 1]))
        for i, j in zip(starts, ends)
        if i == 0 or j == len(x) - 1
    ]


def _shade(ax: Any, x: np.ndarray, mask: np.ndarray) -> None:
    for k, (start, end) in enumerate(saturated_spans(x, mask)):
        label = "saturated" if k == 0 else "_saturated"
        ax.axvspan(start, end, color="0.85", zorder=0, label=label)
