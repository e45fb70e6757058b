"""A convnet for Fashion-MNIST (Zalando's clothing images).

Clothes are harder than digits: the simple MNIST convnet stops near 90%
here, so this one keeps the image size with "same" padding and adds a
hidden Dense layer: Conv 32 -> pool -> Conv 64 -> pool -> Dense 128 -> 10.

Run: NUMDL_DATA=../shared/data python examples/fashion_mnist_cnn.py
     (or --data-dir DIR holding the four Fashion-MNIST .gz files;
     expected: >= 91%)
"""

from __future__ import annotations

import _common

import numdl as keras
from numdl import layers


def convnet() -> keras.Sequential:
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(10, activation="softmax"),
        ]
    )


def main(argv: list[str] | None = None) -> float:
    args = _common.parse_args(__doc__, epochs=12, argv=argv)
    train, test = _common.load_images(
        keras.datasets.fashion_mnist, args.data_dir, flat=False
    )
    model = convnet()
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"]
    )
    model.summary()
    return _common.fit_and_report(model, args, train, test)


if __name__ == "__main__":
    main()
