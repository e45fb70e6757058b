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
