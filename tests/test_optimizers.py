"""Optimizers: Keras 3 formulas written out in NumPy, torch.optim parity, state.

The reference updates below are transcriptions of Keras 3's ``update_step``
methods (keras/src/optimizers/*.py) and of its base optimizer's clipping and
weight decay, written functionally (no in-place updates) so they share no
code with numdl's in-place implementation.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import numdl
from numdl import optimizers
from numdl.autograd.tensor import Tensor
from numdl.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Lion,
    Nadam,
    Optimizer,
    RMSprop,
)
from numdl.optimizers.schedules import ExponentialDecay

STEPS = 200
RTOL, ATOL = 1e-10, 1e-12

# ------------------------------------------------------------ the problem
# Least squares in (W, b), an ill-conditioned quadratic in c and a
# non-quadratic scalar s (a 0-d parameter): four shapes, coupled gradients.
_rng = np.random.default_rng(20240601)
X = _rng.normal(size=(8, 4))
Y = _rng.normal(size=(8, 3))
C0 = _rng.normal(size=(2, 2))
D = np.array([[1.0, 10.0], [0.1, 3.0]])
P0 = [
    _rng.normal(size=(4, 3)),
    _rng.normal(size=3),
    _rng.normal(size=(2, 2)),
    np.array(-2.0),
]


def gradients(ps):
    """Gradient of 0.5 mean ||X W + b - Y||^2 + 0.5 sum D (c - C0)^2 + f(s).

    f(s) = (s - 1.5)**2 - cos(s).
    """
    w, b, c, s = ps
    r = X @ w + b - Y
    return [
        X.T @ r / 8,
        r.sum(0) / 8,
        D * (c - C0),
        np.asarray(2 * (s - 1.5) + np.sin(s)),
    ]


# ---------------------------------------------------- Keras 3, written out
def ref_sgd(p, g, st, lr, t, momentum=0.0, nesterov=False):
    if momentum == 0:
        return p - g * lr, st
    m = st.get("m", np.zeros_like(p))
    m = m * momentum - g * lr
    if nesterov:
        return p + (m * momentum - g * lr), {"m": m}
    return p + m, {"m": m}


def ref_rmsprop(p, g, st, lr, t, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    v = rho * st.get("v", np.zeros_like(p)) + (1 - rho) * g**2
    new = {"v": v}
    if centered:
        a = rho * st.get("a", np.zeros_like(p)) + (1 - rho) * g
        new["a"] = a
        denominator = v - a**2 + epsilon
    else:
        denominator = v + epsilon
    increment = lr * g / np.sqrt(denominator)
    if momentum > 0:
        mom = momentum * st.get("mom", np.zeros_like(p)) + increment
        new["mom"] = mom
        return p - mom, new
    return p - increment, new


def ref_adagrad(p, g, st, lr, t, initial_accumulator_value=0.1, epsilon=1e-7):
    acc = st.get("acc", np.full_like(p, initial_accumulator_value)) + g**2
    return p - lr * g / np.sqrt(acc + epsilon), {"acc": acc}


def ref_adadelta(p, g, st, lr, t, rho=0.95, epsilon=1e-7):
    def rms(x):
        return np.sqrt(x + epsilon)

    acc_g = rho * st.get("acc_g", np.zeros_like(p)) + (1 - rho) * g**2
    acc_d = st.get("acc_d", np.zeros_like(p))
    delta = -(rms(acc_d) * g) / rms(acc_g)
    acc_d = rho * acc_d + (1 - rho) * delta**2
    return p + lr * delta, {"acc_g": acc_g, "acc_d": acc_d}


def ref_adam(p, g, st, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    m = st.get("m", np.zeros_like(p))
    v = st.get("v", np.zeros_like(p))
    m = m + (g - m) * (1 - beta_1)
    v = v + (g**2 - v) * (1 - beta_2)
    new = {"m": m, "v": v}
    if amsgrad:
        v = new["v_hat"] = np.maximum(st.get("v_hat", np.zeros_like(p)), v)
    return p - m * alpha / (np.sqrt(v) + epsilon), new


def ref_adamax(p, g, st, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = st.get("m", np.zeros_like(p))
    m = m + (g - m) * (1 - beta_1)
    u = np.maximum(beta_2 * st.get("u", np.zeros_like(p)), np.abs(g))
    return p - lr * m / ((1 - beta_1**t) * (u + epsilon)), {"m": m, "u": u}


def ref_nadam(p, g, st, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    def u(k):  # Keras's momentum cache
        return beta_1 * (1 - 0.5 * 0.96**k)

    u_product = math.prod(u(k) for k in range(1, t + 1))  # recomputed, not carried
    u_t, u_t_1 = u(t), u(t + 1)
    m = st.get("m", np.zeros_like(p))
    v = st.get("v", np.zeros_like(p))
    m = m + (g - m) * (1 - beta_1)
    v = v + (g**2 - v) * (1 - beta_2)
    m_hat = u_t_1 * m / (1 - u_product * u_t_1) + (1 - u_t) * g / (1 - u_product)
    v_hat = v / (1 - beta_2**t)
    return p - m_hat * lr / (np.sqrt(v_hat) + epsilon), {"m": m, "v": v}


def ref_lion(p, g, st, lr, t, beta_1=0.9, beta_2=0.99):
    m = st.get("m", np.zeros_like(p))
    p = p - lr * np.sign(m * beta_1 + g * (1.0 - beta_1))
    return p, {"m": m * beta_2 + g * (1.0 - beta_2)}


REFERENCE = {
    SGD: ref_sgd,
    RMSprop: ref_rmsprop,
    Adagrad: ref_adagrad,
    Adadelta: ref_adadelta,
    Adam: ref_adam,
    AdamW: ref_adam,
    Adamax: ref_adamax,
    Nadam: ref_nadam,
    Lion: ref_lion,
}
BASE_ARGS = (
    "learning_rate",
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
)


def ref_clip(gs, clipnorm=None, clipvalue=None, global_clipnorm=None):
    if clipnorm:
        return [g * clipnorm / np.maximum(np.sqrt(np.sum(g**2)), clipnorm) for g in gs]
    if global_clipnorm:
        norm = np.sqrt(sum(np.sum(g**2) for g in gs))
        scale = global_clipnorm * np.minimum(1.0 / norm, 1.0 / global_clipnorm)
        return [g * scale for g in gs]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in gs]
    return gs


def run_reference(cls, kwargs, lr_of_step, steps=STEPS):
    """Trajectory of the Keras formulas: one row of all parameters per step."""
    kwargs = dict(kwargs)
    if cls is AdamW:
        kwargs.setdefault("weight_decay", 0.004)
    base = {k: kwargs.pop(k) for k in BASE_ARGS if k in kwargs}
    ps, states, rows = [p.copy() for p in P0], [{} for _ in P0], []
    for it in range(steps):
        gs = ref_clip(
            gradients(ps),
            base.get("clipnorm"),
            base.get("clipvalue"),
            base.get("global_clipnorm"),
        )
        lr = lr_of_step(it)
        if base.get("weight_decay") is not None:
            ps = [p - p * base["weight_decay"] * lr for p in ps]
        for i, (p, g) in enumerate(zip(ps, gs)):
            ps[i], states[i] = REFERENCE[cls](p, g, states[i], lr, it + 1, **kwargs)
        rows.append(np.concatenate([np.ravel(p) for p in ps]))
    return np.array(rows)


def make_params(dtype="float64"):
    return [Tensor(p.astype(dtype), requires_grad=True) for p in P0]


def run_numdl(opt, steps=STEPS, params=None, use_step=False):
    params = make_params() if params is None else params
    rows = []
    for _ in range(steps):
        gs = gradients([p.data for p in params])
        if use_step:
            for p, g in zip(params, gs):
                p.grad = g
            opt.step(params)
            opt.zero_grad(params)
        else:
            opt.apply_gradients(zip(gs, params))
        rows.append(np.concatenate([np.ravel(p.data) for p in params]))
    return np.array(rows)


# ------------------------------------------------ the Keras-formula cases
LR = {
    SGD: 0.05,
    RMSprop: 0.001,
    Adagrad: 0.1,
    Adadelta: 1.0,
    Adam: 0.005,
    AdamW: 0.005,
    Adamax: 0.005,
    Nadam: 0.005,
    Lion: 0.002,
}
OWN_OPTIONS = {
    SGD: [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}],
    # With rho=0.9 the centered and momentum variants turn chaotic on this
    # problem after ~160 steps (the variance estimate v - a**2 nearly vanishes
    # near the optimum), so rounding-level differences between two correct
    # implementations grow to 1e-3 and no fixed tolerance means anything;
    # rho=0.99 keeps them in the regular regime.
    RMSprop: [
        {},
        {"rho": 0.8, "epsilon": 1e-4},
        {"centered": True, "rho": 0.99},
        {"momentum": 0.5, "rho": 0.99},
        {"centered": True, "momentum": 0.5, "rho": 0.99},
    ],
    Adagrad: [{}, {"initial_accumulator_value": 0.5, "epsilon": 1e-3}],
    Adadelta: [{}, {"rho": 0.9, "epsilon": 1e-4}],
    Adam: [{}, {"amsgrad": True}, {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}],
    AdamW: [{}, {"weight_decay": 0.1, "amsgrad": True}],
    Adamax: [{}, {"beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3}],
    Nadam: [{}, {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4}],
    Lion: [{}, {"beta_1": 0.5, "beta_2": 0.9}],
}


def schedule():
    return ExponentialDecay(1.0, decay_steps=25, decay_rate=0.6)


BASE_OPTIONS = {
    "weight_decay": {"weight_decay": 0.1},
    "clipnorm": {"clipnorm": 0.3},
    "clipvalue": {"clipvalue": 0.05},
    "global_clipnorm": {"global_clipnorm": 0.5},
    "schedule": {"learning_rate": "schedule"},
    "callable_lr": {"learning_rate": "callable"},
}


def lr_setup(cls, kwargs):
    """Resolve the learning rate: (numdl kwargs, the reference's lr(step))."""
    kwargs, lr0 = dict(kwargs), LR[cls]
    if kwargs.get("learning_rate") == "schedule":
        sched = ExponentialDecay(lr0, decay_steps=25, decay_rate=0.6)
        kwargs["learning_rate"] = sched
        return kwargs, lambda step: lr0 * 0.6 ** (step / 25)
    if kwargs.get("learning_rate") == "callable":
        kwargs["learning_rate"] = lambda step: lr0 / (1 + 0.05 * step)
        return kwargs, lambda step: lr0 / (1 + 0.05 * step)
    kwargs["learning_rate"] = lr0
    return kwargs, lambda step: lr0


CASES = [
    pytest.param(cls, opts, id=f"{cls.__name__}-{opts}")
    for cls, options in OWN_OPTIONS.items()
    for opts in options
]
CASES += [
    pytest.param(cls, opts, id=f"{cls.__name__}-{name}")
    for cls in OWN_OPTIONS
    for name, opts in BASE_OPTIONS.items()
]
CASES += [  # a few mixtures of own and base options
    pytest.param(
        SGD,
        {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05, "clipnorm": 0.5},
        id="SGD-mix",
    ),
    pytest.param(
        Adam,
        {"amsgrad": True, "global_clipnorm": 0.4, "learning_rate": "schedule"},
        id="Adam-mix",
    ),
    pytest.param(
        RMSprop,
        {
            "centered": True,
            "momentum": 0.3,
            "rho": 0.99,
            "clipvalue": 0.1,
            "weight_decay": 0.2,
        },
        id="RMSprop-mix",
    ),
    pytest.param(
        Nadam, {"weight_decay": 0.05, "learning_rate": "schedule"}, id="Nadam-mix"
    ),
    pytest.param(Lion, {"weight_decay": 0.5, "clipnorm": 0.2}, id="Lion-mix"),
]


@pytest.mark.parametrize("cls, options", CASES)
def test_trajectory_equals_keras_formula(cls, options):
    kwargs, lr_of_step = lr_setup(cls, options)
    ours = run_numdl(cls(**kwargs))
    reference = run_reference(cls, kwargs, lr_of_step)
    np.testing.assert_allclose(ours, reference, rtol=RTOL, atol=ATOL)
    assert np.all(np.isfinite(ours))
    # the option changes the trajectory, so the comparison above tested it
    if options and not (cls is Lion and "clipnorm" in str(options)):
        # (Lion steps by a sign: rescaling the gradient changes nothing here)
        plain_kwargs, _ = lr_setup(cls, {})
        plain = run_numdl(cls(**plain_kwargs), steps=50)
        assert not np.allclose(ours[:50], plain, rtol=1e-6, atol=0)
    else:  # the default case moves the parameters and lowers the loss
        assert np.abs(ours[-1] - ours[0]).max() > 1e-2


# ------------------------------------------------------ torch.optim parity
def run_torch(make, steps=STEPS):
    """torch.optim's trajectory, in float64 throughout.

    The default dtype is float64 while it runs: torch keeps scalar state such
    as NAdam's mu_product in the default dtype (float32 otherwise).
    """
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        params = [torch.tensor(p, requires_grad=True) for p in P0]
        opt, rows = make(params), []
        for _ in range(steps):
            gs = gradients([p.detach().numpy() for p in params])
            for p, g in zip(params, gs):
                p.grad = torch.from_numpy(g.copy())
            opt.step()
            rows.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
    finally:
        torch.set_default_dtype(default)
    return np.array(rows)


OPT = torch.optim
TORCH_CASES = {
    # SGD: torch's buffer b = mu b + g (dampening 0) with w -= lr b is
    # Keras's v = mu v - lr g with v = -lr b, at a constant learning rate.
    "sgd": (SGD(0.05), lambda ps: OPT.SGD(ps, lr=0.05)),
    "sgd-momentum": (
        SGD(0.05, momentum=0.9),
        lambda ps: OPT.SGD(ps, lr=0.05, momentum=0.9),
    ),
    "sgd-nesterov": (
        SGD(0.05, momentum=0.9, nesterov=True),
        lambda ps: OPT.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    ),
    # RMSprop, Adagrad, Adam, AdamW, Adamax place epsilon differently from
    # Keras (see their docstrings); with epsilon 0 the formulas coincide.
    # (rho 0.99: see OWN_OPTIONS; with epsilon 0, rho 0.9 is chaotic here)
    "rmsprop": (
        RMSprop(0.001, rho=0.99, epsilon=0.0),
        lambda ps: OPT.RMSprop(ps, lr=0.001, alpha=0.99, eps=0.0),
    ),
    "rmsprop-centered-momentum": (
        RMSprop(0.001, rho=0.99, momentum=0.5, epsilon=0.0, centered=True),
        lambda ps: OPT.RMSprop(
            ps, lr=0.001, alpha=0.99, eps=0.0, momentum=0.5, centered=True
        ),
    ),
    "rmsprop-momentum": (
        RMSprop(0.001, rho=0.99, momentum=0.5, epsilon=0.0),
        lambda ps: OPT.RMSprop(ps, lr=0.001, alpha=0.99, eps=0.0, momentum=0.5),
    ),
    "adagrad": (
        Adagrad(0.1, initial_accumulator_value=0.1, epsilon=0.0),
        lambda ps: OPT.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1, eps=0.0),
    ),
    # Adadelta: the same formula, epsilon inside both square roots.
    "adadelta": (
        Adadelta(1.0, rho=0.95, epsilon=1e-6),
        lambda ps: OPT.Adadelta(ps, lr=1.0, rho=0.95, eps=1e-6),
    ),
    "adam": (Adam(0.005, epsilon=0.0), lambda ps: OPT.Adam(ps, lr=0.005, eps=0.0)),
    "adam-amsgrad": (
        Adam(0.005, epsilon=0.0, amsgrad=True),
        lambda ps: OPT.Adam(ps, lr=0.005, eps=0.0, amsgrad=True),
    ),
    # AdamW: torch decays w *= 1 - lr wd before Adam, as Keras's base does.
    "adamw": (
        AdamW(0.005, weight_decay=0.1, epsilon=0.0),
        lambda ps: OPT.AdamW(ps, lr=0.005, weight_decay=0.1, eps=0.0),
    ),
    "adamax": (
        Adamax(0.005, epsilon=0.0),
        lambda ps: OPT.Adamax(ps, lr=0.005, eps=0.0),
    ),
    # NAdam: torch's momentum cache is 0.96 ** (t * momentum_decay); Keras's is
    # 0.96 ** t, i.e. momentum_decay=1. Epsilon is placed alike.
    "nadam": (
        Nadam(0.005, epsilon=1e-7),
        lambda ps: OPT.NAdam(ps, lr=0.005, eps=1e-7, momentum_decay=1.0),
    ),
}


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_trajectory_equals_torch(case):
    ours_opt, make_torch = TORCH_CASES[case]
    ours_opt = type(ours_opt).from_config(ours_opt.get_config())  # fresh state
    np.testing.assert_allclose(
        run_numdl(ours_opt), run_torch(make_torch), rtol=RTOL, atol=ATOL
    )


