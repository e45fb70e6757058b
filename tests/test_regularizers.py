"""Regularizers: Keras formulas, finite differences, PyTorch parity, names."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numdl
from numdl import regularizers as reg
from numdl.autograd.tensor import Tensor
from numdl.testing import assert_torch_parity, check_grad

RNG = np.random.default_rng(0)
W = RNG.normal(size=(5, 4))  # no entry near 0, where |x| has a kink
W[np.abs(W) < 0.05] = 0.3


# ---------------------------------------------------------------- values
def test_l1_l2_values_against_formulas():
    assert float(reg.L1(0.3)(W)) == pytest.approx(0.3 * np.abs(W).sum(), rel=1e-12)
    assert float(reg.L2(0.2)(W)) == pytest.approx(0.2 * (W**2).sum(), rel=1e-12)
    expected = 0.1 * np.abs(W).sum() + 0.05 * (W**2).sum()
    assert float(reg.L1L2(0.1, 0.05)(W)) == pytest.approx(expected, rel=1e-12)
    assert float(reg.L1L2(l2=0.05)(W)) == pytest.approx(0.05 * (W**2).sum())
    assert float(reg.L1L2()(W)) == 0.0


def test_defaults_are_keras():
    assert reg.L1().l1 == 0.01 and reg.L2().l2 == 0.01
    assert (reg.L1L2().l1, reg.L1L2().l2) == (0.0, 0.0)
    assert (reg.L1(None).l1, reg.L2(None).l2) == (0.01, 0.01)
    assert reg.OrthogonalRegularizer().get_config() == {"factor": 0.01, "mode": "rows"}


def _orthogonal_reference(w: np.ndarray, factor: float, mode: str) -> float:
    """Mean |cos| over distinct pairs of rows (or columns), times factor."""
    vecs = w if mode == "rows" else w.T
    n = len(vecs)
    cosines = [
        abs(vecs[i] @ vecs[j]) / (np.linalg.norm(vecs[i]) * np.linalg.norm(vecs[j]))
        for i in range(n)
        for j in range(i + 1, n)
    ]
    return factor * float(np.mean(cosines))


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer_value(mode):
    value = float(reg.OrthogonalRegularizer(0.7, mode)(W))
    assert value == pytest.approx(_orthogonal_reference(W, 0.7, mode), rel=1e-12)


def test_orthogonal_regularizer_extremes():
    q, _ = np.linalg.qr(RNG.normal(size=(6, 6)))
    assert abs(float(reg.OrthogonalRegularizer(1.0)(q))) < 1e-14
    same = np.tile(RNG.normal(size=(1, 3)), (4, 1))  # every cosine is 1
    assert float(reg.OrthogonalRegularizer(0.2)(same)) == pytest.approx(0.2)
    assert float(reg.OrthogonalRegularizer(1.0)(np.ones((1, 3)))) == 0.0
    zero_row = np.array([[0.0, 0.0], [1.0, 0.0]])  # normalised by max(norm, eps)
    assert float(reg.OrthogonalRegularizer(1.0)(zero_row)) == 0.0


def test_numpy_in_numpy_out_and_dtypes():
    out = reg.L2(0.5)(W.astype(np.float32))
    assert not isinstance(out, Tensor) and out.dtype == np.float32
    assert reg.L1(0.5)([[1, -2]]).dtype == np.float32  # ints -> floatx
    t = numdl.tensor(W.astype(np.float32), requires_grad=True)
    for r in [reg.L1(), reg.L2(), reg.L1L2(0.1, 0.1), reg.OrthogonalRegularizer()]:
        p = r(t)
        assert isinstance(p, Tensor) and p.shape == () and p.dtype == np.float32
        assert p.requires_grad
    zero = reg.L1L2()(t)
    assert zero.shape == () and zero.dtype == np.float32


# -------------------------------------------------------------- gradients
REGULARIZERS = [
    reg.L1(0.3),
    reg.L2(0.2),
    reg.L1L2(0.1, 0.05),
    reg.OrthogonalRegularizer(0.7, "rows"),
    reg.OrthogonalRegularizer(0.7, "columns"),
]


@pytest.mark.parametrize("r", REGULARIZERS, ids=repr)
def test_gradient_finite_differences(r):
    assert check_grad(r, W)[0] < 1e-8


def _torch_reference(r):
    def fn(x):
        if isinstance(r, reg.OrthogonalRegularizer):
            dim = 1 if r.mode == "rows" else 0
            u = F.normalize(x, dim=dim, eps=1e-7)
            gram = u @ u.T if r.mode == "rows" else u.T @ u
            n = gram.shape[0]
            off = gram * (1 - torch.eye(n, dtype=x.dtype))
            return r.factor * 0.5 * off.abs().sum() / (n * (n - 1) / 2)
        l1 = getattr(r, "l1", 0.0)
        l2 = getattr(r, "l2", 0.0)
        return l1 * x.abs().sum() + l2 * (x**2).sum()

    return fn


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("r", REGULARIZERS, ids=repr)
def test_torch_parity(r, dtype):
    assert_torch_parity(r, _torch_reference(r), W.astype(dtype))


def test_penalty_backpropagates_into_weight():
    w = numdl.tensor(W.copy(), requires_grad=True, dtype="float64")
    reg.L2(0.5)(w).backward()
    np.testing.assert_allclose(w.grad, 2 * 0.5 * W, rtol=1e-14)  # no 1/2 in L2


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_factors(bad):
    with pytest.raises(ValueError, match="L1: l1 must be a non-negative float"):
        reg.L1(bad)
    with pytest.raises(ValueError, match="L1L2: l2 must be a non-negative float"):
        reg.L1L2(l2=bad)
    with pytest.raises(ValueError, match="OrthogonalRegularizer: factor must be"):
        reg.OrthogonalRegularizer(bad)


def test_orthogonal_regularizer_errors():
    with pytest.raises(ValueError, match="mode must be 'rows' or 'columns'"):
        reg.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ValueError, match=r"expected a weight of rank 2, got shape"):
        reg.OrthogonalRegularizer()(np.ones((2, 2, 2)))


# ------------------------------------------------------- names, configs
@pytest.mark.parametrize(
    "name, cls, config",
    [
        ("l1", reg.L1, {"l1": 0.01}),
        ("L1", reg.L1, {"l1": 0.01}),
        ("l2", reg.L2, {"l2": 0.01}),
        ("L2", reg.L2, {"l2": 0.01}),
        ("l1_l2", reg.L1L2, {"l1": 0.01, "l2": 0.01}),
        ("l1l2", reg.L1L2, {"l1": 0.0, "l2": 0.0}),
        ("L1L2", reg.L1L2, {"l1": 0.0, "l2": 0.0}),
        ("orthogonal_regularizer", reg.OrthogonalRegularizer, None),
        ("OrthogonalRegularizer", reg.OrthogonalRegularizer, None),
    ],
)
def test_names(name, cls, config):
    obj = reg.get(name)
    assert type(obj) is cls
    if config is not None:
        assert obj.get_config() == config


@pytest.mark.parametrize(
    "obj",
    [
        reg.L1(0.2),
        reg.L2(0.3),
        reg.L1L2(0.1, 0.4),
        reg.OrthogonalRegularizer(0.5, "columns"),
    ],
    ids=repr,
)
def test_serialize_round_trip(obj):
    config = json.loads(json.dumps(reg.serialize(obj)))
    back = reg.deserialize(config)
    assert type(back) is type(obj) and back.get_config() == obj.get_config()
    assert reg.get(config).get_config() == obj.get_config()
    assert float(back(W)) == float(obj(W))


def test_get_pass_through_and_errors():
    r = reg.L2(0.3)
    assert reg.get(r) is r and reg.get(None) is None
    assert type(reg.get(reg.L1)) is reg.L1

    def custom(x):
        return 0.0

    assert reg.get(custom) is custom and reg.serialize(custom) == "custom"
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'") as err:
        reg.get("l3")
    assert "l1_l2" in str(err.value) and "orthogonal_regularizer" in str(err.value)
    with pytest.raises(ValueError, match="could not interpret"):
        reg.get(0.1)
    with pytest.raises(NotImplementedError, match="does not implement get_config"):
        reg.Regularizer().get_config()
