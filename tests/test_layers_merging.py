"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, Dot and their functional shortcuts — torch parity (forward and
gradients), Keras broadcasting, shapes (eager and symbolic), configs,
training steps and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numdl
from numdl import layers
from numdl.autograd.tensor import Tensor
from numdl.ops.nn import dense
from numdl.optimizers import SGD
from numdl.testing import assert_close, check_grad

Input = layers.Input


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sum(ts):
    out = ts[0]
    for t in ts[1:]:
        out = out + t
    return out


def _fold(fn):
    def apply(ts):
        out = ts[0]
        for t in ts[1:]:
            out = fn(out, t)
        return out

    return apply


ELEMENTWISE = {
    "Add": (layers.Add, _sum),
    "Subtract": (layers.Subtract, lambda ts: ts[0] - ts[1]),
    "Multiply": (layers.Multiply, _fold(torch.mul)),
    "Average": (layers.Average, lambda ts: _sum(ts) / len(ts)),
    "Maximum": (layers.Maximum, _fold(torch.maximum)),
    "Minimum": (layers.Minimum, _fold(torch.minimum)),
}


def _torch_align(ts, ndim):
    """Keras inserts size-1 axes after the batch axis (not before it)."""
    out = []
    for t in ts:
        while t.dim() < ndim:
            t = t.unsqueeze(1)
        out.append(t)
    return out


def _parity(layer, ref, arrays, rtol=1e-12):
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = layer(ours), ref(theirs)
    assert_close(out.data, expected.detach().numpy(), rtol, "forward")
    g = _rng(99).normal(size=out.shape)
    out.backward(g)
    expected.backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_close(a.grad, b.grad.numpy(), rtol, f"gradient {i}")
    return out


def _round_trip(layer, inputs):
    cfg = layer.get_config()
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    np.testing.assert_array_equal(layer(inputs).numpy(), clone(inputs).numpy())


def _check_training_step(layer, xs, units=3):
    """Dense branches -> merge -> weighted sum: gradients of the Dense kernels
    match finite differences; one SGD step lowers the loss."""
    rng = _rng(1)
    kernels = [rng.normal(size=(x.shape[-1], units)) for x in xs]

    def fn(*ks):
        return layer([dense(Tensor(x), k) for x, k in zip(xs, ks)])

    assert max(check_grad(fn, *kernels)) < 1e-7
    branches = [layers.Dense(units, use_bias=False) for _ in xs]
    for branch, x, k in zip(branches, xs, kernels):
        branch(x)
        branch.set_weights([k])

    def loss():
        out = layer([b(x) for b, x in zip(branches, xs)])
        return ((out - 1.0) ** 2).sum()

    before = loss()
    before.backward()
    SGD(learning_rate=1e-3).step([w for b in branches for w in b.trainable_weights])
    assert float(loss()) < float(before)


# ------------------------------------------------------------- elementwise
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_matches_torch(float64, name):
    cls, ref = ELEMENTWISE[name]
    count = 2 if name == "Subtract" else 3
    rng = _rng(2)
    arrays = [rng.normal(size=(4, 2, 3)) for _ in range(count)]
    _parity(cls(), ref, arrays)
    # Keras broadcasting: (batch, 3) and (batch, 2, 1) give (batch, 2, 3)
    shapes = [(4, 3), (4, 2, 1), (4, 1, 3)][:count]
    arrays = [rng.normal(size=s) for s in shapes]
    out = _parity(cls(), lambda ts: ref(_torch_align(ts, 3)), arrays)
    assert out.shape == (4, 2, 3)


