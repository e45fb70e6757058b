"""ModelCheckpoint and BackupAndRestore (resuming bitwise after a kill)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numdl
from numdl import callbacks, layers, models
from numdl.backend import to_numpy


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64")


def _model():
    model = models.Sequential(
        [
            layers.Input((6,)),
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.3),
            layers.GaussianNoise(0.1, seed=5),  # its own generator
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


# ---------------------------------------------------------- ModelCheckpoint
def test_checkpoint_every_epoch_with_formatted_names(tmp_path):
    numdl.config.set_random_seed(0)
    model, (x, y) = _model(), _data()
    pattern = str(tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.4f}.numdl")
    history = model.fit(
        x, y, epochs=3, validation_split=0.2, verbose=0,
        callbacks=[callbacks.ModelCheckpoint(pattern)],
    )  # fmt: skip
    expected = [
        f"m-{e + 1:02d}-{v:.4f}.numdl"
        for e, v in enumerate(history.history["val_loss"])
    ]
    assert sorted(os.listdir(tmp_path / "ckpt")) == expected
    last = models.load_model(tmp_path / "ckpt" / expected[-1])
    for a, b in zip(model.get_weights(), last.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_save_best_only(tmp_path):
    numdl.config.set_random_seed(1)
    model, (x, y) = _model(), _data()
    model.optimizer.learning_rate = 0.05  # a bumpy val_loss
    pattern = str(tmp_path / "best-{epoch}.weights.npz")
    cb = callbacks.ModelCheckpoint(pattern, save_best_only=True, save_weights_only=True)
    history = model.fit(
        x, y, epochs=8, batch_size=8, validation_split=0.3, verbose=0, callbacks=[cb]
    )
    val, best, improved = history.history["val_loss"], np.inf, []
    for epoch, value in enumerate(val):
        if value < best:
            best, improved = value, improved + [epoch + 1]
    saved = sorted(int(n[5:-12]) for n in os.listdir(tmp_path))
    assert saved == improved and cb.best == min(val)
    assert len(improved) < len(val)  # some epochs did not improve: not saved


def test_checkpoint_max_mode_and_initial_threshold(tmp_path):
    numdl.config.set_random_seed(2)
    model, (x, y) = _model(), _data()
    cb = callbacks.ModelCheckpoint(
        str(tmp_path / "m.numdl"),
        monitor="val_accuracy",
        save_best_only=True,
        initial_value_threshold=1.01,  # unbeatable: never saved
    )
    model.fit(x, y, epochs=2, validation_split=0.2, verbose=0, callbacks=[cb])
    assert not os.listdir(tmp_path) and cb.direction == "max"


def test_checkpoint_every_n_batches(tmp_path):
    numdl.config.set_random_seed(3)
    model, (x, y) = _model(), _data(n=100)  # 4 batches of 32 per epoch
    pattern = str(tmp_path / "e{epoch}-b{batch}.weights.safetensors")
    cb = callbacks.ModelCheckpoint(pattern, save_weights_only=True, save_freq=3)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    # batches 1..12 overall; every third: (1,3), (2,2), (3,1), (3,4)
    assert sorted(os.listdir(tmp_path)) == sorted(
        f"e{e}-b{b}.weights.safetensors" for e, b in [(1, 3), (2, 2), (3, 1), (3, 4)]
    )


def test_checkpoint_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="must end in `.numdl` or `.keras`"):
        callbacks.ModelCheckpoint(str(tmp_path / "m.h5"))
    with pytest.raises(ValueError, match=".weights.safetensors"):
        callbacks.ModelCheckpoint(str(tmp_path / "m.numdl"), save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint(str(tmp_path / "m.numdl"), save_freq=0)
    numdl.config.set_random_seed(0)
    model, (x, y) = _model(), _data()
    bad = callbacks.ModelCheckpoint(str(tmp_path / "{nope}.numdl"))
    with pytest.raises(KeyError, match="Failed to format"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[bad])
    missing = callbacks.ModelCheckpoint(str(tmp_path / "m.numdl"), save_best_only=True)
    with pytest.warns(UserWarning, match="only with val_loss available"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[missing])


# --------------------------------------------------------- BackupAndRestore
# Bitwise resumption is checked on the CPU: the GPU's generator (dropout masks
# drawn on the device) is not part of a backup.
@pytest.fixture
def cpu():
    numdl.config.set_backend("numpy")  # conftest restores the default device


class _Interrupt(Exception):
    pass


class _InterruptAt(callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at, self.epoch = at, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise _Interrupt


def _run(backup, save_freq, interrupt_at=None, double=False):
    """A fresh process's view: same seed, new model, the same fit call."""
    numdl.config.set_random_seed(7)
    model, (x, y) = _model(), _data()
    extra = [] if interrupt_at is None else [_InterruptAt(interrupt_at)]
    cb = callbacks.BackupAndRestore(backup, save_freq, double_checkpoint=double)
    history = model.fit(
        x, y, batch_size=16, epochs=3, validation_split=0.2, verbose=0,
        callbacks=[cb, *extra],
    )  # fmt: skip
    return model, history


