"""Two spirals with the engine alone: tensors, expressions, backward, Adam.

No layers, no model: the forward pass is ordinary arithmetic on Tensors, so
every step of training is in view. A 2-32-32-1 tanh network separates two
interleaved spirals.

Run: python examples/spirals_engine.py       (expected: test accuracy >= 97%)
"""

from __future__ import annotations

import numpy as np

import numdl
from numdl import activations, config, losses, optimizers
from numdl.datasets import toy


def glorot(fan_in: int, fan_out: int) -> numdl.Tensor:
    """A weight matrix drawn from Glorot's uniform distribution."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return numdl.tensor(
        config.rng().uniform(-limit, limit, (fan_in, fan_out)), requires_grad=True
    )


def main(steps: int = 1500, seed: int = 0) -> float:
    config.set_random_seed(seed)
    x_train, y_train = toy.two_spirals(600, noise=0.02, seed=seed)
    x_test, y_test = toy.two_spirals(400, noise=0.02, seed=seed + 1)
    sizes = [2, 32, 32, 1]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [glorot(fan_in, fan_out), numdl.tensor(np.zeros(fan_out), True)]

    def forward(x: np.ndarray) -> numdl.Tensor:
        h = numdl.tensor(x)
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = activations.tanh(h)
        return h[:, 0]  # logits

    opt = optimizers.Adam(learning_rate=0.01)
    target = y_train.astype(np.float32)
    for step in range(1, steps + 1):
        loss = losses.binary_crossentropy(target, forward(x_train), from_logits=True)
        opt.zero_grad(params)
        loss.backward()
        opt.step(params)
        if step % 300 == 0 or step == 1:
            print(f"step {step:5d}  loss {loss.item():.4f}")
    with numdl.no_grad():
        accuracy = float(((forward(x_test).numpy() > 0) == y_test).mean())
    print(f"test accuracy: {accuracy:.2%}")
    return accuracy


if __name__ == "__main__":
    main()
