"""Killing a writer at random moments leaves the old file or the new one.

A forked child (numdl already imported, so a trial costs milliseconds) saves
the same model again and again, every weight set to the save's number; the
parent kills it with SIGKILL after a random delay and loads what is left: it
must load, and all its weights must hold one save number, no older than the
last one seen (``benchmarks.bench_saving.kill_trials``, which the benchmark
runs for hundreds of trials). Linux only (fork, SIGKILL). On the CPU backend
whatever the session's default: a forked child cannot use CUDA, and these
tests are about files.
"""

from __future__ import annotations

import os

import pytest

import numdl
from benchmarks.bench_saving import kill_model, kill_trials
from numdl import models


@pytest.fixture(autouse=True)
def _cpu():
    numdl.config.set_backend("numpy")  # conftest restores the default device


def test_killed_model_saves_leave_a_whole_file(tmp_path):
    path = tmp_path / "m.numdl"
    versions, mid_write = kill_trials(
        lambda m: m.save(path),
        lambda: models.load_model(path).get_weights(),
        kill_model(),
        trials=60,
        folder=str(tmp_path),
    )
    assert len(versions) == 60
    # the kills fell before, inside and after writes (loose bounds: timing
    # on a busy machine varies; the benchmark reports the counts)
    assert len(set(versions)) >= 3 and mid_write >= 3
    assert os.listdir(tmp_path) == ["m.numdl"]


def test_killed_weight_saves_leave_a_whole_file(tmp_path):
    path = tmp_path / "w.weights.safetensors"
    target = kill_model()

    def load():
        target.load_weights(path)
        return target.get_weights()

    versions, _ = kill_trials(
        lambda m: m.save_weights(path), load, kill_model(), 20, str(tmp_path)
    )
    assert len(set(versions)) >= 2
    assert os.listdir(tmp_path) == ["w.weights.safetensors"]


def test_a_torn_file_would_be_caught(tmp_path, monkeypatch):
    # The check has teeth: with plain (non-atomic) writes the trials fail.
    import contextlib

    from numdl.saving import model_io

    @contextlib.contextmanager
    def in_place(path):
        with open(path, "wb") as f:
            yield f

    monkeypatch.setattr(model_io, "atomic_write", in_place)
    path = tmp_path / "m.numdl"
    failures = 0
    for seed in range(3):
        try:
            kill_trials(
                lambda m: m.save(path),
                lambda: models.load_model(path).get_weights(),
                kill_model(),
                trials=30,
                folder=str(tmp_path),
                seed=seed,
            )
        except (ValueError, AssertionError):
            failures += 1
    assert failures > 0
