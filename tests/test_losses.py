"""Losses: PyTorch parity, finite differences, Keras formulas, reductions, errors."""

from __future__ import annotations

import json
import warnings
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import numdl
from numdl import losses, ops
from numdl.autograd.tensor import Tensor
from numdl.ops import nn
from numdl.testing import check_grad

SETTINGS = settings(max_examples=25, deadline=None)
EPS = 1e-7
seeds = st.integers(0, 2**32 - 1)
# (batch, [time], features or classes)
loss_shapes = st.tuples(
    st.integers(1, 4), st.lists(st.integers(1, 3), max_size=1), st.integers(1, 5)
).map(lambda t: (t[0], *t[1], t[2]))


# ------------------------------------------------------ torch references
def _cls_first(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(-1, 1)  # torch puts the class axis second


def _keras_probs(p: torch.Tensor) -> torch.Tensor:
    """Keras's probability handling: normalise along the class axis, clip."""
    return (p / p.sum(-1, keepdim=True)).clamp(EPS, 1 - EPS)


def _focal(t, p, bce, gamma=2.0, alpha=None):
    p_t = t * p + (1 - t) * (1 - p)
    out = (1 - p_t) ** gamma * bce
    if alpha is not None:
        out = out * (t * alpha + (1 - t) * (1 - alpha))
    return out.mean(-1)


def _bce_probs(t, p):
    return F.binary_cross_entropy(p, t, reduction="none")


def _bce_logits(t, z):
    return F.binary_cross_entropy_with_logits(z, t, reduction="none")


def _categorical_hinge(t, p):
    pos = (t * p).sum(-1)
    neg = ((1 - t) * p).amax(-1)
    return (neg - pos + 1).clamp(min=0)


class Case(NamedTuple):
    name: str
    fn: Any  # numdl: (y_true, y_pred) -> per-sample loss
    ref: Any  # torch: (y_true, y_pred) -> per-sample loss
    kind: str  # how to draw the data, see _data


L = losses
CASES = [
    Case("mse", L.mean_squared_error,
         lambda t, p: F.mse_loss(p, t, reduction="none").mean(-1), "regression"),
    Case("mae", L.mean_absolute_error,
         lambda t, p: F.l1_loss(p, t, reduction="none").mean(-1), "regression"),
    Case("mape", L.mean_absolute_percentage_error,
         lambda t, p: 100 * ((t - p).abs() / t.abs().clamp(min=EPS)).mean(-1),
         "positive"),
    Case("msle", L.mean_squared_logarithmic_error,
         lambda t, p: ((p.clamp(min=EPS).log1p() - t.clamp(min=EPS).log1p()) ** 2
                       ).mean(-1), "positive"),
    Case("huber", L.huber,
         lambda t, p: F.huber_loss(p, t, reduction="none").mean(-1), "regression"),
    Case("huber_delta", lambda t, p: L.huber(t, p, delta=0.3),
         lambda t, p: F.huber_loss(p, t, reduction="none", delta=0.3).mean(-1),
         "regression"),
    Case("log_cosh", L.log_cosh,
         lambda t, p: torch.log(torch.cosh(p - t)).mean(-1), "regression"),
    Case("bce", L.binary_crossentropy,
         lambda t, p: _bce_probs(t, p).mean(-1), "binary_prob"),
    Case("bce_logits", lambda t, p: L.binary_crossentropy(t, p, from_logits=True),
         lambda t, z: _bce_logits(t, z).mean(-1), "binary_logits"),
    Case("bce_logits_smooth",
         lambda t, p: L.binary_crossentropy(
             t, p, from_logits=True, label_smoothing=0.2),
         lambda t, z: _bce_logits(t * 0.8 + 0.1, z).mean(-1), "binary_logits"),
    Case("focal", L.binary_focal_crossentropy,
         lambda t, p: _focal(t, p, _bce_probs(t, p)), "binary_prob"),
    Case("focal_balanced",
         lambda t, p: L.binary_focal_crossentropy(
             t, p, apply_class_balancing=True, alpha=0.3, gamma=1.5),
         lambda t, p: _focal(t, p, _bce_probs(t, p), 1.5, 0.3), "binary_prob"),
    Case("focal_logits",
         lambda t, p: L.binary_focal_crossentropy(t, p, from_logits=True),
         lambda t, z: _focal(t, torch.sigmoid(z), _bce_logits(t, z)),
         "binary_logits"),
    Case("cce", L.categorical_crossentropy,
         lambda t, p: -(t * _keras_probs(p).log()).sum(-1), "dist_prob"),
    Case("cce_logits",
         lambda t, p: L.categorical_crossentropy(t, p, from_logits=True),
         lambda t, z: F.cross_entropy(_cls_first(z), _cls_first(t), reduction="none"),
         "dist_logits"),
    Case("cce_logits_smooth",
         lambda t, p: L.categorical_crossentropy(
             t, p, from_logits=True, label_smoothing=0.1),
         lambda t, z: F.cross_entropy(_cls_first(z), _cls_first(t), reduction="none",
                                      label_smoothing=0.1), "dist_logits"),
    Case("scce", L.sparse_categorical_crossentropy,
         lambda t, p: F.nll_loss(_cls_first(_keras_probs(p).log()), t,
                                 reduction="none"), "sparse_prob"),
    Case("scce_logits",
         lambda t, p: L.sparse_categorical_crossentropy(t, p, from_logits=True),
         lambda t, z: F.cross_entropy(_cls_first(z), t, reduction="none"),
         "sparse_logits"),
    Case("kl_divergence", L.kl_divergence,
         lambda t, p: F.kl_div(p.log(), t, reduction="none").sum(-1), "unit"),
    Case("poisson", L.poisson,
         lambda t, p: F.poisson_nll_loss(p, t, log_input=False, eps=EPS,
                                         reduction="none").mean(-1), "positive"),
    Case("hinge", L.hinge,
         lambda t, p: (1 - t * p).clamp(min=0).mean(-1), "plus_minus_one"),
    Case("squared_hinge", L.squared_hinge,
         lambda t, p: ((1 - t * p).clamp(min=0) ** 2).mean(-1), "plus_minus_one"),
    Case("categorical_hinge", L.categorical_hinge, _categorical_hinge, "one_hot"),
    Case("cosine_similarity", L.cosine_similarity,
         lambda t, p: -F.cosine_similarity(t, p, dim=-1, eps=EPS), "vectors"),
]  # fmt: skip
CASE_IDS = [c.name for c in CASES]


def _data(kind: str, shape: tuple[int, ...], seed: int):
    rng = np.random.default_rng(seed)
    classes = shape[-1]
    if kind == "regression":
        return rng.normal(size=shape), rng.normal(size=shape)
    if kind == "vectors":  # entries >= 0.5 in size: float32 stays well conditioned
        t, p = rng.normal(size=shape), rng.normal(size=shape)
        return t + np.sign(t) * 0.5, p + np.sign(p) * 0.5
    if kind == "positive":
        return rng.uniform(0.1, 3.0, shape), rng.uniform(0.1, 3.0, shape)
    if kind == "unit":
        return rng.uniform(0.01, 1.0, shape), rng.uniform(0.01, 0.99, shape)
    if kind == "binary_prob":
        return rng.uniform(0, 1, shape), rng.uniform(0.01, 0.99, shape)
    if kind == "binary_logits":
        return rng.uniform(0, 1, shape), rng.normal(0, 3, shape)
    if kind == "plus_minus_one":
        p = rng.normal(0, 2, shape)
        p[np.abs(np.abs(p) - 1) < 1e-3] += 1e-2  # away from the kink
        return rng.choice([-1.0, 1.0], shape), p
    if kind.startswith("dist") or kind.startswith("sparse") or kind == "one_hot":
        labels = rng.integers(0, classes, shape[:-1])
        if kind.startswith("sparse"):
            t = labels
        elif kind == "one_hot":
            t = np.eye(classes)[labels]
        else:
            t = rng.dirichlet(np.ones(classes), size=shape[:-1])
        if kind.endswith("prob"):
            p = rng.uniform(0.05, 1.0, shape)
            return t, p / p.sum(-1, keepdims=True)
        return t, rng.normal(0, 3, shape)
    raise AssertionError(kind)


def _ours(fn, t, p, g):
    pt = Tensor(p.copy(), requires_grad=True)
    out = fn(t, pt)
    out.backward(g)
    return out.data, pt.grad


def _torch(ref, t, p, g):
    tt = torch.tensor(t)
    pt = torch.tensor(p, requires_grad=True)
    out = ref(tt, pt)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), pt.grad.numpy()


