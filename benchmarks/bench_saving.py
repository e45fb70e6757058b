"""Reliability figures for model files: kills, fuzzing, the largest model.

``python -m benchmarks.bench_saving`` measures three things (issue 7):

1. **Kill trials**: a forked writer saves a model again and again (every
   weight set to the save's number) and is killed with SIGKILL after a
   random delay; the file left must load and hold one save, never a mix.
2. **Fuzzing**: valid files (``.numdl`` with safetensors and with npz
   weights, ``.weights.safetensors``, ``.weights.npz``) are mutated (bytes
   flipped, cut, inserted or overwritten; bytes inside a zip entry changed
   with the CRC made valid again; values in the JSON entry or in the
   safetensors header replaced) and loaded: each load must succeed or raise
   a ``ValueError`` naming the file, never anything else, within a time bound.
   Backups of ``BackupAndRestore`` are fuzzed the same way, through ``fit``.
3. **The largest model**: a model of >= 50M parameters is saved and loaded
   in a fresh process; the peak RSS growth during ``save`` (``VmHWM`` after
   the save minus ``VmRSS`` before it, with the peak reset through
   ``/proc/self/clear_refs``) is compared with the weights' size, and the
   loaded weights with the saved ones.

The mutation primitives and the kill trials are also used by the tests
(``tests/test_saving_fuzz.py``, ``tests/test_saving_atomic.py``), which run
a few hundred cases; this script runs thousands. Linux only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

KINDS = (
    "flip",
    "truncate",
    "insert",
    "overwrite",
    "entry_flip",
    "entry_truncate",
    "config",
    "header",
)
TARGETS = ("numdl_safetensors", "numdl_npz", "weights_safetensors", "weights_npz")
TIME_BOUND_S = 5.0


# ------------------------------------------------------------ valid files
def small_model() -> Any:
    """A compiled, trained little model: Dense, BatchNormalization, Dropout."""
    import numdl
    from numdl import layers, models

    numdl.config.set_random_seed(0)
    model = models.Sequential(
        [
            layers.Input((4,)),
            layers.Dense(5, activation="relu"),
            layers.BatchNormalization(),
            layers.Dropout(0.1),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model.fit(x, (x[:, 0] > 0).astype("int64"), epochs=1, verbose=0)
    return model


def valid_files(model: Any, folder: str) -> dict[str, bytes]:
    """The bytes of one valid file per fuzz target."""
    paths = {
        "numdl_safetensors": os.path.join(folder, "valid_s.numdl"),
        "numdl_npz": os.path.join(folder, "valid_n.numdl"),
        "weights_safetensors": os.path.join(folder, "valid.weights.safetensors"),
        "weights_npz": os.path.join(folder, "valid.weights.npz"),
    }
    model.save(paths["numdl_safetensors"], weights_format="safetensors")
    model.save(paths["numdl_npz"], weights_format="npz")
    model.save_weights(paths["weights_safetensors"])
    model.save_weights(paths["weights_npz"])
    out = {}
    for target, path in paths.items():
        with open(path, "rb") as f:
            out[target] = f.read()
    return out


def file_name(target: str) -> str:
    """The name a fuzzed file of ``target`` is written under."""
    return {
        "numdl_safetensors": "fuzzed_s.numdl",
        "numdl_npz": "fuzzed_n.numdl",
        "weights_safetensors": "fuzzed.weights.safetensors",
        "weights_npz": "fuzzed.weights.npz",
    }[target]


# -------------------------------------------------------------- mutations
def mutate(data: bytes, kind: str, position: int, payload: bytes) -> bytes:
    """Apply one mutation: ``position`` and ``payload`` say where and what.

    >>> mutate(b"abcd", "flip", 1, b"\\x01")
    b'accd'
    """
    if not data:
        return payload
    at = position % (len(data) + 1)
    if kind == "flip":
        at = position % len(data)
        return data[:at] + bytes([data[at] ^ (payload[0] or 1)]) + data[at + 1 :]
    if kind == "truncate":
        return data[:at]
    if kind == "insert":
        return data[:at] + payload + data[at:]
    if kind == "overwrite":
        return data[:at] + payload + data[at + len(payload) :]
    if kind in ("entry_flip", "entry_truncate", "config"):
        return _mutate_entry(data, kind, position, payload)
    if kind == "header":
        return _mutate_safetensors_header(data, position, payload)
    raise ValueError(f"mutate: unknown kind {kind!r}")


def _mutate_entry(data: bytes, kind: str, position: int, payload: bytes) -> bytes:
    """Change one zip entry and write the archive again (valid CRCs)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            entries = [(i.filename, zf.read(i)) for i in zf.infolist()]
    except zipfile.BadZipFile:  # not a zip (a safetensors file): flip instead
        return mutate(data, "flip", position, payload)
    index = position % len(entries)
    name, content = entries[index]
    if kind == "config":
        index = next((i for i, e in enumerate(entries) if e[0].endswith(".json")), -1)
        if index < 0:  # weights-only archive (.npz): change an array entry
            return _mutate_entry(data, "entry_flip", position, payload)
        name, content = entries[index]
        content = _mutate_json(content, position // 7, payload)
    elif kind == "entry_flip" and content:
        at = (position // 7) % len(content)
        flipped = bytes([content[at] ^ (payload[0] or 1)])
        content = content[:at] + flipped + content[at + 1 :]
    elif kind == "entry_truncate":
        content = content[: (position // 7) % (len(content) + 1)]
    entries[index] = (name, content)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for entry_name, entry_data in entries:
            zf.writestr(entry_name, entry_data)
    return out.getvalue()


def _mutate_json(text: bytes, position: int, payload: bytes) -> bytes:
    """Replace one node of a JSON document by a value made from ``payload``."""
    document = json.loads(text)
    nodes = list(_json_nodes(document))
    parent, key = nodes[position % len(nodes)]
    if parent is None:
        return json.dumps(json_value(payload)).encode()
    parent[key] = json_value(payload)
    return json.dumps(document).encode()


def _json_nodes(node: Any) -> Any:
    """``(parent, key)`` for every value of a JSON tree (the root: None)."""
    yield None, None
    stack = [node]
    while stack:
        current = stack.pop()
        children = (
            current.items()
            if isinstance(current, dict)
            else enumerate(current)
            if isinstance(current, list)
            else ()
        )
        for key, value in children:
            yield current, key
            stack.append(value)


_NAMES = ("os.system", "Dense", "Lambda", "__import__", "relu", "Functional", "")


def json_value(payload: bytes) -> Any:
    """A JSON value chosen by the payload's bytes (small numbers: a config
    can ask for a large layer, which is allocated before being refused).

    >>> json_value(b"\\x00\\x07")
    7
    """
    choice, rest = payload[0] % 11, payload[1:] or b"\x00"
    small = rest[0] % 101
    values = [
        small,
        -small,
        small / 7,
        float("nan"),
        None,
        bool(small % 2),
        _NAMES[small % len(_NAMES)],
        rest.decode("latin-1"),
        [small % 9, None][: small % 3],
        {"class_name": _NAMES[small % len(_NAMES)], "config": {}},
        {},
    ]
    return values[choice]


def _mutate_safetensors_header(data: bytes, position: int, payload: bytes) -> bytes:
    """Replace a value in a safetensors header (the length fixed up)."""
    if data[:2] == b"PK":  # a zip: mutate the tensors entry's header inside it
        return _mutate_entry(data, "entry_flip", position, payload)
    if len(data) < 8:
        return data
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, UnicodeDecodeError):
        return mutate(data, "flip", position, payload)
    blob = _mutate_json(json.dumps(header).encode(), position, payload)
    return len(blob).to_bytes(8, "little") + blob + data[8 + n :]


# ---------------------------------------------------------------- loading
def load_outcome(path: str, target: str, template: Any) -> str:
    """Load ``path``: ``"loaded"`` or ``"refused"`` (a ValueError naming it).

    Any other exception propagates; a ValueError that does not name the file
    raises AssertionError.
    """
    from numdl import models

    try:
        if target.startswith("numdl"):
            models.load_model(path)
        else:
            template.load_weights(path)
    except ValueError as e:
        if path not in str(e):
            raise AssertionError(f"the error does not name the file: {e}") from e
        return "refused"
    return "loaded"


def fuzz_campaign(
    n: int, seed: int, folder: str, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Load ``n`` mutated files; count outcomes, unexpected errors, max time."""
    import warnings

    model = small_model()
    valid = valid_files(model, folder)
    rng = np.random.default_rng(seed)
    outcomes: Counter[str] = Counter()
    by_kind: Counter[tuple[str, str]] = Counter()
    unexpected: list[str] = []
    slowest = 0.0
    for i in range(n):
        target = TARGETS[i % len(TARGETS)]
        kind = KINDS[int(rng.integers(len(KINDS)))]
        position = int(rng.integers(2**31))
        payload = rng.bytes(int(rng.integers(1, 17)))
        path = os.path.join(folder, file_name(target))
        with open(path, "wb") as f:
            f.write(mutate(valid[target], kind, position, payload))
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome = load_outcome(path, target, model)
            outcomes[outcome] += 1
            by_kind[kind, outcome] += 1
        except Exception as e:  # an unexpected error is the finding
            unexpected.append(f"{target}/{kind}: {type(e).__name__}: {e}"[:300])
        slowest = max(slowest, time.perf_counter() - start)
        if progress is not None:
            progress(i)
    return {
        "outcomes": dict(outcomes),
        "by_kind": {f"{k}: {o}": n for (k, o), n in sorted(by_kind.items())},
        "unexpected": unexpected,
        "slowest_s": slowest,
    }


class _Interrupt(Exception):
    pass


def _backup_fit(folder: str, interrupt_at: tuple[int, int] | None = None) -> Any:
    """A small fit with ``BackupAndRestore(folder, save_freq=3)``."""
    import numdl
    from numdl import callbacks

    class InterruptAt(callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if (self.epoch, batch) == interrupt_at:
                raise _Interrupt

    model = small_model()
    numdl.config.set_random_seed(1)
    x = np.random.default_rng(1).normal(size=(64, 4)).astype("float32")
    cbs = [callbacks.BackupAndRestore(folder, save_freq=3), InterruptAt()]
    model.fit(x, (x[:, 1] > 0).astype("int64"), batch_size=8, epochs=2, verbose=0,
              validation_split=0.25, callbacks=cbs)  # fmt: skip
    return model


def backup_fuzz_campaign(n: int, seed: int, folder: str) -> dict[str, Any]:
    """Resume ``fit`` from ``n`` mutated backups: it resumes or raises a
    ValueError naming the backup, never anything else."""
    import warnings

    backup = os.path.join(folder, "backup")
    try:
        _backup_fit(backup, (1, 2))
    except _Interrupt:
        pass
    path = os.path.join(backup, "backup.numdl-backup")
    with open(path, "rb") as f:
        valid = f.read()
    rng = np.random.default_rng(seed)
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        data = mutate(valid, kind, int(rng.integers(2**31)), rng.bytes(8))
        os.makedirs(backup, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _backup_fit(backup)
            outcomes["resumed"] += 1
        except ValueError as e:
            outcomes["refused"] += 1
            if path not in str(e):
                unexpected.append(f"{kind}: error without the file's name: {e}")
        except Exception as e:  # an unexpected error is the finding
            unexpected.append(f"{kind}: {type(e).__name__}: {e}"[:300])
    return {"outcomes": dict(outcomes), "unexpected": unexpected}


# ------------------------------------------------------------ kill trials
def kill_trials(
    save: Callable[[Any], None],
    load: Callable[[], list[np.ndarray]],
    model: Any,
    trials: int,
    folder: str,
    seed: int = 1234,
) -> tuple[list[float], int]:
    """SIGKILL a forked writer at random moments; check the file each time.

    The kill comes a log-uniform random delay (1% to 10 times a save's
    duration) after the child is ready. The writer sets every weight to its
    save's number before saving; after
    each kill the file must load with one number throughout, no older than
    the last one seen. Returns the number seen after each trial, and how many
    kills fell inside a write (they left a temporary file behind).
    """
    for w in model.weights:
        w.data[...] = 0
    save(model)
    start = time.perf_counter()
    save(model)
    seconds = time.perf_counter() - start
    rng = random.Random(seed)
    seen, versions, mid_write = 0.0, [], 0
    for _ in range(trials):
        ready, signal_ready = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready)
            _writer(model, save, int(seen), signal_ready)
        os.close(signal_ready)
        os.read(ready, 1)  # the child is set up (its pages copied): time from here
        os.close(ready)
        time.sleep(seconds * 10 ** rng.uniform(-2, 1))  # 1% to 10x of a save
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        version = _single_version(load())
        assert version >= seen, f"went back from save {seen} to {version}"
        seen = version
        versions.append(version)
        leftovers = [n for n in os.listdir(folder) if n.endswith(".tmp")]
        mid_write += bool(leftovers)
        for name in leftovers:  # a killed save's temporary file
            os.unlink(os.path.join(folder, name))
    return versions, mid_write


def _writer(model: Any, save: Callable[[Any], None], start: int, ready: int) -> None:
    try:
        version = start
        while True:
            version += 1
            for w in model.weights:
                w.data[...] = version
            if ready >= 0:
                os.write(ready, b"x")
                os.close(ready)
                ready = -1
            save(model)
    finally:
        os._exit(0)


def _single_version(values: list[np.ndarray]) -> float:
    flat = np.concatenate([v.ravel() for v in values])
    assert np.all(flat == flat[0]), "a torn file: weights from two saves"
    return float(flat[0])


def kill_model() -> Any:
    """~1 MB of weights: a save takes a few milliseconds."""
    from numdl import layers, models

    return models.Sequential(
        [layers.Input((256,)), layers.Dense(512), layers.Dense(256)]
    )


# ---------------------------------------------------------- largest model
_MEMORY_CHILD = """
import json, os, sys, time, tracemalloc
import numpy as np
import numdl
from numdl import layers, models

width, depth, path, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
numdl.config.set_random_seed(0)
model = models.Sequential([layers.Input((width,))] +
    [layers.Dense(width) for _ in range(depth)])
if mode == "adam":
    model.compile("adam", "mse")
    x = np.ones((2, width), "float32")
    model.train_on_batch(x, x)
weights = sum(w.data.nbytes for w in model.weights)
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM to the current RSS
tracemalloc.start()
start = time.perf_counter()
if mode == "library":  # the control: the file's bytes built in memory first
    from safetensors.numpy import save
    with open(path, "wb") as f:
        f.write(save({w.path + str(i): w.data for i, w in enumerate(model.weights)}))
else:
    model.save(path, weights_format="npz" if mode == "npz" else None)
save_s = time.perf_counter() - start
peak = status("VmHWM")
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
load_s, same, load_growth = float("nan"), None, float("nan")
if mode != "library":
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    start = time.perf_counter()
    loaded = models.load_model(path)
    load_s = time.perf_counter() - start
    load_growth = status("VmHWM") - before
    pairs = zip(model.weights, loaded.weights)
    same = all(np.array_equal(a.data, b.data) for a, b in pairs)
print(json.dumps({"params": model.count_params(), "weights_bytes": weights,
    "file_bytes": os.path.getsize(path), "peak_growth": peak - before,
    "traced_peak": traced,
    "save_s": save_s, "load_s": load_s, "load_growth": load_growth,
    "identical": same}))
"""


def largest_model(width: int, depth: int, folder: str, mode: str) -> dict[str, Any]:
    """Save (``mode``: "plain", "adam", "npz" or the "library" control) and load a
    ``depth`` x Dense(``width``) model in a fresh process."""
    path = os.path.join(folder, "large.numdl")
    cmd = [sys.executable, "-c", _MEMORY_CHILD, str(width), str(depth), path, mode]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    os.unlink(path)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=2400, help="fuzzed files")
    parser.add_argument("--kills", type=int, default=500, help="kill trials")
    parser.add_argument("--backups", type=int, default=2000, help="fuzzed backups")
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        report_kills(args.kills, folder)
        report_fuzz(args.fuzz, folder)
        report_backup_fuzz(args.backups, folder)
        if not args.skip_large:
            report_large(args.width, args.depth, folder)


def report_kills(trials: int, folder: str) -> None:
    from numdl import models

    path = os.path.join(folder, "killed.numdl")
    start = time.perf_counter()
    versions, mid_write = kill_trials(
        lambda m: m.save(path),
        lambda: models.load_model(path).get_weights(),
        kill_model(),
        trials,
        folder,
    )
    seconds = time.perf_counter() - start
    print("## Kill trials (SIGKILL of a writer saving a 1 MB .numdl)\n")
    print(f"- trials: {len(versions)}; after each, the file loaded whole")
    print(f"- kills inside a write (a temporary file left): {mid_write}")
    print(f"- distinct saves found after the kills: {len(set(versions))}")
    print(f"- time: {seconds:.1f} s\n")


def report_fuzz(n: int, folder: str) -> None:
    start = time.perf_counter()
    result = fuzz_campaign(n, seed=2026, folder=folder)
    seconds = time.perf_counter() - start
    print("## Fuzzing (mutated files loaded)\n")
    print(f"- files: {n} ({', '.join(TARGETS)}; mutations: {', '.join(KINDS)})")
    print(f"- outcomes: {result['outcomes']}")
    print(f"- by mutation: {result['by_kind']}")
    print(f"- unexpected exceptions: {len(result['unexpected'])}")
    for line in result["unexpected"][:10]:
        print(f"  - {line}")
    print(
        f"- slowest load: {result['slowest_s'] * 1000:.1f} ms; total {seconds:.1f} s\n"
    )


def report_backup_fuzz(n: int, folder: str) -> None:
    start = time.perf_counter()
    result = backup_fuzz_campaign(n, seed=7, folder=folder)
    print("## Fuzzing BackupAndRestore (fit resumed from mutated backups)\n")
    print(f"- backups: {n}; outcomes: {result['outcomes']}")
    print(f"- unexpected exceptions: {len(result['unexpected'])}")
    for line in result["unexpected"][:10]:
        print(f"  - {line}")
    print(f"- time: {time.perf_counter() - start:.1f} s\n")


def report_large(width: int, depth: int, folder: str) -> None:
    print("## Largest model round trip (fresh process)\n")
    print(
        "| save | params | weights | file | peak RSS growth in save "
        "| / weights | tracemalloc peak in save | save | load "
        "| peak RSS growth in load | identical |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    names = {
        "plain": "model.save",
        "adam": "model.save, with Adam state",
        "npz": "model.save, .npz weights (no safetensors)",
        "library": "control: bytes from safetensors.numpy.save",
    }
    mib = 2**20
    for mode, name in names.items():
        r = largest_model(width, depth, folder, mode)
        print(
            f"| {name} | {r['params']:,} | {r['weights_bytes'] / mib:.0f} MiB "
            f"| {r['file_bytes'] / mib:.0f} MiB | {r['peak_growth'] / mib:.1f} MiB "
            f"| {r['peak_growth'] / r['weights_bytes']:.3f} "
            f"| {r['traced_peak'] / mib:.2f} MiB | {r['save_s']:.2f} s "
            f"| {r['load_s']:.2f} s | {r['load_growth'] / mib:.0f} MiB "
            f"| {r['identical']} |"
        )
    print(
        f"\n({depth} x Dense({width}), float32. Loading builds the model (one "
        "copy of the weights), then reads the tensors (a second) and copies "
        "them in.)\n"
    )


if __name__ == "__main__":
    main()
