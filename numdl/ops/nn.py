"""Neural-network ops with hand-written backward: the hot paths, fused.

- ``relu``, ``sigmoid``, ``softplus``, ``softmax``, ``log_softmax``: one op each,
  numerically stable (no ``exp`` of a positive number, the max subtracted);
- ``dense``: ``x @ kernel + bias`` (optionally followed by ReLU) in one op;
- ``softmax_cross_entropy``: ``-sum(labels * log_softmax(logits))`` in one op
  whose gradient is ``softmax - labels``, for integer (sparse) and one-hot or
  soft (dense) labels;
- ``sigmoid_binary_crossentropy``: binary cross-entropy on logits, exact.

Every array these ops write into in place was created inside the op itself;
inputs are never modified.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numdl import parallel
from numdl.autograd.function import Function, OpCall
from numdl.backend import array_module
from numdl.ops import _cupy_kernels as _gpu


# ------------------------------------------------------------ array helpers
def as_float(x: Any) -> Any:
    """A Tensor or array with a floating type; other inputs become arrays.

    Float arrays and tensors keep their type; integers and booleans become
    ``config.floatx()``, as in Keras.

    >>> as_float([1, 2]).dtype
    dtype('float32')
    """
    if isinstance(x, Tensor):
        if x.data.dtype.kind == "f":
            return x
        return cast(x, config.floatx())
    xp = array_module(x)
    arr = xp.asarray(x)
    return arr if arr.dtype.kind == "f" else arr.astype(config.floatx())


def apply_unary(cls: type[Function], x: Any, **kwargs: Any) -> Any:
    """``cls.apply(as_float(x), **kwargs)``; 0-d inputs go through as shape (1,).

    (NumPy ufuncs turn 0-d arrays into scalars, which ops cannot update in
    place.)

    >>> apply_unary(ReLU, -2.0).tolist()
    0.0
    """
    x = as_float(x)
    if x.ndim == 0:
        return reshape(cls.apply(reshape(x, (1,)), **kwargs), ())
    return cls.apply(x, **kwargs)


def _sigmoid(x: Any) -> Any:
    """Logistic sigmoid of an array; ``exp`` only sees non-positive numbers."""
    xp = array_module(x)
    if xp is not np:  # one fused kernel on the GPU
        return _gpu.sigmoid(x)
    z = xp.abs(x)
    xp.negative(z, out=z)
    xp.exp(z, out=z)  # z = exp(-|x|) in (0, 1]: never overflows
    out = z + 1
    return xp.divide(xp.where(x >= 0, 1, z), out, out=out)


def _log_softmax(z: Any, axis: Any) -> Any:
    """``z - max - log(sum(exp(z - max)))`` along ``axis``, as a new array."""
    xp = array_module(z)
    out = z - z.max(axis=axis, keepdims=True)
    out -= xp.log(xp.exp(out).sum(axis=axis, keepdims=True))
    return out


def _log_softmax_classes_first(z: Any) -> Any:
    """``_log_softmax(z, 1)`` of a 2-D array with few columns (classes).

    Row-wise max and sum over a short last axis are slow in NumPy (one short
    reduction per row); on the transposed copy they run across the batch,
    vectorised. The result has the same values, in Fortran order.
    """
    xp = array_module(z)
    out = z.T.copy()
    out -= out.max(axis=0)
    out -= xp.log(xp.exp(out).sum(axis=0))
    return out.T


# Up to this many classes the transposed log-softmax is faster (2-D inputs).
_FEW_CLASSES = 32


def _empty_axis(x: Any, axis: Any) -> bool:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return any(x.shape[a] == 0 for a in axes)


def _expand(g: Any, axis: int) -> Any:
    """Re-insert the reduced class axis into an upstream gradient."""
    shape = g.shape
    return g.reshape(shape[:axis] + (1,) + shape[axis:])


# ------------------------------------------------------------- activations
class ReLU(Function):
    """``max(x, 0)``; the gradient passes where the output is positive."""

    def forward(self, x):
        self.out = array_module(x).maximum(x, 0)
        return self.out

    def backward(self, g):
        # One fused kernel on the GPU (the NumPy path pays one type check).
        if type(g) is not np.ndarray and array_module(g) is not np:
            return (_gpu.relu_grad(g, self.out),)
        return (g * (self.out > 0),)


class Sigmoid(Function):
    """``1 / (1 + exp(-x))``; saves its output: sigmoid' = y * (1 - y)."""

    def forward(self, x):
        self.out = _sigmoid(x)
        return self.out

    def backward(self, g):
        return (_sigmoid_grad(g, self.out),)


