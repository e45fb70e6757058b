"""Where an MLP training step's time goes: numdl's parts next to NumPy's.

Times, part by part and without a profiler, one ``fit`` step of the
784-256-128-10 ReLU MLP (softmax cross-entropy from logits, SGD) and the
same work written by hand in NumPy (``benchmarks/numpy_mlp.py``): the
forward pass at three levels (the fused ops alone, through the layers,
through the model), the loss, backward, the update, and a whole
``train_step`` two ways: as ``fit`` runs it (the Dense chain on arrays,
``numdl/training/dense_chain.py``) and with every layer called on Tensors.
The differences are numdl's fixed cost per step, which decides the
small-batch ratios of the benchmark suite. Every part runs in
blocks of 20 calls, numdl's and NumPy's blocks alternating round after
round (a slow spell of a shared machine falls on both sides); each cell
gives the median over the blocks and, in brackets, the fastest block.

``--sizes 8 8 8 10`` runs the same comparison on a tiny MLP, where the
products cost nearly nothing and what is left is each side's fixed cost per
step; the last row times whole epochs (``fit`` against the hand-written
loop) per step.

Run: python -m benchmarks.bench_step_parts [--batch 32] [--threads 2]
[--sizes 784 256 128 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import numdl
from benchmarks.harness import machine, set_threads
from benchmarks.numpy_mlp import SGD, NumpyMLP, train_epoch
from numdl import layers
from numdl.ops import nn
from numdl.training import loop


def _blocks(fns: dict[str, Callable[[], object]], repeats: int, block: int = 20):
    """Microseconds per call of each function (median and min over blocks of
    ``block`` calls), the functions' blocks alternating round after round,
    so that a slow spell of the machine falls on every side alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(repeats // block, 1)):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(block):
                fn()
            times[name].append((time.perf_counter() - start) / block * 1e6)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


SIZES = [784, 256, 128, 10]


def _model(sizes: list[int]) -> numdl.Sequential:
    numdl.utils.set_random_seed(0)
    hidden = [layers.Dense(n, activation="relu") for n in sizes[1:-1]]
    model = numdl.Sequential(
        [numdl.Input((sizes[0],)), *hidden, layers.Dense(sizes[-1])]
    )
    loss = numdl.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="sgd", loss=loss)
    return model


def _no_mean(*args: object) -> None:
    return None  # (loop._mean_on_arrays finding no loss to run on arrays)


def numdl_fns(batch: int, sizes: list[int]) -> tuple[dict, dict[str, list]]:
    """numdl's step, part by part: functions to time, and the per-part
    durations (seconds) that the ``"step by parts"`` function records."""
    rng = np.random.default_rng(0)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    model = _model(sizes)
    model.train_on_batch(x, y)
    plan, xt = model._plan, numdl.Tensor(x)
    weights = [(layer.kernel, layer.bias) for layer in model.layers]
    parts: dict[str, list] = {
        k: [] for k in ("model forward", "loss", "backward", "update", "metrics")
    }

    def ops_forward() -> object:
        h = xt
        for i, (kernel, bias) in enumerate(weights):
            h = nn.dense(h, kernel, bias, relu=i < len(weights) - 1)
        return h

    def layers_forward() -> object:
        h = xt
        for layer in model.layers:
            h = layer(h, training=True)
        return h

    def step_parts() -> None:
        t0 = time.perf_counter()
        y_pred = plan.outputs.flatten(model(xt, training=True))
        t1 = time.perf_counter()
        loss = loop.total_loss(plan, [y], y_pred, None)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        loop.apply_update(plan)
        t4 = time.perf_counter()
        loop.update_metrics(plan, [y], y_pred, None, loss)
        t5 = time.perf_counter()
        for name, t in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            parts[name].append(t)

    tensors = _model(sizes)  # the same step with every layer called on Tensors
    tensors.train_on_batch(x, y)
    tensor_plan = tensors._plan
    tensor_plan.dense_chain = lambda x: None

    def tensor_loss_step() -> None:  # the chain with its loss on a Tensor
        loop._mean_on_arrays = _no_mean
        try:
            loop.train_step(plan, xt, [y], None)
        finally:
            loop._mean_on_arrays = mean_on_arrays

    mean_on_arrays = loop._mean_on_arrays
    fns = {
        "numdl ops forward": ops_forward,
        "numdl layers forward": layers_forward,
        "numdl step by parts": step_parts,
        "numdl train_step": lambda: loop.train_step(plan, xt, [y], None),
        "numdl train_step, loss on a Tensor": tensor_loss_step,
        "numdl train_step on Tensors": lambda: loop.train_step(
            tensor_plan, xt, [y], None
        ),
    }
    return fns, parts


