"""Metrics: direct NumPy formulas and scikit-learn, accumulation, weights, names."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
import torch
import torch.nn.functional as F

import numdl
from numdl import metrics

EPS = 1e-7
RNG = np.random.default_rng(0)
N, C = 97, 4


def _weights(n=N):
    return RNG.uniform(0.1, 2.0, size=n)


def _wmean(values, w=None):
    return float(np.average(values, weights=w))


def _batches(n, sizes=(10, 31)):
    """Three uneven consecutive slices covering range(n)."""
    cuts = [0, *sizes, n]
    return [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]


# ------------------------------------------------------------ Mean and Sum
def test_mean_and_sum_weighted():
    v, w = RNG.normal(size=N), _weights()
    m, s = metrics.Mean(), metrics.Sum()
    assert m.result() == 0.0 and s.result() == 0.0  # nothing seen yet
    m.update_state(v, sample_weight=w)
    s.update_state(v, sample_weight=w)
    assert m.result() == pytest.approx(np.sum(v * w) / np.sum(w), rel=1e-12)
    assert s.result() == pytest.approx(np.sum(v * w), rel=1e-12)
    assert isinstance(m.result(), float)
    m.reset_state()
    m.update_state(v)
    assert m.result() == pytest.approx(v.mean(), rel=1e-12)


def test_mean_reduces_extra_axes_per_sample():
    v, w = RNG.normal(size=(N, 3, 2)), _weights()
    m = metrics.Mean()
    m.update_state(v, sample_weight=w[:, None])  # (n, 1) weights are squeezed
    assert m.result() == pytest.approx(_wmean(v.mean(axis=(1, 2)), w), rel=1e-12)
    full = RNG.uniform(0.1, 1, size=(N, 3))  # weights per entry
    m.reset_state()
    m.update_state(v[..., 0], sample_weight=full)
    assert m.result() == pytest.approx(_wmean(v[..., 0], full), rel=1e-12)


def test_mean_scalar_weight_counts_one_batch_as_weight():
    """Keras: a scalar weight weights the batch mean as one sample."""
    m = metrics.Mean()
    m.update_state(np.array(3.0), sample_weight=2.0)
    m.update_state(np.array([1.0, 2.0]), sample_weight=1.0)  # values averaged first
    assert m.result() == pytest.approx((3 * 2 + 1.5 * 1) / 3)


def test_mean_accepts_tensors_and_lists():
    t = numdl.tensor(np.arange(4.0), requires_grad=True)
    m = metrics.Mean()
    m.update_state(t, sample_weight=[1, 1, 0, 0])
    assert m.result() == 0.5 and t.grad is None


def test_sample_weight_shape_error():
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not"):
        metrics.Mean().update_state(np.ones(4), sample_weight=np.ones(3))


# ------------------------------------------------------ accuracy metrics
def _labels(n=N, c=C):
    return RNG.integers(0, c, size=n)


def _probs(n=N, c=C):
    p = RNG.uniform(size=(n, c))
    return p / p.sum(-1, keepdims=True)


def test_accuracy():
    y = _labels()[:, None]
    p = np.where(RNG.uniform(size=(N, 1)) < 0.6, y, (y + 1) % C)
    w = _weights()
    m = metrics.Accuracy()
    m.update_state(y, p, sample_weight=w)
    assert m.result() == pytest.approx(_wmean((y == p)[:, 0], w), rel=1e-6)
    rank1 = metrics.Accuracy()
    rank1.update_state(y[:, 0], p[:, 0], sample_weight=w)  # each entry a sample
    assert rank1.result() == pytest.approx(m.result(), rel=1e-12)


@pytest.mark.parametrize("threshold", [0.5, 0.3])
@pytest.mark.parametrize("shape", [(N,), (N, 1), (N, 3)])
def test_binary_accuracy(threshold, shape):
    y = RNG.integers(0, 2, size=shape)
    p = RNG.uniform(size=shape)
    w = _weights()
    m = metrics.BinaryAccuracy(threshold=threshold)
    m.update_state(y, p, sample_weight=w)
    hits = (y == (p > threshold)).reshape(N, -1).mean(axis=1)
    assert m.result() == pytest.approx(_wmean(hits, w), rel=1e-6)


def test_categorical_and_sparse_categorical_accuracy():
    y, p, w = _labels(), _probs(), _weights()
    expected = _wmean(y == p.argmax(-1), w)
    cat = metrics.CategoricalAccuracy()
    cat.update_state(np.eye(C)[y], p, sample_weight=w)
    assert cat.result() == pytest.approx(expected, rel=1e-6)
    for labels in (y, y[:, None], y.astype(np.float32)):
        sparse = metrics.SparseCategoricalAccuracy()
        sparse.update_state(labels, p, sample_weight=w)
        assert sparse.result() == pytest.approx(expected, rel=1e-6)


def _top_k_hits(y, p, k):
    """A label is in the top k when fewer than k classes score strictly more."""
    better = (p > p[np.arange(len(y)), y][:, None]).sum(-1)
    return better < k


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_top_k_accuracy(k):
    y, w = _labels(), _weights()
    p = RNG.integers(0, 3, size=(N, C)).astype(float)  # many ties
    expected = _wmean(_top_k_hits(y, p, k), w)
    sparse = metrics.SparseTopKCategoricalAccuracy(k=k)
    sparse.update_state(y, p, sample_weight=w)
    assert sparse.result() == pytest.approx(expected, rel=1e-6)
    dense = metrics.TopKCategoricalAccuracy(k=k)
    dense.update_state(np.eye(C)[y], p, sample_weight=w)
    assert dense.result() == pytest.approx(expected, rel=1e-6)


def test_top_k_ties_count_as_hits_like_keras():
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([1, 0], [[0.5, 0.5, 0.0], [0.2, 0.7, 0.1]])
    assert m.result() == 0.5


def test_top_k_sequences_and_errors():
    y = RNG.integers(0, C, size=(5, 6))
    p = RNG.normal(size=(5, 6, C))
    m = metrics.SparseTopKCategoricalAccuracy(k=2)
    m.update_state(y, p)
    flat = _top_k_hits(y.reshape(-1), p.reshape(-1, C), 2)
    assert m.result() == pytest.approx(flat.mean(), rel=1e-6)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\), got values"):
        m.update_state([4], [[0.1, 0.2, 0.3, 0.4]])
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\)"):
        metrics.BinaryAccuracy(threshold=1.0)


# ------------------------------------------- regression and loss metrics
def _regression():
    y = RNG.normal(size=(N, 3))
    p = y + RNG.normal(scale=0.5, size=(N, 3))
    return y, p


def _positive():
    return RNG.uniform(0.1, 2.0, size=(N, 3)), RNG.uniform(0.1, 2.0, size=(N, 3))


def _log_cosh(y, p):
    return np.log(np.cosh(p - y)).mean(-1)


REGRESSION = [
    (metrics.MeanSquaredError, lambda y, p: ((y - p) ** 2).mean(-1), _regression),
    (metrics.MeanAbsoluteError, lambda y, p: np.abs(y - p).mean(-1), _regression),
    (
        metrics.MeanAbsolutePercentageError,
        lambda y, p: 100 * np.abs((y - p) / y).mean(-1),
        _positive,
    ),
    (
        metrics.MeanSquaredLogarithmicError,
        lambda y, p: ((np.log1p(y) - np.log1p(p)) ** 2).mean(-1),
        _positive,
    ),
    (metrics.LogCoshError, _log_cosh, _regression),
    (metrics.Poisson, lambda y, p: (p - y * np.log(p + EPS)).mean(-1), _positive),
    (
        metrics.CosineSimilarity,
        lambda y, p: (
            (y * p).sum(-1) / (np.linalg.norm(y, axis=-1) * np.linalg.norm(p, axis=-1))
        ),
        _regression,
    ),
]


@pytest.mark.parametrize("cls, formula, data", REGRESSION)
def test_regression_metrics(cls, formula, data):
    y, p = data()
    w = _weights()
    m = cls()
    m.update_state(y, p, sample_weight=w)
    assert m.result() == pytest.approx(_wmean(formula(y, p), w), rel=1e-10)
    rank1 = cls()  # rank-1 inputs: one sample per entry, except for cosines
    rank1.update_state(y[:, 0], p[:, 0])
    if cls is metrics.CosineSimilarity:  # of the two whole vectors
        expected = formula(y[:, 0], p[:, 0])
    else:
        expected = formula(y[:, :1], p[:, :1]).mean()
    assert rank1.result() == pytest.approx(expected, 1e-10)


def test_root_mean_squared_error():
    y, p = _regression()
    w = _weights()
    m = metrics.RootMeanSquaredError()
    m.update_state(y, p, sample_weight=w)
    expected = np.sqrt(_wmean(((y - p) ** 2).mean(-1), w))
    assert m.result() == pytest.approx(expected, rel=1e-12)
    m.reset_state()
    m.update_state(y[:, 0], p[:, :1])  # (n,) against (n, 1)
    assert m.result() == pytest.approx(np.sqrt(((y[:, 0] - p[:, 0]) ** 2).mean()))


def test_hinge_metrics():
    y = RNG.integers(0, 2, size=(N, C))
    p = RNG.normal(size=(N, C))
    w = _weights()
    s = 2 * y - 1  # Keras reads 0/1 labels as -1/1
    margins = np.maximum(1 - s * p, 0)
    for cls, values in [
        (metrics.Hinge, margins.mean(-1)),
        (metrics.SquaredHinge, (margins**2).mean(-1)),
    ]:
        m = cls()
        m.update_state(y, p, sample_weight=w)
        assert m.result() == pytest.approx(_wmean(values, w), rel=1e-10)
    onehot = np.eye(C)[_labels()]
    pos = (onehot * p).sum(-1)
    neg = ((1 - onehot) * p).max(-1)
    m = metrics.CategoricalHinge()
    m.update_state(onehot, p, sample_weight=w)
    assert m.result() == pytest.approx(_wmean(np.maximum(neg - pos + 1, 0), w))


def test_kl_divergence():
    y, p, w = _probs(), _probs(), _weights()
    y[0, 0] = 0.0  # clipped to eps, as Keras
    yc, pc = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
    m = metrics.KLDivergence()
    m.update_state(y, p, sample_weight=w)
    assert m.result() == pytest.approx(_wmean((yc * np.log(yc / pc)).sum(-1), w))


def test_crossentropy_metrics_against_torch():
    y, p, w = _labels(), _probs(), _weights()
    logits = RNG.normal(size=(N, C))
    ce = F.cross_entropy(torch.tensor(np.log(p)), torch.tensor(y), reduction="none")
    ce_logits = F.cross_entropy(torch.tensor(logits), torch.tensor(y), reduction="none")
    cases = [
        (metrics.CategoricalCrossentropy(), np.eye(C)[y], p, ce),
        (metrics.SparseCategoricalCrossentropy(), y, p, ce),
        (metrics.SparseCategoricalCrossentropy(from_logits=True), y, logits, ce_logits),
        (
            metrics.CategoricalCrossentropy(from_logits=True),
            np.eye(C)[y],
            logits,
            ce_logits,
        ),
    ]
    for m, yt, yp, ref in cases:
        m.update_state(yt, yp, sample_weight=w)
        assert m.result() == pytest.approx(_wmean(ref.numpy(), w), rel=1e-10), m
    yb, pb = RNG.integers(0, 2, size=(N, 3)).astype(float), RNG.uniform(size=(N, 3))
    bce = F.binary_cross_entropy(torch.tensor(pb), torch.tensor(yb), reduction="none")
    m = metrics.BinaryCrossentropy()
    m.update_state(yb, pb, sample_weight=w)
    assert m.result() == pytest.approx(_wmean(bce.numpy().mean(-1), w), rel=1e-10)
    zb = RNG.normal(size=N)
    ref = F.binary_cross_entropy_with_logits(
        torch.tensor(zb), torch.tensor(yb[:, 0]), reduction="none"
    )
    m = metrics.BinaryCrossentropy(from_logits=True)
    m.update_state(yb[:, 0], zb, sample_weight=w)  # rank 1: one sample per entry
    assert m.result() == pytest.approx(_wmean(ref.numpy(), w), rel=1e-10)


def test_mean_metric_wrapper_with_a_plain_function():
    def max_error(y_true, y_pred):
        return np.abs(y_true - y_pred).max(-1)

    y, p = _regression()
    m = metrics.get(max_error)
    assert isinstance(m, metrics.MeanMetricWrapper) and m.name == "max_error"
    m.update_state(y, p)
    assert m.result() == pytest.approx(np.abs(y - p).max(-1).mean(), rel=1e-12)
    scaled = metrics.MeanMetricWrapper(metrics.binary_accuracy, threshold=0.9)
    scaled.update_state([[1], [1]], [[0.95], [0.85]])
    assert scaled.result() == 0.5


# -------------------------------------------------- confusion-matrix metrics
def _binary(n=N):
    return RNG.integers(0, 2, size=n), RNG.uniform(size=n)


@pytest.mark.parametrize("threshold", [0.5, 0.2, 0.8])
def test_precision_recall_against_sklearn(threshold):
    y, p = _binary()
    w = _weights()
    pred = (p > threshold).astype(int)
    prec = metrics.Precision(thresholds=threshold)
    rec = metrics.Recall(thresholds=threshold)
    prec.update_state(y, p, sample_weight=w)
    rec.update_state(y[:, None], p[:, None], sample_weight=w)
    expected_p = skm.precision_score(y, pred, sample_weight=w)
    assert prec.result() == pytest.approx(expected_p, rel=1e-12)
    assert rec.result() == pytest.approx(skm.recall_score(y, pred, sample_weight=w))


def test_precision_recall_several_thresholds():
    y, p = _binary()
    thresholds = [0.9, 0.1, 0.5]  # any order
    prec, rec = metrics.Precision(thresholds), metrics.Recall(thresholds)
    prec.update_state(y, p)
    rec.update_state(y, p)
    for i, t in enumerate(thresholds):
        pred = (p > t).astype(int)
        assert prec.result()[i] == pytest.approx(skm.precision_score(y, pred))
        assert rec.result()[i] == pytest.approx(skm.recall_score(y, pred))


def test_precision_recall_multilabel_flattened_and_class_id():
    y = RNG.integers(0, 2, size=(N, C))
    p = RNG.uniform(size=(N, C))
    w = _weights()
    ww = np.repeat(w[:, None], C, axis=1)
    prec = metrics.Precision()
    prec.update_state(y, p, sample_weight=w)
    flat = skm.precision_score(y.ravel(), (p > 0.5).ravel(), sample_weight=ww.ravel())
    assert prec.result() == pytest.approx(flat, rel=1e-12)
    rec = metrics.Recall(class_id=2)
    rec.update_state(y, p, sample_weight=w)
    column = skm.recall_score(y[:, 2], p[:, 2] > 0.5, sample_weight=w)
    assert rec.result() == pytest.approx(column, rel=1e-12)


def test_precision_recall_top_k():
    y = RNG.integers(0, 2, size=(N, C))
    p = RNG.uniform(size=(N, C))
    top2 = np.argsort(-p, axis=-1)[:, :2]
    hits = np.take_along_axis(y, top2, axis=-1).sum()
    prec, rec = metrics.Precision(top_k=2), metrics.Recall(top_k=2)
    prec.update_state(y, p)
    rec.update_state(y, p)
    assert prec.result() == pytest.approx(hits / (2 * N), rel=1e-12)
    assert rec.result() == pytest.approx(hits / y.sum(), rel=1e-12)
    keras = metrics.Precision(top_k=2)  # Keras's documented example
    keras.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert keras.result() == 0.0


def test_confusion_counts_against_sklearn():
    y, p = _binary()
    w = _weights()
    tn, fp, fn, tp = skm.confusion_matrix(y, p > 0.3, sample_weight=w).ravel()
    for cls, expected in [
        (metrics.TruePositives, tp),
        (metrics.FalsePositives, fp),
        (metrics.TrueNegatives, tn),
        (metrics.FalseNegatives, fn),
    ]:
        m = cls(thresholds=0.3)
        m.update_state(y, p, sample_weight=w)
        assert m.result() == pytest.approx(expected, rel=1e-12)
    both = metrics.TruePositives(thresholds=[0.3, 0.7])
    both.update_state(y, p)
    assert both.result().tolist() == [
        np.sum((p > 0.3) & (y == 1)),
        np.sum((p > 0.7) & (y == 1)),
    ]


def test_keras_documented_values():
    m = metrics.Precision()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == 1.0
    auc = metrics.AUC(num_thresholds=3)
    auc.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert auc.result() == pytest.approx(0.75)
    auc.reset_state()
    auc.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert auc.result() == pytest.approx(1.0)


def test_nan_predictions_are_never_positive():
    m = metrics.TruePositives(thresholds=[0.0, 0.5])
    m.update_state([1, 1], [np.nan, 0.7])
    assert m.result().tolist() == [1.0, 1.0]


# -------------------------------------------------------------------- AUC
T = 50  # thresholds of the AUC tests


def _bucketed(n=N, t=T):
    """Scores strictly between AUC thresholds: the thresholded curve is exact."""
    return (RNG.integers(0, t - 1, size=n) + 0.5) / (t - 1)


def test_roc_auc_equals_sklearn_on_bucketed_scores():
    y, w = RNG.integers(0, 2, size=N), _weights()
    p = _bucketed()
    m = metrics.AUC(num_thresholds=T)
    m.update_state(y, p, sample_weight=w)
    assert m.result() == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w), 1e-12)
    logits = metrics.AUC(num_thresholds=T, from_logits=True)
    logits.update_state(y, np.log(p / (1 - p)), sample_weight=w)
    assert logits.result() == pytest.approx(m.result(), rel=1e-12)


def test_multi_label_auc_equals_sklearn_macro():
    y = RNG.integers(0, 2, size=(N, 3))
    p = np.stack([_bucketed() for _ in range(3)], axis=1)
    m = metrics.AUC(num_thresholds=T, multi_label=True)
    m.update_state(y, p)
    assert m.result() == pytest.approx(skm.roc_auc_score(y, p, average="macro"))
    per_label = [skm.roc_auc_score(y[:, i], p[:, i]) for i in range(3)]
    lw = [0.2, 1.0, 3.0]
    weighted = metrics.AUC(num_thresholds=T, multi_label=True, label_weights=lw)
    weighted.update_state(y, p)
    assert weighted.result() == pytest.approx(np.average(per_label, weights=lw))
    flat = metrics.AUC(num_thresholds=T)  # multi_label=False flattens the labels
    flat.update_state(y, p)
    assert flat.result() == pytest.approx(skm.roc_auc_score(y.ravel(), p.ravel()))


def _curve_counts(y, p, w, thresholds):
    tp = np.array([np.sum(w * (y == 1) * (p > t)) for t in thresholds])
    fp = np.array([np.sum(w * (y == 0) * (p > t)) for t in thresholds])
    return tp, fp, np.sum(w * (y == 1)) - tp, np.sum(w * (y == 0)) - fp


def _riemann(x, y, method):
    heights = {
        "interpolation": (y[:-1] + y[1:]) / 2,
        "minoring": np.minimum(y[:-1], y[1:]),
        "majoring": np.maximum(y[:-1], y[1:]),
    }[method]
    return float(np.sum((x[:-1] - x[1:]) * heights))


@pytest.mark.parametrize("method", ["interpolation", "minoring", "majoring"])
@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_auc_riemann_sums(curve, method):
    y, p, w = RNG.integers(0, 2, size=N), RNG.uniform(size=N), _weights()
    m = metrics.AUC(num_thresholds=20, curve=curve, summation_method=method)
    m.update_state(y, p, sample_weight=w)
    thresholds = [-EPS, *[(i + 1) / 19 for i in range(18)], 1 + EPS]
    assert np.allclose(m.thresholds, thresholds, rtol=1e-15, atol=0)
    tp, fp, fn, tn = _curve_counts(y, p, w, thresholds)
    recall = tp / (tp + fn)
    if curve == "ROC":
        expected = _riemann(fp / (fp + tn), recall, method)
    elif method != "interpolation":
        precision = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=tp + fp > 0)
        expected = _riemann(recall, precision, method)
    else:  # Davis & Goadrich: tp and fp linear between thresholds, integrated
        expected = _pr_integral(tp, fp, tp[0] + fn[0])
    assert m.result() == pytest.approx(expected, rel=1e-6)


def _pr_integral(tp, fp, positives, steps=4000):
    """Integral of precision d(recall) with tp, fp linear on each interval."""
    s = (np.arange(steps) + 0.5) / steps  # midpoint rule
    total = 0.0
    for i in range(len(tp) - 1):
        tps = tp[i + 1] + s * (tp[i] - tp[i + 1])
        ps = tps + fp[i + 1] + s * (fp[i] - fp[i + 1])
        precision = np.divide(tps, ps, out=np.zeros(steps), where=ps > 0)
        total += precision.mean() * (tp[i] - tp[i + 1]) / positives
    return total


def test_auc_with_explicit_thresholds_and_config():
    m = metrics.AUC(thresholds=[0.7, 0.2, 0.5])
    assert m.num_thresholds == 5
    assert m.thresholds[1:-1] == [0.2, 0.5, 0.7]
    y, p = _binary()
    m.update_state(y, p)
    tp, fp, fn, tn = _curve_counts(y, p, np.ones(N), m.thresholds)
    assert m.result() == pytest.approx(
        _riemann(fp / (fp + tn), tp / (tp + fn), "interpolation")
    )
    config = json.loads(json.dumps(metrics.serialize(m)))
    assert config["config"]["thresholds"] == [0.2, 0.5, 0.7]
    back = metrics.deserialize(config)
    back.update_state(y, p)
    assert back.result() == m.result()


def test_auc_errors():
    with pytest.raises(ValueError, match="num_thresholds must be an int > 1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve must be one of"):
        metrics.AUC(curve="DET")
    with pytest.raises(ValueError, match="summation_method must be one of"):
        metrics.AUC(summation_method="simpson")
    with pytest.raises(ValueError, match="num_labels is needed only"):
        metrics.AUC(num_labels=3)
    m = metrics.AUC(multi_label=True)
    with pytest.raises(ValueError, match="y_pred must have rank 2"):
        m.update_state([0, 1], [0.2, 0.3])
    m.update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="expected 3 labels"):
        m.update_state(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="y_true and y_pred must have the same shape"):
        metrics.AUC().update_state(np.zeros((2, 3)), np.zeros((2, 4)))


# ---------------------------------------------------------------- F-scores
def _multilabel():
    y = RNG.integers(0, 2, size=(N, C))
    y[:C] = np.eye(C, dtype=int)  # every class has support
    return y, RNG.uniform(size=(N, C))


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.5])
def test_f1_against_sklearn(average, threshold):
    y, p = _multilabel()
    w = _weights()
    if threshold is None:  # the largest prediction of each row
        pred = (p == p.max(-1, keepdims=True)).astype(int)
    else:
        pred = (p > threshold).astype(int)
    m = metrics.F1Score(average=average, threshold=threshold)
    m.update_state(y, p, sample_weight=w)
    expected = skm.f1_score(y, pred, average=average, sample_weight=w)
    np.testing.assert_allclose(m.result(), expected, rtol=1e-5)
    beta = metrics.FBetaScore(average=average, beta=2.0, threshold=threshold)
    beta.update_state(y, p, sample_weight=w)
    expected = skm.fbeta_score(y, pred, beta=2.0, average=average, sample_weight=w)
    np.testing.assert_allclose(beta.result(), expected, rtol=1e-5)
    if average is None:
        assert isinstance(m.result(), np.ndarray) and m.result().shape == (C,)
    else:
        assert isinstance(m.result(), float)


def test_f1_errors():
    with pytest.raises(ValueError, match="average must be one of"):
        metrics.F1Score(average="samples")
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\]"):
        metrics.F1Score(threshold=0.0)
    with pytest.raises(ValueError, match="beta must be a float > 0"):
        metrics.FBetaScore(beta=-1.0)
    m = metrics.F1Score()
    m.update_state(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="expected 3 classes"):
        m.update_state(np.eye(4), np.eye(4))
    with pytest.raises(ValueError, match=r"same shape \(batch, classes\)"):
        metrics.F1Score().update_state(np.eye(3), np.eye(3)[:, :2])


# -------------------------------------------------------------------- R2
@pytest.mark.parametrize(
    "aggregation, multioutput",
    [
        ("uniform_average", "uniform_average"),
        ("variance_weighted_average", "variance_weighted"),
        (None, "raw_values"),
    ],
)
def test_r2_against_sklearn(aggregation, multioutput):
    y, p = _regression()
    w = _weights()
    m = metrics.R2Score(class_aggregation=aggregation)
    m.update_state(y, p, sample_weight=w)
    expected = skm.r2_score(y, p, sample_weight=w, multioutput=multioutput)
    np.testing.assert_allclose(m.result(), expected, rtol=1e-10)


def test_r2_adjusted_rank1_and_constant_target():
    y, p = _regression()
    m = metrics.R2Score(num_regressors=5)
    m.update_state(y[:, 0], p[:, 0])  # rank 1: one output
    r2 = skm.r2_score(y[:, 0], p[:, 0])
    assert m.result() == pytest.approx(1 - (1 - r2) * (N - 1) / (N - 5 - 1), 1e-10)
    const = metrics.R2Score()
    const.update_state([[1.0], [1.0]], [[1.0], [2.0]])
    assert const.result() == 0.0  # SS_tot = 0, SS_res > 0: Keras gives 0
    few = metrics.R2Score(num_regressors=3)
    few.update_state([[1.0], [2.0]], [[1.0], [2.5]])
    with pytest.warns(UserWarning, match="more regressors than data points"):
        assert few.result() == pytest.approx(skm.r2_score([1, 2], [1, 2.5]))


def test_r2_errors():
    with pytest.raises(ValueError, match="class_aggregation must be one of"):
        metrics.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match="num_regressors must be >= 0"):
        metrics.R2Score(num_regressors=-1)
    m = metrics.R2Score()
    m.update_state(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="expected 3 outputs"):
        m.update_state(np.ones((2, 2)), np.ones((2, 2)))


# --------------------------------------- accumulation, reset, inputs, config
def _data(kind):
    if kind == "binary":
        y, p = _binary()
        return y, p
    if kind == "onehot":
        return np.eye(C)[_labels()], _probs()
    if kind == "sparse":
        return _labels(), _probs()
    if kind == "multilabel":
        return _multilabel()
    if kind == "positive":
        return _positive()
    return _regression()


ALL = [
    (metrics.Accuracy, "sparse_as_pairs"),
    (metrics.BinaryAccuracy, "binary"),
    (metrics.CategoricalAccuracy, "onehot"),
    (metrics.SparseCategoricalAccuracy, "sparse"),
    (lambda: metrics.TopKCategoricalAccuracy(k=2), "onehot"),
    (lambda: metrics.SparseTopKCategoricalAccuracy(k=2), "sparse"),
    (metrics.MeanSquaredError, "regression"),
    (metrics.RootMeanSquaredError, "regression"),
    (metrics.MeanAbsoluteError, "regression"),
    (metrics.MeanAbsolutePercentageError, "positive"),
    (metrics.MeanSquaredLogarithmicError, "positive"),
    (metrics.LogCoshError, "regression"),
    (metrics.CosineSimilarity, "regression"),
    (metrics.Poisson, "positive"),
    (metrics.KLDivergence, "onehot"),
    (metrics.Hinge, "binary"),
    (metrics.SquaredHinge, "binary"),
    (metrics.CategoricalHinge, "onehot"),
    (metrics.BinaryCrossentropy, "binary"),
    (metrics.CategoricalCrossentropy, "onehot"),
    (metrics.SparseCategoricalCrossentropy, "sparse"),
    (lambda: metrics.Precision(thresholds=[0.3, 0.6]), "binary"),
    (metrics.Recall, "multilabel"),
    (metrics.TruePositives, "binary"),
    (metrics.AUC, "binary"),
    (lambda: metrics.AUC(curve="PR"), "binary"),
    (lambda: metrics.AUC(multi_label=True), "multilabel"),
    (metrics.F1Score, "multilabel"),
    (lambda: metrics.F1Score(average="micro", threshold=0.4), "multilabel"),
    (lambda: metrics.FBetaScore(average="weighted", beta=0.5), "multilabel"),
    (metrics.R2Score, "regression"),
]
IDS = [str(i) for i in range(len(ALL))]


def _pairs(kind):
    if kind == "sparse_as_pairs":
        y = _labels()[:, None]
        return y, np.where(RNG.uniform(size=(N, 1)) < 0.5, y, 0)
    return _data(kind)


@pytest.mark.parametrize("make, kind", ALL, ids=IDS)
def test_batches_accumulate_like_one_batch(make, kind):
    y, p = _pairs(kind)
    w = _weights()
    whole, parts = make(), make()
    whole.update_state(y, p, sample_weight=w)
    for s in _batches(N):
        parts.update_state(y[s], p[s], sample_weight=w[s])
    np.testing.assert_allclose(parts.result(), whole.result(), rtol=1e-10)


@pytest.mark.parametrize("make, kind", ALL, ids=IDS)
def test_reset_and_tensor_inputs(make, kind):
    y, p = _pairs(kind)
    m, fresh = make(), make()
    m.update_state(y[:40], p[:40])
    m.reset_state()
    np.testing.assert_array_equal(m.result(), fresh.result())
    t = numdl.tensor(p, requires_grad=True, dtype="float64")
    m.update_state(numdl.tensor(y, dtype=np.asarray(y).dtype), t)
    fresh.update_state(y.tolist(), p.tolist())
    np.testing.assert_allclose(m.result(), fresh.result(), rtol=1e-12)
    assert t.grad is None and fresh(y, p) is not None  # __call__ updates + reports


@pytest.mark.parametrize("make, kind", ALL, ids=IDS)
def test_serialize_round_trip(make, kind):
    y, p = _pairs(kind)
    m = make()
    config = json.loads(json.dumps(metrics.serialize(m)))
    back = metrics.deserialize(config)
    assert type(back) is type(m) and back.get_config() == m.get_config()
    m.update_state(y, p)
    back.update_state(y, p)
    np.testing.assert_array_equal(back.result(), m.result())


def test_float32_inputs_agree_with_float64():
    y, p = _regression()
    a, b = metrics.MeanSquaredError(), metrics.MeanSquaredError()
    a.update_state(y, p)
    b.update_state(y.astype(np.float32), p.astype(np.float32))
    assert b.result() == pytest.approx(a.result(), rel=1e-6)
    assert metrics.Mean(dtype="float64").dtype == "float64"
    assert metrics.Mean().dtype == "float32"


# ---------------------------------------------------------------- names
KERAS_NAMES = {
    "accuracy": metrics.Accuracy,
    "binary_accuracy": metrics.BinaryAccuracy,
    "categorical_accuracy": metrics.CategoricalAccuracy,
    "sparse_categorical_accuracy": metrics.SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": metrics.TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": metrics.SparseTopKCategoricalAccuracy,
    "precision": metrics.Precision,
    "recall": metrics.Recall,
    "auc": metrics.AUC,
    "AUC": metrics.AUC,
    "f1_score": metrics.F1Score,
    "fbeta_score": metrics.FBetaScore,
    "mse": metrics.MeanSquaredError,
    "MSE": metrics.MeanSquaredError,
    "mean_squared_error": metrics.MeanSquaredError,
    "root_mean_squared_error": metrics.RootMeanSquaredError,
    "mae": metrics.MeanAbsoluteError,
    "mean_absolute_error": metrics.MeanAbsoluteError,
    "mape": metrics.MeanAbsolutePercentageError,
    "msle": metrics.MeanSquaredLogarithmicError,
    "r2_score": metrics.R2Score,
    "binary_crossentropy": metrics.BinaryCrossentropy,
    "bce": metrics.BinaryCrossentropy,
    "categorical_crossentropy": metrics.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": metrics.SparseCategoricalCrossentropy,
    "kl_divergence": metrics.KLDivergence,
    "poisson": metrics.Poisson,
    "hinge": metrics.Hinge,
    "squared_hinge": metrics.SquaredHinge,
    "categorical_hinge": metrics.CategoricalHinge,
    "log_cosh_error": metrics.LogCoshError,
    "cosine_similarity": metrics.CosineSimilarity,
    "true_positives": metrics.TruePositives,
    "false_negatives": metrics.FalseNegatives,
    "mean": metrics.Mean,
    "sum": metrics.Sum,
}


@pytest.mark.parametrize("name, cls", KERAS_NAMES.items())
def test_keras_names(name, cls):
    m = metrics.get(name)
    assert type(m) is cls and metrics.get(name) is not m
    assert type(metrics.get(cls.__name__)) is cls


def test_default_names_match_keras():
    expected = {
        metrics.Accuracy: "accuracy",
        metrics.MeanSquaredError: "mean_squared_error",
        metrics.LogCoshError: "logcosh",
        metrics.AUC: "auc",
        metrics.Precision: "precision",
        metrics.TruePositives: "true_positives",
        metrics.FBetaScore: "fbeta_score",
        metrics.F1Score: "f1_score",
        metrics.R2Score: "r2_score",
        metrics.TopKCategoricalAccuracy: "top_k_categorical_accuracy",
    }
    for cls, name in expected.items():
        assert cls().name == name


def test_get_pass_through_and_errors():
    m = metrics.AUC()
    assert metrics.get(m) is m and metrics.get(None) is None
    assert type(metrics.get(metrics.Recall)) is metrics.Recall
    with pytest.raises(ValueError, match="Unknown metric 'acc'") as err:
        metrics.get("acc")
    assert "binary_accuracy" in str(err.value)
    with pytest.raises(ValueError, match="could not interpret metric identifier"):
        metrics.get(3)
    with pytest.raises(ValueError, match="could not interpret"):
        metrics.deserialize([1])
    with pytest.raises(ValueError, match="Unknown metric 'Accuracyy'"):
        metrics.deserialize({"class_name": "Accuracyy", "config": {}})
    with pytest.raises(ValueError, match=r"thresholds must be in \[0, 1\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="fn must be callable"):
        metrics.MeanMetricWrapper("mse")


def test_wrapper_of_a_loss_function_round_trips():
    m = metrics.MeanMetricWrapper(numdl.losses.huber, name="huber", delta=0.5)
    config = json.loads(json.dumps(metrics.serialize(m)))
    assert config["config"]["fn"] == "huber" and config["config"]["delta"] == 0.5
    back = metrics.deserialize(config)
    y, p = _regression()
    m.update_state(y, p)
    back.update_state(y, p)
    assert back.result() == m.result()


def test_results_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for make, _ in ALL:
            make().result()  # results before any update are finite
