"""Generated problems: moons, circles and blobs against scikit-learn, and the
common interface of every toy generator."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import datasets as skd

from numdl.datasets import toy

ALL = [toy.two_spirals, toy.moons, toy.circles, toy.xor, toy.blobs, toy.coffee_roasting]


def rows(x: np.ndarray, y: np.ndarray) -> list[tuple]:
    """The (x, y) pairs as a sorted list, to compare data sets up to order."""
    return sorted(zip(map(tuple, x.tolist()), y.tolist()))


@pytest.mark.parametrize("make", ALL)
def test_common_interface(make):
    x, y = make(n_samples=31, noise=0.05, seed=3)
    assert x.shape == (31, 2) and x.dtype == np.float64
    assert y.shape == (31,) and y.dtype == np.int64
    x2, y2 = make(n_samples=31, noise=0.05, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = make(n_samples=31, noise=0.05, seed=4)
    assert not np.array_equal(x, x3)


@pytest.mark.parametrize("n", [1, 2, 7, 100, 101])
def test_moons_and_circles_are_scikit_learns(n):
    x, y = toy.moons(n, shuffle=False)
    sx, sy = skd.make_moons(n, shuffle=False)
    np.testing.assert_array_equal(x, sx)
    np.testing.assert_array_equal(y, sy)
    for factor in (0.0, 0.3, 0.8):
        x, y = toy.circles(n, factor=factor, shuffle=False)
        sx, sy = skd.make_circles(n, factor=factor, shuffle=False)
        np.testing.assert_array_equal(x, sx)
        np.testing.assert_array_equal(y, sy)


def test_defaults_match_scikit_learn_up_to_order():
    for make, reference in (
        (toy.moons, skd.make_moons),
        (toy.circles, skd.make_circles),
    ):
        x, y = make(seed=0)
        sx, sy = reference(random_state=0)
        assert len(y) == 100 and rows(x, y) == rows(sx, sy)
        assert not np.array_equal(y, np.sort(y))  # shuffled


def test_circle_radii_and_moon_arcs():
    x, y = toy.circles(50, factor=0.4, seed=1)
    radius = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-12)
    np.testing.assert_allclose(radius[y == 1], 0.4, rtol=1e-12)
    x, y = toy.moons(50, seed=1)
    upper, lower = x[y == 0], x[y == 1] - [1.0, 0.5]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.hypot(*lower.T), 1.0, rtol=1e-12)
    assert (upper[:, 1] >= -1e-15).all() and (lower[:, 1] <= 1e-15).all()


@pytest.mark.parametrize("make", [toy.moons, toy.circles])
def test_noise_is_gaussian_jitter_of_the_stated_size(make):
    clean, y = make(20000, shuffle=False)
    noisy, y2 = make(20000, noise=0.3, seed=5, shuffle=False)
    jitter = noisy - clean
    assert np.array_equal(y, y2)
    assert abs(jitter.mean()) < 0.01  # standard error 0.3 / sqrt(40000) = 0.0015
    np.testing.assert_allclose(jitter.std(axis=0), 0.3, rtol=0.03)


@pytest.mark.parametrize("n, k", [(100, 3), (7, 3), (2, 5), (10, 1)])
def test_blob_sizes_are_scikit_learns(n, k):
    _, y = toy.blobs(n, centers=k, seed=0)
    _, sy = skd.make_blobs(n, centers=k, random_state=0)
    assert np.bincount(y, minlength=k).tolist() == np.bincount(sy, minlength=k).tolist()


def test_blobs_with_given_centers_and_no_spread_are_scikit_learns():
    centers = [[0.0, 1.0, 2.0], [-3.0, 4.0, 5.5]]
    x, y = toy.blobs(9, centers=centers, cluster_std=0.0, shuffle=False)
    sx, sy = skd.make_blobs(9, centers=centers, cluster_std=0.0, shuffle=False)
    np.testing.assert_array_equal(x, sx)
    np.testing.assert_array_equal(y, sy)


def test_blob_statistics():
    centers = np.array([[-5.0, 0.0], [5.0, 2.0]])
    x, y = toy.blobs(40000, centers=centers, cluster_std=[0.5, 2.0], seed=2)
    for label, std in ((0, 0.5), (1, 2.0)):
        members = x[y == label]
        assert len(members) == 20000
        np.testing.assert_allclose(members.mean(axis=0), centers[label], atol=0.05)
        np.testing.assert_allclose(members.std(axis=0), std, rtol=0.03)
    x, y = toy.blobs(40000, centers=centers, cluster_std=0.6, noise=0.8, seed=2)
    np.testing.assert_allclose(x[y == 0].std(axis=0), 1.0, rtol=0.03)  # hypot(0.6, 0.8)
    x, _ = toy.blobs(500, centers=4, n_features=3, cluster_std=0.0, seed=0)
    assert x.shape == (500, 3) and len(np.unique(x, axis=0)) == 4
    assert (np.abs(x) <= 10).all()  # centers drawn in the default box


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: toy.moons(0), ValueError, "moons: n_samples must be at least 1"),
        (lambda: toy.circles(2.5), TypeError, "circles: n_samples must be an int"),
        (lambda: toy.blobs(True), TypeError, "blobs: n_samples must be an int"),
        (lambda: toy.moons(noise=-0.1), ValueError, "moons: noise must be"),
        (lambda: toy.circles(noise=np.nan), ValueError, "circles: noise must be"),
        (
            lambda: toy.circles(factor=1.0),
            ValueError,
            r"circles: factor must be in \[0, 1\)",
        ),
        (lambda: toy.blobs(centers=0), ValueError, "blobs: centers and n_features"),
        (lambda: toy.blobs(centers=[1.0, 2.0]), ValueError, r"shape \(k, n_features\)"),
        (lambda: toy.blobs(cluster_std=[1.0, 2.0]), ValueError, "one per center"),
        (lambda: toy.blobs(cluster_std=-1.0), ValueError, "blobs: cluster_std"),
    ],
)
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()