def _final(model, history):
    state = model.optimizer.state_of(model.trainable_weights)
    return (
        [w.copy() for w in model.get_weights()],
        {k: np.array(to_numpy(v)) for k, v in state.items()},
        json.dumps([history.history, history.epoch]),
        json.dumps(numdl.config.rng().bit_generator.state),
    )


def _assert_identical(a, b):
    for u, v in zip(a[0], b[0], strict=True):
        np.testing.assert_array_equal(u, v)
    assert a[1].keys() == b[1].keys()
    for key in a[1]:
        np.testing.assert_array_equal(a[1][key], b[1][key])
    assert a[2] == b[2] and a[3] == b[3]


@pytest.mark.parametrize("save_freq", [4, "epoch"])
def test_interrupted_fits_resume_bitwise(tmp_path, cpu, save_freq):
    reference = _final(*_run(tmp_path / "ref", save_freq))
    assert not (tmp_path / "ref").exists()  # removed after a normal end
    # 96 training samples: 6 batches per epoch; interrupt at many points,
    # twice in a row for one of them.
    for case, points in enumerate([[(0, 0)], [(0, 5)], [(1, 2)], [(2, 1), (2, 5)]]):
        backup = tmp_path / f"b{case}"
        for point in points:
            with pytest.raises(_Interrupt):
                _run(backup, save_freq, point)
        _assert_identical(_final(*_run(backup, save_freq)), reference)
        assert not backup.exists()


def test_a_resumed_run_really_restarts_from_the_backup(tmp_path, cpu):
    # Without the backup, a second run repeats the first epochs: different RNG.
    reference = _final(*_run(tmp_path / "ref", 4))
    with pytest.raises(_Interrupt):
        _run(tmp_path / "b", 4, (1, 2))
    os.remove(tmp_path / "b" / "backup.numdl-backup")
    fresh = _final(*_run(tmp_path / "b", 4))
    _assert_identical(fresh, reference)  # same seed, whole run: identical too
    with pytest.raises(_Interrupt):
        _run(tmp_path / "c", 4, (1, 2))
    numdl.config.set_random_seed(7)
    model, (x, y) = _model(), _data()
    cb = callbacks.BackupAndRestore(tmp_path / "c", save_freq=4)
    history = model.fit(
        x, y, batch_size=16, epochs=3, validation_split=0.2, verbose=0, callbacks=[cb]
    )
    assert history.epoch == [0, 1, 2]  # epoch 0 came back from the backup


