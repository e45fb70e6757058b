"""numdl's own threads in a convnet step: hand-over cost and the schedule.

``numdl.parallel`` splits a convolution's or pooling's batch into parts
that the calling thread and a pool of workers compute at once. This
measures, on the Keras MNIST convnet of ``benchmarks/bench_conv.py``
(batch 128, Adam, the step ``fit`` runs):

- the cost of handing two empty parts to the threads (``parallel.run``),
  back to back and after the threads sat idle for 1 and 10 ms (a sleeping
  worker must be woken, and an idle vCPU takes longer to wake);
- where ``parallel.run``'s time goes in a training step: how long the
  calling thread waits at the end of each op for the last part, and how busy
  each thread is, with the batch cut into one part per thread (the schedule
  before session 7) or into shrinking parts taken as threads come free
  (``guided``, the default);
- whole training steps with either schedule, alternating in one process,
  and the median of their paired ratios;
- one 64-sample forward pass of the model alone, then two at once in two
  threads of one process and in two processes (BLAS and numdl on one thread
  each): what sharing the machine costs, against sharing the interpreter.

Run: python -m benchmarks.bench_threads [--steps 20] [--rounds 30]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numdl
from benchmarks import bench_conv
from benchmarks.harness import machine, set_threads
from numdl import parallel

SCHEDULES = ("one part per thread", "guided")
COUNTS = ("runs", "parts", "parts on workers")
STATS = COUNTS + (
    "in parallel.run",
    "caller waits at the end",
    "caller busy",
    "workers busy",
)


def handover_us(idle: float, calls: int = 100) -> float:
    """Median microseconds of ``parallel.run`` on two empty parts, each call
    after ``idle`` seconds of sleep.

    >>> handover_us(0.0, calls=3) > 0
    True
    """
    times = []
    with parallel.region():
        for _ in range(calls):
            if idle:
                time.sleep(idle)
            start = time.perf_counter_ns()
            parallel.run(lambda s: None, [slice(0, 1), slice(1, 2)], 2)
            times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1e3


@contextmanager
def schedule(name: str) -> Iterator[None]:
    """``parallel.split`` with the schedule ``name`` (see ``SCHEDULES``)."""
    split = parallel.split

    def one_per_thread(n, cost, lead=True, guided=True):
        return split(n, cost, lead, guided=False)

    if name == SCHEDULES[0]:
        parallel.split = one_per_thread
    try:
        yield
    finally:
        parallel.split = split


@contextmanager
def recorded(stats: dict[str, float]) -> Iterator[None]:
    """Add up, over ``parallel.run`` calls with parts, the caller's wait at
    the end (from its last part to the return), each thread's busy time and
    the parts computed by workers."""
    run = parallel.run

    def timed_run(fn: Callable, parts: list | None, n: int) -> list:
        if parts is None or len(parts) < 2:
            return run(fn, parts, n)
        here = threading.current_thread()
        last_here = [0]

        def part(s: slice):
            start = time.perf_counter_ns()
            out = fn(s)
            end = time.perf_counter_ns()
            mine = threading.current_thread() is here
            stats["caller busy" if mine else "workers busy"] += end - start
            if mine:
                last_here[0] = end
            else:
                stats["parts on workers"] += 1
            return out

        start = time.perf_counter_ns()
        out = run(part, parts, n)
        end = time.perf_counter_ns()
        stats["in parallel.run"] += end - start
        stats["caller waits at the end"] += end - (last_here[0] or start)
        stats["runs"] += 1
        stats["parts"] += len(parts)
        return out

    parallel.run = timed_run
    try:
        yield
    finally:
        parallel.run = run


def breakdown(step: Callable[[], None], steps: int) -> dict[str, dict[str, float]]:
    """Per step, for each schedule: ms in ``parallel.run``, waiting, busy;
    counts of runs and parts."""
    found = {}
    for name in SCHEDULES:
        stats = dict.fromkeys(STATS, 0.0)
        with schedule(name):
            step()
            with recorded(stats):
                start = time.perf_counter_ns()
                for _ in range(steps):
                    step()
                stats["whole step"] = time.perf_counter_ns() - start
        found[name] = {
            k: v / steps / (1 if k in COUNTS else 1e6) for k, v in stats.items()
        }
    return found


def paired(step: Callable[[], None], rounds: int) -> dict[str, float]:
    """Median ms of blocks of 3 steps per schedule, schedules alternating,
    and the median of the per-round ratio guided / one part per thread."""
    blocks: dict[str, list[float]] = {name: [] for name in SCHEDULES}
    for r in range(rounds):
        for name in SCHEDULES if r % 2 == 0 else SCHEDULES[::-1]:
            with schedule(name):
                step()
                start = time.perf_counter()
                for _ in range(3):
                    step()
                blocks[name].append((time.perf_counter() - start) / 3 * 1e3)
    out = {name: statistics.median(v) for name, v in blocks.items()}
    ratios = [g / o for g, o in zip(blocks["guided"], blocks[SCHEDULES[0]])]
    out["paired"] = statistics.median(ratios)
    return out


def _forward(samples: int = 64) -> Callable[[], object]:
    """One ``samples``-sample forward pass of the convnet, in inference mode."""
    model = bench_conv.numdl_model()
    x = numdl.Tensor(bench_conv.data(samples)[0])

    def forward() -> object:
        with numdl.no_grad():
            return model(x, training=False)

    return forward


def _median_ms(fn: Callable[[], object], seconds: float) -> float:
    """Median ms of ``fn()`` called for ``seconds`` (3 calls at least)."""
    times, end = [], time.time() + seconds
    while time.time() < end or len(times) < 3:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _in_process(seconds: float) -> float:
    """A process of the pair: its own model, BLAS and numdl on one thread."""
    set_threads(1)
    return _median_ms(_forward(), seconds)


def sharing(seconds: float) -> dict[str, list[float]]:
    """The forward pass alone, two at once in threads, two in processes
    (BLAS and numdl on one thread throughout).

    >>> sorted(sharing(0.01))
    ['alone', 'two processes', 'two threads']
    """
    set_threads(1)
    forwards = [_forward(), _forward()]
    found = {"alone": [_median_ms(forwards[0], seconds)]}
    results: list[float] = []
    pair = [
        threading.Thread(target=lambda f=f: results.append(_median_ms(f, seconds)))
        for f in forwards
    ]
    for t in pair:
        t.start()
    for t in pair:
        t.join()
    found["two threads"] = results
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        found["two processes"] = pool.map(_in_process, [seconds, seconds])
    return found


def main(argv: list[str] | None = None) -> None:
    """Print the four measurements.

    >>> main(["--steps", "1", "--rounds", "1", "--seconds", "0.01",
    ...       "--batch", "8"])  # doctest: +ELLIPSIS
    Machine: ...
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    set_threads(2)
    print(f"Machine: {machine()}; threads: 2\n")
    for idle in (0.0, 0.001, 0.01):
        cost = handover_us(idle)
        print(
            f"parallel.run, 2 empty parts, after {idle * 1e3:g} ms idle: {cost:.0f} us"
        )
    model = bench_conv.numdl_model()
    x, y = bench_conv.data(args.batch)
    step = bench_conv.numdl_step_fn(model, x, y, "train_step")
    for _ in range(3):
        step()
    print(f"\nConvnet training step, batch {args.batch}, per step:")
    for name, stats in breakdown(step, args.steps).items():
        shown = ", ".join(f"{k} {v:.2f}" for k, v in stats.items())
        print(f"- {name}: {shown} (ms; runs and parts: counts)")
    times = paired(step, args.rounds)
    print(
        f"\nWhole steps, alternating ({args.rounds} rounds of 3 steps): "
        + ", ".join(f"{k} {times[k]:.2f} ms" for k in SCHEDULES)
        + f"; paired guided / one part per thread {times['paired']:.3f}"
    )
    print("\n64-sample forward pass (ms, median over each run):")
    for name, values in sharing(args.seconds).items():
        print(f"- {name}: " + ", ".join(f"{v:.2f}" for v in values))
    set_threads(2)


if __name__ == "__main__":
    main()
