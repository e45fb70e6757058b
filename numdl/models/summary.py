"""``model.summary()``: Keras 3's table of layers, output shapes and parameters.

The layout follows Keras 3 (``keras/src/utils/summary_utils.py``), drawn with
the same box characters that its ``rich`` table uses, without ``rich``:

- one row per layer: ``name (ClassName)``, output shape such as
  ``(None, 32)`` (``?`` when unknown), parameter count ``25,120`` or
  ``0 (unbuilt)``;
- a model that is a graph (branches, merges, shared layers) gets a fourth
  column, ``Connected to``: ``layer[node][tensor]`` of each input;
- below the table: total, trainable and non-trainable parameters with their
  size in memory (``98.12 KB``: bytes of the weights' dtypes, units of 1024).

>>> from numdl.layers import Dense, Input
>>> from numdl.models import Sequential
>>> model = Sequential([Input(shape=(784,)), Dense(32, name="hidden")], name="mlp")
>>> text = summary_text(model, line_length=60)
>>> print(text.splitlines()[0]); print(text.splitlines()[4])
Model: "mlp"
│ hidden (Dense)          │ (None, 32)        │     25,120 │
"""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from typing import Any

from numdl.layers.base import is_shape

_HEAVY_TOP = ("┏", "━", "┳", "┓")
_HEAVY_HEAD_BOTTOM = ("┡", "━", "╇", "┩")
_ROW_SEPARATOR = ("├", "─", "┼", "┤")
_BOTTOM = ("└", "─", "┴", "┘")


def print_summary(
    model: Any,
    line_length: int | None = None,
    positions: list[float] | None = None,
    print_fn: Any = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
    layer_range: Any = None,
) -> None:
    """Print ``model``'s summary; ``print_fn(text)`` gets the whole text once.

    >>> from numdl.layers import Dense, Input
    >>> from numdl.models import Sequential
    >>> model = Sequential([Input(shape=(3,)), Dense(2)])
    >>> captured = []
    >>> print_summary(model, print_fn=captured.append)
    >>> len(captured), captured[0].splitlines()[-1]
    (1, ' Non-trainable params: 0 (0.00 B)')
    """
    text = summary_text(
        model, line_length, positions, expand_nested, show_trainable, layer_range
    )
    if print_fn is None:
        sys.stdout.write(text)
    else:
        print_fn(text)