# --------------------------------------------------------------- parity
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@SETTINGS
@given(shape=loss_shapes, seed=seeds)
def test_float64_parity_with_torch(case, shape, seed):
    t, p = _data(case.kind, shape, seed)
    g = np.random.default_rng(seed + 1).normal(size=shape[:-1])
    out, grad = _ours(case.fn, t, p, g)
    out_ref, grad_ref = _torch(case.ref, t, p, g)
    assert out.shape == shape[:-1]
    np.testing.assert_allclose(out, out_ref, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@SETTINGS
@given(shape=loss_shapes, seed=seeds)
def test_float32_parity_with_torch(case, shape, seed):
    t, p = _data(case.kind, shape, seed)
    t = t if t.dtype.kind == "i" else t.astype(np.float32)
    p = p.astype(np.float32)
    g = np.random.default_rng(seed + 1).normal(size=shape[:-1]).astype(np.float32)
    out, grad = _ours(case.fn, t, p, g)
    # the exact answer for the float32 inputs: torch's own float32 is noisier
    # where the result cancels to 0 (cosine similarity of 1-vectors)
    f64 = (lambda a: a) if t.dtype.kind == "i" else (lambda a: a.astype(np.float64))
    out_ref, grad_ref = _torch(case.ref, f64(t), p.astype(np.float64), g.astype(float))
    assert out.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(out, out_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@SETTINGS
@given(shape=loss_shapes, seed=seeds)
def test_gradient_matches_finite_differences(case, shape, seed):
    t, p = _data(case.kind, shape, seed)
    assert check_grad(lambda pt: case.fn(t, pt), p)[0] < 1e-6


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_numpy_in_numpy_out(case):
    t, p = _data(case.kind, (3, 4), 0)
    out = case.fn(t, p)
    assert type(out) is np.ndarray and out.shape == (3,)
    out_list = case.fn(t.tolist(), p.tolist())
    assert type(out_list) is np.ndarray
    np.testing.assert_allclose(out_list, out)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_empty_batch(case):
    t, p = _data(case.kind, (0, 3), 0)
    out, grad = _ours(case.fn, t, p, np.zeros(0))
    assert out.shape == (0,) and grad.shape == (0, 3)


# ------------------------------------------------------------- extremes
PROBS = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1e-38], [0.5, 1e-38, 0.5]])
TARGETS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
LOGITS = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e-38], [0.0, 1e-38, -1e4]])
LABELS = np.array([1, 0, 2])
EXTREME_CASES = {
    "bce": (L.binary_crossentropy, TARGETS, PROBS),
    "bce_logits": (
        lambda t, p: L.binary_crossentropy(t, p, from_logits=True), TARGETS, LOGITS),
    "focal": (L.binary_focal_crossentropy, TARGETS, PROBS),
    "focal_logits": (
        lambda t, p: L.binary_focal_crossentropy(t, p, from_logits=True),
        TARGETS, LOGITS),
    "cce": (L.categorical_crossentropy, TARGETS, PROBS),
    "cce_logits": (
        lambda t, p: L.categorical_crossentropy(t, p, from_logits=True),
        TARGETS, LOGITS),
    "scce": (L.sparse_categorical_crossentropy, LABELS, PROBS),
    "scce_logits": (
        lambda t, p: L.sparse_categorical_crossentropy(t, p, from_logits=True),
        LABELS, LOGITS),
    "kl_divergence": (L.kl_divergence, PROBS[::-1], PROBS),
    "poisson": (L.poisson, TARGETS, PROBS),
    "msle": (L.mean_squared_logarithmic_error, PROBS[::-1], PROBS),
    "mape": (L.mean_absolute_percentage_error, PROBS[::-1], PROBS),
    "log_cosh": (L.log_cosh, TARGETS, LOGITS),
    "huber": (L.huber, TARGETS, LOGITS),
    "mse": (L.mean_squared_error, TARGETS, LOGITS),
    "hinge": (L.hinge, TARGETS, LOGITS),
    "cosine_similarity": (L.cosine_similarity, np.zeros((3, 3)), PROBS * 0),
}  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(EXTREME_CASES))
def test_extremes_finite_without_warnings(name, dtype):
    fn, t, p = EXTREME_CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pt = Tensor(p.astype(dtype), requires_grad=True)
        out = fn(t, pt)
        out.backward(np.ones(out.shape, dtype=dtype))
        plain = fn(t, p.astype(dtype))
    assert np.isfinite(out.data).all() and np.isfinite(pt.grad).all()
    np.testing.assert_array_equal(plain, out.data)


