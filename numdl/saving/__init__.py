"""Saving and loading: ``.numdl`` model files, weight files, atomic writes.

``model.save("m.numdl")`` / ``numdl.models.load_model(path)`` keep a whole
model (architecture, weights, compile settings, optimizer state) in one zip
file; ``model.save_weights`` / ``load_weights`` keep the weights alone in a
``.weights.safetensors`` or ``.weights.npz`` file. Nothing is pickled and
loading never runs code from the file; custom classes and functions are found
through :func:`register_serializable` or ``custom_objects``. The callbacks
``ModelCheckpoint`` and ``BackupAndRestore`` live in
:mod:`numdl.saving.callbacks` (and ``numdl.callbacks``). Keras's names
``register_keras_serializable`` and ``CustomObjectScope`` are aliases, so
``keras.saving`` code runs with ``import numdl as keras``.

>>> import os, tempfile
>>> from numdl import layers, models
>>> model = models.Sequential([layers.Input((4,)), layers.Dense(3)])
>>> path = os.path.join(tempfile.mkdtemp(), "m.numdl")
>>> model.save(path)
>>> models.load_model(path).count_params()
15
"""

from numdl.saving.atomic import atomic_write
from numdl.saving.model_io import load_model, load_weights, save_model, save_weights
from numdl.saving.objects import custom_object_scope, register_serializable

register_keras_serializable = register_serializable  # Keras's name
CustomObjectScope = custom_object_scope  # Keras's name

__all__ = [
    "CustomObjectScope",
    "atomic_write",
    "custom_object_scope",
    "load_model",
    "load_weights",
    "register_keras_serializable",
    "register_serializable",
    "save_model",
    "save_weights",
]
