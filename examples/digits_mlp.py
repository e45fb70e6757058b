"""An MLP on the UCI 8x8 handwritten digits, written as a Keras program.

Only the import differs from Keras: ``import numdl as keras``. The digits are
bundled with numdl, so this runs offline.

Run: python examples/digits_mlp.py        (expected: test accuracy >= 97%)
"""

from __future__ import annotations

import numpy as np

import numdl as keras
from numdl import layers


def main(epochs: int = 40, seed: int = 0, verbose: int | str = 2) -> float:
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    x_train = x_train.reshape(-1, 64).astype("float32")
    x_test = x_test.reshape(-1, 64).astype("float32")

    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            layers.Rescaling(1 / 16),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.summary()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=verbose)

    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    per_class = [float(np.mean(predicted[y_test == d] == d)) for d in range(10)]
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.2%}")
    print("per digit:", " ".join(f"{d}:{a:.0%}" for d, a in enumerate(per_class)))
    return float(accuracy)


if __name__ == "__main__":
    main()
