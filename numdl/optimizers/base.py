"""``Optimizer``: the shared machinery of every numdl optimizer (Keras 3 names).

An optimizer turns gradients into in-place updates of ``param.data``. One
step, as in Keras's ``BaseOptimizer``:

1. drop the parameters whose gradient is None, check every gradient's shape;
2. clip the gradients (``clipnorm``, ``clipvalue`` or ``global_clipnorm``);
3. read the learning rate, ``lr = schedule(iterations)`` for a schedule;
4. decoupled weight decay, ``p -= p * weight_decay * lr``;
5. the optimizer's own rule (``_update``), which writes into state buffers
   allocated once per parameter, the first time the parameter is seen;
6. ``iterations += 1``.

Subclasses say which buffers each parameter needs (``_slot_names``), compute
their scalar factors once per step in Python floats (``_factors``) and update
one parameter in place (``_update``). The gradient arrays are never written
to: they may be shared. Besides its state, each parameter gets one or two
work arrays of its shape (``_work_names``), allocated with the state, so a
step allocates nothing unless gradients are clipped; parameters are keyed by
``id`` and kept alive by the optimizer, so ids are never reused. The
built-in optimizers update their small parameters (biases, small kernels)
together, in one call of ``_update`` over flat arrays (``small.py``).

State is a flat dict of named arrays (``get_state`` / ``set_state``):
``"iterations"``, optimizer-wide scalars such as Nadam's ``"u_product"``,
and ``"<i>/<slot>"`` for slot ``<slot>`` of the ``i``-th parameter in the
order the optimizer first saw them (e.g. ``"0/momentum"``, ``"1/velocity"``).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from numdl import backend
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module, to_numpy
from numdl.optimizers import small
from numdl.optimizers.schedules import LearningRateSchedule
from numdl.optimizers.schedules import deserialize as _deserialize_schedule
from numdl.optimizers.schedules import serialize as _serialize_schedule


class _Entry:
    """What the optimizer keeps for one parameter."""

    __slots__ = ("param", "index", "xp", "buffers", "state_names", "kind")

    def __init__(
        self,
        param: Any,
        index: int,
        xp: Any,
        buffers: dict,
        state_names: tuple,
        kind: type,
    ) -> None:
        self.param = param  # kept alive so that id(param) stays unique
        self.index = index
        self.xp = xp
        self.buffers = buffers  # state buffers, then work arrays, by name
        self.state_names = state_names
        self.kind = kind  # the array type the buffers were made for


class Optimizer:
    """Base class of numdl optimizers: clipping, weight decay, schedules, state.

    Args:
        learning_rate: a float, a ``LearningRateSchedule``, or a callable. A
            schedule (or a callable taking one argument) is called with
            ``iterations`` at every step; a callable taking no argument is
            called with none, as in Keras.
        weight_decay: if set, ``p -= p * weight_decay * lr`` before each update
            (decoupled, as Keras; not torch's L2 ``g += wd * p`` of SGD/Adam).
        clipnorm: clip each gradient to this L2 norm:
            ``g * clipnorm / max(||g||, clipnorm)``.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients together so that their joint L2
            norm is at most this. At most one of the three clip arguments.
        loss_scale_factor: if set, gradients are divided by it first.
        name: the optimizer's name.

    Subclasses implement ``_slot_names``, ``_factors`` and ``_update``.

    >>> import numpy as np, numdl
    >>> from numdl.optimizers import SGD
    >>> w = numdl.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> opt = SGD(learning_rate=0.5)
    >>> opt.apply_gradients([(np.array([1.0, -1.0]), w)])
    1
    >>> w.data.tolist(), opt.iterations
    ([0.5, 2.5], 1)
    """

    def __init__(
        self,
        learning_rate: float | Callable[..., float] = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("decay", None)  # Keras ignores the legacy argument too
        if kwargs:
            raise ValueError(
                f"{type(self).__name__}: argument(s) not recognized: {kwargs}"
            )
        clips = {
            "clipnorm": clipnorm,
            "clipvalue": clipvalue,
            "global_clipnorm": global_clipnorm,
        }
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(
                f"{type(self).__name__}: only one of `clipnorm`, `clipvalue` and "
                f"`global_clipnorm` can be set. Received: clipnorm={clipnorm}, "
                f"clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        if use_ema or gradient_accumulation_steps:
            raise NotImplementedError(
                f"{type(self).__name__}: `use_ema` and "
                "`gradient_accumulation_steps` are not supported by numdl yet"
            )
        self.name = name if name is not None else type(self).__name__.lower()
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.iterations = 0
        self._entries: dict[int, _Entry] = {}
        self._small: small.Group | None = None  # the small parameters' state
        self._no_decay_ids: set[int] = set()
        self._no_decay_pattern: re.Pattern[str] | None = None
        self._learning_rate: Any = None
        self.learning_rate = learning_rate

    # ------------------------------------------------------ learning rate
    @property
    def learning_rate(self) -> float:
        """The learning rate used by the next step (a schedule is evaluated)."""
        lr = self._learning_rate
        if isinstance(lr, float):
            return lr
        return float(lr(self.iterations) if self._lr_takes_step else lr())

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if callable(value):
            self._learning_rate = value
            self._lr_takes_step = isinstance(value, LearningRateSchedule) or (
                _positional_arity(value) > 0
            )
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(
                f"{type(self).__name__} was created with a LearningRateSchedule, "
                "so its learning rate cannot be set to a number; create the "
                "optimizer with a float `learning_rate` instead."
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(
                f"{type(self).__name__}: `learning_rate` should be a float, a "
                "LearningRateSchedule or a callable of the iteration count. "
                f"Received: learning_rate={value!r}"
            )
        self._learning_rate = float(value)
        self._lr_takes_step = False

    # ----------------------------------------------------- what subclasses do
    _work_names: tuple[str, ...] = ("tmp",)
    # Whether ``_update`` still computes the right thing when its "tmp" work
    # array *is* the gradient (it reads ``g`` only before first writing
    # "tmp"). Then ``fit`` lets it use the gradient as its work array (see
    # ``apply_scratch``).
    _tmp_may_be_grad = False
    # Whether the small parameters are updated together, over one flat array
    # (``numdl/optimizers/small.py``): right only for an element-wise
    # ``_update`` (a per-parameter norm would be wrong), so False unless a
    # subclass says so; worth it for a dozen calls per parameter (Adam:
    # 97 -> 58 us a step for the tiny net's 4 parameters), not for SGD's two
    # (21 -> 25 us, the concatenations cost more than they save).
    _small_together = False

    def _slot_names(self) -> tuple[str, ...]:
        """Names of the state buffers each parameter gets (shape of the param)."""
        return ()

    def _slot_initial_value(self, slot: str) -> float:
        """Value a new state buffer is filled with."""
        return 0.0

    def _factors(self, lr: float) -> Any:
        """Scalars of this step, computed once in Python (``iterations`` = t-1)."""
        return lr

    def _update(self, xp: Any, w: Any, g: Any, s: dict, f: Any) -> None:
        """Update parameter data ``w`` in place from gradient ``g``.

        ``xp`` is ``w``'s array module, ``s`` holds the state buffers by slot
        name plus the work arrays named in ``_work_names`` (same shape and
        dtype as ``w``, contents undefined), ``f`` is what ``_factors``
        returned for this step.
        """
        raise NotImplementedError

    def _global_state(self) -> dict[str, float]:
        """Optimizer-wide scalar state besides ``iterations`` (Nadam's u_product)."""
        return {}

    def _set_global_state(self, state: dict[str, Any]) -> None:
        return None

    # --------------------------------------------------------------- stepping
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Any]]) -> int:
        """Apply ``(gradient, parameter)`` pairs, as Keras; return ``iterations``.

        Gradients are ndarrays or Tensors; pairs whose gradient is None are
        skipped (all None is an error, as in Keras).

        >>> import numpy as np, numdl
        >>> from numdl.optimizers import SGD
        >>> w = numdl.Tensor(np.zeros(2), requires_grad=True)
        >>> SGD(0.1).apply_gradients(zip([np.ones(2)], [w])); w.data.tolist()
        1
        [-0.1, -0.1]
        """
        pairs = list(grads_and_vars)
        kept = [(_as_array(g, p), p) for g, p in pairs if g is not None]
        if pairs and not kept:
            raise ValueError(
                f"{type(self).__name__}: no gradients provided for any parameter."
            )
        self._apply(kept)
        return self.iterations

    def step(self, params: Iterable[Any]) -> None:
        """Update ``params`` from their ``.grad`` (PyTorch habit); None is skipped.

        >>> import numpy as np, numdl
        >>> from numdl.optimizers import SGD
        >>> w = numdl.tensor([1.0], requires_grad=True)
        >>> (w * w).sum().backward()
        >>> SGD(0.25).step([w]); w.data.tolist()
        [0.5]
        """
        self._apply([(p.grad, p) for p in params if p.grad is not None])

    def zero_grad(self, params: Iterable[Any]) -> None:
        """Set ``.grad = None`` on every parameter (no array is written).

        >>> import numdl
        >>> w = numdl.tensor([1.0], requires_grad=True); w.grad = w.data
        >>> Optimizer().zero_grad([w]); w.grad is None
        True
        """
        for p in params:
            p.grad = None

    def build(self, params: Iterable[Any]) -> None:
        """Allocate the state of ``params`` now, in this order (else at first step).

        >>> import numdl
        >>> from numdl.optimizers import Adam
        >>> opt = Adam(); opt.build([numdl.tensor([1.0, 2.0])])
        >>> sorted(opt.get_state())
        ['0/momentum', '0/velocity', 'iterations']
        """
        for p in params:
            if id(p) not in self._entries:
                self._new_entry(p)

    def _new_entry(self, p: Any) -> _Entry:
        xp = array_module(p.data)
        names = self._slot_names()
        buffers = {}
        for slot in names:
            buffers[slot] = xp.full_like(p.data, self._slot_initial_value(slot))
        for work in self._work_names:
            buffers[work] = xp.empty_like(p.data)
        entry = _Entry(p, len(self._entries), xp, buffers, names, type(p.data))
        self._entries[id(p)] = entry
        return entry

    def to(self, device: str) -> Optimizer:
        """Move the state of every parameter to ``device``; return self.

        Not needed after ``Model.to`` (which calls it) and done by itself at
        the next step when a parameter has moved; the state keeps its values.

        >>> from numdl.optimizers import Adam
        >>> Adam().to("cpu").name
        'adam'
        """
        device = backend.normalize_device(device)
        for e in self._entries.values():
            self._move_entry(e, device)
        return self

    def _move_entry(self, e: _Entry, device: str) -> None:
        e.buffers = {k: backend.to_device(b, device) for k, b in e.buffers.items()}
        e.xp = backend.module_for(device)
        e.kind = type(next(iter(e.buffers.values()), e.param.data))

    def apply_scratch(self, pairs: list[tuple[Any, Any]]) -> None:
        """Apply ``(gradient, parameter)`` pairs whose gradients are thrown
        away afterwards (``fit`` does, from ``.grad``): an optimizer that
        allows it (``_tmp_may_be_grad``) then works in the gradients' memory
        instead of its own work arrays. A step of the MNIST MLP moves one
        weight-sized array less through the caches (SGD's update at batch
        128: ~100 -> ~60 us). Gradients that share memory (one array for two
        parameters, views of one array) keep the ordinary path.

        >>> import numpy as np, numdl
        >>> from numdl.optimizers import SGD
        >>> w = numdl.tensor(np.ones(20000), requires_grad=True)
        >>> SGD(0.25).apply_scratch([(np.full(20000, 2.0), w)]); float(w.data[0])
        0.5
        """
        scratch = self._tmp_may_be_grad and sum(g.size for g, _ in pairs) >= 1 << 14
        if scratch:  # (small parameters gain nothing: they stay in cache)
            bases = {id(g if g.base is None else g.base) for g, _ in pairs}
            scratch = len(bases) == len(pairs)
        self._apply(pairs, scratch)

    def _apply(self, pairs: list[tuple[Any, Any]], scratch: bool = False) -> None:
        if not pairs:
            return
        for g, p in pairs:
            if g.shape != p.data.shape:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': gradient of shape "
                    f"{tuple(g.shape)} does not match parameter of shape "
                    f"{tuple(p.data.shape)}"
                    + (f" ({p.name!r})" if getattr(p, "name", None) else "")
                )
        grads = self._clip([g for g, _ in pairs])
        lr = self.learning_rate
        if self.weight_decay:
            decay = 1.0 - self.weight_decay * lr
            for _, p in pairs:
                if self._use_weight_decay(p):
                    p.data *= decay  # p - p * wd * lr, in place
        f = self._factors(lr)
        items = [(g, p) for g, (_, p) in zip(grads, pairs)]
        if self._small_together:  # biases and small kernels: one update for all
            items = small.update_together(self, items, f)
        entries = self._entries
        for g, p in items:
            e = entries.get(id(p)) or self._new_entry(p)
            if type(p.data) is not e.kind:  # the parameter moved: state follows
                self._move_entry(e, backend.device_of(p.data))
            if type(g) is not e.kind:  # e.g. a NumPy gradient for a GPU parameter
                g = backend.to_device(g, backend.device_of(p.data))
            buffers = e.buffers
            if scratch and _writable_like(g, p.data):
                buffers = {**buffers, "tmp": g}
            self._update(e.xp, p.data, g, buffers, f)
        self.iterations += 1

    def _clip(self, grads: list[Any]) -> list[Any]:
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        if self.clipnorm and self.clipnorm > 0:
            c = self.clipnorm
            return [g * (c / max(_norm(g), c)) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            c = self.global_clipnorm
            norm = math.sqrt(sum(float(array_module(g).vdot(g, g)) for g in grads))
            scale = c / max(norm, c) if math.isfinite(norm) else math.nan
            return [g * scale for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            v = self.clipvalue
            return [array_module(g).clip(g, -v, v) for g in grads]
        return grads

    # ----------------------------------------------------------- weight decay
    def exclude_from_weight_decay(
        self, var_list: Iterable[Any] | None = None, var_names: list[str] | None = None
    ) -> None:
        """Exempt parameters (or those whose ``.name`` matches) from weight decay.

        >>> from numdl.optimizers import AdamW
        >>> AdamW().exclude_from_weight_decay(var_names=["bias"])
        """
        self._no_decay_ids = {id(p) for p in var_list or ()}
        self._no_decay_pattern = re.compile("|".join(var_names)) if var_names else None

    def _use_weight_decay(self, p: Any) -> bool:
        if id(p) in self._no_decay_ids:
            return False
        name = getattr(p, "name", None)
        pattern = self._no_decay_pattern
        return not (pattern and name and pattern.search(name))

    # ------------------------------------------------------------------ state
    @property
    def variables(self) -> list[Any]:
        """The live state buffers, in ``get_state`` order (without iterations).

        >>> from numdl.optimizers import SGD
        >>> SGD().variables
        []
        """
        return [e.buffers[n] for e in self._entries.values() for n in e.state_names]

    def get_state(self) -> dict[str, np.ndarray]:
        """Copy the state into a dict of named arrays (names: module docstring).

        >>> import numpy as np, numdl
        >>> from numdl.optimizers import SGD
        >>> w = numdl.Tensor(np.zeros(2), requires_grad=True)
        >>> opt = SGD(momentum=0.9); opt.apply_gradients([(np.ones(2), w)])
        1
        >>> {k: v.tolist() for k, v in opt.get_state().items()}
        {'iterations': 1, '0/momentum': [-0.01, -0.01]}
        """
        state = self._scalar_state()
        for e in self._entries.values():
            for slot in e.state_names:
                state[f"{e.index}/{slot}"] = np.array(to_numpy(e.buffers[slot]))
        return state

    def set_state(
        self, state: dict[str, Any], params: Iterable[Any] | None = None
    ) -> None:
        """Restore ``get_state`` output, copying into the existing buffers.

        The optimizer must know its parameters, in the same order as when the
        state was saved: pass them as ``params`` (or call ``build`` first).

        >>> import numpy as np, numdl
        >>> from numdl.optimizers import SGD
        >>> w = numdl.Tensor(np.zeros(2), requires_grad=True)
        >>> opt = SGD(momentum=0.9)
        >>> opt.set_state({"iterations": 3, "0/momentum": np.ones(2)}, [w])
        >>> opt.iterations, opt.variables[0].tolist()
        (3, [1.0, 1.0])
        """
        if params is not None:
            self.build(params)
        own = self.get_state()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(
                f"{type(self).__name__}.set_state: state names do not match this "
                f"optimizer (missing {missing}, unexpected {unexpected}); pass the "
                "parameters, in their original order, as `params`."
            )
        for key, value in state.items():
            if np.shape(value) != own[key].shape:
                raise ValueError(
                    f"{type(self).__name__}.set_state: {key!r} has shape "
                    f"{np.shape(value)}, expected {own[key].shape}"
                )
        self._load_scalar_state(state)
        for e in self._entries.values():
            for slot in e.state_names:
                e.buffers[slot][...] = e.xp.asarray(state[f"{e.index}/{slot}"])

    def _scalar_state(self) -> dict[str, Any]:
        """``iterations`` and the optimizer-wide scalars, as NumPy arrays."""
        state: dict[str, Any] = {"iterations": np.array(self.iterations, np.int64)}
        for key, value in self._global_state().items():
            state[key] = np.array(value, np.float64)
        return state

    def _load_scalar_state(self, state: dict[str, Any]) -> None:
        """Set ``iterations`` and the optimizer-wide scalars from ``state``."""
        self.iterations = int(np.asarray(state["iterations"]))
        self._set_global_state(
            {k: float(np.asarray(state[k])) for k in self._global_state()}
        )

    def state_of(self, params: list[Any]) -> dict[str, Any]:
        """The live state (no copies), slots keyed by position in ``params``.

        For files: the keys do not depend on the order the optimizer first
        saw the parameters. Parameters without state are left out.

        >>> import numpy as np, numdl
        >>> from numdl.optimizers import SGD
        >>> a, b = (numdl.Tensor(np.zeros(2), requires_grad=True) for _ in "ab")
        >>> opt = SGD(momentum=0.9); _ = opt.apply_gradients([(np.ones(2), b)])
        >>> sorted(opt.state_of([a, b]))
        ['1/momentum', 'iterations']
        """
        state = self._scalar_state()
        for i, p in enumerate(params):
            e = self._entries.get(id(p))
            if e is not None:
                state.update({f"{i}/{s}": e.buffers[s] for s in e.state_names})
        return state

    def load_state_of(self, state: dict[str, Any], params: list[Any]) -> None:
        """Copy ``state_of(params)`` output back (creating the buffers).

        >>> import numpy as np, numdl
        >>> from numdl.optimizers import SGD
        >>> w = numdl.Tensor(np.zeros(2), requires_grad=True)
        >>> opt = SGD(momentum=0.9)
        >>> opt.load_state_of({"iterations": 4, "0/momentum": np.ones(2)}, [w])
        >>> opt.iterations, opt.variables[0].tolist()
        (4, [1.0, 1.0])
        """
        slots, owner = set(self._slot_names()), type(self).__name__
        expected = {"iterations", *self._global_state()}
        if not expected <= set(state):
            raise ValueError(f"{owner}: state lacks {sorted(expected - set(state))}")
        updates = []
        for key, value in state.items():
            if key in expected:
                continue
            index, _, slot = key.partition("/")
            if not index.isdigit() or int(index) >= len(params) or slot not in slots:
                raise ValueError(
                    f"{owner}: unexpected state {key!r} for {len(params)} "
                    f"parameters with slots {sorted(slots)}"
                )
            p = params[int(index)]
            if np.shape(value) != tuple(p.data.shape):
                raise ValueError(
                    f"{owner}: state {key!r} has shape {np.shape(value)}, its "
                    f"parameter has shape {tuple(p.data.shape)}"
                )
            updates.append((p, slot, value))
        for p, slot, value in updates:
            e = self._entries.get(id(p)) or self._new_entry(p)
            e.buffers[slot][...] = e.xp.asarray(value)
        self._load_scalar_state(state)

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments as a dict; a schedule is serialized.

        >>> from numdl.optimizers import Adam
        >>> Adam(learning_rate=0.01).get_config()["learning_rate"]
        0.01
        """
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = _serialize_schedule(lr)
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """Create a new optimizer (without state) from ``get_config`` output.

        >>> from numdl.optimizers import Adam
        >>> Adam.from_config(Adam(beta_1=0.8).get_config()).beta_1
        0.8
        """
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _deserialize_schedule(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, iterations={self.iterations})"
        )


def _as_array(g: Any, p: Any) -> Any:
    """The gradient's array: a Tensor's data; lists and numbers become arrays."""
    if isinstance(g, Tensor):
        return g.data
    if not hasattr(g, "shape"):
        return array_module(p.data).asarray(g, dtype=p.data.dtype)
    return g


def _norm(g: Any) -> float:
    return math.sqrt(float(array_module(g).vdot(g, g)))


def _positional_arity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` requires (1 if unknown)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        for p in params
    )


def _writable_like(g: Any, w: Any) -> bool:
    """A NumPy gradient that can stand in for ``w``'s work array."""
    return (
        type(g) is np.ndarray
        and g.dtype is w.dtype
        and g.shape == w.shape
        and g.flags.writeable
    )
