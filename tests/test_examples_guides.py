"""The teaching examples run in smoke mode and compute what they claim."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import numdl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_png(path, min_bytes=5_000):
    data = Path(path).read_bytes()
    assert data[:8] == PNG and len(data) > min_bytes
    import matplotlib.pyplot as plt

    height, width = plt.imread(path).shape[:2]
    assert height > 100 and width > 100


def test_vectorisation_products_agree_and_are_timed(tmp_path, capsys):
    results = load("vectorisation").main(["--smoke", "--out", str(tmp_path)])
    assert set(results) == {"dot", "matmul"}
    for times in results.values():
        assert set(times) == {"python loop", "np.dot", "numdl"}
        assert all(t > 0 for t in times.values())
    out = capsys.readouterr().out
    assert out.count("x the loop") == 6
    assert_png(tmp_path / "vectorisation.png", 2_000)


def test_vectorisation_loops_are_the_textbook_products():
    module = load("vectorisation")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    np.testing.assert_allclose(module.loop_matmul(a.tolist(), b.tolist()), a @ b)
    assert module.loop_dot([1.0, 2.0], [3.0, 4.0]) == 11.0


TORCH = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "relu6": torch.nn.functional.relu6,
    "elu": torch.nn.functional.elu,
    "selu": torch.selu,
    "softplus": torch.nn.functional.softplus,
    "silu": torch.nn.functional.silu,
    "gelu": torch.nn.functional.gelu,
    "mish": torch.nn.functional.mish,
    "softsign": torch.nn.functional.softsign,
    "hard_sigmoid": torch.nn.functional.hardsigmoid,
    "exponential": torch.exp,
}


def test_activations_tour_properties(tmp_path, capsys):
    table = load("activations_tour").main(["--out", str(tmp_path)])
    assert "softmax" not in table and "swish" not in table  # vector fn, alias
    assert set(TORCH) <= set(table)
    for name, fn in TORCH.items():  # f(0) and f'(0) against PyTorch
        x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        y = fn(x)
        y.backward()
        assert table[name]["f(0)"] == pytest.approx(y.item(), abs=1e-12), name
        # abs 1e-7: PyTorch's hardsigmoid backward uses a float32 1/6
        assert table[name]["f'(0)"] == pytest.approx(x.grad.item(), abs=1e-7), name
    bounded = {"sigmoid": (0, 1), "tanh": (-1, 1), "relu6": (0, 6), "softsign": (-1, 1)}
    for name, (low, high) in bounded.items():
        assert table[name]["low"] == pytest.approx(low, abs=1e-6), name
        assert table[name]["high"] == pytest.approx(high, abs=1e-6), name
    assert table["relu"]["high"] == np.inf and table["linear"]["low"] == -np.inf
    assert table["selu"]["low"] == pytest.approx(
        -1.0507009873554805 * 1.6732632423543772
    )
    assert table["silu"]["low"] == pytest.approx(-0.2784645427610738, abs=1e-5)
    for name in ("sigmoid", "tanh"):
        assert table[name]["saturates left"] and table[name]["saturates right"]
    assert table["relu"]["saturates left"] and not table["relu"]["saturates right"]
    assert not table["linear"]["saturates left"]
    assert table["tanh"]["zero-centred"] and not table["sigmoid"]["zero-centred"]
    assert table["silu"]["monotonic"] is False and table["elu"]["monotonic"]
    out = capsys.readouterr().out
    assert "softmax(scores + 1000) is the same (True)" in out
    assert_png(tmp_path / "activations.png")


def test_optimizers_compared(tmp_path, capsys):
    module = load("optimizers_compared")
    curves = module.main(["--smoke", "--out", str(tmp_path)])
    assert len(curves) == 2
    for runs in curves.values():
        assert set(runs) == {
            "gradient descent",
            "momentum",
            "nesterov",
            "rmsprop",
            "adam",
        }
        for values in runs.values():
            assert len(values) == 41 and np.all(np.isfinite(values))
            assert min(values) >= -1e-9  # excess loss: the minimum is the minimum
            assert values[-1] < values[0]
    quadratic = curves["ill-conditioned quadratic (condition 50)"]
    assert quadratic["momentum"][-1] < quadratic["gradient descent"][-1]
    assert "convergence plot" in capsys.readouterr().out
    assert_png(tmp_path / "optimizers.png")


def test_optimizers_compared_first_gradient_step_by_hand():
    module = load("optimizers_compared")
    loss, start, minimum = module.ill_conditioned_quadratic()
    h = np.zeros((2, 2))
    for i in range(2):  # the Hessian, read off the loss: d/dw of H w
        w = numdl.tensor(np.eye(2)[i], requires_grad=True, dtype="float64")
        loss(w).backward()
        h[i] = numdl.backend.to_numpy(w.grad)
    assert sorted(np.linalg.eigvalsh(h)) == pytest.approx([1.0, 50.0])
    step = start - 0.02 * h @ start
    history = module.descend(loss, start, numdl.optimizers.SGD(0.02), 1)
    assert history == pytest.approx([0.5 * start @ h @ start, 0.5 * step @ h @ step])


def test_losses_compared_on_outliers():
    module = load("optimizers_compared")
    fits = module.robust_fits(300)
    # The squared error's fit is least squares on the same points.
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, 100)
    y = 2.0 * x + 1.0 + rng.normal(scale=0.05, size=100)
    y[:10] += 8.0
    slope, intercept = np.polyfit(x, y, 1)
    mse = fits["mean squared error"]
    assert mse == pytest.approx((slope, intercept), abs=0.02)
    for robust in ("mean absolute error", "huber"):
        assert abs(fits[robust][1] - 1.0) < abs(mse[1] - 1.0) / 4
        assert fits[robust][0] == pytest.approx(2.0, abs=0.05)


def test_forward_by_hand_matches_sequential(tmp_path, capsys):
    module = load("forward_by_hand")
    assert module.main(["--out", str(tmp_path)]) < 1e-12
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["x", "unit", "by", "unit", "vectorised", "numdl"]
    assert len(lines) >= 7
    assert_png(tmp_path / "forward_model.png", 2_000)


def test_coffee_roasting_draws_its_decision_region(tmp_path):
    accuracy = load("coffee_roasting").main(
        epochs=1, tiles=10, verbose=0, out=str(tmp_path)
    )
    assert 0 <= accuracy <= 1
    assert_png(tmp_path / "coffee_decision_region.png")


@pytest.mark.parametrize(
    "script",
    [
        "vectorisation",
        "activations_tour",
        "optimizers_compared",
        "forward_by_hand",
        "coffee_roasting",
    ],
)
def test_example_runs_as_a_script(script, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / f"{script}.py"),
            "--smoke",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.glob("*.png"))
