"""Case 2: framework overhead per step, a 2-3-1 network, numdl ``fit`` vs PyTorch.

The network is Dense 3 sigmoid then Dense 1, binary cross-entropy from
logits (numdl: ``BinaryCrossentropy(from_logits=True)``, PyTorch:
``BCEWithLogitsLoss``, the same fused computation in both), Adam (lr 0.001,
epsilon 1e-7), batch 32, float32, one epoch over random 2-feature samples
per timed call. The arithmetic is negligible: the time is the framework's
per-op and per-step bookkeeping. PyTorch runs the usual eager loop (a new
permutation per epoch, batches gathered by index, ``loss.item()`` per step).
Before timing, one unshuffled epoch from the same weights must give both the
same weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import numdl
from benchmarks.harness import Target, interleave, rate_table, targets_table
from numdl import layers

BATCH = 32
NUMDL, TORCH = "numdl fit", "pytorch eager"


@dataclass(frozen=True)
class Sizes:
    """How much case 2 runs: samples per epoch and timed epochs."""

    samples: int
    repeats: int = 5
    warmup: int = 1
    pause: float = 0.3


MODES = {
    "full": Sizes(200_000),
    "quick": Sizes(20_000, repeats=3, pause=0.15),
    "smoke": Sizes(320, repeats=1, pause=0.0),
}


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two features and a 0/1 label (float32, shape (n, 1)) per sample.

    >>> x, y = data(4)
    >>> x.shape, y.shape, y.dtype
    ((4, 2), (4, 1), dtype('float32'))
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2), dtype=np.float32)
    return x, (x[:, :1] * x[:, 1:] > 0).astype(np.float32)  # XOR of the signs


def numdl_net(seed: int = 0, epsilon: float = 1e-7) -> numdl.Sequential:
    """The compiled 2-3-1 numdl network.

    >>> numdl_net().count_params()
    13
    """
    numdl.config.set_random_seed(seed)
    model = numdl.Sequential(
        [numdl.Input((2,)), layers.Dense(3, activation="sigmoid"), layers.Dense(1)]
    )
    model.compile(
        optimizer=numdl.optimizers.Adam(learning_rate=0.001, epsilon=epsilon),
        loss=numdl.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


def torch_net(model: numdl.Sequential, epsilon: float = 1e-7):
    """The same network in PyTorch with ``model``'s weights, and its Adam.

    >>> net, opt = torch_net(numdl_net())
    >>> net[0].weight.shape
    torch.Size([3, 2])
    """
    import torch

    net = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1)
    )
    with torch.no_grad():
        for param, value in zip(net.parameters(), model.get_weights()):
            param.copy_(torch.from_numpy(np.ascontiguousarray(value.T)))
    return net, torch.optim.Adam(net.parameters(), lr=0.001, eps=epsilon)


def torch_epoch(net, opt, tx, ty, order: np.ndarray) -> float:
    """One PyTorch epoch over the samples in ``order``; the mean batch loss.

    >>> import torch
    >>> net, opt = torch_net(numdl_net())
    >>> x, y = (torch.from_numpy(a) for a in data(64))
    >>> 0 < torch_epoch(net, opt, x, y, np.arange(64)) < 2
    True
    """
    import torch

    loss_fn = torch.nn.BCEWithLogitsLoss()
    index = torch.from_numpy(order)
    total = 0.0
    for start in range(0, len(index), BATCH):
        idx = index[start : start + BATCH]
        loss = loss_fn(net(tx[idx]), ty[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / len(index)


def check_same(n: int = 4 * BATCH) -> None:
    """numdl and PyTorch must train to the same weights in one epoch.

    Adam runs with a tiny epsilon here: Keras and PyTorch place epsilon
    differently (outside vs inside the bias correction), which only epsilon
    distinguishes.

    >>> check_same()  # raises AssertionError if they differ
    """
    import torch

    x, y = data(n, seed=1)
    model = numdl_net(epsilon=1e-12)
    net, opt = torch_net(model, epsilon=1e-12)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    torch_epoch(net, opt, torch.from_numpy(x), torch.from_numpy(y), np.arange(n))
    for got, param in zip(model.get_weights(), net.parameters()):
        np.testing.assert_allclose(got, param.detach().numpy().T, rtol=1e-4, atol=1e-6)


def run(sizes: Sizes, emit: Callable[[str], None]) -> list[Target]:
    """Time one epoch of each; emit the table with the target.

    >>> [t.label for t in run(MODES["smoke"], lambda text: None)]
    ['tiny net epoch numdl / pytorch']
    """
    import torch

    check_same()
    x, y = data(sizes.samples)
    model = numdl_net()
    net, opt = torch_net(model)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    rng = np.random.default_rng(0)
    n = sizes.samples
    fns = {
        NUMDL: lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0),
        TORCH: lambda: torch_epoch(net, opt, tx, ty, rng.permutation(n)),
    }
    timings = interleave(
        fns, repeats=sizes.repeats, warmup=sizes.warmup, pause=sizes.pause
    )
    steps = -(-n // BATCH)
    title = (
        f"Case 2: 2-3-1 sigmoid net, BCE from logits, Adam, batch {BATCH}, "
        f"one epoch of {n} samples ({steps} steps)"
    )
    ratio = timings[NUMDL].median / timings[TORCH].median
    found = [Target("tiny net epoch numdl / pytorch", ratio, 0.4)]
    emit(rate_table(title, timings, [TORCH], steps, n) + "\n\n" + targets_table(found))
    return found
