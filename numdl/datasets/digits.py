"""The UCI 8x8 handwritten digits, bundled with numdl (works offline).

1,797 grey images of 8x8 pixels (values 0..16) and their labels 0-9: the
test set of the UCI "Optical Recognition of Handwritten Digits" data
(E. Alpaydin and C. Kaynak, 1998; CC BY 4.0; see ``data/README.md``).
"""

from __future__ import annotations

import gzip
import hashlib
from importlib import resources

import numpy as np

SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
N_SAMPLES = 1797


def _read() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 samples as ``(images uint8 (n, 8, 8), labels uint8 (n,))``."""
    raw = resources.files("numdl.datasets").joinpath("data/digits.csv.gz").read_bytes()
    if hashlib.sha256(raw).hexdigest() != SHA256:
        raise OSError(
            "numdl/datasets/data/digits.csv.gz is corrupted (its SHA-256 does not "
            "match); reinstall numdl"
        )
    table = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=",")
    if table.shape != (N_SAMPLES, 65):
        raise OSError(
            f"digits.csv.gz: expected 1797 rows of 65 values, got {table.shape}"
        )
    images = table[:, :64].astype(np.uint8).reshape(-1, 8, 8)
    return images, table[:, 64].astype(np.uint8)


def load_data(
    test_split: float = 0.2, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return ``(x_train, y_train), (x_test, y_test)``, shuffled with ``seed``.

    Images are uint8 arrays of shape (n, 8, 8) with values 0..16; labels are
    uint8 digits. ``test_split`` is the fraction held out for testing.

    >>> (x_train, y_train), (x_test, y_test) = load_data()
    >>> x_train.shape, x_test.shape, int(x_train.max())
    ((1438, 8, 8), (359, 8, 8), 16)
    """
    if not 0.0 < test_split < 1.0:
        raise ValueError(
            f"digits.load_data: test_split must be between 0 and 1, got {test_split}"
        )
    images, labels = _read()
    order = np.random.default_rng(seed).permutation(N_SAMPLES)
    n_test = int(round(N_SAMPLES * test_split))
    train, test = order[n_test:], order[:n_test]
    return (images[train], labels[train]), (images[test], labels[test])
