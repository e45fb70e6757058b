"""Callbacks through fit: Keras 3's rules, hook order, progress output."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

import numdl
from numdl import callbacks, layers, optimizers
from numdl.callbacks import Callback
from numdl.layers import Layer
from numdl.training import Trainer


class Net(Trainer, Layer):
    def __init__(self):
        super().__init__()
        self.d = layers.Dense(1)

    def call(self, x):
        return self.d(x)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5]], "float32")


def _model(lr=0.05, metrics=None):
    numdl.set_random_seed(0)
    model = Net()
    model.compile(
        optimizer=optimizers.SGD(learning_rate=lr), loss="mse", metrics=metrics
    )
    return model


class Script(Callback):
    """Writes scripted values of "score" into the epoch logs (runs first)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.values[epoch]


class Weights(Callback):
    """Keeps the weights at the end of every epoch."""

    def on_train_begin(self, logs=None):
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(self.model.get_weights())


def _fit(values, *cbs, epochs=None, **fit_kwargs):
    x, y = _data()
    model = _model()
    record = Weights()
    history = model.fit(
        x,
        y,
        epochs=epochs or len(values),
        batch_size=8,
        verbose=0,
        callbacks=[Script(values), record, *cbs],
        **fit_kwargs,
    )
    return model, history, record.seen


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


# ------------------------------------------------------------ EarlyStopping
def test_early_stopping_waits_patience_epochs():
    stop = callbacks.EarlyStopping(monitor="score", mode="min", patience=2)
    _, history, _ = _fit([5, 4, 4.5, 4.2, 4.1, 3], stop)
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3
    assert stop.best == 4 and stop.best_epoch == 1


def test_early_stopping_min_delta_and_max_mode():
    stop = callbacks.EarlyStopping(
        monitor="score", mode="max", patience=1, min_delta=0.5
    )
    _, history, _ = _fit([1.0, 1.4, 1.45, 3.0], stop)
    # 1.4 and 1.45 are not 0.5 better than 1.0: stop at the second of them
    assert history.epoch == [0, 1] and stop.best == 1.0


def test_restore_best_weights_after_an_early_stop():
    stop = callbacks.EarlyStopping(
        monitor="score", mode="min", patience=1, restore_best_weights=True, verbose=1
    )
    model, history, seen = _fit([3, 1, 2, 2, 2], stop)
    assert history.epoch == [0, 1, 2]
    assert _same(model.get_weights(), seen[1]) and not _same(seen[1], seen[2])


def test_restore_best_weights_also_without_an_early_stop(capsys):
    stop = callbacks.EarlyStopping(
        monitor="score", mode="min", patience=10, restore_best_weights=True, verbose=1
    )
    model, history, seen = _fit([3, 1, 2, 2.5], stop)
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 0
    assert _same(model.get_weights(), seen[1])
    assert not _same(model.get_weights(), seen[3])
    assert "Restoring model weights from the end of the best epoch: 2." in (
        capsys.readouterr().out
    )


def test_early_stopping_baseline():
    # never better than the baseline: patience counts from the first epoch
    stop = callbacks.EarlyStopping(
        monitor="score", mode="min", patience=2, baseline=0.5
    )
    _, history, _ = _fit([1, 1, 1, 1, 1], stop)
    assert history.epoch == [0, 1]
    plain = callbacks.EarlyStopping(monitor="score", mode="min", patience=2)
    _, history, _ = _fit([1, 1, 1, 1, 1], plain)
    assert history.epoch == [0, 1, 2]


def test_early_stopping_start_from_epoch():
    warm = callbacks.EarlyStopping(monitor="score", mode="min", start_from_epoch=2)
    _, history, _ = _fit([1, 2, 3, 4, 5], warm)
    assert history.epoch == [0, 1, 2, 3]
    plain = callbacks.EarlyStopping(monitor="score", mode="min")
    _, history, _ = _fit([1, 2, 3, 4, 5], plain)
    assert history.epoch == [0, 1]


def test_early_stopping_auto_mode_on_real_logs():
    x, y = _data()
    model = _model(metrics=["mae"])
    for monitor in ("val_loss", "val_mae", "loss"):
        stop = callbacks.EarlyStopping(monitor=monitor, patience=0)
        model.fit(x, y, epochs=3, validation_data=(x, y), verbose=0, callbacks=[stop])
        assert stop.direction == "min"
    model = _model(metrics=["accuracy"])
    stop = callbacks.EarlyStopping(monitor="val_accuracy")
    model.fit(
        x, y > 0, epochs=1, validation_data=(x, y > 0), verbose=0, callbacks=[stop]
    )
    assert stop.direction == "max"
    with pytest.raises(ValueError, match="pass mode='max' or mode='min'"):
        _fit([1, 2], callbacks.EarlyStopping(monitor="score"))
    with pytest.warns(UserWarning, match="`nothing`, which is not available"):
        _fit([1, 2], callbacks.EarlyStopping(monitor="nothing", mode="min"))


