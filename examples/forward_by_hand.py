"""Forward propagation by hand, next to the same network as a Sequential model.

A network with 2 inputs, a hidden layer of 3 sigmoid units and 1 sigmoid
output, three ways with the same weights:

1. unit by unit: each unit is ``g(w . a + b)``, one dot product per unit
   (``dense_loop``), layer after layer;
2. vectorised: one layer is ``g(A @ W + b)`` for a whole batch at once;
3. numdl: ``Sequential([Input, Dense(3, "sigmoid"), Dense(1, "sigmoid")])``
   with those weights set by ``set_weights``.

The script prints the three side by side and asserts they are the same
numbers (float64 throughout, so to 1e-12). With ``--out DIR`` it draws the
model's layer graph to ``DIR/forward_model.png`` (``numdl.plot.plot_model``).

Run: python examples/forward_by_hand.py [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import numdl as keras
from numdl import layers


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-z)``, written without overflow for large negative z."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def dense_loop(a_in: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One layer for one example, unit by unit: column j of ``w`` is unit j."""
    a_out = np.zeros(w.shape[1])
    for j in range(w.shape[1]):
        z = np.dot(w[:, j], a_in) + b[j]
        a_out[j] = sigmoid(z)
    return a_out


def forward_loop(x: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
    """Example by example, layer by layer, unit by unit."""
    w1, b1, w2, b2 = params
    return np.array([dense_loop(dense_loop(xi, w1, b1), w2, b2) for xi in x])


def forward_vectorised(x: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
    """The whole batch at once: one matrix product per layer."""
    w1, b1, w2, b2 = params
    return sigmoid(sigmoid(x @ w1 + b1) @ w2 + b2)


def numdl_model(params: list[np.ndarray]) -> keras.Sequential:
    """The same network as a Keras-style model, in float64, weights set."""
    model = keras.Sequential(
        [
            keras.Input(shape=(2,), dtype="float64"),
            layers.Dense(3, activation="sigmoid", dtype="float64", name="hidden"),
            layers.Dense(1, activation="sigmoid", dtype="float64", name="output"),
        ]
    )
    model.set_weights(params)
    return model


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="(already fast)")
    parser.add_argument("--out", default=None, help="folder for the model drawing")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(3)
    params = [
        rng.normal(size=(2, 3)),  # W1: 2 inputs -> 3 units
        rng.normal(size=3),  # b1
        rng.normal(scale=3.0, size=(3, 1)),  # W2: 3 units -> 1 output
        rng.normal(size=1),  # b2
    ]
    x = rng.normal(size=(5, 2))
    by_hand = forward_loop(x, params)
    vectorised = forward_vectorised(x, params)
    model = numdl_model(params)
    # Calling the model runs it in its own float64; ``predict`` would first
    # convert the inputs to numdl.config.floatx() (float32), as fit does.
    predicted = model(x).numpy()
    print(f"{'x':>20} {'unit by unit':>14} {'vectorised':>14} {'numdl':>14}")
    for xi, a, b, c in zip(x, by_hand[:, 0], vectorised[:, 0], predicted[:, 0]):
        print(
            f"{np.array2string(xi, precision=3):>20} {a:14.10f} {b:14.10f} {c:14.10f}"
        )
    np.testing.assert_allclose(vectorised, by_hand, rtol=1e-12)
    np.testing.assert_allclose(predicted, by_hand, rtol=1e-12)
    difference = float(np.abs(predicted - by_hand).max())
    print(f"largest difference: {difference:.1e} (the same numbers)")
    if args.out:
        from numdl import plot

        path = Path(args.out) / "forward_model.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        plot.pyplot().close(plot.plot_model(model, path=path))
        print(f"model drawing: {path}")
    return difference


if __name__ == "__main__":
    main()
