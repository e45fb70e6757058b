"""Case 3: the Keras MNIST convnet, training step and inference vs PyTorch.

The pieces are ``benchmarks/bench_conv.py``'s: the same network in numdl
(NHWC, a compiled ``Sequential`` stepped by the step ``fit`` runs) and in
PyTorch (NCHW, its natural layout) with the same weights, checked to predict
the same probabilities before timing; Adam, float32. Each library runs in
blocks of its own, blocks alternating over rounds with a pause after each
(see ``bench_conv.blocks``). Inference is ``model.predict_on_batch`` against
the network in ``eval()`` mode under ``torch.no_grad()``, softmax included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import bench_conv
from benchmarks.harness import Target, rate_table, targets_table

NUMDL, TORCH = "numdl", "pytorch eager"


@dataclass(frozen=True)
class Sizes:
    """How much case 3 runs: batch, steps per block, rounds of blocks."""

    batch: int = 128
    steps: int = 10
    rounds: int = 6
    pause: float = 0.3


MODES = {
    "full": Sizes(),
    "quick": Sizes(steps=4, rounds=4, pause=0.15),
    "smoke": Sizes(batch=8, steps=1, rounds=2, pause=0.0),
}


def _timed(fns: dict, sizes: Sizes, what: str, bound: float, emit) -> Target:
    timings, paired = bench_conv.blocks(fns, sizes.steps, sizes.rounds, sizes.pause)
    title = f"Case 3: Keras MNIST convnet {what}, batch {sizes.batch}"
    ratio = timings[NUMDL].median / timings[TORCH].median
    found = Target(f"convnet {what} numdl / pytorch", ratio, bound)
    emit(
        rate_table(title, timings, [TORCH], 1, sizes.batch)
        + f"\n\nmedian of per-round ratios: {paired:.3f}\n\n"
        + targets_table([found])
    )
    return found


def run(sizes: Sizes, emit: Callable[[str], None]) -> list[Target]:
    """Time the training step, then inference; emit a table for each.

    >>> len(run(MODES["smoke"], lambda text: None))
    2
    """
    model = bench_conv.numdl_model()
    net = bench_conv.torch_model(model)
    x, y = bench_conv.data(sizes.batch)
    bench_conv.check_same(model, net, x)
    train = {
        NUMDL: bench_conv.numdl_step_fn(model, x, y, "train_step"),
        TORCH: bench_conv.torch_step_fn(net, x, y),
    }
    found = [_timed(train, sizes, "training step (Adam)", 1.0, emit)]
    net.eval()
    numdl_predict, torch_predict = bench_conv.inference_fns(model, net, x)
    infer = {NUMDL: numdl_predict, TORCH: torch_predict}
    found.append(_timed(infer, sizes, "inference", 1.0, emit))
    return found
