"""What the MNIST examples share: command-line options, data, the report."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numdl as keras


def parse_args(doc: str, epochs: int, argv: list[str] | None) -> argparse.Namespace:
    """``--data-dir``, ``--epochs``, ``--batch-size``, ``--seed``, ``--verbose``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory holding the data set's four .gz files "
        "(default: $NUMDL_DATA/<name>, else ~/.numdl/datasets/<name>)",
    )
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", default="auto", help="0, 1, 2 or auto")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    if args.verbose != "auto":
        args.verbose = int(args.verbose)
    return args


def load_images(module: Any, data_dir: str | None, flat: bool) -> tuple:
    """Images scaled to [0, 1], as (n, 784) or (n, 28, 28, 1); uint8 labels."""
    (x_train, y_train), (x_test, y_test) = module.load_data(path=data_dir)
    shape = (-1, 784) if flat else (-1, 28, 28, 1)
    x_train = x_train.reshape(shape).astype("float32") / 255
    x_test = x_test.reshape(shape).astype("float32") / 255
    return (x_train, y_train), (x_test, y_test)


def fit_and_report(
    model: Any, args: argparse.Namespace, train: tuple, test: tuple
) -> float:
    """Train, evaluate on the test set, print accuracy and wall time."""
    start = time.perf_counter()
    model.fit(
        *train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose
    )
    elapsed = time.perf_counter() - start
    _, accuracy = model.evaluate(*test, verbose=0)
    print(f"test accuracy: {accuracy:.2%}")
    print(
        f"wall time: {elapsed:.1f} s for {args.epochs} epochs "
        f"({elapsed / max(args.epochs, 1):.1f} s per epoch, {os.cpu_count()} cores)"
    )
    return float(accuracy)
