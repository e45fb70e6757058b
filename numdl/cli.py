"""The ``numdl`` command: ``numdl demo`` trains an MLP on the bundled digits."""

from __future__ import annotations

import argparse
import time

import numpy as np

import numdl
from numdl import layers


def demo(epochs: int = 40, seed: int = 0, verbose: str | int = "auto") -> float:
    """Train a Keras-style MLP on the 8x8 digits and return its test accuracy.

    The UCI digits (1,797 images, bundled) are split 80/20; the network is
    64 -> Rescaling -> Dense(128, relu) -> Dropout(0.2) -> Dense(10, softmax),
    trained with Adam on sparse categorical cross-entropy. It reaches about
    98% test accuracy in a few seconds.
    """
    numdl.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = numdl.datasets.digits.load_data()
    x_train = x_train.reshape(len(x_train), 64).astype(np.float32)
    x_test = x_test.reshape(len(x_test), 64).astype(np.float32)
    print("numdl demo: an MLP learns the UCI 8x8 handwritten digits")
    print(f"{len(x_train)} training images, {len(x_test)} test images\n")
    model = numdl.Sequential(
        [
            numdl.Input(shape=(64,)),
            layers.Rescaling(1 / 16),  # pixels are 0..16
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ],
        name="digits_mlp",
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    elapsed = time.perf_counter() - start
    print(f"\ntest accuracy: {accuracy:.2%}  ({elapsed:.1f} s)")
    return float(accuracy)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``numdl`` console script.

    >>> main(["demo", "--epochs", "1", "--verbose", "0"])  # doctest: +ELLIPSIS
    numdl demo: ...
    """
    parser = argparse.ArgumentParser(prog="numdl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="train an MLP on the bundled digits")
    p_demo.add_argument("--epochs", type=int, default=40)
    p_demo.add_argument("--seed", type=int, default=0)
    p_demo.add_argument(
        "--verbose", default="auto", help="0 silent, 1 progress bar, 2 one line/epoch"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
        demo(epochs=args.epochs, seed=args.seed, verbose=verbose)
