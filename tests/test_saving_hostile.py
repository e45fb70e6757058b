"""Damaged and hostile files are refused with a ValueError naming file and problem."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest

import numdl
from numdl import layers, models

FORMATS = ["safetensors", "npz"]


def _model():
    numdl.config.set_random_seed(0)
    model = models.Sequential(
        [layers.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)]
    )
    model.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    model.fit(x, x[:, :2], epochs=1, verbose=0)
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A valid .numdl file per weights format, as bytes."""
    folder = tmp_path_factory.mktemp("valid")
    model, out = _model(), {}
    for fmt in FORMATS:
        model.save(folder / f"m_{fmt}.numdl", weights_format=fmt)
        out[fmt] = (folder / f"m_{fmt}.numdl").read_bytes()
    return out


def _refused(path, *words, load=models.load_model):
    with pytest.raises(ValueError) as info:
        load(path)
    message = str(info.value)
    assert repr(str(path)) in message or str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def _entries(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _edit_config(saved_bytes, path, edit):
    entries = _entries(saved_bytes)
    config = json.loads(entries["config.json"])
    edit(config)
    entries["config.json"] = json.dumps(config).encode()
    return _zip(path, entries)


# --------------------------------------------------------------- damaged
@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_files(tmp_path, saved, fmt):
    data = saved[fmt]
    for cut in (0, 10, 100, len(data) // 2, len(data) - 30, len(data) - 1):
        path = tmp_path / f"cut{cut}.numdl"
        path.write_bytes(data[:cut])
        _refused(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_corrupted_bytes(tmp_path, saved, fmt):
    data = bytearray(saved[fmt])
    for position in range(40, len(data), max(1, len(data) // 25)):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        path = tmp_path / "bad.numdl"
        path.write_bytes(bytes(damaged))
        try:
            models.load_model(path)  # a flip in, e.g., a zip comment may be harmless
        except ValueError as e:
            assert "bad.numdl" in str(e)


def test_wrong_format(tmp_path, saved):
    text = tmp_path / "text.numdl"
    text.write_text("hello, I am not a model")
    _refused(text, "not a valid .numdl (zip) file")
    other = _zip(tmp_path / "other.numdl", {"config.json": b'{"a": 1}'})
    _refused(other, "does not describe a numdl.model file")
    empty = _zip(tmp_path / "empty.numdl", {})
    _refused(empty, "no config.json")
    keras_made = {"config.json": b"{}", "metadata.json": b"{}"}
    keras_made["model.weights.h5"] = b"\x89HDF"
    _refused(_zip(tmp_path / "k.keras", keras_made), "a Keras .keras file")
    odd = _zip(tmp_path / "o.numdl", {"config.json": b"{}", "notes.txt": b""})
    _refused(odd, "unexpected entry 'notes.txt'")
    weights = tmp_path / "w.weights.safetensors"
    weights.write_bytes(b"PK\x03\x04 this is a zip, not safetensors")
    _refused(weights, "safetensors header", load=_model().load_weights)


def test_wrong_version(tmp_path, saved):
    def future(config):
        config["format_version"] = 2
        config["numdl_version"] = "9.0"

    path = _edit_config(saved["npz"], tmp_path / "v2.numdl", future)
    _refused(path, "format_version 2", "upgrade numdl")


def test_config_that_is_not_json_or_names_unknown_code(tmp_path, saved):
    entries = _entries(saved["npz"])
    entries["config.json"] = b"\xff\xfe not json"
    _refused(_zip(tmp_path / "j.numdl", entries), "config.json is not valid UTF-8 JSON")

    def evil(config):
        config["model"]["class_name"] = "os.system"
        config["model"]["module"] = "os"
        config["model"]["registered_name"] = "system"

    _refused(
        _edit_config(saved["npz"], tmp_path / "e.numdl", evil), "could not rebuild"
    )

    def bad_layer_argument(config):
        config["model"]["config"]["layers"][1]["config"]["units"] = "many"

    path = _edit_config(saved["npz"], tmp_path / "u.numdl", bad_layer_argument)
    _refused(path, "could not rebuild")


# --------------------------------------------------------------- hostile
def test_zip_bomb_is_refused_before_inflating(tmp_path, saved):
    entries = _entries(saved["npz"])
    path = tmp_path / "bomb.numdl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            if name != "optimizer.npz":
                zf.writestr(name, data)
        zf.writestr("optimizer.npz", b"\0" * (64 * 2**20), zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2**20  # 64 MiB of zeros in ~64 KB
    _refused(path, "zip bomb", "optimizer.npz")


@pytest.mark.parametrize(
    "name", ["../config.json", "/etc/passwd", "a/../../b", "C:\\evil", "x\ny"]
)
def test_path_traversal_names(tmp_path, saved, name):
    entries = _entries(saved["npz"])
    entries[name] = b"x"
    _refused(_zip(tmp_path / "t.numdl", entries), "unsafe entry name")


def _safetensors(header: dict, data: bytes = b"", length: int | None = None) -> bytes:
    blob = json.dumps(header).encode()
    n = len(blob) if length is None else length
    return struct.pack("<Q", n) + blob + data


def test_safetensors_headers(tmp_path):
    model = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    path = tmp_path / "w.weights.safetensors"

    def refused(content, *words):
        path.write_bytes(content)
        _refused(path, *words, load=model.load_weights)

    refused(_safetensors({}, length=2**40), "header of 1099511627776 bytes")
    refused(
        _safetensors(
            {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}},
            b"\0" * 20,
        ),
        "needs 24 bytes",
        "span 20",
    )
    refused(
        _safetensors(
            {"a": {"dtype": "OBJ", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8
        ),
        "dtype 'OBJ'",
    )
    refused(
        _safetensors(
            {"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4
        ),
        "non-negative integers",
    )
    refused(
        _safetensors(
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4
        ),
        "truncated or padded",
    )
    overlap = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    refused(_safetensors(overlap, b"\0" * 12), "without gaps")
    refused(_safetensors({"a": [1, 2]}), "not a JSON object")
    deep = {"a": {"dtype": "F32", "shape": [1] * 70, "data_offsets": [0, 4]}}
    refused(_safetensors(deep, b"\0" * 4), "70 dimensions")
    no_manifest = {"a": {"dtype": "F32", "shape": [2, 1], "data_offsets": [0, 8]}}
    refused(_safetensors(no_manifest, b"\0" * 8), "no numdl weights manifest")


def test_dtype_and_shape_mismatch_with_the_model(tmp_path):
    model = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    arrays, metadata = numdl.saving.model_io.weights_payload(model)
    kernel_key, bias_key = list(arrays)
    path = tmp_path / "w.weights.safetensors"
    from safetensors.numpy import save_file

    save_file(
        {kernel_key: np.zeros((3, 1), "float32"), bias_key: np.zeros(1, "float32")},
        str(path),
        metadata=metadata,
    )
    _refused(path, "kernel: model (2, 1), file (3, 1)", load=model.load_weights)
    save_file(
        {kernel_key: np.zeros((2, 1), "int32"), bias_key: np.zeros(1, "float32")},
        str(path),
        metadata=metadata,
    )
    _refused(path, "kernel: model dtype float32, file int32", load=model.load_weights)


def test_npz_with_object_arrays_is_refused(tmp_path):
    model = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    arrays, metadata = numdl.saving.model_io.weights_payload(model)
    kernel_key, bias_key = list(arrays)
    path = tmp_path / "w.weights.npz"
    evil = np.empty(1, dtype=object)
    evil[0] = {"pickle": "would run code"}
    blob = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    np.savez(path, __metadata__=blob, **{kernel_key: evil, bias_key: np.zeros(1)})
    _refused(path, "object arrays are refused", load=model.load_weights)
    np.savez(
        path, __metadata__=blob, **{kernel_key: np.array(["text"]), bias_key: evil}
    )
    _refused(path, "only booleans, integers and floats", load=model.load_weights)


def test_npz_entries_that_are_not_arrays(tmp_path):
    model = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    path = _zip(tmp_path / "w.weights.npz", {"notes.txt": b"hi"})
    _refused(path, "is not an .npy array", load=model.load_weights)


def test_tensor_entries_missing_from_the_archive(tmp_path, saved):
    entries = _entries(saved["safetensors"])
    del entries["model.weights.safetensors"]
    _refused(
        _zip(tmp_path / "m.numdl", entries), "'model.weights.safetensors' is missing"
    )


def test_optimizer_state_that_does_not_fit(tmp_path, saved):
    from safetensors.numpy import save_file

    entries = _entries(saved["safetensors"])
    junk = tmp_path / "opt.safetensors"
    save_file(
        {"iterations": np.array(3), "0/momentum": np.zeros(7, "float32")}, str(junk)
    )
    entries["optimizer.safetensors"] = junk.read_bytes()
    _refused(_zip(tmp_path / "m.numdl", entries), "optimizer state", "0/momentum")


def test_optimizer_iterations_must_be_a_count(tmp_path, saved):
    from safetensors.numpy import load, save

    entries = _entries(saved["safetensors"])
    state = load(entries["optimizer.safetensors"])
    for bad in (np.array(-5), np.array(2.5), np.array([1, 2])):
        entries["optimizer.safetensors"] = save({**state, "iterations": bad})
        path = _zip(tmp_path / "it.numdl", entries)
        _refused(path, "iterations must be a non-negative integer")
