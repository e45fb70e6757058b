"""A strict stand-in for CuPy, so the GPU code paths run (and fail) on the CPU.

``StandIn()`` is a module whose arrays (:class:`DeviceArray`) hold a NumPy
array but behave like ``cupy.ndarray`` where it matters for numdl:

- their type lives in a module named ``cupy_standin``, so ``numdl.backend``
  takes them for device arrays (``array_module``, ``device_of``, ``to_numpy``);
- mixing one with a host ``np.ndarray`` (also 0-d; NumPy scalars and Python
  numbers are fine) in a ufunc, an operator, a module function or a kernel
  launch raises ``TypeError: Unsupported type <class 'numpy.ndarray'>`` as
  CuPy does (except, as in CuPy, a 0-d one in a comparison: NumPy passes
  ``np.float32(1) < a`` on as one);
- an operator with an operand of higher ``__array_priority__`` and no
  ``__array_ufunc__`` (numdl's Tensor) is left to that operand
  (CuPy's ``_should_use_rop``);
- ``np.asarray(device_array)`` raises CuPy's "Implicit conversion to a NumPy
  array is not allowed"; ``.get()`` is the way to the host;
- reductions refuse NumPy-only keywords CuPy lacks (``initial=``, ``where=``:
  ``cupy.amax(a, axis=None, out=None, keepdims=False)``);
- NumPy functions called on them dispatch to the stand-in
  (``__array_function__`` / ``__array_ufunc__``), as with CuPy;
- indexing returns device arrays; a single element is a 0-d *view*, as in
  CuPy (``old = a[i]; a[i] = old + 1`` changes ``old`` too).

The fused CUDA kernels of numdl/ops/_cupy_kernels.py are replaced by their
formulas in NumPy (:func:`reference_kernels`), run on the arrays' host data.
``install(monkeypatch=None)`` makes the stand-in numdl's GPU module.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import numpy as np

_IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
    "to construct a NumPy array explicitly."
)
# Functions that take host data (the ways onto the device).
_CREATION = {"array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray"}
# NumPy keywords CuPy's reductions do not have (cupy.amax, sum, prod, mean, ...).
_NUMPY_ONLY = {"initial", "where"}
_REDUCTIONS = {
    "max", "min", "amax", "amin", "sum", "prod", "mean", "std", "var", "all",
    "any", "nansum", "nanmax", "nanmin", "nanmean", "nanprod", "reduce",
}  # fmt: skip


class DeviceArray:
    """A stand-in for ``cupy.ndarray``: NumPy data that refuses the host."""

    __array_priority__ = 100
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, host: np.ndarray) -> None:
        object.__setattr__(self, "_a", host)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "shape":  # CuPy sets a shape in place; nothing else
            raise AttributeError(f"cannot set {name!r} of a device array")
        self._a.shape = value

    # --- the two ways across the bus
    def get(self) -> np.ndarray:
        """A host copy (``cupy.ndarray.get``)."""
        return self._a.copy()

    def set(self, host: np.ndarray) -> None:
        """Copy host data in (``cupy.ndarray.set``)."""
        self._a[...] = host

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(_IMPLICIT)

    # --- NumPy protocols: dispatch to the stand-in, strictly
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kw: Any):
        # CuPy takes device arrays, scalars and host arrays (to refuse them)
        if not all(isinstance(x, _OPERANDS) for x in inputs):
            return NotImplemented
        if ufunc.__name__ in _COMPARISONS:  # CuPy's workaround for numpy#12142:
            # NumPy hands a scalar on the left of == < ... over as a 0-d array
            inputs = tuple(_item_if_0d(x) for x in inputs)
        return _ufunc_call(ufunc, method, inputs, kw)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any):
        name = func.__name__
        return _call(name, func, args, kwargs)

    # --- attributes and methods of the data, results on the device
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # no __array_interface__ & co.: no host view
            raise AttributeError(name)
        value = getattr(self._a, name)
        if callable(value):
            return _strict(name, value)
        return _device(value)

    def __getitem__(self, key: Any) -> DeviceArray:
        key = _host(key)
        out = self._a[key]
        if isinstance(out, np.generic):  # CuPy: a 0-d view, not a copy
            out = self._a[(*key, ...) if isinstance(key, tuple) else (key, ...)]
        return DeviceArray(out)

    def __setitem__(self, key: Any, value: Any) -> None:
        basic = all(
            k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice))
            for k in (key if isinstance(key, tuple) else (key,))
        )
        if basic and isinstance(value, np.ndarray) and value.ndim:
            # CuPy fills a basic slice from a scalar only (ndarray.fill)
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a[_host(key)] = _host(value)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __index__(self) -> int:
        return self._a.__index__()

    def __complex__(self) -> complex:
        return complex(self._a)

    def __format__(self, spec: str) -> str:
        return format(self._a, spec)

    def __repr__(self) -> str:
        return repr(self._a)

    def __str__(self) -> str:
        return str(self._a)

    def __deepcopy__(self, memo: Any) -> DeviceArray:
        return DeviceArray(self._a.copy())

    def __copy__(self) -> DeviceArray:
        return DeviceArray(self._a.copy())


def _defers_to(other: Any) -> bool:
    """CuPy's ``_should_use_rop``: an operand without ``__array_ufunc__`` and
    of higher ``__array_priority__`` (numdl's Tensor) handles the operator."""
    try:
        return other.__array_ufunc__ is None
    except AttributeError:
        return DeviceArray.__array_priority__ < getattr(other, "__array_priority__", 0)


def _operator(ufunc: Any, reflected: bool = False, inplace: bool = False):
    def op(self: DeviceArray, other: Any) -> Any:
        if _defers_to(other):
            return NotImplemented
        if inplace:
            return ufunc(self, other, out=(self,))
        return ufunc(other, self) if reflected else ufunc(self, other)

    return op


for _name, _ufunc in {
    "add": np.add, "sub": np.subtract, "mul": np.multiply,
    "truediv": np.true_divide, "floordiv": np.floor_divide, "mod": np.remainder,
    "pow": np.power, "matmul": np.matmul, "and": np.bitwise_and,
    "or": np.bitwise_or, "xor": np.bitwise_xor, "lshift": np.left_shift,
    "rshift": np.right_shift,
}.items():  # fmt: skip
    setattr(DeviceArray, f"__{_name}__", _operator(_ufunc))
    setattr(DeviceArray, f"__r{_name}__", _operator(_ufunc, reflected=True))
    setattr(DeviceArray, f"__i{_name}__", _operator(_ufunc, inplace=True))
for _name, _ufunc in {
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal,
}.items():  # fmt: skip
    setattr(DeviceArray, f"__{_name}__", _operator(_ufunc))
for _name, _ufunc in {
    "neg": np.negative, "pos": np.positive, "abs": np.absolute,
    "invert": np.invert,
}.items():  # fmt: skip
    setattr(DeviceArray, f"__{_name}__", lambda self, u=_ufunc: u(self))
DeviceArray.__module__ = "cupy_standin"


_OPERANDS = (DeviceArray, np.ndarray, np.generic, int, float, complex, bool)
_COMPARISONS = {"greater", "greater_equal", "less", "less_equal", "equal", "not_equal"}


def _item_if_0d(x: Any) -> Any:
    return x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else x


# ------------------------------------------------------------ conversions
def _host(x: Any) -> Any:
    """Device arrays (also inside lists, tuples and dicts) as their host data."""
    if isinstance(x, DeviceArray):
        return x._a
    if isinstance(x, (list, tuple)):
        return type(x)(_host(v) for v in x)
    if isinstance(x, dict):
        return {k: _host(v) for k, v in x.items()}
    return x


def _device(x: Any) -> Any:
    """NumPy results as device arrays (NumPy scalars too: CuPy returns 0-d
    arrays from reductions)."""
    if isinstance(x, np.ndarray):
        return DeviceArray(x)
    if isinstance(x, np.generic) and x.dtype.kind in "biufc":
        return DeviceArray(np.asarray(x))
    if isinstance(x, (list, tuple)) and any(
        isinstance(v, (np.ndarray, np.generic)) for v in x
    ):
        return type(x)(_device(v) for v in x)
    return x


def _refuse_host(args: Any, kwargs: Any = None) -> None:
    """CuPy's TypeError for a host ndarray among the operands."""
    for a in (*args, *(kwargs or {}).values()):
        if isinstance(a, np.ndarray):
            raise TypeError(f"Unsupported type {type(a)}")
        if isinstance(a, (list, tuple)):
            _refuse_host(a)


def _refuse_numpy_only(name: str, kwargs: dict) -> None:
    extra = _NUMPY_ONLY & set(kwargs)
    if extra:
        raise TypeError(
            f"{name}() got an unexpected keyword argument {sorted(extra)[0]!r} "
            f"(CuPy's reductions have no {', '.join(sorted(extra))})"
        )


def _call(name: str, fn: Any, args: Any, kwargs: Any) -> Any:
    """``fn`` (a NumPy function or method) run on host data, CuPy's rules first."""
    if name in _REDUCTIONS:
        _refuse_numpy_only(name, kwargs)
    if name not in _CREATION:
        _refuse_host(args, kwargs)
    return _device(fn(*_host(args), **_host(kwargs)))


def _strict(name: str, fn: Any) -> Any:
    """``fn`` called as CuPy would: see :func:`_call`."""
    return lambda *args, **kwargs: _call(name, fn, args, kwargs)


def _ufunc_call(ufunc: Any, method: str, inputs: tuple, kw: dict) -> Any:
    """``ufunc.method(*inputs, **kw)`` on host data, CuPy's rules first."""
    if method == "reduce":
        _refuse_numpy_only(f"{ufunc.__name__}.reduce", kw)
    if method == "at":  # indices may be host data (CuPy converts them)
        _refuse_host((inputs[0], *inputs[2:]), kw)
    else:
        _refuse_host(inputs, kw)
    result = getattr(ufunc, method)(*_host(inputs), **_host(kw))
    out = kw.get("out")
    if out is not None:  # in place: the caller's own arrays come back
        return out[0] if isinstance(out, tuple) and len(out) == 1 else out
    return _device(result)


# ---------------------------------------------------------------- modules
class _Generator:
    """``cupy.random.Generator``: draws on the device."""

    def __init__(self, seed: Any = None) -> None:
        self._rng = np.random.default_rng(seed)

    def random(self, size: Any = None, dtype: Any = np.float64) -> DeviceArray:
        return DeviceArray(np.asarray(self._rng.random(size, dtype=dtype)))

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> Any:
        return DeviceArray(np.asarray(self._rng.standard_normal(size, dtype=dtype)))


class _Namespace(types.ModuleType):
    """A NumPy namespace whose functions follow CuPy's rules."""

    def __init__(self, name: str, numpy_module: Any) -> None:
        super().__init__(name)
        self._np = numpy_module

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._np, name)
        if isinstance(value, types.ModuleType):
            return _Namespace(f"{self.__name__}.{name}", value)
        if isinstance(value, np.ufunc):
            return _Ufunc(value)
        if callable(value) and not isinstance(value, type):
            return _strict(name, value)
        return value


