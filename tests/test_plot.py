"""numdl.plot: the plotted data is the computed data, and the files are PNGs.

Every figure is rendered with Agg; the data is read back from the Axes and
compared with values computed independently (PyTorch for activations and
their derivatives, scikit-learn for the confusion matrix, the History for
training curves, model.predict for decision regions).
"""

import subprocess
import sys
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _images import png_size  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

import numdl  # noqa: E402
from numdl import layers, plot, registry  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def assert_png_of(fig, path):
    """The file is a PNG of figsize * dpi pixels, with something drawn."""
    width, height = png_size(path)
    expected = np.round(fig.get_size_inches() * fig.dpi).astype(int)
    assert (width, height) == tuple(expected)
    pixels = plt.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.01  # not a blank canvas


def line(ax, label):
    found = [ln for ln in ax.lines if ln.get_label() == label]
    assert len(found) == 1, [ln.get_label() for ln in ax.lines]
    return found[0]


def span_extents(ax):
    """The x-extents of the shaded spans (axvspan rectangles) of an Axes."""
    spans = []
    for patch in ax.patches:
        xs = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
        spans.append((xs.min(), xs.max()))
    return sorted(spans)


# ----------------------------------------------------------- activations
TORCH_ACTIVATIONS = {
    "elu": F.elu,
    "exponential": torch.exp,
    "gelu": F.gelu,
    "hard_sigmoid": lambda x: F.relu6(x + 3) / 6,  # Keras 3 (F.hardsigmoid: f32 1/6)
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),  # Keras's slope
    "linear": lambda x: x * 1.0,
    "mish": F.mish,
    "relu": F.relu,
    "relu6": F.relu6,
    "selu": F.selu,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "softplus": F.softplus,  # below torch's threshold 20 on [-6, 6]
    "softsign": F.softsign,
    "tanh": torch.tanh,
}
KINKS = np.array([-3.0, 0.0, 3.0, 6.0])  # where one-sided derivatives differ


def torch_curve(name, x):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = TORCH_ACTIVATIONS[name](t)
    y.sum().backward()
    return y.detach().numpy(), t.grad.numpy()


def test_activation_panels_show_torch_values_and_autograd_derivatives():
    names = sorted(TORCH_ACTIVATIONS)
    fig = plot.plot_activations(names, x_range=(-6, 6), num=301)
    assert [ax.get_title() for ax in fig.axes] == names
    for ax, name in zip(fig.axes, names):
        x = line(ax, name).get_xdata()
        np.testing.assert_allclose(x, np.linspace(-6, 6, 301), rtol=0, atol=0)
        y, dy = torch_curve(name, x)
        smooth = np.abs(x[:, None] - KINKS).min(axis=1) > 1e-9
        np.testing.assert_allclose(
            line(ax, name).get_ydata(), y, rtol=1e-10, atol=1e-14, err_msg=name
        )
        np.testing.assert_allclose(
            line(ax, "derivative").get_ydata()[smooth],
            dy[smooth],
            rtol=1e-10,
            atol=1e-14,
            err_msg=name,
        )


def test_default_gallery_is_every_elementwise_activation_once(tmp_path):
    fig = plot.plot_activations(path=tmp_path / "gallery.png")
    titles = [ax.get_title() for ax in fig.axes]
    registered = registry.names("activation")
    functions = {
        registry.get("activation", n)
        for n in registered
        if n not in ("softmax", "log_softmax")
    }
    assert len(titles) == len(set(titles)) == len(functions)
    assert {registry.get("activation", t) for t in titles} == functions
    assert "swish" not in titles and "silu" in titles  # one name per function
    assert_png_of(fig, tmp_path / "gallery.png")