def test_adam_epsilon_placement_versus_torch():
    """Keras's epsilon e is torch's eps = e / sqrt(1 - beta_2**t).

    At one step the conversion is a constant and the two agree exactly. Over
    a trajectory with the same eps = e in both they differ: per step and
    element, by at most lr * e * (1 / sqrt(1 - beta_2**t)) / sqrt(v_hat), and
    sqrt(v_hat) ~ |g| >= 4e-3 here. Summed over 200 steps,
    sum_t 1 / sqrt(1 - 0.999**t) ~ 890, so the parameters differ by at most
    about 0.005 * 1e-7 * 890 / 4e-3 ~ 1.1e-4.
    """
    e, b2 = 1e-3, 0.999
    one_keras = run_numdl(Adam(0.005, epsilon=e), steps=1)
    one_torch = run_torch(
        lambda ps: OPT.Adam(ps, lr=0.005, eps=e / math.sqrt(1 - b2)), steps=1
    )
    np.testing.assert_allclose(one_keras, one_torch, rtol=1e-13)
    keras = run_numdl(Adam(0.005, epsilon=1e-7))
    torch_same_eps = run_torch(lambda ps: OPT.Adam(ps, lr=0.005, eps=1e-7))
    assert np.abs(keras - torch_same_eps).max() > 1e-9  # they do differ
    bound = 0.005 * 1e-7 * sum(1 / math.sqrt(1 - b2**t) for t in range(1, 201))
    bound /= min(np.abs(g).min() for g in gradients(P0))
    assert bound < 2e-4
    np.testing.assert_allclose(keras, torch_same_eps, rtol=0, atol=bound)


