"""``Tensor``: an array that remembers how it was made, and ``backward()``.

A Tensor wraps an ndarray (``.data``). When it was produced by an op from
tensors that require gradients, it keeps that op (``_ctx``), and the op keeps
the ops its inputs came from (or the leaf tensors themselves): together they
form the graph that ``backward`` walks in reverse topological order, without
recursion, so a chain of 100,000 ops is fine. The graph holds ops, not
intermediate tensors, so an intermediate array is freed once nothing (the
user, or an op that saved it for backward) needs it.
Unless ``retain_graph=True``, backward releases each op's saved arrays and
inputs as soon as it has used them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numdl import backend, config
from numdl.backend import array_module, to_numpy


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    >>> import numdl
    >>> x = numdl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "name", "__weakref__")
    # NumPy defers ``ndarray + Tensor`` to ``Tensor.__radd__`` thanks to this.
    __array_priority__ = 1000.0

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        _ctx: Any = None,
        name: str | None = None,
    ) -> None:
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._ctx = _ctx
        self.name = name
        if _ctx is not None:
            _ctx._pass = None  # backward's bookkeeping starts empty (_count_uses)
        if requires_grad and data.dtype.kind not in "fc":
            raise TypeError(
                f"Only floating point tensors can require gradients, got dtype "
                f"{data.dtype}. Use numdl.tensor(..., dtype='float32')."
            )

    # ----------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def T(self) -> Tensor:  # noqa: N802 (NumPy's name)
        return ops.transpose(self)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def device(self) -> str:
        """Where the data lives: ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy)."""
        return backend.device_of(self.data)

    def to(self, device: str) -> Tensor:
        """This tensor on ``device`` (``"cpu"`` or ``"gpu"``): itself if there.

        Otherwise a copy that stays in the graph (gradients flow back to this
        tensor's device), as ``torch.Tensor.to``.

        >>> x = tensor([1.0], device="cpu"); x.to("cpu") is x
        True
        """
        device = backend.normalize_device(device)
        if backend.device_of(self.data) == device:
            return self
        return ToDevice.apply(self, device=device)

    def numpy(self) -> np.ndarray:
        """Return the data as a NumPy ndarray (no copy on the CPU)."""
        return to_numpy(self.data)

    def item(self) -> Any:
        """Return the single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"Tensor.item: expected a tensor with one element, got shape "
                f"{self.shape}"
            )
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """Return a tensor sharing the data, cut from the graph."""
        return Tensor(self.data)

    def astype(self, dtype: Any) -> Tensor:
        """Return a copy converted to ``dtype`` (differentiable for floats)."""
        return ops.cast(self, dtype)

    def zero_grad(self) -> None:
        self.grad = None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = to_numpy(self.data)
        if dtype is not None and data.dtype != dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(to_numpy(self.data), separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn={type(self._ctx).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    # ------------------------------------------------------------- backward
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf.

        ``grad`` is the upstream gradient; it may be left out only for a
        one-element tensor (a loss). Gradients add up across calls, as in
        PyTorch; set ``.grad = None`` (or use an optimizer's ``zero_grad``)
        between steps. Saved buffers are freed unless ``retain_graph``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph "
                "(was it computed under no_grad, or from tensors without "
                "requires_grad=True?)"
            )
        xp = array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for a tensor "
                    f"with one element, got shape {self.shape}; pass grad="
                )
            # 1 as a 0-d array, reshaped: cheaper than ones_like for one element.
            grad = xp.array(1, dtype=self.data.dtype).reshape(self.data.shape)
        else:
            grad = xp.array(
                grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype
            )
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward: grad has shape {grad.shape}, expected the "
                    f"tensor's shape {self.shape}"
                )
        _run_backward(self, grad, retain_graph)

    # ------------------------------------------------------------ operators
    def __add__(self, other: Any) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.subtract(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.subtract(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.multiply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.multiply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.divide(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.power(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.power(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    # Comparisons give boolean tensors without gradients, as in PyTorch.
    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self.data < _data(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self.data <= _data(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self.data > _data(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self.data >= _data(other))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data == _data(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data != _data(other))

    # --------------------------------------------------------------- methods
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.min(self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return ops.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return ops.std(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.prod(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: Any = None) -> Any:
        return ops.argmax(self, axis=axis)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    def flatten(self) -> Tensor:
        return ops.reshape(self, (-1,))

    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def sqrt(self) -> Tensor:
        return ops.sqrt(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def clip(self, min_value: Any = None, max_value: Any = None) -> Tensor:
        return ops.clip(self, min_value, max_value)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _new_tensor(data: Any, requires_grad: bool, ctx: Any) -> Tensor:
    """A Tensor without ``__init__``'s checks, for ``Function.apply``.

    Safe because apply passes ``requires_grad=True`` only for float outputs.
    """
    t = _object_new(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._ctx = ctx
    t.name = None
    return t


_object_new = object.__new__
_ndarray = np.ndarray


def _count_uses(root_fn: Any) -> None:
    """Set ``_uses`` of every op below ``root_fn``: how many inputs take its output.

    An op's backward may run once every use has delivered its gradient.
    ``_pass`` marks the ops this pass has seen (a fresh token per pass), and
    each op's ``_grad`` starts empty. Iterative, so 100,000 ops are fine. The
    bookkeeping lives on the ops, so one graph is backwarded by one thread at
    a time (as in any define-by-run engine without locks).
    """
    token = root_fn._pass = object()
    root_fn._uses = 0
    stack = [root_fn]
    while stack:
        fn = stack.pop()
        for op, needed in zip(fn.inputs, fn.needs_input_grad):
            # An input is an op, a leaf tensor or (never needed) a constant.
            if needed and not isinstance(op, Tensor):
                if op._pass is token:
                    op._uses += 1
                else:
                    op._pass = token
                    op._uses = 1
                    op._grad = None
                    stack.append(op)


def _run_backward(root: Tensor, grad: Any, retain_graph: bool) -> None:
    """Propagate ``grad`` from ``root`` to the leaves, accumulating ``.grad``.

    An op runs once all users of its output have handed in their gradients
    (Kahn's topological order); the gradient of an op's output waits on the op
    itself (``_grad``), and is dropped as soon as the op has used it. Saved
    buffers and the references to inputs are released as the pass goes
    (unless ``retain_graph``). Gradients are added out of place, so an array
    handed on by one op (``add`` passes its gradient through) is never
    modified behind its back.
    """
    root_fn = root._ctx
    if root_fn is None:
        _accumulate_leaf(root, grad)
        return
    _count_uses(root_fn)
    root_fn._grad = grad
    ready = [root_fn]
    while ready:
        fn = ready.pop()
        g = fn._grad
        fn._grad = None
        if g is None:  # no gradient reached this output: its inputs get none
            input_grads = (None,) * len(fn.inputs)
        else:
            if fn.freed:
                free_check(fn)
            input_grads = fn.backward(g)
            if not retain_graph:
                fn.freed = True
                fn.__dict__.clear()
        handed_on = False  # ``g`` given to one input as is may not go to a second
        for source, pg, needed in zip(fn.inputs, input_grads, fn.needs_input_grad):
            if not needed:
                continue
            # ``source`` is a leaf tensor, or the op that computed the input.
            is_leaf = isinstance(source, Tensor)
            if pg is not None:
                if pg is g:
                    if handed_on:
                        pg = pg.copy()
                    handed_on = True
                if is_leaf:
                    _accumulate_leaf(source, pg)
                    continue
                previous = source._grad
                source._grad = pg if previous is None else previous + pg
            elif is_leaf:
                continue
            uses = source._uses - 1
            source._uses = uses
            if not uses:
                ready.append(source)
        if fn.freed:
            # Done with this op for good: dropping its inputs frees the ops
            # below (and their saved arrays) now, not all at once when the loss
            # dies. (A burst of frees lets malloc trim the heap, and the next
            # step pays ~1000 page faults for it at batch 512.) Only backward
            # reads ``inputs``; a second backward stops at ``free_check``.
            fn.inputs = fn.needs_input_grad = ()


def _accumulate_leaf(leaf: Tensor, g: Any) -> None:
    """Add ``g`` to ``leaf.grad``, leaving a writeable array of the leaf's type.

    NumPy scalars (what 0-d arithmetic returns) and read-only views (sum's
    broadcast gradient) are turned into arrays of their own.
    """
    data = leaf.data
    if g.shape != data.shape:  # a gradient must never change a shape
        raise RuntimeError(
            f"internal error: gradient of shape {g.shape} for a leaf of shape "
            f"{data.shape}"
        )
    if leaf.grad is not None:
        g = leaf.grad + g
    # The common case, kept as is: a writeable array of the leaf's type
    # (CuPy's flags have no ``writeable``: its arrays always are).
    if type(g) is type(data) and g.dtype is data.dtype:
        if type(g) is not _ndarray or g.flags.writeable:
            leaf.grad = g
            return
    xp = array_module(g)
    if g.dtype != data.dtype:
        g = xp.asarray(g).astype(data.dtype)
    elif not isinstance(g, xp.ndarray) or not _writeable(g):
        g = xp.array(g)
    leaf.grad = g


def _writeable(a: Any) -> bool:
    return getattr(a.flags, "writeable", True)


def tensor(
    data: Any,
    requires_grad: bool = False,
    dtype: Any = None,
    name: str | None = None,
    device: str | None = None,
) -> Tensor:
    """Create a Tensor. Floating data gets the default float type (float32).

    Integer and boolean data keep their type; pass ``dtype`` to choose.
    ``device`` (``"cpu"``/``"gpu"``) defaults to where ``data`` lives for
    device arrays, else to the default device (``config.set_backend``).

    >>> tensor([[1.0, 2.0]]).dtype
    dtype('float32')
    """
    if isinstance(data, Tensor):
        data = data.data
    if device is not None:
        data = backend.to_device(data, device)
    elif backend.device_of(data) == "cpu":
        data = backend.on_default_device(data)
    xp = array_module(data)
    if dtype is None:
        arr = xp.asarray(data)
        if arr.dtype.kind == "f" or (requires_grad and arr.dtype.kind in "iub"):
            dtype = config.floatx()
    arr = xp.array(data, dtype=dtype)  # always a copy, like torch.tensor
    return Tensor(arr, requires_grad=requires_grad, name=name)


from numdl import ops  # noqa: E402  (circular: ops build Tensors)
from numdl.autograd.function import Function, free_check  # noqa: E402


class ToDevice(Function):
    """Copy to another device; the gradient is copied back (``Tensor.to``)."""

    def forward(self, x: Any, device: str = "cpu") -> Any:
        self.source = backend.device_of(x)
        return backend.to_device(x, device)

    def backward(self, grad: Any) -> tuple[Any]:
        return (backend.to_device(grad, self.source),)
