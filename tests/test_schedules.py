"""Learning-rate schedules: against torch.optim.lr_scheduler, closed forms, and errors."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minireg.optim import (
    ConstantSchedule,
    CosineWarmRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LinearDecay,
    MultiStepDecay,
    StepDecay,
)


def torch_learning_rates(lr, make_scheduler, steps):
    """The learning rate PyTorch uses at steps 0, 1, ..., steps - 1."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


def our_learning_rates(schedule, steps):
    rates = [schedule(t) for t in range(steps)]
    assert all(type(r) is float for r in rates)
    return np.array(rates)


# ----------------------------------------------------------------------------
# Against PyTorch
# ----------------------------------------------------------------------------

@given(lr=st.floats(1e-4, 1.0), step_size=st.integers(1, 10), gamma=st.floats(0.05, 1.0))
@settings(max_examples=30, deadline=None)
def test_step_decay_matches_steplr(lr, step_size, gamma):
    expected = torch_learning_rates(
        lr, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma), 40)
    got = our_learning_rates(StepDecay(lr, step_size, gamma), 40)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)


@given(lr=st.floats(1e-4, 1.0), gamma=st.floats(0.05, 1.0),
       milestones=st.lists(st.integers(1, 40), min_size=1, max_size=5, unique=True))
@settings(max_examples=30, deadline=None)
def test_multi_step_decay_matches_multisteplr(lr, gamma, milestones):
    milestones = sorted(milestones)
    expected = torch_learning_rates(
        lr, lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones, gamma=gamma), 45)
    got = our_learning_rates(MultiStepDecay(lr, milestones, gamma), 45)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)


@given(lr=st.floats(1e-4, 1.0), gamma=st.floats(0.5, 1.0))
@settings(max_examples=30, deadline=None)
def test_exponential_decay_matches_exponentiallr(lr, gamma):
    # PyTorch multiplies by gamma at every step; rounding accumulates slowly.
    expected = torch_learning_rates(
        lr, lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=gamma), 40)
    got = our_learning_rates(ExponentialDecay(lr, gamma), 40)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@given(lr=st.floats(1e-3, 1.0), end_factor=st.floats(0.0, 1.0), total=st.integers(1, 30))
@settings(max_examples=30, deadline=None)
def test_linear_decay_matches_linearlr(lr, end_factor, total):
    lr_end = lr * end_factor
    expected = torch_learning_rates(
        lr, lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=1.0, end_factor=end_factor, total_iters=total), 40)
    got = our_learning_rates(LinearDecay(lr, lr_end, total), 40)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@given(lr=st.floats(1e-3, 1.0), k=st.floats(0.0, 2.0))
@settings(max_examples=20, deadline=None)
def test_inverse_time_decay_matches_lambdalr(lr, k):
    expected = torch_learning_rates(
        lr, lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1.0 / (1.0 + k * t)), 30)
    got = our_learning_rates(InverseTimeDecay(lr, k), 30)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("T_0, T_mult, eta_min", [
    (5, 1, 0.0), (3, 2, 0.0), (4, 2, 0.01), (2, 3, 0.001), (1, 2, 0.0), (10, 1, 0.05),
])
def test_cosine_warm_restarts_matches_pytorch(T_0, T_mult, eta_min):
    lr = 0.1
    expected = torch_learning_rates(
        lr, lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            o, T_0=T_0, T_mult=T_mult, eta_min=eta_min), 60)
    got = our_learning_rates(CosineWarmRestarts(lr, T_0, T_mult, eta_min), 60)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("T_0, T_mult", [(5, 1), (3, 2)])
def test_cosine_warm_restarts_matches_pytorch_at_fractional_epochs(T_0, T_mult):
    # SGDR advances T_cur after every batch: epoch + i / batches_per_epoch.
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.2)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=T_0, T_mult=T_mult, eta_min=0.001)
    schedule = CosineWarmRestarts(0.2, T_0, T_mult, eta_min=0.001)
    for epoch in range(12):
        for batch in range(7):
            t = epoch + batch / 7
            optimizer.step()
            scheduler.step(t)
            assert schedule(t) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-9)


# ----------------------------------------------------------------------------
# Closed forms and properties
# ----------------------------------------------------------------------------

def test_constant_schedule():
    schedule = ConstantSchedule(0.05)
    assert [schedule(t) for t in (0, 1, 7.5, 10**6)] == [0.05] * 4


