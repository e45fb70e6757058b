"""Convnet training step: numdl (Keras API) vs PyTorch eager on the CPU.

The model is the Keras MNIST convnet: Conv2D 32 3x3 ReLU, MaxPooling2D 2,
Conv2D 64 3x3 ReLU, MaxPooling2D 2, Flatten, Dropout 0.5, Dense 10 softmax,
on 28x28x1 inputs, float32, Adam, sparse categorical cross-entropy. One step
is forward, loss, backward and the optimizer update:

- numdl: a compiled ``Sequential``, stepped by ``numdl.training.loop.train_step``
  (the step ``fit`` runs for every batch; ``--api train_on_batch`` times
  ``model.train_on_batch`` instead, which also checks the batch each call);
  channels-last (NHWC), numdl's layout.
- PyTorch: the same layers (``nn.Conv2d`` ... ``nn.Linear`` and
  ``F.cross_entropy`` on logits) in NCHW, its natural layout, with the same
  weights and the same number of threads.

Before timing, both models are checked to compute the same predictions.
Each library runs in blocks of its own, never step by step against the other
(see ``benchmarks/harness.py``: OpenMP and OpenBLAS thread pools spin-wait,
so interleaving them on a small machine would time their contention), with a
pause after each block for the pools to go to sleep. Blocks alternate over
several rounds, so a slow spell of a shared machine falls on both; the table
gives the medians over all steps and the median over rounds of the ratio of
the two blocks' medians ("paired ratio").

``--inference`` also times a forward pass in inference mode:
``model.predict_on_batch`` against the network in ``eval()`` mode under
``torch.no_grad()`` (with its softmax).

numdl tunes glibc's allocator when it is imported (``numdl.backend``:
freed memory is kept for reuse, so a step does not page-fault its
temporaries back in); run with ``NUMDL_MALLOC_TUNING=0`` to see the untuned
time. Run: ``python -m benchmarks.bench_conv``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import numdl
from benchmarks.harness import Timing, machine, set_threads, table
from numdl import layers, models
from numdl.training import loop


def numdl_model(seed: int = 0) -> models.Sequential:
    """The Keras MNIST convnet, compiled with Adam."""
    numdl.config.set_random_seed(seed)
    model = models.Sequential(
        [
            layers.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def torch_model(model: models.Sequential):
    """The same network in PyTorch (NCHW) with ``model``'s weights."""
    import torch

    k1, b1, k2, b2, kd, bd = model.get_weights()
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(1600, 10),
    )
    # Keras kernels (kh, kw, in, out) -> torch (out, in, kh, kw); the dense
    # rows follow the flattening order: (h, w, c) in numdl, (c, h, w) in torch.
    dense = kd.reshape(5, 5, 64, 10).transpose(3, 2, 0, 1).reshape(10, 1600)
    values = [k1.transpose(3, 2, 0, 1), b1, k2.transpose(3, 2, 0, 1), b2, dense, bd]
    with torch.no_grad():
        for param, value in zip(net.parameters(), values):
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return net


def data(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 28, 28, 1), dtype=np.float32)
    return x, rng.integers(0, 10, batch)


def check_same(model: models.Sequential, net, x: np.ndarray) -> None:
    """Both networks must predict the same probabilities (inference mode)."""
    import torch

    net.eval()
    with torch.no_grad():
        logits = net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
        expected = torch.softmax(logits, dim=1).numpy()
    net.train()
    got = model.predict_on_batch(x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def numdl_step_fn(model: models.Sequential, x, y, api: str):
    model.train_on_batch(x, y)  # builds the step plan (losses, optimizer slots)
    if api == "train_on_batch":
        return lambda: model.train_on_batch(x, y)
    plan = model._plan
    return lambda: loop.train_step(plan, x, [y], None)


def torch_step_fn(net, x: np.ndarray, y: np.ndarray):
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)  # Keras's eps
    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    ty = torch.from_numpy(y)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(tx), ty)
        loss.backward()
        opt.step()

    return step


def inference_fns(model: models.Sequential, net, x: np.ndarray):
    """One forward pass in inference mode each: numdl, then PyTorch."""
    import torch

    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    model.predict_on_batch(x)

    def torch_predict() -> None:
        with torch.no_grad():
            torch.softmax(net(tx), dim=1)

    return (lambda: model.predict_on_batch(x)), torch_predict


