"""``Trainer``: Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

A mixin without ``__init__``: ``class Model(Trainer, Layer)``. It relies on
the model being callable as ``model(x, training=bool)`` (returning a Tensor,
or a list/dict of Tensors), on ``trainable_weights``, ``losses``,
``get_weights``/``set_weights`` and, when present, ``output_names``.

>>> import numpy as np
>>> from numdl import layers
>>> from numdl.layers import Layer
>>> class Linear(Trainer, Layer):
...     def __init__(self):
...         super().__init__()
...         self.dense = layers.Dense(1)
...     def call(self, x):
...         return self.dense(x)
>>> model = Linear()
>>> model.compile(optimizer="sgd", loss="mse")
>>> history = model.fit(np.ones((8, 2)), np.ones(8), epochs=2, verbose=0)
>>> len(history.history["loss"]), model.predict(np.ones((3, 2)), verbose=0).shape
(2, (3, 1))
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from numdl.autograd.grad_mode import no_grad
from numdl.autograd.tensor import Tensor
from numdl.training import data as data_module
from numdl.training import loop
from numdl.training.compile import (
    CompiledLoss,
    CompiledMetrics,
    check_targets,
    resolve_optimizer,
)


class Trainer:
    """Keras 3's training API, mixed into ``Model``.

    ``compile`` sets the optimizer, losses and metrics; ``fit`` trains and
    returns a ``History``; ``evaluate`` and ``predict`` run without building
    a graph. Logs hold Python floats: ``"loss"`` (batch losses averaged with
    batch-size weights, regularization included), ``"<output>_loss"`` per
    output when there are several, then the metrics in compile order, then
    the same with ``"val_"``. (Keras 3 sorts the keys; numdl keeps "loss"
    first, as tf.keras did.)
    """

    compiled = False
    optimizer = None
    stop_training = False
    history = None
    _plan: loop.StepPlan | None = None

    # ------------------------------------------------------------- compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: Any = None,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: bool = True,
    ) -> None:
        """Configure training: optimizer, loss(es), metrics (Keras 3 arguments).

        ``loss``, ``metrics`` and ``loss_weights`` are one item (every
        output), a list (one entry per output) or a dict by output name.
        Strings resolve through ``numdl.optimizers.get``, ``numdl.losses.get``
        and ``numdl.metrics.get``; ``"accuracy"``/``"acc"`` and
        ``"crossentropy"``/``"ce"`` pick the binary, categorical or sparse
        variant from the shapes of targets and outputs on the first batch.
        ``run_eagerly``, ``steps_per_execution``, ``jit_compile`` and
        ``auto_scale_loss`` are accepted for compatibility and ignored.

        The third positional argument is ``loss_weights`` in Keras 3 but
        ``metrics`` in tf.keras; metric names or objects given there (with
        ``metrics`` unset) are taken as metrics, so both kinds of program run.
        """
        if metrics is None and _looks_like_metrics(loss_weights):
            metrics, loss_weights = loss_weights, None
        self.optimizer = resolve_optimizer(optimizer)
        self.loss = loss
        self._plan = loop.StepPlan(
            self,
            CompiledLoss(loss, loss_weights),
            CompiledMetrics(metrics, weighted_metrics),
        )
        self.compiled = True

    def _require_compiled(self, where: str) -> loop.StepPlan:
        if not self.compiled or self._plan is None:
            raise RuntimeError(
                f"Model {getattr(self, 'name', '')!r}: you must call compile() "
                f"before {where}(), e.g. model.compile(optimizer='adam', "
                f"loss='mse')"
            )
        return self._plan

    @property
    def metrics(self) -> list[Any]:
        """The metric objects: the loss tracker, per-output losses, metrics.

        Empty until the model has trained or evaluated once (as tf.keras: the
        metrics are resolved on the first batch).
        """
        plan = self._plan
        return [] if plan is None or plan.outputs is None else plan.all_metrics

    @property
    def metrics_names(self) -> list[str]:
        """Names of the logged values, in the order ``evaluate`` returns them."""
        plan = self._plan
        return [] if plan is None or plan.outputs is None else list(plan.logs())

    def reset_metrics(self) -> None:
        """Reset every metric's state (``train_on_batch`` accumulates)."""
        if self._plan is not None:
            self._plan.reset_metrics()

    # ------------------------------------------------------------- prepare
    def _prepare(self, data: Any, where: str, class_weight: Any = None) -> Any:
        """Build losses and metrics on a first sample, arrange and check targets."""
        plan = self._require_compiled(where)
        x0, y0 = data.sample()  # a generator's first batch is checked here
        if plan.outputs is None:
            with no_grad():
                outputs = self(x0, training=False)
            names = loop.OutputSpec(outputs, getattr(self, "output_names", None)).names
            plan.build(outputs, data_module.per_output_targets(y0, names, "y", where))
        if isinstance(data, data_module.ArrayData):
            data.set_outputs(plan.outputs.names, class_weight)
            targets = data.y
        else:
            if class_weight is not None:
                raise ValueError(
                    f"{where}: class_weight is supported for array data only; "
                    f"yield (x, y, sample_weight) batches from the generator"
                )
            data.set_outputs(plan.outputs.names)
            targets = data.first_targets()
        check_targets(
            plan.loss, targets, plan.outputs.shapes, plan.outputs.names, where
        )
        return plan

    # ----------------------------------------------------------------- fit
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Any = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: Any = True,
        class_weight: dict | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: Any = 1,
    ) -> Any:
        """Train for ``epochs`` epochs; return the ``History`` callback.

        ``x``/``y``: arrays or Tensors (lists/dicts of them for several
        inputs/outputs), or ``x`` a generator/iterable of ``(x, y)`` or
        ``(x, y, sample_weight)`` batches (then ``y`` is None;
        ``steps_per_epoch`` limits each epoch; a generator is not shuffled).
        ``validation_split`` holds out the **last** fraction of the arrays,
        taken before shuffling, as Keras does: shuffle the data yourself first
        if it is ordered. ``validation_data`` is ``(x, y)``,
        ``(x, y, sample_weight)`` or a generator, and overrides the split.
        Bad data (lengths, NaN/inf, labels that do not fit the loss) raises
        before the first step. Seed with ``numdl.config.set_random_seed``.
        """
        plan = self._require_compiled("fit")
        batch_size = data_module.default_batch_size(batch_size)
        loop.check_validation_freq(validation_freq)
        resolve_verbose(verbose)
        train = data_module.make_data(x, y, sample_weight, "fit")
        train, val = data_module.validation_source(
            train, validation_data, validation_split
        )
        self._prepare(train, "fit", class_weight)
        if val is not None:
            self._prepare(val, "fit (validation data)")
        plan.refresh_weights()
        iterator, steps = data_module.epoch_iterator(
            train, batch_size, shuffle, steps_per_epoch
        )
        callback_list = _callback_list(self, callbacks, verbose, epochs, steps, True)
        validate = None
        if val is not None:
            val_size = validation_batch_size or batch_size
            validate = self._validation_runner(
                val, val_size, validation_steps, callback_list
            )
        loop.fit_loop(
            plan,
            iterator,
            epochs,
            initial_epoch,
            callback_list,
            validate,
            validation_freq,
        )
        return self.history

    def _validation_runner(
        self, val: Any, batch_size: int, steps: int | None, callbacks: Any
    ) -> Any:
        iterator, _ = data_module.epoch_iterator(val, batch_size, False, steps)

        def validate() -> dict[str, float]:
            callbacks.on_test_begin()
            logs = loop.evaluate_epoch(self._plan, iterator.epoch(), callbacks)
            callbacks.on_test_end(logs)
            return logs

        return validate

    # ------------------------------------------------------------ evaluate
    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics on the data, without a graph (``training=False``).

        Returns the loss (a float) when there are no metrics, else the list
        ``[loss, *metrics]`` in ``metrics_names`` order, or a dict with
        ``return_dict=True`` (Keras 3's return values).
        """
        plan = self._require_compiled("evaluate")
        batch_size = data_module.default_batch_size(batch_size)
        data = data_module.make_data(x, y, sample_weight, "evaluate")
        self._prepare(data, "evaluate")
        iterator, n_steps = data_module.epoch_iterator(data, batch_size, False, steps)
        callback_list = _callback_list(self, callbacks, verbose, 1, n_steps, False)
        callback_list.on_test_begin()
        logs = loop.evaluate_epoch(plan, iterator.epoch(), callback_list)
        callback_list.on_test_end(logs)
        return _returned(logs, return_dict)

    # ------------------------------------------------------------- predict
    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Any = None,
    ) -> Any:
        """Outputs for ``x`` as NumPy arrays (a list/dict for several outputs).

        Runs ``model(x, training=False)`` batch by batch under ``no_grad`` and
        concatenates along the batch axis. On the CPU, a model whose ops split
        a batch over numdl's threads (convnets) runs whole on one part of each
        batch per thread (``numdl.parallel``): its layers' inference calls
        then run in several threads at once.
        """
        batch_size = data_module.default_batch_size(batch_size)
        quiet = steps is None and not callbacks and resolve_verbose(verbose) == 0
        if quiet and type(x) is np.ndarray and x.ndim and 0 < len(x) <= batch_size:
            # One host array in one batch, nothing to report: the step alone,
            # as predict_on_batch, without the data's structure walk (a
            # one-sample predict's time is mostly Python calls).
            x = data_module.checked_array(x, "predict")
            out = loop.predict_arrays(self, x)
            return out if out is not None else self._predict_on_tensors(Tensor(x))
        data = data_module.make_data(x, None, None, "predict")
        quiet = quiet and isinstance(data, data_module.ArrayData)
        if quiet and 0 < data.n <= batch_size:  # (a list or dict of arrays)
            return self._predict_one_batch(data)
        batches, n_steps = data_module.input_batches(data, batch_size, steps)
        callback_list = _callback_list(self, callbacks, verbose, 1, n_steps, False)
        callback_list.on_predict_begin()
        outputs = loop.predict_loop(self, batches, callback_list)
        callback_list.on_predict_end()
        return outputs

    # ----------------------------------------------------------- on_batch
    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: dict | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One training step on one batch; metrics accumulate across calls
        (as Keras 3; ``reset_metrics()`` clears them). Returns like evaluate.
        """
        plan = self._require_compiled("train_on_batch")
        data = data_module.make_data(x, y, sample_weight, "train_on_batch")
        self._prepare(data, "train_on_batch", class_weight)
        plan.refresh_weights()
        batches = loop.on_model_device(self, data.batches(data.n), True)
        xb, yb, swb = next(iter(batches))
        loop.train_step(plan, xb, yb, swb)
        return _returned(plan.logs(), return_dict)

    def test_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics on one batch (metrics accumulate, as Keras 3)."""
        plan = self._require_compiled("test_on_batch")
        data = data_module.make_data(x, y, sample_weight, "test_on_batch")
        self._prepare(data, "test_on_batch")
        batches = loop.on_model_device(self, data.batches(data.n), True)
        xb, yb, swb = next(iter(batches))
        with no_grad():
            loop.test_step(plan, xb, yb, swb)
        return _returned(plan.logs(), return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch as NumPy arrays."""
        data = data_module.make_data(x, None, None, "predict_on_batch")
        return self._predict_one_batch(data)

    def _predict_one_batch(self, data: Any) -> Any:
        """Outputs for all of ``data`` at once (one array: straight to the
        layers' array functions where they have them, ~8 us less a call)."""
        out = loop.predict_arrays(self, data.only_array())
        if out is not None:
            return out
        return self._predict_on_tensors(data.first_inputs(data.n))

    def _predict_on_tensors(self, inputs: Any) -> Any:
        """Outputs for one batch of ``inputs`` (Tensors) through the model."""
        batch = loop.on_model_device(self, [inputs], False)
        return loop.predict_on_tensors(self, next(iter(batch)))


def _looks_like_metrics(value: Any) -> bool:
    """True for metric specs (strings, callables, Metric objects) but not numbers."""
    items = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(items, (list, tuple)):
        items = [items]
    flat = [v for item in items for v in (item if isinstance(item, list) else [item])]
    return bool(flat) and all(
        isinstance(v, str) or callable(v) or hasattr(v, "update_state")
        for v in flat
        if v is not None
    )


def _returned(logs: dict[str, float], return_dict: bool) -> Any:
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def resolve_verbose(verbose: Any) -> int:
    """``"auto"`` is 1 on a terminal, 2 otherwise (log files, CI); else as given.

    >>> resolve_verbose(0), resolve_verbose(2)
    (0, 2)
    """
    if verbose == "auto":
        isatty = getattr(sys.stdout, "isatty", None)
        return 1 if isatty is not None and isatty() else 2
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _callback_list(
    model: Any, callbacks: Any, verbose: Any, epochs: int, steps: Any, history: bool
) -> Any:
    from numdl.callbacks import CallbackList

    verbose = resolve_verbose(verbose)
    return CallbackList(
        callbacks,
        add_history=history,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps,
    )