def test_logits_are_exact_at_extremes():
    z = np.array([[1e4], [-1e4], [30.0]])
    y = np.array([[0.0], [1.0], [1.0]])
    expected = [1e4, 1e4, np.log1p(np.exp(-30.0))]
    np.testing.assert_allclose(
        L.binary_crossentropy(y, z, from_logits=True), expected, rtol=1e-15
    )
    logits = np.array([[1e4, -1e4, 0.0]])
    np.testing.assert_allclose(
        L.sparse_categorical_crossentropy([1], logits, from_logits=True), [2e4]
    )


# ------------------------------------------------------- Keras formulas
def _np_clip(p):
    return np.clip(p, EPS, 1 - EPS)


@SETTINGS
@given(seed=seeds, smoothing=st.sampled_from([0.0, 0.1, 0.5]))
def test_binary_crossentropy_keras_formula(seed, smoothing):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, (4, 3)).astype(float)
    p = rng.choice([0.0, 1.0, 1e-9, 0.3, 0.9999999999], (4, 3))
    ts = t * (1 - smoothing) + 0.5 * smoothing
    pc = _np_clip(p)
    expected = -(ts * np.log(pc) + (1 - ts) * np.log(1 - pc)).mean(-1)
    out = L.binary_crossentropy(t, p, label_smoothing=smoothing)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_probability_clipping_kills_the_gradient_outside_eps():
    p = Tensor(np.array([[0.0, 1.0, 0.5]]), requires_grad=True)
    out = L.binary_crossentropy(np.array([[1.0, 0.0, 1.0]]), p)
    np.testing.assert_allclose(out.data, [(-2 * np.log(EPS) + np.log(2)) / 3])
    out.backward(np.ones(1))
    np.testing.assert_allclose(p.grad, [[0.0, 0.0, -2.0 / 3.0]])


