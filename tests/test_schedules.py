"""Learning rate schedules against Keras 3's formulas, written out here."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from numdl import optimizers
from numdl.optimizers import schedules
from numdl.optimizers.schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    PolynomialDecay,
)

STEPS = range(0, 400)


def assert_schedule(schedule, formula, steps=STEPS):
    got = np.array([schedule(s) for s in steps])
    want = np.array([formula(s) for s in steps])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert all(isinstance(schedule(s), float) for s in steps[:3])


# ----------------------------------------------------------------- formulas
@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("decay_steps", [1, 7, 50])
def test_exponential_decay(staircase, decay_steps):
    s = ExponentialDecay(0.1, decay_steps, 0.93, staircase=staircase)

    def formula(step):
        p = step // decay_steps if staircase else step / decay_steps
        return 0.1 * 0.93**p

    assert_schedule(s, formula)
    if staircase and decay_steps == 7:  # constant inside a stair, jumps at 7
        assert s(6) == s(0) == 0.1 and s(7) == pytest.approx(0.093, rel=1e-14)


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("decay_steps", [1.0, 10, 33])
def test_inverse_time_decay(staircase, decay_steps):
    s = InverseTimeDecay(0.5, decay_steps, 0.25, staircase=staircase)

    def formula(step):
        p = math.floor(step / decay_steps) if staircase else step / decay_steps
        return 0.5 / (1 + 0.25 * p)

    assert_schedule(s, formula)


def test_piecewise_constant_decay():
    boundaries, values = [10, 50, 51, 200], [1.0, 0.5, 0.3, 0.2, 0.01]
    s = PiecewiseConstantDecay(boundaries, values)

    def formula(step):  # Keras: values[0] while step <= b[0], ...
        if step <= boundaries[0]:
            return values[0]
        for low, high, v in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
            if low < step <= high:
                return v
        return values[-1]

    assert_schedule(s, formula)
    assert (s(10), s(11), s(50), s(51), s(52), s(200), s(201)) == (
        1.0,
        0.5,
        0.5,
        0.3,
        0.2,
        0.2,
        0.01,
    )


@pytest.mark.parametrize("cycle", [False, True])
@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_polynomial_decay(cycle, power):
    init, end, decay_steps = 0.1, 0.001, 60
    s = PolynomialDecay(init, decay_steps, end, power=power, cycle=cycle)

    def formula(step):
        d = decay_steps
        if cycle:
            d = decay_steps * (1 if step == 0 else math.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        return (init - end) * (1 - step / d) ** power + end

    assert_schedule(s, formula)
    assert s(0) == pytest.approx(init, rel=1e-14)
    assert s(decay_steps) == pytest.approx(end, rel=1e-12)
    if cycle:  # past decay_steps it climbs back, then decays to end again
        assert s(decay_steps + 1) > s(decay_steps)
        assert s(2 * decay_steps) == pytest.approx(end, rel=1e-12)
    else:
        assert s(10 * decay_steps) == pytest.approx(end, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_cosine_decay_without_warmup(alpha):
    init, decay_steps = 0.3, 150
    s = CosineDecay(init, decay_steps, alpha=alpha)

    def formula(step):
        step = min(step, decay_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * step / decay_steps))
        return init * ((1 - alpha) * cosine + alpha)

    assert_schedule(s, formula)
    assert s(decay_steps) == pytest.approx(init * alpha, abs=1e-15)


@pytest.mark.parametrize("initial", [0.0, 0.01])
def test_cosine_decay_with_warmup(initial):
    target, warmup, decay_steps, alpha = 0.1, 40, 200, 0.05
    s = CosineDecay(
        initial, decay_steps, alpha=alpha, warmup_target=target, warmup_steps=warmup
    )

    def formula(step):
        step = min(step, decay_steps + warmup)
        if step < warmup:  # linear from initial to the target
            return (target - initial) * step / warmup + initial
        cosine = 0.5 * (1 + math.cos(math.pi * (step - warmup) / decay_steps))
        return target * ((1 - alpha) * cosine + alpha)

    assert_schedule(s, formula)
    assert s(0) == initial
    assert s(warmup) == pytest.approx(target, rel=1e-14)  # peak at warmup end
    assert s(warmup // 2) == pytest.approx((initial + target) / 2, rel=1e-14)
    assert s(10_000) == pytest.approx(target * alpha, rel=1e-12)


def sgdr_by_walking(step, init, first, t_mul, m_mul, alpha):
    """SGDR by walking the periods one by one, in exact rational arithmetic."""
    t = Fraction(t_mul).limit_denominator(1000)
    period, start, i = Fraction(first), Fraction(0), 0
    while step >= start + period:
        start, period, i = start + period, period * t, i + 1
    frac = float((step - start) / period)
    cosine = 0.5 * m_mul**i * (1 + math.cos(math.pi * frac))
    return init * ((1 - alpha) * cosine + alpha)


@pytest.mark.parametrize(
    "first, t_mul, m_mul, alpha",
    [
        (10, 1.0, 1.0, 0.0),
        (10, 2.0, 1.0, 0.0),
        (7, 2.0, 0.5, 0.1),
        (16, 1.5, 0.8, 0.0),
        (3, 3.0, 0.9, 0.05),
        (100, 1.1, 0.7, 0.1),  # restart steps land on float boundaries
        (20, 1.0, 0.5, 0.2),
    ],
)
def test_cosine_decay_restarts(first, t_mul, m_mul, alpha):
    s = CosineDecayRestarts(0.2, first, t_mul=t_mul, m_mul=m_mul, alpha=alpha)
    assert_schedule(
        s, lambda step: sgdr_by_walking(step, 0.2, first, t_mul, m_mul, alpha)
    )
    # a restart step starts its period at the top: 0.2 * (alpha + (1-alpha) m^i)
    assert s(first) == pytest.approx(0.2 * (alpha + (1 - alpha) * m_mul), rel=1e-12)
    assert s(first - 1) < s(first)  # the step before is near the bottom


def test_cosine_decay_restarts_keras_log_formula_between_restarts():
    """Away from restart steps, Keras's closed form (log / geometric sum) holds."""
    first, t_mul, m_mul, alpha = 10, 2.0, 0.5, 0.0
    s = CosineDecayRestarts(1.0, first, t_mul, m_mul, alpha)
    for step in [1, 5, 9, 11, 20, 29, 31, 50, 69, 71, 140, 149]:
        f = step / first
        i = math.floor(math.log(1 - f * (1 - t_mul)) / math.log(t_mul))
        sum_r = (1 - t_mul**i) / (1 - t_mul)
        f = (f - sum_r) / t_mul**i
        want = (1 - alpha) * 0.5 * m_mul**i * (1 + math.cos(math.pi * f)) + alpha
        assert s(step) == pytest.approx(want, rel=1e-12)


