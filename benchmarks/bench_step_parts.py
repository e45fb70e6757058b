"""Where an MLP training step's time goes: numdl's parts next to NumPy's.

Times, part by part and without a profiler, one ``fit`` step of the
784-256-128-10 ReLU MLP (softmax cross-entropy from logits, SGD) and the
same work written by hand in NumPy (``benchmarks/numpy_mlp.py``): the
forward pass at three levels (the fused ops alone, through the layers,
through the model), the loss, backward, the update, and a whole
``train_step``. The differences are numdl's fixed cost per step, which
decides the small-batch ratios of the benchmark suite.

Run: python -m benchmarks.bench_step_parts [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import numdl
from benchmarks.harness import machine, set_threads
from benchmarks.numpy_mlp import SGD, NumpyMLP
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


def _model() -> numdl.Sequential:
    numdl.utils.set_random_seed(0)
    model = numdl.Sequential(
        [
            numdl.Input((784,)),
            layers.Dense(256, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(10),
        ]
    )
    loss = numdl.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="sgd", loss=loss)
    return model


def numdl_parts(batch: int, repeats: int) -> dict[str, float]:
    """Median microseconds of each part of numdl's step."""
    rng = np.random.default_rng(0)
    x, y = rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)
    model = _model()
    model.train_on_batch(x, y)
    plan, xt = model._plan, numdl.Tensor(x)
    weights = [(layer.kernel, layer.bias) for layer in model.layers]

    def ops_forward() -> object:
        h = xt
        for i, (kernel, bias) in enumerate(weights):
            h = nn.dense(h, kernel, bias, relu=i < 2)
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


def numpy_parts(batch: int, repeats: int) -> dict[str, float]:
    """Median microseconds of the hand-written NumPy step's parts."""
    rng = np.random.default_rng(0)
    x, y = rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)
    ref, sgd = NumpyMLP([784, 256, 128, 10], np.random.default_rng(0)), SGD(0.01)
    kernels = ref.params

    def forward() -> object:
        h = x
        for i in range(3):
            h = h @ kernels[2 * i]
            h += kernels[2 * i + 1]
            if i < 2:
                np.maximum(h, 0, out=h)
        return h

    grads = ref.loss_and_grads(x, y)[1]
    return {
        "ops forward": _median_us(forward, repeats),
        "forward+loss+backward": _median_us(lambda: ref.loss_and_grads(x, y), repeats),
        "update": _median_us(lambda: sgd.update(ref.params, grads), repeats),
    }


def report(batch: int, repeats: int) -> str:
    ours, ref = numdl_parts(batch, repeats), numpy_parts(batch, repeats)
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
    ]
    lines = [
        f"### MLP 784-256-128-10 step, batch {batch}, part by part (us, median)",
        "",
        "| part | numdl | NumPy by hand |",
        "| --- | ---: | ---: |",
    ]
    for name, a, b in rows:
        lines.append(f"| {name} | {a:.1f} | {'-' if b is None else f'{b:.1f}'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the table.

    >>> main(["--batch", "4", "--repeats", "3", "--threads", "1"])  # doctest: +ELLIPSIS
    Machine: ...
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    print(f"Machine: {machine()}; threads: {args.threads}\n")
    print(report(args.batch, args.repeats))


if __name__ == "__main__":
    main()
