"""GPU training steps: numdl on CuPy vs PyTorch CUDA eager, and a convnet epoch.

Cases (float32, Adam with Keras's epsilon, sparse categorical cross-entropy):

- MLP 784-256-128-10 (ReLU, ReLU, softmax) at batch 128 and 1024;
- the Keras MNIST convnet (``benchmarks.bench_conv``) at batch 128 and 512;
- one epoch of the convnet over 60,000 random MNIST-shaped samples that are
  already on the device (``fit``, batch 128), against ``--cpu-epoch`` seconds
  (numdl on the CPU, from docs/benchmarks.md) for the speed-up.

Both libraries start from the same weights and must agree on the first
forward pass. Steps are timed interleaved in one process
(``benchmarks.harness.interleave``), each timed call ending with a device
synchronisation, so the time is the work done, not the work queued. The
ratio is of medians; the median of per-round ratios is printed beside it.
Needs CuPy, a CUDA device and PyTorch with CUDA.
Run: ``python -m benchmarks.bench_gpu``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import numdl
from benchmarks import bench_conv
from benchmarks.harness import interleave, paired_ratio, table
from numdl import backend, layers, models
from numdl.training import loop


def mlp_model(seed: int = 0) -> models.Sequential:
    numdl.config.set_random_seed(seed)
    model = models.Sequential(
        [
            layers.Input((784,)),
            layers.Dense(256, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def mlp_torch(model: models.Sequential):
    import torch

    net = torch.nn.Sequential(
        torch.nn.Linear(784, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    values = model.get_weights()
    with torch.no_grad():
        for i, param in enumerate(net.parameters()):
            value = values[i].T if values[i].ndim == 2 else values[i]
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return net


def to_torch_layout(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


def step_fns(model: models.Sequential, net, x: np.ndarray, y: np.ndarray) -> dict:
    """One synchronised training step each, data already on the device."""
    import torch

    xp = backend.gpu_module()
    model.to("gpu")
    net = net.cuda()
    gx, gy = xp.asarray(x), xp.asarray(y)
    check_same(model, net, x)
    model.train_on_batch(gx, gy)  # builds the plan and the optimizer slots
    plan, tx = model._plan, numdl.Tensor(gx)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    ttx = torch.from_numpy(to_torch_layout(x)).cuda()
    tty = torch.from_numpy(y).cuda()
    sync = xp.cuda.Device().synchronize

    def numdl_step() -> None:
        loop.train_step(plan, tx, [gy], None)
        sync()

    def torch_step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(ttx), tty).backward()
        opt.step()
        torch.cuda.synchronize()

    return {"numdl+cupy": numdl_step, "torch cuda": torch_step}


def check_same(model: models.Sequential, net, x: np.ndarray) -> None:
    import torch

    net.eval()
    with torch.no_grad():
        tx = torch.from_numpy(to_torch_layout(x)).cuda()
        expected = torch.softmax(net(tx), dim=1).cpu().numpy()
    net.train()
    np.testing.assert_allclose(model.predict_on_batch(x), expected, atol=2e-5)


def time_case(name: str, build, batch: int, repeats: int) -> tuple[str, float]:
    model = build()
    net = mlp_torch(model) if build is mlp_model else bench_conv.torch_model(model)
    shape = (batch, 784) if build is mlp_model else (batch, 28, 28, 1)
    rng = np.random.default_rng(0)
    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, 10, batch)
    fns = step_fns(model, net, x, y)
    timings = interleave(fns, repeats=repeats, warmup=10)
    ours, ref = timings["numdl+cupy"], timings["torch cuda"]
    ratio = ours.median / ref.median
    lines = [
        table(f"{name}, batch {batch}: training step", timings, "torch cuda"),
        "",
        f"numdl / torch: ratio of medians {ratio:.2f}, median of per-round "
        f"ratios {paired_ratio(ours, ref):.2f}",
        "",
    ]
    return "\n".join(lines), ratio


def time_epoch(samples: int, batch: int) -> float:
    """Seconds for one ``fit`` epoch of the convnet on data on the device."""
    xp = backend.gpu_module()
    model = bench_conv.numdl_model().to("gpu")
    rng = xp.random.default_rng(0)
    x = rng.random((samples, 28, 28, 1), dtype=xp.float32)
    y = rng.integers(0, 10, samples)
    model.fit(x[:2048], y[:2048], batch_size=batch, epochs=1, verbose=0)  # warm up
    xp.cuda.Device().synchronize()
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    xp.cuda.Device().synchronize()
    return time.perf_counter() - start


def _subclasses(cls: type) -> list[type]:
    out, stack = [], [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            out.append(sub)
            stack.append(sub)
    return out


def profile_ops(build, batch: int, steps: int = 20) -> str:
    """Device time per op (forward/backward) and optimizer step, synchronising
    around each (so the sum exceeds a step's time; the ranking is the point)."""
    from collections import defaultdict

    from numdl.autograd.function import Function
    from numdl.optimizers.base import Optimizer

    xp = backend.gpu_module()
    sync = xp.cuda.Device().synchronize
    totals: dict[str, float] = defaultdict(float)
    patched = []

    def wrap(cls: type, name: str) -> None:
        fn = cls.__dict__[name]

        def timed(self, *args, **kwargs):
            sync()
            start = time.perf_counter()
            out = fn(self, *args, **kwargs)
            sync()
            totals[f"{cls.__name__}.{name}"] += time.perf_counter() - start
            return out

        setattr(cls, name, timed)
        patched.append((cls, name, fn))

    for cls in _subclasses(Function):
        for name in ("forward", "backward"):
            if name in cls.__dict__:
                wrap(cls, name)
    wrap(Optimizer, "_apply")
    model = build().to("gpu")
    shape = (batch, 784) if build is mlp_model else (batch, 28, 28, 1)
    x = xp.random.default_rng(0).random(shape, dtype=xp.float32)
    y = xp.random.default_rng(1).integers(0, 10, batch)
    model.train_on_batch(x, y)
    plan, tx = model._plan, numdl.Tensor(x)
    for _ in range(5):  # compile every kernel before timing
        loop.train_step(plan, tx, [y], None)
    totals.clear()
    try:
        for _ in range(steps):
            loop.train_step(plan, tx, [y], None)
    finally:
        for cls, name, fn in patched:
            setattr(cls, name, fn)
    rows = sorted(totals.items(), key=lambda kv: -kv[1])[:20]
    lines = [
        f"| op ({build.__name__}, batch {batch}) | ms per step |",
        "| --- | ---: |",
    ]
    lines += [f"| {k} | {v / steps * 1e3:.3f} |" for k, v in rows]
    return "\n".join(lines)


def gpu_name() -> str:
    xp = backend.gpu_module()
    props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--cpu-epoch", type=float, default=13.5)
    parser.add_argument("--skip-epoch", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="device time per op, then exit"
    )
    args = parser.parse_args(argv)
    import torch

    print(
        f"GPU: {gpu_name()}; CuPy {backend.gpu_module().__version__}; torch "
        f"{torch.__version__}; numpy {np.__version__}\n"
    )
    if args.profile:
        for build, batch in (
            (mlp_model, 128),
            (bench_conv.numdl_model, 128),
            (bench_conv.numdl_model, 512),
        ):
            print(profile_ops(build, batch), "\n", flush=True)
        return
    ratios = {}
    for name, build, batches in (
        ("MLP 784-256-128-10", mlp_model, (128, 1024)),
        ("MNIST convnet", bench_conv.numdl_model, (128, 512)),
    ):
        for batch in batches:
            text, ratio = time_case(name, build, batch, args.repeats)
            print(text, flush=True)
            ratios[(name, batch)] = ratio
    for (name, batch), ratio in ratios.items():
        limit = 1.5 if batch == 128 else 1.2
        verdict = "met" if ratio <= limit else "NOT met"
        print(f"target {name} batch {batch}: {ratio:.2f}x <= {limit}x: {verdict}")
    if not args.skip_epoch:
        seconds = time_epoch(60000, 128)
        speedup = args.cpu_epoch / seconds
        verdict = "met" if speedup >= 10 else "NOT met"
        print(
            f"\nMNIST convnet epoch (60,000 samples on the device, batch 128): "
            f"{seconds:.2f} s; CPU epoch {args.cpu_epoch} s -> {speedup:.1f}x "
            f"(target >= 10x: {verdict})"
        )


if __name__ == "__main__":
    main()
