"""model.summary(): Keras 3's table, parsed back and checked against the weights."""

from __future__ import annotations

import re

import numpy as np
import pytest

import numdl
from numdl import layers
from numdl.layers import Dense, Input
from numdl.models import Model, Sequential
from numdl.models.summary import readable_memory_size, summary_text

ROW = re.compile(r"^│ (.+?) \((\w+)\)\s*│ (.+?)\s*│\s*([\d,]+(?: \(unbuilt\))?) │")
TOTAL = re.compile(
    r"^ (Total|Trainable|Non-trainable|Optimizer) params: ([\d,]+) \((.+)\)$"
)


def capture(model, **kwargs):
    texts = []
    model.summary(print_fn=texts.append, **kwargs)
    assert len(texts) == 1  # Keras 3 hands print_fn the whole text at once
    return texts[0]


def rows(text):
    """(name, class, shape, params) for each layer row of a 3-column table."""
    found = []
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            found.append(match.groups())
    return found


def totals(text):
    out = {}
    for line in text.splitlines():
        match = TOTAL.match(line)
        if match:
            out[match.group(1)] = (int(match.group(2).replace(",", "")), match.group(3))
    return out


def keras_size(n_bytes):
    """Keras's readable_memory_size, written out independently for the check."""
    for unit, scale in (("B", 1), ("KB", 1024), ("MB", 1024**2), ("GB", 1024**3)):
        if n_bytes / scale < 1024:
            return f"{n_bytes / scale:.2f} {unit}"
    raise AssertionError("size too large for the test")


def test_sequential_table_numbers_match_the_weights():
    model = Sequential(
        [Input(shape=(784,)), Dense(32, name="hidden"), Dense(10, name="scores")],
        name="mnist_mlp",
    )
    text = capture(model, line_length=80)
    assert text.splitlines()[0] == 'Model: "mnist_mlp"'
    header = text.splitlines()[2]
    assert "Layer (type)" in header and "Output Shape" in header
    assert header.rstrip("┃").rstrip().endswith("Param #")
    found = rows(text)
    assert [r[:3] for r in found] == [
        ("hidden", "Dense", "(None, 32)"),
        ("scores", "Dense", "(None, 10)"),
    ]
    for (_, _, _, params), layer in zip(found, model.layers):
        assert int(params.replace(",", "")) == sum(w.size for w in layer.weights)
    assert found[0][3] == "25,120"
    n = sum(w.size for w in model.weights)
    assert totals(text) == {
        "Total": (n, keras_size(4 * n)),
        "Trainable": (n, keras_size(4 * n)),
        "Non-trainable": (0, "0.00 B"),
    }
    assert totals(text)["Total"][1] == "99.41 KB"  # 25,450 float32 params


def test_every_line_has_the_requested_width():
    model = Sequential([Input(shape=(3,)), Dense(2)])
    for width in (60, 88, 121):
        text = capture(model, line_length=width)
        table = [line for line in text.splitlines() if line[:1] in "┏┃┡│├└"]
        assert table and all(len(line) == width for line in table)


def test_frozen_layers_count_as_non_trainable_and_float64_is_8_bytes(float64):
    frozen = Dense(5, name="frozen")
    model = Sequential([Input(shape=(4,)), frozen, Dense(1, name="free")])
    frozen.trainable = False
    found = totals(capture(model))
    n_frozen, n_free = 4 * 5 + 5, 5 + 1
    assert found["Trainable"] == (n_free, keras_size(8 * n_free))
    assert found["Non-trainable"] == (n_frozen, keras_size(8 * n_frozen))
    assert found["Total"] == (n_free + n_frozen, keras_size(8 * (n_free + n_frozen)))


def test_unbuilt_model_says_so():
    model = Sequential([Dense(4, name="a"), Dense(1, name="b")], name="lazy")
    text = capture(model, line_length=80)
    assert rows(text) == [
        ("a", "Dense", "?", "0 (unbuilt)"),
        ("b", "Dense", "?", "0 (unbuilt)"),
    ]
    assert totals(text)["Total"] == (0, "0.00 B")
    model(np.ones((2, 3)))
    built = rows(capture(model, line_length=80))
    assert built == [
        ("a", "Dense", "(None, 4)", "16"),
        ("b", "Dense", "(None, 1)", "5"),
    ]


def test_functional_chain_lists_the_input_layer():
    x = Input(shape=(8,), name="pixels")
    model = Model(x, Dense(2, name="out")(x), name="chain")
    found = rows(capture(model, line_length=80))
    assert found == [
        ("pixels", "InputLayer", "(None, 8)", "0"),
        ("out", "Dense", "(None, 2)", "18"),
    ]


def test_graph_model_has_connected_to_column():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(3,), name="b")
    shared = Dense(2, name="shared")
    merged = layers.Concatenate(name="cat")([shared(a), shared(b)])
    model = Model([a, b], Dense(1, name="y")(merged), name="siamese")
    text = capture(model, line_length=140)
    header = text.splitlines()[2]
    assert "Connected to" in header
    lines = {
        line.split("│")[1].split()[0]: line
        for line in text.splitlines()
        if line.startswith("│")
    }
    assert "a[0][0], b[0][0]" in lines["shared"]
    assert "shared[0][0], shared[1][0]" in lines["cat"]
    assert lines["a"].split("│")[4].strip() == "-"
    assert " 8 " in lines["shared"]  # one set of weights: 3*2 + 2


