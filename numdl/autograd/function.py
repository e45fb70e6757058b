"""The ``Function`` base class: one differentiable op, forward and backward together.

An op subclasses ``Function`` and writes ``forward(*arrays)`` returning an array
and ``backward(grad)`` returning one gradient per input (``None`` where no
gradient is needed). ``forward`` stores on ``self`` whatever ``backward`` needs
(often the output: sigmoid' = y * (1 - y)). ``Function.apply`` does the rest:
unwrapping tensors, keeping the tensors' float type, recording the graph only
when a gradient is wanted, and returning a plain array when no input was a
Tensor ("NumPy in, NumPy out").
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from numdl.autograd.grad_mode import _State
from numdl.backend import array_module, device_of, mismatch_error


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` back to ``shape``, undoing NumPy broadcasting.

    >>> unbroadcast(np.ones((4, 3)), (1, 3)).tolist()
    [[4.0, 4.0, 4.0]]
    """
    gshape = grad.shape
    if gshape == shape:
        return grad
    extra = len(gshape) - len(shape)
    if extra == 1 and gshape[1:] == shape:  # a bias: sum over the batch axis only
        return grad.sum(axis=0)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


class Function:
    """Base class of every differentiable op (see the module docstring).

    A recorded op keeps ``inputs``, one entry per argument: a leaf tensor or a
    constant as given, and for a tensor computed by another op, that op (the
    graph's edge, like PyTorch's ``next_functions``). So an intermediate
    array lives only as long as someone uses it, not as long as the graph.

    >>> from numdl.ops.math import Exp
    >>> float(Exp.apply(0.0))
    1.0
    """

    # _pass, _uses and _grad are the backward pass's bookkeeping (tensor.py).
    __slots__ = (
        "inputs", "needs_input_grad", "freed", "_pass", "_uses", "_grad", "__dict__"
    )  # fmt: skip
    differentiable = True  # False for argmax, one_hot, comparisons: no graph
    # True for arithmetic: integer array constants take the tensors' float type.
    promote_integers = False

    def forward(self, *arrays: Any) -> Any:
        raise NotImplementedError

    def backward(self, grad: Any) -> tuple[Any, ...]:
        raise NotImplementedError(f"{type(self).__name__} has no gradient")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on the inputs' data and record the op for backward."""
        # One pass over the arguments: unwrap tensors, find their common float
        # type and whether any needs a gradient. Constants are converted after,
        # once the type is known (rare in hot code: layers pass tensors).
        arrays = []
        needs = []
        inputs = []
        dtype = None
        constants = record = False
        for a in args:
            if isinstance(a, Tensor):
                data = a.data
                arrays.append(data)
                needs.append(a.requires_grad)
                ctx = a._ctx
                inputs.append(a if ctx is None else ctx)
                if a.requires_grad:
                    record = True
                if dtype is None:
                    dtype = data.dtype
                    kind = type(first := data)
                elif type(data) is not kind:  # rare: another array type
                    _check_device(cls, first, data)
                    dtype = np.result_type(dtype, data.dtype)
                # Built-in dtypes are singletons: ``is`` settles the common case.
                elif data.dtype is not dtype and data.dtype != dtype:
                    dtype = np.result_type(dtype, data.dtype)
            else:
                arrays.append(a)
                needs.append(False)
                inputs.append(a)
                constants = True
        if dtype is None:
            return _apply_to_arrays(cls, args, kwargs)
        if constants:
            promote = cls.promote_integers
            for i, a in enumerate(args):
                if not isinstance(a, Tensor):
                    arrays[i] = _as_operand(a, dtype, promote)
            if kind.__module__.startswith("cupy"):
                _constants_to_device(args, arrays)
        fn = cls()
        fn.needs_input_grad = tuple(needs)
        out = fn.forward(*arrays, **kwargs)
        if isinstance(out, np.generic):  # NumPy reductions give scalars
            out = np.asarray(out)
        if (
            not (record and _State.enabled and cls.differentiable)
            or out.dtype.kind not in "fc"  # casts to int: no graph
        ):
            return _new_tensor(out, False, None)
        fn.inputs = tuple(inputs)
        fn.freed = False
        fn._pass = None
        return _new_tensor(out, True, fn)


def _check_device(cls: type[Function], first: Any, data: Any) -> None:
    """Tensors of one op must share a device (a NumPy scalar type is fine)."""
    if device_of(first) != device_of(data):
        raise mismatch_error(cls.__name__, first, data)


