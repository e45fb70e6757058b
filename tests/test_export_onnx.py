"""numdl.export.to_onnx: checked by onnx.checker, run by ONNX Runtime.

Every supported layer (and the Keras MNIST convnet) is exported with random
weights; ONNX Runtime's outputs must equal ``model.predict`` to 1e-5.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import numdl
from numdl import layers
from numdl.export import supported_layers, to_onnx

RNG = np.random.default_rng(0)


def _x(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype("float32")


def _session(proto: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _check(model, inputs, opset: int = 17) -> onnx.ModelProto:
    """Export, check the model, compare ONNX Runtime with model.predict."""
    proto = to_onnx(model, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    inputs = inputs if isinstance(inputs, list) else [inputs]
    expected = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    session = _session(proto)
    feed = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    got = session.run(None, feed)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    return proto


def _seq(input_shape: tuple, *stack) -> numdl.Sequential:
    return numdl.Sequential([layers.Input(shape=input_shape), *stack])


def _randomize(model) -> None:
    """Random weights everywhere (moving variances and BN gammas positive)."""
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        new = [RNG.uniform(0.5, 1.5, w.shape) for w in weights]
        if isinstance(layer, layers.BatchNormalization):
            new[-2] = RNG.standard_normal(weights[-2].shape)  # moving mean
        elif not isinstance(layer, layers.LayerNormalization):
            new = [RNG.standard_normal(w.shape) * 0.5 for w in weights]
        layer.set_weights([n.astype(w.dtype) for n, w in zip(new, weights)])


# --------------------------------------------------------------- one layer
SINGLE_LAYER_CASES = {
    "dense": ((5,), lambda: layers.Dense(4)),
    "dense_no_bias": ((5,), lambda: layers.Dense(3, use_bias=False)),
    "dense_rank3": ((3, 5), lambda: layers.Dense(4, activation="relu")),
    "dropout": ((6,), lambda: layers.Dropout(0.5)),
    "spatial_dropout": ((4, 3), lambda: layers.SpatialDropout1D(0.3)),
    "gaussian_noise": ((6,), lambda: layers.GaussianNoise(1.0)),
    "gaussian_dropout": ((6,), lambda: layers.GaussianDropout(0.4)),
    "identity": ((6,), lambda: layers.Identity()),
    "flatten": ((3, 4, 2), lambda: layers.Flatten()),
    "flatten_channels_first": (
        (3, 4, 2),
        lambda: layers.Flatten(data_format="channels_first"),
    ),
    "reshape": ((12,), lambda: layers.Reshape((3, -1))),
    "permute": ((3, 4, 2), lambda: layers.Permute((3, 1, 2))),
    "rescaling": ((4,), lambda: layers.Rescaling(0.5, offset=-1.0)),
    "batch_norm": ((4, 4, 3), lambda: layers.BatchNormalization()),
    "batch_norm_axis1": ((3, 5), lambda: layers.BatchNormalization(axis=1)),
    "batch_norm_plain": (
        (5,),
        lambda: layers.BatchNormalization(center=False, scale=False),
    ),
    "layer_norm": ((3, 6), lambda: layers.LayerNormalization()),
    "layer_norm_two_axes": ((3, 4, 2), lambda: layers.LayerNormalization(axis=[1, 3])),
    "layer_norm_rms": ((6,), lambda: layers.LayerNormalization(rms_scaling=True)),
    "normalization": (
        (2, 3),
        lambda: layers.Normalization(mean=[1.0, 2.0, -1.0], variance=[4.0, 0.25, 1.0]),
    ),
    "normalization_invert": (
        (3,),
        lambda: layers.Normalization(
            mean=[1.0, 2.0, -1.0], variance=[4.0, 1, 9], invert=True
        ),
    ),
    "conv1d": ((9, 3), lambda: layers.Conv1D(4, 3)),
    "conv1d_same_strided": (
        (9, 3),
        lambda: layers.Conv1D(4, 4, strides=2, padding="same"),
    ),
    "conv1d_causal_dilated": (
        (9, 3),
        lambda: layers.Conv1D(
            2, 3, padding="causal", dilation_rate=2, activation="tanh"
        ),
    ),
    "conv2d": ((7, 6, 3), lambda: layers.Conv2D(4, 3, activation="relu")),
    "conv2d_same_strided": (
        (7, 6, 2),
        lambda: layers.Conv2D(3, (3, 2), strides=2, padding="same"),
    ),
    "conv2d_dilated_groups": (
        (8, 8, 4),
        lambda: layers.Conv2D(6, 3, dilation_rate=2, groups=2, use_bias=False),
    ),
    "conv2d_channels_first": (
        (3, 7, 6),
        lambda: layers.Conv2D(2, 3, padding="same", data_format="channels_first"),
    ),
    "max_pool1d": ((9, 3), lambda: layers.MaxPooling1D(2)),
    "avg_pool1d_same": (
        (9, 3),
        lambda: layers.AveragePooling1D(3, strides=2, padding="same"),
    ),
    "max_pool2d": ((7, 6, 3), lambda: layers.MaxPooling2D(2)),
    "max_pool2d_same": (
        (7, 6, 3),
        lambda: layers.MaxPooling2D(3, strides=2, padding="same"),
    ),
    "avg_pool2d": ((7, 6, 3), lambda: layers.AveragePooling2D((2, 3), strides=1)),
    "avg_pool2d_same": ((7, 5, 2), lambda: layers.AveragePooling2D(2, padding="same")),
    "pool2d_channels_first": (
        (2, 7, 6),
        lambda: layers.MaxPooling2D(2, data_format="channels_first"),
    ),
    "global_max1d": ((5, 3), lambda: layers.GlobalMaxPooling1D()),
    "global_avg1d": ((5, 3), lambda: layers.GlobalAveragePooling1D()),
    "global_max2d": ((4, 5, 3), lambda: layers.GlobalMaxPooling2D()),
    "global_avg2d_keepdims": (
        (4, 5, 3),
        lambda: layers.GlobalAveragePooling2D(keepdims=True),
    ),
}


@pytest.mark.parametrize("case", sorted(SINGLE_LAYER_CASES))
def test_single_layer_matches_predict(case):
    shape, make = SINGLE_LAYER_CASES[case]
    model = _seq(shape, make())
    _randomize(model)
    _check(model, _x(4, *shape, scale=2.0))


# numdl's own activations (other test modules register custom ones).
BUILTIN_ACTIVATIONS = [
    name
    for name in numdl.activations.names()
    if numdl.activations.get(name).__module__.startswith("numdl.")
]


@pytest.mark.parametrize("name", BUILTIN_ACTIVATIONS)
def test_every_activation_matches_predict(name):
    model = _seq((6,), layers.Dense(5), layers.Activation(name))
    _randomize(model)
    _check(model, _x(3, 6, scale=3.0))
    _check(_seq((4,), layers.Dense(3, activation=name)), _x(3, 4, scale=3.0))


MERGES = {
    "add": layers.Add,
    "subtract": layers.Subtract,
    "multiply": layers.Multiply,
    "average": layers.Average,
    "maximum": layers.Maximum,
    "minimum": layers.Minimum,
    "concatenate": layers.Concatenate,
}


@pytest.mark.parametrize("name", sorted(MERGES))
def test_merging_layers_match_predict(name):
    count = 2 if name == "subtract" else 3
    inputs = [layers.Input(shape=(3, 4), name=f"in{i}") for i in range(count)]
    out = MERGES[name]()(inputs)
    model = numdl.Model(inputs, out)
    _check(model, [_x(5, 3, 4) for _ in range(count)])


def test_merge_of_different_ranks_expands_after_the_batch_axis():
    a, b = layers.Input(shape=(4,)), layers.Input(shape=(3, 4))
    model = numdl.Model([a, b], layers.Add()([a, b]))
    _check(model, [_x(2, 4), _x(2, 3, 4)])


def test_concatenate_along_a_middle_axis():
    a, b = layers.Input(shape=(2, 4)), layers.Input(shape=(3, 4))
    model = numdl.Model([a, b], layers.Concatenate(axis=1)([a, b]))
    _check(model, [_x(2, 2, 4), _x(2, 3, 4)])


# ------------------------------------------------------------------ models
def mnist_convnet() -> numdl.Sequential:
    """The Keras example's MNIST convnet."""
    return _seq(
        (28, 28, 1),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    )


