"""``plot_model``: the layer graph with output shapes, drawn with matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from numdl.models.functional import Functional
from numdl.models.sequential import Sequential
from numdl.models.summary import format_layer_shape
from numdl.plot._base import (
    finish,
    panels,
    pyplot,  # noqa: F401 (the doctests close figures)
)


def model_graph(model: Any) -> tuple[list[Any], list[tuple[int, int]]]:
    """The layers (inputs first, as Keras orders them) and the edges
    ``(source, target)`` between them, as indices into the layers.

    A Sequential model without a graph yet (no Input, not called) is a
    chain; a layer called twice (shared) is one layer with the edges of both
    calls.

    >>> import numdl
    >>> model = numdl.Sequential([numdl.Input(shape=(3,)), numdl.layers.Dense(2)])
    >>> layers, edges = model_graph(model)
    >>> [type(layer).__name__ for layer in layers], edges
    (['InputLayer', 'Dense'], [(0, 1)])
    """
    if not isinstance(model, (Functional, Sequential)):
        raise TypeError(
            f"plot_model draws Sequential and functional models, got "
            f"{type(model).__name__} (a subclassed model's graph is only known "
            f"by running its call)"
        )
    graph = model.__dict__.get("_functional") or model
    nodes = getattr(graph, "_network_nodes", None)
    layers = list(graph._layers if nodes is not None else model.layers)
    if not layers:
        raise ValueError(f"plot_model: model {model.name!r} has no layers")
    if nodes is None:
        return layers, [(i, i + 1) for i in range(len(layers) - 1)]
    index = {id(layer): i for i, layer in enumerate(layers)}
    edges = []
    for j, layer in enumerate(layers):
        for node in layer._inbound_nodes:
            if id(node) in nodes:
                edges += [
                    (index[id(t._keras_history[0])], j) for t in node.input_tensors
                ]
    return layers, edges


def _levels(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Each layer's row: the longest path to it from an input."""
    level = [0] * n
    for _ in range(n):  # at most n rounds settle a graph without cycles
        changed = False
        for i, j in edges:
            if level[j] < level[i] + 1 and i != j:
                level[j], changed = level[i] + 1, True
        if not changed:
            break
    return level


def plot_model(
    model: Any, path: str | Path | None = None, show_shapes: bool = True
) -> Any:
    """Draw a model's layer graph, top to bottom: one box per layer with its
    name, class and (``show_shapes``) output shape, an arrow per connection.

    Sequential and functional models (branches, merges, several inputs and
    outputs); matplotlib only, no graphviz. Each box is a Text whose gid is
    the layer's name, each arrow an Annotation whose gid is
    ``"source->target"``.

    >>> import numdl
    >>> x = numdl.Input(shape=(3,), name="x")
    >>> model = numdl.Model(x, numdl.layers.Dense(2, name="y")(x))
    >>> fig = plot_model(model)
    >>> sorted(t.get_gid() for t in fig.axes[0].texts)
    ['x', 'x->y', 'y']
    >>> pyplot().close(fig)
    """
    layers, edges = model_graph(model)
    level = _levels(len(layers), edges)
    rows: dict[int, list[int]] = {}
    for i, lv in enumerate(level):
        rows.setdefault(lv, []).append(i)
    widest = max(len(r) for r in rows.values())
    fig, (ax,) = panels(1, 1, (max(3.0, 2.8 * widest), 0.9 * len(rows) + 0.4))
    where = {
        i: (k - (len(r) - 1) / 2, -lv)
        for lv, r in rows.items()
        for k, i in enumerate(r)
    }
    for i, layer in enumerate(layers):
        _box(ax, layer, where[i], show_shapes)
    for i, j in edges:
        _arrow(ax, where[i], where[j], f"{layers[i].name}->{layers[j].name}")
    ax.set_xlim(-widest / 2, widest / 2)
    ax.set_ylim(-len(rows) + 0.5, 0.5)
    ax.set_axis_off()
    ax.set_title(f'Model: "{model.name}"', fontsize="medium")
    return finish(fig, path)


def _box(ax: Any, layer: Any, xy: tuple[float, float], show_shapes: bool) -> None:
    text = f"{layer.name} ({type(layer).__name__})"
    if show_shapes:
        text += f"\n{format_layer_shape(layer)}"
    box = {"boxstyle": "round,pad=0.4", "facecolor": "#e8f0fb", "edgecolor": "0.3"}
    shown = ax.text(*xy, text, ha="center", va="center", fontsize=8, bbox=box)
    shown.set_gid(layer.name)


def _arrow(ax: Any, start: tuple, end: tuple, gid: str) -> None:
    style = {"arrowstyle": "-|>", "color": "0.3", "shrinkA": 14, "shrinkB": 14}
    shown = ax.annotate("", xy=end, xytext=start, arrowprops=style)
    shown.set_gid(gid)
