"""Diagnostics that watch training: :class:`GradientMonitor`.

The classic ways training fails are visible in a few numbers per layer:
gradient norms that shrink layer by layer (vanishing, saturating sigmoid and
tanh) or grow step by step (exploding), ReLU units that never fire again
(dead), updates far too large or small for their weights. ``GradientMonitor``
records them once per epoch and says so, naming the layer, when one goes
wrong. ``numdl.plot.plot_gradient_flow`` and ``plot_activation_stats`` draw
what it recorded.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from numdl import activations
from numdl.autograd.tensor import Tensor
from numdl.backend import array_module
from numdl.callbacks import Callback

#: Activations whose units output exactly 0 below a threshold (can die).
RELU_FAMILY = ("relu", "relu6")
#: Activations that saturate, with their local derivative from the output.
SATURATING = {
    "sigmoid": lambda y: y * (1 - y),
    "tanh": lambda y: 1 - y * y,
}


class GradientMonitor(Callback):
    """Per-layer gradient health, recorded each epoch of ``fit``; warns once.

    Recorded, one value per epoch (``monitor.epochs`` holds the 0-based
    epoch indices), keyed by layer name:

    - ``grad_norm``: L2 norm of the layer's weight gradients (all its
      trainable weights together), the mean over the epoch's steps;
    - ``update_ratio``: ``||weights after - weights before|| / ||weights
      before||`` of one optimizer step, the mean over the epoch's steps;
    - ``dead_fraction`` (layers with a ReLU/ReLU6 activation): the fraction
      of units (last axis: features, or channels of a convolution) that
      output zero for every training sample of the epoch;
    - ``saturated_fraction`` (sigmoid/tanh layers): the fraction of unit
      outputs of the epoch whose local derivative (``y(1-y)``, ``1-y^2``)
      is below ``saturation`` (1e-3).

    Warnings (each kind once per layer per ``fit``), printed in the progress
    output (stdout, through tqdm so a live bar stays intact) unless
    ``verbose=0``, and kept in ``monitor.warnings``:

    - vanishing: a layer's gradient norm below ``vanishing`` (1e-6) times
      the largest layer's;
    - exploding: a layer's gradient norm above ``exploding`` (1e3) times its
      own first nonzero norm in this ``fit`` (its first step), or infinite.
      Relative to the same layer over time, not to the other layers: a
      network with vanishing gradients has healthy top layers 1e3 times its
      bottom ones, which are not exploding;
    - dead: more than ``dead`` (50%) of a ReLU layer's units dead.

    How it sees inside: during ``fit`` it wraps the optimizer's
    ``apply_scratch`` (gradients and weights before and after each step)
    and the ``call`` of layers with a ReLU/sigmoid/tanh ``activation``
    (their outputs, on training steps only), and removes the wrappers at the
    end of ``fit``. Nothing is added to training without a monitor; with
    one, each step also copies the weights (for the update ratio) and reads
    the watched layers' outputs once.

    >>> import numpy as np, numdl
    >>> from numdl import layers
    >>> minus_ten = numdl.initializers.Constant(-10.0)
    >>> hidden = layers.Dense(4, "relu", bias_initializer=minus_ten, name="hidden")
    >>> model = numdl.Sequential([numdl.Input(shape=(3,)), hidden, layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> monitor = GradientMonitor(verbose=0)
    >>> _ = model.fit(np.ones((8, 3)), np.ones(8), epochs=2, verbose=0,
    ...               callbacks=[monitor])
    >>> monitor.epochs, monitor.dead_fraction
    ([0, 1], {'hidden': [1.0, 1.0]})
    >>> message = monitor.warnings[-1]  # also printed with verbose=1
    >>> message[:41], message[-10:]
    ("GradientMonitor: epoch 1, layer 'hidden':", 'dead units')
    """

    def __init__(
        self,
        vanishing: float = 1e-6,
        exploding: float = 1e3,
        dead: float = 0.5,
        saturation: float = 1e-3,
        verbose: int = 1,
    ) -> None:
        super().__init__()
        self.vanishing, self.exploding = vanishing, exploding
        self.dead, self.saturation, self.verbose = dead, saturation, verbose
        self._wrapped: list[Any] = []
        self._training_step = False
        self._reset()

    def _reset(self) -> None:
        """Empty records (each ``fit`` starts afresh)."""
        self.epochs: list[int] = []
        self.grad_norm: dict[str, list[float]] = {}
        self.update_ratio: dict[str, list[float]] = {}
        self.dead_fraction: dict[str, list[float]] = {}
        self.saturated_fraction: dict[str, list[float]] = {}
        self.warnings: list[str] = []
        self._warned: set[tuple[str, str]] = set()
        self._owner: dict[int, str] = {}
        self._first_norm: dict[str, float] = {}
        self.on_epoch_begin(0)

    # ------------------------------------------------------------ set up
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._remove_wrappers()
        self._reset()
        for layer in sublayers(self.model):
            weights = [w for w in layer._own_weights if w.trainable]
            if weights:
                self.grad_norm[layer.name], self.update_ratio[layer.name] = [], []
                self._owner.update({id(w): layer.name for w in weights})
            kind = _activation_kind(layer)
            if kind in RELU_FAMILY:
                self.dead_fraction[layer.name] = []
            elif kind in SATURATING:
                self.saturated_fraction[layer.name] = []
            if kind is not None:
                self._wrap_call(layer, SATURATING.get(kind))
        self._wrap_optimizer(self.model.optimizer)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._remove_wrappers()

    def _wrap_call(self, layer: Any, derivative: Any) -> None:
        call = layer.call

        def watched(inputs: Any, *args: Any, **kwargs: Any) -> Any:
            outputs = call(inputs, *args, **kwargs)
            if self._training_step:
                self._observe(layer.name, outputs.data, derivative)
            return outputs

        layer.call = watched
        self._wrapped.append((layer, "call"))

    def _wrap_optimizer(self, optimizer: Any) -> None:
        # fit's step updates through apply_scratch (gradients it drops after)
        apply = optimizer.apply_scratch

        def watched(grads_and_vars: Any) -> Any:
            pairs = list(grads_and_vars)
            before = self._record_gradients(pairs)
            result = apply(pairs)
            self._record_updates(before)
            return result

        optimizer.apply_scratch = watched
        self._wrapped.append((optimizer, "apply_scratch"))

    def _remove_wrappers(self) -> None:
        for owner, attribute in self._wrapped:
            owner.__dict__.pop(attribute, None)
        self._wrapped = []

    # ---------------------------------------------------------- per step
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._sums: dict[str, list[float]] = {}
        self._alive: dict[str, Any] = {}
        self._saturated: dict[str, list[float]] = {}

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._training_step = True

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._training_step = False

    def _record_gradients(self, pairs: list[Any]) -> dict[str, list[Any]]:
        """Add each layer's gradient norm; return copies of its weights."""
        squares: dict[str, float] = {}
        before: dict[str, list[Any]] = {}
        for grad, param in pairs:
            name = self._owner.get(id(param))
            if name is None:
                continue
            g = grad.data if isinstance(grad, Tensor) else grad
            xp = array_module(g)
            squares[name] = squares.get(name, 0.0) + float(xp.vdot(g, g).real)
            before.setdefault(name, []).append((param, param.data.copy()))
        for name, total in squares.items():
            norm = math.sqrt(total)
            if norm > 0:  # the reference for "exploding": the first nonzero norm
                self._first_norm.setdefault(name, norm)
            self._add(name, "grad", norm)
        return before

    def _record_updates(self, before: dict[str, list[Any]]) -> None:
        """Add each layer's ``||step|| / ||weights before||``."""
        for name, saved in before.items():
            change = weight = 0.0
            for param, old in saved:
                xp = array_module(old)
                diff = param.data - old
                change += float(xp.vdot(diff, diff).real)
                weight += float(xp.vdot(old, old).real)
            self._add(name, "update", math.sqrt(change) / max(math.sqrt(weight), 1e-12))

    def _add(self, name: str, what: str, value: float) -> None:
        sums = self._sums.setdefault(f"{what}:{name}", [0.0, 0])
        sums[0] += value
        sums[1] += 1

    def _observe(self, name: str, y: Any, derivative: Any) -> None:
        """Units that fired (ReLU) or saturated outputs (sigmoid, tanh)."""
        xp = array_module(y)
        if derivative is None:
            fired = (y > 0).reshape(-1, y.shape[-1]).any(axis=0)
            alive = self._alive.get(name)
            self._alive[name] = fired if alive is None else alive | fired
        else:
            counts = self._saturated.setdefault(name, [0, 0])
            counts[0] += int(xp.count_nonzero(derivative(y) < self.saturation))
            counts[1] += y.size

    # --------------------------------------------------------- per epoch
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs.append(epoch)
        for name in self.grad_norm:
            self.grad_norm[name].append(self._mean(f"grad:{name}"))
            self.update_ratio[name].append(self._mean(f"update:{name}"))
        for name in self.dead_fraction:
            alive = self._alive.get(name)
            dead = math.nan if alive is None else 1.0 - float(alive.mean())
            self.dead_fraction[name].append(dead)
        for name in self.saturated_fraction:
            hits, total = self._saturated.get(name, (0, 0))
            self.saturated_fraction[name].append(hits / total if total else math.nan)
        self._check(epoch)

    def _mean(self, key: str) -> float:
        total, count = self._sums.get(key, (0.0, 0))
        return total / count if count else math.nan

    def _check(self, epoch: int) -> None:
        norms = {n: v[-1] for n, v in self.grad_norm.items() if not math.isnan(v[-1])}
        finite = [v for v in norms.values() if math.isfinite(v)]
        largest = max(finite, default=0.0)
        for name, norm in norms.items():
            if norm < self.vanishing * largest:
                self._warn(
                    name,
                    "vanishing",
                    epoch,
                    f"gradient norm {norm:.3g} is below "
                    f"{self.vanishing:g} of the largest layer's ({largest:.3g}): "
                    f"vanishing gradients",
                )
            first = self._first_norm.get(name, math.inf)
            if not math.isfinite(norm) or norm > self.exploding * first:
                self._warn(
                    name,
                    "exploding",
                    epoch,
                    f"gradient norm {norm:.3g} is above "
                    f"{self.exploding:g} times its value at the first step "
                    f"({first:.3g}): exploding gradients",
                )
        for name, fractions in self.dead_fraction.items():
            if fractions[-1] > self.dead:
                self._warn(
                    name,
                    "dead",
                    epoch,
                    f"{fractions[-1]:.0%} of its ReLU units "
                    f"output zero for every sample of the epoch: dead units",
                )

    def _warn(self, layer: str, kind: str, epoch: int, detail: str) -> None:
        if (layer, kind) in self._warned:
            return
        self._warned.add((layer, kind))
        message = f"GradientMonitor: epoch {epoch + 1}, layer {layer!r}: {detail}"
        self.warnings.append(message)
        if self.verbose:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stdout)


def sublayers(model: Any) -> list[Any]:
    """Every layer inside ``model`` (depth first), each once, model excluded.

    >>> import numdl
    >>> inner = numdl.Sequential([numdl.layers.Dense(2, name="a")], name="inner")
    >>> outer = numdl.Sequential([inner, numdl.layers.Dense(1, name="b")])
    >>> [layer.name for layer in sublayers(outer)]
    ['inner', 'a', 'b']
    """
    seen: set[int] = set()
    found: list[Any] = []

    def visit(layer: Any) -> None:
        for sub in layer._layers:
            if id(sub) not in seen:
                seen.add(id(sub))
                found.append(sub)
                visit(sub)

    visit(model)
    return found


def _activation_kind(layer: Any) -> str | None:
    """``"relu"``, ``"sigmoid"``, ... for a layer whose activation is watched."""
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    name = activations.serialize(fn)
    return name if name in RELU_FAMILY or name in SATURATING else None
