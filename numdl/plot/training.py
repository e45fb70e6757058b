"""Training curves and what a GradientMonitor saw, epoch by epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from numdl.callbacks import metric_direction
from numdl.plot._base import (
    finish,
    panels,
    pyplot,  # noqa: F401 (the doctests close figures)
)


def plot_history(
    history: Any,
    metrics: list[str] | None = None,
    early_stopping: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Loss and metrics per epoch (1-based), training and validation, one
    panel each, with the best epoch marked (dotted green).

    ``history`` is what ``fit`` returns (or its ``.history`` dict).
    ``metrics=None`` draws every logged quantity but the learning rate;
    ``"val_loss"`` and ``"loss"`` both name the loss panel. The best epoch is
    that of the validation curve when there is one (lowest loss or error,
    highest accuracy-like metric). Where training stopped early a red
    dashed line is drawn: at ``early_stopping.stopped_epoch`` when that
    EarlyStopping callback is passed, else, for a History, where it ended
    before the ``epochs`` that ``fit`` was given.

    >>> fig = plot_history({"loss": [1.0, 0.5, 0.7], "val_loss": [1.1, 0.6, 0.9]})
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['loss', 'val_loss', 'best epoch 2', '_best']
    >>> pyplot().close(fig)
    """
    logs, epochs, planned = _history_logs(history)
    names = _metric_names(logs, metrics)
    stopped = _stopped_epoch(early_stopping, epochs, planned)
    fig, axes = panels(len(names), ncols=3, size=(4.5, 3.4))
    for ax, name in zip(axes, names):
        _history_panel(ax, name, logs, epochs)
        if stopped is not None:
            ax.axvline(stopped, color="tab:red", linestyle="--", label="stopped")
        ax.legend(fontsize="small")
    return finish(fig, path)


def _history_logs(history: Any) -> tuple[dict, np.ndarray, int | None]:
    if isinstance(history, dict):
        logs, epoch, planned = history, None, None
    elif isinstance(getattr(history, "history", None), dict):
        logs, epoch = history.history, getattr(history, "epoch", None)
        planned = (getattr(history, "params", None) or {}).get("epochs")
    else:
        raise TypeError(
            f"plot_history: expected a History (what fit returns) or its "
            f".history dict, got {type(history).__name__}"
        )
    n = max((len(v) for v in logs.values()), default=0)
    if n == 0:
        raise ValueError("plot_history: the history is empty (has fit run?)")
    if epoch is None or len(epoch) != n:
        epoch = range(n)
    return logs, np.asarray(epoch) + 1, planned


def _metric_names(logs: dict, metrics: Any) -> list[str]:
    available = [k for k in logs if not k.startswith("val_")]
    available += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]
    if metrics is None:
        return [k for k in available if k not in ("learning_rate", "lr")]
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    names = [n[4:] if n.startswith("val_") else n for n in names]
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        raise ValueError(
            f"plot_history: no {unknown or names!r} in the history; it holds "
            f"{', '.join(available)}"
        )
    return names


def _history_panel(ax: Any, name: str, logs: dict, epochs: np.ndarray) -> None:
    series = None
    for key, style in ((name, "-"), (f"val_{name}", "--")):
        if key in logs:
            series = np.asarray(logs[key], dtype=float)
            ax.plot(epochs[: len(series)], series, style, marker=".", label=key)
    best = _best_index(name, series)
    if best is not None:
        x_best = int(epochs[best])
        ax.axvline(
            x_best, color="tab:green", linestyle=":", label=f"best epoch {x_best}"
        )
        ax.plot([x_best], [series[best]], "o", color="tab:green", label="_best")
    ax.set_title(name)
    _epoch_axis(ax)


def _epoch_axis(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)


def _best_index(name: str, series: np.ndarray | None) -> int | None:
    direction = metric_direction(name)
    if direction is None or series is None or not np.isfinite(series).any():
        return None
    finite = np.where(np.isfinite(series), series, np.nan)
    return int(np.nanargmin(finite) if direction == "min" else np.nanargmax(finite))


