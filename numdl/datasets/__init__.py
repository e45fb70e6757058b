"""Datasets: MNIST and Fashion-MNIST (downloaded once, checksummed), the
bundled 8x8 ``digits``, generated problems (``toy``) and the IDX file reader.
"""

from numdl.datasets import digits, fashion_mnist, mnist, toy
from numdl.datasets.idx import load_idx, save_idx

__all__ = ["digits", "fashion_mnist", "load_idx", "mnist", "save_idx", "toy"]
