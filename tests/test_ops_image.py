"""numdl.ops.image: resize against torch.nn.functional.interpolate (values and
gradients), crop/pad to aspect ratio against Keras's integer formulas, and
affine_transform against a per-pixel reference written from the definition
(Keras's NumPy backend: extend the image by np.pad's mode, then interpolate),
for every fill mode, interpolation, layout and projective transforms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch.nn.functional as F

import numdl
from numdl.autograd.tensor import Tensor
from numdl.ops import image
from numdl.testing import assert_close, assert_torch_parity, check_grad

FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
NP_PAD = {
    "nearest": "edge",
    "wrap": "wrap",
    "mirror": "reflect",
    "reflect": "symmetric",
}
SIZES = [(5, 7, 9, 13), (9, 13, 5, 7), (4, 4, 8, 8), (8, 8, 3, 5), (7, 6, 7, 11)]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------- resize
@pytest.mark.parametrize(("h", "w", "oh", "ow"), SIZES)
@pytest.mark.parametrize("antialias", [False, True])
def test_resize_bilinear_matches_torch(h, w, oh, ow, antialias):
    x = _rng().normal(size=(2, 3, h, w))

    def ours(t):
        return image.resize(
            t, (oh, ow), antialias=antialias, data_format="channels_first"
        )

    def theirs(t):
        return F.interpolate(
            t, (oh, ow), mode="bilinear", align_corners=False, antialias=antialias
        )

    assert_torch_parity(ours, theirs, x)
    assert_torch_parity(ours, theirs, x.astype("float32"))


@pytest.mark.parametrize(("h", "w", "oh", "ow"), SIZES + [(28, 28, 32, 32)])
def test_resize_nearest_matches_torch_nearest_exact(h, w, oh, ow):
    x = _rng(1).normal(size=(2, 3, h, w))

    def ours(t):
        return image.resize(
            t, (oh, ow), interpolation="nearest", data_format="channels_first"
        )

    assert_torch_parity(
        ours, lambda t: F.interpolate(t, (oh, ow), mode="nearest-exact"), x
    )


def test_resize_nearest_indices_are_half_pixel_floors():
    x = np.arange(7.0).reshape(1, 7, 1)  # one row 0..6: values are indices
    out = image.resize(x, (1, 3), interpolation="nearest")[0, :, 0]
    # floor((i + 0.5) * 7 / 3) for i = 0, 1, 2
    assert out.tolist() == [1.0, 3.0, 5.0]


def test_resize_layouts_and_single_images_agree():
    x = _rng(2).normal(size=(2, 5, 6, 3))
    last = image.resize(x, (4, 9))
    first = image.resize(x.transpose(0, 3, 1, 2), (4, 9), data_format="channels_first")
    assert_close(first.transpose(0, 2, 3, 1), last, 1e-12)
    assert_close(image.resize(x[1], (4, 9)), last[1], 1e-12)
    numdl.config.set_image_data_format("channels_first")
    try:
        assert_close(image.resize(x.transpose(0, 3, 1, 2), (4, 9)), first, 1e-12)
    finally:
        numdl.config.set_image_data_format("channels_last")


def test_resize_same_size_is_identity_and_keeps_gradients():
    x = _rng(3).normal(size=(1, 4, 5, 2))
    same = image.resize(x, (4, 5))
    np.testing.assert_array_equal(same, x)
    assert not np.shares_memory(same, x)
    assert max(check_grad(lambda t: image.resize(t, (7, 3)), x)) < 1e-8


def test_resize_types_numpy_in_numpy_out_tensor_in_tensor_out():
    x = _rng(4).normal(size=(4, 4, 1)).astype("float32")
    out = image.resize(x, (2, 2))
    assert type(out) is np.ndarray and out.dtype == np.float32
    t = Tensor(x, requires_grad=True)
    out = image.resize(t, (2, 2))
    assert isinstance(out, Tensor) and out.requires_grad
    ints = image.resize(np.arange(16, dtype="uint8").reshape(4, 4, 1), (2, 2))
    assert ints.dtype == np.float32
    expected = image.resize(np.arange(16.0).reshape(4, 4, 1), (2, 2))
    assert_close(ints, expected, 1e-6)


def _keras_crop_box(height, width, th, tw):
    crop_h = max(min(height, int(width * th / tw)), 1)
    crop_w = max(min(width, int(height * tw / th)), 1)
    return int((height - crop_h) / 2), int((width - crop_w) / 2), crop_h, crop_w


@pytest.mark.parametrize(
    ("h", "w", "th", "tw"), [(6, 10, 4, 4), (9, 4, 3, 6), (5, 5, 2, 3)]
)
def test_resize_crop_to_aspect_ratio_is_resize_of_the_centre_window(h, w, th, tw):
    x = _rng(5).normal(size=(2, h, w, 3))
    top, left, ch, cw = _keras_crop_box(h, w, th, tw)
    expected = image.resize(x[:, top : top + ch, left : left + cw], (th, tw))
    out = image.resize(x, (th, tw), crop_to_aspect_ratio=True)
    np.testing.assert_array_equal(out, expected)
    assert not np.allclose(out, image.resize(x, (th, tw)))


@pytest.mark.parametrize(
    ("h", "w", "th", "tw"), [(6, 10, 4, 4), (9, 4, 3, 6), (5, 5, 2, 3)]
)
def test_resize_pad_to_aspect_ratio_pads_the_short_side_with_fill_value(h, w, th, tw):
    x = _rng(6).normal(size=(1, 3, h, w))
    pad_h = int((max(h, int(w * th / tw)) - h) / 2)
    pad_w = int((max(w, int(h * tw / th)) - w) / 2)
    widths = ((0, 0), (0, 0), (pad_h, pad_h), (0, 0) if pad_h else (pad_w, pad_w))
    padded = np.pad(x, widths, constant_values=-3.0)
    expected = image.resize(padded, (th, tw), data_format="channels_first")
    out = image.resize(
        x,
        (th, tw),
        pad_to_aspect_ratio=True,
        fill_value=-3.0,
        data_format="channels_first",
    )
    np.testing.assert_array_equal(out, expected)
    plain = image.resize(x, (th, tw), data_format="channels_first")
    assert (pad_h or pad_w) and not np.allclose(out, plain)


def test_resize_errors_name_the_function_and_the_argument():
    x = np.zeros((4, 4, 1))
    with pytest.raises(
        ValueError, match=r"resize: expected images of rank 3 .* \(4, 4\)"
    ):
        image.resize(np.zeros((4, 4)), (2, 2))
    with pytest.raises(ValueError, match="resize: interpolation must be one of"):
        image.resize(x, (2, 2), interpolation="bicubic")
    with pytest.raises(ValueError, match="resize: size must be two positive"):
        image.resize(x, (2, 0))
    with pytest.raises(ValueError, match="resize: size must be two positive"):
        image.resize(x, 2)
    with pytest.raises(ValueError, match="only one of crop_to_aspect_ratio"):
        image.resize(x, (2, 2), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="fill_mode='constant'"):
        image.resize(x, (2, 2), fill_mode="reflect")
    with pytest.raises(ValueError, match="data_format must be"):
        image.resize(x, (2, 2), data_format="nhwc")


# --------------------------------------------------------- affine_transform
def _reference_affine(img, transform, interpolation, fill_mode, fill_value):
    """Per-pixel loops over one (H, W, C) image: extend by np.pad's mode, then
    read the nearest pixel (ties up) or interpolate bilinearly."""
    h, w, _ = img.shape
    margin = 40
    if fill_mode == "constant":
        big = np.pad(img, ((margin, margin), (margin, margin), (0, 0)),
                     constant_values=fill_value)  # fmt: skip
    else:
        big = np.pad(
            img, ((margin, margin), (margin, margin), (0, 0)), NP_PAD[fill_mode]
        )
    a0, a1, a2, b0, b1, b2, c0, c1 = transform
    out = np.zeros_like(img)
    for y, x in itertools.product(range(h), range(w)):
        k = c0 * x + c1 * y + 1
        xs, ys = (
            (a0 * x + a1 * y + a2) / k + margin,
            (b0 * x + b1 * y + b2) / k + margin,
        )
        if interpolation == "nearest":
            out[y, x] = big[int(np.floor(ys + 0.5)), int(np.floor(xs + 0.5))]
            continue
        y0, x0 = int(np.floor(ys)), int(np.floor(xs))
        fy, fx = ys - y0, xs - x0
        out[y, x] = (
            big[y0, x0] * (1 - fy) * (1 - fx)
            + big[y0, x0 + 1] * (1 - fy) * fx
            + big[y0 + 1, x0] * fy * (1 - fx)
            + big[y0 + 1, x0 + 1] * fy * fx
        )
    return out


def _random_transforms(batch, h, w, seed, projective=False):
    """Rotation + anisotropic scale + shear + shift about the centre (and a
    small projective part), so the source points land everywhere, in and out."""
    rng = _rng(seed)
    out = []
    for _ in range(batch):
        angle, sx, sy, shear = (
            rng.uniform(-3, 3),
            *rng.uniform(0.6, 1.6, 2),
            rng.uniform(-0.4, 0.4),
        )
        m = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        m = m @ np.array([[sx, shear], [0.0, sy]])
        centre = np.array([(w - 1) / 2, (h - 1) / 2])
        shift = centre - m @ centre + rng.uniform(-3, 3, 2)
        c = rng.uniform(-0.03, 0.03, 2) if projective else (0.0, 0.0)
        out.append([m[0, 0], m[0, 1], shift[0], m[1, 0], m[1, 1], shift[1], *c])
    return np.array(out)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_transform_matches_the_per_pixel_reference(fill_mode, interpolation):
    images = _rng(7).normal(size=(3, 6, 7, 2))
    transforms = _random_transforms(3, 6, 7, seed=8)
    out = image.affine_transform(
        images, transforms, interpolation, fill_mode, fill_value=2.5
    )
    for i in range(3):
        expected = _reference_affine(
            images[i], transforms[i], interpolation, fill_mode, 2.5
        )
        assert_close(out[i], expected, 1e-12, f"image {i}")


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_transform_projective_and_channels_first(interpolation):
    images = _rng(9).normal(size=(2, 3, 5, 6))  # channels first
    transforms = _random_transforms(2, 5, 6, seed=10, projective=True)
    out = image.affine_transform(
        images, transforms, interpolation, "reflect", data_format="channels_first"
    )
    for i in range(2):
        expected = _reference_affine(
            images[i].transpose(1, 2, 0), transforms[i], interpolation, "reflect", 0.0
        )
        assert_close(out[i].transpose(1, 2, 0), expected, 1e-12, f"image {i}")


@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_affine_transform_whole_pixel_shift_is_exact_padding(fill_mode):
    img = _rng(11).normal(size=(5, 6, 2)).astype("float32")
    dy, dx = 2, -3  # content moves down 2 and left 3: x_in = x + 3, y_in = y - 2
    out = image.affine_transform(
        img, [1, 0, -dx, 0, 1, -dy, 0, 0], "bilinear", fill_mode, 1.5
    )
    if fill_mode == "constant":
        big = np.pad(img, ((6, 6), (6, 6), (0, 0)), constant_values=1.5)
    else:
        big = np.pad(img, ((6, 6), (6, 6), (0, 0)), NP_PAD[fill_mode])
    np.testing.assert_array_equal(out, big[6 - dy : 6 - dy + 5, 6 - dx : 6 - dx + 6])


def test_affine_transform_identity_and_a_single_transform_for_the_batch():
    images = _rng(12).normal(size=(3, 4, 5, 2))
    identity = [1, 0, 0, 0, 1, 0, 0, 0]
    for interpolation, fill_mode in itertools.product(
        ["bilinear", "nearest"], FILL_MODES
    ):
        out = image.affine_transform(images, identity, interpolation, fill_mode)
        np.testing.assert_array_equal(out, images)
    shift = np.array([1, 0, 0.5, 0, 1, 0, 0, 0])
    batch = image.affine_transform(images, shift)
    for i in range(3):
        single = image.affine_transform(images[i], shift)
        np.testing.assert_array_equal(batch[i], single)
        assert_close(
            single, image.affine_transform(images[i : i + 1], shift[None])[0], 0
        )


def test_affine_transform_half_pixel_shift_averages_neighbours():
    row = np.array([1.0, 2.0, 4.0, 8.0]).reshape(1, 4, 1)
    out = image.affine_transform(row, [1, 0, 0.5, 0, 1, 0, 0, 0], fill_value=10.0)
    # x_in = x + 0.5: averages (x, x + 1); the last reads half the fill value
    assert out.ravel().tolist() == [1.5, 3.0, 6.0, 9.0]


def test_affine_transform_gradients_match_finite_differences():
    images = _rng(13).normal(size=(2, 4, 5, 2))
    transforms = _random_transforms(2, 4, 5, seed=14)
    cases = [
        ("bilinear", "constant"),
        ("bilinear", "wrap"),
        ("nearest", "reflect"),
        ("bilinear", "mirror"),
    ]
    for interpolation, fill_mode in cases:

        def fn(t, interpolation=interpolation, fill_mode=fill_mode):
            return image.affine_transform(t, transforms, interpolation, fill_mode, 3.0)

        assert max(check_grad(fn, images)) < 1e-6, (interpolation, fill_mode)


def test_affine_transform_backward_is_the_adjoint():
    # out = A x + fill is affine in x: <A x, y> must equal <x, A^T y> (the
    # gradient of <out, y>) for any x, y, to rounding.
    x, y = _rng(15).normal(size=(2, 2, 6, 7, 3))
    transforms = _random_transforms(2, 6, 7, seed=16)
    for interpolation, fill_mode in itertools.product(
        ["bilinear", "nearest"], FILL_MODES
    ):
        t = Tensor(x.copy(), requires_grad=True)
        out = image.affine_transform(t, transforms, interpolation, fill_mode)
        (out * y).sum().backward()
        lhs, rhs = float((out.data * y).sum()), float((x * t.grad).sum())
        assert abs(lhs - rhs) < 1e-12 * np.abs(out.data * y).sum(), (
            interpolation,
            fill_mode,
        )


def test_affine_transform_gradient_accumulates_repeated_reads():
    img = Tensor(np.arange(3.0).reshape(1, 3, 1), requires_grad=True)
    zoom_in = [0.0, 0, 1.0, 0, 1, 0, 0, 0]  # every output pixel reads x = 1
    out = image.affine_transform(img, zoom_in, "nearest")
    out.sum().backward()
    assert img.grad.ravel().tolist() == [0.0, 3.0, 0.0]


def test_affine_transform_degenerate_and_huge_coordinates_give_the_fill():
    img = np.ones((3, 4, 1))
    # k = 1 - x / 2 is 0 at x = 2: that column is "at infinity"
    out = image.affine_transform(img, [1, 0, 0, 0, 1, 0, -0.5, 0], fill_value=-1.0)
    assert np.isfinite(out).all() and (out[:, 2] == -1.0).all()
    out = image.affine_transform(img, [1e300, 0, 0, 0, 1, 0, 0, 0], fill_mode="wrap")
    assert np.isfinite(out).all()
    out = image.affine_transform(img, [np.nan] * 6 + [0, 0], fill_value=-1.0)
    assert (out == -1.0).all()


def test_affine_transform_types_and_errors():
    img = np.arange(12, dtype="uint8").reshape(3, 4, 1)
    out = image.affine_transform(img, [1, 0, 0, 0, 1, 0, 0, 0])
    assert out.dtype == np.float32 and out.ravel().tolist() == list(range(12))
    tensor = image.affine_transform(
        Tensor(img.astype("float64")), [1, 0, 1, 0, 1, 0, 0, 0]
    )
    assert isinstance(tensor, Tensor) and tensor.dtype == np.float64
    with pytest.raises(
        ValueError, match=r"transform must have shape \(8,\) or \(2, 8\)"
    ):
        image.affine_transform(np.zeros((2, 3, 4, 1)), np.zeros((3, 8)))
    with pytest.raises(ValueError, match=r"transform must have shape"):
        image.affine_transform(img, [1, 0, 0])
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        image.affine_transform(img, np.eye(3).ravel()[:8], fill_mode="edge")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        image.affine_transform(img, np.eye(3).ravel()[:8], interpolation="cubic")
    with pytest.raises(ValueError, match="affine_transform: expected images of rank 3"):
        image.affine_transform(np.zeros(5), np.eye(3).ravel()[:8])