class _Ufunc:
    """A ufunc as CuPy has it: ``add(...)``, ``add.at``, ``add.reduce``."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._u = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _ufunc_call(self._u, "__call__", args, kwargs)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kw: _ufunc_call(self._u, name, args, kw)


class StandIn(_Namespace):
    """``cupy`` for the tests: NumPy's functions on :class:`DeviceArray`."""

    ndarray = DeviceArray

    def __init__(self) -> None:
        super().__init__("cupy_standin", np)
        self.random = types.SimpleNamespace(default_rng=_Generator)

    def asarray(self, x: Any, dtype: Any = None) -> DeviceArray:
        if isinstance(x, DeviceArray):
            return x if dtype is None or x.dtype == dtype else x.astype(dtype)
        return DeviceArray(np.array(_host(x), dtype=dtype))

    def asnumpy(self, x: Any) -> np.ndarray:
        return x.get() if isinstance(x, DeviceArray) else np.asarray(x)

    def get_array_module(self, *arrays: Any) -> Any:
        return self if any(isinstance(a, DeviceArray) for a in arrays) else np


# ---------------------------------------------------------------- kernels
def _on_host(fn: Any) -> Any:
    """A kernel's formula in NumPy: run on the host data of its device
    arguments (views, so in-place updates land), results back on the device.
    A host array among the arguments raises, as a CUDA kernel launch does."""

    @functools.wraps(fn)
    def kernel(*args: Any, **kwargs: Any) -> Any:
        _refuse_host(args, kwargs)
        return _device(fn(*_host(args), **_host(kwargs)))

    return kernel


