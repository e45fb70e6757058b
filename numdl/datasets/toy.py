"""Small generated classification problems for demos and tests.

Each generator takes ``n_samples``, ``noise`` (the standard deviation of
Gaussian jitter added to every coordinate) and ``seed``, and returns
``(x float64 (n, 2), y int64 (n,))``. ``moons``, ``circles`` and ``blobs``
make the same points as scikit-learn's ``make_moons``, ``make_circles`` and
``make_blobs`` (before its random shuffle and noise, which draw from NumPy's
``default_rng`` here).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def two_spirals(
    n_samples: int = 400, noise: float = 0.0, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals in the plane, labels 0 and 1 (half each).

    Each arm turns one and three quarter times around the origin; ``noise`` is
    the standard deviation of Gaussian jitter added to every coordinate.

    >>> x, y = two_spirals(100, seed=0)
    >>> x.shape, y.shape, int(y.sum())
    ((100, 2), (100,), 50)
    """
    if n_samples < 2:
        raise ValueError(f"two_spirals: n_samples must be at least 2, got {n_samples}")
    rng = np.random.default_rng(seed)
    n0 = n_samples // 2
    n1 = n_samples - n0
    points, labels = [], []
    for label, n in ((0, n0), (1, n1)):
        t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3.5 * np.pi  # even density along arm
        sign = 1.0 if label == 0 else -1.0
        arm = sign * np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3.5 * np.pi)
        points.append(arm + rng.normal(0.0, noise, arm.shape))
        labels.append(np.full(n, label))
    return np.concatenate(points), np.concatenate(labels)


