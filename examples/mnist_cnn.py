"""The Keras "simple MNIST convnet": two Conv2D + MaxPooling, Dropout, softmax.

Adam, batch 128, 12 epochs (Keras's example trains 15 with a 10% validation
split and reports about 99.1%).

Run: NUMDL_DATA=../shared/data python examples/mnist_cnn.py
     (or --data-dir DIR holding the four MNIST .gz files; expected: >= 99.0%)
"""

from __future__ import annotations

import _common

import numdl as keras
from numdl import layers


def convnet() -> keras.Sequential:
    """The convnet of Keras's example, for 28x28x1 images and 10 classes."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )


def main(
    argv: list[str] | None = None, dataset: str = "mnist", epochs: int = 12
) -> float:
    args = _common.parse_args(__doc__, epochs=epochs, argv=argv)
    module = getattr(keras.datasets, dataset)
    train, test = _common.load_images(module, args.data_dir, flat=False)
    model = convnet()
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"]
    )
    model.summary()
    return _common.fit_and_report(model, args, train, test)


if __name__ == "__main__":
    main()