# ------------------------------------------- step / zero_grad / buffers
ALL_CLASSES = list(OWN_OPTIONS)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_step_zero_grad_equal_apply_gradients(cls):
    via_apply = run_numdl(cls(LR[cls]), steps=30)
    params = make_params()
    via_step = run_numdl(cls(LR[cls]), steps=30, params=params, use_step=True)
    np.testing.assert_array_equal(via_apply, via_step)
    assert all(p.grad is None for p in params)  # zero_grad cleared them


def test_step_uses_backward_grads_and_skips_none():
    w = numdl.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    frozen = numdl.tensor([5.0], dtype="float64", requires_grad=True)
    opt = SGD(0.25, momentum=0.5)
    (w * w).sum().backward()  # grad 2 w
    opt.step([w, frozen])
    assert w.data.tolist() == [0.5, -1.0]
    assert frozen.data.tolist() == [5.0] and frozen.grad is None
    assert list(opt.get_state()) == ["iterations", "0/momentum"]  # none for frozen
    opt.zero_grad([w, frozen])
    assert w.grad is None
    opt.step([w, frozen])  # nothing has a gradient: a no-op
    assert opt.iterations == 1


def test_apply_gradients_accepts_tensors_and_skips_none():
    a, b = make_params()[:2]
    opt = Adam(0.1)
    ga = Tensor(np.ones_like(a.data))
    assert opt.apply_gradients([(ga, a), (None, b)]) == 1
    # Adam's first step is lr * g / (|g| + eps / sqrt(1 - beta_2)) ~ lr * sign(g)
    np.testing.assert_allclose(a.data, P0[0] - 0.1, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(b.data, P0[1])
    with pytest.raises(ValueError, match="no gradients"):
        opt.apply_gradients([(None, a)])


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_updates_in_place_into_buffers_allocated_once(cls):
    kwargs = {"momentum": 0.9} if cls in (SGD, RMSprop) else {}
    opt = cls(LR[cls], **kwargs)
    if cls is RMSprop:
        opt = RMSprop(0.01, momentum=0.5, centered=True)
    params = make_params()
    data_ids = [id(p.data) for p in params]
    gs = gradients([p.data for p in params])
    opt.apply_gradients(zip(gs, params))
    buffers = opt.variables
    buffer_ids = [id(b) for b in buffers]
    work_ids = [id(b) for e in opt._entries.values() for b in e.buffers.values()]
    assert len(buffers) == len(params) * len(opt._slot_names()) > 0
    for _ in range(5):
        opt.apply_gradients(zip(gradients([p.data for p in params]), params))
    assert [id(b) for b in opt.variables] == buffer_ids
    assert [id(b) for e in opt._entries.values() for b in e.buffers.values()] == (
        work_ids
    )
    assert [id(p.data) for p in params] == data_ids


@pytest.mark.parametrize("options", [{}, {"clipvalue": 0.01}, {"clipnorm": 0.01}])
@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_gradients_are_never_written(cls, options):
    params = make_params()
    gs = gradients([p.data for p in params])
    kept = [g.copy() for g in gs]
    for g in gs:
        g.flags.writeable = False  # an in-place write would raise
    opt = cls(LR[cls], **options)
    for _ in range(3):
        opt.apply_gradients(zip(gs, params))
    for g, k in zip(gs, kept):
        np.testing.assert_array_equal(g, k)


# ------------------------------------------------------------------ state
STATE_CASES = [
    (SGD, {"momentum": 0.9, "nesterov": True}),
    (RMSprop, {"centered": True, "momentum": 0.5}),
    (Adagrad, {}),
    (Adadelta, {}),
    (Adam, {"amsgrad": True, "learning_rate": "schedule"}),
    (AdamW, {"weight_decay": 0.1}),
    (Adamax, {}),
    (Nadam, {"learning_rate": "schedule"}),
    (Lion, {}),
]


@pytest.mark.parametrize(
    "cls, options", STATE_CASES, ids=[c.__name__ for c, _ in STATE_CASES]
)
def test_state_round_trip_reproduces_trajectory(cls, options, tmp_path):
    kwargs, _ = lr_setup(cls, options)
    params = make_params()
    opt = cls(**kwargs)
    run_numdl(opt, steps=60, params=params)
    saved_params = [p.data.copy() for p in params]
    state = opt.get_state()
    np.savez(tmp_path / "opt.npz", **state)  # no pickle needed
    continued = run_numdl(opt, steps=60, params=params)

    fresh_params = [Tensor(p.copy(), requires_grad=True) for p in saved_params]
    fresh = cls.from_config(opt.get_config())
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as loaded:
        fresh.set_state(dict(loaded), fresh_params)
    assert fresh.iterations == 60
    np.testing.assert_array_equal(
        run_numdl(fresh, steps=60, params=fresh_params), continued
    )


def test_state_names():
    params = make_params()[:2]
    opt = Adam(amsgrad=True)
    opt.apply_gradients(zip(gradients([p.data for p in make_params()])[:2], params))
    assert list(opt.get_state()) == [
        "iterations",
        "0/momentum",
        "0/velocity",
        "0/velocity_hat",
        "1/momentum",
        "1/velocity",
        "1/velocity_hat",
    ]
    nadam = Nadam()
    nadam.build(params)
    assert list(nadam.get_state())[:2] == ["iterations", "u_product"]
    rms = RMSprop(centered=True, momentum=0.1)
    rms.build(params[:1])
    assert sorted(rms.get_state()) == [
        "0/average_gradient",
        "0/momentum",
        "0/velocity",
        "iterations",
    ]
    assert list(SGD().get_state()) == ["iterations"]
    ada = Adagrad(initial_accumulator_value=0.25)
    ada.build(params[:1])
    assert np.all(ada.get_state()["0/accumulator"] == 0.25)


def test_get_state_copies_and_set_state_keeps_buffers():
    params = make_params()
    opt = SGD(0.1, momentum=0.9)
    opt.apply_gradients(zip(gradients([p.data for p in params]), params))
    state = opt.get_state()
    state["0/momentum"][...] = 123.0
    assert not np.any(opt.variables[0] == 123.0)  # a copy
    buffer = opt.variables[0]
    opt.set_state(state)
    assert opt.variables[0] is buffer and np.all(buffer == 123.0)


def test_set_state_errors():
    params = make_params()
    opt = Adam()
    with pytest.raises(ValueError, match="missing"):
        opt.set_state({"iterations": 0, "0/momentum": np.zeros((4, 3))})
    opt.build(params)
    state = opt.get_state()
    state["1/velocity"] = np.zeros(4)
    with pytest.raises(ValueError, match=r"'1/velocity' has shape \(4,\)"):
        opt.set_state(state)
    state = opt.get_state()
    state["7/momentum"] = np.zeros(1)
    with pytest.raises(ValueError, match="unexpected"):
        opt.set_state(state)


# ----------------------------------------------------------------- config
CONFIG_CASES = [
    SGD(0.2, momentum=0.5, nesterov=True, clipnorm=1.0, name="s"),
    RMSprop(0.01, rho=0.8, momentum=0.1, epsilon=1e-5, centered=True, clipvalue=2.0),
    Adagrad(0.3, initial_accumulator_value=0.2, epsilon=1e-6),
    Adadelta(1.0, rho=0.9, epsilon=1e-6, weight_decay=0.01),
    Adam(ExponentialDecay(0.1, 10, 0.9), beta_1=0.8, amsgrad=True, global_clipnorm=3.0),
    AdamW(0.003, weight_decay=0.02, beta_2=0.99),
    Adamax(0.004, beta_1=0.7, epsilon=1e-4),
    Nadam(0.005, beta_2=0.95),
    Lion(0.0003, beta_1=0.8, beta_2=0.95, weight_decay=0.1),
]


@pytest.mark.parametrize("opt", CONFIG_CASES, ids=lambda o: type(o).__name__)
def test_config_round_trip(opt):
    config = opt.get_config()
    text = json.dumps(optimizers.serialize(opt))  # JSON-able, schedule included
    clone = optimizers.deserialize(json.loads(text))
    assert type(clone) is type(opt)
    assert clone.get_config() == config
    assert type(opt).from_config(config).get_config() == config
    np.testing.assert_array_equal(
        run_numdl(clone, steps=20), run_numdl(type(opt).from_config(config), steps=20)
    )


def test_config_keys_follow_keras():
    config = Adam().get_config()
    for key in ("name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm"):
        assert key in config
    assert (config["beta_1"], config["beta_2"], config["epsilon"]) == (0.9, 0.999, 1e-7)
    assert config["amsgrad"] is False and config["name"] == "adam"
    assert Adam(ExponentialDecay(0.1, 10, 0.9)).get_config()["learning_rate"] == {
        "class_name": "ExponentialDecay",
        "config": {
            "initial_learning_rate": 0.1,
            "decay_steps": 10,
            "decay_rate": 0.9,
            "staircase": False,
            "name": "ExponentialDecay",
        },
    }


def test_keras_defaults():
    assert SGD().learning_rate == 0.01 and SGD().momentum == 0.0
    rms = RMSprop()
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon) == (
        0.001,
        0.9,
        0.0,
        1e-7,
    )
    assert Adagrad().initial_accumulator_value == 0.1
    assert (Adadelta().learning_rate, Adadelta().rho) == (0.001, 0.95)
    assert AdamW().weight_decay == 0.004 and Adam().weight_decay is None
    assert (Lion().beta_1, Lion().beta_2) == (0.9, 0.99)


