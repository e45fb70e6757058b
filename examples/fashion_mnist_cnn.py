"""The same convnet on Fashion-MNIST (Zalando's clothing images).

Run: NUMDL_DATA=../shared/data python examples/fashion_mnist_cnn.py
     (or --data-dir DIR holding the four Fashion-MNIST .gz files;
     expected: >= 91%)
"""

from __future__ import annotations

import mnist_cnn


def main(argv: list[str] | None = None) -> float:
    return mnist_cnn.main(argv, dataset="fashion_mnist", epochs=12)


if __name__ == "__main__":
    main()