def _sigmoid_grad(g: Any, y: Any) -> Any:
    """``g * y * (1 - y)``: the gradient through a sigmoid of output ``y``."""
    # One fused kernel on the GPU (the NumPy path pays one type check).
    if type(y) is not np.ndarray and array_module(y) is not np:
        return _gpu.sigmoid_grad(g, y)
    grad = 1 - y
    grad *= y
    grad *= g
    return grad


class Softplus(Function):
    """``log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))``; never overflows."""

    def forward(self, x):
        xp = array_module(x)
        self.x = x
        tail = xp.abs(x)
        xp.negative(tail, out=tail)
        xp.exp(tail, out=tail)
        xp.log1p(tail, out=tail)
        tail += xp.maximum(x, 0)
        return tail

    def backward(self, g):
        grad = _sigmoid(self.x)
        grad *= g
        return (grad,)


class Softmax(Function):
    """``exp(x - max) / sum(exp(x - max))``; gradient ``y * (g - sum(g * y))``."""

    def forward(self, x, axis=-1):
        xp = array_module(x)
        self.axis = axis
        if _empty_axis(x, axis):
            self.out = x.copy()
            return self.out
        if xp is not np and _gpu.rows_supported(x, axis):  # one kernel on the GPU
            self.out = _gpu.softmax_rows(x)
            return self.out
        out = x - x.max(axis=axis, keepdims=True)
        xp.exp(out, out=out)
        out /= out.sum(axis=axis, keepdims=True)
        self.out = out
        return out

    def backward(self, g):
        y = self.out
        if type(y) is not np.ndarray and _gpu.rows_supported(y, self.axis):
            return (_gpu.softmax_rows_grad(y, g),)  # one kernel on the GPU
        grad = g - (g * y).sum(axis=self.axis, keepdims=True)
        grad *= y
        return (grad,)


class LogSoftmax(Function):
    """``x - max - log(sum(exp(x - max)))``; gradient ``g - softmax * sum(g)``."""

    def forward(self, x, axis=-1):
        self.axis = axis
        self.out = x.copy() if _empty_axis(x, axis) else _log_softmax(x, axis)
        return self.out

    def backward(self, g):
        xp = array_module(g)
        grad = xp.exp(self.out)
        grad *= -g.sum(axis=self.axis, keepdims=True)
        grad += g
        return (grad,)


# ------------------------------------------------------------------- dense
class Dense(Function):
    """``x @ kernel + bias``, then a fused ``activation`` (None, ``"relu"``
    or ``"sigmoid"``), leading axes flattened.

    Backward: ``g`` through the activation first (ReLU's mask, or
    ``y * (1 - y)`` from the saved output), then ``grad_x = g @ kernel.T``,
    ``grad_kernel = x.T @ g``, ``grad_bias = g.sum(0)``, with ``x`` and ``g``
    seen as 2-D. A fused activation saves one op per layer and step.
    """

    def forward(self, x, kernel, bias=None, activation=None):
        self.x_shape = x.shape
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        self.x2, self.kernel, self.activation = x2, kernel, activation
        out = dense_2d(x2, kernel, bias, activation)
        if activation is not None:
            self.out = out
        return out if x.ndim == 2 else out.reshape(x.shape[:-1] + (kernel.shape[1],))

    def backward(self, g):
        need_x, need_kernel, need_bias = self.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        m, (k, n) = g2.shape[0], self.kernel.shape
        g2 = self._through_activation(g2)
        if parallel.split(m, 2.0 * m * k * n, lead=False) is not None:
            return self._split_backward(g2, need_x, need_kernel, need_bias)
        gx = gk = gb = None
        if need_x:
            gx = g2 @ self.kernel.T
            if gx.shape != self.x_shape:
                gx = gx.reshape(self.x_shape)
        if need_kernel:
            gk = self.x2.T @ g2
        if need_bias:
            gb = g2.sum(axis=0)
        return gx, gk, gb

    def _through_activation(self, g2):
        """The gradient before the fused activation."""
        if self.activation == "sigmoid":
            return _sigmoid_grad(g2, self.out)
        if self.activation != "relu":
            return g2
        if type(g2) is not np.ndarray:  # one fused kernel on the GPU
            return _gpu.relu_grad(g2, self.out)
        return g2 * (self.out > 0)

    def _split_backward(self, g2, need_x, need_kernel, need_bias):
        """The backward over numdl's threads (when BLAS is on one thread, see
        numdl/parallel.py): ``g @ kernel.T`` by rows of the batch, then
        ``x.T @ g`` by rows of the kernel (each part a block of input
        features: no partial sums to add). ``g2`` is past the activation."""
        xp = array_module(g2)
        m, (k, n) = g2.shape[0], self.kernel.shape
        gx = xp.empty((m, k), dtype=g2.dtype) if need_x else None

        def rows(s: slice) -> None:
            xp.matmul(g2[s], self.kernel.T, out=gx[s])

        if need_x:
            parallel.run(rows, parallel.split(m, 2.0 * m * k * n, lead=False), m)
        gk = xp.empty((k, n), dtype=g2.dtype) if need_kernel else None

        def features(s: slice) -> None:
            xp.matmul(self.x2[:, s].T, g2, out=gk[s])

        if need_kernel:
            parallel.run(features, parallel.split(k, 2.0 * m * k * n, lead=False), k)
        gb = g2.sum(axis=0) if need_bias else None
        if need_x and gx.shape != self.x_shape:
            gx = gx.reshape(self.x_shape)
        return gx, gk, gb


