"""Killing a writer at random moments leaves the old file or the new one.

A forked child (numdl already imported, so a trial costs milliseconds) saves
the same model again and again, every weight set to the save's number; the
parent kills it with SIGKILL after a random delay and loads what is left:
it must load, and all its weights must hold one save number, no older than
the last one seen. Linux only (fork, SIGKILL).
"""

from __future__ import annotations

import os
import random
import signal
import time

import numpy as np

from numdl import layers, models


def _model():
    return models.Sequential(  # ~1 MB of weights: a save takes a few ms
        [layers.Input((256,)), layers.Dense(512), layers.Dense(256)]
    )


def _version(values: list[np.ndarray]) -> float:
    flat = np.concatenate([v.ravel() for v in values])
    assert np.all(flat == flat[0]), "a torn file: weights from two saves"
    return float(flat[0])


def _writer(model, save, start: int) -> None:
    """The child: save versions start+1, start+2, ... until killed."""
    try:
        version = start
        while True:
            version += 1
            for w in model.weights:
                w.data[...] = version
            save(model)
    finally:
        os._exit(0)


def _kill_trials(tmp_path, save, load, trials: int) -> list[float]:
    model = _model()
    for w in model.weights:
        w.data[...] = 0
    save(model)
    t0 = time.perf_counter()
    save(model)
    seconds = time.perf_counter() - t0
    rng = random.Random(1234)
    seen, versions = 0.0, []
    for _ in range(trials):
        pid = os.fork()
        if pid == 0:
            _writer(model, save, int(seen))
        time.sleep(rng.uniform(0, 3 * seconds))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        version = _version(load())
        assert version >= seen
        seen = version
        versions.append(version)
        for leftover in tmp_path.glob(".*.tmp"):  # a killed save's temporary
            leftover.unlink()
    return versions


def test_killed_model_saves_leave_a_whole_file(tmp_path):
    path = tmp_path / "m.numdl"
    versions = _kill_trials(
        tmp_path,
        lambda m: m.save(path),
        lambda: models.load_model(path).get_weights(),
        trials=60,
    )
    assert len(versions) == 60
    assert len(set(versions)) > 10  # the kills fell at many different moments
    assert os.listdir(tmp_path) == ["m.numdl"]


def test_killed_weight_saves_leave_a_whole_file(tmp_path):
    path = tmp_path / "w.weights.safetensors"
    target = _model()

    def load():
        target.load_weights(path)
        return target.get_weights()

    versions = _kill_trials(tmp_path, lambda m: m.save_weights(path), load, trials=20)
    assert len(set(versions)) > 3
