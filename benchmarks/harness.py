"""Interleaved timing: run the compared implementations A B B A ... in one process.

Interleaving spreads any slowdown of the machine (another process, a clock
change) over every implementation alike, so the ratio of medians stays fair.
The order flips every round, so no case always runs after the same other one.
Cases timed in one ``interleave`` call are also compared round by round: the
median of their per-round ratios ("paired ratio") cancels slowdowns that last
longer than one round but shorter than the run.
"""

from __future__ import annotations

import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable
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
    cases: dict[str, Callable[[], object]], repeats: int = 30, warmup: int = 3
) -> dict[str, Timing]:
    """Time each case ``repeats`` times, alternating between cases.

    >>> t = interleave({"a": lambda: None}, repeats=3, warmup=1)
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
            fn()
            timings[name].samples.append(time.perf_counter() - start)
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


def set_threads(n: int) -> None:
    """Give NumPy's BLAS and PyTorch the same number of threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


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