def reference_kernels() -> dict[str, Any]:
    """The fused kernels' formulas in NumPy (what the CUDA code computes)."""

    def adam_update(w, g, m, v, b1, b2, eps, alpha):
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        w -= alpha * m / (np.sqrt(v) + eps)

    def sgd_update(w, g, v, lr, mu, nesterov):
        if v is None:
            w -= lr * g
            return
        v[...] = mu * v - lr * g
        w += mu * v - lr * g if nesterov else v

    def sparse_softmax_cross_entropy(z, labels):
        logp = z - z.max(axis=1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(z)), labels.reshape(-1)], logp

    def sparse_softmax_cross_entropy_grad(logp, labels, g):
        grad = np.exp(logp)
        grad[np.arange(len(grad)), labels.reshape(-1)] -= 1
        return grad * g.reshape(-1)[:, None]

    def bias_relu_(out, bias, relu):
        if bias is not None:
            out += bias
        if relu:
            np.maximum(out, 0, out=out)

    def softmax_rows(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def sparse_probability_cross_entropy(p, labels, eps):
        s = p.sum(axis=1)
        q = p[np.arange(len(p)), labels.reshape(-1)] / s
        return -np.log(np.clip(q, eps, 1 - eps)), s, q

    def sparse_probability_cross_entropy_grad(labels, s, q, g, c, eps):
        hit = np.arange(c)[None, :] == labels.reshape(-1)[:, None]
        inside = (q >= eps) & (q <= 1 - eps)
        scale = np.where(inside, -g.reshape(-1) / np.where(inside, q * s, 1.0), 0.0)
        return scale[:, None] * (hit - q[:, None])

    def max_pool2d(x, pool, strides, out_hw, index_dtype):
        (ph, pw), (sh, sw), (oh, ow) = pool, strides, out_hw
        views = [
            x[:, a : a + sh * (oh - 1) + 1 : sh, b : b + sw * (ow - 1) + 1 : sw]
            for a in range(ph)
            for b in range(pw)
        ]
        stack = np.stack(views)  # NaN-free inputs in these tests
        index = None if index_dtype is None else stack.argmax(0).astype(index_dtype)
        return stack.max(0), index

    def max_pool2d_grad(g, index, padded_shape, pool, strides):
        (ph, pw), (sh, sw) = pool, strides
        _, oh, ow, _ = g.shape
        dx = np.zeros(padded_shape, g.dtype)
        for k in range(ph * pw):
            a, b = divmod(k, pw)
            rows = slice(a, a + sh * (oh - 1) + 1, sh)
            cols = slice(b, b + sw * (ow - 1) + 1, sw)
            dx[:, rows, cols] += g * (index == k)
        return dx

    def col2im(cols, padded_shape, kernel_hw, strides, dilation, out_hw, out=None):
        (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel_hw, strides, dilation, out_hw
        n, _, _, c = padded_shape
        c5 = cols.reshape(n, oh, ow, kh, kw, c)
        dx = np.zeros(padded_shape, cols.dtype) if out is None else out
        dx[...] = 0
        for a in range(kh):
            for b in range(kw):
                rows = slice(a * d0, a * d0 + s0 * (oh - 1) + 1, s0)
                cs = slice(b * d1, b * d1 + s1 * (ow - 1) + 1, s1)
                dx[:, rows, cs] += c5[:, :, :, a, b]
        return dx

    def im2col(x, kernel_hw, strides, dilation, out_hw, ones, out=None):
        (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel_hw, strides, dilation, out_hw
        n, _, _, c = x.shape
        parts = [
            x[:, a * d0 :: s0][:, :oh, b * d1 :: s1][:, :, :ow]
            for a in range(kh)
            for b in range(kw)
        ]
        cols = np.stack(parts, axis=3).reshape(n * oh * ow, kh * kw * c)
        if ones:
            cols = np.concatenate([cols, np.ones((len(cols), 1), x.dtype)], axis=1)
        if out is not None:
            out[...] = cols
            return out
        return cols

    def dropout_mask(rng, shape, rate, scale, dtype):
        u = rng.random(shape, dtype=np.float32).get()
        return np.where(u >= rate, scale, 0.0).astype(dtype)

    kernels = {
        name: fn for name, fn in locals().items() if callable(fn) and name[0] != "_"
    }
    kernels.update(
        softmax_rows_grad=lambda y, g: (g - (g * y).sum(1, keepdims=True)) * y,
        relu_grad=lambda g, y: g * (y > 0),
        sigmoid=lambda x: np.where(x >= 0, 1, np.exp(-abs(x))) / (np.exp(-abs(x)) + 1),
        sigmoid_grad=lambda g, y: g * y * (1 - y),
        tanh_grad=lambda g, y: g * (1 - y * y),
    )
    return {name: _on_host(fn) for name, fn in kernels.items()}


def install(monkeypatch: Any = None) -> StandIn:
    """Make a new stand-in numdl's GPU module, its kernels the reference
    formulas; with ``monkeypatch`` (a pytest fixture) only for one test."""
    from numdl import backend
    from numdl.ops import _cupy_kernels

    setattr_ = monkeypatch.setattr if monkeypatch is not None else setattr
    standin = StandIn()
    setattr_(backend, "_gpu", standin)
    for name, fn in reference_kernels().items():
        setattr_(_cupy_kernels, name, fn)
    return standin