def test_maximum_minimum_split_gradients_at_ties_like_torch(float64):
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[1.0, 0.0, 3.0]])
    for name in ("Maximum", "Minimum"):
        cls, ref = ELEMENTWISE[name]
        _parity(cls(), ref, [a, b])


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_float32(name):
    cls, ref = ELEMENTWISE[name]
    rng = _rng(3)
    arrays = [rng.normal(size=(3, 4)).astype("float32") for _ in range(2)]
    out = cls()(arrays)
    assert out.dtype == np.float32
    expected = ref([torch.tensor(a) for a in arrays]).numpy()
    assert_close(out.data, expected, 1e-5)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_shapes_weights_config_and_step(float64, name):
    cls, _ = ELEMENTWISE[name]
    layer = cls(name=f"m_{name}")
    a, b = Input(shape=(3,)), Input(shape=(2, 3))
    assert layer([a, b]).shape == (None, 2, 3)
    assert cls()([Input(shape=(2, 1)), Input(shape=(1, 5))]).shape == (None, 2, 5)
    assert layer.compute_output_shape([(None, 3), (None, 2, 3)]) == (None, 2, 3)
    assert layer.compute_output_shape([(8, 3), (None, None, 3)]) == (8, None, 3)
    assert layer.weights == [] and layer.count_params() == 0
    rng = _rng(4)
    pair = [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))]
    _round_trip(layer, pair)
    _check_training_step(cls(), [rng.normal(size=(2, 4)), rng.normal(size=(2, 5))])


def test_add_and_friends_take_more_than_two_inputs(float64):
    rng = _rng(5)
    xs = [rng.normal(size=(2, 3)) for _ in range(4)]
    np.testing.assert_allclose(layers.Add()(xs).numpy(), sum(xs), rtol=1e-12)
    np.testing.assert_allclose(layers.Average()(xs).numpy(), sum(xs) / 4, rtol=1e-12)
    np.testing.assert_array_equal(layers.Maximum()(xs).numpy(), np.max(xs, axis=0))
    # a single input is allowed, as in Keras
    np.testing.assert_array_equal(layers.Add()(xs[:1]).numpy(), xs[0])