def test_saturated_tails_are_shaded_where_the_derivative_is_below_1e_2():
    fig = plot.plot_activations(["sigmoid", "tanh", "relu", "linear", "silu"])
    step = 12 / 399  # default grid: 400 points on [-6, 6]
    spans = {ax.get_title(): span_extents(ax) for ax in fig.axes}
    # sigmoid' = s(1 - s) = 0.01  <=>  s = (1 - sqrt(0.96)) / 2
    edge = np.log(1 / ((1 - np.sqrt(0.96)) / 2) - 1)
    (left, right) = spans["sigmoid"]
    np.testing.assert_allclose([left[0], right[1]], [-6, 6])
    np.testing.assert_allclose([left[1], right[0]], [-edge, edge], atol=step)
    edge = np.arctanh(np.sqrt(0.99))  # tanh' = 1 - tanh^2 = 0.01
    (left, right) = spans["tanh"]
    np.testing.assert_allclose([left[1], right[0]], [-edge, edge], atol=step)
    ((start, end),) = spans["relu"]
    assert start == -6 and abs(end) <= step
    assert spans["linear"] == []
    # silu' crosses 0 at its minimum (x ~ -1.28): a point, not a flat tail
    assert all(s == -6 for s, _ in spans["silu"])
    assert all(e < -4 for _, e in spans["silu"])


def test_saturation_threshold_is_an_argument():
    fig = plot.plot_activations(["sigmoid"], saturation=0.1)
    edge = np.log(1 / ((1 - np.sqrt(0.6)) / 2) - 1)  # s(1 - s) = 0.1
    (left, _) = span_extents(fig.axes[0])
    assert abs(left[1] + edge) <= 12 / 399


def test_softmax_named_is_drawn_for_the_pair_x_and_zero():
    fig = plot.plot_activations(["softmax", "log_softmax"], num=101)
    x = np.linspace(-6, 6, 101)
    t = torch.tensor(x, requires_grad=True)
    pair = torch.stack([t, torch.zeros_like(t)], dim=-1)
    for ax, fn in zip(fig.axes, (torch.softmax, torch.log_softmax)):
        t.grad = None
        y = fn(pair, dim=-1)[:, 0]
        y.sum().backward()
        name = ax.get_title().split()[0]
        np.testing.assert_allclose(line(ax, name).get_ydata(), y.detach(), rtol=1e-10)
        np.testing.assert_allclose(
            line(ax, "derivative").get_ydata(), t.grad, rtol=1e-10, atol=1e-15
        )


def test_without_derivative_only_the_function_is_drawn():
    fig = plot.plot_activations("tanh", derivative=False, x_range=(-2, 3), num=11)
    ax = fig.axes[0]
    drawn = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
    assert [ln.get_label() for ln in drawn] == ["tanh"]
    np.testing.assert_allclose(drawn[0].get_ydata(), np.tanh(np.linspace(-2, 3, 11)))


def test_activation_mistakes_are_named():
    with pytest.raises(ValueError, match="plot_activations: unknown.*'nope'.*relu"):
        plot.plot_activations(["relu", "nope"])
    with pytest.raises(ValueError, match=r"x_range.*low < high.*\(3.0, 1.0\)"):
        plot.plot_activations(["relu"], x_range=(3.0, 1.0))


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "numdl\[plot\]"'):
        plot.plot_confusion_matrix([0, 1], [0, 1])


def test_importing_numdl_plot_does_not_import_matplotlib():
    code = "import sys, numdl.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- history
