"""`minireg run augmentation` on a tiny MNIST budget, and its helpers."""
import json

import numpy as np
import pytest

from helpers import shared_mnist
from minireg import cli
from minireg.experiments import EXPERIMENTS
from minireg.experiments.augmentation import (AugmentationConfig, augmented_examples, describe_target, lenet,
                                              transforms)
from minireg.experiments.base import run_experiment
from minireg.regularizers.data import Mixup


@pytest.mark.slow
def test_a_tiny_run_trains_every_row_and_draws_a_grid_per_transform(tmp_path):
    config = AugmentationConfig(data_root=str(shared_mnist()), n_train=64, n_test=100, epochs=1, batch_size=32,
                                progress=False)
    folder = run_experiment(EXPERIMENTS["augmentation"], config, runs_dir=tmp_path)
    results = json.loads((folder / "results.json").read_text())["results"]
    rows = results["rows"]
    assert [row["name"] for row in rows] == list(transforms(config))
    assert results["sizes"] == {"train": 64, "test": 100}
    for row in rows:
        assert 0 <= row["test_error"] <= 1 and 0 <= row["train_error"] <= 1
    # common random numbers: the plain row and label smoothing see the same images in the same batches,
    # yet train on different targets
    assert len({row["test_error"] for row in rows}) > 1
    report = (folder / "report.md").read_text()
    assert "Test error with each data-side regularizer" in report and "Reproducing this run" in report
    for name in list(transforms(config))[1:]:
        assert (folder / f"grid_{name}.png").stat().st_size > 1000 and f"(grid_{name}.png)" in report


def test_augmented_examples_put_the_digits_above_their_draws():
    images = np.random.default_rng(0).random((4, 1, 28, 28)).astype(np.float32)
    labels = np.array([0, 1, 2, 3])
    grid, targets = augmented_examples(Mixup(1.0, 10), images, labels, np.random.default_rng(1), draws=2)
    assert grid.shape == (3, 4, 28, 28) and targets.shape == (3, 4, 10)
    np.testing.assert_array_equal(grid[0], images[:, 0])
    np.testing.assert_array_equal(targets[0], np.eye(10)[labels])
    np.testing.assert_allclose(targets.sum(axis=2), 1, rtol=1e-6)


def test_describe_target():
    assert describe_target(np.eye(10)[3]) == "3"
    smoothed = np.full(10, 0.01)
    smoothed[7] = 0.91
    assert describe_target(smoothed) == "7: 0.91"
    mixed = np.zeros(10)
    mixed[[2, 5]] = 0.3, 0.7
    assert describe_target(mixed) == "5: 0.70\n2: 0.30"


def test_lenet_takes_digits():
    from minireg.tensor import Tensor
    assert lenet(np.random.default_rng(0))(Tensor(np.zeros((2, 1, 28, 28), np.float32))).shape == (2, 10)


@pytest.mark.parametrize("option, value, message", [
    ("--smoothing", "1", "--smoothing must be"),
    ("--mixup-a", "0", "--mixup-a must be"),
    ("--randaugment-m", "11", "--randaugment-m must be"),
    ("--randaugment-n", "-1", "--randaugment-n must be"),
    ("--n-test", "10001", "--n-test must be"),
])
def test_bad_options_are_one_line_before_any_work(option, value, message, capsys, tmp_path):
    status = cli.main(["run", "augmentation", option, value, "--runs-dir", str(tmp_path),
                       "--data-root", str(shared_mnist())])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and message in err[0], err
    assert not any(tmp_path.iterdir())