@SETTINGS
@given(seed=seeds, smoothing=st.sampled_from([0.0, 0.2]))
def test_categorical_crossentropy_keras_formula(seed, smoothing):
    """Keras normalises the probabilities, then clips; zeros are allowed."""
    rng = np.random.default_rng(seed)
    p = rng.choice([0.0, 0.2, 1.0, 3.0], (5, 4))
    p[:, 0] += 0.5  # no all-zero row
    t = np.eye(4)[rng.integers(0, 4, 5)]
    ts = t * (1 - smoothing) + smoothing / 4
    expected = -(ts * np.log(_np_clip(p / p.sum(-1, keepdims=True)))).sum(-1)
    out = L.categorical_crossentropy(t, p, label_smoothing=smoothing)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    sparse = L.sparse_categorical_crossentropy(t.argmax(-1), p)
    if smoothing == 0:
        np.testing.assert_allclose(sparse, expected, rtol=1e-12)


@SETTINGS
@given(
    seed=seeds,
    balancing=st.booleans(),
    gamma=st.sampled_from([0.0, 1.0, 2.0, 2.5]),
    smoothing=st.sampled_from([0.0, 0.1]),
    from_logits=st.booleans(),
)
def test_binary_focal_keras_formula(seed, balancing, gamma, smoothing, from_logits):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, (3, 4)).astype(float)
    z = rng.normal(0, 2, (3, 4))
    p = 1 / (1 + np.exp(-z)) if from_logits else rng.uniform(0, 1, (3, 4))
    t = labels * (1 - smoothing) + 0.5 * smoothing
    if from_logits:  # exact: -log(sigmoid(z)) = log(1 + exp(-z))
        bce = t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)
    else:
        pc = _np_clip(p)
        bce = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
    p_t = t * p + (1 - t) * (1 - p)
    expected = (1 - p_t) ** gamma * bce
    if balancing:
        expected *= t * 0.4 + (1 - t) * 0.6
    out = L.binary_focal_crossentropy(
        labels,
        z if from_logits else p,
        apply_class_balancing=balancing,
        alpha=0.4,
        gamma=gamma,
        from_logits=from_logits,
        label_smoothing=smoothing,
    )
    np.testing.assert_allclose(out, expected.mean(-1), rtol=1e-10, atol=1e-15)


def test_hinge_converts_binary_labels_only():
    p = np.array([[0.3, -2.0, 1.5]])
    binary = np.array([[1.0, 0.0, 0.0]])
    expected = np.maximum(1 - (2 * binary - 1) * p, 0).mean(-1)
    np.testing.assert_allclose(L.hinge(binary, p), expected, rtol=1e-15)
    np.testing.assert_allclose(L.squared_hinge(binary, p), [(0.7**2 + 2.5**2) / 3])
    other = np.array([[0.5, 0.0, 2.0]])  # not all 0/1: used as they are
    expected = np.maximum(1 - other * p, 0).mean(-1)
    np.testing.assert_allclose(L.hinge(other, p), expected, rtol=1e-15)


def test_kl_divergence_clips_both_sides():
    t = np.array([[0.0, 1.0]])
    p = np.array([[0.5, 0.0]])
    tc, pc = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    np.testing.assert_allclose(L.kl_divergence(t, p), (tc * np.log(tc / pc)).sum(-1))


def test_msle_and_mape_use_epsilon():
    np.testing.assert_allclose(
        L.mean_squared_logarithmic_error([[-1.0]], [[-3.0]]), [0.0]
    )
    np.testing.assert_allclose(
        L.mean_absolute_percentage_error([[0.0]], [[1.0]]), [100.0 / EPS]
    )


def test_cosine_similarity_keras_documented_example_and_zero_vector():
    y_true = [[0.0, 1.0], [1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]
    y_pred = [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0], [3.0, 4.0]]
    out = L.cosine_similarity(y_true, y_pred)
    np.testing.assert_allclose(out, [0.0, -1.0, 1.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("axis", [0, 1])
def test_cross_entropy_axis(axis):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 4, 2))
    labels = rng.integers(
        0, z.shape[axis], [n for i, n in enumerate(z.shape) if i != axis]
    )
    ref = F.cross_entropy(torch.tensor(z).movedim(axis, 1), torch.tensor(labels),
                          reduction="none")  # fmt: skip
    out = L.sparse_categorical_crossentropy(labels, z, from_logits=True, axis=axis)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-12)
    onehot = np.moveaxis(np.eye(z.shape[axis])[labels], -1, axis)
    out = L.categorical_crossentropy(onehot, z, from_logits=True, axis=axis)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-12)
    p = np.exp(z) / np.exp(z).sum(axis, keepdims=True)
    out = L.categorical_crossentropy(onehot, p, axis=axis)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10)


# ----------------------------------------------------- classes, reduction
Y_TRUE = [[0.0, 1.0], [0.0, 0.0]]
Y_PRED = [[1.0, 1.0], [1.0, 0.0]]


