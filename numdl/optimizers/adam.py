"""The Adam family, as Keras 3: Adam, AdamW, Adamax, Nadam."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from numdl.ops import _cupy_kernels as _gpu
from numdl.optimizers.base import Optimizer
from numdl.registry import register


class _AdamBase(Optimizer):
    """Shared constructor of the Adam family (beta_1, beta_2, epsilon)."""

    _small_together = True  # element-wise: see numdl/optimizers/small.py

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
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
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _moments(self, xp: Any, g: Any, m: Any, v: Any, tmp: Any) -> None:
        """m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g**2.

        ``m`` is updated as ``(1 - b1) * (m * b1 / (1 - b1) + g)``, without
        ``tmp``: ``g`` is read before ``tmp`` is first written, so ``tmp`` may
        be the gradient's own memory (see ``Optimizer.apply_scratch``). Three
        roundings as before, and no cancellation (``b1 * (m - g) + g`` would
        lose a digit).
        """
        b1 = self.beta_1
        if b1 < 1:  # (b1 == 1 leaves m as it is)
            m *= b1 / (1 - b1)
            m += g
            m *= 1 - b1
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - self.beta_2
        v *= self.beta_2
        v += tmp

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


@register("optimizer", "adam")
class Adam(_AdamBase):
    """Adam (Kingma & Ba), as Keras 3. At step ``t = iterations + 1``::

        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        v_hat = max(v_hat, v)                  # amsgrad only; then v := v_hat
        alpha_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        w -= alpha_t * m / (sqrt(v) + eps)

    State: ``momentum`` (``m``), ``velocity`` (``v``), ``velocity_hat``
    (amsgrad).

    Compared with ``torch.optim.Adam``: Keras's ``epsilon`` is the paper's
    "epsilon hat", added to ``sqrt(v)``; torch adds ``eps`` to
    ``sqrt(v_hat) = sqrt(v) / sqrt(1 - beta_2**t)``. So Keras's
    ``epsilon = e`` is torch's ``eps = e / sqrt(1 - beta_2**t)``, a value that
    changes with ``t``: the two agree exactly only with ``epsilon=0``, and
    differ most in the first steps. Defaults also differ (eps 1e-7 vs 1e-8).

    >>> import numpy as np, numdl
    >>> w = numdl.Tensor(np.array([1.0]), requires_grad=True)
    >>> _ = Adam(learning_rate=0.1).apply_gradients([(np.array([5.0]), w)])
    >>> round(float(w.data[0]), 6)  # the first step is lr * sign(g)
    0.9
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "adam",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
        self.amsgrad = amsgrad

    _tmp_may_be_grad = True  # _update reads g only before writing tmp

    def _slot_names(self) -> tuple[str, ...]:
        names = ("momentum", "velocity")
        return names + ("velocity_hat",) if self.amsgrad else names

    def _factors(self, lr: float) -> float:
        t = self.iterations + 1
        return lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def _update(self, xp: Any, w: Any, g: Any, s: dict, alpha_t: float) -> None:
        m, v, tmp = s["momentum"], s["velocity"], s["tmp"]
        if xp is not np and not self.amsgrad:  # one fused kernel on the GPU
            b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
            _gpu.adam_update(w, g, m, v, b1, b2, eps, alpha_t)
            return
        self._moments(xp, g, m, v, tmp)
        if self.amsgrad:
            xp.maximum(s["velocity_hat"], v, out=s["velocity_hat"])
            v = s["velocity_hat"]
        xp.sqrt(v, out=tmp)
        tmp += self.epsilon
        xp.divide(m, tmp, out=tmp)
        tmp *= alpha_t
        w -= tmp  # w -= alpha_t * m / (sqrt(v) + eps)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "amsgrad": self.amsgrad}


