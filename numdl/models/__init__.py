"""Models: ``Sequential``, functional ``Model(inputs, outputs)``, subclassed ``Model``.

>>> from numdl.layers import Dense, Input
>>> from numdl.models import Model, Sequential
>>> x = Input(shape=(4,))
>>> type(Model(x, Dense(1)(x))).__name__, type(Sequential()).__name__
('Functional', 'Sequential')
"""

from numdl.models.functional import Functional
from numdl.models.model import Model, model_from_json
from numdl.models.sequential import Sequential
from numdl.saving import load_model

__all__ = ["Functional", "Model", "Sequential", "load_model", "model_from_json"]