def numpy_fns(batch: int, sizes: list[int]) -> dict[str, Callable[[], object]]:
    """The hand-written NumPy step's parts, as functions to time."""
    rng = np.random.default_rng(0)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    ref, sgd = NumpyMLP(sizes, np.random.default_rng(0)), SGD(0.01)
    kernels, count = ref.params, len(sizes) - 1

    def forward() -> object:
        h = x
        for i in range(count):
            h = h @ kernels[2 * i]
            h += kernels[2 * i + 1]
            if i < count - 1:
                np.maximum(h, 0, out=h)
        return h

    grads = ref.loss_and_grads(x, y)[1]
    return {
        "numpy ops forward": forward,
        "numpy forward+loss+backward": lambda: ref.loss_and_grads(x, y),
        "numpy update": lambda: sgd.update(ref.params, grads),
        "numpy step": lambda: sgd.update(ref.params, ref.loss_and_grads(x, y)[1]),
    }


def step_tables(batch: int, repeats: int, sizes: list[int]) -> dict[str, tuple]:
    """Median and min microseconds of every part, numdl's and NumPy's
    blocks interleaved (see :func:`_blocks`)."""
    ours, parts = numdl_fns(batch, sizes)
    timed = _blocks({**ours, **numpy_fns(batch, sizes)}, repeats)
    for name, seconds in parts.items():
        us = [t * 1e6 for t in seconds[1:]]  # the first is the warm-up
        timed[f"numdl {name}"] = (statistics.median(us), min(us))
    return timed


def epochs_per_step(batch: int, sizes: list[int], rounds: int = 7) -> tuple:
    """Microseconds per step (median and min) of one epoch (6,000 samples,
    shuffled) of ``fit`` and of the hand-written loop, alternating."""
    rng = np.random.default_rng(1)
    x = rng.random((6000, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], 6000)
    model, ref = _model(sizes), NumpyMLP(sizes, np.random.default_rng(0))
    steps, ours, theirs = -(-6000 // batch), [], []
    for _ in range(rounds):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        train_epoch(ref, SGD(0.01), x, y, batch, rng.permutation(6000))
        theirs.append(time.perf_counter() - start)
    return tuple(
        (statistics.median(t[1:]) / steps * 1e6, min(t[1:]) / steps * 1e6)
        for t in (ours, theirs)
    )


def report(batch: int, repeats: int, sizes: list[int] = SIZES) -> str:
    t = step_tables(batch, repeats, sizes)
    fit, loop_by_hand = epochs_per_step(batch, sizes)
    parts = ("model forward", "loss", "backward")
    fwd_loss_bwd = tuple(sum(t[f"numdl {p}"][i] for p in parts) for i in (0, 1))
    rows = [
        (
            "forward: the fused ops alone",
            t["numdl ops forward"],
            t["numpy ops forward"],
        ),
        ("forward: through the layers", t["numdl layers forward"], None),
        ("forward: through the model", t["numdl model forward"], None),
        ("loss", t["numdl loss"], None),
        ("backward", t["numdl backward"], None),
        (
            "forward + loss + backward",
            fwd_loss_bwd,
            t["numpy forward+loss+backward"],
        ),
        ("update (SGD)", t["numdl update"], t["numpy update"]),
        ("loss tracker", t["numdl metrics"], None),
        ("whole train_step (Dense chain on arrays)", t["numdl train_step"], None),
        (
            "whole train_step (Dense chain, loss on a Tensor)",
            t["numdl train_step, loss on a Tensor"],
            None,
        ),
        (
            "whole train_step (layers on Tensors)",
            t["numdl train_step on Tensors"],
            None,
        ),
        ("whole step by hand", None, t["numpy step"]),
        ("an epoch per step: fit / the loop by hand", fit, loop_by_hand),
    ]
    arch = "-".join(map(str, sizes))
    lines = [
        f"### MLP {arch} step, batch {batch}, part by part (us: median, min)",
        "",
        "| part | numdl | NumPy by hand |",
        "| --- | ---: | ---: |",
    ]
    for name, a, b in rows:
        lines.append(f"| {name} | {_cell(a)} | {_cell(b)} |")
    return "\n".join(lines)


def _cell(times: tuple[float, float] | None) -> str:
    return "-" if times is None else f"{times[0]:.1f} ({times[1]:.1f})"


def main(argv: list[str] | None = None) -> None:
    """Print the table.

    >>> main(["--batch", "500", "--repeats", "3", "--threads", "1", "--sizes", "4",
    ...       "3", "2"])  # doctest: +ELLIPSIS
    Machine: ...
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    print(f"Machine: {machine()}; threads: {args.threads}\n")
    print(report(args.batch, args.repeats, args.sizes))


if __name__ == "__main__":
    main()
