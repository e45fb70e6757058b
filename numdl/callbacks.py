"""Callbacks, as Keras 3: hooks into ``fit``, ``evaluate`` and ``predict``.

A callback subclasses :class:`Callback` and overrides the hooks it needs;
``self.model`` is the model being trained (``self.model.stop_training = True``
ends ``fit`` after the current batch's epoch), ``self.params`` holds
``verbose``, ``epochs`` and ``steps``. Epoch and batch indices are 0-based,
as in Keras. Logs are dicts of Python floats.

>>> class Losses(Callback):
...     def on_train_begin(self, logs=None):
...         self.seen = []
...     def on_epoch_end(self, epoch, logs=None):
...         self.seen.append(round(logs["loss"], 4))
>>> cb = Losses(); cb.on_train_begin(); cb.on_epoch_end(0, {"loss": 0.25})
>>> cb.seen
[0.25]
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

_BATCH_HOOKS = (
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)
_ALIASES = {
    "on_train_batch_begin": "on_batch_begin",
    "on_train_batch_end": "on_batch_end",
}


class Callback:
    """Base class: every Keras hook, doing nothing.

    >>> cb = Callback(); cb.set_params({"epochs": 2}); cb.params
    {'epochs': 2}
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}
        self.validation_data = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self.model = model

    def _implements(self, hook: str) -> bool:
        """Whether this callback does something in ``hook`` (skipped otherwise)."""
        names = (hook, _ALIASES[hook]) if hook in _ALIASES else (hook,)
        cls = type(self)
        return any(getattr(cls, n) is not getattr(Callback, n) for n in names)

    # ------------------------------------------------------------ hooks
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """A backwards-compatible alias for ``on_train_batch_begin``."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """A backwards-compatible alias for ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """At the start of an epoch of ``fit``."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """At the end of an epoch; ``logs`` has training and ``val_`` values."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Before a training step."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """After a training step; ``logs`` has the epoch's running values."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Before an evaluation step (``evaluate`` or validation)."""

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """After an evaluation step."""

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Before a prediction step."""

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """After a prediction step; ``logs["outputs"]`` holds the batch's outputs."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        """At the start of ``fit``."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """At the end of ``fit``; ``logs`` are the last epoch's."""

    def on_test_begin(self, logs: dict | None = None) -> None:
        """At the start of ``evaluate`` (or of validation in ``fit``)."""

    def on_test_end(self, logs: dict | None = None) -> None:
        """At the end of ``evaluate`` (or of validation)."""

    def on_predict_begin(self, logs: dict | None = None) -> None:
        """At the start of ``predict``."""

    def on_predict_end(self, logs: dict | None = None) -> None:
        """At the end of ``predict``."""


class CallbackList:
    """Calls a list of callbacks; adds ``History`` and ``ProgbarLogger``.

    Batch hooks go only to callbacks that implement them, and batch logs are
    computed only when one does: ``logs`` passed to a batch hook may be a
    zero-argument function returning the dict.

    >>> cbs = CallbackList([Callback()], add_history=True, epochs=1)
    >>> [type(c).__name__ for c in cbs.callbacks]
    ['Callback', 'History']
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks must be numdl.callbacks.Callback instances, got "
                    f"{type(cb).__name__}"
                )
        if add_history and not any(isinstance(c, History) for c in self.callbacks):
            self.callbacks.append(History())
        if add_progbar and not any(
            isinstance(c, ProgbarLogger) for c in self.callbacks
        ):
            self.callbacks.append(ProgbarLogger())
        self.model = model
        self.params = params
        if model is not None:
            self.set_model(model)
        self.set_params(params)
        self._batch_targets = {h: self._targets(h) for h in _BATCH_HOOKS}

    def _targets(self, hook: str) -> list[Any]:
        return [c for c in self.callbacks if c._implements(hook)]

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)
        self._batch_targets = {h: self._targets(h) for h in _BATCH_HOOKS}

    def set_model(self, model: Any) -> None:
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def _batch(self, hook: str, batch: int, logs: Any) -> None:
        targets = self._batch_targets[hook]
        if not targets:
            return
        values = None
        for cb in targets:
            if getattr(cb, "_lazy_logs", False):
                getattr(cb, hook)(batch, logs)
                continue
            if values is None:
                values = dict(logs() if callable(logs) else (logs or {}))
            getattr(cb, hook)(batch, values)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._call("on_test_begin", logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._call("on_predict_end", logs)

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        self._batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        self._batch("on_predict_batch_end", batch, logs)


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"]``, ``.epoch``.

    ``fit`` adds one and returns it; it is also ``model.history``.

    >>> h = History(); h.on_train_begin(); h.on_epoch_end(0, {"loss": 1.0})
    >>> h.history, h.epoch
    ({'loss': [1.0]}, [0])
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []
        if self.model is not None:
            self.model.history = self

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


# ------------------------------------------------------------------ progress
def format_value(value: Any) -> str:
    """Keras's number format in progress lines: 4 decimals, or 4 significant
    digits in e-notation below 1e-3.

    >>> format_value(0.12345), format_value(1.5e-5)
    ('0.1235', '1.5000e-05')
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"
    return str(value)


def format_time_per_step(seconds: float, unit: str = "step") -> str:
    """``2ms/step``, ``35us/step`` or ``1s/step``, as Keras prints them.

    >>> format_time_per_step(0.0021), format_time_per_step(3.5e-5)
    ('2ms/step', '35us/step')
    """
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def format_logs(logs: dict[str, Any]) -> str:
    """`` - loss: 0.1234 - accuracy: 0.9500`` (in the order of the logs).

    >>> format_logs({"loss": 0.25, "acc": 1.0})
    ' - loss: 0.2500 - acc: 1.0000'
    """
    return "".join(f" - {k}: {format_value(v)}" for k, v in logs.items())


def _make_bar(total: int | None) -> Any:
    from tqdm.auto import tqdm

    class Bar(tqdm):  # type: ignore[misc, valid-type]
        info = ""

        @property
        def format_dict(self) -> dict[str, Any]:
            d = super().format_dict
            d["info"] = self.info
            return d

    notebook = "notebook" in tqdm.__module__  # a widget draws the bar there
    bar = "{bar}" if notebook else "{bar:20}"
    fmt = "{n_fmt}/{total_fmt} " + bar + " {elapsed}<{remaining}{info}"
    if total is None:
        fmt = "{n_fmt}/Unknown {elapsed}{info}"
    options: dict[str, Any] = {"ascii": " =", "ncols": 10_000}  # never cut lines
    return Bar(
        total=total,
        file=sys.stdout,
        bar_format=fmt,
        leave=True,
        mininterval=0.1,
        dynamic_ncols=False,
        **({} if notebook else options),
    )


class ProgbarLogger(Callback):
    """Progress output: ``verbose=1`` a live bar per epoch (tqdm: step count,
    elapsed<ETA, time per step and running loss/metrics; notebooks get a
    widget), ``verbose=2`` one line per epoch for log files::

        Epoch 1/10 - 0s - 2ms/step - loss: 0.1234 - accuracy: 0.9500

    ``fit`` adds one unless ``verbose=0``. Output goes to ``sys.stdout``.

    >>> ProgbarLogger().verbose
    1
    """

    _lazy_logs = True  # batch logs arrive as a function, called when shown

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__()
        self.verbose = 1
        self.interval = interval
        self._bar: Any = None
        self._in_fit = False
        self._start = 0.0
        self._last = 0.0
        self._steps = 0

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.verbose = params.get("verbose", 1)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    # ------------------------------------------------------------- phases
    def _begin(self, header: str | None) -> None:
        self._start = self._last = time.perf_counter()
        self._steps = 0
        if self.verbose == 1:
            if header:
                print(header, flush=True)
            self._bar = _make_bar(self.target)

    def _step(self, logs: Any) -> None:
        self._steps += 1
        if self._bar is None:
            return
        now = time.perf_counter()
        if now - self._last >= self.interval and logs is not None:
            self._last = now
            values = logs() if callable(logs) else logs
            self._bar.info = self._info(values, now)
        self._bar.update(1)

    def _info(self, logs: dict[str, Any] | None, now: float) -> str:
        per_step = (now - self._start) / max(self._steps, 1)
        return f" - {format_time_per_step(per_step)}{format_logs(logs or {})}"

    def _end(self, logs: dict[str, Any] | None, header: str | None) -> None:
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.info = self._info(logs, now)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            elapsed = now - self._start
            per_step = elapsed / max(self._steps, 1)
            prefix = header if header else f"{self._steps}/{self._steps}"
            line = f"{prefix} - {elapsed:.0f}s - {format_time_per_step(per_step)}"
            print(line + format_logs(logs or {}), flush=True)

    # -------------------------------------------------------------- hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._in_fit = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self._in_fit = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._begin(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._step(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._end(logs, f"Epoch {epoch + 1}/{self.epochs}")

    def on_test_begin(self, logs: dict | None = None) -> None:
        if not self._in_fit:
            self._begin(None)

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        if not self._in_fit:
            self._step(logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        if not self._in_fit:
            self._end(logs, None)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._begin(None)

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        self._step(None)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._end(None, None)


# ---------------------------------------------------------------- monitoring
_UP = ("acc", "auc", "precision", "recall", "iou", "f1", "r2")
_DOWN = ("loss", "error", "crossentropy", "hinge", "divergence", "mse", "mae")


def metric_direction(name: str) -> str | None:
    """ "min", "max" or None (unknown) for a logged quantity, by its name.

    >>> metric_direction("val_loss"), metric_direction("accuracy")
    ('min', 'max')
    """
    lowered = name.removeprefix("val_").lower()
    if lowered == "loss" or lowered.endswith("_loss"):
        return "min"
    if any(word in lowered for word in _UP):
        return "max"
    if any(word in lowered for word in _DOWN):
        return "min"
    return None


def _monitor_direction(callback: Callback, monitor: str, mode: str) -> str:
    """ "min" or "max": given, or from the metric's ``_direction``, or its name."""
    if mode in ("min", "max"):
        return mode
    name = monitor.removeprefix("val_")
    for metric in getattr(callback.model, "metrics", []) or []:
        direction = getattr(metric, "_direction", None)
        if getattr(metric, "name", None) == name and direction in ("up", "down"):
            return "max" if direction == "up" else "min"
    direction = metric_direction(name)
    if direction is not None:
        return direction
    raise ValueError(
        f"{type(callback).__name__} received monitor={monitor!r} but cannot tell "
        f"whether it should be maximized or minimized; pass mode='max' or "
        f"mode='min'"
    )


def _check_mode(mode: str, owner: str) -> str:
    if mode not in ("auto", "min", "max"):
        warnings.warn(
            f"{owner} mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3
        )
        return "auto"
    return mode


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras 3 rules).

    Each epoch (from ``start_from_epoch`` on) without an improvement larger
    than ``min_delta`` over the best value adds one to a counter; after
    ``patience`` such epochs (and not in the first epoch) training stops. An
    improvement resets the counter only if it also beats ``baseline``. With
    ``restore_best_weights=True`` the weights of the best epoch are restored
    at the end of training, also when training ran to the last epoch.

    >>> EarlyStopping(patience=2).monitor
    'val_loss'
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = _check_mode(mode, "EarlyStopping")
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.direction: str | None = None
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_weights: list[Any] | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.direction == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.direction is None:
            self.direction = _monitor_direction(self, self.monitor, self.mode)
        current = _monitor_value(self, logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}.",
                    flush=True,
                )
            self.model.set_weights(self.best_weights)


