"""``ModelCheckpoint`` and ``BackupAndRestore`` (Keras 3 semantics).

``BackupAndRestore`` goes further than Keras, which restarts the epoch that
was interrupted: a backup taken mid-epoch (``save_freq=<batches>``) resumes
at the next batch and the run ends bitwise identical to one never
interrupted. Its backup file holds the weights, the optimizer state, the
epoch and batch reached, the ``History`` so far, the metrics' running
values, and numdl's random state twice: as it was when the epoch began (to
draw the same shuffle again) and as it was at the backup.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from typing import Any

import numpy as np

from numdl import config as numdl_config
from numdl.callbacks import Callback, _check_mode, _monitor_direction
from numdl.saving import model_io
from numdl.saving import tensors as tio
from numdl.saving.atomic import atomic_write


class ModelCheckpoint(Callback):
    """Save the model (or its weights) during ``fit``, as Keras 3 does.

    ``filepath`` may hold ``{epoch}`` (1-based), ``{batch}`` (with an integer
    ``save_freq``) and any log key (``{val_loss:.2f}``). It must end in
    ``.numdl``, or in ``.weights.safetensors`` / ``.weights.npz`` with
    ``save_weights_only=True``. ``save_freq="epoch"`` saves after each epoch;
    an integer saves every that many batches. With ``save_best_only`` the
    file is written only when ``monitor`` improves (``mode`` "min", "max" or
    "auto"); ``initial_value_threshold`` is the value to beat at first.
    Every write is atomic.

    >>> ModelCheckpoint("ckpt/{epoch:02d}-{val_loss:.2f}.numdl").monitor
    'val_loss'
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: Any = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = _check_mode(mode, "ModelCheckpoint")
        self.save_freq = _check_save_freq(save_freq, "ModelCheckpoint")
        self.best = initial_value_threshold
        self.direction: str | None = None
        self._current_epoch = 0
        self._batches_since_save = 0
        self._last_batch_seen = -1
        _check_suffix(self.filepath, save_weights_only)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if _due(self, batch):
            self._save(self._current_epoch, batch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._last_batch_seen = -1
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> None:
        path = self._file_path(epoch, batch, logs)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_best_only and not self._improved(epoch, path, logs):
            return
        if self.verbose > 0 and not self.save_best_only:
            print(f"\nEpoch {epoch + 1}: saving model to {path}", flush=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)

    def _improved(self, epoch: int, path: str, logs: dict[str, Any]) -> bool:
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Can save best model only with {self.monitor} available, "
                f"skipping. Available: {', '.join(logs)}",
                stacklevel=4,
            )
            return False
        if self.direction is None:
            self.direction = _monitor_direction(self, self.monitor, self.mode)
        better = self.best is None or (
            current < self.best if self.direction == "min" else current > self.best
        )
        if self.verbose > 0:
            print(_improvement_message(self, epoch, current, path, better), flush=True)
        if better:
            self.best = current
        return better

    def _file_path(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> str:
        fields = dict(logs)
        if batch is not None and "batch" not in fields:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(epoch=epoch + 1, **fields)
        except (KeyError, IndexError, ValueError) as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". '
                f"Reason: {e!r} (available keys: epoch, {', '.join(fields)})"
            ) from e


def _improvement_message(
    cb: ModelCheckpoint, epoch: int, current: float, path: str, better: bool
) -> str:
    best = "inf" if cb.best is None else f"{cb.best:.5f}"
    if better:
        return (
            f"\nEpoch {epoch + 1}: {cb.monitor} improved from {best} to "
            f"{current:.5f}, saving model to {path}"
        )
    return f"\nEpoch {epoch + 1}: {cb.monitor} did not improve from {best}"


def _check_suffix(filepath: str, weights_only: bool) -> None:
    if weights_only:
        if not filepath.endswith((".weights.safetensors", ".weights.npz")):
            raise ValueError(
                "ModelCheckpoint: when save_weights_only=True, the filepath "
                "must end in `.weights.safetensors` or `.weights.npz`, got "
                f"{filepath!r}"
            )
    elif not filepath.endswith(model_io.MODEL_SUFFIXES):
        raise ValueError(
            "ModelCheckpoint: the filepath must end in `.numdl` or `.keras` (or use "
            f"save_weights_only=True with `.weights.npz`), got {filepath!r}"
        )


def _check_save_freq(save_freq: Any, owner: str) -> Any:
    ok = save_freq == "epoch" or (
        isinstance(save_freq, int) and not isinstance(save_freq, bool) and save_freq > 0
    )
    if not ok:
        raise ValueError(
            f"{owner}: unrecognized save_freq {save_freq!r}: expected 'epoch' or "
            "a positive integer (a number of batches)"
        )
    return save_freq


