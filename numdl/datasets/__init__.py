"""Datasets: the bundled 8x8 ``digits`` and generated problems (``toy``)."""

from numdl.datasets import digits, toy

__all__ = ["digits", "toy"]
