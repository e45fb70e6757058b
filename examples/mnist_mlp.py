"""The Keras MNIST MLP: 784-512-512-10 with dropout, RMSprop, 20 epochs.

Run: NUMDL_DATA=../shared/data python examples/mnist_mlp.py
     (or --data-dir DIR holding the four MNIST .gz files; expected: >= 98.0%)
"""

from __future__ import annotations

import _common

import numdl as keras
from numdl import layers


def main(argv: list[str] | None = None) -> float:
    args = _common.parse_args(__doc__, epochs=20, argv=argv)
    train, test = _common.load_images(keras.datasets.mnist, args.data_dir, flat=True)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    model.summary()
    return _common.fit_and_report(model, args, train, test)


if __name__ == "__main__":
    main()
