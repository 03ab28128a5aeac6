"""Double descent (R6, A11): the minimum-norm fit, the random features, `minireg run double-descent`."""
import json

import numpy as np
import pytest

from helpers import shared_mnist
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import run_experiment
from minireg.experiments.double_descent import (DoubleDescentConfig, feature_counts, fit_scores, minimum_norm_fit,
                                                random_fourier_features)


@pytest.mark.parametrize("n_features", [5, 20, 60])   # under-, exactly and over-parameterized for n = 20
def test_the_minimum_norm_fit_is_what_numpy_lstsq_returns(n_features):
    rng = np.random.default_rng(n_features)
    features, targets = rng.normal(size=(20, n_features)), rng.normal(size=(20, 3))
    expected = np.linalg.lstsq(features, targets, rcond=None)[0]
    assert np.allclose(minimum_norm_fit(features, targets), expected, rtol=1e-9, atol=1e-10)


def test_a_rank_deficient_design_gets_lstsq_s_minimum_norm_solution():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(30, 4)) @ rng.normal(size=(4, 12))     # rank 4, 12 columns
    targets = rng.normal(size=30)
    fit = minimum_norm_fit(features, targets)
    assert fit.shape == (12,)
    assert np.allclose(fit, np.linalg.lstsq(features, targets, rcond=None)[0], atol=1e-10)
    assert np.allclose(fit, np.linalg.pinv(features) @ targets, atol=1e-10)


def test_ridge_solves_its_normal_equations_and_tends_to_the_minimum_norm_fit():
    rng = np.random.default_rng(2)
    features, targets = rng.normal(size=(15, 40)), rng.normal(size=(15, 2))
    lam = 0.03
    # (1/n)‖ΦA − Y‖² + λ‖A‖²  ->  (ΦᵀΦ + nλ I) A = ΦᵀY
    closed_form = np.linalg.solve(features.T @ features + 15 * lam * np.eye(40), features.T @ targets)
    assert np.allclose(minimum_norm_fit(features, targets, lam), closed_form, atol=1e-10)
    assert np.allclose(minimum_norm_fit(features, targets, 1e-12), minimum_norm_fit(features, targets), atol=1e-6)


def test_the_minimum_norm_fit_interpolates_past_the_threshold_with_the_least_norm():
    rng = np.random.default_rng(3)
    features, targets = rng.normal(size=(10, 25)), rng.normal(size=(10, 1))
    fit = minimum_norm_fit(features, targets)
    assert np.allclose(features @ fit, targets)
    other = fit + (np.eye(25) - np.linalg.pinv(features) @ features) @ rng.normal(size=(25, 1))  # also interpolates
    assert np.allclose(features @ other, targets) and np.linalg.norm(other) > np.linalg.norm(fit)


def test_minimum_norm_fit_refuses_bad_input():
    with pytest.raises(ValueError, match="ridge must be"):
        minimum_norm_fit(np.ones((3, 2)), np.ones(3), ridge=-1.0)
    with pytest.raises(ValueError, match="same n"):
        minimum_norm_fit(np.ones((3, 2)), np.ones(4))


def test_random_fourier_features_approximate_the_gaussian_kernel():
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(6, 8))
    sigma = 0.7
    phi = random_fourier_features(X, 200_000, sigma, rng=5)(X)
    kernel = np.exp(-((X[:, None] - X[None]) ** 2).sum(axis=2) / (2 * sigma ** 2))
    assert phi.dtype == np.float64 and np.abs(phi @ phi.T - kernel).max() < 0.02


def test_fit_scores_counts_errors_and_squared_distance_to_one_hot():
    A = np.eye(3)
    scores = fit_scores(A, np.array([[1.0, 0, 0], [0, 0.5, 0]]), np.array([0, 2]))
    assert scores == {"error": 0.5, "squared_loss": (0 + 0.25 + 1) / 2}


def test_the_feature_counts_hold_the_threshold_and_points_beside_it():
    counts = feature_counts(200, 3.0, 20)
    assert 200 in counts and 190 in counts and 210 in counts and counts == sorted(set(counts))
    assert counts[0] == 10 and counts[-1] == 600


def test_the_config_refuses_a_ratio_that_never_passes_the_threshold():
    with pytest.raises(ValueError, match="max_ratio"):
        DoubleDescentConfig(max_ratio=1.0)


def _tiny(**changes):
    sizes = {"n_train": 40, "n_test": 300, "points": 12, "max_ratio": 2.5, "repeats": 2}
    return DoubleDescentConfig(data_root=str(shared_mnist()), progress=False, **(sizes | changes))


@pytest.mark.slow
def test_a_small_run_peaks_at_the_threshold_and_ridge_flattens_the_peak(tmp_path):
    folder = run_experiment(EXPERIMENTS["double-descent"], _tiny(), runs_dir=tmp_path)
    results = json.loads((folder / "results.json").read_text())["results"]
    points = {p["n_features"]: p for p in results["points"]}
    assert results["threshold"] == 40 and 40 in points
    at, first, last = points[40], points[min(points)], points[max(points)]
    # past the threshold the min-norm fit interpolates; at it, its norm and test loss are the largest
    assert all(p["min_norm"]["train_error"] == 0 for n, p in points.items() if n >= 40)
    assert at["min_norm"]["norm"] == max(p["min_norm"]["norm"] for p in points.values())
    assert at["min_norm"]["test_squared_loss"] > 3 * max(first["min_norm"]["test_squared_loss"],
                                                        last["min_norm"]["test_squared_loss"])
    assert at["ridge"]["test_squared_loss"] < at["min_norm"]["test_squared_loss"] / 3
    report = (folder / "report.md").read_text()
    for plot in ("test_error.png", "test_squared_loss.png", "norm.png"):
        assert (folder / plot).stat().st_size > 1000 and f"({plot})" in report


@pytest.mark.slow
def test_worker_processes_give_the_same_points_as_one_process(tmp_path):
    from minireg.experiments.double_descent import run
    assert run(_tiny(workers=2, points=10)) == run(_tiny(points=10))