def _due(cb: Any, batch: int) -> bool:
    """Keras's ``_should_save_on_batch``: every ``save_freq`` batches."""
    if cb.save_freq == "epoch":
        return False
    if batch <= cb._last_batch_seen:  # a new epoch began
        cb._batches_since_save += batch + 1
    else:
        cb._batches_since_save += batch - cb._last_batch_seen
    cb._last_batch_seen = batch
    if cb._batches_since_save >= cb.save_freq:
        cb._batches_since_save = 0
        return True
    return False


# --------------------------------------------------------------- backups
_STATE = "training.json"
_BACKUP_FORMAT = "numdl.backup"


class _ResumePoint:
    """Where ``fit`` resumes: read by ``numdl.training.loop.fit_loop``."""

    def __init__(self, epoch: int, step: int, restore: Any) -> None:
        self.epoch = epoch
        self.step = step
        self.restore = restore


class BackupAndRestore(Callback):
    """Back up training to ``backup_dir`` and resume from there after a crash.

    Run the same ``fit`` call again after an interruption (a kill, a reboot):
    it restores the weights, optimizer state, ``History``, metric values and
    random state of the last backup and continues from the batch after it,
    ending exactly (bitwise) as an uninterrupted run would. Backups are
    taken at the end of each epoch (``save_freq="epoch"``) or every
    ``save_freq`` batches, each one an atomic write of
    ``backup_dir/backup.numdl-backup``. When training ends normally the
    backup is deleted (``delete_checkpoint=True``; Keras removes the whole
    folder, numdl only its own files and the folder if it is then empty).
    With ``double_checkpoint=True`` the previous backup is kept too, and used
    when the latest cannot be read (a damaged disk, say).

    Random state means numdl's generator (``numdl.config.rng()``; seed it
    with ``numdl.config.set_random_seed`` before ``fit``) and the layers' own
    (``Dropout(seed=...)``); the GPU's generator is not backed up, so a run
    on CuPy resumes exactly only without random layers. Exact resumption
    also needs every epoch to be one pass over the data (``steps_per_epoch``
    unset or a whole pass) and a generator input to be repeatable. Other
    callbacks' own state (``EarlyStopping``'s counter) is not backed up, as
    in Keras.

    >>> BackupAndRestore("backup", save_freq=100).save_freq
    100
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: Any = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir must be a folder path")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = _check_save_freq(save_freq, "BackupAndRestore")
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self.path = os.path.join(self.backup_dir, "backup.numdl-backup")
        self.previous_path = os.path.join(self.backup_dir, "previous.numdl-backup")
        self._batches_since_save = 0
        self._last_batch_seen = -1
        self._epoch = 0
        self._epoch_rng: Any = None
        self._restored: dict[str, Any] | None = None

    # ------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._batches_since_save, self._last_batch_seen = 0, -1
        self._restored = self._load()
        if self._restored is not None:
            epoch, step = self._restored["epoch"], self._restored["step"]
            self._last_batch_seen = step - 1
            self.model._resume_at = _ResumePoint(epoch, step, self._restore_step)

    def _load(self) -> dict[str, Any] | None:
        """The latest backup; with ``double_checkpoint``, the previous one if
        the latest is missing or cannot be read."""
        fallback = self.double_checkpoint and os.path.exists(self.previous_path)
        try:
            if os.path.exists(self.path):
                return _load_backup(self.model, self.path)
        except ValueError as e:
            if not fallback:
                raise
            warnings.warn(f"{e}; restoring the previous backup", stacklevel=3)
        return _load_backup(self.model, self.previous_path) if fallback else None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        restored = self._restored
        if restored is not None and epoch == restored["epoch"]:
            _set_rng_state(restored["epoch_rng"], self.path)
            history = self.model.history
            if history is not None:
                history.history = {k: list(v) for k, v in restored["history"].items()}
                history.epoch = list(restored["history_epochs"])
            if not restored["step"]:
                self._restored = None
        self._epoch_rng = numdl_config.rng().bit_generator.state

    def _restore_step(self) -> None:
        """After the skipped batches: the random state and metrics of the backup."""
        restored, self._restored = self._restored, None
        _set_rng_state(restored["rng"], self.path)
        _set_metric_states(self.model, restored["metrics"], self.path)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if _due(self, batch):
            self._write(self._epoch, batch + 1, None)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._last_batch_seen = -1
        if self.save_freq == "epoch":
            self._write(epoch + 1, 0, (epoch, logs or {}))

    def on_train_end(self, logs: dict | None = None) -> None:
        if not self.delete_checkpoint:
            return
        for path in (self.path, self.previous_path):
            if os.path.exists(path):
                os.remove(path)
        try:
            os.rmdir(self.backup_dir)
        except OSError:
            pass  # missing, or not empty: other files are not ours to delete

    # ----------------------------------------------------------- writing
    def _write(self, epoch: int, step: int, ended: Any) -> None:
        history = self.model.history
        record = {k: list(v) for k, v in (history.history if history else {}).items()}
        epochs = list(history.epoch) if history else []
        if ended is not None and (not epochs or epochs[-1] != ended[0]):
            epochs.append(ended[0])  # History runs after us: add this epoch
            for key, value in ended[1].items():
                record.setdefault(key, []).append(value)
        now = numdl_config.rng().bit_generator.state
        state = {
            "format": _BACKUP_FORMAT,
            "format_version": 1,
            "epoch": epoch,
            "step": step,
            "history": record,
            "history_epochs": epochs,
            "epoch_rng": now if step == 0 else self._epoch_rng,
            "rng": now,
            "layer_rngs": {
                key: gen.bit_generator.state
                for key, gen in _layer_generators(self.model).items()
            },
        }
        scalars, arrays = _metric_states(self.model)
        state["metrics"] = scalars
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self.path):
            os.replace(self.path, self.previous_path)
        _write_backup(self.model, self.path, state, arrays)


def _write_backup(
    model: Any, path: str, state: dict[str, Any], metric_arrays: dict[str, Any]
) -> None:
    """One atomic zip: training state JSON, weights, optimizer, metric arrays."""
    fmt = model_io.default_format()
    weights, metadata = model_io.weights_payload(model)
    with atomic_write(path) as f, zipfile.ZipFile(f, "w") as zf:
        zf.writestr(_STATE, json.dumps({**state, "tensor_format": fmt}))
        for name, arrays, meta in (
            ("model.weights", weights, metadata),
            ("optimizer", model_io.optimizer_payload(model), {}),
            ("metrics", metric_arrays, {}),
        ):
            with zf.open(f"{name}.{fmt}", "w", force_zip64=True) as entry:
                model_io.write_tensors(entry, arrays, meta, fmt)


def _load_backup(model: Any, path: str) -> dict[str, Any]:
    """Load a backup into ``model``; return its training state (checked)."""
    try:
        with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
            return _read_backup(model, zf, path)
    except tio.FileProblem:
        raise
    except tio.ZIP_ERRORS as e:
        raise tio.FileProblem(path, f"not a valid backup (zip) file ({e})") from None


def _read_backup(model: Any, zf: zipfile.ZipFile, path: str) -> dict[str, Any]:
    stems, exts = ("model.weights", "optimizer", "metrics"), ("safetensors", "npz")
    names = {f"{n}.{x}" for n in stems for x in exts} | {_STATE}
    tio.check_zip(zf, path, allowed=names)
    if _STATE not in zf.namelist():
        raise tio.FileProblem(path, f"no {_STATE}: not a numdl backup")
    raw = tio.read_entry_bytes(zf, _STATE, model_io.MAX_CONFIG_BYTES, path)
    state = _check_state(tio.parse_json(raw, path, _STATE), path)
    fmt = state["tensor_format"]
    weights, metadata = model_io.entry_tensors(zf, f"model.weights.{fmt}", fmt, path)
    model_io.assign_weights(model, weights, metadata, path)
    optimizer, _ = model_io.entry_tensors(zf, f"optimizer.{fmt}", fmt, path)
    model_io.load_optimizer_state(model, optimizer, path)
    arrays, _ = model_io.entry_tensors(zf, f"metrics.{fmt}", fmt, path)
    state["metrics"] = _merge_metric_states(state["metrics"], arrays, path)
    for key in ("epoch_rng", "rng"):  # checked now, set when training reaches it
        probe = np.random.Generator(type(numdl_config.rng().bit_generator)())
        _set_rng_state(state[key], path, probe)
    generators = _layer_generators(model)
    if set(generators) != set(state["layer_rngs"]):
        raise tio.FileProblem(
            path,
            f"random generators of layers {sorted(state['layer_rngs'])} "
            f"do not match the model's {sorted(generators)}",
        )
    for key, gen in generators.items():
        _set_rng_state(state["layer_rngs"][key], path, gen)
    return state


def _check_state(state: Any, path: str) -> dict[str, Any]:
    ok = isinstance(state, dict) and state.get("format") == _BACKUP_FORMAT
    if not ok or state.get("format_version") != 1:
        raise tio.FileProblem(path, "not a numdl backup (format or version)")
    expected = {
        "epoch": int,
        "step": int,
        "history": dict,
        "history_epochs": list,
        "epoch_rng": dict,
        "rng": dict,
        "layer_rngs": dict,
        "metrics": list,
    }
    for key, kind in expected.items():
        value = state.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise tio.FileProblem(path, f"{_STATE}: {key!r} must be {kind.__name__}")
    if state["epoch"] < 0 or state["step"] < 0:
        raise tio.FileProblem(path, f"{_STATE}: negative epoch or step")
    history_ok = all(isinstance(v, list) for v in state["history"].values())
    epochs_ok = all(type(e) is int for e in state["history_epochs"])
    metrics_ok = all(isinstance(m, dict) for m in state["metrics"])
    if not (history_ok and epochs_ok and metrics_ok):
        raise tio.FileProblem(path, f"{_STATE}: malformed history or metrics")
    if state.get("tensor_format") not in ("safetensors", "npz"):
        raise tio.FileProblem(path, f"{_STATE}: unknown tensor_format")
    return state


# ------------------------------------------------------- state pieces
def _set_rng_state(state: dict[str, Any], path: str, generator: Any = None) -> None:
    generator = (generator or numdl_config.rng()).bit_generator
    try:
        generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise tio.FileProblem(path, f"random state cannot be restored: {e}") from None


def _layer_generators(model: Any) -> dict[str, np.random.Generator]:
    """Layers' own generators (``Dropout(seed=...)``), keyed by position."""
    found: dict[str, np.random.Generator] = {}
    seen: set[int] = set()

    def walk(layer: Any, prefix: str) -> None:
        for attr, value in vars(layer).items():
            if isinstance(value, np.random.Generator) and id(value) not in seen:
                seen.add(id(value))
                found[f"{prefix}{attr}"] = value
        for i, sub in enumerate(layer._layers):
            walk(sub, f"{prefix}{i}/")

    walk(model, "")
    return found