def test_mean_squared_error_keras_documented_values():
    assert float(L.MeanSquaredError()(Y_TRUE, Y_PRED)) == pytest.approx(0.5)
    weighted = L.MeanSquaredError()(Y_TRUE, Y_PRED, sample_weight=[0.7, 0.3])
    assert float(weighted) == pytest.approx(0.25)
    assert float(L.MeanSquaredError(reduction="sum")(Y_TRUE, Y_PRED)) == 1.0
    none = L.MeanSquaredError(reduction="none")(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(none, [0.5, 0.5])


def test_categorical_crossentropy_keras_documented_values():
    y_true = [[0, 1, 0], [0, 0, 1]]
    y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    cce = L.CategoricalCrossentropy()
    assert float(cce(y_true, y_pred)) == pytest.approx(1.177, abs=1e-3)
    weighted = cce(y_true, y_pred, sample_weight=np.array([0.3, 0.7]))
    assert float(weighted) == pytest.approx(0.814, abs=1e-3)
    total = L.CategoricalCrossentropy(reduction="sum")(y_true, y_pred)
    assert float(total) == pytest.approx(2.354, abs=1e-3)
    none = L.CategoricalCrossentropy(reduction=None)(y_true, y_pred)
    np.testing.assert_allclose(none, [0.0513, 2.303], atol=1e-3)
    scce = L.SparseCategoricalCrossentropy()
    assert float(scce([1, 2], y_pred)) == pytest.approx(1.177, abs=1e-3)


def test_huber_and_log_cosh_keras_documented_values():
    y_true = [[0, 1], [0, 0]]
    assert float(L.Huber()(y_true, [[0.6, 0.4], [0.4, 0.6]])) == pytest.approx(0.155)
    assert float(L.LogCosh()(y_true, [[1.0, 1.0], [0.0, 0.0]])) == pytest.approx(
        np.log(np.cosh(1.0)) / 4
    )


REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none"]


def _keras_reduce(values, weights, reduction):
    """Keras 3's reduce_weighted_values, written out (weights broadcast per sample)."""
    if weights is not None:
        weights = weights.reshape(weights.shape + (1,) * (values.ndim - weights.ndim))
        values = values * weights
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and weights is not None:
        return values.sum() / np.broadcast_to(weights, values.shape).sum()
    return values.sum() / values.size


@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(
    seed=seeds,
    batch=st.integers(1, 5),
    time=st.sampled_from([(), (3,)]),
    weighted=st.booleans(),
)
def test_reductions_with_sample_weight(reduction, seed, batch, time, weighted):
    rng = np.random.default_rng(seed)
    shape = (batch, *time, 4)
    t, p = rng.normal(size=shape), rng.normal(size=shape)
    w = rng.uniform(0.1, 2.0, batch) if weighted else None
    per_sample = ((t - p) ** 2).mean(-1)  # Keras's mean_squared_error
    expected = _keras_reduce(per_sample, w, reduction)
    out = L.MeanSquaredError(reduction=reduction)(t, p, sample_weight=w)
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # the same through a Tensor, with a gradient
    pt = Tensor(p, requires_grad=True)
    out_t = L.MeanSquaredError(reduction=reduction)(t, pt, sample_weight=w)
    np.testing.assert_allclose(out_t.data, expected, rtol=1e-12)
    (out_t * 1.0).sum().backward()
    assert pt.grad.shape == shape


@pytest.mark.parametrize(
    "reduction", ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"]
)
def test_sparse_ignore_class_reduction_matches_torch(reduction):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(6, 5))
    labels = np.array([0, -1, 4, 2, -1, 1])
    loss = L.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=-1, reduction=reduction
    )
    zt = Tensor(z.copy(), requires_grad=True)
    out = loss(labels, zt)
    torch_reduction = {"sum_over_batch_size": "mean"}.get(reduction, reduction)
    if reduction == "mean_with_sample_weight":  # no weights: the mask's sum counts
        torch_reduction = "mean"
    ref_z = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(
        ref_z, torch.tensor(labels), ignore_index=-1, reduction=torch_reduction
    )
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12)
    (out * 1.0).sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(zt.grad, ref_z.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert (zt.grad[[1, 4]] == 0).all()


def test_sparse_ignore_class_with_sample_weight_and_probabilities():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.1, 1.0, (4, 3))
    labels = np.array([[2], [255], [0], [1]])  # (batch, 1) is squeezed, as in Keras
    w = np.array([0.5, 2.0, 1.0, 3.0])
    q = _np_clip(p / p.sum(-1, keepdims=True))
    valid = labels[:, 0] != 255
    per_sample = np.where(valid, -np.log(q[np.arange(4), labels[:, 0] % 3]), 0.0)
    loss = L.SparseCategoricalCrossentropy(ignore_class=255)
    out = loss(labels, p, sample_weight=w)
    np.testing.assert_allclose(out, (per_sample * w).sum() / valid.sum(), rtol=1e-12)
    fn = L.sparse_categorical_crossentropy(labels, p, ignore_class=255)
    np.testing.assert_allclose(fn, per_sample, rtol=1e-12)
    everything_ignored = loss(np.full(4, 255), p)
    assert float(everything_ignored) == 0.0


