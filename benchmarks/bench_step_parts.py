"""Where an MLP training step's time goes: numdl's parts next to NumPy's.

Times, part by part and without a profiler, one ``fit`` step of the
784-256-128-10 ReLU MLP (softmax cross-entropy from logits, SGD) and the
same work written by hand in NumPy (``benchmarks/numpy_mlp.py``): the
forward pass at three levels (the fused ops alone, through the layers,
through the model), the loss, backward, the update, and a whole
``train_step``. The differences are numdl's fixed cost per step, which
decides the small-batch ratios of the benchmark suite.

``--sizes 8 8 8 10`` runs the same comparison on a tiny MLP, where the
products cost nearly nothing and what is left is each side's fixed cost per
step; the last two rows time whole epochs (``fit`` against the hand-written
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


def _median_us(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


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


def numdl_parts(batch: int, repeats: int, sizes: list[int]) -> dict[str, float]:
    """Median microseconds of each part of numdl's step."""
    rng = np.random.default_rng(0)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    model = _model(sizes)
    model.train_on_batch(x, y)
    plan, xt = model._plan, numdl.Tensor(x)
    weights = [(layer.kernel, layer.bias) for layer in model.layers]

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

    def step_parts() -> dict[str, float]:
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
        return {
            "model forward": t1 - t0,
            "loss": t2 - t1,
            "backward": t3 - t2,
            "update": t4 - t3,
            "metrics": t5 - t4,
        }

    samples = [step_parts() for _ in range(repeats)]
    parts = {k: statistics.median(s[k] for s in samples) * 1e6 for k in samples[0]}
    parts["ops forward"] = _median_us(ops_forward, repeats)
    parts["layers forward"] = _median_us(layers_forward, repeats)
    parts["train_step"] = _median_us(
        lambda: loop.train_step(plan, xt, [y], None), repeats
    )
    return parts


def numpy_parts(batch: int, repeats: int, sizes: list[int]) -> dict[str, float]:
    """Median microseconds of the hand-written NumPy step's parts."""
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
        "ops forward": _median_us(forward, repeats),
        "forward+loss+backward": _median_us(lambda: ref.loss_and_grads(x, y), repeats),
        "update": _median_us(lambda: sgd.update(ref.params, grads), repeats),
    }


def epochs_per_step(batch: int, sizes: list[int], rounds: int = 7) -> tuple:
    """Microseconds per step of one epoch (6,000 samples, shuffled) of
    ``fit`` and of the hand-written loop, alternating, medians."""
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
    return tuple(statistics.median(t[1:]) / steps * 1e6 for t in (ours, theirs))


def report(batch: int, repeats: int, sizes: list[int] = SIZES) -> str:
    ours = numdl_parts(batch, repeats, sizes)
    ref = numpy_parts(batch, repeats, sizes)
    fit, loop_by_hand = epochs_per_step(batch, sizes)
    fwd_loss_bwd = ours["model forward"] + ours["loss"] + ours["backward"]
    rows = [
        ("forward: the fused ops alone", ours["ops forward"], ref["ops forward"]),
        ("forward: through the layers", ours["layers forward"], None),
        ("forward: through the model", ours["model forward"], None),
        ("loss", ours["loss"], None),
        ("backward", ours["backward"], None),
        ("forward + loss + backward", fwd_loss_bwd, ref["forward+loss+backward"]),
        ("update (SGD)", ours["update"], ref["update"]),
        ("loss tracker", ours["metrics"], None),
        ("whole train_step", ours["train_step"], None),
        ("an epoch per step: fit / the loop by hand", fit, loop_by_hand),
    ]
    arch = "-".join(map(str, sizes))
    lines = [
        f"### MLP {arch} step, batch {batch}, part by part (us, median)",
        "",
        "| part | numdl | NumPy by hand |",
        "| --- | ---: | ---: |",
    ]
    for name, a, b in rows:
        lines.append(f"| {name} | {a:.1f} | {'-' if b is None else f'{b:.1f}'} |")
    return "\n".join(lines)


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