# -------------------------------------------------------- ReduceLROnPlateau
def test_reduce_lr_on_plateau_with_cooldown_and_min_lr():
    reduce = callbacks.ReduceLROnPlateau(
        monitor="score", factor=0.5, patience=2, cooldown=1, min_lr=0.02
    )
    model, history, _ = _fit([1.0] * 8, reduce)
    # Keras 3: logged before the reduction of that epoch
    expected = [0.05, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02]
    assert history.history["learning_rate"] == pytest.approx(expected)
    assert model.optimizer.learning_rate == pytest.approx(0.02)


def test_reduce_lr_on_plateau_resets_on_improvement():
    reduce = callbacks.ReduceLROnPlateau(monitor="score", factor=0.1, patience=2)
    model, history, _ = _fit([5, 4, 4, 3, 3, 3.00001], reduce)
    # improvements at epochs 1 and 3; the 2nd non-improving epoch after 3 is 5
    assert history.history["learning_rate"] == pytest.approx([0.05] * 6)
    assert model.optimizer.learning_rate == pytest.approx(0.005)
    with pytest.raises(ValueError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.0)


# ---------------------------------------------------- LearningRateScheduler
def test_learning_rate_scheduler_sets_and_logs_the_rate(capsys):
    sched = callbacks.LearningRateScheduler(
        lambda epoch, lr: lr if epoch == 0 else lr * 0.5, verbose=1
    )
    model, history, _ = _fit([0, 0, 0], sched)
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.025." in (
        capsys.readouterr().out
    )


def test_learning_rate_scheduler_one_argument_form_changes_training():
    frozen = callbacks.LearningRateScheduler(lambda epoch: 0.0)
    model, _, seen = _fit([0, 0], frozen)
    untouched = _model()
    untouched(_data()[0][:1])
    assert _same(model.get_weights(), untouched.get_weights())
    with pytest.raises(ValueError, match="should be a float. Got: 'fast'"):
        _fit([0], callbacks.LearningRateScheduler(lambda epoch, lr: "fast"))


# ------------------------------------------------------------ TerminateOnNaN
class Batches:
    """Four batches a pass; the third batch of the second pass holds a NaN."""

    def __init__(self):
        self.passes = 0
        self.x, self.y = _data()

    def __iter__(self):
        self.passes += 1
        for i in range(4):
            xb = self.x[i * 8 : i * 8 + 8].copy()
            if self.passes == 2 and i == 2:
                xb[0, 0] = np.nan
            yield xb, self.y[i * 8 : i * 8 + 8]


def test_terminate_on_nan_reports_epoch_and_batch(capsys):
    calls = []
    spy = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: calls.append(b))
    stop = callbacks.TerminateOnNaN()
    history = _model().fit(Batches(), epochs=5, verbose=0, callbacks=[stop, spy])
    out = capsys.readouterr().out
    assert "Epoch 2, batch 3: invalid loss nan, terminating training" in out
    assert (stop.epoch, stop.batch) == (1, 2)
    assert calls == [0, 1, 2, 3, 0, 1, 2]  # nothing after the bad batch
    assert history.epoch == [0, 1] and np.isnan(history.history["loss"][1])
    with pytest.raises(RuntimeError, match="TerminateOnNaN: Epoch 2, batch 3"):
        _model().fit(
            Batches(),
            epochs=5,
            verbose=0,
            callbacks=[callbacks.TerminateOnNaN(raise_error=True)],
        )


# ------------------------------------------------------------------ CSVLogger
def test_csv_logger_writes_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    x, y = _data()
    model = _model()
    h1 = model.fit(
        x,
        y,
        epochs=2,
        validation_data=(x, y),
        verbose=0,
        callbacks=[callbacks.CSVLogger(path)],
    )
    h2 = model.fit(
        x,
        y,
        epochs=3,
        validation_data=(x, y),
        verbose=0,
        callbacks=[callbacks.CSVLogger(path, append=True)],
    )
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "0", "1", "2"]
    logged = [float(r[1]) for r in rows[1:]]
    assert logged == h1.history["loss"] + h2.history["loss"]
    model.fit(
        x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, separator=";")]
    )
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and lines[0] == "epoch;loss"


# ------------------------------------------------------------- hooks, History
class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def _log(self, name):
        def hook(*args, **kwargs):
            self.events.append(
                name
                if not args or isinstance(args[0], dict) or args[0] is None
                else f"{name} {args[0]}"
            )

        return hook

    def __getattribute__(self, name):
        if name.startswith("on_") and name not in ("on_batch_begin", "on_batch_end"):
            return object.__getattribute__(self, "_log")(name[3:])
        return object.__getattribute__(self, name)

    def _implements(self, hook):
        return True


