"""Adadelta, as Keras 3."""

from __future__ import annotations

from typing import Any

from numdl.optimizers.base import Optimizer
from numdl.registry import register


@register("optimizer", "adadelta")
class Adadelta(Optimizer):
    """Steps scaled by the ratio of running RMS of updates and of gradients::

        acc_g = rho * acc_g + (1 - rho) * g**2
        delta = -sqrt(acc_d + eps) / sqrt(acc_g + eps) * g
        acc_d = rho * acc_d + (1 - rho) * delta**2
        w += lr * delta

    State: ``accumulated_grad`` (``acc_g``), ``accumulated_delta_var``
    (``acc_d``).

    Same formula as ``torch.optim.Adadelta`` (eps inside both roots); only the
    defaults differ: Keras ``learning_rate=0.001, epsilon=1e-7``, torch
    ``lr=1.0, eps=1e-6`` (the paper's form is ``learning_rate=1.0``).

    >>> import numpy as np, numdl
    >>> w = numdl.Tensor(np.array([1.0]), requires_grad=True)
    >>> opt = Adadelta(learning_rate=1.0, rho=0.0, epsilon=1.0)
    >>> _ = opt.apply_gradients([(np.array([0.0]), w)]); w.data.tolist()
    [1.0]
    """

    _work_names = ("tmp", "tmp2")
    _small_together = True  # element-wise: see numdl/optimizers/small.py

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "adadelta",
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
        self.rho = rho
        self.epsilon = epsilon

    def _slot_names(self) -> tuple[str, ...]:
        return ("accumulated_grad", "accumulated_delta_var")

    def _update(self, xp: Any, w: Any, g: Any, s: dict, lr: float) -> None:
        rho, eps, tmp, tmp2 = self.rho, self.epsilon, s["tmp"], s["tmp2"]
        acc_g, acc_d = s["accumulated_grad"], s["accumulated_delta_var"]
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - rho
        acc_g *= rho
        acc_g += tmp  # acc_g = rho * acc_g + (1 - rho) * g**2
        xp.add(acc_d, eps, out=tmp)
        xp.sqrt(tmp, out=tmp)
        xp.add(acc_g, eps, out=tmp2)
        xp.sqrt(tmp2, out=tmp2)
        tmp /= tmp2
        tmp *= g  # tmp = -delta = sqrt(acc_d + eps) / sqrt(acc_g + eps) * g
        xp.multiply(tmp, tmp, out=tmp2)
        tmp2 *= 1 - rho
        acc_d *= rho
        acc_d += tmp2  # acc_d = rho * acc_d + (1 - rho) * delta**2
        tmp *= lr
        w -= tmp  # w += lr * delta

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
