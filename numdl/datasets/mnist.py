"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28.

``load_data`` reads the publisher's four gzip IDX files from
``$NUMDL_DATA/mnist/`` (else ``~/.numdl/datasets/mnist/``), checks each one's
published MD5, and downloads the missing ones from ``MIRRORS`` (PyTorch's
mirror, then the original site). Cite: Y. LeCun, L. Bottou, Y. Bengio,
P. Haffner, "Gradient-based learning applied to document recognition",
Proc. IEEE 86(11), 1998 (CC BY-SA 3.0, as Keras names it).

>>> list(FILES)[0], FILES["train-images-idx3-ubyte.gz"]
('train-images-idx3-ubyte.gz', 'f68b3c2dcbeaaa9fbdd348bbdeb94873')
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from numdl.datasets import _download
from numdl.datasets.idx import load_idx

NAME = "mnist"
#: File name -> published MD5, in the order train images, train labels, test
#: images, test labels.
FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
#: URL prefixes serving the four files, tried in order.
MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

Split = tuple[np.ndarray, np.ndarray]


def load_data(path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays.

    Images have shape (60000, 28, 28) and (10000, 28, 28), values 0..255;
    labels are digits 0-9. ``path`` is the directory holding the four files
    (default ``$NUMDL_DATA/mnist`` or ``~/.numdl/datasets/mnist``); Keras's
    cache-file name (``"mnist.npz"``) means the default. Needs the 11 MB of
    data (downloaded once). Usage, as in Keras::

        (x_train, y_train), (x_test, y_test) = load_data()
        x_train.shape, x_train.dtype  # (60000, 28, 28), uint8

    The files it reads, in this order:

    >>> for name in FILES:  # what load_data reads, in this order
    ...     print(name)
    train-images-idx3-ubyte.gz
    train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz
    t10k-labels-idx1-ubyte.gz
    """
    return _load_idx_set(_directory(NAME, path), FILES, MIRRORS)


def _directory(name: str, path: str | os.PathLike | None) -> Path:
    """``path`` as a directory, or the data set's default directory."""
    if path is None or os.fspath(path).endswith(".npz"):
        return _download.data_dir(name)
    return Path(path)


def _load_idx_set(
    directory: str | os.PathLike,
    files: Mapping[str, str],
    mirrors: Sequence[str],
) -> tuple[Split, Split]:
    """Fetch and read the four IDX files named by ``files`` (name -> MD5, in
    the order train images, train labels, test images, test labels).

    Shared by MNIST and Fashion-MNIST; checks that images are 3-D uint8 and
    labels 1-D uint8 of the same length.
    """
    if len(files) != 4:
        raise ValueError(
            "_load_idx_set: expected 4 files (train images, train labels, test "
            f"images, test labels), got {len(files)}"
        )
    paths = list(_download.fetch(directory, files, mirrors).values())
    x_train, y_train, x_test, y_test = (load_idx(path) for path in paths)
    _check_pair(x_train, y_train, paths[0], paths[1])
    _check_pair(x_test, y_test, paths[2], paths[3])
    return (x_train, y_train), (x_test, y_test)


def _check_pair(
    images: np.ndarray, labels: np.ndarray, ipath: Path, lpath: Path
) -> None:
    """Images 3-D uint8, labels 1-D uint8, one label per image."""
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{ipath}: expected 3-D uint8 images, got {images.dtype} of shape "
            f"{images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{lpath}: expected 1-D uint8 labels, got {labels.dtype} of shape "
            f"{labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{ipath} holds {len(images)} images but {lpath} holds {len(labels)} labels"
        )