# ------------------------------------------------------------------ dtype
@pytest.mark.parametrize("grad_dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_float32_stays_float32(cls, grad_dtype):
    kwargs = {"momentum": 0.9} if cls is SGD else {}
    opt = cls(LR[cls], weight_decay=0.01, clipnorm=1.0, **kwargs)
    params = make_params("float32")
    for _ in range(20):
        gs = [g.astype(grad_dtype) for g in gradients([p.data for p in params])]
        opt.apply_gradients(zip(gs, params))
    assert all(p.data.dtype == np.float32 for p in params)
    assert all(b.dtype == np.float32 for b in opt.variables)
    assert all(v.dtype == np.float32 for k, v in opt.get_state().items() if "/" in k)
    # and it follows the float64 trajectory to float32 accuracy
    params64 = make_params()
    opt64 = cls(LR[cls], weight_decay=0.01, clipnorm=1.0, **kwargs)
    for _ in range(20):
        opt64.apply_gradients(zip(gradients([p.data for p in params64]), params64))
    for p32, p64 in zip(params, params64):
        np.testing.assert_allclose(p32.data, p64.data, rtol=2e-3, atol=2e-3)


# ----------------------------------------------------- names and errors
def test_get_by_name_class_instance_and_dict():
    expected = {
        "sgd": SGD,
        "rmsprop": RMSprop,
        "adagrad": Adagrad,
        "adadelta": Adadelta,
        "adam": Adam,
        "adamw": AdamW,
        "adamax": Adamax,
        "nadam": Nadam,
        "lion": Lion,
    }
    for name, cls in expected.items():
        assert type(optimizers.get(name)) is cls
        assert type(optimizers.get(cls.__name__)) is cls  # "Adam", "SGD", ...
        assert type(optimizers.get(cls)) is cls
    assert set(expected) <= set(optimizers.names())
    opt = Adam(0.5)
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None
    got = optimizers.get({"class_name": "SGD", "config": {"momentum": 0.3}})
    assert isinstance(got, SGD) and got.momentum == 0.3
    with pytest.raises(ValueError, match="interpret"):
        optimizers.get(42)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="adadelta, adagrad, adam") as info:
        optimizers.get("adamm")
    assert "lion" in str(info.value) and "'adamm'" in str(info.value)


