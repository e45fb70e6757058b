"""numdl's benchmark suite: ``python -m benchmarks [--quick] [--threads N] ...``.

Five cases, float32, the same thread count for every library (threadpoolctl
for NumPy's BLAS, ``numdl.parallel`` for numdl's own op threads,
``torch.set_num_threads``), each implementation checked to compute what the
others compute before it is timed:

1. ``mlp``: one epoch of an MLP 784-256-128-10, numdl ``fit`` vs PyTorch eager,
   hand-written NumPy and scikit-learn, SGD and Adam, batch 32/128/512;
2. ``tiny``: a 2-3-1 network (framework overhead per step) vs PyTorch;
3. ``conv``: the Keras MNIST convnet, training step and inference vs PyTorch;
4. ``latency``: MLP inference on 1 and 1,024 samples vs PyTorch;
5. ``memory``: peak RSS of ``fit`` on 60,000 x 784 inputs (fresh process).

Each case prints its Markdown tables as it finishes, each ratio next to its
target from issue 5 (PASS/MISS); a summary of every target closes the run.
``--quick`` runs in under 2 minutes on 2 quiet cores (a tenth of the MNIST
epoch, fewer repeats), the full run in under 15; ``--smoke`` runs every case
at minimal sizes to check that the suite works (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import TextIO

from benchmarks import suite_conv, suite_latency, suite_memory, suite_mlp, suite_tiny
from benchmarks.harness import Target, machine, targets_table, threads

CASES: dict[str, ModuleType] = {
    "mlp": suite_mlp,
    "tiny": suite_tiny,
    "conv": suite_conv,
    "latency": suite_latency,
    "memory": suite_memory,
}
NUMBERS = {str(i): name for i, name in enumerate(CASES, start=1)}
REQUIRED = {
    "torch": "torch",
    "sklearn": "scikit-learn",
    "threadpoolctl": "threadpoolctl",
}


def check_requirements() -> None:
    """The compared libraries must be installed (the ``bench`` extra).

    >>> check_requirements()  # raises ImportError naming what is missing
    """
    import importlib.util

    missing = [
        pip for mod, pip in REQUIRED.items() if not importlib.util.find_spec(mod)
    ]
    if missing:
        raise ImportError(
            f"numdl's benchmarks need {', '.join(missing)}: pip install numdl[bench]"
        )


def case_name(value: str) -> str:
    """A case's name from its name or number (``"1"`` is ``"mlp"``).

    >>> case_name("3"), case_name("memory")
    ('conv', 'memory')
    """
    name = NUMBERS.get(value, value)
    if name not in CASES:
        choices = ", ".join(f"{n} ({k})" for k, n in NUMBERS.items())
        raise argparse.ArgumentTypeError(
            f"unknown case {value!r}; choose among {choices}"
        )
    return name


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line's options.

    >>> args = parse(["--quick", "--cases", "1", "memory", "--threads", "1"])
    >>> args.quick, args.cases, args.threads
    (True, ['mlp', 'memory'], 1)
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="numdl's benchmark suite: numdl against PyTorch, "
        "scikit-learn and hand-written NumPy.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a run under 2 minutes")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="minimal sizes, to check that it runs (wins over --quick)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        help="threads for every library (default: the CPUs available)",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        type=case_name,
        default=list(CASES),
        metavar="CASE",
        help=f"cases by name or number: {' '.join(CASES)} (default: all)",
    )
    parser.add_argument("--out", help="also write the tables (Markdown) to this file")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    return args


def run_case(name: str, mode: str, n_threads: int, emit: Callable) -> list[Target]:
    """Run one case at the sizes of ``mode``; its targets.

    >>> len(run_case("tiny", "smoke", 1, lambda text: None))
    1
    """
    module = CASES[name]
    extra = {"threads": n_threads} if module is suite_memory else {}
    return module.run(module.MODES[mode], emit, **extra)


def main(argv: list[str] | None = None) -> None:
    """Run the chosen cases, printing each table as it finishes.

    >>> main(["--cases", "no-such-case"])
    Traceback (most recent call last):
    SystemExit: 2
    """
    args = parse(argv)
    check_requirements()
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    out: TextIO | None = open(args.out, "w", encoding="utf-8") if args.out else None

    def emit(text: str) -> None:
        print(text + "\n", flush=True)
        if out is not None:
            out.write(text + "\n\n")
            out.flush()

    command = " ".join(
        ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
    )
    start = time.perf_counter()
    found: list[Target] = []
    try:
        with threads(args.threads):
            emit(
                f"# numdl benchmark suite ({mode})\n\nCommand: `{command}`\n\n"
                f"Machine: {machine()}; threads: {args.threads}"
            )
            spent = []
            for name in args.cases:
                case_start = time.perf_counter()
                found += run_case(name, mode, args.threads, emit)
                spent.append(f"{name} {time.perf_counter() - case_start:.0f} s")
        passed = sum(t.met for t in found)
        emit(
            targets_table(found, f"Summary: {passed} of {len(found)} targets met")
            + f"\n\nTime: {', '.join(spent)}; "
            f"total {time.perf_counter() - start:.0f} s"
        )
    finally:
        if out is not None:
            out.close()


if __name__ == "__main__":
    main()