def tiny_classifier(seed=0):
    numdl.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(96, 2)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    model = numdl.Sequential(
        [numdl.Input(shape=(2,)), layers.Dense(4, activation="tanh"), layers.Dense(1)]
    )
    model.compile(
        optimizer="adam",
        loss=numdl.losses.BinaryCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model, x, y


def test_history_lines_are_the_history_and_the_best_epochs_are_marked(tmp_path):
    model, x, y = tiny_classifier()
    history = model.fit(x, y, epochs=6, validation_split=0.25, verbose=0)
    fig = plot.plot_history(history, path=tmp_path / "history.png")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax, best in zip(fig.axes, (np.argmin, np.argmax)):
        name = ax.get_title()
        for key in (name, f"val_{name}"):
            np.testing.assert_array_equal(line(ax, key).get_xdata(), np.arange(1, 7))
            np.testing.assert_allclose(line(ax, key).get_ydata(), history.history[key])
        epoch = int(best(history.history[f"val_{name}"])) + 1
        assert line(ax, f"best epoch {epoch}").get_xdata()[0] == epoch
        assert not [ln for ln in ax.lines if ln.get_label() == "stopped"]
    assert_png_of(fig, tmp_path / "history.png")


def test_early_stopping_is_marked_where_training_stopped():
    model, x, y = tiny_classifier()
    stop = numdl.callbacks.EarlyStopping(monitor="val_loss", min_delta=10.0)
    history = model.fit(
        x, y, epochs=30, validation_split=0.25, callbacks=[stop], verbose=0
    )
    assert len(history.epoch) < 30 and stop.stopped_epoch > 0
    for fig in (plot.plot_history(history), plot.plot_history(history, None, stop)):
        for ax in fig.axes:
            assert line(ax, "stopped").get_xdata()[0] == stop.stopped_epoch + 1
            assert stop.stopped_epoch + 1 == len(history.epoch)


def test_history_from_a_dict_and_chosen_metrics():
    logs = {"loss": [3.0, 1.0, 2.0], "mae": [0.5, 0.7, 0.2], "learning_rate": [1, 1, 1]}
    fig = plot.plot_history(logs)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "mae"]  # no lr
    assert line(fig.axes[1], "best epoch 3").get_xdata()[0] == 3
    fig = plot.plot_history(logs, metrics=["learning_rate"])
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["learning_rate"]  # no best
    with pytest.raises(ValueError, match=r"no \['acc'\].*loss, mae, learning_rate"):
        plot.plot_history(logs, metrics="acc")
    with pytest.raises(TypeError, match="History.*got list"):
        plot.plot_history([1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        plot.plot_history({})


# ---------------------------------------------------------------- monitor
def stand_in_monitor():
    """The GradientMonitor's interface: 0-based epochs, per-layer lists."""
    return SimpleNamespace(
        epochs=[0, 1, 2],
        grad_norm={"dense": [1.0, 0.5, 0.25], "dense_1": [1e-7, 1e-8, 0.0]},
        update_ratio={"dense": [1e-2, 5e-3, 1e-3], "dense_1": [1e-9, 1e-9, 1e-9]},
        dead_fraction={"dense": [0.0, 0.25, 0.75]},
        saturated_fraction={},
        warnings=[],
    )


def test_gradient_flow_lines_are_the_recorded_norms_on_log_scale(tmp_path):
    monitor = stand_in_monitor()
    fig = plot.plot_gradient_flow(monitor, path=tmp_path / "flow.png")
    for ax, attr in zip(fig.axes, ("grad_norm", "update_ratio")):
        assert ax.get_yscale() == "log"
        for layer, values in getattr(monitor, attr).items():
            np.testing.assert_array_equal(line(ax, layer).get_xdata(), [1, 2, 3])
            np.testing.assert_array_equal(line(ax, layer).get_ydata(), values)
    assert_png_of(fig, tmp_path / "flow.png")


def test_activation_stats_are_the_recorded_fractions(tmp_path):
    monitor = stand_in_monitor()
    fig = plot.plot_activation_stats(monitor, path=tmp_path / "stats.png")
    dead, saturated = fig.axes
    np.testing.assert_array_equal(line(dead, "dense").get_ydata(), [0.0, 0.25, 0.75])
    assert (
        len(saturated.lines) == 0
        and "no layer of this kind" in saturated.texts[0].get_text()
    )
    assert_png_of(fig, tmp_path / "stats.png")


def test_monitor_plots_of_a_real_gradient_monitor(tmp_path):
    numdl.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    model = numdl.Sequential(
        [
            numdl.Input(shape=(3,)),
            layers.Dense(6, "relu", name="rectified"),
            layers.Dense(4, "sigmoid", name="squashed"),
            layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    monitor = numdl.callbacks.GradientMonitor(verbose=0)
    model.fit(x, x.sum(axis=1), epochs=3, verbose=0, callbacks=[monitor])
    flow = plot.plot_gradient_flow(monitor, path=tmp_path / "flow.png")
    stats = plot.plot_activation_stats(monitor, path=tmp_path / "stats.png")
    panels = zip(
        [*flow.axes, *stats.axes],
        ["grad_norm", "update_ratio", "dead_fraction", "saturated_fraction"],
    )
    for ax, attr in panels:
        recorded = getattr(monitor, attr)
        assert recorded, attr
        for layer, values in recorded.items():
            np.testing.assert_array_equal(line(ax, layer).get_xdata(), [1, 2, 3])
            np.testing.assert_array_equal(line(ax, layer).get_ydata(), values)
    assert set(monitor.grad_norm) == {"rectified", "squashed", "out"}
    assert list(monitor.dead_fraction) == ["rectified"]
    assert list(monitor.saturated_fraction) == ["squashed"]
    assert_png_of(flow, tmp_path / "flow.png")
    assert_png_of(stats, tmp_path / "stats.png")


def test_monitor_mistakes_are_named():
    monitor = stand_in_monitor()
    monitor.grad_norm["dense"] = [1.0]
    with pytest.raises(ValueError, match=r"grad_norm\['dense'\] has 1 values for 3"):
        plot.plot_gradient_flow(monitor)
    with pytest.raises(TypeError, match="GradientMonitor.*without epochs"):
        plot.plot_activation_stats(object())
    with pytest.raises(ValueError, match="no epoch"):
        plot.plot_gradient_flow(SimpleNamespace(**{**vars(monitor), "epochs": []}))


# ------------------------------------------------------- decision regions
def regions_of(fig):
    ax = fig.axes[0]
    image = ax.images[0]
    x0, x1, y0, y1 = image.get_extent()
    grid = np.asarray(image.get_array())
    xs, ys = np.linspace(x0, x1, grid.shape[1]), np.linspace(y0, y1, grid.shape[0])
    return grid, np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2), ax


def test_decision_regions_of_a_sigmoid_model_are_its_predictions(tmp_path):
    model, x, y = tiny_classifier()
    model.fit(x, y, epochs=2, verbose=0)
    probability = numdl.Sequential([model, layers.Activation("sigmoid")])
    fig = plot.plot_decision_boundary(
        probability, x, y, path=tmp_path / "regions.png", resolution=40
    )
    grid, points, ax = regions_of(fig)
    assert grid.shape == (40, 40)
    expected = probability.predict(points.astype("float32"), verbose=0)[:, 0]
    np.testing.assert_allclose(grid.ravel(), expected, rtol=1e-6)
    lo, hi = x.min(axis=0), x.max(axis=0)
    np.testing.assert_allclose(points.min(axis=0), lo - 0.1 * (hi - lo), rtol=1e-6)
    np.testing.assert_allclose(points.max(axis=0), hi + 0.1 * (hi - lo), rtol=1e-6)
    np.testing.assert_array_equal(ax.collections[-1].get_offsets(), x)
    assert_png_of(fig, tmp_path / "regions.png")


def test_decision_regions_of_several_classes_are_the_argmax():
    def three_classes(points):
        return np.stack([points[:, 0], points[:, 1], -points.sum(axis=1)], axis=1)

    x = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 3.0], [1.0, -2.0]])
    fig = plot.plot_decision_boundary(three_classes, x, [0, 1, 2, 0], resolution=9)
    grid, points, _ = regions_of(fig)
    np.testing.assert_array_equal(grid.ravel(), three_classes(points).argmax(axis=1))


