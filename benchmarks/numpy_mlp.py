"""The ceiling: an MLP forward and backward written by hand in NumPy.

No framework, no graph: the matrix products and elementwise steps a numdl
model must perform, and nothing else. numdl's overhead is measured against it.
"""

from __future__ import annotations

import numpy as np


class NumpyMLP:
    """ReLU MLP with a softmax cross-entropy head, gradients by hand.

    >>> rng = np.random.default_rng(0)
    >>> mlp = NumpyMLP([4, 3, 2], rng)
    >>> loss, grads = mlp.loss_and_grads(rng.random((5, 4)), np.array([0, 1, 0, 1, 1]))
    >>> len(grads)
    4
    """

    def __init__(self, sizes: list[int], rng: np.random.Generator, dtype=np.float32):
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)
            self.params += [w, np.zeros(fan_out, dtype=dtype)]

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray):
        acts, z = [x], x
        n_layers = len(self.params) // 2
        for i in range(n_layers):
            z = acts[-1] @ self.params[2 * i] + self.params[2 * i + 1]
            acts.append(np.maximum(z, 0) if i < n_layers - 1 else z)
        logits = acts.pop()
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        n = len(y)
        rows = np.arange(n)
        loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, y]))
        delta = exp / total  # softmax
        delta[rows, y] -= 1
        delta /= n
        grads = [None] * len(self.params)
        for i in reversed(range(n_layers)):
            a = acts[i]
            grads[2 * i] = a.T @ delta
            grads[2 * i + 1] = delta.sum(axis=0)
            if i:
                delta = delta @ self.params[2 * i].T
                delta *= a > 0
        return loss, grads


class SGD:
    """Plain SGD, in place: ``p -= lr * g`` (the gradient buffer is reused).

    >>> p, g = np.ones(2, np.float32), np.full(2, 2.0, np.float32)
    >>> SGD(0.5).update([p], [g]); p
    array([0., 0.], dtype=float32)
    """

    def __init__(self, learning_rate: float = 0.01) -> None:
        self.learning_rate = learning_rate

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for p, g in zip(params, grads):
            g *= p.dtype.type(self.learning_rate)
            p -= g


class Adam:
    """Adam with Keras's formulas, in place over buffers allocated once.

    ``m += (1 - b1)(g - m)``, ``v += (1 - b2)(g^2 - v)``,
    ``p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.

    >>> p, g = np.zeros(2, np.float32), np.array([1.0, -1.0], np.float32)
    >>> Adam(0.1).update([p], [g]); p.round(4)
    array([-0.1,  0.1], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ) -> None:
        self.learning_rate, self.epsilon = learning_rate, epsilon
        self.beta_1, self.beta_2 = beta_1, beta_2
        self.t = 0
        self.slots: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        if not self.slots:
            self.slots = [
                (np.zeros_like(p), np.zeros_like(p), np.empty_like(p)) for p in params
            ]
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        alpha = self.learning_rate * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for p, g, (m, v, tmp) in zip(params, grads, self.slots):
            kind = p.dtype.type
            np.subtract(g, m, out=tmp)
            m += kind(1 - b1) * tmp  # m += (1 - b1)(g - m)
            np.multiply(g, g, out=tmp)
            tmp -= v
            v += kind(1 - b2) * tmp  # v += (1 - b2)(g^2 - v)
            np.sqrt(v, out=tmp)
            tmp += kind(self.epsilon)
            np.divide(m, tmp, out=tmp)
            tmp *= kind(alpha)
            p -= tmp


def train_epoch(
    mlp: NumpyMLP,
    optimizer: SGD | Adam,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    order: np.ndarray,
) -> float:
    """One epoch over ``x[order]`` in batches (gathered per batch, never the
    whole set); returns the mean of the batch losses weighted by batch size.

    >>> rng = np.random.default_rng(0)
    >>> mlp = NumpyMLP([4, 3, 2], rng)
    >>> x, y = rng.random((10, 4), dtype=np.float32), rng.integers(0, 2, 10)
    >>> loss = train_epoch(mlp, SGD(), x, y, 4, rng.permutation(10))
    >>> 0 < loss < 2
    True
    """
    total = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        loss, grads = mlp.loss_and_grads(x[idx], y[idx])
        optimizer.update(mlp.params, grads)
        total += loss * len(idx)
    return total / len(order)
