"""SGD with optional (Nesterov) momentum, as Keras 3."""

from __future__ import annotations

from typing import Any

import numpy as np

from numdl.ops import _cupy_kernels as _gpu
from numdl.optimizers.base import Optimizer
from numdl.registry import register


@register("optimizer", "sgd")
class SGD(Optimizer):
    """Gradient descent with optional momentum (Keras 3 ``SGD``).

    Without momentum ``w -= lr * g``. With momentum ``mu``::

        v = mu * v - lr * g
        w = w + v                    # nesterov=False
        w = w + mu * v - lr * g      # nesterov=True

    State: ``momentum`` (``v``), only when ``momentum > 0``.

    Compared with ``torch.optim.SGD``: torch keeps ``b = mu * b + g`` and steps
    ``w -= lr * b`` (Nesterov: ``w -= lr * (g + mu * b)``), which is the same
    trajectory at a constant learning rate (``v = -lr * b``); when the
    learning rate changes, Keras's velocity keeps the old rates, torch's does
    not. torch's ``weight_decay`` is an L2 term added to ``g``; numdl's (and
    Keras's) is decoupled: ``w -= w * weight_decay * lr``.

    >>> import numpy as np, numdl
    >>> w = numdl.Tensor(np.array([1.0]), requires_grad=True)
    >>> opt = SGD(learning_rate=0.1, momentum=0.9)
    >>> for _ in range(2): _ = opt.apply_gradients([(np.array([1.0]), w)])
    >>> round(float(w.data[0]), 6)  # 1 - 0.1 - (0.09 + 0.1)
    0.71
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "SGD",
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
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(
                f"SGD: `momentum` must be a float between [0, 1], got {momentum}"
            )
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    _tmp_may_be_grad = True  # _update reads g only before writing tmp

    def _slot_names(self) -> tuple[str, ...]:
        return ("momentum",) if self.momentum != 0 else ()

    def _update(self, xp: Any, w: Any, g: Any, s: dict, lr: float) -> None:
        if xp is not np:  # one fused kernel on the GPU
            v = s["momentum"] if self.momentum != 0 else None
            _gpu.sgd_update(w, g, v, lr, self.momentum, self.nesterov)
            return
        tmp = s["tmp"]
        xp.multiply(g, lr, out=tmp)  # lr * g
        if self.momentum == 0:
            w -= tmp
            return
        mu, v = self.momentum, s["momentum"]
        v *= mu
        v -= tmp  # v = mu * v - lr * g
        if self.nesterov:
            w -= tmp
            xp.multiply(v, mu, out=tmp)
            w += tmp  # w += mu * v - lr * g
        else:
            w += v

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
        }
