"""Model and weight files: round trips, formats, mismatches, custom objects."""

from __future__ import annotations

import json
import os
import sys
import zipfile

import numpy as np
import pytest

import numdl
from numdl import layers, models
from numdl.backend import to_numpy
from numdl.saving import model_io, register_serializable

FORMATS = ["safetensors", "npz"]


def _data(n=64, features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, (x[:, 0] - x[:, 1] > 0).astype("int64")


def _functional():
    inputs = layers.Input(shape=(6,))
    h = layers.Dense(8, activation="relu")(inputs)
    h = layers.BatchNormalization()(h)
    h = layers.Dropout(0.2)(h)
    return models.Model(inputs, layers.Dense(2, activation="softmax")(h))


def _trained(model=None, optimizer="adam"):
    numdl.config.set_random_seed(3)
    model = model or _functional()
    model.compile(
        optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["acc"]
    )
    x, y = _data()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    return model


def _assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


def _optimizer_state(model):
    state = model.optimizer.state_of(model.trainable_weights)
    return {k: np.array(to_numpy(v)) for k, v in state.items()}


# ------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", FORMATS)
def test_model_round_trip_continues_training_identically(tmp_path, fmt):
    model = _trained()
    path = tmp_path / "m.numdl"
    model.save(path, weights_format=fmt)
    loaded = models.load_model(path)
    assert type(loaded).__name__ == "Functional"
    _assert_same_weights(model, loaded)
    x, y = _data(seed=1)
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    )
    before, after = _optimizer_state(model), _optimizer_state(loaded)
    assert before.keys() == after.keys() and before["iterations"] == 8
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    assert loaded.get_compile_config() == model.get_compile_config()
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    # The same next steps: optimizer state, config and weights all came back.
    for m in (model, loaded):
        numdl.config.set_random_seed(9)
        m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    _assert_same_weights(model, loaded)
    names = zipfile.ZipFile(path).namelist()
    assert names == ["config.json", f"model.weights.{fmt}", f"optimizer.{fmt}"]


def test_config_json_holds_versions_and_compile_settings(tmp_path):
    model = _trained(optimizer=numdl.optimizers.SGD(0.05, momentum=0.9))
    model.save(tmp_path / "m.numdl")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.numdl").read("config.json"))
    assert config["format"] == "numdl.model" and config["format_version"] == 1
    assert config["numdl_version"] == numdl.__version__
    assert config["compile"]["loss"] == "sparse_categorical_crossentropy"
    assert config["compile"]["metrics"] == ["acc"]
    assert config["optimizer"]["class_name"] == "SGD"
    assert config["optimizer"]["config"]["momentum"] == 0.9
    assert config["model"]["class_name"] == "Functional"


def test_sequential_uncompiled_and_compile_false(tmp_path):
    model = models.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(1)])
    model.save(tmp_path / "s.numdl")
    assert (
        "optimizer.safetensors" not in zipfile.ZipFile(tmp_path / "s.numdl").namelist()
    )
    loaded = models.load_model(tmp_path / "s.numdl")
    assert type(loaded) is models.Sequential and not loaded.compiled
    _assert_same_weights(model, loaded)
    trained = _trained()
    trained.save(tmp_path / "t.numdl")
    assert not models.load_model(tmp_path / "t.numdl", compile=False).compiled


def test_fallback_to_npz_when_safetensors_is_missing(tmp_path, monkeypatch):
    assert model_io.default_format() == "safetensors"  # installed in the test extras
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import now fails
    assert model_io.default_format() == "npz"
    model = _trained()
    model.save(tmp_path / "m.numdl")
    archive = zipfile.ZipFile(tmp_path / "m.numdl")
    assert archive.namelist() == ["config.json", "model.weights.npz", "optimizer.npz"]
    # the inner .npz holds plain arrays: NumPy reads it without pickle
    import io

    inner = np.load(io.BytesIO(archive.read("model.weights.npz")), allow_pickle=False)
    assert len(inner.files) == len(model.weights) + 1  # + the manifest
    _assert_same_weights(model, models.load_model(tmp_path / "m.numdl"))


def test_float64_and_integer_weights_keep_their_dtype(tmp_path):
    numdl.config.set_floatx("float64")
    try:
        model = models.Sequential([layers.Input((3,)), layers.Dense(2)])
    finally:
        numdl.config.set_floatx("float32")
    model.save(tmp_path / "m.numdl")
    loaded = models.load_model(tmp_path / "m.numdl")
    assert loaded.weights[0].dtype == np.float64
    _assert_same_weights(model, loaded)


