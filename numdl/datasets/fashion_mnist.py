"""Fashion-MNIST: Zalando's article images, a drop-in replacement for MNIST.

60,000 training and 10,000 test grey images of 28x28 pixels in 10 classes
(``CLASS_NAMES``), 6,000 and 1,000 of each. ``load_data`` reads the four gzip
IDX files from ``$NUMDL_DATA/fashion-mnist/`` (else
``~/.numdl/datasets/fashion-mnist/``), checks each one's published MD5 and
downloads the missing ones from Zalando's mirror. Cite: H. Xiao, K. Rasul,
R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms", arXiv:1708.07747, 2017 (MIT licence).

>>> CLASS_NAMES[9]
'Ankle boot'
"""

from __future__ import annotations

import os

from numdl.datasets import mnist

NAME = "fashion-mnist"
#: File name -> MD5 published in Zalando's README, in the order train images,
#: train labels, test images, test labels.
FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
#: URL prefixes serving the four files, tried in order.
MIRRORS: list[str] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_data(
    path: str | os.PathLike | None = None,
) -> tuple[mnist.Split, mnist.Split]:
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays.

    Images have shape (60000, 28, 28) and (10000, 28, 28), values 0..255;
    labels are class indices 0-9 into ``CLASS_NAMES``. ``path`` is the
    directory holding the four files (default ``$NUMDL_DATA/fashion-mnist``
    or ``~/.numdl/datasets/fashion-mnist``). Needs the 30 MB of data
    (downloaded once). Usage, as in Keras::

        (x_train, y_train), (x_test, y_test) = load_data()
        CLASS_NAMES[y_train[0]]  # 'Ankle boot'

    The files it reads, in this order:

    >>> for name in FILES:  # what load_data reads, in this order
    ...     print(name)
    train-images-idx3-ubyte.gz
    train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz
    t10k-labels-idx1-ubyte.gz
    """
    return mnist._load_idx_set(mnist._directory(NAME, path), FILES, MIRRORS)
