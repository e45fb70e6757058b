"""Training: ``Trainer`` (compile/fit/evaluate/predict), the step loop, data.

>>> from numdl.training import Trainer
>>> Trainer.compiled
False
"""

from numdl.training.trainer import Trainer

__all__ = ["Trainer"]