# ------------------------------------------------------------ weight files
@pytest.mark.parametrize("suffix", [".weights.safetensors", ".weights.npz"])
def test_save_and_load_weights(tmp_path, suffix):
    source, target = _trained(), _functional()
    path = tmp_path / f"w{suffix}"
    source.save_weights(path)
    target.load_weights(path)
    _assert_same_weights(source, target)


def test_weights_files_interoperate_with_the_safetensors_library(tmp_path):
    from safetensors.numpy import load_file, save_file

    model = _trained()
    path = str(tmp_path / "w.weights.safetensors")
    model.save_weights(path)
    theirs = load_file(path)
    ours, metadata = model_io.weights_payload(model)
    assert theirs.keys() == ours.keys()
    for key in ours:
        np.testing.assert_array_equal(theirs[key], ours[key])
    # ...and a file the library wrote loads into a model.
    other = str(tmp_path / "lib.weights.safetensors")
    save_file({k: np.array(v) for k, v in ours.items()}, other, metadata=metadata)
    fresh = _functional()
    fresh.load_weights(other)
    _assert_same_weights(model, fresh)


def test_load_weights_lists_every_mismatched_layer(tmp_path):
    def net(features, out):
        return models.Sequential(
            [
                layers.Input((features,)),
                layers.Dense(8, name="hidden"),
                layers.Dense(4, name="middle"),
                layers.Dense(out, name="head"),
            ]
        )

    saved = net(6, 2)
    saved.save_weights(tmp_path / "w.weights.npz")
    wrong = net(5, 3)
    with pytest.raises(ValueError) as info:
        wrong.load_weights(tmp_path / "w.weights.npz")
    message = str(info.value)
    assert "w.weights.npz" in message
    assert "layer 'hidden' (Dense)" in message
    assert "kernel: model (5, 8), file (6, 8)" in message
    assert "layer 'head' (Dense)" in message
    assert "kernel: model (4, 3), file (4, 2); bias: model (3,), file (2,)" in message
    assert "'middle'" not in message  # it matches
    before = wrong.get_weights()
    with pytest.warns(UserWarning, match="skipped mismatched layers"):
        wrong.load_weights(tmp_path / "w.weights.npz", skip_mismatch=True)
    after = wrong.get_weights()
    np.testing.assert_array_equal(after[0], before[0])  # hidden: skipped
    np.testing.assert_array_equal(after[4], before[4])  # head: skipped
    np.testing.assert_array_equal(after[2], saved.get_weights()[2])  # middle: loaded
    assert not np.array_equal(before[2], after[2])


def test_load_weights_reports_missing_and_extra_layers(tmp_path):
    small = models.Sequential([layers.Input((3,)), layers.Dense(2, name="a")])
    big = models.Sequential(
        [layers.Input((3,)), layers.Dense(2, name="a"), layers.Dense(2, name="b")]
    )
    small.save_weights(tmp_path / "w.weights.safetensors")
    with pytest.raises(ValueError, match="layer 'b' \\(Dense\\): no weights for it"):
        big.load_weights(tmp_path / "w.weights.safetensors")
    big.save_weights(tmp_path / "w.weights.safetensors")
    with pytest.raises(ValueError, match="file layer .*not in the model"):
        small.load_weights(tmp_path / "w.weights.safetensors")


def test_loading_into_an_unbuilt_model_says_build_it(tmp_path):
    models.Sequential([layers.Input((3,)), layers.Dense(2)]).save_weights(
        tmp_path / "w.weights.npz"
    )
    unbuilt = models.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="has no weights yet: build it first"):
        unbuilt.load_weights(tmp_path / "w.weights.npz")
    unbuilt.build((None, 3))
    unbuilt.load_weights(tmp_path / "w.weights.npz")