def test_empty_batch_reduces_to_zero():
    for reduction in ["sum_over_batch_size", "sum", "mean_with_sample_weight"]:
        loss = L.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
        assert float(loss(np.zeros(0, dtype=int), np.zeros((0, 3)))) == 0.0
    assert L.MeanSquaredError(reduction="none")(np.zeros((0, 2)), np.zeros((0, 2))
                                                 ).shape == (0,)  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float32_tensor_keeps_float32(case):
    t, p = _data(case.kind, (2, 3), 1)
    pt = numdl.tensor(p, requires_grad=True)  # float32
    out = case.fn(t, pt)
    assert out.dtype == np.float32
    out.sum().backward()
    assert pt.grad.dtype == np.float32


# ----------------------------------------------------------------- errors
def test_sparse_label_out_of_range_names_label_and_index():
    p = np.full((3, 3), 1 / 3)
    for from_logits in (False, True):
        with pytest.raises(ValueError, match=r"label 3 at index 1 .*\[0, 2\]"):
            L.sparse_categorical_crossentropy([0, 3, 1], p, from_logits=from_logits)
        with pytest.raises(ValueError, match="label -1 at index 2"):
            L.sparse_categorical_crossentropy([0, 1, -1], p, from_logits=from_logits)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: label 7"):
        L.SparseCategoricalCrossentropy()(np.array([7, 0, 0]), p)
    with pytest.raises(ValueError, match=r"label 5 at index \(1, 0\)"):
        L.sparse_categorical_crossentropy([[0, 1], [5, 2]], np.ones((2, 2, 3)))
    with pytest.raises(ValueError, match=r"label -2 at index 0"):  # not ignored
        L.sparse_categorical_crossentropy([-2, -1, 0], p, ignore_class=-1)
    with pytest.raises(ValueError, match="integer class indices, got 1.5"):
        L.sparse_categorical_crossentropy([0.0, 1.5, 2.0], p)
    np.testing.assert_allclose(  # float labels holding integers are fine
        L.sparse_categorical_crossentropy([0.0, 1.0, 2.0], p), np.log(3) * np.ones(3)
    )


@pytest.mark.parametrize(
    "fn, t_shape, p_shape",
    [
        (L.binary_crossentropy, (32,), (32, 2)),
        (L.mean_squared_error, (4, 3), (3, 4)),
        (L.categorical_crossentropy, (8, 10), (8, 9)),
        (L.hinge, (2, 3, 1), (2, 4)),
        (L.kl_divergence, (5,), (5, 1, 1)),
    ],
)
def test_shape_mismatch_names_loss_and_shapes(fn, t_shape, p_shape):
    with pytest.raises(ValueError) as info:
        fn(np.zeros(t_shape), np.full(p_shape, 0.5))
    message = str(info.value)
    assert fn.__name__ in message
    assert str(t_shape) in message and str(p_shape) in message


def test_sparse_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 5\).*\(3,\)"):
        L.sparse_categorical_crossentropy(np.zeros(4, dtype=int), np.ones((3, 5)))


def test_rank_off_by_one_is_squeezed_or_expanded_like_keras():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, 32).astype(float)
    p = rng.uniform(0.1, 0.9, (32, 1))
    expected = L.binary_crossentropy(t[:, None], p)
    assert expected.shape == (32,)
    np.testing.assert_array_equal(L.binary_crossentropy(t, p), expected)
    np.testing.assert_array_equal(L.binary_crossentropy(t[:, None], p[:, 0]), expected)
    q = rng.uniform(size=(4, 3, 1))
    s = rng.uniform(size=(4, 3))
    np.testing.assert_array_equal(
        L.mean_squared_error(s, q), L.mean_squared_error(s, q[..., 0])
    )
    bce = L.BinaryCrossentropy()
    assert float(bce(t, p)) == pytest.approx(float(expected.mean()), rel=1e-12)


def test_bad_sample_weight_and_reduction():
    with pytest.raises(ValueError, match=r"mean_squared_error: sample_weight.*\(3,\)"):
        L.MeanSquaredError()(
            np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(3)
        )
    with pytest.raises(ValueError, match="invalid reduction 'avg'"):
        L.MeanSquaredError(reduction="avg")