def test_hook_order_in_fit_evaluate_predict():
    x, y = _data(16)
    model = _model()
    rec = Recorder()
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=8,
        validation_data=(x[:8], y[:8]),
        verbose=0,
        callbacks=[rec],
    )
    assert rec.events == [
        "train_begin",
        "epoch_begin 0",
        "train_batch_begin 0",
        "train_batch_end 0",
        "train_batch_begin 1",
        "train_batch_end 1",
        "test_begin",
        "test_batch_begin 0",
        "test_batch_end 0",
        "test_end",
        "epoch_end 0",
        "train_end",
    ]
    rec.events.clear()
    model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[rec])
    model.predict(x, batch_size=16, verbose=0, callbacks=[rec])
    assert rec.events == [
        "test_begin",
        "test_batch_begin 0",
        "test_batch_end 0",
        "test_end",
        "predict_begin",
        "predict_batch_begin 0",
        "predict_batch_end 0",
        "predict_end",
    ]


def test_batch_logs_params_and_stop_training():
    x, y = _data(32)
    model = _model()
    seen = {}

    class Probe(Callback):
        def on_train_begin(self, logs=None):
            seen["params"] = dict(self.params)

        def on_train_batch_end(self, batch, logs=None):
            seen.setdefault("batches", []).append((batch, dict(logs)))
            if batch == 1:
                self.model.stop_training = True

        def on_predict_batch_end(self, batch, logs=None):
            seen["outputs"] = logs["outputs"].shape

    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[Probe()])
    assert seen["params"] == {"verbose": 0, "epochs": 3, "steps": 4}
    assert [b for b, _ in seen["batches"]] == [0, 1]  # stopped after batch 1
    assert seen["batches"][1][1]["loss"] == history.history["loss"][0]
    assert model.history is history and history.epoch == [0]
    model.predict(x, batch_size=32, verbose=0, callbacks=[Probe()])
    assert seen["outputs"] == (32, 1)


def test_lambda_callback_and_bad_callbacks():
    events = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("begin"),
        on_epoch_end=lambda epoch, logs: events.append(round(logs["loss"], 6)),
        on_batch_end=lambda batch, logs: events.append(batch),
    )
    x, y = _data(16)
    history = _model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    losses = [round(v, 6) for v in history.history["loss"]]
    assert events == ["begin", 0, 1, losses[0], 0, 1, losses[1]]
    with pytest.raises(TypeError, match="unknown hook"):
        callbacks.LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match="Callback instances, got builtin_function"):
        _model().fit(x, y, verbose=0, callbacks=[print])


# ------------------------------------------------------------------ progress
_LINE = (
    r"Epoch (\d+)/3 - \d+s - \d+(?:us|ms|s)/step - loss: (\d+\.\d{4}) - "
    r"mae: (\d+\.\d{4}) - val_loss: (\d+\.\d{4}) - val_mae: (\d+\.\d{4})"
)


def test_verbose_2_prints_one_exact_line_per_epoch(capsys):
    x, y = _data()
    history = _model(metrics=["mae"]).fit(
        x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=2
    )
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines):
        match = re.fullmatch(_LINE, line)
        assert match, line
        assert int(match[1]) == epoch + 1
        for key, value in zip(
            ("loss", "mae", "val_loss", "val_mae"), match.groups()[1:]
        ):
            assert value == f"{history.history[key][epoch]:.4f}"


def test_auto_verbose_is_2_when_stdout_is_not_a_terminal(capsys):
    x, y = _data()
    _model(metrics=["mae"]).fit(x, y, epochs=3, validation_split=0.25)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(re.fullmatch(_LINE, line) for line in lines)


def test_verbose_1_draws_a_bar_with_steps_time_and_running_values(capsys):
    x, y = _data()
    history = _model(metrics=["mae"]).fit(x, y, epochs=2, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2\n" in out and "Epoch 2/2\n" in out
    assert "4/4" in out and re.search(r"\d+(us|ms|s)/step", out)
    final = (
        f"loss: {history.history['loss'][1]:.4f} - mae: {history.history['mae'][1]:.4f}"
    )
    assert final in out


def test_verbose_0_is_silent_and_evaluate_predict_lines(capsys):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    loss = model.evaluate(x, y, batch_size=8, verbose=2)
    model.predict(x, batch_size=8, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"4/4 - \d+s - \d+(us|ms|s)/step - loss: (\d\.\d{4})", lines[0])
    assert lines[0].endswith(f"loss: {loss:.4f}")
    assert re.fullmatch(r"4/4 - \d+s - \d+(us|ms|s)/step", lines[1])


def test_number_and_time_formats():
    assert callbacks.format_value(0.5) == "0.5000"
    assert callbacks.format_value(-2.25) == "-2.2500"
    assert callbacks.format_value(2e-4) == "2.0000e-04"
    assert callbacks.format_time_per_step(2.4) == "2s/step"
    assert callbacks.format_time_per_step(0.0123) == "12ms/step"
    assert callbacks.format_time_per_step(4e-5) == "40us/step"