def dense_2d(x2: Any, kernel: Any, bias: Any = None, activation: Any = None) -> Any:
    """``activation(x2 @ kernel + bias)`` for a 2-D ``x2``, on arrays: the
    :class:`Dense` op's forward without its graph state (``predict`` runs it
    alone, see ``layers.Dense._array_fn``).

    >>> dense_2d(np.ones((2, 3)), np.ones((3, 1)), np.ones(1), "relu").tolist()
    [[4.0], [4.0]]
    """
    relu = activation == "relu"
    m, (k, n) = x2.shape[0], kernel.shape
    # (one row: nothing to split, and a call less for a one-sample predict)
    parts = None if m < 2 else parallel.split(m, 2.0 * m * k * n, lead=False)
    if parts is None and type(x2) is np.ndarray:
        # The usual case written out (a one-sample predict's time is mostly
        # calls like these): a new array, so updated in place. For one row,
        # ndarray.dot gives matmul's bits without its ufunc dispatch (~1.5 us
        # less a layer); at 512 rows its BLAS call ran 7% slower than @'s.
        out = x2.dot(kernel) if m == 1 else x2 @ kernel
        if bias is not None:
            out += bias
        if relu:
            np.maximum(out, 0, out=out)
        return _sigmoid(out) if activation == "sigmoid" else out
    xp = array_module(x2, kernel)
    if parts is None:  # on the GPU
        out = x2 @ kernel
        _bias_relu(xp, out, bias, relu)
    else:  # BLAS on one thread: rows split over numdl's threads
        out = xp.empty((m, n), dtype=xp.result_type(x2, kernel))

        def part(s: slice) -> None:
            xp.matmul(x2[s], kernel, out=out[s])
            _bias_relu(xp, out[s], bias, relu)

        parallel.run(part, parts, m)
    return _sigmoid(out) if activation == "sigmoid" else out


def _bias_relu(xp: Any, out: Any, bias: Any, relu: bool) -> None:
    """``out += bias`` then ReLU, in place."""
    if relu and bias is not None and xp is not np:  # one fused kernel on the GPU
        _gpu.bias_relu_(out, bias, relu)
        return
    if bias is not None:
        out += bias
    if relu:
        xp.maximum(out, 0, out=out)