def _constants_to_device(args: tuple, arrays: list) -> None:
    """NumPy array constants follow GPU tensors (Python scalars need nothing)."""
    xp = array_module(*arrays)
    for i, a in enumerate(args):
        if not isinstance(a, Tensor) and isinstance(arrays[i], (np.ndarray, list)):
            arrays[i] = xp.asarray(arrays[i])


def _apply_to_arrays(cls: type[Function], args: tuple, kwargs: dict) -> Any:
    """``cls`` on inputs none of which is a Tensor: NumPy in, NumPy out."""
    out = cls().forward(*[_as_array(a) for a in args], **kwargs)
    # Python numbers in, NumPy scalar out (``add(1.0, 2.0)``).
    return np.asarray(out)[()] if isinstance(out, (int, float)) else out


def _is_python_number(x: Any) -> bool:
    """Python scalars (weak in NumPy 2), not NumPy scalars like ``np.float64``."""
    return isinstance(x, (int, float, bool)) and not isinstance(x, np.generic)


def _as_array(x: Any) -> Any:
    """Inputs of a call with no Tensor: lists become arrays, arrays stay."""
    if _is_python_number(x) or x is None:
        return x
    return np.asarray(x) if isinstance(x, (list, tuple)) else x


def _as_operand(x: Any, dtype: Any, promote_integers: bool = False) -> Any:
    """A constant entering an op with tensors: never upcast the tensors' floats.

    Python scalars are 'weak' in NumPy 2 and keep the array's type by
    themselves; float arrays and NumPy float scalars (``np.float64(2)``) are
    cast to the tensors' float type, so ``float32_tensor * np.ones(3)`` stays
    float32, as in PyTorch. Integer arrays are cast too when the op says
    ``promote_integers`` (arithmetic: ``t * np.arange(3)``); elsewhere they
    may be labels or indices and are left alone, as are boolean masks.
    """
    if getattr(x, "dtype", None) is dtype:  # an array of the tensors' type: as is
        return x
    if _is_python_number(x) or x is None:
        return x
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if getattr(x, "dtype", None) is None:
        return x
    kinds = "fiu" if promote_integers else "f"
    if x.dtype.kind in kinds and dtype.kind == "f" and x.dtype != dtype:
        return x.astype(dtype)
    if x.dtype.kind == "f" and dtype.kind in "iub":
        from numdl import config

        return x.astype(config.floatx())
    return x


class OpCall(NamedTuple):
    """One op with its arguments, checked and ready to run.

    ``apply()`` is ``op.apply(*args, **kwargs)``. ``value_and_grad()`` runs
    the op on host arrays without a graph: its output and the gradient of
    its first argument, as ``apply`` with that argument a Tensor that
    requires grad, then ``backward()`` on the (one-element) output, would
    leave them. A Dense chain's training step computes its loss this way
    (numdl/training/loop.py: ``_chain_step``).

    >>> from numdl.ops.math import Exp
    >>> value, grad = OpCall(Exp, (np.zeros(()),), {}).value_and_grad()
    >>> float(value), float(grad)
    (1.0, 1.0)
    """

    op: type[Function]
    args: tuple
    kwargs: dict

    def apply(self) -> Any:
        return self.op.apply(*self.args, **self.kwargs)

    def value_and_grad(self) -> tuple[Any, Any]:
        first, *rest = self.args
        # The other arguments are constants next to a Tensor, as in apply.
        rest = [_as_operand(a, first.dtype, self.op.promote_integers) for a in rest]
        fn = self.op()
        fn.needs_input_grad = (True,) + (False,) * len(rest)
        out = np.asarray(fn.forward(first, *rest, **self.kwargs))
        if out.size != 1:
            raise ValueError(
                f"{self.op.__name__}: value_and_grad needs a one-element output "
                f"(a loss), got shape {out.shape}"
            )
        seed = np.array(1, dtype=out.dtype).reshape(out.shape)  # Tensor.backward's
        leaf = Tensor(first, requires_grad=True)
        _accumulate_leaf(leaf, fn.backward(seed)[0])  # the .grad backward leaves
        return out, leaf.grad


def free_check(fn: Function) -> None:
    """Raise if ``fn`` already released its saved buffers in a backward pass."""
    if fn.freed:
        raise RuntimeError(
            f"Trying to backward through the graph a second time ({type(fn).__name__}"
            " already freed its saved values). Call backward(retain_graph=True)"
            " the first time if you need to backward twice."
        )


def zeros_like_grad(x: Any) -> Any:
    """A zero gradient with the shape and type of ``x`` (module of ``x``)."""
    return array_module(x).zeros_like(x)


from numdl.autograd.tensor import (  # noqa: E402  (circular)
    Tensor,
    _accumulate_leaf,
    _new_tensor,
)
