"""numdl's own threads: one op's work split over the samples of its batch.

NumPy runs element-wise work (pooling, ReLU masks, im2col copies) on the
calling thread only, and hands matrix products to its BLAS, whose threads
busy-wait for a while after each product (OpenBLAS: ~0.1 s). In a training
step that mixes the two, BLAS's idle threads keep the other cores busy
spinning while NumPy works on one. numdl does what PyTorch does instead:

- Training and inference steps run inside :func:`region` (``fit``,
  ``evaluate``, ``predict`` and the ``*_on_batch`` methods enter one).
- Ops with much element-wise work (convolution, pooling) split their batch
  into contiguous parts (:func:`split`) that :func:`run` computes at once,
  on the calling thread and a pool of worker threads, each thread taking
  the next part as it comes free (parts shrink towards the end, so the
  threads finish together even when one starts late or runs slower).
  NumPy releases the GIL inside its loops and BLAS calls, so the parts truly
  run in parallel, each an ordinary single-threaded NumPy program. The first
  such split in a region puts BLAS on one thread until the region ends.
- Ops that are mostly one matrix product (dense layers) leave the threading
  to BLAS, unless BLAS is already on one thread in this region: then they
  split too (``split(..., lead=False)``). An MLP's step thus runs exactly as
  it would without numdl's threads.

Results do not depend on the thread count except through the order of
floating-point sums over the batch (kernel gradients add one partial sum
per part), as in PyTorch.

Controlling BLAS's threads needs ``threadpoolctl`` (optional: the ``all``
and ``bench`` extras; scikit-learn installs it too). Without it, or with one
thread, nothing is split and numdl leaves threading to BLAS.

>>> import numpy as np
>>> out = np.zeros(8)
>>> def work(part):
...     out[part] = np.arange(8)[part] * 2
>>> with region():
...     _ = run(work, split(8, cost=1e9), 8)
>>> out.tolist()
[0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Work (in floating-point operations) below which an op is not split: a part
# handed to a worker costs ~20-40 us of dispatch, against ~0.1 ms for 4 MFLOP
# of products on one core of the test machine.
MIN_COST = 4e6
# Element-wise ops count the bytes they move: a byte takes about the time of
# 4 flops of a product there (~10 GB/s against ~40 GFLOPS on one core), so
# a 1 MB pass is worth splitting (the MNIST convnet's second max pooling,
# 4 MB: splitting it took a 2-thread training step from 23.4 to 22.8 ms).
FLOPS_PER_BYTE = 4.0


# Set in numdl's worker threads: an op running inside a part never splits
# again (a worker waiting on the pool it belongs to could wait forever).
_local = threading.local()


def _mark_worker() -> None:
    _local.worker = True


class _State:
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    active = False  # inside region()
    libs: list | None = None  # BLAS put on one thread in this region (restore)
    before: list[int] = []  # their thread counts before
    pool: ThreadPoolExecutor | None = None
    blas: Any = None  # threadpoolctl's BLAS controllers, found once
    blas_failed = False
    splits = 0  # how many times split() has given parts (see split_count)


def get_num_threads() -> int:
    """The number of threads numdl's ops use (default: the CPUs available).

    >>> get_num_threads() >= 1
    True
    """
    return _State.threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in numdl's ops (1: leave threading to BLAS).

    >>> before = get_num_threads()
    >>> set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(before)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected an int >= 1, got {n!r}")
    if _State.active:
        raise RuntimeError("set_num_threads: cannot change threads inside a region")
    if _State.pool is not None:
        _State.pool.shutdown()
        _State.pool = None
    _State.threads = n


def _forget_after_fork() -> None:
    """A forked child has none of the parent's worker threads, and the fork
    may have happened inside a region: start from scratch there, with BLAS's
    thread count as it was before the region."""
    _State.pool = None
    _State.active = False
    if _State.libs is not None:
        for lib, n in zip(_State.libs, _State.before):
            lib.set_num_threads(n)
    _State.libs = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _blas_controllers() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries ([] without)."""
    if _State.blas is None and not _State.blas_failed:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _State.blas_failed = True
            return []
        controller = ThreadpoolController().select(user_api="blas")
        _State.blas = list(controller.lib_controllers)
    return _State.blas or []


class _Region:
    """The context manager :func:`region` returns (a class, not a generator:
    entering costs ~0.3 us, so every training step can enter one)."""

    __slots__ = ("outer",)

    def __enter__(self) -> bool:
        self.outer = not _State.active
        _State.active = True
        return _State.threads > 1

    def __exit__(self, *exc: object) -> None:
        if not self.outer:
            return
        _State.active = False
        if _State.libs is not None:
            for lib, n in zip(_State.libs, _State.before):
                lib.set_num_threads(n)
            _State.libs = None


