"""The benchmark suite's pieces compute the same thing, and every case runs.

No timing is asserted here (speed is checked by running the suite): these
tests check that the compared implementations are equivalent, that the
harness reports what it measured, and that each case completes at minimal
sizes and prints its tables.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import __main__ as suite
from benchmarks import numpy_mlp, suite_memory, suite_mlp, suite_tiny
from benchmarks.harness import Target, Timing, interleave, rate_table, targets_table

SMALL = [12, 16, 8, 5]


# ------------------------------------------------------------ numpy_mlp
def test_numpy_mlp_loss_and_gradients_equal_torch_autograd():
    rng = np.random.default_rng(3)
    mlp = numpy_mlp.NumpyMLP(SMALL, rng, dtype=np.float64)
    x, y = rng.standard_normal((7, SMALL[0])), rng.integers(0, SMALL[-1], 7)
    loss, grads = mlp.loss_and_grads(x, y)
    params = [torch.tensor(p, requires_grad=True) for p in mlp.params]
    h = torch.tensor(x)
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        h = torch.relu(h) if i < len(params) - 2 else h
    expected = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-10)
    for g, p in zip(grads, params):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_numpy_adam_follows_keras_formula_over_many_steps():
    rng = np.random.default_rng(4)
    p = rng.standard_normal(6)
    ref, m, v = p.copy(), np.zeros(6), np.zeros(6)
    opt = numpy_mlp.Adam(learning_rate=0.01, epsilon=1e-7)
    for t in range(1, 121):
        g = rng.standard_normal(6)
        opt.update([p], [g.copy()])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        alpha = 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        ref -= alpha * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(p, ref, rtol=1e-10)


def test_numpy_sgd_subtracts_learning_rate_times_gradient():
    p, g = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    numpy_mlp.SGD(0.1).update([p], [g.copy()])
    np.testing.assert_allclose(p, [0.95, -2.4], rtol=1e-12)


# ----------------------------------------------------- case 1 equivalence
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mlp_numdl_numpy_torch_train_to_the_same_weights(optimizer):
    weights = suite_mlp.trained_weights(
        optimizer, SMALL, n=64, batch_size=16, epsilon=1e-12, seed=1
    )
    start = numpy_mlp.NumpyMLP(SMALL, np.random.default_rng(1)).params
    moved = max(np.abs(w - s).max() for w, s in zip(weights["numpy"], start))
    assert moved > 1e-4  # four steps did change the weights
    for other in ("numpy", "pytorch"):
        for got, expected in zip(weights["numdl"], weights[other]):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_torch_and_numpy_epochs_follow_the_same_shuffled_order():
    rng = np.random.default_rng(5)
    mlp = numpy_mlp.NumpyMLP(SMALL, rng)
    net = suite_mlp.torch_model(mlp)
    x = rng.random((40, SMALL[0]), dtype=np.float32)
    y = rng.integers(0, SMALL[-1], 40)
    order = rng.permutation(40)
    opt = suite_mlp.torch_optimizer(net, "sgd")
    torch_loss = suite_mlp.torch_epoch(
        net, opt, torch.from_numpy(x), torch.from_numpy(y), 8, order
    )
    numpy_loss = numpy_mlp.train_epoch(mlp, numpy_mlp.SGD(0.01), x, y, 8, order)
    assert torch_loss == pytest.approx(numpy_loss, rel=1e-5)
    for p, w in zip(net.parameters(), mlp.params):
        np.testing.assert_allclose(p.detach().numpy().T, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_sklearn_mlp_has_the_same_architecture_and_trains_one_epoch(optimizer):
    x, y = suite_mlp.data(64)
    clf = suite_mlp.sklearn_mlp(optimizer, 32)
    suite_mlp.sklearn_epoch(clf, x, y)
    assert [c.shape for c in clf.coefs_] == [(784, 256), (256, 128), (128, 10)]
    assert clf.coefs_[0].dtype == np.float32 and clf.n_iter_ == 1
    assert clf.out_activation_ == "softmax" and clf.activation == "relu"
    first = clf.coefs_[0].copy()
    suite_mlp.sklearn_epoch(clf, x, y)
    # warm_start: one more epoch from there (a re-initialised fit would repeat
    # the first epoch exactly: same random_state, same init and shuffling)
    assert np.abs(clf.coefs_[0] - first).max() > 1e-6


def test_tiny_network_numdl_and_torch_agree():
    suite_tiny.check_same()  # raises if the weights after one epoch differ
    model = suite_tiny.numdl_net()
    net, _ = suite_tiny.torch_net(model)
    x, _ = suite_tiny.data(16)
    expected = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5)


# ------------------------------------------------------------- harness
def test_interleave_alternates_order_and_averages_blocks():
    calls = []
    cases = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    timings = interleave(cases, repeats=3, warmup=1, inner=2)
    assert calls == list("ab" + "aabb" + "bbaa" + "aabb")
    assert all(len(t.samples) == 3 for t in timings.values())


def test_rate_table_reports_per_step_time_rate_and_ratios():
    timings = {
        "x": Timing("x", [0.30, 0.20, 0.50]),
        "ref": Timing("ref", [0.10, 0.10, 0.10]),
    }
    text = rate_table("T", timings, ["ref", "absent"], steps=10, samples=1000)
    row = next(line for line in text.splitlines() if line.startswith("| x "))
    assert row == "| x | 30.000 | 20.000-50.000 | 3333 | 3.000 |"
    assert "absent" not in text


def test_targets_say_pass_or_miss_by_kind():
    rows = [
        Target("fast enough", 0.9, 1.0),
        Target("too slow", 1.1, 1.0),
        Target("rate", 1.3, 1.2, kind="min"),
        Target("low rate", 1.1, 1.2, kind="min"),
    ]
    assert [t.verdict for t in rows] == ["PASS", "MISS", "PASS", "MISS"]
    text = targets_table(rows, "Summary")
    assert "| too slow | 1.100x | <= 1x | MISS |" in text
    assert "| rate | 1.300x | >= 1.2x | PASS |" in text


# ------------------------------------------------------------ case 5
def test_memory_report_flags_a_copy_of_the_training_set():
    mb = 2**20
    sizes = suite_memory.Sizes(samples=1000, epochs=1)
    numbers = {"input": 200 * mb, "after_import": 50 * mb, "seconds": 1.0}
    copy = numbers | {"baseline": 250 * mb, "peak": 460 * mb}
    _, targets = suite_memory.report(sizes, copy)
    assert [t.verdict for t in targets] == ["PASS", "MISS"]
    lean = numbers | {"baseline": 250 * mb, "peak": 310 * mb}
    _, targets = suite_memory.report(sizes, lean)
    assert [t.verdict for t in targets] == ["PASS", "PASS"]


def test_rss_reads_a_plausible_size():
    before = suite_memory.rss_bytes("VmHWM")
    block = np.ones(64 * 2**20 // 8)  # touch 64 MB
    assert suite_memory.rss_bytes("VmHWM") >= before
    assert suite_memory.rss_bytes() >= block.nbytes


# --------------------------------------------------------- entry point
def test_every_case_runs_at_minimal_sizes_and_prints_its_tables(tmp_path, capsys):
    out = tmp_path / "bench.md"
    suite.main(["--smoke", "--threads", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    for number in range(1, 6):
        assert f"### Case {number}:" in printed
    assert "### Summary:" in printed and "| --- | ---: |" in printed
    assert printed.count("PASS") + printed.count("MISS") >= 2 * 13
    assert out.read_text(encoding="utf-8").strip() == printed.strip()


def test_cases_by_number_or_name_and_bad_ones_rejected(capsys):
    assert suite.parse(["--cases", "2", "latency"]).cases == ["tiny", "latency"]
    assert suite.parse(["--quick", "--smoke"]).smoke  # `numdl bench --smoke`
    with pytest.raises(SystemExit):
        suite.parse(["--cases", "6"])
    assert "unknown case '6'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        suite.parse(["--threads", "0"])
    assert "--threads must be at least 1, got 0" in capsys.readouterr().err