def test_elementwise_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Add 'a1'.*\(None, 4\).*\(None, 3\)"):
        layers.Add(name="a1")([Input(shape=(4,)), Input(shape=(3,))])
    with pytest.raises(ValueError, match=r"Multiply 'm1'.*\(2, 4\).*\(2, 3\)"):
        layers.Multiply(name="m1")([np.ones((2, 4)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="Subtract 's1'.*exactly 2 inputs, got 3"):
        layers.Subtract(name="s1")([np.ones((2, 3))] * 3)
    with pytest.raises(ValueError, match="Subtract 's2'.*exactly 2 inputs, got 1"):
        layers.Subtract(name="s2")([Input(shape=(3,))])
    with pytest.raises(ValueError, match=r"Add 'a2'.*list.*\(2, 3\)"):
        layers.Add(name="a2")(np.ones((2, 3)))
    with pytest.raises(ValueError, match="Average 'v'.*list"):
        layers.Average(name="v")([])
    with pytest.raises(ValueError, match="Maximum 'x'.*batch sizes"):
        layers.Maximum(name="x")([np.ones((2, 3)), np.ones((3, 3))])
    with pytest.raises(ValueError, match="Minimum 'n'.*batch sizes"):
        layers.Minimum(name="n")(
            [Input(shape=(3,), batch_size=2), Input(shape=(3,), batch_size=4)]
        )
    # a built layer still checks later calls
    layer = layers.Add(name="a3")
    layer([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="Add 'a3'"):
        layer([np.ones((2, 3)), np.ones((2, 4))])


# ------------------------------------------------------------- Concatenate
@pytest.mark.parametrize("axis", [-1, 1, 2, -2, 0])
def test_concatenate_matches_torch(float64, axis):
    rng = _rng(6)
    sizes = [1, 3, 2]
    shapes = []
    for n in sizes:
        shape = [2, 4, 5]
        shape[axis] = n
        shapes.append(tuple(shape))
    arrays = [rng.normal(size=s) for s in shapes]
    out = _parity(layers.Concatenate(axis=axis), lambda ts: torch.cat(ts, axis), arrays)
    assert out.shape[axis] == 6


def test_concatenate_shapes_config_and_step(float64):
    assert layers.Concatenate()([Input(shape=(4,)), Input(shape=(3,))]).shape == (
        None,
        7,
    )
    sym = layers.Concatenate(axis=1)([Input(shape=(2, 5)), Input(shape=(None, 5))])
    assert sym.shape == (None, None, 5)
    layer = layers.Concatenate(axis=1, name="cat")
    assert layer.compute_output_shape([(None, 2, 5), (None, 1, 5)]) == (None, 3, 5)
    assert layer.get_config()["axis"] == 1
    rng = _rng(7)
    _round_trip(layer, [rng.normal(size=(2, 2, 3)), rng.normal(size=(2, 1, 3))])
    assert layer.weights == [] and layer.count_params() == 0
    _check_training_step(
        layers.Concatenate(), [rng.normal(size=(2, 4)), rng.normal(size=(2, 5))]
    )


def test_concatenate_errors():
    with pytest.raises(ValueError, match=r"Concatenate 'c'.*matching.*\(None, 4, 2\)"):
        layers.Concatenate(name="c")([Input(shape=(4, 2)), Input(shape=(3, 3))])
    with pytest.raises(ValueError, match="Concatenate 'c2'.*same number of axes"):
        layers.Concatenate(name="c2")([np.ones((2, 3)), np.ones((2, 3, 1))])
    with pytest.raises(ValueError, match="Concatenate 'c3'.*axis 3"):
        layers.Concatenate(axis=3, name="c3")([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="Concatenate 'c4'.*axis"):
        layers.Concatenate(axis="1", name="c4")
    with pytest.raises(ValueError, match="Concatenate 'c5'.*list"):
        layers.Concatenate(name="c5")(np.ones((2, 3)))


# --------------------------------------------------------------------- Dot
DOT_CASES = [
    # (shape x, shape y, axes, einsum)
    ((3, 4), (3, 4), 1, "bi,bi->b"),
    ((3, 4), (3, 4), -1, "bi,bi->b"),
    ((3, 2, 5), (3, 7, 2), (1, 2), "bkm,bnk->bmn"),
    ((3, 5, 2), (3, 5, 6), (1, 1), "bkm,bkn->bmn"),
    ((3, 4), (3, 4, 6), (1, 1), "bk,bkn->bn"),
    ((3, 2, 4), (3, 4), (2, 1), "bmk,bk->bm"),
    ((3, 2, 3, 4), (3, 4, 5), (-1, 1), "bmpk,bkn->bmpn"),
    ((3, 4, 2), (3, 4, 5), -2, "bkm,bkn->bmn"),
]


@pytest.mark.parametrize(("sx", "sy", "axes", "eq"), DOT_CASES)
def test_dot_matches_torch_einsum(float64, sx, sy, axes, eq):
    rng = _rng(8)
    x, y = rng.normal(size=sx), rng.normal(size=sy)

    def ref(ts):
        out = torch.einsum(eq, *ts)
        return out.unsqueeze(-1) if out.dim() == 1 else out

    out = _parity(layers.Dot(axes=axes), ref, [x, y])
    shape = layers.Dot(axes=axes).compute_output_shape([x.shape, y.shape])
    assert out.shape == shape


def test_dot_keras_documented_shape():
    # Keras's docstring: x (b, 3, 5), y (b, 10, 3), axes=(1, 2) -> (b, 5, 10)
    x = np.arange(30.0).reshape(2, 3, 5)
    y = np.arange(60.0).reshape(2, 10, 3)
    out = layers.Dot(axes=(1, 2))([x, y])
    assert out.shape == (2, 5, 10)
    np.testing.assert_allclose(out.numpy(), np.einsum("bkm,bnk->bmn", x, y))
    sym = layers.Dot(axes=(1, 2))([Input(shape=(3, 5)), Input(shape=(10, 3))])
    assert sym.shape == (None, 5, 10)
    assert layers.dot([Input(shape=(4,)), Input(shape=(4,))], axes=1).shape == (
        None,
        1,
    )


def test_dot_normalize_is_cosine_similarity(float64):
    rng = _rng(9)
    x, y = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))

    def ref(ts):
        a, b = F.normalize(ts[0], dim=1), F.normalize(ts[1], dim=1)
        return (a * b).sum(1, keepdim=True)

    _parity(layers.Dot(axes=1, normalize=True), ref, [x, y])
    expected = F.cosine_similarity(torch.tensor(x), torch.tensor(y)).numpy()
    out = layers.Dot(axes=1, normalize=True)([x, y]).numpy()[:, 0]
    assert_close(out, expected, 1e-12)


def test_dot_normalize_of_zero_vectors_is_finite():
    x = Tensor(np.zeros((2, 3), "float32"), requires_grad=True)
    y = np.ones((2, 3), "float32")
    out = layers.Dot(axes=1, normalize=True)([x, y])
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 1)))
    out.sum().backward()
    assert np.isfinite(x.grad).all()
    # below the 1e-7 floor: x / 1e-7, as Keras's ops.normalize
    tiny = np.full((1, 1), 1e-9)
    out = layers.Dot(axes=1, normalize=True, dtype="float64")([tiny, tiny])
    np.testing.assert_allclose(out.numpy(), [[(1e-9 / 1e-7) ** 2]], rtol=1e-10)


