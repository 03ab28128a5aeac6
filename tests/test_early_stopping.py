"""Early stopping against scripted validation sequences: the stop, θ* and i* must be
exactly those of Deep Learning, Algorithm 7.1."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.training import Callback, EarlyStopping, Trainer


def algorithm_7_1(values, n, p):
    """Algorithm 7.1 transcribed line by line, with ValidationSetError replaced by the
    next scripted value. Returns (i*, i at the end, v, whether patience ran out);
    the script running out plays the role of the step budget."""
    i, j, v = 0, 0, math.inf
    i_star = i
    remaining = list(values)
    while j < p:
        if not remaining:
            return i_star, i, v, False
        i = i + n                      # update θ by running the training algorithm for n steps
        v_new = remaining.pop(0)       # v' <- ValidationSetError(θ)
        if v_new < v:
            j = 0
            i_star = i
            v = v_new
        else:
            j = j + 1
    return i_star, i, v, True


class Script:
    """A validation metric that returns the next value of a list, whatever the model."""

    def __init__(self, values):
        self.values = list(values)
        self.calls = 0

    def __call__(self, outputs, targets):
        value = self.values[self.calls]
        self.calls += 1
        return value


class RecordParameters(Callback):
    """θ after every step, to check that θ* is the snapshot taken at step i*."""

    def __init__(self):
        self.snapshots = {}

    def on_fit_start(self, trainer):
        self.snapshots[trainer.step] = trainer.model.state_dict()

    def on_step_end(self, trainer, logs):
        self.snapshots[trainer.step] = trainer.model.state_dict()


def small_problem(seed=0, n_examples=24, batch_size=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_examples, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Linear(3, 2, rng=seed)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1), rng=seed)
    loader = DataLoader(X, y, batch_size=batch_size, shuffle=True, rng=seed)
    return trainer, loader, (X, y)


def run_scripted(values, n, p, restore_best=True, stop=True):
    trainer, loader, val = small_problem()
    script = Script(values)
    trainer.metrics = {"scripted": script}
    recorder = RecordParameters()
    stopper = EarlyStopping(monitor="val_scripted", patience=p, restore_best=restore_best, stop=stop)
    trainer.fit(loader, max_steps=n * len(values), eval_sets={"val": val}, eval_every=n,
                callbacks=[recorder, stopper])
    return trainer, stopper, recorder, script


def assert_state_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=25),
       n=st.integers(1, 4), p=st.integers(1, 5))
def test_stop_theta_star_and_i_star_are_those_of_algorithm_7_1(values, n, p):
    i_star, i_end, v, ran_out = algorithm_7_1(values, n, p)
    trainer, stopper, recorder, script = run_scripted(values, n, p)
    assert stopper.best_step == i_star
    assert stopper.best_value == v
    assert stopper.stopped_early == ran_out
    assert trainer.step == i_end
    assert script.calls == i_end // n          # one validation per n steps, none after the stop
    assert_state_equal(trainer.model.state_dict(), recorder.snapshots[i_star])   # θ* restored


def test_the_books_picture_stop_p_evaluations_after_the_minimum():
    values = [5.0, 4.0, 3.0, 3.5, 4.0, 4.5, 5.0, 2.0]
    trainer, stopper, recorder, _ = run_scripted(values, n=10, p=3)
    assert stopper.best_step == 30 and stopper.best_value == 3.0
    assert stopper.stopped_early and stopper.stop_step == 60 and trainer.step == 60
    # the later, better value 2.0 is never seen: the algorithm has stopped
    assert_state_equal(trainer.model.state_dict(), recorder.snapshots[30])


def test_a_tie_is_not_an_improvement():
    trainer, stopper, _, _ = run_scripted([1.0, 1.0, 1.0, 1.0], n=2, p=2)
    assert stopper.best_step == 2
    assert stopper.stop_step == 6


def test_patience_one_stops_at_the_first_worsening():
    trainer, stopper, _, _ = run_scripted([3.0, 2.0, 2.5, 1.0], n=1, p=1)
    assert (stopper.best_step, stopper.stop_step, trainer.step) == (2, 3, 3)


def test_nan_and_infinity_count_as_worse():
    # v starts at +inf, and inf < inf is false: the first value inf is "worse"
    trainer, stopper, recorder, _ = run_scripted([math.inf, math.nan, 1.0, math.nan, 2.0], n=1, p=3)
    assert stopper.best_step == 3 and stopper.best_value == 1.0
    _, stopper, recorder, _ = run_scripted([math.inf, math.nan], n=1, p=2)
    assert stopper.best_step == 0 and stopper.stopped_early         # θ* = θ_o, i* = 0
    assert_state_equal(stopper.best_state, recorder.snapshots[0])


def test_budget_ends_the_run_before_patience_runs_out():
    trainer, stopper, recorder, _ = run_scripted([3.0, 2.0, 1.0], n=5, p=2)
    assert not stopper.stopped_early and stopper.stop_step is None
    assert trainer.step == 15 and stopper.best_step == 15


def test_stop_false_goes_on_but_keeps_the_algorithms_answer():
    values = [3.0, 2.0, 2.5, 2.6, 0.5, 0.4]
    t1, s1, r1, _ = run_scripted(values, n=2, p=2)
    t2, s2, r2, script = run_scripted(values, n=2, p=2, restore_best=False, stop=False)
    assert (s1.best_step, s1.stop_step, s1.best_value) == (s2.best_step, s2.stop_step, s2.best_value) == (4, 8, 2.0)
    assert t1.step == 8 and t2.step == 12 and script.calls == 6
    assert_state_equal(s2.best_state, r2.snapshots[4])
    assert_state_equal(t2.model.state_dict(), r2.snapshots[12])      # restore_best=False: last θ kept


def test_real_zero_one_error_as_the_criterion():
    trainer, loader, val = small_problem(seed=3, n_examples=40)
    X_val = val[0] + 0.5
    stopper = EarlyStopping(monitor="val_error", patience=3)
    trainer.fit(loader, epochs=30, eval_sets={"val": (X_val, val[1])}, eval_every=3, callbacks=[stopper])
    errors = trainer.history.values("val_error")
    steps = trainer.history.steps("val_error")
    i_star, i_end, v, ran_out = algorithm_7_1(errors, 3, 3)
    assert (stopper.best_step, trainer.step, stopper.best_value) == (i_star, i_end, v)
    assert steps == list(range(3, trainer.step + 1, 3))
    # θ* really has the recorded validation error
    assert trainer.evaluate(X_val, val[1])["error"] == v


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(TypeError, match="monitor"):
        EarlyStopping(monitor=3)
    trainer, loader, val = small_problem()
    with pytest.raises(ValueError, match="eval_sets"):
        trainer.fit(loader, epochs=1, callbacks=[EarlyStopping()])
    with pytest.raises(KeyError, match="val_accuracy"):
        trainer.fit(loader, epochs=1, eval_sets={"val": val}, eval_every=1,
                    callbacks=[EarlyStopping(monitor="val_accuracy")])