def test_double_checkpoint_falls_back_to_the_previous_backup(tmp_path, cpu):
    reference = _final(*_run(tmp_path / "ref", 4))
    with pytest.raises(_Interrupt):
        _run(tmp_path / "b", 4, (1, 4), double=True)
    latest = tmp_path / "b" / "backup.numdl-backup"
    assert (tmp_path / "b" / "previous.numdl-backup").exists()
    latest.write_bytes(latest.read_bytes()[:-100])  # damaged
    with pytest.warns(UserWarning, match="restoring the previous backup"):
        resumed = _final(*_run(tmp_path / "b", 4, double=True))
    _assert_identical(resumed, reference)
    assert not (tmp_path / "b").exists()
    # without double_checkpoint a damaged backup is an error naming it
    with pytest.raises(_Interrupt):
        _run(tmp_path / "c", 4, (1, 4))
    damaged = tmp_path / "c" / "backup.numdl-backup"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    with pytest.raises(ValueError, match="backup.numdl-backup"):
        _run(tmp_path / "c", 4)


_SCRIPT = """
import json, os, signal, sys
import numpy as np
import numdl
from numdl import callbacks, layers, models

backup, out, kill_epoch, kill_batch, save_freq = sys.argv[1:6]
save_freq = save_freq if save_freq == "epoch" else int(save_freq)

class Kill(callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (int(kill_epoch), int(kill_batch)):
            os.kill(os.getpid(), signal.SIGKILL)

numdl.config.set_random_seed(1)
rng = np.random.default_rng(0)
x = rng.normal(size=(200, 6)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int64")
model = models.Sequential([layers.Input((6,)), layers.Dense(16, activation="relu"),
    layers.Dropout(0.3), layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
    metrics=["accuracy"])
history = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.1, verbose=0,
    callbacks=[callbacks.BackupAndRestore(backup, save_freq=save_freq), Kill()])
state = model.optimizer.state_of(model.trainable_weights)
arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
arrays.update({"opt_" + k.replace("/", "_"): np.array(v) for k, v in state.items()})
text = json.dumps([history.history, history.epoch,
                   numdl.config.rng().bit_generator.state])
arrays["text"] = np.frombuffer(text.encode(), np.uint8)
np.savez(out, **arrays)
"""


def test_sigkilled_fit_resumes_bitwise_in_a_new_process(tmp_path, cpu):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(_SCRIPT))

    def run(backup, out, kill, save_freq=5):
        cmd = [
            sys.executable,
            str(script),
            str(backup),
            str(out),
            *kill,
            str(save_freq),
        ]
        env = {**os.environ, "NUMDL_BACKEND": "numpy"}
        return subprocess.run(cmd, capture_output=True, timeout=120, env=env).returncode

    assert run(tmp_path / "ref", tmp_path / "ref.npz", ("9", "0")) == 0
    # 180 training samples: 12 batches per epoch; a backup every 5 batches.
    assert run(tmp_path / "b", tmp_path / "x.npz", ("1", "8")) == -9  # SIGKILL
    assert (tmp_path / "b" / "backup.numdl-backup").exists()
    assert not (tmp_path / "x.npz").exists()
    assert run(tmp_path / "b", tmp_path / "x.npz", ("9", "0")) == 0
    ref, resumed = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "x.npz")
    assert sorted(ref.files) == sorted(resumed.files)
    for key in ref.files:
        np.testing.assert_array_equal(ref[key], resumed[key], err_msg=key)
    assert not (tmp_path / "b").exists()


def test_damaged_backups_are_refused_by_name(tmp_path, cpu):
    from benchmarks.bench_saving import KINDS, mutate
    from numdl.saving.callbacks import _load_backup

    with pytest.raises(_Interrupt):
        _run(tmp_path / "b", 4, (1, 2))
    path = tmp_path / "b" / "backup.numdl-backup"
    valid = path.read_bytes()
    numdl.config.set_random_seed(7)
    model = _model()
    model.build((None, 6))
    rng = np.random.default_rng(5)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(240):
        kind = KINDS[i % len(KINDS)]
        payload = rng.bytes(int(rng.integers(1, 9)))
        path.write_bytes(mutate(valid, kind, int(rng.integers(2**31)), payload))
        try:
            _load_backup(model, str(path))
            outcomes["loaded"] += 1
        except ValueError as e:
            assert str(path) in str(e)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 5, outcomes
