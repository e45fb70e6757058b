"""Bundled digits and toy generators."""

import numpy as np
import pytest

from numdl.datasets import digits, toy


def test_digits_is_the_uci_set():
    images, labels = digits._read()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 16
    # Class counts of the UCI test set, as scikit-learn documents them.
    expected = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert np.bincount(labels).tolist() == expected
    # The first image is a zero; its first row is published in the CSV.
    assert labels[0] == 0
    assert images[0, 0].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]


def test_digits_split_is_a_seeded_partition():
    (x1, y1), (xt1, yt1) = digits.load_data(test_split=0.25, seed=3)
    (x2, y2), (_, _) = digits.load_data(test_split=0.25, seed=3)
    (x3, _), (_, _) = digits.load_data(test_split=0.25, seed=4)
    assert len(x1) + len(xt1) == 1797 and len(xt1) == 449
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    all_images = np.concatenate([x1, xt1]).reshape(1797, -1)
    images = digits._read()[0].reshape(1797, -1)
    assert sorted(map(bytes, all_images)) == sorted(map(bytes, images))


def test_digits_bad_split_and_corruption(monkeypatch):
    with pytest.raises(ValueError, match="test_split"):
        digits.load_data(test_split=1.5)
    monkeypatch.setattr(digits, "SHA256", "0" * 64)
    with pytest.raises(OSError, match="corrupted"):
        digits.load_data()


@pytest.mark.parametrize("make", [toy.two_spirals, toy.xor, toy.coffee_roasting])
def test_toy_generators_are_seeded(make):
    x1, y1 = make(n_samples=50, seed=1)
    x2, y2 = make(n_samples=50, seed=1)
    assert x1.shape == (50, 2) and y1.shape == (50,)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert set(np.unique(y1).tolist()) == {0, 1}


def test_coffee_roasting_follows_the_stated_rule():
    x, y = toy.coffee_roasting(n_samples=2000, seed=0)
    t, d = x[:, 0], x[:, 1]
    assert 150 <= t.min() and t.max() <= 285 and 11.5 <= d.min() and d.max() <= 15.5
    inside = (175 < t) & (t < 260) & (12 < d) & (d < 15)
    below = d <= 21 - 3 * t / 85
    assert np.array_equal(y == 1, inside & below)
    assert 0.1 < y.mean() < 0.4  # both classes well represented
