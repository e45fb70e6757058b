"""Forward and gradient parity with PyTorch on every available device.

Each test runs once per device numdl can use here: ``"cpu"`` always, and
``"gpu"`` where CuPy sees a CUDA device (then against PyTorch CUDA, with
TF32 off on both sides). On a machine without a GPU these are CPU parity
tests; on a GPU machine they check the fused CuPy kernels
(numdl/ops/_cupy_kernels.py) and the device bookkeeping on a real device.
Tolerance: float32, 1e-5 relative (normwise for sums, see
``numdl.testing.assert_close``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import numdl
from numdl import activations, backend, layers, models, ops
from numdl.optimizers import SGD, Adam
from numdl.testing import assert_close

DEVICES = ["cpu"] + (["gpu"] if backend.gpu_available() else [])
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False


def _torch_device(device: str) -> str:
    """PyTorch's device for ours: CUDA for the GPU (the CPU for the stand-in
    CuPy of a ``NUMDL_BACKEND=standin`` run, on a machine without CUDA)."""
    return "cuda" if device == "gpu" and torch.cuda.is_available() else "cpu"


def _pair(a: np.ndarray, device: str) -> tuple[numdl.Tensor, torch.Tensor]:
    ours = numdl.tensor(a, requires_grad=True, device=device)
    ref = torch.tensor(a, requires_grad=True, device=_torch_device(device))
    return ours, ref


def _host(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return backend.to_numpy(x.data if isinstance(x, numdl.Tensor) else x)


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.mark.parametrize(
    "name, reference",
    [
        ("relu", torch.relu),
        ("sigmoid", torch.sigmoid),
        ("tanh", torch.tanh),
        ("softmax", lambda t: torch.softmax(t, dim=-1)),
        ("gelu", torch.nn.functional.gelu),
    ],
)
def test_activations_forward_and_backward(device, name, reference):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((64, 33)) * 4).astype(np.float32)
    a[0, :4] = [1e4, -1e4, 0.0, 1e-30]
    x, tx = _pair(a, device)
    g = rng.standard_normal(a.shape).astype(np.float32)
    y = activations.get(name)(x)
    ty = reference(tx)
    assert y.device == device
    assert_close(_host(y), _host(ty), 1e-5, f"{name} forward")
    y.backward(backend.to_device(g, device))
    ty.backward(torch.tensor(g, device=_torch_device(device)))
    assert x.grad is not None and backend.device_of(x.grad) == device
    assert_close(_host(x.grad), _host(tx.grad), 1e-5, f"{name} gradient")


@pytest.mark.parametrize("relu", [False, True])
def test_dense_forward_and_backward(device, relu):
    rng = np.random.default_rng(1)
    x, tx = _pair(rng.standard_normal((128, 50)).astype(np.float32), device)
    k, tk = _pair(rng.standard_normal((50, 20)).astype(np.float32) / 7, device)
    b, tb = _pair(rng.standard_normal(20).astype(np.float32), device)
    y = ops.dense(x, k, b, relu=relu)
    ty = tx @ tk + tb
    ty = torch.relu(ty) if relu else ty
    assert_close(_host(y), _host(ty), 1e-5, "dense forward")
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    for ours, ref, what in ((x, tx, "x"), (k, tk, "kernel"), (b, tb, "bias")):
        assert_close(_host(ours.grad), _host(ref.grad), 1e-5, f"dense d{what}")


@pytest.mark.parametrize("classes", [10, 3, 100])
def test_sparse_softmax_cross_entropy(device, classes):
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal((257, classes)) * 5).astype(np.float32)
    logits[0, 0] = 1e4  # a saturated row
    labels = rng.integers(0, classes, 257)
    z, tz = _pair(logits, device)
    y = backend.to_device(labels, device)
    loss = ops.softmax_cross_entropy(z, y)
    ty = torch.tensor(labels, device=_torch_device(device))
    tloss = torch.nn.functional.cross_entropy(tz, ty, reduction="none")
    assert_close(_host(loss), _host(tloss), 1e-5, "loss")
    w = rng.random(257).astype(np.float32)
    (loss * backend.to_device(w, device)).sum().backward()
    (tloss * torch.tensor(w, device=tz.device)).sum().backward()
    assert_close(_host(z.grad), _host(tz.grad), 1e-5, "dlogits")


def _keras_adam(w, grads, lr, b1, b2, eps):
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return w


def _keras_sgd(w, grads, lr, mu, nesterov):
    v = np.zeros_like(w)
    for g in grads:
        v = mu * v - lr * g
        w = w + (mu * v - lr * g if nesterov else v)
    return w


@pytest.mark.parametrize(
    "make, reference",
    [
        (lambda: Adam(0.01), lambda w, gs: _keras_adam(w, gs, 0.01, 0.9, 0.999, 1e-7)),
        (lambda: SGD(0.05), lambda w, gs: _keras_sgd(w, gs, 0.05, 0.0, False)),
        (
            lambda: SGD(0.05, momentum=0.9),
            lambda w, gs: _keras_sgd(w, gs, 0.05, 0.9, False),
        ),
        (
            lambda: SGD(0.05, momentum=0.9, nesterov=True),
            lambda w, gs: _keras_sgd(w, gs, 0.05, 0.9, True),
        ),
    ],
)
def test_optimizer_updates_follow_keras_formulas(device, make, reference):
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((300, 7)).astype(np.float32)
    grads = [rng.standard_normal(w0.shape).astype(np.float32) for _ in range(25)]
    w = numdl.tensor(w0, requires_grad=True, device=device)
    opt = make()
    for g in grads:
        opt.apply_gradients([(backend.to_device(g, device), w)])
    assert w.device == device
    expected = reference(w0.astype(np.float64), [g.astype(np.float64) for g in grads])
    assert_close(_host(w), expected, 1e-5, type(opt).__name__)


def _convnet(seed: int) -> models.Sequential:
    numdl.config.set_random_seed(seed)
    return models.Sequential(
        [
            layers.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu", padding="same"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(10),
        ]
    )


def _torch_convnet(model: models.Sequential, device: str) -> torch.nn.Module:
    k1, b1, k2, b2, kd, bd = model.get_weights()
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 6 * 6, 10),
    )
    dense = kd.reshape(6, 6, 64, 10).transpose(3, 2, 0, 1).reshape(10, -1)
    values = [k1.transpose(3, 2, 0, 1), b1, k2.transpose(3, 2, 0, 1), b2, dense, bd]
    with torch.no_grad():
        for param, value in zip(net.parameters(), values):
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return net.to(_torch_device(device))


def test_convnet_forward_and_weight_gradients_match_torch(device):
    model = _convnet(0).to(device)
    net = _torch_convnet(model, device)
    rng = np.random.default_rng(4)
    x = rng.random((16, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 16)
    logits = model(x)
    assert logits.device == device
    loss = ops.softmax_cross_entropy(logits, backend.to_device(labels, device)).mean()
    tx = torch.tensor(x.transpose(0, 3, 1, 2).copy(), device=_torch_device(device))
    tlogits = net(tx)
    ty = torch.tensor(labels, device=tlogits.device)
    tloss = torch.nn.functional.cross_entropy(tlogits, ty)
    assert_close(_host(logits), _host(tlogits), 1e-5, "logits")
    loss.backward()
    tloss.backward()
    k1, b1, k2, b2, kd, bd = (w.grad for w in model.trainable_weights)
    tk1, tb1, tk2, tb2, tkd, tbd = (_host(p.grad) for p in net.parameters())
    pairs = [
        (k1, tk1.transpose(2, 3, 1, 0), "conv1 kernel"),
        (b1, tb1, "conv1 bias"),
        (k2, tk2.transpose(2, 3, 1, 0), "conv2 kernel"),
        (b2, tb2, "conv2 bias"),
        (kd, tkd.reshape(10, 64, 6, 6).transpose(2, 3, 1, 0).reshape(-1, 10), "dense"),
        (bd, tbd, "dense bias"),
    ]
    for ours, ref, what in pairs:
        assert backend.device_of(ours) == device
        assert_close(_host(ours), ref, 1e-5, what)


def test_fit_evaluate_predict_on_the_device(device):
    numdl.config.set_random_seed(0)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((512, 8)).astype(np.float32)
    y = (x[:, :2].sum(axis=1) > 0).astype(np.int64)
    model = models.Sequential(
        [
            layers.Input((8,)),
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.1),
            layers.Dense(2, activation="softmax"),
        ]
    ).to(device)
    model.compile(
        optimizer=Adam(0.02),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=64, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    assert all(w.device == device for w in model.weights)
    states = model.optimizer.variables
    assert states and all(backend.device_of(s) == device for s in states)
    predicted = model.predict(x, verbose=0)
    assert type(predicted) is np.ndarray and predicted.shape == (512, 2)
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert isinstance(loss, float) and accuracy > 0.9
    weights = model.get_weights()
    assert all(type(w) is np.ndarray for w in weights)


def test_model_moves_between_devices_with_its_optimizer_state(device):
    numdl.config.set_random_seed(1)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = rng.standard_normal((64, 1)).astype(np.float32)

    def make():
        numdl.config.set_random_seed(1)
        model = models.Sequential([layers.Input((4,)), layers.Dense(1)])
        model.compile(optimizer=Adam(0.05), loss="mse")
        return model

    moved, stay = make(), make()
    for _ in range(3):
        moved.train_on_batch(x, y)
        stay.train_on_batch(x, y)
    moved.to(device)  # state made on the CPU follows the weights
    assert all(backend.device_of(s) == device for s in moved.optimizer.variables)
    for _ in range(3):
        moved.train_on_batch(x, y)
        stay.train_on_batch(x, y)
    moved.to("cpu")
    for ours, ref in zip(moved.get_weights(), stay.get_weights()):
        assert_close(ours, ref, 1e-5, "weights after moving")


def test_tensor_to_keeps_the_gradient_path(device):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = numdl.tensor(a, requires_grad=True, device="cpu")
    y = x.to(device)
    assert y.device == device and (y is x) == (device == "cpu")
    (y * y).sum().backward()
    assert x.grad is not None and type(x.grad) is np.ndarray
    np.testing.assert_array_equal(x.grad, 2 * a)


def test_dropout_repeats_with_the_seed_on_its_device(device):
    layer = layers.Dropout(0.5)
    x = numdl.tensor(np.ones((64, 64), np.float32), device=device)
    numdl.config.set_random_seed(7)
    first = _host(layer(x, training=True))
    numdl.config.set_random_seed(7)
    again = _host(layer(x, training=True))
    np.testing.assert_array_equal(first, again)
    kept = (first != 0).mean()
    assert 0.4 < kept < 0.6 and set(np.unique(first)) <= {0.0, 2.0}


@pytest.mark.parametrize(
    "strides, dilation, padding", [(1, 1, "same"), (2, 1, "valid"), (1, 2, "same")]
)
def test_conv2d_and_overlapping_max_pool_match_torch(
    device, strides, dilation, padding
):
    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 13, 12, 4)).astype(np.float32)
    x, tx = _pair(a, device)
    numdl.config.set_random_seed(2)
    conv = layers.Conv2D(
        6, 3, strides=strides, dilation_rate=dilation, padding=padding,
        activation="relu",
    ).to(device)  # fmt: skip
    pool = layers.MaxPooling2D(3, strides=2)  # windows overlap
    y = pool(conv(x))
    kernel, bias = conv.get_weights()
    tconv = torch.nn.Conv2d(
        4, 6, 3, stride=strides, dilation=dilation,
        padding="same" if padding == "same" else 0,
    ).to(_torch_device(device))  # fmt: skip
    with torch.no_grad():
        tconv.weight.copy_(torch.tensor(kernel.transpose(3, 2, 0, 1)))
        tconv.bias.copy_(torch.tensor(bias))
    t_in = tx.permute(0, 3, 1, 2)
    ty = torch.nn.functional.max_pool2d(torch.relu(tconv(t_in)), 3, 2)
    ty = ty.permute(0, 2, 3, 1)
    assert_close(_host(y), _host(ty), 1e-5, "forward")
    w = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    (y * backend.to_device(w, device)).sum().backward()
    (ty * torch.tensor(w, device=ty.device)).sum().backward()
    assert_close(_host(x.grad), _host(tx.grad), 1e-5, "input gradient")
    tk = _host(tconv.weight.grad).transpose(2, 3, 1, 0)
    assert_close(_host(conv.kernel.grad), tk, 1e-5, "kernel gradient")