# ------------------------------------------------------------ cross-entropy
class SoftmaxCrossEntropy(Function):
    """``-sum(labels * log_softmax(logits), axis)`` in one op.

    Sparse labels are class indices (already checked, see
    :func:`check_sparse_labels`); ``valid`` is False where a label is ignored.
    The gradient is ``(softmax * sum(labels) - labels) * g``, which is
    ``softmax - onehot`` for one-hot labels. With ``mean=True`` the op
    returns the mean of the per-sample losses (over the labels not ignored)
    and its backward scales by one number: a Loss's usual reduction without
    a second op in the graph.
    """

    def forward(self, logits, labels, axis=-1, sparse=False, valid=None, mean=False):
        axis = axis % logits.ndim
        self.axis, self.sparse, self.labels, self.valid = axis, sparse, labels, valid
        if logits.shape[axis] == 0:
            raise ValueError(
                f"softmax_cross_entropy: logits have no classes (shape {logits.shape})"
            )
        loss = self._per_sample(array_module(logits), logits, labels, axis, valid)
        self.count = None
        if mean:
            self.count = loss.size if valid is None else float(valid.sum())
            return _mean_of(loss, self.count)
        return loss

    def _per_sample(self, xp, logits, labels, axis, valid):
        if _gpu_sparse_rows(xp, logits, axis, self.sparse, valid):
            loss, self.logp = _gpu.sparse_softmax_cross_entropy(logits, labels)
            self.fused = True
            return loss
        if logits.ndim == 2 and axis == 1 and logits.shape[1] <= _FEW_CLASSES:
            logp = _log_softmax_classes_first(logits)
        else:
            logp = _log_softmax(logits, axis)
        self.logp = logp
        if not self.sparse:
            return -(labels * logp).sum(axis=axis)
        # Fancy indexing (a fresh array, negated in place) is cheaper than
        # take_along_axis; rows are kept for backward.
        if axis == logp.ndim - 1:
            self.rows = rows = xp.arange(labels.size)
            flat = logp if logp.ndim == 2 else logp.reshape(-1, logp.shape[-1])
            loss = flat[rows, labels.reshape(-1)].reshape(labels.shape)
        else:
            loss = xp.take_along_axis(logp, xp.expand_dims(labels, axis), axis)
            loss = loss.reshape(labels.shape)
        xp.negative(loss, out=loss)
        if valid is not None:
            loss *= valid
        return loss

    def backward(self, g):
        xp = array_module(g)
        axis, labels = self.axis, self.labels
        if self.count is not None:  # the mean: each sample's share of g
            g = g / g.dtype.type(max(self.count, 1))
            if self.needs_input_grad[0] and getattr(self, "fused", False):
                g = xp.broadcast_to(g, self.logp.shape[:1])
        grad_logits = grad_labels = None
        if self.needs_input_grad[0] and getattr(self, "fused", False):
            grad_logits = _gpu.sparse_softmax_cross_entropy_grad(self.logp, labels, g)
        elif self.needs_input_grad[0]:
            grad_logits = self._grad_logits(xp, g, axis, labels)
        if not self.sparse and self.needs_input_grad[1]:
            grad_labels = -self._per_row(g, axis) * self.logp
        return grad_logits, grad_labels

    def _grad_logits(self, xp, g, axis, labels):
        grad = xp.exp(self.logp)  # softmax
        if not self.sparse:
            grad *= labels.sum(axis=axis, keepdims=True)
            grad -= labels
            grad *= self._per_row(g, axis)
            return grad
        if grad.ndim == 2 and axis == 1:  # indexed in place: grad is new
            grad[self.rows, labels] -= 1
        elif axis == grad.ndim - 1:
            flat = grad.reshape(-1, grad.shape[-1])  # a view: grad is new
            flat[self.rows, labels.reshape(-1)] -= 1
        else:
            classes = xp.arange(grad.shape[axis]).reshape(
                [-1 if i == axis else 1 for i in range(grad.ndim)]
            )
            grad -= xp.expand_dims(labels, axis) == classes
        if self.valid is not None:
            g = g * (self.valid if self.count is None else _expand(self.valid, axis))
        grad *= self._per_row(g, axis)
        return grad

    def _per_row(self, g, axis):
        """``g`` against the logits: per-sample values get the class axis
        back; the mean's single number broadcasts as it is."""
        return g if self.count is not None else _expand(g, axis)


def _mean_of(loss: Any, count: float) -> Any:
    """``sum(loss) / count`` (0 when nothing counts), as a 0-d array."""
    total = loss.sum()
    return total / total.dtype.type(max(count, 1))


def _gpu_sparse_rows(xp: Any, logits: Any, axis: int, sparse: bool, valid: Any) -> bool:
    """Whether the fused GPU kernel (one thread per row) computes this loss."""
    return (
        xp is not np
        and sparse
        and valid is None
        and logits.ndim == 2
        and axis == 1
        and logits.shape[1] <= _FEW_CLASSES
        and logits.dtype in _gpu.FLOAT_NAMES
    )


