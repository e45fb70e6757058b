"""Per-op overhead of the engine: tiny arrays, so the bookkeeping is all there is.

Each case is timed against the same arithmetic in plain NumPy, interleaved:

- ``add``: one forward op on shape (4,) tensors that require grad;
- ``add+sum fwd+bwd``: ``(a + b).sum().backward()``;
- ``chain of 100 tanh fwd+bwd``: per-op cost of a long graph (time / 100);
- ``2-3-1 net step``: a tiny tanh network, MSE loss, forward and backward.

The difference of medians divided by the number of ops is the overhead per
op. Run: ``python -m benchmarks.bench_overhead``.
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


def case_add(rng: np.random.Generator) -> dict:
    (a, b), (ta, tb) = _leaves(rng, (4,), (4,))
    return {"numpy": lambda: a + b, "numdl": lambda: ta + tb}


def case_add_sum(rng: np.random.Generator) -> dict:
    (a, b), (ta, tb) = _leaves(rng, (4,), (4,))

    def numpy_step():
        total = (a + b).sum()
        g = np.broadcast_to(np.ones((), np.float32), a.shape)
        return total, g.copy(), g.copy()

    def numdl_step():
        ta.grad = tb.grad = None
        (ta + tb).sum().backward()

    return {"numpy": numpy_step, "numdl": numdl_step}


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

    return {"numpy": numpy_step, "numdl": numdl_step}


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

    return {"numpy": numpy_step, "numdl": numdl_step}


CASES = {
    "add (forward only), shape (4,)": (case_add, 1),
    "add+sum forward+backward, shape (4,)": (case_add_sum, 2),
    f"chain of {CHAIN} tanh forward+backward, shape (4,)": (case_chain, CHAIN),
    "2-3-1 tanh net, MSE, forward+backward, batch 4": (case_tiny_net, 8),
}


def run(repeats: int, threads: int) -> str:
    set_threads(threads)
    out = [f"Machine: {machine()}; threads: {threads}", ""]
    summary = ["| case | numdl - numpy per op (us) |", "| --- | ---: |"]
    for title, (make, n_ops) in CASES.items():
        timings = interleave(make(np.random.default_rng(0)), repeats, warmup=20)
        out += [table(title, timings, "numpy", unit="us"), ""]
        extra = timings["numdl"].median - timings["numpy"].median
        summary.append(f"| {title} ({n_ops} ops) | {extra / n_ops * 1e6:.2f} |")
    return "\n".join(out + ["### Overhead per op", ""] + summary)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(run(args.repeats, args.threads))


if __name__ == "__main__":
    main()
