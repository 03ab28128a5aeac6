"""Bagging and ensembles (Deep Learning 7.10): bootstrap resamples hold 1 - 1/e of the
examples, the chapter's error decomposition v/k + (k-1)c/k, members trained separately."""
import numpy as np
import pytest

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.training import (Trainer, bootstrap_indices, ensemble_errors, error_decomposition,
                              expected_distinct_fraction, fit_ensemble)
from minireg.training.ensembles import train_members
from minireg.tensor import Tensor
from stochastic_helpers import Z


def test_a_bootstrap_resample_holds_one_minus_one_over_e_of_the_examples():
    n, resamples = 1000, 400
    rng = np.random.default_rng(0)
    distinct = [len(np.unique(bootstrap_indices(n, rng))) / n for _ in range(resamples)]
    q1, q2 = (1 - 1 / n) ** n, (1 - 2 / n) ** n
    variance = (n * q1 + n * (n - 1) * q2 - n**2 * q1**2) / n**2      # of one distinct fraction
    se = np.sqrt(variance / resamples)
    assert abs(np.mean(distinct) - expected_distinct_fraction(n)) <= Z * se
    assert expected_distinct_fraction(10**6) == pytest.approx(1 - np.exp(-1), abs=1e-6)


def test_the_decomposition_is_an_identity_and_matches_correlated_gaussian_errors():
    k, v, c, n = 5, 2.0, 0.5, 100000
    covariance = np.full((k, k), c) + (v - c) * np.eye(k)
    errors = np.random.default_rng(1).multivariate_normal(np.zeros(k), covariance, size=n).T   # (k, n)
    targets = np.random.default_rng(2).normal(size=n)
    result = error_decomposition(errors + targets, targets)
    assert result["ensemble"] == pytest.approx(result["predicted"], rel=1e-12)
    # six standard errors at n = 10^5: 0.054 for v (Var e^2 = 2 v^2), 0.04 for c (Var e_i e_j =
    # v^2 + c^2, one pair; the mean over pairs is no worse), 0.022 for the ensemble's error
    assert result["v"] == pytest.approx(v, abs=0.054) and result["c"] == pytest.approx(c, abs=0.04)
    assert result["ensemble"] == pytest.approx(v / k + (k - 1) * c / k, abs=0.022)
    same = error_decomposition(np.stack([errors[0]] * k), np.zeros(n))   # perfectly correlated: no gain
    assert same["ensemble"] == pytest.approx(same["v"]) and same["c"] == pytest.approx(same["v"])


def test_ensemble_errors_are_the_errors_of_the_averaged_first_members():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(4), size=(6, 50))
    y = rng.integers(0, 4, size=50)
    curve = ensemble_errors(p, y)
    for j in range(1, 7):
        assert curve[j - 1] == np.mean(p[:j].mean(axis=0).argmax(axis=1) != y)


def build(i):
    model = nn.Sequential(nn.Linear(4, 16, rng=10 + i), nn.ReLU(), nn.Linear(16, 3, rng=20 + i))
    return Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))


def test_bagging_trains_each_member_on_its_own_resample_and_averages_distributions():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(60, 4)).astype(np.float32), rng.integers(0, 3, size=60)
    ensemble = fit_ensemble(build, X, y, k=3, batch_size=10, bootstrap=True, rng=5, epochs=2)
    replay = np.random.default_rng(5)
    first = bootstrap_indices(60, replay)
    np.testing.assert_array_equal(ensemble.indices[0], first)
    assert not np.array_equal(ensemble.indices[0], ensemble.indices[1])
    alone = build(0)
    alone.fit(DataLoader(X[first], y[first], 10, shuffle=True, rng=int(replay.integers(2**63))), epochs=2)
    for mine, theirs in zip(ensemble.members[0].parameters(), alone.model.parameters()):
        np.testing.assert_array_equal(mine.data, theirs.data)
    members = ensemble.member_probabilities(X)
    assert members.shape == (3, 60, 3)
    np.testing.assert_allclose(ensemble.predict_proba(X), members.mean(axis=0))
    no_bagging = fit_ensemble(build, X, y, k=2, batch_size=10, rng=5, epochs=1)
    np.testing.assert_array_equal(no_bagging.indices[1], np.arange(60))


def build_with_dropout(i):
    model = nn.Sequential(nn.Linear(4, 16, rng=10 + i), nn.ReLU(), nn.Dropout(keep=0.5, rng=30 + i),
                          nn.Linear(16, 3, rng=20 + i))
    return Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1, momentum=0.9))


@pytest.mark.parametrize("where", [{"workers": 2}, {"workers": 2, "scheduler": "local"}],
                         ids=["local processes", "Dask LocalCluster"])
def test_members_trained_on_two_worker_processes_equal_those_trained_here_bit_for_bit(where):
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(80, 4)).astype(np.float32), rng.integers(0, 3, size=80)
    here = fit_ensemble(build_with_dropout, X, y, k=3, batch_size=10, bootstrap=True, rng=7, epochs=3)
    there = fit_ensemble(build_with_dropout, X, y, k=3, batch_size=10, bootstrap=True, rng=7, epochs=3, **where)
    for mine, theirs in zip(here.members, there.members):
        for a, b in zip(mine.parameters(), theirs.parameters()):
            assert a.data.dtype == b.data.dtype == np.float32
            np.testing.assert_array_equal(a.data, b.data)
    for a, b in zip(here.indices, there.indices):
        np.testing.assert_array_equal(a, b)
    # the dropout layers' generators come back in the state training left them in
    here.members[0].train(), there.members[0].train()
    np.testing.assert_array_equal(here.members[0](Tensor(X)).data, there.members[0](Tensor(X)).data)


def test_train_members_returns_results_in_job_order_and_reports_each_one():
    seen = []
    assert train_members(abs, [-3, 2, -1], on_result=lambda i, r: seen.append((i, r))) == [3, 2, 1]
    assert seen == [(0, 3), (1, 2), (2, 1)]


@pytest.mark.parametrize("call, message", [
    (lambda: train_members(abs, [1], workers=0), "workers must be an integer >= 1"),
    (lambda: train_members(abs, [1], threads_per_run=0), "threads_per_run must be an integer >= 1"),
    (lambda: train_members(lambda job: job, [1], workers=2), "must be picklable"),
    (lambda: fit_ensemble(lambda i: build(i), np.ones((4, 4)), np.zeros(4), k=2, batch_size=2, workers=2),
     "must be picklable"),
    (lambda: fit_ensemble(build, np.ones((4, 4)), np.zeros(4), k=0, batch_size=2), "k must be an integer >= 1"),
    (lambda: fit_ensemble("model", np.ones((4, 4)), np.zeros(4), k=2, batch_size=2), "build=...\\) must be callable"),
    (lambda: bootstrap_indices(0, 0), "n must be an integer >= 1"),
])
def test_bad_ensemble_arguments(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
