"""The training, evaluation and prediction steps, and the loops around them.

Read top to bottom: a :class:`StepPlan` gathers what every step needs
(resolved once per ``fit``), :func:`train_step` is one optimisation step,
:func:`test_step` one evaluation step, and the epoch functions run them over
batches while calling the callbacks. As in Keras 3, the ``"loss"`` logged is
the mean of the batch losses weighted by batch size (regularization terms
included) and metrics accumulate over all samples of the epoch.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from numdl import backend, parallel, tree
from numdl.autograd.function import OpCall
from numdl.autograd.grad_mode import no_grad
from numdl.autograd.tensor import Tensor
from numdl.backend import to_numpy
from numdl.layers.base import Changes, _all_layers
from numdl.losses import Loss
from numdl.training.compile import CompiledLoss, CompiledMetrics, LossTracker
from numdl.training.dense_chain import DenseChain


class OutputSpec:
    """The structure of a model's outputs: names, and flat <-> nested.

    >>> import numpy as np
    >>> out = {"b": np.zeros((2, 1)), "a": np.zeros((2, 3))}
    >>> spec = OutputSpec(out, None)
    >>> spec.names, spec.shapes
    (['a', 'b'], [(2, 3), (2, 1)])
    """

    def __init__(self, outputs: Any, model_names: list[str] | None) -> None:
        names = list(model_names or [])
        if isinstance(outputs, dict):
            keys = list(outputs)
            self.names = names if sorted(names) == sorted(keys) else sorted(keys)
            order = list(self.names)
            self.flatten = lambda out: [out[k] for k in order]
            self.pack = lambda items: dict(zip(order, items))
        elif isinstance(outputs, (list, tuple)):
            n = len(outputs)
            self.names = (
                names if len(names) == n else [f"output_{i + 1}" for i in range(n)]
            )
            self.flatten = list
            self.pack = list
        else:
            self.names = names[:1] if len(names) == 1 else ["output"]
            self.flatten = _as_list
            self.pack = _first
        self.shapes: list[tuple[int, ...]] = [
            tuple(o.shape) for o in self.flatten(outputs)
        ]


def _as_list(out: Any) -> list[Any]:
    return [out]


def _first(items: list[Any]) -> Any:
    return items[0]


class StepPlan:
    """What the steps need, resolved once: losses, metrics, weights, optimizer."""

    def __init__(
        self, model: Any, loss: CompiledLoss, metrics: CompiledMetrics
    ) -> None:
        self.model = model
        self.loss = loss
        self.metrics = metrics
        self.tracker = LossTracker("loss")
        self.outputs: OutputSpec | None = None
        self.params: list[Any] = []
        self.constrained: list[Any] = []
        self._chain: Any = None  # see dense_chain()

    def build(self, outputs: Any, y_true: list[Any]) -> None:
        """Resolve per-output losses and metrics from a first forward pass."""
        spec = OutputSpec(outputs, getattr(self.model, "output_names", None))
        flat = spec.flatten(outputs)
        self.loss.build(spec.names, y_true, flat)
        self.metrics.build(spec.names, y_true, flat)
        self.outputs = spec

    def refresh_weights(self) -> None:
        """Trainable weights (and their constraints), read once per fit."""
        self.params = list(self.model.trainable_weights)
        self.constrained = [p for p in self.params if getattr(p, "constraint", None)]
        for p in self.params:
            p.grad = None

    def dense_chain(self, x: Any) -> DenseChain | None:
        """The model as a :class:`DenseChain` for a training step on ``x``,
        or None (the usual path). Read again after any change to a layer."""
        chain = self._chain
        if (
            chain is None
            or chain[0] is not Changes.token
            or chain[1] is not self.params
        ):
            found = DenseChain.of(self.model, self.params) if self.params else None
            chain = self._chain = (Changes.token, self.params, found)
        found = chain[2]
        if found is None or type(x) is not Tensor or not found.fits(x):
            return None
        return found

    @property
    def all_metrics(self) -> list[Any]:
        return [self.tracker, *self.loss.trackers, *self.metrics.metrics]

    def reset_metrics(self) -> None:
        for m in [self.tracker, *self.loss.trackers]:
            m.reset_state()
        self.metrics.reset_state()

    def logs(self) -> dict[str, float]:
        """Python floats: "loss", per-output losses, then metrics (compile order)."""
        out = {"loss": self.tracker.result()}
        for tracker in self.loss.trackers:
            out[tracker.name] = tracker.result()
        out.update(self.metrics.result())
        return out


# ---------------------------------------------------------------- the steps
def total_loss(
    plan: StepPlan, y: list[Any], y_pred: list[Any], sw: Any, own: Any = None
) -> Any:
    """Weighted per-output losses plus the model's own losses (``add_loss``,
    weight regularizers; ``own``: ``model.losses`` if already read)."""
    loss = plan.loss(y, y_pred, sw) if plan.loss.entries else None
    for extra in plan.model.losses if own is None else own:
        loss = extra if loss is None else loss + extra
    if loss is None:
        raise ValueError(
            "No loss to compute: pass a `loss` argument to compile() (or add "
            "losses in the model with add_loss)"
        )
    if isinstance(loss, Tensor):
        return loss
    return Tensor(backend.array_module(loss).asarray(loss, dtype="float64"))


def apply_update(plan: StepPlan) -> None:
    """Optimizer update from ``.grad``, constraints, then clear the gradients."""
    pairs = [(p.grad, p) for p in plan.params if p.grad is not None]
    if pairs:  # the gradients are dropped below: the update may work in them
        plan.model.optimizer.apply_scratch(pairs)
    for p in plan.params:
        p.grad = None
    for p in plan.constrained:
        p.data[...] = p.constraint(p.data)


def update_metrics(
    plan: StepPlan, y: list[Any], y_pred: list[Any], sw: Any, loss: Any
) -> None:
    plan.tracker.update_state(float(loss.data), len(y_pred[0]))
    if plan.metrics.plain or plan.metrics.weighted:
        plan.metrics.update_state(y, y_pred, sw)


# Each step runs inside numdl.parallel.region(): BLAS on one thread, the
# heavy ops split over numdl's own threads (see numdl/parallel.py). Not on
# the GPU, where a step's work is queued to the device by one thread.
_NO_REGION = contextlib.nullcontext()


def _threads(x: Any) -> Any:
    """``parallel.region()`` for host inputs ``x``, a no-op for GPU inputs."""
    first = x if isinstance(x, Tensor) else next(iter(tree.flatten(x)), None)
    if type(getattr(first, "data", first)).__module__.startswith("cupy"):
        return _NO_REGION
    return parallel.region()


def train_step(plan: StepPlan, x: Any, y: list[Any], sw: Any) -> None:
    """Forward (training=True), loss, backward, update, metrics."""
    with _threads(x):
        chain = plan.dense_chain(x)
        if chain is not None:  # a chain of Dense layers: its ops on arrays
            _chain_step(plan, chain, x, y, sw)
            return
        y_pred = plan.outputs.flatten(plan.model(x, training=True))
        loss = total_loss(plan, y, y_pred, sw)
        if plan.params and loss.requires_grad:
            loss.backward()
            apply_update(plan)
        update_metrics(plan, y, y_pred, sw, loss)


def _chain_step(plan: StepPlan, chain: DenseChain, x: Any, y: list[Any], sw: Any):
    """:func:`train_step` for a :class:`DenseChain`: the layers' ops on
    arrays, and the loss too when it is one op of its own (the
    cross-entropies from logits, ``Loss._mean_op``) and nothing is added to
    it (sample or loss weights, regularizers): 1.20 -> 1.11x the hand-written
    NumPy step of the MNIST MLP at batch 32. Otherwise the loss is computed
    on a Tensor of the logits, as for any model."""
    plan.model._clear_losses()  # as a call of the model does first
    logits, ops = chain.forward(x.data)
    own = plan.model.losses  # (weight regularizers)
    mean = _mean_on_arrays(plan, y[0], logits, sw, own)
    if mean is not None:
        value, grad = mean.value_and_grad()
        y_pred, loss = [Tensor(logits)], Tensor(value)
    else:
        y_pred = [Tensor(logits, requires_grad=True)]
        loss = total_loss(plan, y, y_pred, sw, own)
        loss.backward()  # to the logits and the regularized weights
        grad = y_pred[0].grad
    chain.backward(ops, grad)
    apply_update(plan)
    update_metrics(plan, y, y_pred, sw, loss)


def _mean_on_arrays(
    plan: StepPlan, y: Any, logits: np.ndarray, sw: Any, own: list[Any]
) -> OpCall | None:
    """The compiled loss of ``logits`` (an array) against ``y`` as one op to
    run on arrays (see :func:`_chain_step`), or None: one loss, whose
    ``__call__`` is numdl's, and nothing added to it (sample or loss
    weights, the model's own losses ``own``)."""
    entries = plan.loss.entries
    if sw is not None or own or len(entries) != 1 or entries[0][2] is not None:
        return None
    loss = entries[0][1]
    if type(loss).__call__ is not Loss.__call__:
        return None
    return loss._mean_op(y, logits)