def test_decision_boundary_mistakes_are_named():
    with pytest.raises(ValueError, match=r"shape \(n, 2\); got shape \(4, 3\)"):
        plot.plot_decision_boundary(lambda g: g, np.zeros((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="x has 2 points but y 3"):
        plot.plot_decision_boundary(lambda g: g, np.zeros((2, 2)), [0, 1, 0])


# ------------------------------------------------------- confusion matrix
def test_confusion_matrix_image_and_cells_are_the_counts(tmp_path):
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 4, 200))
    names = ["a", "b", "c", "d"]
    fig = plot.plot_confusion_matrix(
        y_true, y_pred, labels=names, path=tmp_path / "cm.png"
    )
    ax = fig.axes[0]
    expected = confusion_matrix(y_true, y_pred, labels=range(4))
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    cells = {(t.get_position()[1], t.get_position()[0]): t.get_text() for t in ax.texts}
    assert cells == {(i, j): str(n) for (i, j), n in np.ndenumerate(expected)}
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert f"{np.trace(expected)} / 200" in ax.get_title()
    assert_png_of(fig, tmp_path / "cm.png")


def test_confusion_matrix_from_one_hot_and_probabilities():
    y_true = np.eye(3)[[0, 1, 2, 2]]
    probabilities = np.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0, 0, 1], [0, 1, 0]])
    fig = plot.plot_confusion_matrix(y_true, probabilities)
    expected = confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], labels=range(3))
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), expected)


