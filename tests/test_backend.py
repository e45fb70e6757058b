"""Backend selection, device moves and their errors, on the CPU.

Without a GPU, CuPy is replaced by a stand-in: a module whose arrays are a
NumPy subclass living in a module named ``cupy_standin`` (so
``numdl.backend`` takes them for device arrays), and whose fused kernels
(numdl/ops/_cupy_kernels.py) are NumPy reference formulas. The stand-in checks
the bookkeeping: which module an op gets, what moves where, what errors say.
The real kernels are checked against PyTorch CUDA in test_gpu.py on a GPU.
"""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import numdl
from numdl import backend, layers, models
from numdl.ops import _cupy_kernels
from numdl.optimizers import SGD, Adam


class DeviceArray(np.ndarray):
    """A stand-in for ``cupy.ndarray``: refuses implicit host conversion."""

    def get(self) -> np.ndarray:
        return self.view(np.ndarray).copy()

    def set(self, host: np.ndarray) -> None:
        self.view(np.ndarray)[...] = host


DeviceArray.__module__ = "cupy_standin"


def _dev(x):
    if isinstance(x, np.ndarray) and not isinstance(x, DeviceArray):
        return x.view(DeviceArray)
    if isinstance(x, np.generic):
        return np.asarray(x).view(DeviceArray)
    return x


def _wrap(fn):
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(_dev(o) for o in out)
        return _dev(out)

    return wrapped


class _Generator:
    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64):
        return _dev(self._rng.random(size, dtype=dtype))

    def standard_normal(self, size=None, dtype=np.float64):
        return _dev(self._rng.standard_normal(size, dtype=dtype))


class StandIn(types.ModuleType):
    """``cupy`` for the tests: NumPy's functions returning DeviceArrays."""

    ndarray = DeviceArray

    def __init__(self):
        super().__init__("cupy_standin")
        self.random = types.SimpleNamespace(default_rng=_Generator)

    def __getattr__(self, name):
        value = getattr(np, name)
        return (
            _wrap(value) if callable(value) and not isinstance(value, type) else value
        )

    def asarray(self, x, dtype=None):
        return _dev(np.array(backend.to_numpy(x), dtype=dtype))