def test_step(plan: StepPlan, x: Any, y: list[Any], sw: Any) -> None:
    """Forward (training=False), loss and metrics; call under ``no_grad``."""
    with _threads(x):
        y_pred = plan.outputs.flatten(_forward_in_parts(plan.model, x))
        loss = total_loss(plan, y, y_pred, sw)
        update_metrics(plan, y, y_pred, sw, loss)


def predict_step(model: Any, x: Any) -> Any:
    """Forward (training=False) under ``no_grad``; outputs as host arrays.

    One host array into a chain of layers that run on arrays skips Tensors
    altogether (``Functional._predict_arrays``; one MNIST sample through the
    MLP: ~1.4x -> ~0.8x PyTorch's ``model(x)``).
    """
    if type(x) is Tensor:
        out = predict_arrays(model, x.data)
        if out is not None:
            return out
    return predict_on_tensors(model, x)


def predict_on_tensors(model: Any, x: Any) -> Any:
    """:func:`predict_step` without the attempt on arrays (for a caller
    that has made it already).

    >>> from numdl import layers, models
    >>> m = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    >>> predict_on_tensors(m, Tensor(np.zeros((3, 2)))).shape
    (3, 1)
    """
    with no_grad(), _threads(x):
        outputs = _forward_in_parts(model, x)
    if isinstance(outputs, Tensor):
        return to_numpy(outputs.data)
    return _map(outputs, lambda t: to_numpy(t.data if isinstance(t, Tensor) else t))