def _monitor_value(callback: Any, logs: dict | None) -> float | None:
    logs = logs or {}
    value = logs.get(callback.monitor)
    if value is None:
        warnings.warn(
            f"{type(callback).__name__} is conditioned on `{callback.monitor}`, "
            f"which is not available. Available metrics are: {', '.join(logs)}",
            stacklevel=3,
        )
    return value


def _learning_rate(model: Any) -> float:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError("The optimizer must have a `learning_rate` attribute.")
    return float(optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls.

    After ``patience`` epochs without an improvement of more than
    ``min_delta``, ``lr = max(lr * factor, min_lr)``, then ``cooldown``
    epochs pass before counting again (Keras 3's rules; in "auto" mode a
    monitor containing "acc" is maximized, anything else minimized). Adds
    ``"learning_rate"`` to the epoch logs.

    >>> ReduceLROnPlateau(factor=0.5).factor
    0.5
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received "
                f"factor={factor}"
            )
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = _check_mode(mode, "ReduceLROnPlateau")
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._reset()

    def _reset(self) -> None:
        self.maximize = self.mode == "max" or (
            self.mode == "auto" and "acc" in self.monitor
        )
        self.best = -math.inf if self.maximize else math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _improved(self, current: float) -> bool:
        if self.maximize:
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _learning_rate(self.model)
        current = _monitor_value(self, logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch: int) -> None:
        old = _learning_rate(self.model)
        if old > float(_float32(self.min_lr)):
            new = max(old * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning "
                    f"rate to {new}.",
                    flush=True,
                )
            self.cooldown_counter = self.cooldown
            self.wait = 0