def _stopped_epoch(early_stopping: Any, epochs: np.ndarray, planned: Any) -> Any:
    if early_stopping is not None:
        if not hasattr(early_stopping, "stopped_epoch"):
            raise TypeError(
                f"plot_history: early_stopping must be the EarlyStopping callback "
                f"given to fit, got {type(early_stopping).__name__}"
            )
        stopped = early_stopping.stopped_epoch
        return stopped + 1 if stopped > 0 else None
    if planned is not None and epochs[-1] < planned:
        return int(epochs[-1])
    return None


# ----------------------------------------------------------- the monitor
def plot_gradient_flow(monitor: Any, path: str | Path | None = None) -> Any:
    """Per-layer gradient norms and update/weight ratios over the epochs
    (1-based), log scale, one line per layer, from a
    :class:`numdl.callbacks.GradientMonitor` given to ``fit``.

    Vanishing gradients show as lines falling decades below the others.

    >>> from types import SimpleNamespace
    >>> grads, ratios = {"d1": [1.0, 0.5]}, {"d1": [1e-3, 2e-3]}
    >>> seen = SimpleNamespace(epochs=[0, 1], grad_norm=grads, update_ratio=ratios)
    >>> fig = plot_gradient_flow(seen)
    >>> [ax.get_title() for ax in fig.axes]
    ['gradient norm', 'update / weight']
    >>> pyplot().close(fig)
    """
    return _monitor_figure(
        monitor,
        [("grad_norm", "gradient norm"), ("update_ratio", "update / weight")],
        log=True,
        path=path,
    )


def plot_activation_stats(monitor: Any, path: str | Path | None = None) -> Any:
    """Per-layer fraction of dead units (ReLU family: zero for a whole epoch)
    and of saturated units (sigmoid/tanh) over the epochs, from a
    :class:`numdl.callbacks.GradientMonitor` given to ``fit``.

    >>> from types import SimpleNamespace
    >>> seen = SimpleNamespace(
    ...     epochs=[0], dead_fraction={"d1": [0.25]}, saturated_fraction={}
    ... )
    >>> fig = plot_activation_stats(seen)
    >>> fig.axes[0].lines[0].get_ydata().tolist()
    [0.25]
    >>> pyplot().close(fig)
    """
    return _monitor_figure(
        monitor,
        [
            ("dead_fraction", "dead units (ReLU family)"),
            ("saturated_fraction", "saturated units (sigmoid/tanh)"),
        ],
        log=False,
        path=path,
    )


def _monitor_figure(monitor: Any, what: list, log: bool, path: Any) -> Any:
    epochs = _monitor_epochs(monitor, [attr for attr, _ in what])
    fig, axes = panels(len(what), ncols=2, size=(5.0, 3.6))
    for ax, (attr, title) in zip(axes, what):
        _layer_lines(ax, epochs, getattr(monitor, attr), attr)
        ax.set_title(title)
        _epoch_axis(ax)
        if log and ax.lines:
            ax.set_yscale("log")
        elif not log:
            ax.set_ylim(-0.02, 1.02)
    return finish(fig, path)


def _monitor_epochs(monitor: Any, attrs: list[str]) -> np.ndarray:
    missing = [a for a in ["epochs", *attrs] if not hasattr(monitor, a)]
    if missing:
        raise TypeError(
            f"expected a GradientMonitor (numdl.callbacks) given to fit, got "
            f"{type(monitor).__name__} without {', '.join(missing)}"
        )
    if not monitor.epochs:
        raise ValueError("the GradientMonitor recorded no epoch (has fit run?)")
    return np.asarray(monitor.epochs) + 1


def _layer_lines(ax: Any, epochs: np.ndarray, series: dict, attr: str) -> None:
    for layer, values in series.items():
        values = np.asarray(values, dtype=float)
        if len(values) != len(epochs):
            raise ValueError(
                f"monitor.{attr}[{layer!r}] has {len(values)} values for "
                f"{len(epochs)} epochs"
            )
        ax.plot(epochs, values, marker=".", label=layer)
    if series:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no layer of this kind", ha="center", transform=ax.transAxes)
