"""Keras layers: ``from numdl import layers``; ``layers.Dense(10)``."""

from numdl.layers.base import InputSpec, Layer
from numdl.layers.core import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    Identity,
    Lambda,
    Permute,
    RepeatVector,
    Reshape,
)
from numdl.layers.input_layer import Input, InputLayer
from numdl.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from numdl.layers.normalization import (
    BatchNormalization,
    LayerNormalization,
    UnitNormalization,
)
from numdl.layers.preprocessing import Normalization, Rescaling
from numdl.layers.regularization import (
    ActivityRegularization,
    GaussianDropout,
    GaussianNoise,
)
from numdl.layers.symbolic import KerasTensor

__all__ = [
    "Activation",
    "ActivityRegularization",
    "Add",
    "Average",
    "BatchNormalization",
    "Concatenate",
    "Dense",
    "Dot",
    "Dropout",
    "Flatten",
    "GaussianDropout",
    "GaussianNoise",
    "Identity",
    "Input",
    "InputLayer",
    "InputSpec",
    "KerasTensor",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "Maximum",
    "Minimum",
    "Multiply",
    "Normalization",
    "Permute",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "Subtract",
    "UnitNormalization",
    "add",
    "average",
    "concatenate",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]
