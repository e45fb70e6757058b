"""Model and weight files: ``.numdl`` archives, ``.safetensors`` and ``.npz``.

A ``.numdl`` file is one zip archive (``model.save`` also accepts a name
ending in ``.keras``, so Keras programs run unchanged; the content is the
same, numdl's, which Keras cannot read):

- ``config.json``: format name and version, numdl version, the architecture
  (``serialize_layer(model)``), the build shape of a subclassed model, the
  ``compile`` arguments and the optimizer's config;
- ``model.weights.safetensors`` (``.npz`` when the ``safetensors`` extra is
  not installed): the weights, grouped by layer (see :func:`weight_groups`),
  with a manifest of layer names, classes and shapes in its metadata;
- ``optimizer.safetensors`` / ``.npz``: the optimizer's state, its slots
  keyed by position in ``model.trainable_weights``.

Tensors are stored uncompressed and streamed one at a time into the archive,
so saving needs little memory beyond the weights themselves. Every file is
written atomically (:func:`numdl.saving.atomic.atomic_write`). Loading reads
data only (JSON and raw arrays, never pickle, never an import), checks every
field, and refuses a damaged or hostile file with a ``ValueError`` naming it.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from typing import IO, Any

import numpy as np

from numdl.backend import to_numpy
from numdl.saving import tensors as tio
from numdl.saving.atomic import atomic_write
from numdl.saving.objects import custom_object_scope

FORMAT = "numdl.model"
FORMAT_VERSION = 1
WEIGHTS_FORMAT = "numdl.weights"
MAX_CONFIG_BYTES = 64 * 2**20
MODEL_SUFFIXES = (".numdl", ".keras")
_CONFIG = "config.json"
_TENSOR_ENTRIES = {
    f"{stem}.{ext}"
    for stem in ("model.weights", "optimizer")
    for ext in ("safetensors", "npz")
}


# ------------------------------------------------------------------ formats
def default_format() -> str:
    """``"safetensors"`` when the optional package is installed, else ``"npz"``.

    numdl writes and reads the safetensors format itself (streamed, checked);
    the extra makes it the default, as the format other tools expect.

    >>> default_format() in ("safetensors", "npz")
    True
    """
    try:
        import safetensors  # noqa: F401
    except ImportError:
        return "npz"
    return "safetensors"


def weights_format_of(path: str, where: str) -> str:
    """The tensor format from a file name (``.safetensors`` or ``.npz``).

    >>> weights_format_of("w.weights.npz", "save_weights")
    'npz'
    """
    if path.endswith(".safetensors"):
        return "safetensors"
    if path.endswith(".npz"):
        return "npz"
    raise ValueError(
        f"{where}: the file name must end in '.weights.safetensors' or "
        f"'.weights.npz', got {path!r}"
    )


def write_tensors(
    f: IO[bytes], arrays: dict[str, Any], metadata: dict[str, str], fmt: str
) -> None:
    """Write named arrays in ``fmt`` (``"safetensors"`` or ``"npz"``).

    >>> import io
    >>> buf = io.BytesIO(); write_tensors(buf, {"a": np.ones(2)}, {}, "npz")
    >>> _ = buf.seek(0); read_tensors(buf, len(buf.getvalue()), "npz", "buf")[0]
    {'a': array([1., 1.])}
    """
    if fmt == "safetensors":
        tio.write_safetensors(f, arrays, metadata)
    else:
        tio.write_npz(f, arrays, metadata)


def read_tensors(
    f: IO[bytes], size: int, fmt: str, where: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read named arrays in ``fmt`` (an ``.npz`` zip entry is read into memory,
    as zipfile needs to seek in it).

    >>> import io
    >>> buf = io.BytesIO(); write_tensors(buf, {"a": np.ones(1)}, {}, "safetensors")
    >>> _ = buf.seek(0); read_tensors(buf, len(buf.getvalue()), "safetensors", "b")
    ({'a': array([1.])}, {})
    """
    if fmt == "safetensors":
        return tio.read_safetensors(f, size, where)
    if not f.seekable():
        f = io.BytesIO(f.read())
    return tio.read_npz(f, where)


