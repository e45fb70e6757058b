"""RMSprop, as Keras 3."""

from __future__ import annotations

from typing import Any

from numdl.optimizers.base import Optimizer
from numdl.registry import register


@register("optimizer", "rmsprop")
class RMSprop(Optimizer):
    """Divide the gradient by a running root mean square (Keras 3 ``RMSprop``)::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g                  # centered only
        d = v - a**2 + eps  (centered)  or  v + eps  # see below for v - a**2
        inc = lr * g / sqrt(d)
        m = momentum * m + inc;  w -= m              # momentum > 0
        w -= inc                                     # momentum == 0

    State: ``velocity`` (``v``), ``average_gradient`` (``a``, centered) and
    ``momentum`` (``m``, momentum > 0).

    ``v - a**2 >= 0`` in exact arithmetic, but for a steady gradient it tends
    to 0 and rounding can make it negative, where Keras and torch take the
    square root of a negative number (NaN); numdl clamps it at 0 first.

    Compared with ``torch.optim.RMSprop`` (``alpha`` is ``rho``): torch adds
    ``eps`` outside the square root, ``g / (sqrt(d) + eps)``; Keras inside,
    ``g / sqrt(d + eps)``. With ``epsilon=0`` in both they agree, and with
    momentum they agree at a constant learning rate (torch's buffer holds
    ``m / lr``). Defaults differ too: torch ``lr=0.01, alpha=0.99, eps=1e-8``.

    >>> import numpy as np, numdl
    >>> w = numdl.Tensor(np.array([10.0]), requires_grad=True)
    >>> opt = RMSprop(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(w.data.copy(), w)])
    >>> round(float(w.data[0]), 6)  # the Keras docstring's 9.683772
    9.683772
    """

    _small_together = True  # element-wise: see numdl/optimizers/small.py

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "rmsprop",
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
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def _slot_names(self) -> tuple[str, ...]:
        names = ("velocity",)
        if self.momentum > 0:
            names += ("momentum",)
        if self.centered:
            names += ("average_gradient",)
        return names

    def _update(self, xp: Any, w: Any, g: Any, s: dict, lr: float) -> None:
        rho, tmp, v = self.rho, s["tmp"], s["velocity"]
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - rho
        v *= rho
        v += tmp  # v = rho * v + (1 - rho) * g**2
        if self.centered:
            a = s["average_gradient"]
            xp.multiply(g, 1 - rho, out=tmp)
            a *= rho
            a += tmp  # a = rho * a + (1 - rho) * g
            xp.multiply(a, a, out=tmp)
            xp.subtract(v, tmp, out=tmp)
            xp.maximum(tmp, 0.0, out=tmp)  # rounding can make v - a**2 < 0
            tmp += self.epsilon  # d = max(v - a**2, 0) + eps
        else:
            xp.add(v, self.epsilon, out=tmp)  # d = v + eps
        xp.sqrt(tmp, out=tmp)
        xp.divide(g, tmp, out=tmp)
        tmp *= lr  # inc = lr * g / sqrt(d)
        if self.momentum > 0:
            m = s["momentum"]
            m *= self.momentum
            m += tmp
            w -= m
        else:
            w -= tmp

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