def _reference_kernels():
    """The fused kernels' formulas in NumPy (what the CUDA code computes)."""

    def adam(w, g, m, v, b1, b2, eps, alpha):
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        w -= alpha * m / (np.sqrt(v) + eps)

    def sgd(w, g, v, lr, mu, nesterov):
        if v is None:
            w -= lr * g
            return
        v[...] = mu * v - lr * g
        w += mu * v - lr * g if nesterov else v

    def sparse_ce(z, labels):
        logp = z - z.max(axis=1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
        return _dev(-logp[np.arange(len(z)), labels]), _dev(logp)

    def sparse_ce_grad(logp, labels, g):
        grad = np.exp(logp)
        grad[np.arange(len(grad)), labels] -= 1
        return _dev(grad * g[:, None])

    def bias_relu(out, bias, relu):
        out += bias
        np.maximum(out, 0, out=out)

    def softmax_rows(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return _dev(e / e.sum(axis=1, keepdims=True))

    def prob_ce(p, labels, eps):
        s = p.sum(axis=1)
        q = p[np.arange(len(p)), labels] / s
        return _dev(-np.log(np.clip(q, eps, 1 - eps))), _dev(s), _dev(q)

    def prob_ce_grad(labels, s, q, g, c, eps):
        hit = np.arange(c)[None, :] == labels[:, None]
        inside = (q >= eps) & (q <= 1 - eps)
        scale = np.where(inside, -g / np.where(inside, q * s, 1.0), 0.0)
        return _dev(scale[:, None] * (hit - q[:, None]))

    def max_pool2d(x, pool, strides, out_hw, index_dtype):
        (ph, pw), (sh, sw), (oh, ow) = pool, strides, out_hw
        views = [
            x[:, a : a + sh * (oh - 1) + 1 : sh, b : b + sw * (ow - 1) + 1 : sw]
            for a in range(ph)
            for b in range(pw)
        ]
        stack = np.stack(views)  # NaN-free inputs in these tests
        index = (
            None if index_dtype is None else _dev(stack.argmax(0).astype(index_dtype))
        )
        return _dev(stack.max(0)), index

    def max_pool2d_grad(g, index, padded_shape, pool, strides):
        (ph, pw), (sh, sw) = pool, strides
        _, oh, ow, _ = g.shape
        dx = np.zeros(padded_shape, g.dtype)
        for k in range(ph * pw):
            a, b = divmod(k, pw)
            rows = slice(a, a + sh * (oh - 1) + 1, sh)
            cols = slice(b, b + sw * (ow - 1) + 1, sw)
            dx[:, rows, cols] += g * (index == k)
        return _dev(dx)

    def col2im(cols, padded_shape, kernel_hw, strides, dilation, out_hw, out=None):
        (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel_hw, strides, dilation, out_hw
        n, _, _, c = padded_shape
        c5 = cols.reshape(n, oh, ow, kh, kw, c)
        dx = np.zeros(padded_shape, cols.dtype)
        for a in range(kh):
            for b in range(kw):
                rows = slice(a * d0, a * d0 + s0 * (oh - 1) + 1, s0)
                cs = slice(b * d1, b * d1 + s1 * (ow - 1) + 1, s1)
                dx[:, rows, cs] += c5[:, :, :, a, b]
        if out is not None:
            out[...] = dx
            return out
        return _dev(dx)

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
        return _dev(cols)

    def dropout_mask(rng, shape, rate, scale, dtype):
        u = rng.random(shape, dtype=np.float32)
        return _dev(np.where(u >= rate, scale, 0.0).astype(dtype))

    return {
        "dropout_mask": dropout_mask,
        "im2col": im2col,
        "max_pool2d": max_pool2d,
        "max_pool2d_grad": max_pool2d_grad,
        "col2im": col2im,
        "bias_relu_": bias_relu,
        "softmax_rows": softmax_rows,
        "softmax_rows_grad": lambda y, g: _dev((g - (g * y).sum(1, keepdims=True)) * y),
        "sparse_probability_cross_entropy": prob_ce,
        "sparse_probability_cross_entropy_grad": prob_ce_grad,
        "relu_grad": lambda g, y: _dev(g * (y > 0)),
        "sigmoid": lambda x: _dev(1 / (1 + np.exp(-x))),
        "sigmoid_grad": lambda g, y: _dev(g * y * (1 - y)),
        "tanh_grad": lambda g, y: _dev(g * (1 - y * y)),
        "adam_update": adam,
        "sgd_update": sgd,
        "sparse_softmax_cross_entropy": sparse_ce,
        "sparse_softmax_cross_entropy_grad": sparse_ce_grad,
    }


@pytest.fixture(autouse=True)
def _cpu_default():
    """These tests start from the CPU default (also on a CuPy run of the
    suite); conftest restores the session's default afterwards."""
    numdl.config.set_backend("numpy")


@pytest.fixture
def gpu(monkeypatch):
    """The stand-in installed as numdl's GPU module (restored afterwards)."""
    standin = StandIn()
    monkeypatch.setattr(backend, "_gpu", standin)
    for name, fn in _reference_kernels().items():
        monkeypatch.setattr(_cupy_kernels, name, fn)
    return standin


def _mlp(seed=0):
    numdl.config.set_random_seed(seed)
    model = models.Sequential(
        [layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3)]
    )
    model.compile(optimizer=Adam(0.01), loss="mse")
    return model


# ------------------------------------------------------------- selection
def test_device_names_and_their_aliases():
    for name in ("cpu", "CPU", "numpy"):
        assert backend.normalize_device(name) == "cpu"
    for name in ("gpu", "cuda", "cuda:0", "gpu:0", "cupy"):
        assert backend.normalize_device(name) == "gpu"
    with pytest.raises(ValueError, match=r"unknown device 'cuda:1'.*'cpu' or 'gpu'"):
        backend.normalize_device("cuda:1")


def test_set_backend_rejects_unknown_names():
    with pytest.raises(ValueError, match="set_backend: expected 'numpy' or 'cupy'"):
        numdl.config.set_backend("jax")
    numdl.config.set_backend("NumPy")
    assert numdl.config.backend() == "numpy" and backend.default_device() == "cpu"


def test_missing_cupy_is_named_with_the_install_command(monkeypatch):
    monkeypatch.setattr(backend, "_gpu", None)
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(backend.DeviceUnavailableError) as info:
        numdl.config.set_backend("cupy")
    message = str(info.value)
    assert "CuPy, which is not installed" in message
    assert 'pip install "numdl[gpu]"' in message
    assert backend.default_device() == "cpu"  # unchanged after the failure
    assert not backend.gpu_available()
    with pytest.raises(backend.DeviceUnavailableError, match="not installed"):
        numdl.tensor([1.0]).to("gpu")
    with pytest.raises(backend.DeviceUnavailableError, match="not installed"):
        layers.Dense(2).to("gpu")


def test_cupy_without_a_device_is_named(monkeypatch):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.SimpleNamespace(
        __version__="99.0",
        cuda=types.SimpleNamespace(
            runtime=types.SimpleNamespace(getDeviceCount=no_device)
        ),
    )
    monkeypatch.setattr(backend, "_gpu", None)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(backend.DeviceUnavailableError) as info:
        backend.gpu_module()
    message = str(info.value)
    assert "CuPy 99.0 is installed but found no usable CUDA device" in message
    assert "cudaErrorNoDevice" in message and "CUDA_VISIBLE_DEVICES" in message
    fake.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(backend.DeviceUnavailableError, match="device count 0"):
        backend.gpu_module()


def test_numdl_backend_environment_variable_is_read_at_import():
    code = "import numdl; print(numdl.config.backend())"
    env = {"NUMDL_BACKEND": "numpy", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "numpy", out.stderr
    env["NUMDL_BACKEND"] = "tensorflow"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.returncode != 0 and "expected 'numpy' or 'cupy'" in out.stderr


# ------------------------------------------------------------ device moves
def test_tensor_to_moves_and_gradients_come_back(gpu):
    x = numdl.tensor([[1.0, -2.0, 3.0]], requires_grad=True)
    y = x.to("cuda")
    assert y.device == "gpu" and isinstance(y.data, DeviceArray)
    assert backend.array_module(y.data) is gpu
    assert y.to("gpu") is y
    (ops_relu := numdl.ops.relu(y) * 2.0).sum().backward()
    assert ops_relu.device == "gpu"
    assert type(x.grad) is np.ndarray  # the gradient came back to the CPU
    np.testing.assert_array_equal(x.grad, [[2.0, 0.0, 2.0]])
    back = y.to("cpu")
    assert back.device == "cpu" and type(back.data) is np.ndarray


def test_default_backend_places_new_tensors_and_weights(gpu):
    numdl.config.set_backend("cupy")
    assert numdl.config.backend() == "cupy"
    t = numdl.tensor([1.0, 2.0])
    assert t.device == "gpu" and numdl.tensor([1.0], device="cpu").device == "cpu"
    dense = layers.Dense(2)
    out = dense(np.ones((3, 4), np.float32))  # host input follows the layer
    assert out.device == "gpu" and dense.device == "gpu"
    assert all(isinstance(w.data, DeviceArray) for w in dense.weights)
    assert all(type(w) is np.ndarray for w in dense.get_weights())
    numdl.config.set_backend("numpy")
    assert numdl.tensor([1.0]).device == "cpu"


def test_initial_weights_are_the_same_on_both_devices(gpu):
    on_cpu = _mlp(3)
    numdl.config.set_backend("cupy")
    on_gpu = _mlp(3)
    for a, b in zip(on_cpu.get_weights(), on_gpu.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_mixing_devices_in_one_op_names_both(gpu):
    a = numdl.tensor([1.0, 2.0])
    b = numdl.tensor([3.0, 4.0]).to("gpu")
    with pytest.raises(RuntimeError) as info:
        a + b
    message = str(info.value)
    assert message.startswith("Add: expected all tensors on one device")
    assert "one on cpu (numpy.ndarray)" in message
    assert "one on gpu (cupy_standin.DeviceArray)" in message
    with pytest.raises(RuntimeError, match="MatMul: .* on gpu .* on cpu"):
        b.reshape(1, 2) @ a.reshape(2, 1)


def test_numpy_constants_follow_gpu_tensors(gpu):
    x = numdl.tensor([1.0, 2.0], requires_grad=True).to("gpu")
    y = x * np.array([3.0, 4.0]) + 1.0
    assert y.device == "gpu"
    y.sum().backward()


def test_layer_to_moves_weights_gradients_and_later_weights(gpu):
    dense = layers.Dense(3)
    dense.build((None, 2))
    dense.kernel.grad = np.ones((2, 3), np.float32)
    assert dense.to("gpu") is dense
    assert dense.device == "gpu" and isinstance(dense.kernel.grad, DeviceArray)
    lazy = models.Sequential([layers.Dense(4), layers.Dense(1)]).to("gpu")
    lazy(np.ones((2, 5), np.float32))  # built after the move: on the GPU
    assert all(w.device == "gpu" for w in lazy.weights)
    lazy.to("cpu")
    assert all(type(w.data) is np.ndarray for w in lazy.weights)


def test_fit_moves_batches_predict_returns_numpy_and_state_follows(gpu):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.standard_normal((40, 3)).astype(np.float32)
    ours, ref = _mlp(), _mlp()
    ours.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    ref.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    ours.to("gpu")
    assert all(isinstance(s, DeviceArray) for s in ours.optimizer.variables)
    seen = []
    original = backend.HostStager.put

    def spy(self, a):
        seen.append(type(a))
        return original(self, a)

    backend.HostStager.put = spy
    try:
        ours.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    finally:
        backend.HostStager.put = original
    ref.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    assert seen and set(seen) == {np.ndarray}  # host batches, one at a time
    assert all(isinstance(w.data, DeviceArray) for w in ours.weights)
    for a, b in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    predicted = ours.predict(x, batch_size=16, verbose=0)
    assert type(predicted) is np.ndarray and predicted.shape == (40, 3)
    expected = ref.predict(x, verbose=0)
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)
    assert type(ours.predict_on_batch(x[:4])) is np.ndarray
    assert isinstance(ours.evaluate(x, y, verbose=0), float)
    state = ours.optimizer.get_state()
    assert all(type(v) is np.ndarray for v in state.values())


def test_data_already_on_the_device_is_not_staged(gpu):
    rng = np.random.default_rng(1)
    x = gpu.asarray(rng.standard_normal((32, 6)).astype(np.float32))
    y = gpu.asarray(rng.standard_normal((32, 3)).astype(np.float32))
    model = _mlp().to("gpu")
    staged = []
    original = backend.HostStager.put
    backend.HostStager.put = lambda self, a: staged.append(a) or original(self, a)
    try:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=True)
    finally:
        backend.HostStager.put = original
    assert all(isinstance(a, DeviceArray) for a in staged)


def test_optimizer_state_follows_moved_parameters_by_itself(gpu):
    w = numdl.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD(0.1, momentum=0.9)
    opt.apply_gradients([(np.array([1.0, 1.0], np.float32), w)])
    w.data = backend.to_device(w.data, "gpu")
    opt.apply_gradients([(gpu.asarray(np.array([1.0, 1.0], np.float32)), w)])
    assert isinstance(opt.variables[0], DeviceArray)
    np.testing.assert_allclose(backend.to_numpy(w.data), [1.0 - 0.29, 2.0 - 0.29])
    opt.to("cpu")
    assert type(opt.variables[0]) is np.ndarray


def test_dropout_and_noise_draw_on_the_device(gpu):
    x = numdl.tensor(np.ones((50, 50), np.float32)).to("gpu")
    for layer in (layers.Dropout(0.5), layers.GaussianNoise(1.0)):
        out = layer(x, training=True)
        assert isinstance(out.data, DeviceArray) and out.dtype == np.float32
    numdl.config.set_random_seed(4)
    a = backend.to_numpy(layers.Dropout(0.5)(x, training=True).data)
    numdl.config.set_random_seed(4)
    b = backend.to_numpy(layers.Dropout(0.5)(x, training=True).data)
    np.testing.assert_array_equal(a, b)
    seeded = layers.Dropout(0.5, seed=9)
    assert numdl.config.rng_for(gpu, seeded._rng) is numdl.config.rng_for(
        gpu, seeded._rng
    )


def test_host_stager_reuses_nothing_without_pinned_memory(gpu):
    stager = backend.HostStager(gpu)
    a = np.arange(6.0).reshape(2, 3)
    moved = stager.put(a)
    assert isinstance(moved, DeviceArray) and stager.put(moved) is moved
    np.testing.assert_array_equal(moved.get(), a)


def test_fused_probability_cross_entropy_formula_matches_the_composite(gpu):
    """The GPU's two-kernel form (here its formula in NumPy) gives the loss and
    gradient of Keras's normalise-clip-log composite, clipped rows included."""
    rng = np.random.default_rng(2)
    p = rng.random((32, 5))
    p[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # q clipped at 1 - eps: no gradient
    p[1] = [0.0, 1.0, 0.0, 0.0, 0.0]  # q clipped at eps (label 0)
    labels = rng.integers(0, 5, 32)
    labels[:2] = 0
    weights = rng.random(32)
    results = []
    for device in ("cpu", "gpu"):
        x = numdl.tensor(p, requires_grad=True, dtype="float64", device=device)
        y = backend.to_device(labels, device)
        loss = numdl.losses.sparse_categorical_crossentropy(y, x)
        assert loss.device == device
        (loss * backend.to_device(weights, device)).sum().backward()
        results.append((backend.to_numpy(loss.data), backend.to_numpy(x.grad)))
    (loss_cpu, grad_cpu), (loss_gpu, grad_gpu) = results
    np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-12)
    np.testing.assert_allclose(grad_gpu, grad_cpu, rtol=1e-10, atol=1e-12)
    assert np.all(grad_cpu[:2] == 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_convnets_train_alike_on_both_devices(gpu, float64, seed):
    """Convolutions (valid, same, strided, dilated) and max pooling (disjoint
    and overlapping windows) through the GPU code paths give the CPU's
    gradients."""
    rng = np.random.default_rng(seed)
    x = rng.random((4, 12, 11, 3))
    y = rng.integers(0, 5, 4)

    def grads(device):
        numdl.config.set_random_seed(seed)
        model = models.Sequential(
            [
                layers.Input((12, 11, 3)),
                layers.Conv2D(4, 3, activation="relu", padding="same"),
                layers.MaxPooling2D(2),
                layers.Conv2D(5, 2, strides=2, dilation_rate=1, activation="relu"),
                layers.MaxPooling2D(3, strides=1, padding="same"),
                layers.Conv2D(3, 2, dilation_rate=2, padding="same"),
                layers.Flatten(),
                layers.Dense(5, activation="softmax"),
            ]
        ).to(device)
        out = model(x)
        loss = numdl.losses.sparse_categorical_crossentropy(
            backend.to_device(y, device), out
        )
        loss.sum().backward()
        return [backend.to_numpy(w.grad) for w in model.trainable_weights]

    for ours, ref in zip(grads("gpu"), grads("cpu")):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_host_gradients_reach_gpu_parameters(gpu):
    w = numdl.tensor([1.0, 2.0], requires_grad=True, device="gpu")
    for opt in (SGD(0.5), Adam(0.1)):
        opt.apply_gradients([(np.array([1.0, 1.0], np.float32), w)])
        assert isinstance(w.data, DeviceArray)
    np.testing.assert_allclose(w.data.get(), [0.4, 1.4], rtol=1e-6)


def test_check_grad_reads_gradients_of_a_layer_on_the_gpu(gpu, float64):
    """check_grad's weights follow the output to its device, and the
    gradients come back to the host to be compared."""
    from numdl.testing import check_grad

    layer = layers.Dense(3, activation="tanh")
    layer.build((None, 4))
    layer.to("gpu")
    x = np.random.default_rng(0).standard_normal((2, 4))

    def fn(t):
        out = layer(t)
        assert backend.device_of(out.data) == "gpu"
        return out

    assert check_grad(fn, x)[0] < 1e-7