def test_mnist_convnet_matches_predict_with_a_dynamic_batch():
    model = mnist_convnet()
    proto = _check(model, RNG.uniform(0, 1, (7, 28, 28, 1)).astype("float32"))
    session = _session(proto)
    one = RNG.uniform(0, 1, (1, 28, 28, 1)).astype("float32")
    (got,) = session.run(None, {session.get_inputs()[0].name: one})
    np.testing.assert_allclose(got, model.predict(one, verbose=0), rtol=1e-5, atol=1e-5)
    assert session.get_inputs()[0].shape[0] == "batch"


def test_functional_model_with_two_inputs_two_outputs_and_a_nested_model():
    image = layers.Input(shape=(6, 6, 2), name="image")
    extra = layers.Input(shape=(3,), name="extra")
    block = _seq(
        (6, 6, 2), layers.Conv2D(3, 3, padding="same"), layers.BatchNormalization()
    )
    features = layers.GlobalAveragePooling2D()(block(image))
    joined = layers.Concatenate()([features, layers.Dense(4, activation="elu")(extra)])
    hidden = layers.LayerNormalization()(layers.Dense(5, activation="gelu")(joined))
    score = layers.Dense(1, activation="sigmoid", name="score")(hidden)
    label = layers.Dense(3, activation="softmax", name="label")(hidden)
    model = numdl.Model([image, extra], [score, label])
    _randomize(block)
    proto = _check(model, [_x(3, 6, 6, 2), _x(3, 3)])
    assert [i.name for i in proto.graph.input] == ["image", "extra"]
    assert [o.name for o in proto.graph.output] == ["score", "label"]