def test_wrong_gradient_shape_names_optimizer_and_shapes():
    w = Tensor(np.zeros((2, 3)), requires_grad=True)
    opt = Adam(name="my_adam")
    with pytest.raises(ValueError) as info:
        opt.apply_gradients([(np.zeros(3), w)])
    message = str(info.value)
    assert "Adam" in message and "my_adam" in message
    assert "(2, 3)" in message and "(3,)" in message
    assert opt.iterations == 0 and opt.variables == []  # nothing happened


@pytest.mark.parametrize(
    "clips",
    [
        {"clipnorm": 1.0, "clipvalue": 1.0},
        {"clipnorm": 1.0, "global_clipnorm": 1.0},
        {"clipvalue": 1.0, "global_clipnorm": 1.0},
    ],
)
def test_more_than_one_clip_argument_raises(clips):
    with pytest.raises(ValueError, match="only one of `clipnorm`"):
        SGD(**clips)


def test_argument_errors():
    with pytest.raises(ValueError, match="learning_rate"):
        Adam(learning_rate="fast")
    with pytest.raises(ValueError, match="not recognized"):
        Adam(betas=(0.9, 0.99))
    with pytest.raises(ValueError, match="weight_decay"):
        AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.5)
    with pytest.raises(ValueError, match="beta_1"):
        Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        Adagrad(initial_accumulator_value=-1.0)
    with pytest.raises(NotImplementedError, match="use_ema"):
        Adam(use_ema=True)