class SigmoidBinaryCrossentropy(Function):
    """``max(z, 0) - z * y + log1p(exp(-|z|))``, elementwise, exact for any z.

    Gradient: ``(sigmoid(z) - y) * g`` for the logits, ``-z * g`` for labels.
    With ``mean=True``, the mean over every entry (one op, as
    :class:`SoftmaxCrossEntropy`).
    """

    def forward(self, logits, labels, mean=False):
        xp = array_module(logits)
        self.logits, self.labels = logits, labels
        tail = xp.abs(logits)
        xp.negative(tail, out=tail)
        xp.exp(tail, out=tail)
        xp.log1p(tail, out=tail)
        loss = xp.maximum(logits, 0)
        loss -= logits * labels  # first, so that a tiny tail is not rounded away
        loss += tail
        self.count = loss.size if mean else None
        return _mean_of(loss, self.count) if mean else loss

    def backward(self, g):
        xp = array_module(g)
        z, y = self.logits, self.labels
        if self.count is not None:  # the mean: each entry's share of g
            g = g / g.dtype.type(max(self.count, 1))
        grad_logits = grad_labels = None
        if self.needs_input_grad[0]:
            # sigmoid(z) - y, with q = sigmoid(-|z|) so that no tail is rounded
            # away: for z >= 0 it is (1 - y) - q (exact -q when y = 1)
            q = xp.abs(z)
            xp.negative(q, out=q)
            xp.exp(q, out=q)
            q /= q + 1
            grad_logits = xp.where(z >= 0, (1 - y) - q, q - y)
            grad_logits *= g
        if self.needs_input_grad[1]:
            grad_labels = -g * z
        return grad_logits, grad_labels


# ---------------------------------------------------------------- wrappers
def relu(x: Any) -> Any:
    """Rectified linear unit ``max(x, 0)`` as one op.

    >>> relu([-1.0, 0.0, 2.0]).tolist()
    [0.0, 0.0, 2.0]
    """
    return apply_unary(ReLU, x)


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid, stable for any input (no overflow).

    >>> sigmoid([0.0]).tolist()
    [0.5]
    """
    return apply_unary(Sigmoid, x)


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))`` computed as ``max(x, 0) + log1p(exp(-|x|))``.

    >>> softplus([0.0, 1e4]).round(4).tolist()
    [0.6931, 10000.0]
    """
    return apply_unary(Softplus, x)


def softmax(x: Any, axis: Any = -1) -> Any:
    """Softmax along ``axis`` with the max subtracted first.

    >>> softmax([[1e4, 1e4]]).tolist()
    [[0.5, 0.5]]
    """
    return apply_unary(Softmax, x, axis=axis)


def log_softmax(x: Any, axis: Any = -1) -> Any:
    """``x - max - log(sum(exp(x - max)))`` along ``axis``.

    >>> log_softmax([[0.0, 0.0]]).round(4).tolist()
    [[-0.6931, -0.6931]]
    """
    return apply_unary(LogSoftmax, x, axis=axis)


def dense(
    x: Any,
    kernel: Any,
    bias: Any = None,
    relu: bool = False,
    activation: str | None = None,
) -> Any:
    """``x @ kernel + bias`` in one op, with a fused ``activation``:
    ``"relu"`` (or ``relu=True``) or ``"sigmoid"``.

    ``x`` may have any number of leading axes; the last one must match
    ``kernel.shape[0]``.

    >>> dense([[1.0, 2.0]], [[1.0], [1.0]], [0.5]).tolist()
    [[3.5]]
    """
    xs, ks = _shape(x), _shape(kernel)
    if len(ks) != 2 or not xs or xs[-1] != ks[0]:
        raise ValueError(
            f"dense: inputs of shape {xs} do not fit a kernel of shape {ks}; the "
            f"last axis of the inputs must equal kernel.shape[0]"
        )
    if bias is not None and _shape(bias) not in ((ks[1],), (1, ks[1])):
        raise ValueError(
            f"dense: bias of shape {_shape(bias)} does not fit a kernel of shape "
            f"{ks}; expected ({ks[1]},)"
        )
    if relu:
        activation = "relu"
    if activation not in _DENSE_ACTIVATIONS:
        raise ValueError(
            f"dense: activation must be one of {_DENSE_ACTIVATIONS}, got {activation!r}"
        )
    return Dense.apply(x, kernel, bias, activation=activation)