def test_adapted_normalization_then_mlp():
    data = _x(50, 3) * 4 + 2
    norm = layers.Normalization()
    norm.adapt(data)
    model = _seq((3,), norm, layers.Dense(8, activation="swish"), layers.Dense(2))
    _check(model, data[:6])


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
def test_supported_opsets(opset):
    model = _seq(
        (5, 4),
        layers.Conv1D(3, 2, activation="mish"),
        layers.LayerNormalization(),
        layers.GlobalMaxPooling1D(),
        layers.Dense(2, activation="relu6"),
    )
    proto = _check(model, _x(3, 5, 4, scale=3.0), opset=opset)
    assert proto.opset_import[0].version == opset


def test_writes_the_file(tmp_path):
    model = _seq((4,), layers.Dense(2))
    path = tmp_path / "model.onnx"
    proto = to_onnx(model, path)
    assert onnx.load(str(path)) == proto
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_float64_model(float64):
    model = _seq((4,), layers.Dense(3, activation="tanh"), layers.LayerNormalization())
    proto = to_onnx(model)
    x = RNG.standard_normal((2, 4))
    session = _session(proto)
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ errors
def test_unsupported_layer_names_the_layer_and_lists_what_is_supported():
    model = _seq((4, 4, 1), layers.UpSampling2D(name="up"))
    with pytest.raises(ValueError, match=r"'up' \(UpSampling2D\).*Conv2D, .*Dense"):
        to_onnx(model)


def test_unsupported_activation_names_the_layer():
    model = _seq((4,), layers.Dense(2, activation=lambda x: x * 2, name="custom"))
    with pytest.raises(ValueError, match=r"Dense 'custom'.*activation.*relu"):
        to_onnx(model)


def test_unbuilt_and_subclassed_models_are_refused():
    with pytest.raises(ValueError, match="not built"):
        to_onnx(numdl.Sequential([layers.Dense(2)]))

    class Mine(numdl.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(TypeError, match="subclassed"):
        to_onnx(Mine())


@pytest.mark.parametrize("opset", [12, 22, True, "17"])
def test_bad_opset(opset):
    with pytest.raises(ValueError, match="opset must be an int from 13 to 21"):
        to_onnx(_seq((4,), layers.Dense(2)), opset=opset)


def test_supported_layers_cover_the_issue_list():
    names = set(supported_layers())
    wanted = {"Dense", "Activation", "Dropout", "Flatten", "Reshape"}
    wanted |= {"BatchNormalization", "LayerNormalization", "Normalization"}
    wanted |= {"Conv1D", "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D"}
    wanted |= {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
    assert wanted | {"Concatenate"} <= names


@pytest.mark.parametrize("name", sorted(set(BUILTIN_ACTIVATIONS) - {"exponential"}))
def test_exported_activations_are_finite_at_the_extremes(name):
    model = _seq((5,), layers.Activation(name))
    x = np.array([[-1e4, -30.0, 0.0, 30.0, 1e4]], dtype="float32")
    session = _session(to_onnx(model))
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_unknown_spatial_sizes_use_same_upper_padding():
    model = _seq(
        (None, None, 2),
        layers.Conv2D(3, 3, strides=2, padding="same"),
        layers.AveragePooling2D(2, padding="same"),
        layers.GlobalMaxPooling2D(),
    )
    proto = to_onnx(model)
    pads = [a.s for n in proto.graph.node for a in n.attribute if a.name == "auto_pad"]
    assert pads == [b"SAME_UPPER", b"SAME_UPPER"]
    session = _session(proto)
    for shape in [(2, 9, 6, 2), (1, 4, 11, 2)]:
        x = _x(*shape)
        (got,) = session.run(None, {session.get_inputs()[0].name: x})
        np.testing.assert_allclose(
            got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5
        )
