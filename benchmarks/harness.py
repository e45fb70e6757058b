"""Interleaved timing: run the compared implementations A B B A ... in one process.

Interleaving spreads any slowdown of the machine (another process, a clock
change) over every implementation alike, so the ratio of medians stays fair.
The order flips every round, so no case always runs after the same other one.
Cases timed in one ``interleave`` call are also compared round by round: the
median of their per-round ratios ("paired ratio") cancels slowdowns that last
longer than one round but shorter than the run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_groups = itertools.count()


@dataclass
class Timing:
    """Seconds per call of one implementation: every sample, and their median.

    ``group`` identifies the ``interleave`` call; within one group, sample
    ``i`` of every case comes from the same round.
    """

    name: str
    samples: list[float]
    group: int = -1

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def interleave(
    cases: dict[str, Callable[[], object]],
    repeats: int = 30,
    warmup: int = 3,
    inner: int = 1,
    pause: float = 0.0,
) -> dict[str, Timing]:
    """Time each case ``repeats`` times, alternating between cases.

    Each sample is the mean over ``inner`` back-to-back calls (a block, for
    calls too short to time one by one). ``pause`` seconds of sleep follow
    each block, untimed: OpenBLAS's and PyTorch's OpenMP threads spin-wait
    after their work, and on a small machine the next library's block would
    otherwise time their contention.

    >>> t = interleave({"a": lambda: None}, repeats=3, warmup=1, inner=2)
    >>> len(t["a"].samples)
    3
    """
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    group = next(_groups)
    timings = {name: Timing(name, [], group) for name in cases}
    forward = list(cases.items())
    for i in range(repeats):
        for name, fn in forward if i % 2 == 0 else reversed(forward):
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            timings[name].samples.append((time.perf_counter() - start) / inner)
            if pause:
                time.sleep(pause)
    return timings


def paired_ratio(case: Timing, reference: Timing) -> float | None:
    """Median over rounds of ``case / reference``; None if not interleaved.

    >>> a, b = Timing("a", [2.0, 4.0], 0), Timing("b", [1.0, 1.0], 0)
    >>> paired_ratio(a, b)
    3.0
    """
    if case.group != reference.group or case.group < 0:
        return None
    return statistics.median(c / r for c, r in zip(case.samples, reference.samples))


def per_step(timings: dict[str, Timing], steps: int) -> dict[str, Timing]:
    """``timings`` of calls that each run ``steps`` steps, as time per step
    (in place; returned for chaining).

    >>> per_step({"a": Timing("a", [2.0, 4.0])}, 4)["a"].samples
    [0.5, 1.0]
    """
    for t in timings.values():
        t.samples = [s / steps for s in t.samples]
    return timings


def set_threads(n: int) -> None:
    """Give NumPy's BLAS, numdl's own ops and PyTorch the same number of threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    set_numdl_threads(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


def set_numdl_threads(n: int) -> int | None:
    """Set numdl's own op threads (``numdl.parallel``, where this numdl has
    it); return the count before, or None.

    >>> before = set_numdl_threads(1)
    >>> before is None or set_numdl_threads(before) == 1
    True
    """
    try:
        from numdl import parallel
    except ImportError:  # an older numdl: BLAS's threads are all there is
        return None
    before = parallel.get_num_threads()
    parallel.set_num_threads(n)
    return before


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """``set_threads(n)`` for the duration of a ``with`` block, then restore
    BLAS's, numdl's and PyTorch's thread counts.

    >>> with threads(1):
    ...     pass
    """
    from threadpoolctl import threadpool_limits

    try:
        import torch
    except ImportError:
        torch = None
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(n):
        numdl_before = set_numdl_threads(n)
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)
            if numdl_before is not None:
                set_numdl_threads(numdl_before)