def _metrics_of(model: Any) -> list[Any]:
    plan = getattr(model, "_plan", None)
    return [] if plan is None or plan.outputs is None else plan.all_metrics


def _metric_states(model: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each metric's running values: plain numbers in JSON, arrays apart."""
    scalars: list[dict[str, Any]] = []
    arrays: dict[str, Any] = {}
    for i, metric in enumerate(_metrics_of(model)):
        own: dict[str, Any] = {}
        for attr, value in vars(metric).items():
            if isinstance(value, (bool, int, float)):
                own[attr] = value
            elif isinstance(value, (np.ndarray, np.generic)):
                arrays[f"{i}/{attr}"] = np.asarray(value)
        scalars.append(own)
    return scalars, arrays


def _merge_metric_states(
    scalars: list[Any], arrays: dict[str, Any], path: str
) -> list[dict[str, Any]]:
    merged = [dict(s) if isinstance(s, dict) else {} for s in scalars]
    for key, value in arrays.items():
        index, _, attr = key.partition("/")
        if not index.isdigit() or int(index) >= len(merged):
            raise tio.FileProblem(path, f"metric state {key!r} has no metric")
        merged[int(index)][attr] = value
    return merged


def _set_metric_states(model: Any, states: list[dict[str, Any]], path: str) -> None:
    metrics = _metrics_of(model)
    if len(states) != len(metrics):
        raise tio.FileProblem(
            path, f"{len(states)} metric states for {len(metrics)} metrics"
        )
    for metric, own in zip(metrics, states):
        for attr, value in own.items():
            setattr(metric, attr, _state_value(metric, attr, value, path))


def _state_value(metric: Any, attr: str, value: Any, path: str) -> Any:
    """``value`` as the type the metric holds in ``attr`` (which must exist)."""
    current = vars(metric).get(attr)
    number = (bool, int, float)
    if isinstance(current, np.generic) and isinstance(value, np.ndarray):
        return current.dtype.type(value.reshape(-1)[0] if value.size else 0)
    if isinstance(current, np.ndarray) and isinstance(value, np.ndarray):
        return np.array(value, dtype=current.dtype)
    if isinstance(current, number) and type(value) in number:
        return value
    raise tio.FileProblem(
        path, f"metric {metric.name!r}: state {attr!r} = {value!r} does not fit"
    )