def predict_arrays(model: Any, x: Any) -> Any:
    """``model``'s outputs for one host array ``x``, computed on arrays
    (``Functional._predict_arrays``), in parts of the batch as
    :func:`_forward_in_parts` splits it; None where the model cannot.

    >>> predict_arrays(object(), np.zeros((1, 2))) is None
    True
    """
    on_arrays = getattr(model, "_predict_arrays", None)
    if on_arrays is None or type(x) is not np.ndarray:
        return None
    if len(x) < 2:  # (nothing to split: ~3 us of a one-sample predict)
        return on_arrays(x)
    with parallel.region():  # (a convolution splits its batch over threads)
        parts = _batch_parts(model, len(x), _ON_ARRAYS)
        if parts is None:
            return _noting_splits(model, lambda: on_arrays(x), _ON_ARRAYS)
        outs = parallel.run(lambda s: on_arrays(x[s]), parts, len(x))
    return None if outs[0] is None else np.concatenate(outs)


def _forward_in_parts(model: Any, x: Any) -> Any:
    """``model(x, training=False)`` under ``no_grad`` (predict, evaluate);
    for a model whose ops split its last batch over numdl's threads: the
    whole model on one part of the batch per thread instead (one hand-over
    per batch, not per op; the memory-bound ops of one part overlap the
    products of another, each part's intermediates are smaller). Models
    with one Tensor in and out, on the host, whose calls add no losses
    (``add_loss``, activity regularizers: each part would clear the
    others'); the layers' inference calls run in several threads at once."""
    if type(x) is not Tensor or type(x.data) is not np.ndarray:
        return model(x, training=False)
    data = x.data
    parts = _batch_parts(model, len(data), _ON_TENSORS)
    if parts is None:
        return _noting_splits(model, lambda: model(x, training=False), _ON_TENSORS)
    outs = parallel.run(
        lambda s: model(Tensor(data[s]), training=False), parts, len(data)
    )
    return Tensor(np.concatenate([o.data for o in outs]))


