"""Per-op overhead of the engine: tiny arrays, so the bookkeeping is all there is.

Each case is timed against the same arithmetic in plain NumPy, interleaved:

- ``add``: one forward op on shape (4,) tensors that require grad;
- ``add+sum fwd+bwd``: ``(a + b).sum().backward()``;
- ``chain of 100 tanh fwd+bwd``: per-op cost of a long graph (time / 100);
- ``2-3-1 net step``: a tiny tanh network, MSE loss, forward and backward.

The difference of medians divided by the number of ops is the overhead per
op. PyTorch eager runs the same cases for context, in a block of its own
(see ``benchmarks.bench_engine.time_batch`` for why).
Run: ``python -m benchmarks.bench_overhead``.
"""

from __future__ import annotations

import argparse

import numpy as np

import numdl
from benchmarks.harness import interleave, machine, set_threads, table
from numdl import ops

CHAIN = 100


def _leaves(rng: np.random.Generator, *shapes: tuple[int, ...]) -> list:
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return arrays, [numdl.Tensor(a.copy(), requires_grad=True) for a in arrays]


def _torch_leaves(arrays: list[np.ndarray]) -> list:
    import torch

    return [torch.tensor(a, requires_grad=True) for a in arrays]


def case_add(rng: np.random.Generator) -> dict:
    (a, b), (ta, tb) = _leaves(rng, (4,), (4,))
    pa, pb = _torch_leaves([a, b])
    cases = {"numpy": lambda: a + b, "numdl": lambda: ta + tb}
    return cases | {"pytorch": lambda: pa + pb}


def case_add_sum(rng: np.random.Generator) -> dict:
    (a, b), (ta, tb) = _leaves(rng, (4,), (4,))

    def numpy_step():
        total = (a + b).sum()
        g = np.broadcast_to(np.ones((), np.float32), a.shape)
        return total, g.copy(), g.copy()

    def numdl_step():
        ta.grad = tb.grad = None
        (ta + tb).sum().backward()

    pa, pb = _torch_leaves([a, b])

    def torch_step():
        pa.grad = pb.grad = None
        (pa + pb).sum().backward()

    return {"numpy": numpy_step, "numdl": numdl_step, "pytorch": torch_step}


def case_chain(rng: np.random.Generator) -> dict:
    (a,), (ta,) = _leaves(rng, (4,))

    def numpy_step():
        outs = [a]
        for _ in range(CHAIN):
            outs.append(np.tanh(outs[-1]))
        g = np.ones_like(a)
        for y in reversed(outs[1:]):
            g = g * (1 - y * y)
        return g

    def numdl_step():
        ta.grad = None
        h = ta
        for _ in range(CHAIN):
            h = ops.tanh(h)
        h.backward(np.ones(4, np.float32))

    (pa,) = _torch_leaves([a])

    def torch_step():
        import torch

        pa.grad = None
        h = pa
        for _ in range(CHAIN):
            h = torch.tanh(h)
        h.backward(torch.ones(4))

    return {"numpy": numpy_step, "numdl": numdl_step, "pytorch": torch_step}


def case_tiny_net(rng: np.random.Generator) -> dict:
    (x, y), _ = _leaves(rng, (4, 2), (4, 1))
    arrays, params = _leaves(rng, (2, 3), (3,), (3, 1), (1,))

    def numpy_step():
        w1, b1, w2, b2 = arrays
        h = np.tanh(x @ w1 + b1)
        out = h @ w2 + b2
        diff = out - y
        loss = (diff * diff).mean()
        d_out = diff * np.float32(2 / diff.size)
        d_h = (d_out @ w2.T) * (1 - h * h)
        return loss, x.T @ d_h, d_h.sum(0), h.T @ d_out, d_out.sum(0)

    def numdl_step():
        w1, b1, w2, b2 = params
        for p in params:
            p.grad = None
        h = ops.tanh(x @ w1 + b1)
        diff = h @ w2 + b2 - y
        (diff * diff).mean().backward()

    torch_params = _torch_leaves(arrays)
    tx, ty = _torch_leaves([x, y])

    def torch_step():
        import torch

        w1, b1, w2, b2 = torch_params
        for p in torch_params:
            p.grad = None
        h = torch.tanh(tx.detach() @ w1 + b1)
        diff = h @ w2 + b2 - ty.detach()
        (diff * diff).mean().backward()

    return {"numpy": numpy_step, "numdl": numdl_step, "pytorch": torch_step}


CASES = {
    "add (forward only), shape (4,)": (case_add, 1),
    "add+sum forward+backward, shape (4,)": (case_add_sum, 2),
    f"chain of {CHAIN} tanh forward+backward, shape (4,)": (case_chain, CHAIN),
    "2-3-1 tanh net, MSE, forward+backward, batch 4": (case_tiny_net, 8),
}


def run(repeats: int, threads: int) -> str:
    set_threads(threads)
    out = [f"Machine: {machine()}; threads: {threads}", ""]
    summary = [
        "| case | numdl - numpy per op (us) | pytorch - numpy per op (us) |",
        "| --- | ---: | ---: |",
    ]
    for title, (make, n_ops) in CASES.items():
        cases = make(np.random.default_rng(0))
        torch_case = {"pytorch (own block)": cases.pop("pytorch")}
        timings = interleave(cases, repeats, warmup=20)
        timings.update(interleave(torch_case, repeats, warmup=20))
        out += [table(title, timings, "numpy", unit="us"), ""]
        ref = timings["numpy"].median
        per_op = [
            f"{(timings[name].median - ref) / n_ops * 1e6:.2f}"
            for name in ("numdl", "pytorch (own block)")
        ]
        summary.append(f"| {title} ({n_ops} ops) | {per_op[0]} | {per_op[1]} |")
    return "\n".join(out + ["### Overhead per op", ""] + summary)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(run(args.repeats, args.threads))


if __name__ == "__main__":
    main()