# ------------------------------------------------------------------ names
FUNCTION_NAMES = {
    "mean_squared_error": L.mean_squared_error, "mse": L.mean_squared_error,
    "MSE": L.mean_squared_error, "mae": L.mean_absolute_error,
    "mape": L.mean_absolute_percentage_error,
    "msle": L.mean_squared_logarithmic_error, "huber": L.huber,
    "log_cosh": L.log_cosh, "binary_crossentropy": L.binary_crossentropy,
    "binary_focal_crossentropy": L.binary_focal_crossentropy,
    "categorical_crossentropy": L.categorical_crossentropy,
    "sparse_categorical_crossentropy": L.sparse_categorical_crossentropy,
    "kl_divergence": L.kl_divergence, "kld": L.kl_divergence,
    "poisson": L.poisson, "hinge": L.hinge, "squared_hinge": L.squared_hinge,
    "categorical_hinge": L.categorical_hinge,
    "cosine_similarity": L.cosine_similarity,
}  # fmt: skip
CLASSES = [
    (L.MeanSquaredError, {}), (L.MeanAbsoluteError, {}),
    (L.MeanAbsolutePercentageError, {}), (L.MeanSquaredLogarithmicError, {}),
    (L.Huber, {"delta": 2.0}), (L.LogCosh, {}),
    (L.BinaryCrossentropy, {"from_logits": True, "label_smoothing": 0.1}),
    (L.BinaryFocalCrossentropy, {"apply_class_balancing": True, "gamma": 3.0}),
    (L.CategoricalCrossentropy, {"from_logits": True, "axis": -1}),
    (L.SparseCategoricalCrossentropy, {"ignore_class": 0}),
    (L.KLDivergence, {}), (L.Poisson, {}), (L.Hinge, {}), (L.SquaredHinge, {}),
    (L.CategoricalHinge, {}), (L.CosineSimilarity, {"axis": 0}),
]  # fmt: skip


@pytest.mark.parametrize("name", sorted(FUNCTION_NAMES))
def test_get_function_names(name):
    fn = L.get(name)
    assert fn is FUNCTION_NAMES[name]
    assert L.get(L.serialize(fn)) is fn


@pytest.mark.parametrize("cls, kwargs", CLASSES, ids=[c.__name__ for c, _ in CLASSES])
def test_class_config_round_trip(cls, kwargs):
    loss = cls(reduction="sum", name="custom", **kwargs)
    config = loss.get_config()
    assert config["reduction"] == "sum" and config["name"] == "custom"
    for key, value in kwargs.items():
        assert config[key] == value
    again = cls.from_config(config)
    assert again.get_config() == config
    data = json.loads(json.dumps(L.serialize(loss)))
    restored = L.deserialize(data)
    assert type(restored) is cls and restored.get_config() == config
    instance = L.get(cls.__name__)
    assert type(instance) is cls and instance.reduction == "sum_over_batch_size"


def test_get_passes_through_and_rejects():
    loss = L.BinaryCrossentropy()
    assert L.get(loss) is loss
    assert L.get(None) is None
    assert isinstance(L.get({"class_name": "Huber", "config": {}}), L.Huber)
    with pytest.raises(ValueError, match="not_a_loss"):
        L.get("not_a_loss")
    with pytest.raises(ValueError):
        L.get(42)


# ------------------------------------------- fused means (cross-entropy from logits)
def _fused_cases(rng, shape):
    z = rng.normal(size=shape) * 3
    labels = rng.integers(0, shape[-1], shape[:-1])
    onehot = np.eye(shape[-1])[labels]
    y01 = rng.integers(0, 2, shape).astype(float)
    return [
        (L.SparseCategoricalCrossentropy(from_logits=True), labels, z),
        (L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), onehot, z),
        (L.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), y01, z),
    ]


@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 6), (1, 1)])
@pytest.mark.parametrize(
    "reduction", ["sum_over_batch_size", "mean_with_sample_weight"]
)
def test_fused_mean_equals_per_sample_losses_then_mean(shape, reduction):
    # The Loss's mean comes from the op itself (one op in the graph); it must
    # equal the per-sample losses averaged by _reduce, value and gradient.
    rng = np.random.default_rng(sum(shape))
    for loss, y, z in _fused_cases(rng, shape):
        loss.reduction = reduction
        fused_z, plain_z = (Tensor(z.copy(), requires_grad=True) for _ in "ab")
        fused = loss(y, fused_z)
        assert fused._ctx.inputs[0] is fused_z  # the op took the logits directly
        per_sample = loss.call(y, plain_z)
        plain = per_sample.mean() if per_sample.shape else per_sample
        np.testing.assert_allclose(fused.data, plain.data, rtol=1e-12)
        fused.backward()
        plain.backward()
        np.testing.assert_allclose(fused_z.grad, plain_z.grad, rtol=1e-12, atol=1e-16)
        on_arrays = loss(y, z)  # NumPy in, a 0-d array out (as unfused)
        assert type(on_arrays) is np.ndarray and on_arrays.shape == ()
        np.testing.assert_allclose(on_arrays, plain.data, rtol=1e-12)


def test_fused_means_match_torch_float32():
    rng = np.random.default_rng(7)
    z = (rng.normal(size=(32, 10)) * 5).astype(np.float32)
    labels = rng.integers(0, 10, 32)
    zt = Tensor(z.copy(), requires_grad=True)
    out = L.SparseCategoricalCrossentropy(from_logits=True)(labels, zt)
    out.backward()
    ref_z = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(ref_z, torch.tensor(labels))
    ref.backward()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(zt.grad, ref_z.grad.numpy(), rtol=1e-5, atol=1e-7)
    y = rng.integers(0, 2, (32, 1)).astype(np.float32)
    zt = Tensor(z[:, :1].copy(), requires_grad=True)
    out = L.BinaryCrossentropy(from_logits=True)(y, zt)
    out.backward()
    ref_z = torch.tensor(z[:, :1], requires_grad=True)
    ref = F.binary_cross_entropy_with_logits(ref_z, torch.tensor(y))
    ref.backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(zt.grad, ref_z.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_fused_mean_with_every_label_ignored_is_zero_without_gradient():
    zt = Tensor(np.ones((3, 4)), requires_grad=True)
    loss = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2)
    out = loss(np.full(3, 2), zt)
    out.backward()
    assert float(out.data) == 0.0 and not zt.grad.any()