def _float32(value: float) -> Any:
    import numpy as np

    return np.float32(value)


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule``.

    ``schedule(epoch, lr)`` (or ``schedule(epoch)``) returns the new rate;
    ``epoch`` counts from 0. Adds ``"learning_rate"`` to the epoch logs.

    >>> LearningRateScheduler(lambda epoch, lr: lr * 0.5).verbose
    0
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        lr = _learning_rate(self.model)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:  # the older one-argument form
            new = self.schedule(epoch)
        if isinstance(new, bool) or not isinstance(new, (int, float)):
            try:
                new = float(new)
            except (TypeError, ValueError):
                raise ValueError(
                    f"The output of the `schedule` function should be a float. "
                    f"Got: {new!r}"
                ) from None
        self.model.optimizer.learning_rate = float(new)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning "
                f"rate to {float(new)}.",
                flush=True,
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model)


class TerminateOnNaN(Callback):
    """Stop training when the loss becomes NaN or infinite.

    Prints (and keeps in ``.epoch`` and ``.batch``, 0-based) where it
    happened: ``Epoch 2, batch 5: invalid loss nan, terminating training``
    (both counted from 1 there, as the progress output counts). With
    ``raise_error=True`` a RuntimeError is raised instead.

    >>> TerminateOnNaN().raise_error
    False
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error
        self.epoch: int | None = None
        self.batch: int | None = None
        self._current_epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        self.epoch, self.batch = self._current_epoch, batch
        message = (
            f"Epoch {self._current_epoch + 1}, batch {batch + 1}: invalid loss "
            f"{loss}, terminating training"
        )
        if self.raise_error:
            raise RuntimeError(f"TerminateOnNaN: {message}")
        print(message, flush=True)
        self.model.stop_training = True


class CSVLogger(Callback):
    """Write each epoch's logs as a CSV row (``epoch`` first, then sorted keys).

    With ``append=True`` rows are added to an existing file (its header kept).

    >>> CSVLogger("log.csv", separator=";").sep
    ';'
    """

    def __init__(self, filename: str, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self.writer: Any = None
        self.csv_file: Any = None
        self.append_header = True

    def on_train_begin(self, logs: dict | None = None) -> None:
        mode = "w"
        self.append_header = True
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, encoding="utf-8") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            sep = self.sep

            class Dialect(csv.excel):
                delimiter = sep

            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch", *self.keys], dialect=Dialect
            )
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, logs.get(key, "NA")) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LambdaCallback(Callback):
    """A callback from plain functions, as Keras's ``LambdaCallback``.

    Epoch functions take ``(epoch, logs)``, batch functions ``(batch, logs)``,
    train/test/predict begin/end functions ``(logs)``.

    >>> seen = []
    >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    >>> cb.on_epoch_end(4, {}); seen
    [4]
    """

    _HOOKS = (
        "on_epoch_begin",
        "on_epoch_end",
        "on_train_begin",
        "on_train_end",
        "on_test_begin",
        "on_test_end",
        "on_predict_begin",
        "on_predict_end",
        *_BATCH_HOOKS,
        "on_batch_begin",
        "on_batch_end",
    )

    def __init__(self, **hooks: Callable[..., Any]) -> None:
        super().__init__()
        unknown = [name for name in hooks if name not in self._HOOKS]
        if unknown:
            raise TypeError(
                f"LambdaCallback: unknown hook(s) {unknown}; expected some of "
                f"{list(self._HOOKS)}"
            )
        self._hooks = {name: fn for name, fn in hooks.items() if fn is not None}
        for name, fn in self._hooks.items():
            setattr(self, name, fn)

    def _implements(self, hook: str) -> bool:
        names = (hook, _ALIASES[hook]) if hook in _ALIASES else (hook,)
        return any(name in self._hooks for name in names)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if "on_batch_begin" in self._hooks:
            self._hooks["on_batch_begin"](batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if "on_batch_end" in self._hooks:
            self._hooks["on_batch_end"](batch, logs)


from numdl.diagnostics import GradientMonitor  # noqa: E402, F401
from numdl.saving.callbacks import BackupAndRestore, ModelCheckpoint  # noqa: E402, F401
