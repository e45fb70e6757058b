"""GradientMonitor: what it records equals what the weights say, and it warns
about vanishing gradients, dead ReLUs and exploding gradients (only those)."""

import numpy as np
import pytest

import numdl
from numdl import layers
from numdl.callbacks import GradientMonitor
from numdl.initializers import Constant, RandomNormal


def data(n=128, features=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")


def fit(model, x, y, epochs=2, batch_size=32, optimizer="sgd", loss=None, **kw):
    model.compile(optimizer=optimizer, loss=loss or "binary_crossentropy")
    monitor = GradientMonitor(**kw.pop("monitor", {}))
    model.fit(
        x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[monitor], **kw
    )
    return monitor


def sequential(*hidden, features=8):
    out = layers.Dense(1, activation="sigmoid", name="out")
    return numdl.Sequential([numdl.Input(shape=(features,)), *hidden, out])


def relu(x):
    return np.maximum(x, 0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_records_match_one_sgd_step_per_epoch():
    """One batch per epoch: the step is -lr * gradient, so the weights before
    and after give the gradient norm, the update ratio and the activations."""
    numdl.config.set_random_seed(1)
    x, y = data(64)
    model = sequential(
        layers.Dense(6, activation="relu", name="h1"),
        layers.Dense(5, activation="tanh", name="h2"),
    )
    model.compile(optimizer=numdl.optimizers.SGD(0.1), loss="binary_crossentropy")
    monitor = GradientMonitor(saturation=0.2)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[monitor])
    after = model.get_weights()
    assert monitor.epochs == [0]
    for i, name in enumerate(["h1", "h2", "out"]):
        step = [
            a - b for a, b in zip(after[2 * i : 2 * i + 2], before[2 * i : 2 * i + 2])
        ]
        change = np.sqrt(sum((s.astype(np.float64) ** 2).sum() for s in step))
        weight = np.sqrt(
            sum((b.astype(np.float64) ** 2).sum() for b in before[2 * i : 2 * i + 2])
        )
        np.testing.assert_allclose(monitor.grad_norm[name], [change / 0.1], rtol=1e-4)
        np.testing.assert_allclose(
            monitor.update_ratio[name], [change / weight], rtol=1e-4
        )
    k1, b1, k2, b2 = before[:4]
    h1 = relu(x @ k1 + b1)
    h2 = np.tanh(h1 @ k2 + b2)
    dead = 1 - (h1 > 0).any(axis=0).mean()
    assert monitor.dead_fraction == {"h1": [pytest.approx(dead)]}
    saturated = (1 - h2**2 < 0.2).mean()
    assert 0 < saturated < 1  # the threshold makes it a real count
    assert monitor.saturated_fraction["h2"] == [pytest.approx(saturated)]
    assert "out" in monitor.saturated_fraction  # sigmoid is watched too
    assert monitor.warnings == []


def test_deep_sigmoid_stack_reports_vanishing_gradients(capsys):
    numdl.config.set_random_seed(0)
    x, y = data()
    stack = [layers.Dense(8, activation="sigmoid", name=f"s{i}") for i in range(12)]
    monitor = fit(sequential(*stack), x, y, epochs=2)
    norms = {name: values[-1] for name, values in monitor.grad_norm.items()}
    largest = max(norms.values())
    vanished = [name for name, norm in norms.items() if norm < 1e-6 * largest]
    assert "s0" in vanished and "out" not in vanished
    reported = [m for m in monitor.warnings if "vanishing" in m]
    assert sorted(reported) == sorted(set(reported))  # once per layer
    assert [m.split("'")[1] for m in reported] == vanished
    out = capsys.readouterr().out
    assert out.count("layer 's0'") == 1 and "vanishing gradients" in out
    assert not any("exploding" in m or "dead" in m for m in monitor.warnings)


def test_relu_with_large_negative_bias_reports_dead_units(capsys):
    numdl.config.set_random_seed(0)
    x, y = data()
    dead = layers.Dense(
        16, activation="relu", bias_initializer=Constant(-10.0), name="d"
    )
    healthy = layers.Dense(16, activation="relu", name="fine")
    model = numdl.Sequential(
        [numdl.Input(shape=(8,)), healthy, dead, layers.Dense(1, activation="sigmoid")]
    )
    # Validation inputs that make every unit fire must not count: only
    # training steps are watched.
    x_val = np.full((16, 8), 1e3, "float32")
    monitor = fit(model, x, y, validation_data=(x_val, np.ones(16, "float32")))
    assert monitor.dead_fraction["d"] == [1.0, 1.0]
    assert monitor.dead_fraction["fine"][-1] < 0.5
    dead_warnings = [m for m in monitor.warnings if "dead units" in m]
    assert len(dead_warnings) == 1 and "layer 'd'" in dead_warnings[0]
    assert "100% of its ReLU units" in capsys.readouterr().out


def test_growing_gradients_report_exploding():
    # Linear regression with a learning rate past stability: every step
    # multiplies the error (and the gradient) by about 1 - lr * 2 * 9 = -3.5.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(320, 4)).astype("float32") * 3
    y = x.sum(axis=1)
    model = numdl.Sequential([numdl.Input(shape=(4,)), layers.Dense(1, name="lin")])
    kernel, bias = model.get_weights()
    residual = x[:32] @ kernel[:, 0] + bias[0] - y[:32]  # the first batch's
    first = np.sqrt(((x[:32].T @ residual) ** 2).sum() + residual.sum() ** 2) / 16
    monitor = fit(
        model,
        x,
        y,
        epochs=1,
        optimizer=numdl.optimizers.SGD(0.25),
        loss="mse",
        shuffle=False,
    )
    assert monitor.grad_norm["lin"][0] > 1e3 * first
    assert len(monitor.warnings) == 1
    assert "layer 'lin'" in monitor.warnings[0] and "exploding" in monitor.warnings[0]


def test_healthy_network_reports_nothing(capsys):
    numdl.config.set_random_seed(0)
    x, y = data(256)
    model = sequential(
        layers.Dense(16, activation="relu"), layers.Dense(16, activation="tanh")
    )
    monitor = fit(model, x, y, epochs=3, optimizer="adam")
    assert monitor.warnings == [] and capsys.readouterr().out == ""
    assert all(len(v) == 3 for v in monitor.grad_norm.values())
    assert all(0 < v[-1] < 10 for v in monitor.grad_norm.values())
    assert all(0 < v[-1] < 0.1 for v in monitor.update_ratio.values())


def test_wrappers_removed_and_records_restart_each_fit():
    numdl.config.set_random_seed(0)
    x, y = data(64)
    hidden = layers.Dense(4, activation="relu", kernel_initializer=RandomNormal())
    model = sequential(hidden)
    monitor = fit(model, x, y, epochs=2, monitor={"verbose": 0})
    assert "call" not in hidden.__dict__
    assert "apply_gradients" not in model.optimizer.__dict__
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.epochs == [0] and len(monitor.grad_norm[hidden.name]) == 1


def test_convolution_channels_and_nested_models_are_watched():
    numdl.config.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("float32")
    bias = np.array([-50.0, -50.0, 0.0, 0.0], "float32")
    conv = layers.Conv2D(4, 3, activation="relu", name="conv")
    inner = numdl.Sequential([conv, layers.Flatten()], name="features")
    model = numdl.Sequential(
        [numdl.Input(shape=(6, 6, 1)), inner, layers.Dense(1, "sigmoid", name="head")]
    )
    kernel, _ = conv.get_weights()
    conv.set_weights([kernel, bias])  # channels 0 and 1 can never fire
    monitor = fit(model, x, y, epochs=1, batch_size=16, monitor={"verbose": 0})
    outputs = np.maximum(
        np.stack(
            [
                (x[:, i : i + 3, j : j + 3, :, None] * kernel).sum(axis=(1, 2, 3))
                for i in range(4)
                for j in range(4)
            ],
            axis=1,
        )
        + bias,
        0,
    )
    expected = 1 - (outputs > 0).any(axis=(0, 1)).mean()
    assert expected == 0.5  # the two biased channels, no more
    assert monitor.dead_fraction == {"conv": [expected]}
    assert set(monitor.grad_norm) == {"conv", "head"}
    assert not any("dead units" in m for m in monitor.warnings)  # 50% is not > 50%