def table(
    title: str, timings: dict[str, Timing], reference: str, unit: str = "ms"
) -> str:
    """A Markdown table: median, spread, ratio of medians and paired ratio.

    ``unit`` is "ms" or "us".
    """
    scale = {"ms": 1e3, "us": 1e6}[unit]
    ref = timings[reference]
    lines = [
        f"### {title}",
        "",
        f"| implementation | median ({unit}) | min-max ({unit}) "
        f"| ratio to {reference} | paired ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for t in timings.values():
        lo, hi = min(t.samples) * scale, max(t.samples) * scale
        paired = paired_ratio(t, ref)
        lines.append(
            f"| {t.name} | {t.median * scale:.3f} | {lo:.3f}-{hi:.3f} "
            f"| {t.median / ref.median:.3f} "
            f"| {'-' if paired is None else f'{paired:.3f}'} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """One line naming the CPU, its count, BLAS and library versions."""
    import numpy as np
    from threadpoolctl import threadpool_info

    blas = ", ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    )
    parts = [
        f"{cpu_model()}, {os.cpu_count()} CPUs",
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"BLAS: {blas}",
    ]
    try:
        import torch

        parts.append(f"PyTorch {torch.__version__}")
    except ImportError:
        pass
    return "; ".join(parts)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the platform's word.

    >>> isinstance(cpu_model(), str)
    True
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rate_table(
    title: str,
    timings: dict[str, Timing],
    references: list[str],
    steps: int,
    samples: int,
    unit: str = "ms",
    per: str = "step",
) -> str:
    """A Markdown table for calls that each run ``steps`` steps over ``samples``.

    Per-step median and spread (``unit`` "ms" or "us"; ``per`` names the
    step in the header), samples per second, and the ratio of medians to
    each reference (a missing reference is left out).

    >>> t = {"a": Timing("a", [2.0, 2.0]), "b": Timing("b", [1.0, 1.0])}
    >>> print(rate_table("T", t, ["b"], steps=10, samples=100).splitlines()[-1])
    | b | 100.000 | 100.000-100.000 | 100 | 1.000 |
    """
    scale = {"ms": 1e3, "us": 1e6}[unit] / steps
    references = [r for r in references if r in timings]
    header = "".join(f" ratio to {r} |" for r in references)
    lines = [
        f"### {title}",
        "",
        f"| implementation | {unit}/{per} (median) | {unit}/{per} (min-max) "
        "| samples/s |" + header,
        "| --- | ---: | ---: | ---: |" + " ---: |" * len(references),
    ]
    for t in timings.values():
        lo, hi = min(t.samples) * scale, max(t.samples) * scale
        ratios = "".join(f" {t.median / timings[r].median:.3f} |" for r in references)
        lines.append(
            f"| {t.name} | {t.median * scale:.3f} | {lo:.3f}-{hi:.3f} "
            f"| {samples / t.median:.0f} |{ratios}"
        )
    return "\n".join(lines)


@dataclass
class Target:
    """A measured value against its target from the issue.

    ``kind`` "max": the value must not exceed ``bound`` (ratios of medians,
    lower is faster); "min": it must reach ``bound``.

    >>> Target("numdl / numpy, batch 32", 1.08, 1.15).verdict
    'PASS'
    >>> Target("numdl / sklearn samples/s", 1.1, 1.2, kind="min").verdict
    'MISS'
    """

    label: str
    value: float
    bound: float
    kind: str = "max"
    unit: str = "x"

    @property
    def met(self) -> bool:
        if self.kind == "max":
            return self.value <= self.bound
        return self.value >= self.bound

    @property
    def verdict(self) -> str:
        return "PASS" if self.met else "MISS"

    def row(self) -> str:
        sign = "<=" if self.kind == "max" else ">="
        return (
            f"| {self.label} | {self.value:.3f}{self.unit} "
            f"| {sign} {self.bound:g}{self.unit} | {self.verdict} |"
        )


def targets_table(targets: list[Target], title: str = "") -> str:
    """A Markdown table of targets: measured, target, PASS or MISS.

    >>> print(targets_table([Target("r", 0.5, 1.0)]).splitlines()[-1])
    | r | 0.500x | <= 1x | PASS |
    """
    lines = [f"### {title}", ""] if title else []
    lines += [
        "| comparison | measured | target | verdict |",
        "| --- | ---: | ---: | :---: |",
    ]
    return "\n".join(lines + [t.row() for t in targets])
