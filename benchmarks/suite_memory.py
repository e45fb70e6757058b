"""Case 5: peak memory (RSS) of ``fit`` on 60,000 x 784 float32 inputs.

A fresh Python process imports numdl, creates the data (random, float32,
MNIST-shaped, and int64 labels), reads its resident size (the baseline),
then trains the MLP of case 1 (Adam, batch 128, ``verbose=0``) and reads its
peak resident size (``VmHWM`` in ``/proc/self/status``, else
``resource.getrusage``). The process is fresh so no earlier case's memory
counts. ``fit`` should shuffle by index and gather each batch: a copy of the
whole training set per epoch shows as a growth of at least the input's size
(the target allows half of it).
Run alone: ``python -m benchmarks.suite_memory --child 60000 5 2``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import Target, targets_table

MB = 2**20
BATCH = 128


@dataclass(frozen=True)
class Sizes:
    """How much case 5 runs: samples and epochs of ``fit``."""

    samples: int = 60_000
    epochs: int = 5


MODES = {
    "full": Sizes(),
    "quick": Sizes(epochs=1),
    "smoke": Sizes(samples=2_000, epochs=1),
}


def rss_bytes(field: str = "VmRSS") -> int:
    """This process's resident size (``VmRSS``) or peak (``VmHWM``), in bytes.

    >>> rss_bytes() > 0 and rss_bytes("VmHWM") >= rss_bytes() // 2
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource  # no /proc: the peak is all getrusage knows (KiB on Linux)

    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _child(samples: int, epochs: int, threads: int) -> dict[str, float]:
    """Measure in this process (a fresh one: it sets the thread counts for
    good); return the numbers."""
    from threadpoolctl import threadpool_limits

    from benchmarks.harness import set_numdl_threads

    threadpool_limits(threads)
    set_numdl_threads(threads)
    import numpy as np

    import numdl  # noqa: F401  (imported before the baseline is read)
    from benchmarks.numpy_mlp import NumpyMLP
    from benchmarks.suite_mlp import SIZES, data, numdl_mlp

    after_import = rss_bytes()
    x, y = data(samples)
    model = numdl_mlp(NumpyMLP(SIZES, np.random.default_rng(0)), "adam")
    baseline = rss_bytes()
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
    return {
        "input": x.nbytes + y.nbytes,
        "after_import": after_import,
        "baseline": baseline,
        "peak": rss_bytes("VmHWM"),
        "seconds": time.perf_counter() - start,
    }


def measure(samples: int, epochs: int, threads: int) -> dict[str, float]:
    """Run :func:`_child` in a fresh interpreter and return its numbers (bytes).

    >>> m = measure(1000, 1, 1)
    >>> m["peak"] >= m["baseline"] > m["input"] > 0
    True
    """
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "benchmarks.suite_memory", "--child"]
    command += [str(samples), str(epochs), str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"memory benchmark child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(sizes: Sizes, m: dict[str, float]) -> tuple[str, list[Target]]:
    """The table and the targets for one measurement.

    >>> m = {"input": 200, "after_import": 50, "baseline": 250, "peak": 300}
    >>> m = {k: v * MB for k, v in m.items()} | {"seconds": 1.0}
    >>> text, found = report(Sizes(), m)
    >>> [t.verdict for t in found]
    ['PASS', 'PASS']
    """
    growth = m["peak"] - m["baseline"]
    rows = [
        ("input (x and y)", m["input"]),
        ("RSS after importing numdl", m["after_import"]),
        ("RSS after creating the data and the model (baseline)", m["baseline"]),
        ("peak RSS after fit (VmHWM)", m["peak"]),
        ("peak - baseline (what fit added)", growth),
    ]
    lines = [
        f"### Case 5: memory of fit, {sizes.samples} x 784 float32, MLP, Adam, "
        f"batch {BATCH}, {sizes.epochs} epoch{'s' * (sizes.epochs > 1)} "
        f"({m['seconds']:.1f} s)",
        "",
        "| quantity | MB |",
        "| --- | ---: |",
    ] + [f"| {name} | {value / MB:.1f} |" for name, value in rows]
    targets = [
        Target(
            "fit peak RSS (MB)",
            m["peak"] / MB,
            (m["input"] + 300 * MB) / MB,
            unit=" MB",
        ),
        # Without a copy of the set, fit adds its batches, the optimizer's
        # slots and the NaN check's boolean mask (a quarter of x); a copy
        # of the set (a[order] per epoch) adds at least the input's size.
        Target(
            "fit growth / input size (no copy of the set)", growth / m["input"], 0.5
        ),
    ]
    return "\n".join(lines) + "\n\n" + targets_table(targets), targets


def run(sizes: Sizes, emit: Callable[[str], None], threads: int = 1) -> list[Target]:
    """Measure in a subprocess; emit the table.

    >>> [t.unit for t in run(MODES["smoke"], lambda text: None)]
    [' MB', 'x']
    """
    text, targets = report(sizes, measure(sizes.samples, sizes.epochs, threads))
    emit(text)
    return targets


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        samples, epochs, threads = (int(a) for a in sys.argv[2:5])
        print(json.dumps(_child(samples, epochs, threads)))
    else:
        run(MODES["full"], print, threads=int(os.environ.get("THREADS", "2")))