def test_cosine_decay_restarts_shrinking_periods_end_with_an_error():
    s = CosineDecayRestarts(1.0, 10, t_mul=0.5)  # periods 10, 5, 2.5, ... sum 20
    assert s(14) == pytest.approx(sgdr_by_walking(14, 1.0, 10, 0.5, 1.0, 0.0))
    with pytest.raises(ValueError, match="t_mul"):
        s(25)


# ------------------------------------------------------------ config, errors
ALL = [
    ExponentialDecay(0.1, 20, 0.5, staircase=True, name="e"),
    InverseTimeDecay(0.2, 3, 0.1),
    PiecewiseConstantDecay([5, 9], [0.3, 0.2, 0.1]),
    PolynomialDecay(0.1, 30, 0.01, power=2.0, cycle=True),
    CosineDecay(0.0, 50, alpha=0.1, warmup_target=0.2, warmup_steps=5),
    CosineDecayRestarts(0.1, 7, t_mul=1.5, m_mul=0.5, alpha=0.01),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trip(schedule):
    config = schedule.get_config()
    clone = type(schedule).from_config(config)
    assert clone.get_config() == config
    via_json = schedules.deserialize(
        json.loads(json.dumps(schedules.serialize(schedule)))
    )
    assert type(via_json) is type(schedule)
    for step in range(0, 120, 3):
        assert clone(step) == schedule(step) == via_json(step)


def test_deserialize_ignores_keras_extra_keys_and_get_resolves_names():
    config = {
        "module": "keras.optimizers.schedules",
        "class_name": "ExponentialDecay",
        "config": {"initial_learning_rate": 1.0, "decay_steps": 2, "decay_rate": 0.5},
        "registered_name": None,
    }
    assert schedules.deserialize(config)(4) == 0.25
    assert schedules.get("PolynomialDecay") is PolynomialDecay
    assert schedules.get(config)(2) == 0.5
    with pytest.raises(ValueError, match="CosineDecay"):
        schedules.get("NoSuchDecay")


@pytest.mark.parametrize(
    "make",
    [
        lambda: ExponentialDecay(0.1, 0, 0.5),
        lambda: InverseTimeDecay(0.1, -1, 0.5),
        lambda: PolynomialDecay(0.1, 0),
        lambda: CosineDecay(0.1, 0),
        lambda: CosineDecayRestarts(0.1, 0),
        lambda: PiecewiseConstantDecay([1, 2], [0.1, 0.2]),
        lambda: PiecewiseConstantDecay([2, 1], [0.1, 0.2, 0.3]),
    ],
)
def test_bad_arguments_raise(make):
    with pytest.raises(ValueError):
        make()


def test_base_class_must_be_overridden():
    with pytest.raises(NotImplementedError, match="__call__"):
        LearningRateSchedule()(0)


def test_optimizer_evaluates_schedule_at_iterations():
    s = ExponentialDecay(0.1, 3, 0.5)
    opt = optimizers.SGD(learning_rate=s)
    from numdl.autograd.tensor import Tensor

    w = Tensor(np.zeros(2), requires_grad=True)
    for it in range(6):
        assert opt.iterations == it
        assert opt.learning_rate == s(it)
        before = w.data.copy()
        opt.apply_gradients([(np.ones(2), w)])
        np.testing.assert_allclose(before - w.data, s(it), rtol=1e-14)
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        opt.learning_rate = 0.1
