"""What a classifier does: decision regions, confusion, images, softmax bars."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from numdl.plot._base import (
    class_ids,
    finish,
    host,
    panels,
    pyplot,  # noqa: F401 (the doctests close figures)
)


def plot_decision_boundary(
    model: Any,
    x: Any,
    y: Any,
    path: str | Path | None = None,
    resolution: int = 200,
    margin: float = 0.1,
) -> Any:
    """The decision regions of a model on 2-D inputs, with the points.

    ``model`` is anything with ``predict`` (a Keras-style model) or a
    callable, mapping ``(n, 2)`` to scores. The inputs' box (widened by
    ``margin`` of its size on each side) is sampled on a
    ``resolution x resolution`` grid. One output column: the image is the
    score and the boundary the 0.5 contour (a probability; scores outside
    [0, 1] are taken as logits, boundary at 0). Several columns: the image is
    the argmax class.

    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [1.0, 1.0]]); y = np.array([0, 1])
    >>> fig = plot_decision_boundary(lambda g: g.sum(1) / 2, x, y, resolution=5)
    >>> fig.axes[0].images[0].get_array().shape
    (5, 5)
    >>> pyplot().close(fig)
    """
    x = _check_points(x)
    labels = class_ids("plot_decision_boundary", "y", y)
    if len(labels) != len(x):
        raise ValueError(
            f"plot_decision_boundary: x has {len(x)} points but y {len(labels)}"
        )
    xs, ys = _grid_axes(x, resolution, margin)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    image, level = _region_image(model, grid.astype(x.dtype), (len(ys), len(xs)))
    fig, (ax,) = panels(1, 1, (5.5, 4.5))
    extent = (xs[0], xs[-1], ys[0], ys[-1])
    shown = ax.imshow(image, origin="lower", extent=extent, aspect="auto", alpha=0.6)
    if level is None:  # classes, coloured as the points
        shown.set_cmap("tab10")
        shown.set_clim(0, 9)
    elif level == 0.5:  # probabilities: 0 blue, 1 red
        shown.set_cmap("coolwarm")
        shown.set_clim(0.0, 1.0)
    else:
        shown.set_cmap("coolwarm")
    if level is not None and image.min() < level < image.max():
        ax.contour(xs, ys, image, levels=[level], colors="k", linewidths=1.0)
    ax.scatter(x[:, 0], x[:, 1], c=labels, cmap="tab10", vmin=0, vmax=9, s=12)
    ax.set_title("decision regions")
    return finish(fig, path)


def _check_points(x: Any) -> np.ndarray:
    x = host(x)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(
            f"plot_decision_boundary: x must hold 2-D points, shape (n, 2); got "
            f"shape {x.shape}"
        )
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    return x


def _grid_axes(x: np.ndarray, resolution: int, margin: float) -> tuple:
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = (hi - lo) * margin + (hi == lo)
    return tuple(
        np.linspace(lo[i] - pad[i], hi[i] + pad[i], int(resolution)) for i in (0, 1)
    )


def _region_image(model: Any, grid: np.ndarray, shape: tuple) -> tuple:
    """The image over the grid and the boundary level (None: classes)."""
    if hasattr(model, "predict"):
        scores = host(model.predict(grid, verbose=0))
    else:
        scores = host(model(grid))
    scores = scores.reshape(len(grid), -1)
    if scores.shape[1] > 1:
        return scores.argmax(axis=1).reshape(shape), None
    scores = scores[:, 0].reshape(shape)
    inside = scores.min() >= 0.0 and scores.max() <= 1.0
    return scores, 0.5 if inside else 0.0


def confusion_counts(y_true: Any, y_pred: Any, num_classes: int | None = None) -> Any:
    """The confusion matrix: row = true class, column = predicted class.

    >>> confusion_counts([0, 1, 1], [0, 0, 1]).tolist()
    [[1, 0], [1, 1]]
    """
    t = class_ids("plot_confusion_matrix", "y_true", y_true)
    p = class_ids("plot_confusion_matrix", "y_pred", y_pred)
    if len(t) != len(p) or len(t) == 0:
        raise ValueError(
            f"plot_confusion_matrix: y_true has {len(t)} samples but y_pred "
            f"{len(p)} (expected the same number, at least one)"
        )
    k = int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    if num_classes is not None:
        if k > num_classes:
            raise ValueError(
                f"plot_confusion_matrix: {num_classes} labels given but the data "
                f"holds class {k - 1}"
            )
        k = num_classes
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    labels: list[str] | None = None,
    path: str | Path | None = None,
) -> Any:
    """Counts of (true, predicted) classes as an image, each cell written.

    ``y_true``/``y_pred`` are class labels, one-hot rows or probabilities
    (argmax; one column: >= 0.5). ``labels`` names the classes in order.

    >>> fig = plot_confusion_matrix([0, 1, 1], [0, 0, 1], labels=["no", "yes"])
    >>> fig.axes[0].images[0].get_array().tolist()
    [[1, 0], [1, 1]]
    >>> pyplot().close(fig)
    """
    counts = confusion_counts(y_true, y_pred, None if labels is None else len(labels))
    k = len(counts)
    labels = [str(i) for i in range(k)] if labels is None else list(labels)
    side = min(max(4.0, 0.5 * k + 2.0), 12.0)
    fig, (ax,) = panels(1, 1, (side + 1.0, side))
    shown = ax.imshow(counts, cmap="Blues")
    fig.colorbar(shown, ax=ax)
    for (i, j), n in np.ndenumerate(counts):
        dark = n > counts.max() / 2
        ax.text(j, i, str(n), ha="center", va="center", fontsize="small",
                color="white" if dark else "black")  # fmt: skip
    ax.set_xticks(range(k), labels, rotation=90 if k > 10 else 0)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix ({counts.trace()} / {counts.sum()} right)")
    return finish(fig, path)


def plot_images(
    x: Any,
    y: Any = None,
    predictions: Any = None,
    path: str | Path | None = None,
    class_names: list[str] | None = None,
    ncols: int = 10,
) -> Any:
    """A grid of images titled with their label, or "predicted (true)" in red
    where a prediction is wrong.

    ``x`` is ``(n, h, w)``, ``(n, h, w, 1)``, ``(n, h, w, 3)`` or flat
    ``(n, h*w)`` with square images; ``y``/``predictions`` are labels,
    one-hot rows or probabilities. Every image is a panel, ``ncols`` to a
    row: pass a slice (``x[:30]``) of a large set.

    >>> fig = plot_images(np.zeros((2, 64)), y=[3, 5], predictions=[3, 4])
    >>> [ax.get_title() for ax in fig.axes]
    ['3', '4 (5)']
    >>> pyplot().close(fig)
    """
    images = _as_images(x)
    true = None if y is None else class_ids("plot_images", "y", y)
    pred = (
        None
        if predictions is None
        else class_ids("plot_images", "predictions", predictions)
    )
    for name, ids in (("y", true), ("predictions", pred)):
        if ids is not None and len(ids) != len(images):
            raise ValueError(f"plot_images: {len(images)} images but {len(ids)} {name}")
    fig, axes = panels(len(images), ncols, (1.4, 1.6))
    for i, ax in enumerate(axes):
        ax.imshow(images[i], cmap="gray_r" if images.ndim == 3 else None)
        ax.set_axis_off()
        title, wrong = _image_title(i, true, pred, class_names)
        ax.set_title(title, fontsize="small", color="tab:red" if wrong else "black")
    return finish(fig, path)


def _as_images(x: Any) -> np.ndarray:
    x = host(x)
    if x.ndim == 2 and math.isqrt(x.shape[1]) ** 2 == x.shape[1]:
        side = math.isqrt(x.shape[1])
        x = x.reshape(len(x), side, side)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (3, 4))) or not len(x):
        raise ValueError(
            f"plot_images: expected images (n, h, w), (n, h, w, 1 or 3) or flat "
            f"square ones (n, h*w); got shape {x.shape}"
        )
    return x


def _image_title(i: int, true: Any, pred: Any, names: Any) -> tuple[str, bool]:
    def name(c: int) -> str:
        return str(names[c]) if names is not None else str(c)

    if pred is None:
        return ("" if true is None else name(true[i])), False
    if true is None or pred[i] == true[i]:
        return name(pred[i]), False
    return f"{name(pred[i])} ({name(true[i])})", True


def plot_softmax(
    probabilities: Any,
    labels: list[str] | None = None,
    path: str | Path | None = None,
) -> Any:
    """Bar charts of class probabilities, one panel per sample (a 1-D
    vector is one sample); the most likely class in orange.

    Each row must sum to 1 (apply ``numdl.activations.softmax`` to logits).

    >>> fig = plot_softmax([0.1, 0.7, 0.2], labels=["a", "b", "c"])
    >>> [float(bar.get_height()) for bar in fig.axes[0].patches]
    [0.1, 0.7, 0.2]
    >>> pyplot().close(fig)
    """
    p = _check_probabilities(probabilities)
    k = p.shape[1]
    labels = [str(i) for i in range(k)] if labels is None else [str(s) for s in labels]
    if len(labels) != k:
        raise ValueError(f"plot_softmax: {len(labels)} labels for {k} classes")
    fig, axes = panels(len(p), 4, (max(3.0, 0.35 * k + 1.0), 2.6))
    for row, ax in zip(p, axes):
        colors = ["tab:blue"] * k
        colors[int(row.argmax())] = "tab:orange"
        ax.bar(range(k), row, color=colors)
        ax.set_xticks(range(k), labels, rotation=90 if k > 10 else 0)
        ax.set_ylim(0.0, 1.0)
        ax.set_title(f"{labels[int(row.argmax())]}: {row.max():.1%}")
    return finish(fig, path)


def _check_probabilities(probabilities: Any) -> np.ndarray:
    p = host(probabilities, dtype=np.float64)
    p = p[None, :] if p.ndim == 1 else p
    if p.ndim != 2 or p.size == 0:
        raise ValueError(
            f"plot_softmax: expected probabilities (classes,) or (n, classes), "
            f"got shape {p.shape}"
        )
    sums = p.sum(axis=1)
    bad = np.flatnonzero(~(np.abs(sums - 1.0) <= 1e-3) | (p.min(axis=1) < 0))
    if len(bad):
        raise ValueError(
            f"plot_softmax: row {bad[0]} is not a probability vector (sum "
            f"{sums[bad[0]]:.4g}); apply numdl.activations.softmax to logits first"
        )
    return p
