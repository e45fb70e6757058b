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
PyTorch runs in a block of its own (see ``benchmarks/harness.py``: OpenMP and
OpenBLAS thread pools spin-wait, so interleaving them on a small machine would
time their contention). Run: ``python -m benchmarks.bench_conv``.

``--tune-malloc`` first asks glibc to keep freed memory in the process
(``mallopt``: mmap threshold 32 MB, no trimming). By default glibc hands the
step's large temporaries (im2col columns, activations, gradients: tens of MB)
back to the kernel and page-faults them in again on the next step, which on
the 2-core test machine costs numdl about 40% of its step time; PyTorch's
steps allocate less. The flag shows what numdl gains from that setting (it
applies to the whole process, PyTorch's block included).
"""

from __future__ import annotations

import argparse

import numpy as np

import numdl
from benchmarks.harness import interleave, machine, set_threads, table
from numdl import layers, models
from numdl.training import loop


def tune_malloc() -> bool:
    """Keep freed heap memory in the process (glibc only); True if applied."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    mmap_ok = libc.mallopt(m_mmap_threshold, 32 << 20)  # its maximum
    return bool(mmap_ok and libc.mallopt(m_trim_threshold, 1 << 30))


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


def run(batch: int, repeats: int, threads: int, api: str, malloc: bool) -> str:
    tuned = tune_malloc() if malloc else False
    set_threads(threads)
    model = numdl_model()
    net = torch_model(model)
    x, y = data(batch)
    check_same(model, net, x)
    timings = interleave(
        {"numdl": numdl_step_fn(model, x, y, api)}, repeats=repeats, warmup=5
    )
    timings.update(
        interleave(
            {"pytorch eager (own block)": torch_step_fn(net, x, y)},
            repeats=repeats,
            warmup=5,
        )
    )
    ratio = timings["numdl"].median / timings["pytorch eager (own block)"].median
    title = (
        f"Keras MNIST convnet training step (forward, loss, backward, Adam), "
        f"float32, batch {batch}, numdl {api}"
    )
    return "\n".join(
        [
            f"Machine: {machine()}; threads: {threads}; glibc malloc tuned: {tuned}",
            "",
            table(title, timings, "pytorch eager (own block)"),
            "",
            f"numdl / pytorch (ratio of medians): {ratio:.2f}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--api", choices=["train_step", "train_on_batch"], default="train_step"
    )
    parser.add_argument(
        "--tune-malloc",
        action="store_true",
        help="keep freed memory in the process (glibc mallopt) before timing",
    )
    args = parser.parse_args(argv)
    print(run(args.batch, args.repeats, args.threads, args.api, args.tune_malloc))


if __name__ == "__main__":
    main()