def test_multi_output_layer_shape_is_a_list():
    class Split(layers.Layer):
        def call(self, inputs):
            return [inputs[:, :1], inputs[:, 1:]]

    x = Input(shape=(3,))
    model = Model(x, Split(name="split")(x))
    assert "[(None, 1), (None, 2)]" in capture(model, line_length=100)


def test_show_trainable_column():
    frozen = Dense(2, name="frozen")
    model = Sequential([Input(shape=(2,)), frozen, layers.Flatten(name="flat")])
    frozen.trainable = False
    text = capture(model, show_trainable=True, line_length=100)
    marks = {
        line.split("│")[1].split()[0]: line.split("│")[-2].strip()
        for line in text.splitlines()
        if line.startswith("│")
    }
    assert marks == {"frozen": "N", "flat": "-"}
    assert "Trainable" in text.splitlines()[2]


def test_expand_nested():
    inner_in = Input(shape=(3,), name="inner_in")
    inner = Model(inner_in, Dense(2, name="inner_dense")(inner_in), name="inner")
    x = Input(shape=(3,), name="x")
    outer = Model(x, Dense(1, name="head")(inner(x)), name="outer")
    plain = capture(outer, line_length=90)
    assert "inner_dense" not in plain and "inner (Functional)" in plain
    expanded = capture(outer, expand_nested=True, line_length=90)
    assert "   └ inner_dense (Dense)" in expanded
    assert "   └ inner_in (InputLayer)" in expanded


def test_layer_range():
    model = Sequential(
        [
            Input(shape=(2,)),
            Dense(2, name="d1"),
            Dense(2, name="d2"),
            Dense(2, name="d3"),
        ]
    )
    names = [r[0] for r in rows(capture(model, layer_range=["d2", "d3"]))]
    assert names == ["d2", "d3"]
    with pytest.raises(ValueError, match="matches no layer"):
        capture(model, layer_range=["nope", "d3"])


def test_default_print_goes_to_stdout(capsys):
    model = Sequential([Input(shape=(2,)), Dense(1, name="only")], name="printed")
    model.summary()
    out = capsys.readouterr().out
    assert out.startswith('Model: "printed"\n') and "only (Dense)" in out


def test_optimizer_params_after_training():
    numdl.set_random_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1, verbose=0)
    found = totals(capture(model))
    n = 3 * 2 + 2
    assert found["Optimizer"] == (2 * n, keras_size(4 * 2 * n))  # m and v
    assert found["Total"][0] == 3 * n


def test_subclassed_model_rows_use_build_shapes():
    class Net(Model):
        def __init__(self):
            super().__init__(name="net")
            self.body = Dense(4, name="body")
            self.top = Dense(2, name="top")

        def call(self, inputs):
            return self.top(self.body(inputs))

    model = Net()
    model(np.ones((1, 3)))
    assert rows(capture(model, line_length=80)) == [
        ("body", "Dense", "(None, 4)", "16"),
        ("top", "Dense", "(None, 2)", "10"),
    ]


def test_too_narrow_is_an_error():
    model = Sequential([Input(shape=(2,)), Dense(1)])
    with pytest.raises(ValueError, match="insufficient console width"):
        capture(model, line_length=8)


@pytest.mark.parametrize(
    "n_bytes, expected",
    [
        (0, "0.00 B"),
        (1023, "1023.00 B"),
        (1024, "1.00 KB"),
        (100480, "98.12 KB"),
        (1024**2 * 3.5, "3.50 MB"),
        (5 * 1024**3, "5.00 GB"),
        (3 * 1024**5, "3.00 PB"),
        (2 * 1024**6, "2.00 PB"),  # Keras divides once more past its last unit
    ],
)
def test_readable_memory_size_as_keras(n_bytes, expected):
    assert readable_memory_size(n_bytes) == expected


def test_summary_text_wraps_long_names_inside_the_cell():
    model = Sequential([Input(shape=(2,)), Dense(1, name="a_very_long_layer_name_x")])
    text = summary_text(model, line_length=40)
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│├└"]
    assert all(len(line) == 40 for line in table)
    first_cells = [line.split("│")[1].strip() for line in table if line[0] == "│"]
    assert len(first_cells) > 1  # wrapped over several lines of the row
    assert "".join(first_cells).replace(" ", "") == "a_very_long_layer_name_x(Dense)"


def test_shared_layer_in_two_sequentials_shows_each_models_shape():
    shared = layers.Flatten(name="shared_flat")
    small = Sequential([Input(shape=(2, 2)), shared], name="small")
    big = Sequential([Input(shape=(3, 3)), shared], name="big")
    assert rows(capture(small, line_length=80))[0][2] == "(None, 4)"
    assert rows(capture(big, line_length=80))[0][2] == "(None, 9)"
