"""What every plot shares: matplotlib on demand, panel grids, saving PNGs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from numdl.autograd.tensor import Tensor
from numdl.backend import to_numpy

INSTALL_HINT = 'pip install "numdl[plot]"'


def pyplot() -> Any:
    """Return ``matplotlib.pyplot``, imported on first use.

    Raises an ImportError naming the ``plot`` extra when matplotlib is missing.

    >>> pyplot().__name__
    'matplotlib.pyplot'
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"numdl.plot needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc
    return plt


def panels(n: int, ncols: int, size: tuple[float, float]) -> tuple[Any, list[Any]]:
    """A figure with ``n`` panels on a grid ``ncols`` wide, each ``size`` inches.

    >>> fig, axes = panels(3, 2, (3.0, 2.0))
    >>> len(axes), fig.get_size_inches().tolist()
    (3, [6.0, 4.0])
    >>> pyplot().close(fig)
    """
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, grid = pyplot().subplots(
        nrows,
        ncols,
        figsize=(size[0] * ncols, size[1] * nrows),
        squeeze=False,
        layout="constrained",
    )
    axes = list(grid.ravel())
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[:n]


def finish(fig: Any, path: str | Path | None) -> Any:
    """Save ``fig`` to ``path`` (PNG unless the suffix names another format).

    The file is ``figsize * dpi`` pixels: the figure is saved as laid out,
    without cropping. Returns the figure.

    >>> fig = finish(pyplot().figure(figsize=(2, 1)), None)
    >>> pyplot().close(fig)
    """
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=fig.dpi, format=path.suffix[1:] or "png")
    return fig


def host(x: Any, dtype: Any = None) -> np.ndarray:
    """Tensor, array (NumPy or CuPy) or list as a NumPy array for plotting.

    >>> host([1, 2]).tolist()
    [1, 2]
    """
    # Only a Tensor's .data is its array (a CuPy array's .data is a pointer).
    return np.asarray(to_numpy(x.data if isinstance(x, Tensor) else x), dtype=dtype)


def class_ids(owner: str, what: str, y: Any) -> np.ndarray:
    """Integer classes from labels, one-hot rows or probabilities.

    Rows of several columns give their argmax; one column of scores gives
    ``score >= 0.5``.

    >>> class_ids("f", "y", [[0.1, 0.9], [0.8, 0.2]]).tolist()
    [1, 0]
    """
    y = host(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"{owner}: {what} must be class labels (n,), one-hot or probability "
            f"rows (n, classes); got shape {y.shape}"
        )
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        return (y >= 0.5).astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{owner}: {what} holds a negative class {y.min()}")
    return y.astype(np.int64)
