"""The ``numdl`` command: ``numdl demo`` trains a small network and reports it."""

from __future__ import annotations

import argparse
import time

import numpy as np

import numdl
from numdl import activations, config, losses, optimizers
from numdl.datasets import toy


def _glorot(fan_in: int, fan_out: int) -> numdl.Tensor:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    w = config.rng().uniform(-limit, limit, (fan_in, fan_out))
    return numdl.tensor(w, requires_grad=True)


def demo(steps: int = 1500, seed: int = 0) -> float:
    """Train a 2-32-32-1 tanh network on two spirals with the engine alone.

    Everything is visible: tensors, the forward pass as ordinary expressions,
    ``loss.backward()`` and an Adam step. Returns the test accuracy.
    """
    config.set_random_seed(seed)
    x_train, y_train = toy.two_spirals(600, noise=0.02, seed=seed)
    x_test, y_test = toy.two_spirals(400, noise=0.02, seed=seed + 1)
    sizes = [2, 32, 32, 1]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [
            _glorot(fan_in, fan_out),
            numdl.tensor(np.zeros(fan_out), requires_grad=True),
        ]

    def forward(x: np.ndarray) -> numdl.Tensor:
        h = numdl.tensor(x)
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = activations.tanh(h)
        return h[:, 0]  # logits

    opt = optimizers.Adam(learning_rate=0.01)
    target = y_train.astype(np.float32)
    start = time.perf_counter()
    print("numdl demo: a 2-32-32-1 tanh network learns two interleaved spirals")
    print(f"{len(x_train)} training points, {len(x_test)} test points, Adam(0.01)")
    for step in range(1, steps + 1):
        loss = losses.binary_crossentropy(target, forward(x_train), from_logits=True)
        opt.zero_grad(params)
        loss.backward()
        opt.step(params)
        if step % 300 == 0 or step == 1:
            print(f"step {step:5d}  loss {loss.item():.4f}")
    with numdl.no_grad():
        predicted = forward(x_test).numpy() > 0
    accuracy = float((predicted == y_test).mean())
    elapsed = time.perf_counter() - start
    print(f"test accuracy: {accuracy:.2%}  ({elapsed:.1f} s)")
    return accuracy


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``numdl`` console script.

    >>> main(["demo", "--steps", "1"])  # doctest: +ELLIPSIS
    numdl demo: ...
    """
    parser = argparse.ArgumentParser(prog="numdl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="train a small network and print its accuracy")
    p_demo.add_argument("--steps", type=int, default=1500)
    p_demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(steps=args.steps, seed=args.seed)


if __name__ == "__main__":
    main()
