"""Memorization (R5, Zhang et al. 2017): the datasets of each run, and `minireg run memorization`."""
import json

import numpy as np
import pytest

from helpers import shared_mnist
from minireg.datasets.randomization import pixel_permutation
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import run_experiment
from minireg.experiments.memorization import DATASETS, MemorizationConfig, randomized


def _data(seed, shift=0.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(50, 12)).astype(np.float32) + np.float32(shift), rng.integers(0, 10, size=50)


def test_true_labels_are_the_data_itself_and_random_labels_keep_the_inputs_and_the_test_set():
    train, test = _data(0), _data(1)
    assert randomized("true-labels", train, test, 0) == (train, test)
    (X, y), test_out = randomized("random-labels", train, test, 0)
    assert X is train[0] and test_out == test and not np.array_equal(y, train[1])


def test_shuffled_pixels_apply_one_permutation_to_training_and_test_images():
    train, test = _data(0), _data(1)
    (X, y), (X_test, y_test) = randomized("shuffled-pixels", train, test, np.random.default_rng(3))
    p = pixel_permutation(train[0], np.random.default_rng(3))
    assert np.array_equal(X, train[0][:, p]) and np.array_equal(X_test, test[0][:, p])
    assert y is train[1] and y_test is test[1]


def test_random_pixels_permute_each_image_on_its_own():
    train, test = _data(0), _data(1)
    (X, _), (X_test, _) = randomized("random-pixels", train, test, 4)
    for before, after in ((train[0], X), (test[0], X_test)):
        assert np.array_equal(np.sort(before, axis=1), np.sort(after, axis=1)) and not np.array_equal(before, after)


def test_gaussian_test_inputs_take_the_training_set_s_mean_and_variance():
    train, test = _data(0), _data(1, shift=5.0)
    (X, _), (X_test, y_test) = randomized("gaussian", train, test, 5)
    assert X.dtype == X_test.dtype == np.float32 and y_test is test[1]
    assert abs(X_test.mean() - train[0].mean()) < 0.05 and abs(X_test.std() - train[0].std()) < 0.05


def test_an_unknown_dataset_is_refused_by_name():
    with pytest.raises(ValueError, match="dataset must be one of"):
        randomized("noise", _data(0), _data(1), 0)
    with pytest.raises(ValueError, match="dataset"):
        MemorizationConfig(dataset="noise")


@pytest.mark.slow
def test_a_small_run_fits_every_dataset_and_generalizes_only_on_true_labels(tmp_path):
    config = MemorizationConfig(data_root=str(shared_mnist()), n_train=100, n_test=300, hidden=64, epochs=60,
                                regularization="none", progress=False)
    folder = run_experiment(EXPERIMENTS["memorization"], config, runs_dir=tmp_path)
    runs = {r["dataset"]: r for r in json.loads((folder / "results.json").read_text())["results"]["runs"]}
    assert list(runs) == list(DATASETS)
    for r in runs.values():   # each stopped at the first epoch of zero training error
        assert r["epochs_to_fit"] == len(r["curve"]["train_error"]) and r["curve"]["train_error"][-1] == 0
        assert min(r["curve"]["train_error"][:-1], default=1) > 0
    assert runs["true-labels"]["test_error"] < 0.5     # chance: 0.9
    for chance in ("random-labels", "gaussian"):
        assert runs[chance]["test_error"] > 0.7
    assert runs["random-labels"]["epochs_to_fit"] > runs["true-labels"]["epochs_to_fit"]
    report = (folder / "report.md").read_text()
    assert "epochs to zero training error" in report and (folder / "train_error_none.png").stat().st_size > 1000


@pytest.mark.slow
def test_the_regularized_runs_share_the_plain_run_s_start_and_differ_from_it(tmp_path):
    config = MemorizationConfig(data_root=str(shared_mnist()), n_train=100, n_test=100, hidden=32, epochs=2,
                                dataset="true-labels", progress=False)
    folder = run_experiment(EXPERIMENTS["memorization"], config, runs_dir=tmp_path)
    runs = json.loads((folder / "results.json").read_text())["results"]["runs"]
    assert [r["regularization"] for r in runs] == ["none", "weight-decay", "dropout"]
    assert "test_error" not in json.loads((folder / "results.json").read_text())["results"]   # only for one run
    losses = [r["curve"]["train_loss"] for r in runs]
    assert losses[0] != losses[1] and losses[0] != losses[2]


@pytest.mark.slow
def test_one_chosen_run_puts_its_numbers_where_a_sweep_summary_reads_them(tmp_path):
    from minireg.sweeps.summary import flat_metrics
    config = MemorizationConfig(data_root=str(shared_mnist()), n_train=50, n_test=50, hidden=16, epochs=2,
                                dataset="gaussian", regularization="dropout", progress=False)
    results = json.loads((run_experiment(EXPERIMENTS["memorization"], config, runs_dir=tmp_path)
                          / "results.json").read_text())["results"]
    (run,) = results["runs"]
    assert run["dataset"] == "gaussian" and run["regularization"] == "dropout"
    metrics = flat_metrics(results)
    assert metrics["test_error"] == run["test_error"] and metrics["train_error"] == run["train_error"]
