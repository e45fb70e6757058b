"""Image augmentation layers (Keras 3): RandomFlip, RandomTranslation,
RandomRotation, RandomZoom, RandomContrast, Resizing, CenterCrop — exact
geometric results for fixed factors (quarter turns are np.rot90, whole-pixel
shifts are np.pad windows, zooms by hand), the contrast formula, Resizing and
CenterCrop against torch, identity at inference, seeds, shapes (eager and
symbolic), configs, errors and training inside fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import numdl
from numdl import layers
from numdl.models import Sequential
from numdl.testing import assert_close, check_grad

NP_PAD = {"nearest": "edge", "wrap": "wrap", "reflect": "symmetric"}
RANDOM = [
    (layers.RandomFlip, {}),
    (layers.RandomTranslation, {"height_factor": 0.3, "width_factor": 0.3}),
    (layers.RandomRotation, {"factor": 0.2}),
    (layers.RandomZoom, {"height_factor": 0.3}),
    (layers.RandomContrast, {"factor": 0.5}),
]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _images(shape, seed=0):
    """Distinct values (no symmetric image), scaled into [0, 255)."""
    return _rng(seed).permutation(np.prod(shape)).reshape(shape).astype("float32")


def _to_first(x):
    return np.moveaxis(x, -1, -3)


# --------------------------------------------------------------- RandomFlip
FLIPS = {
    "horizontal": lambda x: x[..., :, ::-1, :],
    "vertical": lambda x: x[..., ::-1, :, :],
    "horizontal_and_vertical": lambda x: x[..., ::-1, ::-1, :],
}


@pytest.mark.parametrize("mode", list(FLIPS))
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_random_flip_gives_the_flipped_image_or_the_image(mode, data_format):
    x = _images((24, 3, 4, 2))
    flipped = FLIPS[mode](x)
    if data_format == "channels_first":
        x, flipped = _to_first(x), _to_first(flipped)
    layer = layers.RandomFlip(mode, seed=3, data_format=data_format)
    out = layer(x, training=True).numpy()
    is_flipped = [np.array_equal(o, f) for o, f in zip(out, flipped)]
    is_same = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f != s for f, s in zip(is_flipped, is_same))
    assert 4 <= sum(is_flipped) <= 20  # about half of 24
    again = layers.RandomFlip(mode, seed=3, data_format=data_format)
    np.testing.assert_array_equal(again(x, training=True).numpy(), out)


def test_random_flip_single_image_and_the_default_mode():
    x = _images((3, 4, 1))
    layer = layers.RandomFlip(seed=0)
    assert layer.mode == "horizontal_and_vertical"
    outs = {layer(x, training=True).numpy().tobytes() for _ in range(20)}
    assert outs == {x.tobytes(), np.ascontiguousarray(x[::-1, ::-1]).tobytes()}


# ----------------------------------------------------------- RandomRotation
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize(("factor", "turns"), [(0.25, 1), (-0.25, -1), (0.5, 2)])
def test_random_rotation_by_quarter_turns_is_rot90(interpolation, factor, turns):
    x = _images((3, 5, 5, 2))
    layer = layers.RandomRotation((factor, factor), interpolation=interpolation)
    out = layer(x, training=True).numpy()
    expected = np.rot90(x, turns, axes=(1, 2))  # counter-clockwise for turns > 0
    assert_close(out, expected, 1e-6)
    if interpolation == "nearest":
        np.testing.assert_array_equal(out, expected)


def test_random_rotation_half_turn_of_a_rectangle_channels_first():
    x = _images((2, 3, 4, 6))  # channels first: 4 x 6 images
    layer = layers.RandomRotation((0.5, 0.5), data_format="channels_first")
    assert_close(layer(x, training=True).numpy(), x[:, :, ::-1, ::-1], 1e-6)


def test_random_rotation_draws_angles_within_the_factor():
    x = np.zeros((200, 9, 9, 1), "float32")
    x[:, 4, 8] = 1.0  # one pixel right of the centre, at radius 4
    layer = layers.RandomRotation(0.1, fill_mode="constant", seed=1)
    out = layer(x, training=True).numpy()[..., 0]
    rows, cols = np.unravel_index(out.reshape(200, -1).argmax(axis=1), (9, 9))
    angles = np.arctan2(4 - rows, cols - 4) / (2 * np.pi)  # up is positive
    assert np.abs(angles).max() <= 0.1 + 0.03  # pixel rounding at radius 4
    assert angles.min() < -0.05 and angles.max() > 0.05


# -------------------------------------------------------- RandomTranslation
@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest", "constant"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_translation_by_whole_pixels_is_a_padded_window(
    fill_mode, interpolation
):
    x = _images((2, 8, 4, 3))
    layer = layers.RandomTranslation(
        (0.25, 0.25),  # 2 rows down
        (-0.5, -0.5),  # 2 columns left
        fill_mode=fill_mode,
        interpolation=interpolation,
        fill_value=-7.0,
    )
    out = layer(x, training=True).numpy()
    widths = ((0, 0), (8, 8), (8, 8), (0, 0))
    if fill_mode == "constant":
        big = np.pad(x, widths, constant_values=-7.0)
    else:
        big = np.pad(x, widths, NP_PAD[fill_mode])
    np.testing.assert_array_equal(out, big[:, 8 - 2 : 8 - 2 + 8, 8 + 2 : 8 + 2 + 4])


def test_random_translation_shifts_are_within_the_factors():
    x = np.zeros((100, 11, 11, 1), "float32")
    x[:, 5, 5] = 1.0
    layer = layers.RandomTranslation(
        (-0.2, 0.1), 0.3, fill_mode="constant", interpolation="nearest", seed=2
    )
    out = layer(x, training=True).numpy()[..., 0]
    rows, cols = np.unravel_index(out.reshape(100, -1).argmax(axis=1), (11, 11))
    dy, dx = rows - 5, cols - 5
    assert dy.min() >= round(-0.2 * 11) and dy.max() <= round(0.1 * 11)
    assert dx.min() >= -round(0.3 * 11) and dx.max() <= round(0.3 * 11)
    assert dy.min() < 0 < dy.max() and dx.min() < 0 < dx.max()


# --------------------------------------------------------------- RandomZoom
def test_random_zoom_out_by_two_reads_every_other_pixel():
    x = _images((1, 5, 5, 1))
    layer = layers.RandomZoom((1.0, 1.0), fill_mode="constant", fill_value=-1.0)
    out = layer(x, training=True).numpy()[0, :, :, 0]
    # zoom 2 about the centre 2: input = 2 * output - 2, for both axes
    expected = np.full((5, 5), -1.0)
    expected[1:4, 1:4] = x[0, 0:5:2, 0:5:2, 0]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_zoom_in_on_the_width_only(interpolation):
    x = _images((2, 3, 5, 2))
    layer = layers.RandomZoom(0.0, (-0.5, -0.5), interpolation=interpolation)
    out = layer(x, training=True).numpy()
    c = [x[:, :, k] for k in range(5)]
    # zoom 0.5 about column 2: input column = 0.5 * x + 1 = 1, 1.5, 2, 2.5, 3
    if interpolation == "bilinear":
        columns = [c[1], (c[1] + c[2]) / 2, c[2], (c[2] + c[3]) / 2, c[3]]
    else:  # ties round up
        columns = [c[1], c[2], c[2], c[3], c[3]]
    assert_close(out, np.stack(columns, axis=2), 1e-6)


# ----------------------------------------------------------- RandomContrast
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_random_contrast_formula_per_image_and_channel(data_format):
    x = _rng(4).uniform(0, 255, size=(6, 5, 4, 3)).astype("float32")
    x[..., 1] = x[..., 1] / 4 + 100  # channels with different means
    layer = layers.RandomContrast((0.5, 0.3), seed=5, data_format=data_format)
    inputs = x if data_format == "channels_last" else _to_first(x)
    out = layer(inputs, training=True).numpy()
    if data_format == "channels_first":
        out = np.moveaxis(out, -3, -1)
    factors = []
    for image, result in zip(x.astype("float64"), out.astype("float64")):
        mean = image.mean(axis=(0, 1))
        inside = (result > 0) & (result < 255) & (np.abs(image - mean) > 10)
        estimates = ((result - mean) / (image - mean))[inside]
        factor = np.median(estimates)
        assert np.abs(estimates - factor).max() < 1e-4
        expected = np.clip((image - mean) * factor + mean, 0, 255)
        assert_close(result, expected, 1e-5)
        factors.append(factor)
    assert min(factors) >= 0.5 - 1e-6 and max(factors) <= 1.3 + 1e-6
    assert len(set(np.round(factors, 4))) == 6


def test_random_contrast_clips_to_the_value_range():
    x = _rng(6).uniform(0, 1, size=(50, 4, 4, 1))
    out = layers.RandomContrast(1.0, value_range=(0, 1), seed=0)(x, training=True)
    out = out.numpy()
    assert out.min() == 0.0 and out.max() == 1.0
    stretched = np.abs(out - 0.5).max(axis=(1, 2, 3)) > np.abs(x - 0.5).max(
        axis=(1, 2, 3)
    )
    assert stretched.any() and not stretched.all()


# ------------------------------------------------------ shared: inference
@pytest.mark.parametrize(("cls", "kwargs"), RANDOM)
def test_random_layers_are_the_identity_unless_training(cls, kwargs):
    x = _images((4, 6, 6, 2))
    layer = cls(**kwargs, seed=1)
    for training in (None, False):
        out = layer(x, training=training)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out.numpy(), x)
    np.testing.assert_array_equal(layer(x[0]).numpy(), x[0])
    assert not np.array_equal(layer(x, training=True).numpy(), x)
    ints = layer(x.astype("uint8"), training=True)
    assert ints.dtype == np.float32
    assert layer.weights == []


@pytest.mark.parametrize(("cls", "kwargs"), RANDOM)
def test_random_layers_seeds(cls, kwargs):
    x = _images((6, 5, 5, 3))

    def run(layer):
        return layer(x, training=True).numpy()

    np.testing.assert_array_equal(
        run(cls(**kwargs, seed=7)), run(cls(**kwargs, seed=7))
    )
    assert not np.array_equal(run(cls(**kwargs, seed=7)), run(cls(**kwargs, seed=8)))
    layer = cls(**kwargs)  # seed None: numdl's generator
    numdl.config.set_random_seed(3)
    first = run(layer)
    numdl.config.set_random_seed(3)
    np.testing.assert_array_equal(run(layer), first)
    assert not np.array_equal(run(layer), first)


@pytest.mark.parametrize(("cls", "kwargs"), RANDOM)
def test_random_layers_shapes_eager_and_symbolic(cls, kwargs):
    layer = cls(**kwargs)
    for shape in [(2, 5, 6, 3), (5, 6, 3)]:
        assert layer(np.zeros(shape), training=True).shape == shape
    first = cls(**kwargs, data_format="channels_first")
    assert first(np.zeros((2, 3, 5, 6)), training=True).shape == (2, 3, 5, 6)
    symbolic = layer(layers.Input(shape=(None, None, 3)), training=True)
    assert symbolic.shape == (None, None, None, 3)
    assert layer.compute_output_shape((None, 8, 8, 1)) == (None, 8, 8, 1)


def test_random_layers_keep_gradients_to_their_inputs():
    x = _rng(8).normal(size=(2, 5, 6, 2))
    rotate = layers.RandomRotation((0.1, 0.1), dtype="float64")  # a fixed angle
    assert max(check_grad(lambda t: rotate(t, training=True), x)) < 1e-6
    contrast = layers.RandomContrast(0.5, value_range=(-10, 10), dtype="float64")

    def reseeded(t):
        numdl.config.set_random_seed(0)
        return contrast(t, training=True)

    assert max(check_grad(reseeded, x)) < 1e-6
    flip = layers.RandomFlip(dtype="float64")

    def flipped(t):
        numdl.config.set_random_seed(1)
        return flip(t, training=True)

    assert max(check_grad(flipped, x)) < 1e-6


# ----------------------------------------------------------------- Resizing
@pytest.mark.parametrize(
    ("interpolation", "mode"), [("bilinear", "bilinear"), ("nearest", "nearest-exact")]
)
@pytest.mark.parametrize("size", [(9, 13), (3, 4), (6, 6)])
def test_resizing_matches_torch_interpolate(interpolation, mode, size):
    x = _rng(9).normal(size=(2, 6, 7, 3)).astype("float32")
    out = layers.Resizing(*size, interpolation=interpolation)(x)
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    expected = F.interpolate(
        torch.tensor(_to_first(x)), size, mode=mode, **kwargs
    ).numpy()
    assert out.dtype == np.float32
    assert_close(out.numpy(), np.moveaxis(expected, 1, -1), 1e-5)
    first = layers.Resizing(
        *size, interpolation=interpolation, data_format="channels_first"
    )
    assert_close(first(_to_first(x)).numpy(), expected, 1e-5)


def test_resizing_is_differentiable_and_converts_integers():
    x = _rng(10).normal(size=(2, 4, 5, 1))
    layer = layers.Resizing(7, 3, dtype="float64")
    assert max(check_grad(layer, x)) < 1e-6
    ints = layers.Resizing(2, 2)(np.arange(16, dtype="uint8").reshape(4, 4, 1))
    assert ints.dtype == np.float32
    assert_close(
        ints.numpy(),
        layers.Resizing(2, 2)(np.arange(16.0).reshape(4, 4, 1)).numpy(),
        1e-6,
    )


def test_resizing_crop_and_pad_to_aspect_ratio():
    x = _rng(11).normal(size=(1, 6, 10, 2)).astype("float32")
    crop = layers.Resizing(3, 3, crop_to_aspect_ratio=True)(x).numpy()
    expected = F.interpolate(
        torch.tensor(_to_first(x[:, :, 2:8])),
        (3, 3),
        mode="bilinear",
        align_corners=False,
    ).numpy()
    assert_close(crop, np.moveaxis(expected, 1, -1), 1e-5)
    pad = layers.Resizing(10, 10, pad_to_aspect_ratio=True, fill_value=5.0)(x).numpy()
    padded = np.pad(x, ((0, 0), (2, 2), (0, 0), (0, 0)), constant_values=5.0)
    expected = F.interpolate(
        torch.tensor(_to_first(padded)), (10, 10), mode="bilinear", align_corners=False
    ).numpy()
    assert_close(pad, np.moveaxis(expected, 1, -1), 1e-5)


def test_resizing_shapes():
    layer = layers.Resizing(4, 5)
    assert layer(layers.Input(shape=(None, None, 3))).shape == (None, 4, 5, 3)
    assert layer(np.zeros((8, 8, 3))).shape == (4, 5, 3)
    first = layers.Resizing(4, 5, data_format="channels_first")
    assert first(layers.Input(shape=(3, 9, 9))).shape == (None, 3, 4, 5)
    assert first.compute_output_shape((3, 9, 9)) == (3, 4, 5)


# --------------------------------------------------------------- CenterCrop
@pytest.mark.parametrize(("h", "w"), [(4, 3), (7, 8), (1, 1), (3, 6)])
def test_center_crop_is_the_centred_slice(h, w):
    x = _images((2, 7, 8, 3))
    top, left = int((7 - h) / 2), int((8 - w) / 2)
    expected = x[:, top : top + h, left : left + w]
    np.testing.assert_array_equal(layers.CenterCrop(h, w)(x).numpy(), expected)
    np.testing.assert_array_equal(layers.CenterCrop(h, w)(x[1]).numpy(), expected[1])
    first = layers.CenterCrop(h, w, data_format="channels_first")
    np.testing.assert_array_equal(first(_to_first(x)).numpy(), _to_first(expected))


def test_center_crop_of_a_smaller_image_crops_to_the_aspect_ratio_and_resizes():
    x = _rng(12).normal(size=(2, 4, 6, 1)).astype("float32")
    out = layers.CenterCrop(6, 6)(x).numpy()  # 4 x 6 -> centred 4 x 4 -> 6 x 6
    expected = F.interpolate(
        torch.tensor(_to_first(x[:, :, 1:5])),
        (6, 6),
        mode="bilinear",
        align_corners=False,
    ).numpy()
    assert_close(out, np.moveaxis(expected, 1, -1), 1e-5)


def test_center_crop_shapes_gradients_and_integers():
    layer = layers.CenterCrop(3, 2)
    assert layer(layers.Input(shape=(8, 8, 1))).shape == (None, 3, 2, 1)
    assert layer.compute_output_shape((None, 8, 8, 1)) == (None, 3, 2, 1)
    assert layer(np.zeros((5, 5, 2), "uint8")).dtype == np.float32
    x = _rng(13).normal(size=(2, 5, 4, 1))
    assert max(check_grad(layers.CenterCrop(3, 2, dtype="float64"), x)) < 1e-6


# ------------------------------------------------------------------ configs
CONFIGS = [
    (
        layers.RandomFlip,
        {"mode": "vertical", "seed": 3},
        {"mode", "seed", "data_format"},
    ),
    (
        layers.RandomTranslation,
        {
            "height_factor": (-0.2, 0.1),
            "width_factor": 0.3,
            "fill_mode": "wrap",
            "seed": 1,
        },
        {
            "height_factor",
            "width_factor",
            "fill_mode",
            "interpolation",
            "seed",
            "fill_value",
            "data_format",
        },
    ),  # fmt: skip
    (
        layers.RandomRotation,
        {"factor": 0.2, "interpolation": "nearest", "fill_value": 2.0},
        {"factor", "fill_mode", "interpolation", "seed", "fill_value", "data_format"},
    ),
    (
        layers.RandomZoom,
        {
            "height_factor": (-0.3, 0.2),
            "fill_mode": "constant",
            "data_format": "channels_first",
        },
        {
            "height_factor",
            "width_factor",
            "fill_mode",
            "interpolation",
            "seed",
            "fill_value",
            "data_format",
        },
    ),  # fmt: skip
    (
        layers.RandomContrast,
        {"factor": (0.2, 0.4), "value_range": (0, 1), "seed": 2},
        {"factor", "value_range", "seed"},
    ),
    (
        layers.Resizing,
        {
            "height": 4,
            "width": 6,
            "interpolation": "nearest",
            "crop_to_aspect_ratio": True,
        },
        {
            "height",
            "width",
            "interpolation",
            "crop_to_aspect_ratio",
            "pad_to_aspect_ratio",
            "fill_mode",
            "fill_value",
            "data_format",
        },
    ),  # fmt: skip
    (layers.CenterCrop, {"height": 2, "width": 3}, {"height", "width", "data_format"}),
]


@pytest.mark.parametrize(("cls", "kwargs", "keras_keys"), CONFIGS)
def test_config_round_trips_through_json_with_keras_keys(cls, kwargs, keras_keys):
    layer = cls(**kwargs)
    cfg = layer.get_config()
    assert keras_keys <= set(cfg)
    clone = cls.from_config(json.loads(json.dumps(cfg)))
    assert json.dumps(clone.get_config()) == json.dumps(cfg)
    x = _images((3, 5, 6, 4))
    a = layer(x, training=True).numpy()
    b = clone(x, training=True).numpy()
    assert a.shape == b.shape
    if kwargs.get("seed") is not None or cls in (layers.Resizing, layers.CenterCrop):
        np.testing.assert_array_equal(a, b)


def test_config_defaults_are_keras_defaults():
    assert layers.RandomRotation(0.1).get_config()["factor"] == (-0.1, 0.1)
    cfg = layers.RandomZoom(0.1).get_config()
    assert (cfg["fill_mode"], cfg["interpolation"], cfg["fill_value"]) == (
        "reflect", "bilinear", 0.0
    )  # fmt: skip
    assert cfg["width_factor"] is None and cfg["seed"] is None
    assert layers.RandomContrast(0.2).get_config()["value_range"] == (0, 255)
    cfg = layers.Resizing(2, 2).get_config()
    assert cfg["interpolation"] == "bilinear" and cfg["data_format"] == "channels_last"


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: layers.RandomRotation(1.5),
            r"RandomRotation .*factor must be .* \[-1, 1\]",
        ),
        (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), "factor must be"),
        (lambda: layers.RandomRotation("big"), "factor must be"),
        (lambda: layers.RandomTranslation(0.1, (0.2, 2.0)), "width_factor must be"),
        (
            lambda: layers.RandomZoom(0.1, fill_mode="mirror"),
            "fill_mode must be one of",
        ),
        (
            lambda: layers.RandomZoom(0.1, interpolation="cubic"),
            "interpolation must be",
        ),
        (lambda: layers.RandomZoom(0.1, fill_value="x"), "fill_value must be a number"),
        (lambda: layers.RandomFlip("diagonal"), "mode must be one of"),
        (lambda: layers.RandomFlip(seed=1.5), "seed must be an integer"),
        (lambda: layers.RandomContrast(1.5), r"factor must be .* \[0, 1\]"),
        (lambda: layers.RandomContrast((-0.1, 0.2)), "factor must be"),
        (lambda: layers.RandomContrast(0.1, value_range=(1, 0)), "value_range must be"),
        (lambda: layers.Resizing(0, 3), "height must be a positive integer"),
        (
            lambda: layers.Resizing(2, 3, interpolation="bicubic"),
            "interpolation must be",
        ),
        (lambda: layers.Resizing(2, 3, fill_mode="reflect"), "fill_mode must be"),
        (
            lambda: layers.Resizing(
                2, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True
            ),
            "only one of",
        ),
        (lambda: layers.CenterCrop(2, -1), "width must be a positive integer"),
        (lambda: layers.CenterCrop(2, 2, data_format="nhwc"), "data_format must be"),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    ("cls", "kwargs"), RANDOM + [(layers.Resizing, {"height": 2, "width": 2})]
)
def test_inputs_must_be_images(cls, kwargs):
    layer = cls(**kwargs)
    with pytest.raises(ValueError, match=r"at least 3 dimensions, got shape \(4, 4\)"):
        layer(np.zeros((4, 4)), training=True)
    with pytest.raises(ValueError, match="at most 4 dimensions"):
        layer(layers.Input(shape=(2, 4, 4, 1)))


# --------------------------------------------------------------- training
class _Spy(layers.RandomFlip):
    """Records the ``training`` flag each call receives."""

    seen: list

    def call(self, inputs, training=None):
        self.seen.append(training)
        return super().call(inputs, training=training)


def test_a_model_with_augmentation_trains_with_fit_and_predicts_deterministically():
    numdl.config.set_random_seed(0)
    rng = _rng(14)
    x = rng.uniform(0, 1, size=(48, 8, 8, 1)).astype("float32")
    y = (x[:, :, :4].mean(axis=(1, 2, 3)) > x[:, :, 4:].mean(axis=(1, 2, 3))).astype(
        int
    )
    spy = _Spy(seed=0)
    spy.seen = []
    model = Sequential(
        [
            layers.Input(shape=(8, 8, 1)),
            spy,
            layers.RandomTranslation(0.1, 0.1),
            layers.RandomRotation(0.05),
            layers.RandomZoom(0.1),
            layers.RandomContrast(0.2, value_range=(0, 1)),
            layers.Resizing(10, 10),
            layers.CenterCrop(6, 6),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    spy.seen.clear()  # building ran shape inference (training False)
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # fit runs one plain forward to set up its losses, then 3 training steps
    assert spy.seen.count(True) == 3 and len(spy.seen) <= 4
    spy.seen.clear()
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(first, second)
    assert spy.seen and not any(spy.seen)


def test_a_sequential_with_augmentation_round_trips_through_json():
    model = Sequential(
        [
            layers.Input(shape=(8, 8, 3)),
            layers.RandomFlip("horizontal", seed=1),
            layers.RandomRotation(0.1, fill_mode="constant"),
            layers.RandomContrast(0.3, value_range=(0, 1)),
            layers.Resizing(6, 6, interpolation="nearest"),
            layers.CenterCrop(4, 4),
        ]
    )
    config = json.loads(json.dumps(model.get_config()))
    clone = Sequential.from_config(config)
    assert [type(layer) for layer in clone.layers] == [
        type(layer) for layer in model.layers
    ]
    x = _images((2, 8, 8, 3)) / 192
    np.testing.assert_array_equal(
        clone.predict(x, verbose=0), model.predict(x, verbose=0)
    )