def summary_text(
    model: Any,
    line_length: int | None = None,
    positions: list[float] | None = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
    layer_range: Any = None,
) -> str:
    """The summary as one string (lines end with ``\\n``).

    >>> from numdl.layers import Dense
    >>> from numdl.models import Sequential
    >>> lazy = Sequential([Dense(2, name="d")], name="lazy")
    >>> print(summary_text(lazy, 64).splitlines()[4])
    │ d (Dense)                │ ?                   │ 0 (unbuilt) │
    """
    sequential_like = _is_sequential_like(model)
    if sequential_like:
        default_length, default_positions = 88, [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        alignment = ["left", "left", "right"]
    else:
        default_length, default_positions = 108, [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
    positions = list(positions or default_positions)
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        alignment.append("center")
    terminal = shutil.get_terminal_size().columns - 4
    line_length = line_length or min(default_length, terminal)
    widths = _column_widths(line_length, positions, [_longest_word(h) for h in header])

    graph = model.__dict__.get("_functional") or model  # a Sequential's graph
    relevant = getattr(graph, "_network_nodes", None)
    layers = model.layers
    start, stop = layer_index_bounds(layers, layer_range)
    rows = []
    for layer in layers[start:stop]:
        rows.extend(
            _layer_rows(layer, relevant, sequential_like, show_trainable, expand_nested)
        )
    lines = [f'Model: "{model.name}"']
    lines += _render_table(header, rows, widths, alignment)
    lines += _totals(model)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------
def _is_sequential_like(model: Any) -> bool:
    """Keras's test: no branching, merging or shared layer in the graph."""
    by_depth = getattr(model, "_nodes_by_depth", None)
    if by_depth is None or type(model).__name__ == "Sequential":
        return True
    nodes = set()
    for depth_nodes in by_depth.values():
        if len(depth_nodes) > 1:
            return False
        if len(depth_nodes) == 1 and len(depth_nodes[0].input_tensors) > 1:
            return False
        nodes.update(id(node) for node in depth_nodes)
    for layer in model.layers:
        if sum(id(node) in nodes for node in layer._inbound_nodes) > 1:
            return False
    return True


def _layer_rows(
    layer: Any,
    relevant: set[int] | None,
    sequential_like: bool,
    show_trainable: bool,
    expand_nested: bool,
    level: int = 0,
) -> list[list[str]]:
    prefix = "   " * level + "└ " if level else ""
    fields = [
        f"{prefix}{layer.name} ({type(layer).__name__})",
        format_layer_shape(layer, relevant),
        f"{layer.count_params():,}" if layer.built else "0 (unbuilt)",
    ]
    if not sequential_like:
        fields.append(_connections(layer, relevant) if not level else "-")
    if show_trainable:
        fields.append(("Y" if layer.trainable else "N") if layer.weights else "-")
    rows = [fields]
    inner = getattr(layer, "layers", None) if expand_nested else None
    if inner:
        inner_nodes = getattr(layer, "_network_nodes", None)
        for sub in inner:
            rows.extend(
                _layer_rows(
                    sub,
                    inner_nodes,
                    sequential_like,
                    show_trainable,
                    expand_nested,
                    level + 1,
                )
            )
    return rows


def format_layer_shape(layer: Any, relevant: set[int] | None = None) -> str:
    """The output shape as Keras prints it: ``(None, 32)``, or ``?``.

    Taken from the layer's last node in the model, else worked out from the
    shape it was built for.

    >>> from numdl.layers import Dense, Input
    >>> dense = Dense(4)
    >>> _ = dense(Input(shape=(3,)))
    >>> format_layer_shape(dense)
    '(None, 4)'
    """
    nodes = layer._inbound_nodes
    if relevant:
        nodes = [n for n in nodes if id(n) in relevant] or nodes
    if nodes:
        shapes = _map_tensors(lambda t: t.shape, nodes[-1].outputs)
    elif layer.built and layer._build_shapes is not None:
        try:
            shapes = layer.compute_output_shape(layer._build_shapes)
        except Exception:  # shape inference failed: show it as unknown
            return "?"
    else:
        return "?"
    return _format_shapes(shapes)


def _map_tensors(fn: Any, outputs: Any) -> Any:
    if isinstance(outputs, dict):
        return {k: _map_tensors(fn, v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return [_map_tensors(fn, v) for v in outputs]
    return fn(outputs)


def _format_shapes(shapes: Any) -> str:
    if is_shape(shapes):
        return "(" + ", ".join(str(n) for n in shapes) + ")"
    if isinstance(shapes, dict):
        items = ", ".join(f"{k}: {_format_shapes(v)}" for k, v in shapes.items())
        return "{" + items + "}"
    if isinstance(shapes, (list, tuple)):
        if len(shapes) == 1:
            return _format_shapes(shapes[0])
        return "[" + ", ".join(_format_shapes(s) for s in shapes) + "]"
    return "?"


def _connections(layer: Any, relevant: set[int] | None) -> str:
    parts = []
    for node in layer._inbound_nodes:
        if relevant and id(node) not in relevant:
            continue
        for t in node.input_tensors:
            source, node_index, tensor_index = t._keras_history
            parts.append(f"{source.name}[{node_index}][{tensor_index}]")
    return ", ".join(parts) or "-"


def layer_index_bounds(layers: list[Any], layer_range: Any = None) -> list[int]:
    """``[first, last + 1]`` of the layers whose names match ``layer_range``.

    >>> from numdl.layers import Dense
    >>> layer_index_bounds([Dense(1, name="a"), Dense(1, name="b")], ["b", "b"])
    [1, 2]
    """
    if layer_range is None:
        return [0, len(layers)]
    if len(layer_range) != 2 or not all(isinstance(s, str) for s in layer_range):
        raise ValueError(
            f"summary: layer_range must be 2 layer names (or regexes), got "
            f"{layer_range!r}"
        )
    lower = [i for i, lay in enumerate(layers) if re.match(layer_range[0], lay.name)]
    upper = [i for i, lay in enumerate(layers) if re.match(layer_range[1], lay.name)]
    if not lower or not upper:
        raise ValueError(
            f"summary: layer_range {list(layer_range)} matches no layer; the "
            f"layers are {[lay.name for lay in layers]}"
        )
    if min(lower) > max(upper):
        return [min(upper), max(lower) + 1]
    return [min(lower), max(upper) + 1]


# --------------------------------------------------------------------------
# Totals
# --------------------------------------------------------------------------
def _totals(model: Any) -> list[str]:
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    counts = [count_params(trainable), count_params(non_trainable)]
    sizes = [weight_memory_size(trainable), weight_memory_size(non_trainable)]
    optimizer = getattr(model, "optimizer", None)
    slots = []
    if getattr(model, "compiled", False) and optimizer is not None:
        slots = list(getattr(optimizer, "variables", None) or [])
    total_count = sum(counts) + count_params(slots)
    total_size = sum(sizes) + weight_memory_size(slots)
    lines = [
        f" Total params: {total_count:,} ({readable_memory_size(total_size)})",
        f" Trainable params: {counts[0]:,} ({readable_memory_size(sizes[0])})",
        f" Non-trainable params: {counts[1]:,} ({readable_memory_size(sizes[1])})",
    ]
    if slots:
        size = readable_memory_size(weight_memory_size(slots))
        lines.append(f" Optimizer params: {count_params(slots):,} ({size})")
    return lines


def count_params(weights: list[Any]) -> int:
    """Number of scalars in ``weights`` (each counted once).

    >>> import numpy as np
    >>> count_params([np.zeros((3, 4)), np.zeros(4)])
    16
    """
    unique = {id(w): w for w in weights}.values()
    return int(sum(int(w.size) for w in unique))


def weight_memory_size(weights: list[Any]) -> int:
    """Bytes taken by ``weights`` (each counted once), from their dtypes.

    >>> import numpy as np
    >>> weight_memory_size([np.zeros((3, 4), "float32")])
    48
    """
    unique = {id(w): w for w in weights}.values()
    return int(sum(int(w.size) * w.dtype.itemsize for w in unique))


def readable_memory_size(weight_memory_size: float) -> str:
    """Bytes as Keras writes them: ``"98.12 KB"`` (units of 1024).

    >>> readable_memory_size(100480), readable_memory_size(0)
    ('98.12 KB', '0.00 B')
    """
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    size = float(weight_memory_size)
    for unit in units:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} {units[-1]}"


# --------------------------------------------------------------------------
# Drawing the table
# --------------------------------------------------------------------------
def _longest_word(text: str) -> int:
    return max(len(word) for word in text.split())


def _column_widths(
    line_length: int, positions: list[float], minimums: list[int]
) -> list[int]:
    """Width of each cell (padding included) so the table is ``line_length``;
    each header word fits on one line when there is room for it."""
    if positions[-1] <= 1:
        positions = [int(p * line_length) for p in positions]
    raw, current = [], 0
    for pos in positions:
        width = int(pos) - current
        if width < 4:
            raise ValueError(
                f"summary: insufficient console width to print the summary "
                f"(line_length={line_length}, positions={positions})"
            )
        raw.append(width)
        current += width
    available = line_length - (len(raw) + 1)  # the vertical borders
    widths = [max(3, w * available // current) for w in raw]
    widths[-1] = max(3, widths[-1] + available - sum(widths))
    for i, least in enumerate(minimums):
        while widths[i] < least + 2:
            donor = max(range(len(widths)), key=lambda j: widths[j] - minimums[j])
            if donor == i or widths[donor] - 1 < minimums[donor] + 2:
                break
            widths[donor] -= 1
            widths[i] += 1
    return widths


def _render_table(
    header: list[str], rows: list[list[str]], widths: list[int], alignment: list[str]
) -> list[str]:
    lines = [_border(_HEAVY_TOP, widths)]
    lines += _cells(header, widths, alignment, "┃")
    lines.append(_border(_HEAVY_HEAD_BOTTOM, widths))
    for i, row in enumerate(rows):
        if i:
            lines.append(_border(_ROW_SEPARATOR, widths))
        lines += _cells(row, widths, alignment, "│")
    lines.append(_border(_BOTTOM, widths))
    return lines


def _border(chars: tuple[str, str, str, str], widths: list[int]) -> str:
    left, fill, middle, right = chars
    return left + middle.join(fill * w for w in widths) + right


def _cells(
    values: list[str], widths: list[int], alignment: list[str], bar: str
) -> list[str]:
    wrapped = [_wrap(v, w - 2) for v, w in zip(values, widths)]
    height = max(len(w) for w in wrapped)
    lines = []
    for i in range(height):
        cells = []
        for parts, width, align in zip(wrapped, widths, alignment):
            text = parts[i] if i < len(parts) else ""
            cells.append(" " + _align(text, width - 2, align) + " ")
        lines.append(bar + bar.join(cells) + bar)
    return lines


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _align(text: str, width: int, align: str) -> str:
    if align == "right":
        return text.rjust(width)
    if align == "center":
        return text.center(width)
    return text.ljust(width)
