"""Adagrad, as Keras 3."""

from __future__ import annotations

from typing import Any

from numdl.optimizers.base import Optimizer
from numdl.registry import register


@register("optimizer", "adagrad")
class Adagrad(Optimizer):
    """Per-element rates shrinking with the sum of squared gradients::

        acc = acc + g**2                  # acc starts at initial_accumulator_value
        w -= lr * g / sqrt(acc + eps)

    State: ``accumulator`` (``acc``).

    Compared with ``torch.optim.Adagrad``: torch divides by
    ``sqrt(acc) + eps`` (eps outside the root) and starts ``acc`` at 0 by
    default (Keras at 0.1); with ``epsilon=0`` and the same initial value
    (and torch's ``lr_decay=0``) they agree.

    >>> import numpy as np, numdl
    >>> w = numdl.Tensor(np.array([1.0]), requires_grad=True)
    >>> opt = Adagrad(learning_rate=0.1, initial_accumulator_value=0.0, epsilon=0.0)
    >>> _ = opt.apply_gradients([(np.array([2.0]), w)]); w.data.tolist()
    [0.9]
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "adagrad",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
        if initial_accumulator_value < 0:
            raise ValueError(
                "Adagrad: `initial_accumulator_value` must be non-negative, got "
                f"{initial_accumulator_value}"
            )
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _slot_names(self) -> tuple[str, ...]:
        return ("accumulator",)

    def _slot_initial_value(self, slot: str) -> float:
        return self.initial_accumulator_value

    def _update(self, xp: Any, w: Any, g: Any, s: dict, lr: float) -> None:
        tmp, acc = s["tmp"], s["accumulator"]
        xp.multiply(g, g, out=tmp)
        acc += tmp  # acc = acc + g**2
        xp.add(acc, self.epsilon, out=tmp)
        xp.sqrt(tmp, out=tmp)
        xp.divide(g, tmp, out=tmp)
        tmp *= lr
        w -= tmp  # w -= lr * g / sqrt(acc + eps)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