def test_file_name_checks_and_overwrite(tmp_path):
    model = models.Sequential([layers.Input((3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="must end in '.numdl'"):
        model.save(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")  # a Keras program's name, numdl's content
    assert models.load_model(tmp_path / "m.keras").count_params() == 8
    with pytest.raises(ValueError, match=".weights.safetensors"):
        model.save_weights(tmp_path / "w.h5")
    model.save(tmp_path / "m.numdl")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(tmp_path / "m.numdl", overwrite=False)
    with pytest.raises(FileNotFoundError, match="nothing.numdl"):
        models.load_model(tmp_path / "nothing.numdl")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    model = _trained()
    path = tmp_path / "m.numdl"
    model.save(path)
    old = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model_io, "write_tensors", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["m.numdl"]


# ---------------------------------------------------------- custom objects
@register_serializable(package="TestSaving")
class Scale(layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.gain = self.add_weight((input_shape[-1],), initializer="ones", name="gain")

    def call(self, inputs):
        return inputs * self.gain * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@register_serializable(package="TestSaving")
def cube(x):
    return x * x * x


def test_registered_custom_layer_and_function_round_trip(tmp_path):
    inputs = layers.Input((3,))
    outputs = layers.Dense(2, activation=cube)(Scale(3.0)(inputs))
    model = models.Model(inputs, outputs)
    model.get_layer(index=1).gain.assign(np.array([1.0, 2.0, 3.0]))
    model.save(tmp_path / "c.numdl")
    config = json.loads(zipfile.ZipFile(tmp_path / "c.numdl").read("config.json"))
    dense = config["model"]["config"]["layers"][2]["config"]
    assert dense["activation"] == "TestSaving>cube"
    loaded = models.load_model(tmp_path / "c.numdl")
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    )
    assert type(loaded.layers[1]) is Scale and loaded.layers[1].factor == 3.0


def test_unregistered_classes_need_custom_objects(tmp_path):
    class Shift(layers.Layer):
        def call(self, inputs):
            return inputs + 1.0

    def halve(x):
        return x / 2

    inputs = layers.Input((2,))
    model = models.Model(inputs, layers.Dense(2, activation=halve)(Shift()(inputs)))
    path = tmp_path / "u.numdl"
    model.save(path)
    with pytest.raises(ValueError, match="u.numdl.*could not rebuild.*Shift"):
        models.load_model(path)
    loaded = models.load_model(path, custom_objects={"Shift": Shift, "halve": halve})
    x = np.ones((1, 2), "float32")
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    )
    # the scope ended: the names are not left registered
    assert "halve" not in numdl.registry.names("activation")


def test_subclassed_model_round_trip(tmp_path):
    @register_serializable(package="TestSaving")
    class TwoLayer(models.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.hidden = layers.Dense(units, activation="tanh")
            self.head = layers.Dense(1)

        def call(self, inputs):
            return self.head(self.hidden(inputs))

    model = TwoLayer(units=5)
    x = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    model.compile("sgd", "mse")
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    model.save(tmp_path / "sub.numdl")
    loaded = models.load_model(tmp_path / "sub.numdl")
    assert type(loaded) is TwoLayer and loaded.units == 5
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    )


def test_saved_files_get_ordinary_permissions(tmp_path):
    model = models.Sequential([layers.Input((3,)), layers.Dense(2)])
    (tmp_path / "plain").write_bytes(b"")  # what open() gives under this umask
    model.save(tmp_path / "m.numdl")
    mode = (tmp_path / "m.numdl").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain").stat().st_mode & 0o777
    os.chmod(tmp_path / "m.numdl", 0o640)  # a replaced file keeps its mode
    model.save(tmp_path / "m.numdl")
    assert (tmp_path / "m.numdl").stat().st_mode & 0o777 == 0o640


def test_compile_settings_with_objects_and_several_outputs_round_trip(tmp_path):
    inputs = layers.Input((4,))
    hidden = layers.Dense(5, activation="relu")(inputs)
    score = layers.Dense(1, name="score")(hidden)
    kind = layers.Dense(3, activation="softmax", name="kind")(hidden)
    model = models.Model(inputs, {"score": score, "kind": kind})
    model.compile(
        optimizer=numdl.optimizers.RMSprop(0.01, rho=0.8),
        loss={
            "score": numdl.losses.Huber(delta=0.5),
            "kind": "sparse_categorical_crossentropy",
        },
        loss_weights={"score": 0.3, "kind": 1.0},
        metrics={"kind": [numdl.metrics.SparseTopKCategoricalAccuracy(k=2)]},
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = {"score": x[:, :1], "kind": rng.integers(0, 3, 32)}
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "multi.numdl")
    loaded = models.load_model(tmp_path / "multi.numdl")
    assert loaded.get_compile_config() == model.get_compile_config()
    assert loaded.get_compile_config()["loss"]["score"]["config"]["delta"] == 0.5
    assert loaded.optimizer.rho == 0.8 and loaded.optimizer.iterations == 1
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == expected