_DENSE_ACTIVATIONS = (None, "relu", "sigmoid")


def check_sparse_labels(
    labels: Any,
    num_classes: int,
    ignore_class: int | None = None,
    name: str = "sparse labels",
) -> tuple[Any, Any]:
    """Validate integer class labels; return ``(labels, valid)``.

    Labels must be integers in ``[0, num_classes)``; floats with integer values
    are accepted. With ``ignore_class``, those labels become 0 and ``valid``
    (a float mask, else None) is 0 there. A bad label raises ``ValueError``
    naming the label and its index.

    >>> check_sparse_labels([0, 2], 3)[0].tolist()
    [0, 2]
    """
    if isinstance(labels, Tensor):
        labels = labels.data
    xp = array_module(labels)
    labels = xp.asarray(labels)
    if labels.dtype.kind == "f":
        whole = xp.isfinite(labels) & (labels == xp.floor(labels))
        if labels.size and not bool(whole.all()):
            pos = _first(xp, ~whole)
            raise ValueError(
                f"{name}: labels must be integer class indices, got "
                f"{labels[pos]} at index {_index(pos)}"
            )
        labels = labels.astype(xp.int64)
    elif labels.dtype.kind == "b":
        labels = labels.astype(xp.int64)
    elif labels.dtype.kind not in "iu":
        raise TypeError(f"{name}: labels must be integers, got dtype {labels.dtype}")
    valid = None
    if ignore_class is not None:
        keep = labels != ignore_class
        labels = xp.where(keep, labels, 0)
        valid = keep
    if labels.size and _out_of_range(xp, labels, num_classes):
        bad = (labels < 0) | (labels >= num_classes)
        pos = _first(xp, bad)
        extra = "" if ignore_class is None else f" (or ignore_class={ignore_class})"
        raise ValueError(
            f"{name}: label {int(labels[pos])} at index {_index(pos)} is out of "
            f"range; y_pred has {num_classes} classes, so labels must be in "
            f"[0, {num_classes - 1}]{extra}"
        )
    return labels, valid


def _out_of_range(xp: Any, labels: Any, num_classes: int) -> bool:
    if xp is np:
        if labels.dtype.kind == "i":  # as unsigned, a negative label is huge:
            unsigned = _UNSIGNED.get(labels.dtype)  # (a dict: quicker to find)
            labels = labels.view(unsigned or labels.dtype.str.replace("i", "u"))
        return int(np.maximum.reduce(labels, axis=None)) >= num_classes
    return bool(((labels < 0) | (labels >= num_classes)).any())  # one device sync


# The unsigned type of each native signed one (one max finds a negative label).
_UNSIGNED = {np.dtype(f"i{n}"): np.dtype(f"u{n}") for n in (1, 2, 4, 8)}


def _first(xp: Any, mask: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in xp.argwhere(mask)[0])


def _index(pos: tuple[int, ...]) -> Any:
    return pos[0] if len(pos) == 1 else pos


def softmax_cross_entropy(
    logits: Any,
    labels: Any,
    axis: int = -1,
    sparse: bool | None = None,
    ignore_class: int | None = None,
    name: str = "softmax_cross_entropy",
    reduction: str = "none",
) -> Any:
    """Cross-entropy of ``softmax(logits)`` against labels, one fused op.

    Sparse labels (class indices, one axis fewer than ``logits``) or dense
    labels (one-hot or soft, same shape). ``sparse=None`` decides from the
    number of axes. Sparse labels equal to ``ignore_class`` give loss 0 and no
    gradient. ``name`` is used in error messages. Returns one loss per sample
    (``reduction="none"``) or, with ``reduction="mean"``, their mean over the
    labels not ignored (PyTorch's ``cross_entropy`` reductions; 0 when none
    counts), computed in the same op.

    >>> softmax_cross_entropy([[0.0, 0.0]], [1]).round(4).tolist()
    [0.6931]
    """
    return softmax_cross_entropy_op(
        logits, labels, axis, sparse, ignore_class, name, reduction
    ).apply()