def test_step_decay_staircase_values():
    # 0.1 for steps 0-2, 0.05 for 3-5, 0.025 for 6-8, ...
    schedule = StepDecay(0.1, step_size=3, gamma=0.5)
    for t in range(12):
        assert schedule(t) == pytest.approx(0.1 / 2 ** (t // 3), rel=1e-15)


def test_multi_step_decay_changes_exactly_at_milestones():
    schedule = MultiStepDecay(1.0, milestones=[3, 7.5], gamma=0.1)
    assert schedule(2.999) == 1.0
    assert schedule(3) == pytest.approx(0.1)
    assert schedule(7.4) == pytest.approx(0.1)
    assert schedule(7.5) == pytest.approx(0.01)
    assert schedule(1000) == pytest.approx(0.01)


@given(lr=st.floats(1e-3, 1.0), gamma=st.floats(0.1, 1.0), decay_steps=st.integers(1, 20),
       k=st.integers(0, 10))
@settings(max_examples=30, deadline=None)
def test_exponential_decay_reaches_gamma_to_the_k_after_k_periods(lr, gamma, decay_steps, k):
    continuous = ExponentialDecay(lr, gamma, decay_steps=decay_steps)
    staircase = ExponentialDecay(lr, gamma, decay_steps=decay_steps, staircase=True)
    t = k * decay_steps
    assert continuous(t) == pytest.approx(lr * gamma ** k, rel=1e-12)
    # Between two decays, the staircase version holds its value and equals StepDecay.
    step_decay = StepDecay(lr, decay_steps, gamma)
    for offset in range(decay_steps):
        assert staircase(t + offset) == pytest.approx(lr * gamma ** k, rel=1e-12)
        assert staircase(t + offset) == pytest.approx(step_decay(t + offset), rel=1e-12)
    # The continuous version falls by the same ratio every step.
    if gamma < 1.0:
        ratios = [continuous(s + 1) / continuous(s) for s in range(5)]
        np.testing.assert_allclose(ratios, gamma ** (1.0 / decay_steps), rtol=1e-12)


def test_inverse_time_decay_halves_at_one_over_k():
    schedule = InverseTimeDecay(0.3, decay_rate=0.25)
    assert schedule(0) == 0.3
    assert schedule(4) == pytest.approx(0.15)
    assert schedule(12) == pytest.approx(0.075)


def test_linear_decay_closed_form():
    schedule = LinearDecay(0.1, 0.001, total_steps=10)
    assert schedule(0) == 0.1
    assert schedule(5) == pytest.approx((0.1 + 0.001) / 2)
    assert schedule(10) == pytest.approx(0.001)
    assert schedule(11) == pytest.approx(0.001)
    assert schedule(10**6) == pytest.approx(0.001)
    differences = np.diff([schedule(t) for t in range(11)])
    np.testing.assert_allclose(differences, -(0.1 - 0.001) / 10, rtol=1e-9)


@pytest.mark.parametrize("T_0, T_mult", [(4, 1), (3, 2), (2, 3)])
def test_cosine_warm_restarts_cycle_structure(T_0, T_mult):
    lr, eta_min = 0.5, 0.02
    schedule = CosineWarmRestarts(lr, T_0, T_mult, eta_min)
    start = 0
    for cycle in range(4):
        length = T_0 * T_mult ** cycle
        assert schedule.cycle_position(start) == (cycle, 0.0, length)
        # A restart: back to the maximum ...
        assert schedule(start) == pytest.approx(lr)
        # ... halfway down at mid-cycle ...
        assert schedule(start + length / 2) == pytest.approx((lr + eta_min) / 2)
        # ... strictly decreasing inside the cycle, towards eta_min at its end.
        inside = [schedule(start + length * f) for f in np.linspace(0, 0.999, 20)]
        assert np.all(np.diff(inside) < 0)
        assert schedule(start + length - 1e-9) == pytest.approx(eta_min, abs=1e-9)
        start += length


def test_cosine_warm_restarts_slides_formula_at_an_arbitrary_point():
    # eta_t = eta_min + 1/2 (eta_max - eta_min)(1 + cos(T_cur / T_i * pi)), slides 002_*.
    # T_0=3, T_mult=2: cycles [0, 3), [3, 9), [9, 21); t = 13.5 is 4.5 into the third.
    schedule = CosineWarmRestarts(0.4, T_0=3, T_mult=2, eta_min=0.1)
    expected = 0.1 + 0.5 * (0.4 - 0.1) * (1 + math.cos(4.5 / 12 * math.pi))
    assert schedule(13.5) == pytest.approx(expected, rel=1e-14)


def test_cosine_warm_restarts_peak_decay_lowers_each_restart():
    schedule = CosineWarmRestarts(1.0, T_0=2, T_mult=2, eta_min=0.0, peak_decay=0.5)
    restarts = [0, 2, 6, 14]
    assert [schedule(t) for t in restarts] == pytest.approx([1.0, 0.5, 0.25, 0.125])


def test_schedules_are_pure_functions_of_the_step():
    schedules = [StepDecay(0.1, 2, 0.5), MultiStepDecay(0.1, [3], 0.1),
                 ExponentialDecay(0.1, 0.9), InverseTimeDecay(0.1, 0.5),
                 LinearDecay(0.1, 0.0, 5), CosineWarmRestarts(0.1, 3, 2)]
    for schedule in schedules:
        forward = [schedule(t) for t in range(15)]
        backward = [schedule(t) for t in reversed(range(15))][::-1]
        assert forward == backward
        assert schedule(np.int64(7)) == schedule(7)
        assert type(schedule(np.int64(7))) is float


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: ConstantSchedule(-0.1), r"lr must be a finite number in \[0.0, inf\]"),
    (lambda: StepDecay(float("nan"), 3, 0.5), r"lr must be"),
    (lambda: StepDecay(0.1, 0, 0.5), r"step_size must be an integer >= 1"),
    (lambda: StepDecay(0.1, 3, 0.0), r"gamma must be a finite number in \(0.0, 1.0\]"),
    (lambda: StepDecay(0.1, 3, 1.5), r"gamma must be a finite number in \(0.0, 1.0\]"),
    (lambda: MultiStepDecay(0.1, [5, 3], 0.1), r"milestones must be strictly increasing"),
    (lambda: MultiStepDecay(0.1, [0, 3], 0.1), r"milestones\[0\] must be"),
    (lambda: ExponentialDecay(0.1, 0.9, decay_steps=0), r"decay_steps must be"),
    (lambda: InverseTimeDecay(0.1, -1.0), r"decay_rate must be"),
    (lambda: LinearDecay(0.1, -0.01, 10), r"lr_end must be"),
    (lambda: LinearDecay(0.1, 0.0, 0), r"total_steps must be an integer >= 1"),
    (lambda: CosineWarmRestarts(0.1, 0), r"T_0 must be an integer >= 1"),
    (lambda: CosineWarmRestarts(0.1, 5, T_mult=0), r"T_mult must be an integer >= 1"),
    (lambda: CosineWarmRestarts(0.1, 5, eta_min=0.2), r"eta_min must be a finite number in \[0.0, 0.1\]"),
    (lambda: CosineWarmRestarts(0.1, 5, peak_decay=0.0), r"peak_decay must be"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make, message", [
    (lambda: StepDecay(0.1, 2.5, 0.5), r"step_size must be an integer"),
    (lambda: CosineWarmRestarts(0.1, 5, T_mult=1.5), r"T_mult must be an integer"),
    (lambda: ExponentialDecay(0.1, 0.9, staircase="yes"), r"staircase must be True or False"),
    (lambda: MultiStepDecay(0.1, 5, 0.1), r"milestones must be a sequence"),
    (lambda: ConstantSchedule("0.1"), r"lr must be"),
])
def test_wrong_types_raise_type_error_naming_the_argument(make, message):
    with pytest.raises(TypeError, match=message):
        make()


@pytest.mark.parametrize("schedule", [
    ConstantSchedule(0.1), StepDecay(0.1, 2, 0.5), MultiStepDecay(0.1, [3], 0.1),
    ExponentialDecay(0.1, 0.9), InverseTimeDecay(0.1, 0.5), LinearDecay(0.1, 0.0, 5),
    CosineWarmRestarts(0.1, 3, 2),
])
def test_bad_step_is_rejected(schedule):
    with pytest.raises(ValueError, match="step must be"):
        schedule(-1)
    with pytest.raises(ValueError, match="step must be"):
        schedule(float("nan"))
    with pytest.raises(TypeError, match="step must be"):
        schedule(True)