# ------------------------------------------------ base-class behaviour
def test_learning_rate_forms():
    opt = SGD(0.1)
    opt.learning_rate = 0.5  # a float is settable
    assert opt.learning_rate == 0.5
    calls = []
    opt = SGD(lambda: calls.append(1) or 0.25)  # Keras: no-argument callable
    w = Tensor(np.zeros(1), requires_grad=True)
    opt.apply_gradients([(np.ones(1), w)])
    assert w.data.tolist() == [-0.25] and calls
    opt = SGD(lambda step: 0.1 * (step + 1))  # one argument: the iteration
    opt.apply_gradients([(np.ones(1), w)])
    opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.data, [-0.25 - 0.1 - 0.2], rtol=1e-14)


def test_weight_decay_is_decoupled_and_excludable():
    w = Tensor(np.array([2.0]), requires_grad=True, name="kernel")
    b = Tensor(np.array([2.0]), requires_grad=True, name="bias")
    opt = SGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply_gradients([(np.zeros(1), w), (np.zeros(1), b)])
    assert w.data.tolist() == [2.0 - 2.0 * 0.5 * 0.1] and b.data.tolist() == [2.0]
    opt.exclude_from_weight_decay(var_list=[w])
    opt.apply_gradients([(np.zeros(1), w), (np.zeros(1), b)])
    assert w.data.tolist() == [1.9] and b.data.tolist() == [1.9]