def blocks(
    cases: dict[str, object], steps: int, rounds: int, pause: float = 0.3
) -> tuple[dict[str, Timing], float]:
    """Time each case in blocks of its own, alternating over ``rounds``.

    Returns every step's time per case and the median over rounds of the
    ratio of the first case's block median to the second's.
    """
    samples: dict[str, list[float]] = {name: [] for name in cases}
    ratios = []
    order = list(cases.items())
    for r in range(rounds):
        medians = {}
        for name, fn in order if r % 2 == 0 else reversed(order):
            fn()  # one warm-up step after the other library's block
            block = []
            for _ in range(steps):
                start = time.perf_counter()
                fn()
                block.append(time.perf_counter() - start)
            samples[name] += block
            medians[name] = statistics.median(block)
            time.sleep(pause)  # let the other's spinning thread pool sleep
        first, second = (medians[name] for name in cases)
        ratios.append(first / second)
    return {n: Timing(n, v) for n, v in samples.items()}, statistics.median(ratios)


def report(
    title: str, timings: dict[str, Timing], paired: float, label: str = ""
) -> list[str]:
    numdl_t, torch_t = timings.values()
    ratio = numdl_t.median / torch_t.median
    return [
        table(title, timings, torch_t.name),
        "",
        f"{label or 'numdl / pytorch'}: ratio of medians {ratio:.2f}, "
        f"median of per-round ratios {paired:.2f}",
        "",
    ]


def tensor_predict(model: models.Sequential, x: np.ndarray):
    """numdl's inference on Tensors, the whole model on one part of the
    batch per thread (what ``predict_on_batch`` ran before the convolution
    and pooling layers had array functions)."""
    xt = numdl.Tensor(x)
    return lambda: loop.predict_on_tensors(model, xt)


def run(
    batch: int, repeats: int, rounds: int, threads: int, api: str, inference: bool
) -> str:
    set_threads(threads)
    model = numdl_model()
    net = torch_model(model)
    x, y = data(batch)
    check_same(model, net, x)
    for _ in range(3):  # warm up: the first steps allocate optimizer slots
        numdl_step_fn(model, x, y, api)()
    steps = max(repeats // rounds, 1)
    tuned = getattr(numdl.backend, "ALLOCATOR_TUNED", False)  # older numdl: none
    lines = [
        f"Machine: {machine()}; threads: {threads}; "
        f"numdl's glibc malloc tuning: {tuned}",
        "",
    ]
    timings, paired = blocks(
        {
            "numdl": numdl_step_fn(model, x, y, api),
            "pytorch eager": torch_step_fn(net, x, y),
        },
        steps,
        rounds,
    )
    title = (
        f"Keras MNIST convnet training step (forward, loss, backward, Adam), "
        f"float32, batch {batch}, numdl {api}"
    )
    lines += report(title, timings, paired)
    if inference:
        net.eval()
        numdl_predict, torch_predict = inference_fns(model, net, x)
        timings, paired = blocks(
            {"numdl": numdl_predict, "pytorch eager": torch_predict}, steps, rounds
        )
        title = f"Keras MNIST convnet inference (predict_on_batch), batch {batch}"
        lines += report(title, timings, paired)
        timings, paired = blocks(
            {
                "numdl predict (on arrays)": numdl_predict,
                "numdl on Tensors (the model on parts of the batch)": tensor_predict(
                    model, x
                ),
            },
            steps,
            rounds,
        )
        title = f"numdl inference: on arrays or on Tensors, batch {batch}"
        lines += report(title, timings, paired, "arrays / Tensors")
    return "\n".join(lines).rstrip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=60, help="steps per library")
    parser.add_argument("--rounds", type=int, default=6, help="blocks per library")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--api", choices=["train_step", "train_on_batch"], default="train_step"
    )
    parser.add_argument("--inference", action="store_true", help="also time inference")
    args = parser.parse_args(argv)
    print(
        run(
            args.batch,
            args.repeats,
            args.rounds,
            args.threads,
            args.api,
            args.inference,
        )  # fmt: skip
    )


if __name__ == "__main__":
    main()