@register("optimizer", "adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as Keras 3.

    Before each Adam step ``w -= w * weight_decay * lr`` (``weight_decay``
    defaults to 0.004 and may not be None). ``torch.optim.AdamW`` decays the
    same way, ``w *= 1 - lr * weight_decay`` (torch's default 0.01); the
    ``epsilon`` placement differs as for :class:`Adam`.

    >>> import numpy as np, numdl
    >>> w = numdl.Tensor(np.array([1.0]), requires_grad=True)
    >>> opt = AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> _ = opt.apply_gradients([(np.array([0.0]), w)]); w.data.tolist()
    [0.95]
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "adamw",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
        if self.weight_decay is None:
            raise ValueError(
                "AdamW: argument `weight_decay` must be a float. Received: "
                "weight_decay=None"
            )


@register("optimizer", "adamax")
class Adamax(_AdamBase):
    """Adam with the infinity norm (Kingma & Ba, section 7.1), as Keras 3::

        m = beta_1 * m + (1 - beta_1) * g
        u = max(beta_2 * u, |g|)
        w -= lr / (1 - beta_1**t) * m / (u + eps)

    State: ``momentum`` (``m``), ``norm`` (``u``).

    Compared with ``torch.optim.Adamax``: torch puts ``eps`` inside the max,
    ``u = max(beta_2 * u, |g| + eps)`` and divides by ``u``; with
    ``epsilon=0`` in both they agree.

    >>> import numpy as np, numdl
    >>> w = numdl.Tensor(np.array([1.0]), requires_grad=True)
    >>> _ = Adamax(learning_rate=0.1, epsilon=0.0).apply_gradients(
    ...     [(np.array([-4.0]), w)])
    >>> round(float(w.data[0]), 12)
    1.1
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "adamax",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )

    def _slot_names(self) -> tuple[str, ...]:
        return ("momentum", "norm")

    def _factors(self, lr: float) -> float:
        return lr / (1 - self.beta_1 ** (self.iterations + 1))

    def _update(self, xp: Any, w: Any, g: Any, s: dict, lr_t: float) -> None:
        m, u, tmp = s["momentum"], s["norm"], s["tmp"]
        xp.multiply(g, 1 - self.beta_1, out=tmp)
        m *= self.beta_1
        m += tmp  # m = b1 * m + (1 - b1) * g
        xp.abs(g, out=tmp)
        u *= self.beta_2
        xp.maximum(u, tmp, out=u)  # u = max(b2 * u, |g|)
        xp.add(u, self.epsilon, out=tmp)
        xp.divide(m, tmp, out=tmp)
        tmp *= lr_t
        w -= tmp  # w -= lr / (1 - b1**t) * m / (u + eps)


@register("optimizer", "nadam")
class Nadam(_AdamBase):
    """Adam with Nesterov momentum (Dozat, 2015), Keras 3's momentum cache::

        u_t = beta_1 * (1 - 0.5 * 0.96**t);  u_next = beta_1 * (1 - 0.5 * 0.96**(t+1))
        u_product = u_product * u_t                  # optimizer-wide, starts at 1
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = u_next * m / (1 - u_product * u_next) + (1 - u_t) * g / (1 - u_product)
        w -= lr * m_hat / (sqrt(v / (1 - beta_2**t)) + eps)

    State: ``momentum`` (``m``), ``velocity`` (``v``) per parameter and the
    scalar ``u_product``.

    ``torch.optim.NAdam`` computes ``0.96 ** (t * momentum_decay)`` with
    ``momentum_decay=0.004`` by default; with ``momentum_decay=1.0`` it is the
    Keras formula above, ``eps`` placed the same way.

    >>> import numpy as np, numdl
    >>> w = numdl.Tensor(np.array([1.0]), requires_grad=True)
    >>> opt = Nadam(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(np.array([2.0]), w)])
    >>> round(float(opt.get_state()["u_product"]), 6)  # 0.9 * (1 - 0.5 * 0.96)
    0.468
    >>> # 1 - 0.1 * (0.2 * 0.48528 / (1 - 0.468 * 0.48528) + 2) / 2
    >>> round(float(w.data[0]), 6)
    0.893721
    """

    _work_names = ("tmp", "tmp2")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "nadam",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
        self.u_product = 1.0

    def _slot_names(self) -> tuple[str, ...]:
        return ("momentum", "velocity")

    def _global_state(self) -> dict[str, float]:
        return {"u_product": self.u_product}

    def _set_global_state(self, state: dict[str, Any]) -> None:
        self.u_product = state["u_product"]

    def _factors(self, lr: float) -> tuple[float, float, float]:
        t, b1 = self.iterations + 1, self.beta_1
        u_t = b1 * (1.0 - 0.5 * 0.96**t)
        u_next = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        self.u_product *= u_t
        c_m = lr * u_next / (1.0 - self.u_product * u_next)
        c_g = lr * (1.0 - u_t) / (1.0 - self.u_product)
        return c_m, c_g, 1.0 - self.beta_2**t

    def _update(self, xp: Any, w: Any, g: Any, s: dict, f: tuple) -> None:
        c_m, c_g, bias_2 = f
        m, v, tmp, tmp2 = s["momentum"], s["velocity"], s["tmp"], s["tmp2"]
        self._moments(xp, g, m, v, tmp)
        xp.divide(v, bias_2, out=tmp)
        xp.sqrt(tmp, out=tmp)
        tmp += self.epsilon  # denominator sqrt(v / (1 - b2**t)) + eps
        xp.multiply(m, c_m, out=tmp2)
        tmp2 /= tmp
        w -= tmp2  # the momentum part of lr * m_hat / denominator
        xp.multiply(g, c_g, out=tmp2)
        tmp2 /= tmp
        w -= tmp2  # the gradient part