def test_zero_gradient_with_clipnorm_and_global_clipnorm_is_finite():
    for opt in (SGD(0.1, clipnorm=1.0), SGD(0.1, global_clipnorm=1.0)):
        w = Tensor(np.ones(3), requires_grad=True)
        opt.apply_gradients([(np.zeros(3), w)])
        assert w.data.tolist() == [1.0, 1.0, 1.0]


def test_centered_rmsprop_with_a_steady_gradient_stays_finite():
    # v - a**2 = rho**t (1 - rho**t) g**2 -> 0: float32 rounding makes it
    # negative (Keras and torch give NaN there); numdl clamps it at 0
    w = Tensor(np.zeros(64, np.float32), requires_grad=True)
    g = np.linspace(-3, 3, 64).astype(np.float32)
    opt = RMSprop(0.001, centered=True)
    for _ in range(300):
        opt.apply_gradients([(g, w)])
    assert np.all(np.isfinite(w.data)) and np.all(np.sign(w.data) == -np.sign(g))


def test_base_optimizer_has_no_rule():
    with pytest.raises(NotImplementedError):
        Optimizer().apply_gradients([(np.ones(1), Tensor(np.ones(1)))])


SCRATCH_CASES = [
    lambda: optimizers.SGD(0.1),
    lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: optimizers.Adam(0.01),
    lambda: optimizers.Adam(0.01, amsgrad=True),
    lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    lambda: optimizers.RMSprop(0.01),  # works in its own arrays (not allowed)
]


@pytest.mark.parametrize("make", SCRATCH_CASES)
def test_apply_scratch_follows_apply_gradients_exactly(make):
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((200, 100)), rng.standard_normal(100)]
    grads = [[rng.standard_normal(a.shape) for a in start] for _ in range(20)]
    plain = [numdl.tensor(a.copy(), requires_grad=True) for a in start]
    scratch = [numdl.tensor(a.copy(), requires_grad=True) for a in start]
    opt_plain, opt_scratch = make(), make()
    for step in grads:
        opt_plain.apply_gradients([(g.copy(), p) for g, p in zip(step, plain)])
        opt_scratch.apply_scratch([(g.copy(), p) for g, p in zip(step, scratch)])
    for a, b in zip(plain, scratch):
        np.testing.assert_array_equal(b.data, a.data)


def test_apply_scratch_keeps_shared_gradients_intact(cpu):
    """One gradient array for two parameters (or views of one array): the
    update must not work in it, or the second parameter sees a scaled one."""
    n = 1 << 14  # large enough for the update to work in the gradients
    g = np.ones(n, np.float32)
    w1, w2 = (numdl.tensor(np.zeros(n), requires_grad=True) for _ in range(2))
    optimizers.SGD(0.5).apply_scratch([(g, w1), (g, w2)])
    assert (w1.data == -0.5).all() and (w2.data == -0.5).all()
    assert (g == 1.0).all()
    both = np.ones(2 * n, np.float32)
    v1, v2 = (numdl.tensor(np.zeros(n), requires_grad=True) for _ in range(2))
    optimizers.Adam(0.1).apply_scratch([(both[:n], v1), (both[n:], v2)])
    assert (both == 1.0).all()
    np.testing.assert_allclose(v1.data, -0.1, rtol=1e-5)
    fresh = np.ones(n, np.float32)  # not shared: it is used as work memory
    optimizers.SGD(0.5).apply_scratch([(fresh, w1)])
    assert (w1.data == -1.0).all() and not (fresh == 1.0).all()


