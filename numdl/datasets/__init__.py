"""Datasets: small generated problems (``toy``); real image sets come later."""

from numdl.datasets import toy

__all__ = ["toy"]
