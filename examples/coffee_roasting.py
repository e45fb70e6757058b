"""Two-feature classification: which coffee roasts are good?

The classic first neural network: temperature and duration in, "good roast"
out, Normalization adapted to the data, two small sigmoid layers, binary
cross-entropy and Adam. The good region is a band cut by a diagonal, which
no single linear boundary can capture.

With ``--out DIR`` it draws the decision region the network learned, over
the raw temperatures and durations, to ``DIR/coffee_decision_region.png``
(``numdl.plot.plot_decision_boundary``, needs matplotlib).

Run: python examples/coffee_roasting.py [--out DIR]   (expected: accuracy > 95%)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import numdl as keras
from numdl import layers
from numdl.datasets import toy


def main(
    epochs: int = 10,
    tiles: int = 1000,
    seed: int = 1234,
    verbose: int | str = 2,
    out: str | None = None,
) -> float:
    keras.utils.set_random_seed(seed)
    x, y = toy.coffee_roasting(n_samples=200, seed=2)
    # As in the original lab: tile the 200 examples to have more steps per epoch.
    x_train, y_train = np.tile(x, (tiles, 1)), np.tile(y, tiles)

    norm = layers.Normalization(axis=-1)
    norm.adapt(x)
    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            norm,
            layers.Dense(3, activation="sigmoid", name="layer1"),
            layers.Dense(1, activation="sigmoid", name="layer2"),
        ]
    )
    model.compile(
        loss=keras.losses.BinaryCrossentropy(),
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, verbose=verbose)

    x_check, y_check = toy.coffee_roasting(n_samples=1000, seed=7)
    predicted = (model.predict(x_check, verbose=0)[:, 0] >= 0.5).astype(int)
    accuracy = float(np.mean(predicted == y_check))
    print(f"accuracy on 1,000 new roasts: {accuracy:.2%}")
    if out is not None:
        plot_region(model, x, y, Path(out) / "coffee_decision_region.png")
    return accuracy


def plot_region(model: keras.Model, x: np.ndarray, y: np.ndarray, path: Path) -> None:
    """The learned good-roast region (probability >= 0.5) with the roasts."""
    from numdl import plot

    path.parent.mkdir(parents=True, exist_ok=True)
    fig = plot.plot_decision_boundary(model, x, y)
    ax = fig.axes[0]
    ax.set(
        title="good roasts: learned region",
        xlabel="temperature (Celsius)",
        ylabel="duration (minutes)",
    )
    fig.savefig(path)
    plot.pyplot().close(fig)
    print(f"decision region: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the region plot")
    parser.add_argument(
        "--smoke", action="store_true", help="2 epochs over 20 copies (a quick run)"
    )
    args = parser.parse_args()
    if args.smoke:
        main(epochs=2, tiles=20, out=args.out)
    else:
        main(out=args.out)