def test_adam_moments_keep_their_accuracy_in_float32():
    """m and v as Keras writes them, to float32 rounding (relative to the
    gradients' scale, 1e-3), over many steps."""
    rng = np.random.default_rng(0)
    n = 1 << 14
    w = numdl.tensor(np.zeros(n, np.float32), requires_grad=True)
    opt = optimizers.Adam(1e-3)
    m = v = np.zeros(n)
    for _ in range(50):
        g = rng.standard_normal(n).astype(np.float32) * 1e-3
        opt.apply_scratch([(g.copy(), w)])
        m = 0.9 * m + 0.1 * g.astype(np.float64)
        v = 0.999 * v + 0.001 * g.astype(np.float64) ** 2
    state = opt.get_state()
    np.testing.assert_allclose(state["0/momentum"], m, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(state["0/velocity"], v, rtol=1e-5, atol=1e-15)


# ------------------------------------------- small parameters updated together
TOGETHER_CASES = [
    lambda: optimizers.Adam(0.01),
    lambda: optimizers.Adam(0.01, amsgrad=True),
    lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    lambda: optimizers.Adamax(0.01),
    lambda: optimizers.Nadam(0.01),
    lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adadelta(1.0),
    lambda: optimizers.Lion(0.001),
]


def _shapes_and_grads(steps: int, rng: np.random.Generator):
    """Parameters of mixed sizes (some updated together, one too large to
    be) and gradients for each step."""
    shapes = [(3, 4), (4,), (), (1 << 14) + 1, (5, 1)]
    start = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    return start, grads


def _run_both(make, start, grads, between=None):
    """The same steps with the small parameters together and one by one;
    returns both parameter lists and optimizers."""
    runs = []
    for together in (True, False):
        params = [numdl.tensor(a.copy(), requires_grad=True) for a in start]
        opt = make()
        opt._small_together = together
        for i, step in enumerate(grads):
            opt.apply_scratch([(g.copy(), p) for g, p in zip(step, params)])
            if between is not None:
                between(i, opt, params)
        runs.append((params, opt))
    return runs


@pytest.mark.parametrize("make", TOGETHER_CASES)
def test_small_parameters_together_give_the_same_numbers_bit_for_bit(
    make, cpu, float64
):
    start, grads = _shapes_and_grads(25, np.random.default_rng(0))
    (ours, opt), (ref, ref_opt) = _run_both(make, start, grads)
    assert opt._small is not None and len(opt._small.slices) == 4  # really used
    assert ref_opt._small is None
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.data, b.data)
    state, ref_state = opt.get_state(), ref_opt.get_state()
    assert state.keys() == ref_state.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], ref_state[key])


def test_small_parameters_state_is_loaded_into_the_group(cpu, float64):
    """set_state after the group exists writes into its flat arrays: the
    next steps go on from the loaded state, as one by one."""
    start, grads = _shapes_and_grads(12, np.random.default_rng(1))
    saved = {}

    def reload(i, opt, params):
        if i == 5:
            saved["state"] = opt.get_state()
        if i == 8:  # back to the state of step 5 (the weights go on)
            opt.set_state(saved["state"])

    (ours, _), (ref, _) = _run_both(lambda: Adam(0.05), start, grads, reload)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.data, b.data)


def test_small_parameters_regroup_when_the_set_changes(cpu, float64):
    """A parameter without a gradient in one step, another moved (its state
    replaced): the group is rebuilt with the state each had."""
    rng = np.random.default_rng(2)
    start, grads = _shapes_and_grads(10, rng)
    for i in (3, 4):
        grads[i][1] = None  # no gradient for the bias in two steps

    def move(i, opt, params):
        if i == 6:  # what a round trip to a device does: the state is copies
            for e in opt._entries.values():
                e.buffers = {k: v.copy() for k, v in e.buffers.items()}

    def step_with_none(make, together):
        params = [numdl.tensor(a.copy(), requires_grad=True) for a in start]
        opt = make()
        opt._small_together = together
        for i, step in enumerate(grads):
            opt.apply_gradients(
                [(None if g is None else g.copy(), p) for g, p in zip(step, params)]
            )
            move(i, opt, params)
        return params, opt.get_state()

    ours, state = step_with_none(lambda: Nadam(0.01), True)
    ref, ref_state = step_with_none(lambda: Nadam(0.01), False)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.data, b.data)
    for key in ref_state:
        np.testing.assert_array_equal(state[key], ref_state[key])


def test_small_parameters_twice_in_one_step_are_updated_twice(cpu, float64):
    """A parameter listed twice gets two updates, one after the other (as
    one by one), not one update written back twice."""
    grads = [np.full(3, 1.0), np.full(3, 2.0)]
    results = []
    for together in (True, False):
        w = numdl.tensor(np.zeros(3), requires_grad=True)
        opt = Adam(0.1)
        opt._small_together = together
        opt.apply_gradients([(grads[0], w), (grads[1], w)])
        results.append(w.data.copy())
    np.testing.assert_array_equal(results[0], results[1])
    assert (results[0] < -0.2).all()  # two steps of ~0.1 or more each


def test_small_parameters_of_two_float_types_keep_their_types(cpu):
    params = [
        Tensor(np.ones(4, np.float32), requires_grad=True),
        Tensor(np.ones(4, np.float64), requires_grad=True),
        Tensor(np.ones(2, np.float32), requires_grad=True),
    ]
    opt = Adam(0.1)
    opt.apply_gradients([(np.ones_like(p.data), p) for p in params])
    assert [p.data.dtype for p in params] == [np.float32, np.float64, np.float32]
    assert len(opt._small.slices) == 2  # the float32 ones together
    for p in params:
        np.testing.assert_allclose(p.data, 0.9, rtol=1e-6)


def test_a_custom_optimizer_is_not_grouped_unless_it_says_so(cpu):
    """A subclass's rule may not be element-wise (here: a per-parameter
    norm); it keeps the update one parameter at a time."""

    class Normalized(Optimizer):
        def _update(self, xp, w, g, s, lr):
            w -= lr * g / np.linalg.norm(g)

    a, b = (numdl.tensor(np.zeros(2), requires_grad=True) for _ in "ab")
    opt = Normalized(1.0)
    opt.apply_gradients([(np.array([3.0, 4.0]), a), (np.array([0.0, 2.0]), b)])
    np.testing.assert_allclose(a.data, [-0.6, -0.8])
    np.testing.assert_allclose(b.data, [0.0, -1.0])
    assert opt._small is None