def region() -> _Region:
    """A block of numdl work (a training or inference step) whose ops may
    split over :func:`get_num_threads` threads; BLAS's thread count is put
    back when the outermost region ends. ``with region() as on`` gives
    whether more than one thread is available.

    >>> with region() as on:
    ...     isinstance(on, bool)
    True
    """
    return _Region()


def _blas_to_one_thread() -> bool:
    """Put BLAS on one thread for the rest of the region; False if it can't."""
    if _State.libs is None:
        libs = _blas_controllers()
        if not libs:
            return False
        _State.before = [lib.num_threads for lib in libs]
        for lib in libs:
            lib.set_num_threads(1)
        _State.libs = libs
    return True


def split(
    n: int, cost: float, lead: bool = True, guided: bool = True
) -> list[slice] | None:
    """Contiguous parts of ``range(n)`` (samples of a batch) for work of
    ``cost`` in total (flops, or bytes for element-wise work); None when it
    is not worth splitting: outside a region, one thread, small work,
    ``n < 2``, or (``lead=False``) while BLAS still has its own threads.
    ``lead=True`` puts BLAS on one thread for the rest of the region.

    ``guided`` (OpenMP's name for the schedule): parts shrink as the work
    runs out, each ``1/(2k)`` of what is left for ``k`` threads but at least
    ``n/(8k)`` and ``MIN_COST / 2`` of work; :func:`run` hands them out as
    threads come free, so a thread that starts late (a worker woken from
    sleep: 0.05-0.3 ms on the test VM) or runs slower takes fewer. Without
    ``guided``: one equal part per thread. The parts depend only on ``n``,
    ``cost`` and the thread count, never on timing, so results do not vary
    from run to run.

    >>> with region():
    ...     parts = split(10, cost=1e9)
    >>> parts is None or sum(p.stop - p.start for p in parts) == 10
    True
    """
    if not _State.active or n < 2 or cost < MIN_COST or _State.threads < 2:
        return None
    if getattr(_local, "worker", False):
        return None
    if _State.libs is None and not (lead and _blas_to_one_thread()):
        return None
    most = min(n, int(cost // (MIN_COST / 2)))  # parts of at least MIN_COST / 2
    k = min(_State.threads, most)
    if k < 2:
        return None
    _State.splits += 1
    if not guided:
        bounds = [n * i // k for i in range(k + 1)]
        return [slice(a, b) for a, b in zip(bounds, bounds[1:])]
    smallest = max(-(-n // (8 * k)), -(-n // most))
    parts, start = [], 0
    while start < n:
        size = max(-(-(n - start) // (2 * k)), smallest)
        parts.append(slice(start, min(start + size, n)))
        start += size
    return parts


def split_count() -> int:
    """How many times :func:`split` has given parts so far (in any thread):
    the difference over a call says whether the call's ops split.

    >>> with region():
    ...     before = split_count(); _ = split(10, cost=1e9)
    >>> split_count() - before in (0, 1)
    True
    """
    return _State.splits


def run(fn: Callable[[slice], Any], parts: list[slice] | None, n: int) -> list:
    """``[fn(part) for part in parts]``, the parts computed at once: the
    calling thread and the workers each take the next part not yet taken
    until none is left. ``parts`` None means one part, ``slice(0, n)``,
    computed here. Results come in the order of ``parts`` whichever thread
    computed each. After an error in a part no thread starts another, and
    the error is raised once the parts already started have ended.

    >>> run(lambda s: s.stop - s.start, [slice(0, 3), slice(3, 5)], 5)
    [3, 2]
    """
    if parts is None:
        return [fn(slice(0, n))]
    if len(parts) == 1:
        return [fn(parts[0])]
    workers = max(_State.threads - 1, 1)  # parts may come with 1 thread
    if _State.pool is None:
        _State.pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="numdl", initializer=_mark_worker
        )
    results: list = [None] * len(parts)
    taken = iter(range(len(parts)))  # next() on it is atomic under the GIL
    failed: list[int] = []

    def take() -> None:
        while not failed:  # after an error no thread starts another part
            i = next(taken, None)
            if i is None:
                return
            try:
                results[i] = fn(parts[i])
            except BaseException as error:  # re-raised below, in part order
                results[i] = _Failure(error)
                failed.append(i)

    futures = [_State.pool.submit(take) for _ in range(min(workers, len(parts) - 1))]
    was_worker = getattr(_local, "worker", False)
    _local.worker = True  # this thread's parts are not split again either
    try:
        take()
    finally:  # never return (or raise) while a worker still writes
        _local.worker = was_worker
        for future in futures:
            future.result()
    for r in results:
        if isinstance(r, _Failure):
            raise r.error
    return results


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