def softmax_cross_entropy_op(
    logits: Any,
    labels: Any,
    axis: int = -1,
    sparse: bool | None = None,
    ignore_class: int | None = None,
    name: str = "softmax_cross_entropy",
    reduction: str = "none",
) -> OpCall:
    """:func:`softmax_cross_entropy`'s op with its arguments checked, not yet
    run (see :class:`~numdl.autograd.function.OpCall`).

    >>> value, grad = softmax_cross_entropy_op(
    ...     np.zeros((1, 2)), [1], reduction="mean").value_and_grad()
    >>> round(float(value), 4), grad.tolist()
    (0.6931, [[0.5, -0.5]])
    """
    mean = _is_mean(reduction, name)
    if not isinstance(logits, Tensor):
        logits = array_module(logits).asarray(logits)
    shape = logits.shape
    if not shape:
        raise ValueError(f"{name}: logits must have a class axis, got a scalar")
    axis = axis % len(shape)
    lshape = _shape(labels)
    if sparse is None:
        sparse = len(lshape) == len(shape) - 1
    if sparse:
        expected = shape[:axis] + shape[axis + 1 :]
        if lshape != expected:
            raise ValueError(
                f"{name}: integer labels of shape {lshape} do not fit logits of "
                f"shape {shape}; expected labels of shape {expected}"
            )
        labels, valid = check_sparse_labels(labels, shape[axis], ignore_class, name)
        if valid is not None:
            valid = valid.astype(logits.dtype)
        kwargs = {"axis": axis, "sparse": True, "valid": valid, "mean": mean}
        return OpCall(SoftmaxCrossEntropy, (logits, labels), kwargs)
    if ignore_class is not None:
        raise ValueError(f"{name}: ignore_class needs integer (sparse) labels")
    if lshape != shape:
        raise ValueError(
            f"{name}: labels of shape {lshape} do not match logits of shape {shape}"
        )
    kwargs = {"axis": axis, "sparse": False, "mean": mean}
    return OpCall(SoftmaxCrossEntropy, (logits, labels), kwargs)


def _is_mean(reduction: str, name: str) -> bool:
    if reduction not in ("none", "mean"):
        raise ValueError(
            f"{name}: reduction must be 'none' or 'mean', got {reduction!r}"
        )
    return reduction == "mean"


class SparseProbabilityCrossEntropy(Function):
    """``-log(clip(p[label] / sum(p), eps, 1 - eps))`` per row, fused.

    The composite Keras computes for probabilities (normalise, clip, log,
    pick) in one op instead of eight: the same numbers forward, and the
    gradient ``g * (1/s - onehot / (q s))`` where ``eps <= q <= 1 - eps``,
    else 0 (``q`` the picked, normalised probability, ``s`` the row sum).
    On the GPU two kernels (one thread per row forward, one elementwise
    backward). Used by ``losses.sparse_categorical_crossentropy`` for 2-D
    probabilities by rows.
    """

    def forward(self, p, labels, eps=1e-7):
        self.labels, self.eps, self.classes = labels, eps, p.shape[1]
        if type(p) is not np.ndarray:  # one thread per row on the GPU
            loss, self.sums, self.picked = _gpu.sparse_probability_cross_entropy(
                p, labels, eps
            )
            return loss
        self.rows = np.arange(len(p))
        self.sums = p.sum(axis=1)
        self.picked = p[self.rows, labels] / self.sums
        loss = np.clip(self.picked, eps, 1 - eps)
        np.log(loss, out=loss)
        return np.negative(loss, out=loss)

    def backward(self, g):
        q, s = self.picked, self.sums
        if type(g) is not np.ndarray:  # one elementwise kernel on the GPU
            grad = _gpu.sparse_probability_cross_entropy_grad(
                self.labels, s, q, g, self.classes, self.eps
            )
            return grad, None
        inside = (q >= self.eps) & (q <= 1 - self.eps)  # clip's gradient mask
        # 1 where the mask drops the quotient: no division by 0 there
        s, qs = np.where(inside, s, 1), np.where(inside, q * s, 1)
        grad = np.empty((len(q), self.classes), dtype=g.dtype)
        grad[...] = np.where(inside, g / s, 0)[:, None]
        grad[self.rows, self.labels] -= np.where(inside, g / qs, 0)
        return grad, None


