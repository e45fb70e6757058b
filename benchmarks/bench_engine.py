"""Engine overhead: an MLP forward+backward with numdl Tensors vs plain NumPy.

The MLP is 784-256-128-10 with ReLU and softmax cross-entropy from logits.
numdl builds the graph with ordinary Tensor code (``x @ w + b``, ``relu``,
the fused loss) and calls ``loss.backward()``; the reference does the same
arithmetic by hand (``benchmarks/numpy_mlp.py``). PyTorch eager is timed
for context, in a block of its own (see ``time_batch``).
Run: ``python -m benchmarks.bench_engine``.
"""

from __future__ import annotations

import argparse

import numpy as np

import numdl
from benchmarks.harness import interleave, machine, set_threads, table
from benchmarks.numpy_mlp import NumpyMLP
from numdl import activations, losses

SIZES = [784, 256, 128, 10]


def numdl_step(params: list[numdl.Tensor], x: np.ndarray, y: np.ndarray) -> float:
    """Forward and backward of the MLP written with numdl Tensors."""
    for p in params:
        p.grad = None
    h = numdl.Tensor(x)
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n_layers - 1:
            h = activations.relu(h)
    loss = losses.sparse_categorical_crossentropy(y, h, from_logits=True).mean()
    loss.backward()
    return loss.item()


def torch_step(model, x, y) -> float:
    import torch

    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss.item()


def build(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ref = NumpyMLP(SIZES, rng)
    x = rng.random((batch, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    params = [numdl.Tensor(p.copy(), requires_grad=True) for p in ref.params]
    return ref, params, x, y


def check_same(ref: NumpyMLP, params, x, y) -> None:
    """Both implementations must compute the same loss and gradients."""
    loss_ref, grads_ref = ref.loss_and_grads(x, y)
    loss = numdl_step(params, x, y)
    assert abs(loss - loss_ref) <= 1e-5 * max(1.0, abs(loss_ref)), (loss, loss_ref)
    for p, g in zip(params, grads_ref):
        np.testing.assert_allclose(p.grad, g, rtol=1e-4, atol=1e-6)


def torch_model(ref: NumpyMLP):
    import torch

    layers = []
    for i in range(len(ref.params) // 2):
        lin = torch.nn.Linear(*ref.params[2 * i].shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(ref.params[2 * i].T.copy()))
            lin.bias.copy_(torch.from_numpy(ref.params[2 * i + 1]))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def time_batch(batch: int, repeats: int) -> str:
    """Check that the implementations agree, then time them.

    numdl and NumPy are interleaved (they share one BLAS thread pool). numdl
    also runs in a block of its own, back to back as in a training loop,
    where the allocator sees only its pattern (steps that left the heap to be
    trimmed paid page faults only there). PyTorch runs in a block of its own:
    its OpenMP threads and NumPy's OpenBLAS threads spin-wait after their
    work, so interleaving the two pools on a small machine would time their
    contention, not either library.
    """
    ref, params, x, y = build(batch)
    check_same(ref, params, x, y)
    cases = {
        "numpy (hand-written)": lambda: ref.loss_and_grads(x, y),
        "numdl": lambda: numdl_step(params, x, y),
    }
    timings = interleave(cases, repeats=repeats, warmup=20)
    alone = {"numdl (own block)": cases["numdl"]}
    timings.update(interleave(alone, repeats=repeats, warmup=20))
    timings.update(time_torch(ref, x, y, repeats))
    title = f"MLP 784-256-128-10 forward+backward, float32, batch {batch}"
    return table(title, timings, "numpy (hand-written)")


def time_torch(ref: NumpyMLP, x: np.ndarray, y: np.ndarray, repeats: int) -> dict:
    """PyTorch eager on the same weights and data, timed alone."""
    import torch

    model = torch_model(ref)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    case = {"pytorch eager (own block)": lambda: torch_step(model, tx, ty)}
    return interleave(case, repeats=repeats, warmup=20)


def run(batches: list[int], repeats: int, threads: int) -> str:
    set_threads(threads)
    out = [f"Machine: {machine()}; threads: {threads}", ""]
    for batch in batches:
        out += [time_batch(batch, repeats), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(run(args.batches, args.repeats, args.threads))


if __name__ == "__main__":
    main()
