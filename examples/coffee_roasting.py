"""Two-feature classification: which coffee roasts are good?

The classic first neural network: temperature and duration in, "good roast"
out, Normalization adapted to the data, two small sigmoid layers, binary
cross-entropy and Adam. The good region is a band cut by a diagonal, which
no single linear boundary can capture.

Run: python examples/coffee_roasting.py   (expected: accuracy > 95%)
"""

from __future__ import annotations

import numpy as np

import numdl as keras
from numdl import layers
from numdl.datasets import toy


def main(
    epochs: int = 10, tiles: int = 1000, seed: int = 1234, verbose: int | str = 2
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
    return accuracy


if __name__ == "__main__":
    main()