class ProbabilityCrossEntropy(Function):
    """``-sum(labels * log(clip(p / sum(p), eps, 1 - eps)), axis)``, fused.

    Keras's categorical cross-entropy on probabilities (normalise, clip,
    log, weigh, sum) in one op instead of seven, the same steps forward.
    Backward, with ``q = p / s`` and ``d = -labels * g / clip(q)`` where
    ``eps <= q <= 1 - eps`` (else 0): ``grad_p = (d - sum(d * q)) / s``;
    ``grad_labels = -log(clip(q)) * g``.
    """

    def forward(self, p, labels, axis=-1, eps=1e-7):
        xp = array_module(p)
        self.axis, self.eps = axis, eps
        self.sums = p.sum(axis=axis, keepdims=True)
        self.q = p / self.sums
        self.clipped = xp.clip(self.q, eps, 1 - eps)
        self.log_q = xp.log(self.clipped)
        self.labels = labels
        return -(labels * self.log_q).sum(axis=axis)

    def backward(self, g):
        xp = array_module(g)
        g = xp.expand_dims(g, self.axis)
        grad_p = grad_labels = None
        if self.needs_input_grad[0]:
            inside = (self.q >= self.eps) & (self.q <= 1 - self.eps)
            d = self.labels * g
            d /= self.clipped
            d *= inside  # clip's gradient mask
            xp.negative(d, out=d)
            d -= (d * self.q).sum(axis=self.axis, keepdims=True)
            d /= self.sums
            grad_p = d
        if self.needs_input_grad[1]:
            grad_labels = -self.log_q * g
        return grad_p, grad_labels


def probability_cross_entropy(p: Any, labels: Any, axis: int, eps: float) -> Any:
    """Keras's categorical cross-entropy on probabilities, fused: one loss
    per sample (``labels`` of the shape of ``p``, classes on ``axis``).

    >>> p = np.array([[0.2, 0.6, 0.2]])
    >>> probability_cross_entropy(p, np.array([[0.0, 1.0, 0.0]]), -1, 1e-7).round(4)
    array([0.5108])
    """
    return ProbabilityCrossEntropy.apply(p, labels, axis=axis, eps=eps)


def sparse_probability_cross_entropy(p: Any, labels: Any, eps: float) -> Any:
    """Keras's sparse cross-entropy on probabilities, fused (``p`` 2-D,
    classes on axis 1; ``labels`` checked class indices), one loss per row.

    >>> p = np.array([[0.2, 0.6, 0.2], [0.5, 0.25, 0.25]])
    >>> sparse_probability_cross_entropy(p, np.array([1, 0]), 1e-7).round(4).tolist()
    [0.5108, 0.6931]
    """
    return SparseProbabilityCrossEntropy.apply(p, labels, eps=eps)


def sigmoid_binary_crossentropy(
    logits: Any, labels: Any, reduction: str = "none"
) -> Any:
    """Elementwise binary cross-entropy of ``sigmoid(logits)``, exact.

    ``max(z, 0) - z * y + log1p(exp(-|z|))``: no ``log(0)``, no overflow.
    ``reduction="mean"`` gives the mean over every entry, in the same op.

    >>> sigmoid_binary_crossentropy([0.0], [1.0]).round(4).tolist()
    [0.6931]
    """
    return sigmoid_binary_crossentropy_op(logits, labels, reduction).apply()


def sigmoid_binary_crossentropy_op(
    logits: Any, labels: Any, reduction: str = "none"
) -> OpCall:
    """:func:`sigmoid_binary_crossentropy`'s op with its arguments checked,
    not yet run (see :class:`~numdl.autograd.function.OpCall`).

    >>> value, grad = sigmoid_binary_crossentropy_op(
    ...     np.zeros(2), np.ones(2), "mean").value_and_grad()
    >>> round(float(value), 4), grad.tolist()
    (0.6931, [-0.25, -0.25])
    """
    if _shape(logits) != _shape(labels):
        raise ValueError(
            f"sigmoid_binary_crossentropy: labels of shape {_shape(labels)} do not "
            f"match logits of shape {_shape(logits)}"
        )
    mean = _is_mean(reduction, "sigmoid_binary_crossentropy")
    return OpCall(SigmoidBinaryCrossentropy, (logits, labels), {"mean": mean})


def _shape(x: Any) -> tuple[int, ...]:
    if hasattr(x, "shape"):
        return tuple(x.shape)
    return tuple(array_module(x).shape(x))


# At the end: these modules import the autograd core, which must load first.
from numdl import config  # noqa: E402
from numdl.autograd.tensor import Tensor  # noqa: E402
from numdl.ops.math import cast  # noqa: E402
from numdl.ops.shape import reshape  # noqa: E402