# Where a model notes that its batches go in parts (see _noting_splits), for
# predict on Tensors and on arrays: a model may take one path and not the other.
_ON_TENSORS, _ON_ARRAYS = "_predict_in_parts", "_arrays_in_parts"


def _batch_parts(model: Any, n: int, key: str) -> list[slice] | None:
    """One part of a batch of ``n`` per thread, for a model noted (under
    ``key``: on Tensors or on arrays) to split its batches
    (:func:`_noting_splits`); else None."""
    if not model.__dict__.get(key):
        return None
    # One part per thread: each part is a whole model call (Python overhead
    # per part), and one hand-over per batch is the point.
    cost = parallel.MIN_COST * parallel.get_num_threads()
    return parallel.split(n, cost, guided=False)


def _noting_splits(model: Any, forward: Callable[[], Any], key: str) -> Any:
    """``forward()`` (the model on a whole host batch), noting on the model
    (under ``key``) whether its ops split the batch over numdl's threads, so
    that the next batches go in parts (one Tensor or array out, no losses of
    its own). Nothing is noted when ``forward`` gives None (no array path)."""
    before = parallel.split_count()
    outputs = forward()
    if outputs is not None:
        one = type(outputs) is Tensor or type(outputs) is np.ndarray
        split = parallel.split_count() > before
        model.__dict__[key] = split and one and not _call_losses(model)
    return outputs


def _call_losses(model: Any) -> bool:
    """Whether the last call of ``model`` added losses of its own."""
    return any(layer._losses for layer in _all_layers(model))


