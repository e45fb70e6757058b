"""Keras layers: ``from numdl import layers``; ``layers.Dense(10)``."""

from numdl.layers.base import InputSpec, Layer
from numdl.layers.core import Dense
from numdl.layers.input_layer import Input, InputLayer
from numdl.layers.symbolic import KerasTensor

__all__ = ["Dense", "Input", "InputLayer", "InputSpec", "KerasTensor", "Layer"]