def test_dot_config_weights_and_step(float64):
    layer = layers.Dot(axes=[1, 1], normalize=True, name="d")
    cfg = layer.get_config()
    assert cfg["axes"] == (1, 1) and cfg["normalize"] is True
    rng = _rng(10)
    _round_trip(layer, [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))])
    layer([rng.normal(size=(2, 3)), rng.normal(size=(2, 3))])
    assert layer.weights == [] and layer.count_params() == 0
    xs = [rng.normal(size=(2, 4)), rng.normal(size=(2, 5))]
    _check_training_step(layers.Dot(axes=1), xs)
    _check_training_step(layers.Dot(axes=1, normalize=True), xs)


def test_dot_errors():
    with pytest.raises(TypeError, match="Dot 'd1'.*axes"):
        layers.Dot(axes="1", name="d1")
    with pytest.raises(ValueError, match="Dot 'd2'.*two ints"):
        layers.Dot(axes=(1, 2, 3), name="d2")
    with pytest.raises(ValueError, match="Dot 'd3'.*two ints"):
        layers.Dot(axes=(1, 1.5), name="d3")
    with pytest.raises(ValueError, match=r"Dot 'd4'.*\(None, 3\).*\(None, 4\)"):
        layers.Dot(axes=1, name="d4")([Input(shape=(3,)), Input(shape=(4,))])
    with pytest.raises(ValueError, match="Dot 'd5'.*batch axis"):
        layers.Dot(axes=0, name="d5")([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="Dot 'd6'.*exactly 2 inputs"):
        layers.Dot(axes=1, name="d6")([np.ones((2, 3))] * 3)
    with pytest.raises(ValueError, match="Dot 'd7'.*do not fit"):
        layers.Dot(axes=2, name="d7")([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="Dot 'd8'.*batch sizes"):
        layers.Dot(axes=1, name="d8")([np.ones((2, 3)), np.ones((4, 3))])


# ----------------------------------------------------- functional shortcuts
SHORTCUTS = [
    (layers.add, layers.Add, {}),
    (layers.subtract, layers.Subtract, {}),
    (layers.multiply, layers.Multiply, {}),
    (layers.average, layers.Average, {}),
    (layers.maximum, layers.Maximum, {}),
    (layers.minimum, layers.Minimum, {}),
    (layers.concatenate, layers.Concatenate, {"axis": 0}),
    (layers.dot, layers.Dot, {"axes": 1, "normalize": True}),
]


@pytest.mark.parametrize(("fn", "cls", "kwargs"), SHORTCUTS)
def test_shortcuts_equal_their_layers(fn, cls, kwargs):
    rng = _rng(11)
    xs = [rng.normal(size=(2, 3)).astype("float32") for _ in range(2)]
    np.testing.assert_array_equal(fn(xs, **kwargs).numpy(), cls(**kwargs)(xs).numpy())
    sym = fn(
        [Input(shape=(3,)), Input(shape=(3,))], name=f"short_{cls.__name__}", **kwargs
    )
    assert sym.node.layer.name == f"short_{cls.__name__}"
    assert isinstance(sym.node.layer, cls)
    assert sym.shape == cls(**kwargs).compute_output_shape([(None, 3), (None, 3)])


def test_merge_in_a_symbolic_graph_records_both_inputs():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    out = layers.Add()([layers.Dense(4)(a), layers.Dense(4)(b)])
    assert out.shape == (None, 4)
    assert len(out.node.input_tensors) == 2
    assert numdl.layers.symbolic.is_symbolic(out)