def test_confusion_matrix_mistakes_are_named():
    with pytest.raises(ValueError, match="y_true has 3 samples but y_pred 2"):
        plot.plot_confusion_matrix([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="has 0 samples.*at least one"):
        plot.plot_confusion_matrix([], [])
    with pytest.raises(ValueError, match="2 labels given but the data holds class 2"):
        plot.plot_confusion_matrix([0, 2], [0, 1], labels=["x", "y"])
    with pytest.raises(ValueError, match="negative class -1"):
        plot.plot_confusion_matrix([0, -1], [0, 1])


# ----------------------------------------------------------------- images
def test_image_grid_shows_each_image_with_its_label(tmp_path):
    (x, y), _ = numdl.datasets.digits.load_data()
    x, y = x[:12], y[:12]
    predictions = y.copy()
    predictions[[2, 7]] = (y[[2, 7]] + 1) % 10
    flat = x.reshape(12, 64)
    fig = plot.plot_images(flat, y, predictions, path=tmp_path / "digits.png")
    assert len(fig.axes) == 12
    for i, ax in enumerate(fig.axes):
        np.testing.assert_array_equal(ax.images[0].get_array(), x[i])
        wrong = i in (2, 7)
        title = f"{predictions[i]} ({y[i]})" if wrong else str(y[i])
        assert ax.get_title() == title
        red = matplotlib.colors.to_rgb("tab:red")
        assert (matplotlib.colors.to_rgb(ax.title.get_color()) == red) == wrong
    assert_png_of(fig, tmp_path / "digits.png")


def test_image_grid_takes_channels_probabilities_and_class_names():
    x = np.random.default_rng(0).random((3, 5, 4, 1))
    fig = plot.plot_images(x, predictions=np.eye(3), class_names=["a", "b", "c"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), x[1, ..., 0])
    with pytest.raises(ValueError, match=r"plot_images: expected images.*\(3, 5\)"):
        plot.plot_images(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="3 images but 2 y"):
        plot.plot_images(x, y=[0, 1])


# ---------------------------------------------------------------- softmax
def test_softmax_bars_are_the_probabilities(tmp_path):
    logits = np.random.default_rng(2).normal(size=(3, 5))
    p = torch.softmax(torch.tensor(logits), dim=-1).numpy()
    fig = plot.plot_softmax(p, labels=list("vwxyz"), path=tmp_path / "softmax.png")
    assert len(fig.axes) == 3
    orange = matplotlib.colors.to_rgba("tab:orange")
    for ax, row in zip(fig.axes, p):
        np.testing.assert_allclose([b.get_height() for b in ax.patches], row)
        colors = [b.get_facecolor() for b in ax.patches]
        assert [c == orange for c in colors] == list(row == row.max())
    assert_png_of(fig, tmp_path / "softmax.png")


def test_softmax_of_logits_is_refused():
    with pytest.raises(ValueError, match="row 1 is not a probability.*softmax"):
        plot.plot_softmax([[0.5, 0.5], [2.0, -1.0]])
    with pytest.raises(ValueError, match="3 labels for 2 classes"):
        plot.plot_softmax([0.5, 0.5], labels=["a", "b", "c"])


# ------------------------------------------------------------------ model
def branching_model():
    a = numdl.Input(shape=(4,), name="a")
    b = numdl.Input(shape=(4,), name="b")
    shared = layers.Dense(8, activation="relu", name="shared")
    merged = layers.Concatenate(name="merge")([shared(a), shared(b)])
    head = layers.Dense(3, name="head")(merged)
    side = layers.Dense(1, name="side")(layers.Dense(5, name="hidden")(merged))
    return numdl.Model([a, b], [head, side], name="two_heads")


def test_model_graph_boxes_and_arrows(tmp_path):
    model = branching_model()
    fig = plot.plot_model(model, path=tmp_path / "model.png")
    ax = fig.axes[0]
    boxes = {t.get_gid(): t for t in ax.texts if t.get_text()}
    arrows = {t.get_gid(): t for t in ax.texts if not t.get_text()}
    shapes = {
        "a": "(None, 4)",
        "b": "(None, 4)",
        "shared": "(None, 8)",
        "merge": "(None, 16)",
        "head": "(None, 3)",
        "hidden": "(None, 5)",
        "side": "(None, 1)",
    }
    assert set(boxes) == set(shapes)
    for layer in model.layers:
        expected = f"{layer.name} ({type(layer).__name__})\n{shapes[layer.name]}"
        assert boxes[layer.name].get_text() == expected
    edges = {"a->shared", "b->shared", "shared->merge", "merge->head"}
    edges |= {"merge->hidden", "hidden->side"}
    assert set(arrows) == edges
    for gid, arrow in arrows.items():
        source, target = gid.split("->")
        assert arrow.xyann == boxes[source].get_position()
        assert arrow.xy == boxes[target].get_position()
        assert boxes[source].get_position()[1] > boxes[target].get_position()[1]
    assert_png_of(fig, tmp_path / "model.png")


def test_sequential_model_is_a_chain_with_or_without_an_input():
    built = numdl.Sequential([numdl.Input(shape=(3,)), layers.Dense(2, name="d1")])
    layers_, edges = plot.model_graph(built)
    assert [type(x).__name__ for x in layers_] == ["InputLayer", "Dense"]
    assert edges == [(0, 1)]
    unbuilt = numdl.Sequential([layers.Dense(2, name="u1"), layers.Dense(1, name="u2")])
    fig = plot.plot_model(unbuilt, show_shapes=False)
    texts = sorted(t.get_text() for t in fig.axes[0].texts if t.get_text())
    assert texts == ["u1 (Dense)", "u2 (Dense)"]


def test_plot_model_refuses_a_subclassed_model():
    class Net(numdl.Model):
        def call(self, inputs, training=None):
            return inputs

    with pytest.raises(TypeError, match="Sequential and functional.*got Net"):
        plot.plot_model(Net())


def test_host_reads_a_tensors_array_but_not_an_arrays_data_attribute():
    """CuPy arrays have a ``.data`` (a memory pointer): only Tensors unwrap."""
    from numdl.plot._base import host

    class PointerArray(np.ndarray):  # an array whose .data is not its values
        @property
        def data(self):
            return "a device pointer"

    arr = np.arange(3.0).view(PointerArray)
    assert host(arr).tolist() == [0.0, 1.0, 2.0]
    assert host(numdl.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]