def _map(outputs: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(outputs, dict):
        return {k: fn(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return [fn(v) for v in outputs]
    return fn(outputs)


# ------------------------------------------------------------------ devices
def on_model_device(model: Any, batches: Iterable[Any], has_targets: bool) -> Any:
    """``batches`` moved, one at a time, to the device of ``model``'s weights.

    On the GPU each host array goes through a reused pinned buffer
    (:class:`numdl.backend.HostStager`); arrays already on the device pass
    through, so the whole dataset is on the GPU only if the user put it there.

    >>> b = [(np.ones(1), [np.ones(1)], None)]
    >>> on_model_device(object(), b, True) is b
    True
    """
    device = getattr(model, "device", "cpu")
    if device == "cpu":
        return batches
    stager = _stager(model, device)
    put = stager.put
    if not has_targets:
        return (tree.map_structure(lambda t: _put_tensor(put, t), x) for x in batches)
    return (
        (
            tree.map_structure(lambda t: _put_tensor(put, t), x),
            _put_list(put, y),
            _put_list(put, sw),
        )
        for x, y, sw in batches
    )


def _stager(model: Any, device: str) -> Any:
    """The model's pinned-buffer stager (kept across epochs and calls)."""
    stager = model.__dict__.get("_host_stager")
    if stager is None:
        stager = backend.HostStager(backend.module_for(device))
        model.__dict__["_host_stager"] = stager
    return stager


def _put_tensor(put: Callable[[Any], Any], t: Any) -> Any:
    if isinstance(t, Tensor):
        return Tensor(put(t.data))
    return put(t) if isinstance(t, np.ndarray) else t


def _put_list(put: Callable[[Any], Any], items: Any) -> Any:
    return None if items is None else [None if a is None else put(a) for a in items]


# ---------------------------------------------------------------- the loops
def train_epoch(
    plan: StepPlan, batches: Iterable[Any], callbacks: Any, resume: Any = None
) -> tuple[dict[str, float], int]:
    """One epoch of steps; returns the epoch logs and the number of steps.

    ``resume`` (from ``BackupAndRestore``) resumes mid-epoch: its first
    ``resume.step`` batches are drawn (the same shuffle) but not trained on,
    then ``resume.restore()`` puts back the random state and the metrics.
    """
    plan.reset_metrics()
    model, logs, steps = plan.model, plan.logs, 0
    batches = iter(batches)
    if resume is not None and resume.step:
        steps = sum(1 for _ in zip(range(resume.step), batches))
        resume.restore()
    batches = on_model_device(model, batches, True)
    for step, (x, y, sw) in enumerate(batches, start=steps):
        callbacks.on_train_batch_begin(step)
        train_step(plan, x, y, sw)
        steps = step + 1
        callbacks.on_train_batch_end(step, logs)
        if model.stop_training:
            break
    return logs(), steps


def evaluate_epoch(
    plan: StepPlan, batches: Iterable[Any], callbacks: Any
) -> dict[str, float]:
    """Run test steps over ``batches`` (no graph); returns the logs."""
    plan.reset_metrics()
    logs = plan.logs
    with no_grad():
        batches = on_model_device(plan.model, batches, True)
        for step, (x, y, sw) in enumerate(batches):
            callbacks.on_test_batch_begin(step)
            test_step(plan, x, y, sw)
            callbacks.on_test_batch_end(step, logs)
    return logs()


def predict_loop(model: Any, batches: Iterable[Any], callbacks: Any) -> Any:
    """Predict every batch and concatenate along the batch axis."""
    collected: list[Any] = []
    for step, x in enumerate(on_model_device(model, batches, False)):
        callbacks.on_predict_batch_begin(step)
        out = predict_step(model, x)
        collected.append(out)
        callbacks.on_predict_batch_end(step, {"outputs": out})
    if not collected:
        raise ValueError("predict: the data yielded no batches")
    return _concatenate(collected)


def _concatenate(batches: list[Any]) -> Any:
    first = batches[0]
    if isinstance(first, dict):
        return {k: _concat([b[k] for b in batches]) for k in first}
    if isinstance(first, list):
        return [_concat([b[i] for b in batches]) for i in range(len(first))]
    return _concat(batches)


def _concat(arrays: list[Any]) -> Any:
    return np.concatenate(arrays, axis=0) if len(arrays) > 1 else np.array(arrays[0])


def should_validate(epoch: int, freq: Any) -> bool:
    """Keras's ``validation_freq``: every ``freq`` epochs, or the listed ones.

    >>> [should_validate(e, 2) for e in range(4)], should_validate(2, [3])
    ([False, True, False, True], True)
    """
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


def check_validation_freq(freq: Any) -> None:
    """An int >= 1 or a collection of epoch numbers (1-based), as Keras.

    >>> check_validation_freq(0)
    Traceback (most recent call last):
    ValueError: fit: validation_freq must be an integer >= 1 or a list of epochs, got 0
    """
    ok = isinstance(freq, int) and not isinstance(freq, bool) and freq >= 1
    if not ok and not (isinstance(freq, (list, tuple, set, range)) and freq):
        raise ValueError(
            f"fit: validation_freq must be an integer >= 1 or a list of epochs, "
            f"got {freq!r}"
        )


def fit_loop(
    plan: StepPlan,
    iterator: Any,
    epochs: int,
    initial_epoch: int,
    callbacks: Any,
    validate: Callable[[], dict[str, float]] | None,
    validation_freq: Any,
) -> dict[str, float]:
    """Epochs of training, validation, callbacks; returns the last epoch's logs."""
    model, logs = plan.model, {}
    model.stop_training = False
    callbacks.on_train_begin()
    # BackupAndRestore sets ``_resume_at`` (epoch, step, restore) in on_train_begin.
    resume, model._resume_at = getattr(model, "_resume_at", None), None
    for epoch in range(initial_epoch if resume is None else resume.epoch, epochs):
        callbacks.on_epoch_begin(epoch)
        # Once an epoch (the steps' regions are then free); not on the GPU.
        on_gpu = getattr(model, "device", "cpu") == "gpu"
        with _NO_REGION if on_gpu else parallel.region():
            epoch_logs, steps = train_epoch(plan, iterator.epoch(), callbacks, resume)
        resume = None
        if steps == 0:
            _warn_no_data(epoch)
            break
        if validate is not None and should_validate(epoch, validation_freq):
            val_logs = validate()
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        callbacks.on_epoch_end(epoch, epoch_logs)
        logs = epoch_logs
        if model.stop_training or iterator.exhausted:
            break
    callbacks.on_train_end(logs)
    return logs


def _warn_no_data(epoch: int) -> None:
    warnings.warn(
        f"fit: the training data yielded no batches in epoch {epoch + 1}; "
        f"stopping (a generator can be consumed only once: loop it forever and "
        f"pass steps_per_epoch, or pass a re-iterable)",
        stacklevel=3,
    )
