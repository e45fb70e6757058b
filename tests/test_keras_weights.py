"""Keras weights need no converter: ``set_weights`` takes Keras's layouts.

Each test writes Keras's layout out by hand (Dense kernel ``(in, out)``,
Conv kernel ``(*kernel_size, in, out)``, BatchNormalization ``[gamma, beta,
moving_mean, moving_variance]``, ...) with small numbers, and checks the
layer against values worked out by hand or with the NumPy formula.
"""

from __future__ import annotations

import numpy as np
import pytest

import numdl
from numdl import layers


def _paths(layer) -> list[str]:
    return [w.path.split("/")[-1] for w in layer.weights]


def test_dense_kernel_is_in_by_out(float64):
    layer = layers.Dense(2)
    layer.build((None, 3))
    kernel = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # (in=3, out=2)
    layer.set_weights([kernel, np.array([0.5, -1.0])])
    x = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    # By hand: [1 - 5, 2 - 6] + b and [2 + 3, 4 + 4] + b.
    expected = np.array([[-3.5, -5.0], [5.5, 7.0]])
    np.testing.assert_array_equal(layer(x).numpy(), expected)
    assert _paths(layer) == ["kernel", "bias"]


def test_sequential_set_weights_takes_the_flat_keras_list(float64):
    model = numdl.Sequential(
        [layers.Input(shape=(2,)), layers.Dense(2, activation="relu"), layers.Dense(1)]
    )
    model.set_weights(
        [
            np.array([[1.0, -1.0], [2.0, 1.0]]),  # dense kernel (2, 2)
            np.array([0.0, 0.5]),
            np.array([[3.0], [-2.0]]),  # dense_1 kernel (2, 1)
            np.array([1.0]),
        ]
    )
    # x = [1, 1]: hidden = relu([1 + 2, -1 + 1 + 0.5]) = [3, 0.5]; 9 - 1 + 1 = 9.
    assert model.predict(np.array([[1.0, 1.0]]), verbose=0).tolist() == [[9.0]]


def _conv2d_by_hand(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Valid cross-correlation, NHWC inputs, kernel (kh, kw, in, out)."""
    kh, kw, _, out = kernel.shape
    n, h, w, _ = x.shape
    y = np.zeros((n, h - kh + 1, w - kw + 1, out))
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            patch = x[:, i : i + kh, j : j + kw, :]  # (n, kh, kw, in)
            y[:, i, j, :] = np.einsum("nabc,abco->no", patch, kernel) + bias
    return y


def test_conv2d_kernel_is_kh_kw_in_out(float64):
    layer = layers.Conv2D(2, (2, 2))
    layer.build((None, 3, 3, 1))
    kernel = np.zeros((2, 2, 1, 2))
    kernel[:, :, 0, 0] = [[1.0, 0.0], [0.0, -1.0]]  # filter 0: x[i,j] - x[i+1,j+1]
    kernel[:, :, 0, 1] = [[0.0, 2.0], [0.0, 0.0]]  # filter 1: 2 * x[i, j+1]
    bias = np.array([0.0, 1.0])
    layer.set_weights([kernel, bias])
    x = np.arange(9.0).reshape(1, 3, 3, 1)  # [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    y = layer(x).numpy()
    # By hand: filter 0 gives 0 - 4 = -4 everywhere; filter 1 gives 2*x[i, j+1] + 1.
    np.testing.assert_array_equal(y[0, :, :, 0], [[-4.0, -4.0], [-4.0, -4.0]])
    np.testing.assert_array_equal(y[0, :, :, 1], [[3.0, 5.0], [9.0, 11.0]])
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3))
    layer = layers.Conv2D(4, (3, 2))
    layer.build((None, 5, 4, 3))
    kernel = np.random.default_rng(1).standard_normal((3, 2, 3, 4))
    layer.set_weights([kernel, np.arange(4.0)])
    expected = _conv2d_by_hand(x, kernel, np.arange(4.0))
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_conv1d_kernel_is_k_in_out(float64):
    layer = layers.Conv1D(1, 2, use_bias=False)
    layer.build((None, 4, 2))
    kernel = np.array([[[1.0], [0.0]], [[0.0], [10.0]]])  # (k=2, in=2, out=1)
    layer.set_weights([kernel])
    x = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]])
    # y[t] = x[t, 0] + 10 * x[t + 1, 1]
    assert layer(x).numpy()[0, :, 0].tolist() == [41.0, 63.0, 85.0]
    assert _paths(layer) == ["kernel"]


def test_batch_normalization_weights_order(float64):
    layer = layers.BatchNormalization(epsilon=1e-3)
    layer.build((None, 2))
    gamma, beta = np.array([2.0, 1.0]), np.array([0.0, 10.0])
    moving_mean, moving_variance = np.array([1.0, -1.0]), np.array([0.999, 3.999])
    layer.set_weights([gamma, beta, moving_mean, moving_variance])
    x = np.array([[3.0, 3.0], [1.0, -5.0]])
    # sqrt(var + eps) = [1, 2]: y = gamma * (x - mean) / [1, 2] + beta.
    expected = np.array([[4.0, 12.0], [0.0, 8.0]])
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12)
    assert _paths(layer) == ["gamma", "beta", "moving_mean", "moving_variance"]


def test_layer_normalization_gamma_beta(float64):
    layer = layers.LayerNormalization(epsilon=0.0)
    layer.build((None, 4))
    layer.set_weights([np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.0, 1.0, 1.0])])
    x = np.array([[1.0, 3.0, 1.0, 3.0]])  # mean 2, variance 1
    expected = np.array([[-1.0, 2.0, -2.0, 5.0]])
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12)
    assert _paths(layer) == ["gamma", "beta"]


def test_normalization_mean_variance_count(float64):
    layer = layers.Normalization()
    layer.build((None, 2))
    layer.set_weights([np.array([1.0, -2.0]), np.array([4.0, 0.25]), np.array(10)])
    x = np.array([[5.0, -1.0]])
    assert layer(x).numpy().tolist() == [[2.0, 2.0]]  # (5 - 1) / 2, (-1 + 2) / 0.5


def test_a_pytorch_layout_is_refused_with_the_layer_named():
    layer = layers.Dense(2, name="head")
    layer.build((None, 3))
    with pytest.raises(ValueError, match=r"'head'.*expected \(3, 2\), got \(2, 3\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
