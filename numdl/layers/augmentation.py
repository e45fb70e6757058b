"""Image augmentation and resizing layers (Keras 3's image preprocessing layers).

``RandomFlip``, ``RandomTranslation``, ``RandomRotation``, ``RandomZoom`` and
``RandomContrast`` change their inputs only while training (``training``
truthy, as inside ``fit``) and are the identity otherwise; ``Resizing`` and
``CenterCrop`` are deterministic and always active. Inputs are one image
(3-D) or a batch (4-D), ``"channels_last"`` or ``"channels_first"``
(``data_format=None``: ``numdl.config.image_data_format()``); outputs are
floats of the layer's dtype (integer images are converted, as in Keras).

Every random layer draws one transformation per image, all at once, and
resamples the whole batch in one vectorised pass (``numdl.ops.image``).
``seed=None`` draws from ``numdl.config.rng()``; an int seed gives the layer
its own generator. The outputs keep gradients to the inputs.

Keras 3's conventions: transforms map output pixels to input pixels; a
rotation ``factor`` is a fraction of a full turn (positive: counter-clockwise);
a zoom factor is ``zoom - 1`` (positive: zoom out, negative: zoom in);
translation factors are fractions of the height / width (positive: down /
right); ``fill_mode`` is ``"reflect"`` (``d c b a | a b c d | d c b a``),
``"wrap"``, ``"constant"`` (``fill_value``) or ``"nearest"``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from numdl import config, ops
from numdl.backend import array_module
from numdl.layers.base import InputSpec, Layer, positive_int
from numdl.layers.core import _generator, _seed
from numdl.ops import image

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("bilinear", "nearest")


# ------------------------------------------------------------------ helpers
def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _factor_range(layer: Layer, name: str, factor: Any) -> tuple[float, float]:
    """Keras's factor: a number ``f`` means ``(-|f|, |f|)``, a pair is sorted;
    every value must lie in ``[-1, 1]``."""
    if _is_number(factor):
        values = [-abs(float(factor)), abs(float(factor))]
    elif isinstance(factor, (tuple, list)) and len(factor) == 2:
        values = sorted(float(f) for f in factor if _is_number(f))
    else:
        values = []
    if len(values) != 2 or not all(-1.0 <= v <= 1.0 for v in values):
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: {name} must be a number or a "
            f"pair of numbers in [-1, 1], got {factor!r}"
        )
    return values[0], values[1]


def _check_choice(layer: Layer, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: {name} must be one of "
            f"{choices}, got {value!r}"
        )
    return value


def _check_number(layer: Layer, name: str, value: Any) -> float:
    if not _is_number(value):
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: {name} must be a number, got "
            f"{value!r}"
        )
    return value


class _ImageLayer(Layer):
    """Shared by the image layers: the layout, the 3-D/4-D input check, floats."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = config.standardize_data_format(data_format)
        self.input_spec = InputSpec(min_ndim=3, max_ndim=4)
        self.built = True

    def _float(self, inputs: Any) -> Any:
        return inputs if inputs.dtype == self.dtype else ops.cast(inputs, self.dtype)

    def _axes(self, ndim: int) -> tuple[int, int]:
        """The height and width axes for inputs with ``ndim`` dimensions."""
        first = ndim - 3 if self.data_format == "channels_last" else ndim - 2
        return first, first + 1

    def _dims(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """``(batch, height, width)``; a single image is a batch of one."""
        h_axis, w_axis = self._axes(len(shape))
        batch = shape[0] if len(shape) == 4 else 1
        return batch, shape[h_axis], shape[w_axis]

    def _batch_shape(self, ndim: int, batch: int) -> tuple[int, ...]:
        """Shape of one value per image, broadcasting against the inputs."""
        return (batch, 1, 1, 1) if ndim == 4 else ()


class _RandomImageLayer(_ImageLayer):
    """Random layers: the identity unless ``training``; ``_augment`` otherwise."""

    def __init__(
        self, seed: int | None = None, data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        self._rng = _seed(self, seed)

    def call(self, inputs: Any, training: Any = None) -> Any:
        inputs = self._float(inputs)
        if not training:
            return inputs
        return self._augment(inputs, _generator(self._rng))

    def _augment(self, inputs: Any, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output has the shape of the input."""
        return input_shape


class _RandomAffineLayer(_RandomImageLayer):
    """Random layers that resample through one affine transform per image."""

    def __init__(
        self,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_mode = _check_choice(self, "fill_mode", fill_mode, _FILL_MODES)
        self.interpolation = _check_choice(
            self, "interpolation", interpolation, _INTERPOLATIONS
        )
        self.fill_value = _check_number(self, "fill_value", fill_value)

    def _augment(self, inputs: Any, rng: np.random.Generator) -> Any:
        batch, height, width = self._dims(tuple(inputs.shape))
        transforms = self._transforms(rng, batch, height, width)
        return image.affine_transform(
            inputs,
            transforms,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            data_format=self.data_format,
        )

    def _transforms(
        self, rng: np.random.Generator, batch: int, height: int, width: int
    ) -> np.ndarray:
        """``(batch, 8)`` transforms mapping output to input coordinates."""
        raise NotImplementedError

    def _affine_config(self) -> dict[str, Any]:
        return {
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "seed": self.seed,
            "fill_value": self.fill_value,
            "data_format": self.data_format,
        }


def _affine(
    a0: Any, a1: Any, a2: Any, b0: Any, b1: Any, b2: Any, batch: int
) -> np.ndarray:
    """Stack per-image coefficients into ``(batch, 8)`` transforms (c0 = c1 = 0)."""
    coefficients = (a0, a1, a2, b0, b1, b2, 0.0, 0.0)
    columns = [
        np.broadcast_to(np.asarray(c, np.float64), (batch,)) for c in coefficients
    ]
    return np.stack(columns, axis=1)


# --------------------------------------------------------------- RandomFlip
class RandomFlip(_RandomImageLayer):
    """Flip images left-right and/or top-bottom at random while training.

    ``mode``: ``"horizontal"`` (left-right), ``"vertical"`` (top-bottom) or
    ``"horizontal_and_vertical"``. Each image is flipped with probability 1/2.
    As in Keras 3, ``"horizontal_and_vertical"`` draws one coin per image for
    both flips: an image is flipped both ways (a half turn) or left alone.

    >>> import numpy as np
    >>> layer = RandomFlip("horizontal", seed=0)
    >>> x = np.arange(6.0).reshape(1, 1, 3, 2)
    >>> layer(x).numpy().tolist() == x.tolist()     # inference: unchanged
    True
    >>> out = layer(np.repeat(x, 8, axis=0), training=True).numpy()
    >>> sorted({tuple(o.ravel().tolist()) for o in out})
    [(0.0, 1.0, 2.0, 3.0, 4.0, 5.0), (4.0, 5.0, 2.0, 3.0, 0.0, 1.0)]
    """

    def __init__(
        self,
        mode: str = "horizontal_and_vertical",
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = _check_choice(
            self, "mode", mode, ("horizontal", "vertical", "horizontal_and_vertical")
        )

    def _augment(self, inputs: Any, rng: np.random.Generator) -> Any:
        ndim = inputs.ndim
        batch = self._dims(tuple(inputs.shape))[0]
        flips = rng.random(batch) < 0.5
        h_axis, w_axis = self._axes(ndim)
        index = [slice(None)] * ndim
        if self.mode != "vertical":
            index[w_axis] = slice(None, None, -1)
        if self.mode != "horizontal":
            index[h_axis] = slice(None, None, -1)
        flipped = ops.getitem(inputs, tuple(index))
        mask = array_module(inputs.data).asarray(
            flips.reshape(self._batch_shape(ndim, batch))
        )
        return ops.where(mask, flipped, inputs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "seed": self.seed,
            "mode": self.mode,
            "data_format": self.data_format,
        }


# --------------------------------------------------------- RandomTranslation
class RandomTranslation(_RandomAffineLayer):
    """Shift images by a random fraction of their size while training.

    ``height_factor`` / ``width_factor``: a number ``f`` (shift by up to
    ``f`` times the height / width either way) or a pair ``(low, high)``, all
    in ``[-1, 1]``; positive shifts move the image down / right. The shift
    ``dy = u * height`` (``u`` uniform in the range) need not be whole pixels.

    >>> import numpy as np
    >>> layer = RandomTranslation((0.5, 0.5), (0.0, 0.0), fill_mode="constant")
    >>> x = np.arange(4.0).reshape(4, 1, 1)                # a column 0 1 2 3
    >>> layer(x, training=True).numpy().ravel().tolist()  # down by 2 rows
    [0.0, 0.0, 0.0, 1.0]
    """

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            fill_mode, interpolation, seed, fill_value, data_format, **kwargs
        )
        self.height_factor = height_factor
        self.width_factor = width_factor
        self._height_range = _factor_range(self, "height_factor", height_factor)
        self._width_range = _factor_range(self, "width_factor", width_factor)

    def _transforms(
        self, rng: np.random.Generator, batch: int, height: int, width: int
    ) -> np.ndarray:
        dy = rng.uniform(*self._height_range, size=batch) * height
        dx = rng.uniform(*self._width_range, size=batch) * width
        return _affine(1.0, 0.0, -dx, 0.0, 1.0, -dy, batch)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
            **self._affine_config(),
        }


# ----------------------------------------------------------- RandomRotation
class RandomRotation(_RandomAffineLayer):
    """Rotate images about their centre by a random angle while training.

    ``factor``: a fraction of a full turn (``2 pi``), a number ``f`` (angles
    in ``[-f, f]`` turns) or a pair ``(low, high)``, in ``[-1, 1]``; positive
    angles rotate counter-clockwise. ``factor=(0.25, 0.25)`` is a quarter turn,
    ``np.rot90``.

    >>> import numpy as np
    >>> x = np.arange(4.0).reshape(2, 2, 1)
    >>> out = RandomRotation((0.25, 0.25), interpolation="nearest")(x, training=True)
    >>> out.numpy()[..., 0].tolist(), np.rot90(x[..., 0]).tolist()
    ([[1.0, 3.0], [0.0, 2.0]], [[1.0, 3.0], [0.0, 2.0]])
    """

    def __init__(
        self,
        factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            fill_mode, interpolation, seed, fill_value, data_format, **kwargs
        )
        self.factor = _factor_range(self, "factor", factor)

    def _transforms(
        self, rng: np.random.Generator, batch: int, height: int, width: int
    ) -> np.ndarray:
        angle = rng.uniform(*self.factor, size=batch) * (2.0 * math.pi)
        cos, sin = np.cos(angle), np.sin(angle)
        # Rotate about the centre ((width - 1) / 2, (height - 1) / 2).
        x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2.0
        y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2.0
        return _affine(cos, -sin, x_offset, sin, cos, y_offset, batch)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, **self._affine_config()}


# --------------------------------------------------------------- RandomZoom
class RandomZoom(_RandomAffineLayer):
    """Zoom images in or out about their centre at random while training.

    ``height_factor`` / ``width_factor``: a number ``f`` or a pair ``(low,
    high)`` in ``[-1, 1]``; the zoom is ``1 + u`` with ``u`` uniform in the
    range, and output pixel ``x`` reads input ``centre + zoom * (x -
    centre)``: a positive factor zooms out (shows more), a negative one zooms
    in. ``width_factor=None`` uses the height's zoom for both axes (the
    aspect ratio is kept).

    >>> import numpy as np
    >>> x = np.arange(5.0).reshape(1, 5, 1)
    >>> layer = RandomZoom(0.0, (-0.5, -0.5), interpolation="nearest")
    >>> layer(x, training=True).numpy().ravel().tolist()   # zoom in 2x
    [1.0, 2.0, 2.0, 3.0, 3.0]
    """

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any = None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            fill_mode, interpolation, seed, fill_value, data_format, **kwargs
        )
        self.height_factor = height_factor
        self.width_factor = width_factor
        self._height_range = _factor_range(self, "height_factor", height_factor)
        self._width_range = None
        if width_factor is not None:
            self._width_range = _factor_range(self, "width_factor", width_factor)

    def _transforms(
        self, rng: np.random.Generator, batch: int, height: int, width: int
    ) -> np.ndarray:
        zoom_y = 1.0 + rng.uniform(*self._height_range, size=batch)
        zoom_x = zoom_y
        if self._width_range is not None:
            zoom_x = 1.0 + rng.uniform(*self._width_range, size=batch)
        x_offset = (width - 1) / 2.0 * (1.0 - zoom_x)
        y_offset = (height - 1) / 2.0 * (1.0 - zoom_y)
        return _affine(zoom_x, 0.0, x_offset, 0.0, zoom_y, y_offset, batch)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
            **self._affine_config(),
        }


# ----------------------------------------------------------- RandomContrast
class RandomContrast(_RandomImageLayer):
    """Scale each image's contrast by a random factor while training.

    Per image and channel: ``(x - mean) * c + mean`` with ``mean`` over the
    pixels of that channel and one ``c`` per image, uniform in ``[1 - lower,
    1 + upper]``, then clipped to ``value_range``. ``factor``: a number ``f``
    (``lower = upper = f``) or a pair ``(lower, upper)``, in ``[0, 1]``.

    >>> import numpy as np
    >>> layer = RandomContrast(0.5, value_range=(0, 1), seed=0)
    >>> out = layer(np.array([[[0.25]], [[0.75]]]), training=True).numpy()
    >>> float(out.sum())                          # the mean stays 0.5
    1.0
    """

    def __init__(
        self,
        factor: Any,
        value_range: Any = (0, 255),
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._check_factor(factor)
        self.value_range = self._check_range(value_range)

    def _check_factor(self, factor: Any) -> tuple[float, float]:
        pair = (factor, factor) if _is_number(factor) else factor
        ok = isinstance(pair, (tuple, list)) and len(pair) == 2
        if not ok or not all(_is_number(f) and 0 <= f <= 1 for f in pair):
            raise ValueError(
                f"RandomContrast {self.name!r}: factor must be a number or a pair "
                f"(lower, upper) of numbers in [0, 1], got {factor!r}"
            )
        return float(pair[0]), float(pair[1])

    def _check_range(self, value_range: Any) -> Any:
        ok = isinstance(value_range, (tuple, list)) and len(value_range) == 2
        ok = ok and all(_is_number(v) for v in value_range)
        if not ok or value_range[0] > value_range[1]:
            raise ValueError(
                f"RandomContrast {self.name!r}: value_range must be a pair (low, "
                f"high) with low <= high, got {value_range!r}"
            )
        return value_range

    def _augment(self, inputs: Any, rng: np.random.Generator) -> Any:
        batch = self._dims(tuple(inputs.shape))[0]
        lower, upper = self.factor
        factor = rng.uniform(1.0 - lower, 1.0 + upper, size=batch)
        xp = array_module(inputs.data)
        factor = xp.asarray(factor.reshape(self._batch_shape(inputs.ndim, batch)))
        mean = ops.mean(inputs, axis=self._axes(inputs.ndim), keepdims=True)
        outputs = (inputs - mean) * factor.astype(self.dtype) + mean
        low, high = self.value_range
        return ops.clip(outputs, low, high)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "factor": self.factor,
            "value_range": self.value_range,
            "seed": self.seed,
            "data_format": self.data_format,
        }


# ----------------------------------------------------------------- Resizing
class Resizing(_ImageLayer):
    """Resize images to ``(height, width)`` (always active).

    ``interpolation``: ``"bilinear"`` (half-pixel centres, no antialiasing,
    as Keras; equal to ``torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False)``) or ``"nearest"`` (``floor((i + 0.5) * in /
    out)``). ``crop_to_aspect_ratio=True`` crops the largest centred window
    with the target's aspect ratio first; ``pad_to_aspect_ratio=True`` pads
    the short side evenly with ``fill_value`` instead. Differentiable.
    Unlike Keras, integer images give floats (Keras rounds back to integers).

    >>> import numpy as np
    >>> Resizing(4, 6)(np.zeros((2, 8, 8, 3))).shape
    (2, 4, 6, 3)
    """

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.height = positive_int(self, "height", height)
        self.width = positive_int(self, "width", width)
        self.interpolation = _check_choice(
            self, "interpolation", interpolation, _INTERPOLATIONS
        )
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                f"Resizing {self.name!r}: only one of crop_to_aspect_ratio and "
                f"pad_to_aspect_ratio can be True"
            )
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.fill_mode = _check_choice(self, "fill_mode", fill_mode, ("constant",))
        self.fill_value = _check_number(self, "fill_value", fill_value)

    def call(self, inputs: Any) -> Any:
        return image.resize(
            self._float(inputs),
            (self.height, self.width),
            interpolation=self.interpolation,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            fill_value=self.fill_value,
            data_format=self.data_format,
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The input shape with the target height and width."""
        return _with_size(self, input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "data_format": self.data_format,
        }


def _with_size(layer: Any, input_shape: Any) -> tuple[Any, ...]:
    shape = list(input_shape)
    h_axis, w_axis = layer._axes(len(shape))
    shape[h_axis], shape[w_axis] = layer.height, layer.width
    return tuple(shape)


# --------------------------------------------------------------- CenterCrop
class CenterCrop(_ImageLayer):
    """Crop the central ``(height, width)`` window of images (always active).

    The window starts at ``int((size - target) / 2)`` on each axis. An image
    smaller than the target on either axis is instead cropped to the target's
    aspect ratio and resized bilinearly (Keras's ``smart_resize``).

    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(4, 4, 1)
    >>> CenterCrop(2, 2)(x).numpy()[..., 0].tolist()
    [[5.0, 6.0], [9.0, 10.0]]
    """

    def __init__(
        self, height: int, width: int, data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.height = positive_int(self, "height", height)
        self.width = positive_int(self, "width", width)

    def call(self, inputs: Any) -> Any:
        inputs = self._float(inputs)
        ndim = inputs.ndim
        h_axis, w_axis = self._axes(ndim)
        in_h, in_w = inputs.shape[h_axis], inputs.shape[w_axis]
        if in_h < self.height or in_w < self.width:
            return image.resize(
                inputs,
                (self.height, self.width),
                crop_to_aspect_ratio=True,
                data_format=self.data_format,
            )
        top, left = int((in_h - self.height) / 2), int((in_w - self.width) / 2)
        index = [slice(None)] * ndim
        index[h_axis] = slice(top, top + self.height)
        index[w_axis] = slice(left, left + self.width)
        return ops.getitem(inputs, tuple(index))

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The input shape with the target height and width."""
        return _with_size(self, input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "data_format": self.data_format,
        }
