"""Lion, as Keras 3."""

from __future__ import annotations

from typing import Any

from numdl.optimizers.base import Optimizer
from numdl.registry import register


@register("optimizer", "lion")
class Lion(Optimizer):
    """Signed momentum (Chen et al., 2023)::

        w -= lr * sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g

    State: ``momentum`` (``m``). ``torch.optim`` has no Lion (torch 2.x).
    Use a learning rate 3-10x smaller than AdamW's, and a weight decay
    3-10x larger.

    >>> import numpy as np, numdl
    >>> w = numdl.Tensor(np.array([1.0, 1.0]), requires_grad=True)
    >>> _ = Lion(learning_rate=0.1).apply_gradients([(np.array([3.0, -0.5]), w)])
    >>> w.data.tolist()
    [0.9, 1.1]
    """

    _work_names = ("tmp", "tmp2")
    _small_together = True  # element-wise: see numdl/optimizers/small.py

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "lion",
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
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError(
                "Lion: argument `beta_1` must be in the (0, 1] range. Otherwise, "
                f"the optimizer degenerates to SignSGD. Received: beta_1={beta_1}."
            )
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def _slot_names(self) -> tuple[str, ...]:
        return ("momentum",)

    def _update(self, xp: Any, w: Any, g: Any, s: dict, lr: float) -> None:
        b1, b2, m, tmp, tmp2 = (
            self.beta_1,
            self.beta_2,
            s["momentum"],
            s["tmp"],
            s["tmp2"],
        )
        xp.multiply(m, b1, out=tmp)
        xp.multiply(g, 1 - b1, out=tmp2)
        tmp += tmp2
        xp.sign(tmp, out=tmp)
        tmp *= lr
        w -= tmp  # w -= lr * sign(b1 * m + (1 - b1) * g)
        xp.multiply(g, 1 - b2, out=tmp2)
        m *= b2
        m += tmp2  # m = b2 * m + (1 - b2) * g

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
