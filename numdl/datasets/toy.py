"""Small generated classification problems for demos and tests."""

from __future__ import annotations

import numpy as np


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
