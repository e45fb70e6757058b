"""Backend selection, device moves and their errors, on the CPU.

Without a GPU, CuPy is replaced by the strict stand-in of tests/_standin.py:
a module whose arrays live in a module named ``cupy_standin`` (so
``numdl.backend`` takes them for device arrays), refuse host arrays and
implicit conversion as CuPy does, and whose fused kernels
(numdl/ops/_cupy_kernels.py) are NumPy reference formulas. The stand-in checks
the bookkeeping: which module an op gets, what moves where, what errors say.
The real kernels are checked against PyTorch CUDA in test_gpu.py on a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from _standin import DeviceArray, install

import numdl
from numdl import backend, layers, models
from numdl.optimizers import SGD, Adam


@pytest.fixture(autouse=True)
def _cpu_default():
    """These tests start from the CPU default (also on a CuPy run of the
    suite); conftest restores the session's default afterwards."""
    numdl.config.set_backend("numpy")


@pytest.fixture
def gpu(monkeypatch):
    """The stand-in installed as numdl's GPU module (restored afterwards)."""
    return install(monkeypatch)


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


# ------------------------------------------------- the stand-in's strictness
def test_standin_refuses_what_cupy_refuses(gpu):
    """Host arrays among device operands, implicit host conversion and
    NumPy-only reduction keywords raise, as on CuPy; scalars are fine."""
    a = gpu.asarray(np.arange(6.0).reshape(2, 3))
    host = np.ones(3)
    for mixed in (
        lambda: a + host,
        lambda: host * a,
        lambda: a - np.array(2.0),  # 0-d arrays too (CuPy: not a scalar)
        lambda: a @ np.ones((3, 1)),
        lambda: gpu.exp(host),
        lambda: gpu.concatenate([a, np.ones((1, 3))]),
        lambda: np.where(a > 0, a, host),
    ):
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            mixed()
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(a)
    for reduction in (lambda: a.max(initial=0.0), lambda: np.sum(a, where=a > 0)):
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            reduction()
    assert isinstance(a + np.float32(1) + 2, DeviceArray)
    assert isinstance(np.exp(a), DeviceArray) and isinstance(a.sum(), DeviceArray)
    np.testing.assert_array_equal(a.get(), np.arange(6.0).reshape(2, 3))


def test_standin_elements_are_views_as_in_cupy(gpu):
    a = gpu.asarray(np.zeros(3))
    old = a[1]
    a[1] = old + 1.0
    assert float(old) == 1.0  # a view: NumPy would have kept 0.0


# --------------------------------------------- check_model_gradients on a GPU
def _dropout_model(seed=None):
    return models.Sequential(
        [
            layers.Input((4,)),
            layers.Dense(6, activation="tanh", name="d1"),
            layers.Dropout(0.5, seed=seed),
            layers.Dense(3, name="d2"),
        ]
    )


@pytest.mark.parametrize("seed", [None, 7])
def test_check_model_gradients_on_the_device_with_dropout(gpu, seed):
    """The finite differences replay the device generator's masks (numdl's
    or a seeded layer's): the check passes, draws nothing, and Dropout is
    really active on the device."""
    from numdl.testing import check_model_gradients

    numdl.config.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    model = _dropout_model(seed).to("gpu")
    loss = numdl.losses.SparseCategoricalCrossentropy(from_logits=True)
    device_rng = numdl.config.rng_for(gpu)
    report = check_model_gradients(model, x, y, loss, training=True)
    assert report.ok, str(report)
    assert report.worst_error < 1e-7 and set(report.layers) == {"d1", "d2"}
    assert numdl.config.rng_for(gpu) is device_rng
    assert all(isinstance(w.data, DeviceArray) for w in model.weights)
    xs = gpu.asarray(x.astype(np.float32))
    train = float(loss(gpu.asarray(y), model(xs, training=True)).data)
    infer = float(loss(gpu.asarray(y), model(xs, training=False)).data)
    assert train != pytest.approx(infer)


def test_check_model_gradients_fails_without_the_device_rewind(gpu, monkeypatch):
    """With one device generator running on through every pass (no rewind),
    each pass draws a new mask and the check fails: the replay above is what
    makes it pass."""
    from numdl.testing import check_model_gradients

    numdl.config.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    model = _dropout_model().to("gpu")
    generator = numdl.config.rng_for(gpu)
    monkeypatch.setattr(numdl.config, "rng_for", lambda xp, own=None: generator)
    loss = numdl.losses.SparseCategoricalCrossentropy(from_logits=True)
    report = check_model_gradients(model, x, y, loss, training=True)
    assert not report.ok


def test_assert_close_and_check_grad_read_device_arrays(gpu, float64):
    from numdl.testing import assert_close, check_grad

    a = gpu.asarray(np.array([1.0, 2.0]))
    assert_close(a, np.array([1.0, 2.0 + 1e-13]), 1e-10)
    assert_close(numdl.tensor([1.0, 2.0], device="gpu"), a, 1e-10)
    with pytest.raises(AssertionError, match="1 of 2 values differ"):
        assert_close(a, np.array([1.0, 2.1]), 1e-10)
    assert check_grad(lambda t: numdl.ops.tanh(t) * t, a)[0] < 1e-8


def test_numdl_backend_standin_runs_the_suite_on_the_standin():
    """``NUMDL_BACKEND=standin`` (tests/conftest.py) installs the stand-in
    before numdl picks its backend and makes it the default device."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "NUMDL_BACKEND": "standin"}
    test = "tests/test_tensor.py::test_attributes"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", test],
        env=env, capture_output=True, text=True, cwd=root,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "numdl backend: cupy (available: ['numpy', 'cupy'])" in out.stdout
    assert "1 passed" in out.stdout


def test_evaluate_takes_a_custom_loss_returning_a_device_array(gpu):
    # A loss computed on the arrays themselves (no gradient) comes back as a
    # bare device array; evaluate reads it where it is.
    def device_mse(y_true, y_pred):
        xp = backend.array_module(y_pred.data)
        return xp.mean((y_pred.data - xp.asarray(y_true)) ** 2)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 6)).astype(np.float32)
    y = rng.standard_normal((16, 3)).astype(np.float32)
    model = _mlp().to("gpu")
    model.compile(optimizer=Adam(0.01), loss=device_mse)
    expected = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    got = model.evaluate(x, y, batch_size=16, verbose=0)
    assert got == pytest.approx(expected, rel=1e-5)