def xor(
    n_samples: int = 200, noise: float = 0.1, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Points around the four corners of the unit square; label = x0 XOR x1.

    >>> x, y = xor(8, noise=0.0, seed=0)
    >>> bool(((x[:, 0] > 0.5) ^ (x[:, 1] > 0.5) == y).all())
    True
    """
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, (n_samples, 2))
    x = corners + rng.normal(0.0, noise, corners.shape)
    return x, (corners[:, 0] ^ corners[:, 1]).astype(np.int64)


def coffee_roasting(
    n_samples: int = 200, noise: float = 0.0, seed: int | None = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Roasting temperature (C) and duration (min); label 1 for a good roast.

    The classic two-feature example: temperatures drawn in 150-285, durations
    in 11.5-15.5; a roast is good when 175 < T < 260, 12 < d < 15 and
    ``d <= 21 - 3 T / 85`` (below the diagonal). ``noise`` is the standard
    deviation of Gaussian jitter added to the features after labelling.

    >>> x, y = coffee_roasting(seed=2)
    >>> x.shape, y.shape, sorted(set(y.tolist()))
    ((200, 2), (200,), [0, 1])
    """
    rng = np.random.default_rng(seed)
    u = rng.random((n_samples, 2))
    t = u[:, 0] * (285 - 150) + 150
    d = u[:, 1] * 4 + 11.5
    good = (t > 175) & (t < 260) & (d > 12) & (d < 15) & (d <= -3 / 85 * t + 21)
    x = np.stack([t, d], axis=1) + rng.normal(0.0, noise, (n_samples, 2))
    return x, good.astype(np.int64)


def moons(
    n_samples: int = 100,
    noise: float = 0.0,
    seed: int | None = None,
    *,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's ``make_moons``).

    Label 0, ``n_samples // 2`` points, lies on the upper unit half circle;
    label 1 on the lower one shifted to (1, 0.5). Points are evenly spaced
    along each arc, then shuffled (unless ``shuffle=False``) and jittered.

    >>> x, y = moons(6, shuffle=False)
    >>> x.round(2).tolist()[:3], y.tolist()
    ([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], [0, 0, 0, 1, 1, 1])
    """
    _check_common("moons", n_samples, noise)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    x = np.concatenate(
        [
            np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
            np.stack([1.0 - np.cos(t_in), 1.0 - np.sin(t_in) - 0.5], axis=1),
        ]
    )
    return _finish(x, _two_labels(n_out, n_in), noise, seed, shuffle)


def circles(
    n_samples: int = 100,
    noise: float = 0.0,
    factor: float = 0.8,
    seed: int | None = None,
    *,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """A circle inside another (scikit-learn's ``make_circles``).

    Label 0, ``n_samples // 2`` points, lies on the unit circle; label 1 on
    the circle of radius ``factor`` (0 <= factor < 1). Points are evenly
    spaced by angle from 0 (the last one short of 2 pi), then shuffled and
    jittered.

    >>> x, y = circles(4, factor=0.5, shuffle=False)
    >>> x.round(2).tolist(), y.tolist()
    ([[1.0, 0.0], [-1.0, 0.0], [0.5, 0.0], [-0.5, 0.0]], [0, 0, 1, 1])
    """
    _check_common("circles", n_samples, noise)
    if not 0.0 <= factor < 1.0:
        raise ValueError(f"circles: factor must be in [0, 1), got {factor}")
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0.0, 2.0 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0.0, 2.0 * np.pi, n_in, endpoint=False)
    x = np.concatenate(
        [
            np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
            factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1),
        ]
    )
    return _finish(x, _two_labels(n_out, n_in), noise, seed, shuffle)


def blobs(
    n_samples: int = 100,
    centers: int | npt.ArrayLike = 3,
    n_features: int = 2,
    cluster_std: float | npt.ArrayLike = 1.0,
    seed: int | None = None,
    noise: float = 0.0,
    *,
    center_box: tuple[float, float] = (-10.0, 10.0),
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters, one class each (scikit-learn's ``make_blobs``).

    ``centers`` is a number of centers, drawn uniformly in ``center_box``
    with ``n_features`` coordinates, or their coordinates (k, n_features).
    Cluster ``i`` gets ``n_samples // k`` points, one more for the first
    ``n_samples % k``, drawn from N(center_i, cluster_std_i^2) per coordinate.
    ``noise`` adds further jitter (it adds to ``cluster_std`` in quadrature).

    >>> x, y = blobs(7, centers=[[0.0, 0.0], [5.0, 5.0]], cluster_std=0.0)
    >>> x.shape, np.bincount(y).tolist(), sorted(set(x[:, 0].tolist()))
    ((7, 2), [4, 3], [0.0, 5.0])
    """
    _check_common("blobs", n_samples, noise)
    rng = np.random.default_rng(seed)
    points = _blob_centers(centers, n_features, center_box, rng)
    stds = np.asarray(cluster_std, dtype=np.float64)
    if stds.shape not in ((), (len(points),)) or not np.all(stds >= 0):
        raise ValueError(
            f"blobs: cluster_std must be a number >= 0 or one per center "
            f"({len(points)} here), got {cluster_std}"
        )
    stds = np.broadcast_to(stds, len(points))
    counts = np.full(len(points), n_samples // len(points))
    counts[: n_samples % len(points)] += 1
    y = np.repeat(np.arange(len(points), dtype=np.int64), counts)
    x = points[y] + rng.normal(size=(n_samples, points.shape[1])) * stds[y, None]
    return _finish(x, y, noise, rng, shuffle)


def _blob_centers(
    centers: int | npt.ArrayLike,
    n_features: int,
    box: tuple[float, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Centers as a (k, n_features) float64 array, drawn when ``centers`` is k."""
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        if centers < 1 or n_features < 1:
            raise ValueError(
                "blobs: centers and n_features must be at least 1, got "
                f"centers={centers}, n_features={n_features}"
            )
        return rng.uniform(box[0], box[1], (int(centers), n_features))
    points = np.asarray(centers, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(
            "blobs: centers must be a count or an array of shape (k, n_features), "
            f"got shape {points.shape}"
        )
    return points


def _check_common(name: str, n_samples: int, noise: float) -> None:
    """``n_samples`` a positive integer, ``noise`` a finite number >= 0."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise TypeError(f"{name}: n_samples must be an int, got {n_samples!r}")
    if n_samples < 1:
        raise ValueError(f"{name}: n_samples must be at least 1, got {n_samples}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"{name}: noise must be a finite number >= 0, got {noise}")


def _two_labels(n_zeros: int, n_ones: int) -> np.ndarray:
    return np.concatenate([np.zeros(n_zeros, np.int64), np.ones(n_ones, np.int64)])


def _finish(
    x: np.ndarray,
    y: np.ndarray,
    noise: float,
    seed: int | None | np.random.Generator,
    shuffle: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle the rows of ``(x, y)`` together, then add Gaussian ``noise``."""
    rng = np.random.default_rng(seed)
    if shuffle:
        order = rng.permutation(len(y))
        x, y = x[order], y[order]
    if noise:
        x = x + rng.normal(0.0, noise, x.shape)
    return x, y
