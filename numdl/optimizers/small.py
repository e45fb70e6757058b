"""Small parameters updated together, as one flat array.

An optimizer's update is a dozen NumPy calls per parameter whatever the
parameter's size, and for biases and small kernels those calls are the whole
cost: Adam on the 2-3-1 network of the benchmark suite makes 48 calls a step
for its 4 parameters of 13 numbers. The built-in optimizers' rules are
element-wise, so one update over the concatenated gradients, weights and
state computes the same numbers, bit for bit, in ~15 calls (PyTorch's
``foreach`` optimizers batch their small tensors for the same reason).

The weights are copied in and back at each step (the parameters keep their
own arrays); the state of the grouped parameters lives in one flat array per
slot, and each parameter's state buffer is a view of it, so ``get_state``,
``set_state`` and saving see the buffers as before.

>>> import numpy as np, numdl
>>> from numdl.optimizers import Adam
>>> ws = [numdl.Tensor(np.ones(3), requires_grad=True) for _ in range(2)]
>>> opt = Adam(0.1); _ = opt.apply_gradients([(np.ones(3), w) for w in ws])
>>> opt._small.slices, ws[1].data.round(6).tolist()
([slice(0, 3, None), slice(3, 6, None)], [0.9, 0.9, 0.9])
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Parameters of at most this many elements are updated together; larger ones
# cost their memory traffic more than their calls and keep their own update.
SMALL = 1 << 14


class Group:
    """The flat state of a list of small host parameters of one dtype.

    >>> import numpy as np, numdl
    >>> from numdl.optimizers import Adam
    >>> opt, ws = Adam(), [numdl.tensor([1.0, 2.0]), numdl.tensor([3.0])]
    >>> opt.build(ws); group = Group(opt, ws)
    >>> group.flat["momentum"].shape, opt.variables[2].base is group.flat["momentum"]
    ((3,), True)
    """

    __slots__ = ("key", "entries", "dicts", "slices", "flat")

    def __init__(self, optimizer: Any, params: list[Any]) -> None:
        entries = [optimizer._entries[id(p)] for p in params]
        bounds = np.cumsum([0] + [p.data.size for p in params]).tolist()
        self.slices = [slice(a, b) for a, b in zip(bounds, bounds[1:])]
        self.flat: dict[str, Any] = {}
        for slot in optimizer._slot_names():
            flat = np.concatenate([e.buffers[slot].reshape(-1) for e in entries])
            for e, part, p in zip(entries, self.slices, params):
                e.buffers[slot] = flat[part].reshape(p.data.shape)
            self.flat[slot] = flat
        for work in optimizer._work_names:
            self.flat[work] = np.empty(bounds[-1], dtype=params[0].data.dtype)
        self.key = tuple(map(id, params))
        self.entries = entries
        self.dicts = [e.buffers for e in entries]

    def holds(self, key: tuple[int, ...]) -> bool:
        """Whether this group is the state of the parameters ``key`` names
        (not if one's state was replaced since, e.g. moved to a device)."""
        return key == self.key and all(
            e.buffers is d for e, d in zip(self.entries, self.dicts)
        )


def update_together(optimizer: Any, items: list, factors: Any) -> list:
    """Update the small host parameters among ``items`` ((gradient,
    parameter) pairs) in one flat update of ``optimizer``; return the pairs
    left for the per-parameter loop.

    >>> import numpy as np, numdl
    >>> from numdl.optimizers import Adam
    >>> ws = [numdl.tensor([1.0, 2.0]), numdl.tensor([3.0])]
    >>> items = [(np.ones(2, np.float32), ws[0]), (np.ones(1, np.float32), ws[1])]
    >>> opt = Adam(0.5)  # the first step is lr * sign(g)
    >>> update_together(opt, items, opt._factors(0.5)), ws[1].data.round(4).tolist()
    ([], [2.5])
    """
    small, rest = _split(optimizer, items)
    if len(small) < 2:
        return items
    key = tuple(id(p) for _, p in small)
    group = optimizer._small
    if group is None or not group.holds(key):
        group = optimizer._small = Group(optimizer, [p for _, p in small])
    g = np.concatenate([g.reshape(-1) for g, _ in small])
    w = np.concatenate([p.data.reshape(-1) for _, p in small])
    buffers = group.flat
    if optimizer._tmp_may_be_grad:  # ``g`` is this step's own copy
        buffers = {**buffers, "tmp": g}
    optimizer._update(np, w, g, buffers, factors)
    for (_, p), part in zip(small, group.slices):
        p.data[...] = w[part].reshape(p.data.shape)
    return rest


def _split(optimizer: Any, items: list) -> tuple[list, list]:
    """``items`` as (small host parameters of the first one's dtype, the
    rest); no small ones when a parameter appears twice. New parameters get
    their state here, in the order of ``items`` (which numbers them in
    ``get_state``, grouped or not)."""
    small, rest, dtype = [], [], None
    entries = optimizer._entries
    for g, p in items:
        e = entries.get(id(p)) or optimizer._new_entry(p)
        w = p.data
        if (
            type(g) is np.ndarray
            and type(w) is np.ndarray
            and e.kind is np.ndarray
            and g.size <= SMALL
            and g.dtype is w.dtype
            and (dtype is None or w.dtype is dtype)
        ):
            small.append((g, p))
            dtype = w.dtype
        else:
            rest.append((g, p))
    if len({id(p) for _, p in small}) < len(small):
        return [], items
    return small, rest