def test_cross_entropy_ops_reduction_argument():
    z, y = np.zeros((2, 3)), np.array([0, 2])
    mean = numdl.ops.softmax_cross_entropy(z, y, reduction="mean")
    np.testing.assert_allclose(mean, np.log(3.0), rtol=1e-12)
    bce = numdl.ops.sigmoid_binary_crossentropy(z, np.ones((2, 3)), reduction="mean")
    np.testing.assert_allclose(bce, np.log(2.0), rtol=1e-12)
    with pytest.raises(ValueError, match="softmax_cross_entropy: reduction must be"):
        numdl.ops.softmax_cross_entropy(z, y, reduction="sum")
    with pytest.raises(ValueError, match="sigmoid_binary_crossentropy: reduction"):
        numdl.ops.sigmoid_binary_crossentropy(z, z, reduction="avg")


# ------------------------------------------ sparse cross-entropy on probabilities
def _composite_sparse_prob_ce(labels, p, eps):
    """Keras's composite, op by op: normalise, clip, log, pick."""
    onehot = (np.arange(p.shape[1]) == np.asarray(labels)[:, None]).astype(p.dtype)
    q = ops.clip(p / ops.sum(p, axis=1, keepdims=True), eps, 1.0 - eps)
    return -ops.sum(ops.log(q) * onehot, axis=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_probabilities_in_one_op_equal_the_composite(dtype):
    """The fused op's losses equal the composite's bit for bit and its
    gradient to rounding, rows inside and outside the clip range (true
    class ~0, ~1, exactly 0, unnormalised rows)."""
    rng = np.random.default_rng(4)
    p = rng.random((7, 4)) + 0.05
    p[1] = [1e-12, 0.5, 0.3, 0.2]  # q < eps: clipped, no gradient
    p[2] = [1.0, 1e-12, 1e-12, 1e-12]  # q > 1 - eps: clipped
    p[3] = [0.0, 0.4, 0.4, 0.2]  # the true class has probability 0
    p[4] *= 3.0  # rows need not sum to 1
    p = p.astype(dtype)
    labels = np.array([2, 0, 0, 0, 1, 3, 1])
    g = rng.normal(size=7).astype(dtype)
    eps = numdl.config.epsilon()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours_in = Tensor(p.copy(), requires_grad=True)
        ours = L.sparse_categorical_crossentropy(labels, ours_in)
        ours.backward(g)
    assert isinstance(ours._ctx, nn.SparseProbabilityCrossEntropy)  # one op
    ref_in = Tensor(p.copy(), requires_grad=True)
    ref = _composite_sparse_prob_ce(labels, ref_in, eps)
    ref.backward(g)
    np.testing.assert_array_equal(ours.data, ref.data)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ours_in.grad, ref_in.grad, rtol=tol, atol=tol)
    assert (ours_in.grad[[1, 2, 3]] == 0).all()  # clipped rows pass nothing
    assert ours_in.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_categorical_probabilities_in_one_op_equal_the_composite(dtype):
    """One op for categorical cross-entropy on probabilities: the composite's
    losses bit for bit, both gradients (probabilities and soft labels) to
    rounding, entries clipped at both ends and a probability of 0."""
    rng = np.random.default_rng(5)
    p = rng.random((6, 4)) + 0.05
    p[1] = [1e-12, 0.5, 0.3, 0.2]
    p[2] = [1.0, 1e-12, 1e-12, 1e-12]
    p[3] = [0.0, 0.4, 0.4, 0.2]
    p[4] *= 3.0
    p = p.astype(dtype)
    t = rng.dirichlet(np.ones(4), size=6).astype(dtype)  # soft labels
    g = rng.normal(size=6).astype(dtype)
    eps = numdl.config.epsilon()
    results = []
    for fused in (True, False):
        pt = Tensor(p.copy(), requires_grad=True)
        tt = Tensor(t.copy(), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if fused:
                out = L.categorical_crossentropy(tt, pt)
                assert isinstance(out._ctx, nn.ProbabilityCrossEntropy)  # one op
            else:
                q = ops.clip(pt / ops.sum(pt, axis=-1, keepdims=True), eps, 1 - eps)
                out = -ops.sum(tt * ops.log(q), axis=-1)
            out.backward(g)
        results.append((out.data, pt.grad, tt.grad))
    (out, gp, gt), (ref, ref_gp, ref_gt) = results
    np.testing.assert_array_equal(out, ref)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(gp, ref_gp, rtol=tol, atol=tol)
    np.testing.assert_allclose(gt, ref_gt, rtol=tol, atol=tol)
    assert gp.dtype == dtype and gt.dtype == dtype