# ------------------------------------------------------------------ weights
def weight_groups(model: Any) -> list[tuple[Any, list[Any]]]:
    """``(layer, weights)`` pairs, depth first, each weight once, empty skipped.

    >>> from numdl import layers, models
    >>> m = models.Sequential([layers.Input((3,)), layers.Dense(2, name="d")])
    >>> [(layer.name, [w.name for w in ws]) for layer, ws in weight_groups(m)]
    [('d', ['kernel', 'bias'])]
    """
    groups: list[tuple[Any, list[Any]]] = []
    seen: set[int] = set()

    def walk(layer: Any) -> None:
        own = [w for w in layer._own_weights if id(w) not in seen]
        seen.update(id(w) for w in own)
        if own:
            groups.append((layer, own))
        for sub in layer._layers:
            walk(sub)

    walk(model)
    return groups


def weights_payload(model: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The weights as named arrays (no copies) and the manifest metadata.

    >>> from numdl import layers, models
    >>> m = models.Sequential([layers.Input((3,)), layers.Dense(2, name="out")])
    >>> list(weights_payload(m)[0])
    ['0000/out/0', '0000/out/1']
    """
    arrays: dict[str, Any] = {}
    layers = []
    for i, (layer, weights) in enumerate(weight_groups(model)):
        entries = []
        for j, w in enumerate(weights):
            key = f"{i:04d}/{layer.name}/{j}"
            arrays[key] = to_numpy(w.data)
            entries.append({"key": key, "name": w.name or str(j)})
        layers.append(
            {"name": layer.name, "class_name": type(layer).__name__, "weights": entries}
        )
    manifest = {"format": WEIGHTS_FORMAT, "format_version": 1, "layers": layers}
    return arrays, {"numdl": json.dumps(manifest)}


def save_weights(
    model: Any, filepath: str | os.PathLike, overwrite: bool = True
) -> None:
    """Write the weights to ``.weights.safetensors`` or ``.weights.npz``, atomically.

    >>> import os, tempfile
    >>> from numdl import layers, models
    >>> m = models.Sequential([layers.Input((3,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "w.weights.npz")
    >>> save_weights(m, path); load_weights(m, path)
    """
    path = os.fspath(filepath)
    fmt = weights_format_of(path, "save_weights")
    _check_overwrite(path, overwrite, "save_weights")
    arrays, metadata = weights_payload(model)
    with atomic_write(path) as f:
        write_tensors(f, arrays, metadata, fmt)


def load_weights(
    model: Any, filepath: str | os.PathLike, skip_mismatch: bool = False
) -> None:
    """Load weights written by :func:`save_weights` (matched layer by layer).

    Layers are matched in order (depth first, layers without weights left
    out); names may differ. Shape mismatches are listed layer by layer in
    one ``ValueError``, or, with ``skip_mismatch=True``, those layers are
    left as they are (with a warning).

    >>> import os, tempfile
    >>> from numdl import layers, models
    >>> path = os.path.join(tempfile.mkdtemp(), "w.weights.safetensors")
    >>> models.Sequential([layers.Input((3,)), layers.Dense(2, name="a")]).save_weights(
    ...     path
    ... )
    >>> other = models.Sequential([layers.Input((4,)), layers.Dense(2, name="b")])
    >>> try:
    ...     load_weights(other, path)
    ... except ValueError as e:
    ...     print(str(e).splitlines()[-1])
      layer 'b' (Dense), file layer 'a': kernel: model (4, 2), file (3, 2)
    """
    path = os.fspath(filepath)
    fmt = weights_format_of(path, "load_weights")
    _require_file(path)
    with open(path, "rb") as f:
        arrays, metadata = read_tensors(f, os.fstat(f.fileno()).st_size, fmt, path)
    assign_weights(model, arrays, metadata, path, skip_mismatch)


def assign_weights(
    model: Any,
    arrays: dict[str, np.ndarray],
    metadata: dict[str, str],
    where: str,
    skip_mismatch: bool = False,
) -> None:
    """Check the arrays against the model, layer by layer, then assign them.

    >>> from numdl import layers, models
    >>> m = models.Sequential([layers.Input((1,)), layers.Dense(1)])
    >>> arrays, metadata = weights_payload(m)
    >>> arrays = {k: np.full_like(v, 2.0) for k, v in arrays.items()}
    >>> assign_weights(m, arrays, metadata, "in memory"); m.get_weights()[0]
    array([[2.]], dtype=float32)
    """
    file_layers = _manifest_layers(metadata, arrays, where)
    groups = weight_groups(model)
    if file_layers and not groups and not getattr(model, "built", True):
        raise ValueError(
            f"load_weights: model {getattr(model, 'name', '')!r} has no weights "
            f"yet: build it first (call it on data, or model.build(input_shape)), "
            f"then load {where!r}"
        )
    problems, matched = [], []
    for i in range(max(len(groups), len(file_layers))):
        if i >= len(groups):
            name, cls, _ = file_layers[i]
            problems.append(f"file layer {name!r} ({cls}): not in the model")
            continue
        layer, weights = groups[i]
        label = f"layer {layer.name!r} ({type(layer).__name__})"
        if i >= len(file_layers):
            problems.append(f"{label}: no weights for it in the file")
            continue
        bad = _mismatches(weights, file_layers[i][2])
        if bad:
            problems.append(f"{label}, file layer {file_layers[i][0]!r}: {bad}")
        else:
            matched.append((weights, file_layers[i][2]))
    if problems and not skip_mismatch:
        raise tio.FileProblem(
            where,
            "the weights do not match the model, layer by layer:\n  "
            + "\n  ".join(problems),
        )
    if problems:
        warnings.warn(
            f"load_weights({where!r}): skipped mismatched layers:\n  "
            + "\n  ".join(problems),
            stacklevel=3,
        )
    for weights, values in matched:
        for w, (_, value) in zip(weights, values):
            w.assign(value)


def _manifest_layers(
    metadata: dict[str, str], arrays: dict[str, np.ndarray], where: str
) -> list[tuple[str, str, list[tuple[str, np.ndarray]]]]:
    """``(name, class_name, [(weight name, array)])`` per layer, checked."""
    if "numdl" not in metadata:
        raise tio.FileProblem(where, "no numdl weights manifest in the metadata")
    manifest = tio.parse_json(metadata["numdl"].encode(), where, "weights manifest")
    ok = isinstance(manifest, dict) and manifest.get("format") == WEIGHTS_FORMAT
    if not ok or not isinstance(manifest.get("layers"), list):
        raise tio.FileProblem(where, "the weights manifest is not numdl's")
    layers, used = [], set()
    for entry in manifest["layers"]:
        entry = entry if isinstance(entry, dict) else {}
        name, cls, weights = (entry.get(k) for k in ("name", "class_name", "weights"))
        if not (isinstance(name, str) and isinstance(cls, str)) or not isinstance(
            weights, list
        ):
            raise tio.FileProblem(where, f"bad layer entry in the manifest: {entry!r}")
        values = []
        for w in weights:
            key = w.get("key") if isinstance(w, dict) else None
            if not isinstance(key, str) or key not in arrays or key in used:
                raise tio.FileProblem(
                    where, f"manifest entry {w!r} names no (unused) tensor in the file"
                )
            used.add(key)
            values.append((str(w.get("name")), arrays[key]))
        layers.append((name, cls, values))
    if used != set(arrays):
        raise tio.FileProblem(
            where, f"tensors not in the manifest: {sorted(set(arrays) - used)[:5]}"
        )
    return layers


def _mismatches(weights: list[Any], values: list[tuple[str, np.ndarray]]) -> str:
    if len(weights) != len(values):
        return f"{len(weights)} weights in the model, {len(values)} in the file"
    bad = []
    for w, (name, value) in zip(weights, values):
        if tuple(value.shape) != tuple(w.shape):
            label = w.name if name == w.name else f"{w.name} (file: {name})"
            bad.append(f"{label}: model {tuple(w.shape)}, file {tuple(value.shape)}")
        elif (value.dtype.kind == "f") != (np.dtype(w.dtype).kind == "f"):
            bad.append(f"{w.name}: model dtype {w.dtype}, file {value.dtype}")
    return "; ".join(bad)


# ---------------------------------------------------------------- optimizer
def optimizer_payload(model: Any) -> dict[str, Any]:
    """The optimizer's live state arrays, slots keyed by trainable position.

    >>> from numdl import layers, models
    >>> m = models.Sequential([layers.Input((1,)), layers.Dense(1)])
    >>> m.compile("adam", "mse"); m.optimizer.build(m.trainable_weights)
    >>> sorted(optimizer_payload(m))
    ['0/momentum', '0/velocity', '1/momentum', '1/velocity', 'iterations']
    """
    state = model.optimizer.state_of(list(model.trainable_weights))
    return {key: to_numpy(value) for key, value in state.items()}


def load_optimizer_state(model: Any, arrays: dict[str, Any], where: str) -> None:
    """Restore :func:`optimizer_payload` output into ``model.optimizer``.

    >>> from numdl import layers, models
    >>> m = models.Sequential([layers.Input((1,)), layers.Dense(1)])
    >>> m.compile("sgd", "mse")
    >>> load_optimizer_state(m, {"iterations": np.array(5)}, "f")
    >>> m.optimizer.iterations
    5
    """
    iterations = np.asarray(arrays.get("iterations", 0))
    if (
        iterations.shape != ()
        or iterations.dtype.kind not in "iu"
        or not 0 <= int(iterations) < 2**53
    ):
        raise tio.FileProblem(
            where,
            f"optimizer state: iterations must be a non-negative integer, "
            f"got {iterations!r}",
        )
    try:
        model.optimizer.load_state_of(arrays, list(model.trainable_weights))
    except ValueError as e:
        raise tio.FileProblem(where, f"optimizer state: {e}") from None


# ------------------------------------------------------------------- models
def save_model(
    model: Any,
    filepath: str | os.PathLike,
    overwrite: bool = True,
    weights_format: str | None = None,
) -> None:
    """Write the whole model (architecture, weights, compile settings and
    optimizer state) to one ``.numdl`` zip file, atomically.

    >>> import os, tempfile
    >>> from numdl import layers, models
    >>> m = models.Sequential([layers.Input((3,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.numdl")
    >>> save_model(m, path); load_model(path).count_params()
    8
    """
    path = os.fspath(filepath)
    if not path.endswith(MODEL_SUFFIXES):
        raise ValueError(
            f"save_model: the file name must end in '.numdl' (or '.keras', for "
            f"Keras programs; the content is numdl's), got {path!r}"
        )
    fmt = weights_format or default_format()
    if fmt not in ("safetensors", "npz"):
        raise ValueError(
            f"save_model: weights_format must be 'safetensors' or 'npz', got {fmt!r}"
        )
    _check_overwrite(path, overwrite, "save_model")
    config = _model_file_config(model, fmt)
    weights, metadata = weights_payload(model)
    with atomic_write(path) as f, zipfile.ZipFile(f, "w") as zf:
        zf.writestr(_CONFIG, json.dumps(config, indent=1), zipfile.ZIP_DEFLATED)
        with zf.open(f"model.weights.{fmt}", "w", force_zip64=True) as entry:
            write_tensors(entry, weights, metadata, fmt)
        if config["optimizer"] is not None:
            with zf.open(f"optimizer.{fmt}", "w", force_zip64=True) as entry:
                write_tensors(entry, optimizer_payload(model), {}, fmt)


def _model_file_config(model: Any, fmt: str) -> dict[str, Any]:
    """``config.json``'s contents for ``model``."""
    from numdl import __version__, optimizers
    from numdl.models.model import serialize_layer

    compiled = getattr(model, "compiled", False) and model.optimizer is not None
    build = getattr(model, "_build_shapes", None)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "numdl_version": __version__,
        "model": serialize_layer(model),
        "build_input_shape": _jsonable_shape(build),
        "compile": model.get_compile_config() if compiled else None,
        "optimizer": optimizers.serialize(model.optimizer) if compiled else None,
        "weights_format": fmt,
    }


def _jsonable_shape(shape: Any) -> Any:
    if isinstance(shape, dict):
        return {k: _jsonable_shape(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        return [_jsonable_shape(s) for s in shape]
    return None if shape is None else int(shape)


def load_model(
    filepath: str | os.PathLike,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """Recreate a model saved by :func:`save_model` (without running any code
    from the file: custom classes come from ``custom_objects`` or
    ``register_serializable``). ``safe_mode`` is accepted for Keras programs;
    numdl is always safe (a saved Python lambda cannot be loaded either way).

    >>> import os, tempfile
    >>> from numdl import layers, models
    >>> path = os.path.join(tempfile.mkdtemp(), "m.numdl")
    >>> models.Sequential([layers.Input((2,)), layers.Dense(1)]).save(path)
    >>> type(load_model(path)).__name__
    'Sequential'
    """
    path = os.fspath(filepath)
    _require_file(path)
    try:
        with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
            return _load_archive(zf, path, custom_objects, compile)
    except tio.FileProblem:
        raise
    except tio.ZIP_ERRORS as e:
        raise tio.FileProblem(
            path, f"not a valid .numdl (zip) file ({type(e).__name__}: {e})"
        ) from None


def _load_archive(
    zf: zipfile.ZipFile, path: str, custom_objects: Any, compile: bool
) -> Any:
    if "model.weights.h5" in zf.namelist():
        raise tio.FileProblem(
            path,
            "a Keras .keras file (HDF5 weights): numdl reads the files it "
            "writes; rebuild the model in numdl and set its weights instead",
        )
    tio.check_zip(zf, path, allowed={_CONFIG, *_TENSOR_ENTRIES})
    if _CONFIG not in zf.namelist():
        raise tio.FileProblem(path, "no config.json: not a .numdl model file")
    raw = tio.read_entry_bytes(zf, _CONFIG, MAX_CONFIG_BYTES, path)
    config = _check_config(tio.parse_json(raw, path, "config.json"), path)
    fmt = config["weights_format"]
    with custom_object_scope(custom_objects):
        model = _rebuild(config, custom_objects, path)
        arrays, metadata = entry_tensors(zf, f"model.weights.{fmt}", fmt, path)
        assign_weights(model, arrays, metadata, path)
        if compile and config["compile"] is not None:
            _compile(model, config, path)
            name = f"optimizer.{fmt}"
            if name in zf.namelist():
                state, _ = entry_tensors(zf, name, fmt, path)
                load_optimizer_state(model, state, path)
    return model


def _check_config(config: Any, path: str) -> dict[str, Any]:
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise tio.FileProblem(path, f"config.json does not describe a {FORMAT} file")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise tio.FileProblem(
            path,
            f"format_version {version!r} (numdl "
            f"{config.get('numdl_version')!r}); this numdl reads version "
            f"{FORMAT_VERSION}: upgrade numdl to load it",
        )
    if config.get("weights_format") not in ("safetensors", "npz"):
        raise tio.FileProblem(
            path, f"unknown weights_format {config.get('weights_format')!r}"
        )
    if not isinstance(config.get("model"), dict):
        raise tio.FileProblem(path, "config.json has no model architecture")
    for key in ("compile", "optimizer"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise tio.FileProblem(path, f"config.json: {key!r} must be an object")
    return config


def entry_tensors(
    zf: zipfile.ZipFile, name: str, fmt: str, path: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and metadata of the tensor entry ``name`` of an archive.

    >>> import io
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z, z.open("t.npz", "w") as f:
    ...     write_tensors(f, {"a": np.zeros(1)}, {}, "npz")
    >>> entry_tensors(zipfile.ZipFile(buf), "t.npz", "npz", "buf")[0]
    {'a': array([0.])}
    """
    if name not in zf.namelist():
        raise tio.FileProblem(path, f"entry {name!r} is missing")
    info = zf.getinfo(name)
    with zf.open(info) as stream:
        return read_tensors(stream, info.file_size, fmt, f"{path}:{name}")


def _rebuild(config: dict[str, Any], custom_objects: Any, path: str) -> Any:
    """The model from its config; any failure is the file's problem."""
    from numdl.models.model import deserialize_layer

    try:
        model = deserialize_layer(config["model"], custom_objects)
        shape = config.get("build_input_shape")
        if not model.built and shape is not None:
            model.build(_as_shape(shape))
    except Exception as e:  # the config is untrusted data: any failure
        raise tio.FileProblem(
            path,
            f"could not rebuild the model from config.json: {type(e).__name__}: {e}",
        ) from e
    return model


def _as_shape(shape: Any) -> Any:
    if isinstance(shape, dict):
        return {k: _as_shape(v) for k, v in shape.items()}
    if isinstance(shape, list) and all(s is None or isinstance(s, int) for s in shape):
        return tuple(shape)
    return [_as_shape(s) for s in shape] if isinstance(shape, list) else shape


def _compile(model: Any, config: dict[str, Any], path: str) -> None:
    from numdl import optimizers

    try:
        compile_config = dict(config["compile"])
        if config.get("optimizer") is not None:
            compile_config["optimizer"] = optimizers.deserialize(config["optimizer"])
        model.compile_from_config(compile_config)
    except Exception as e:
        raise tio.FileProblem(
            path,
            f"could not compile the model from config.json: {type(e).__name__}: {e}",
        ) from e


# ------------------------------------------------------------------ helpers
def _check_overwrite(path: str, overwrite: bool, where: str) -> None:
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{where}: {path!r} exists and overwrite=False")


def _require_file(path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path!r}")
