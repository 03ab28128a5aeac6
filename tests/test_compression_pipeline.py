"""GrOWL's pipeline end to end (learn_to_share: train, cluster, tie, retrain) on the
synthetic data of GrOWL §4.1, and `minireg run growl-synthetic` on a tiny budget."""
import json

import numpy as np
import pytest

from minireg import losses, nn
from minireg.compression import compression_ratio, parameter_sharing
from minireg.datasets import DataLoader
from minireg.datasets.synthetic import growl_synthetic
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import run_experiment
from minireg.experiments.growl_synthetic import GrowlSyntheticConfig, block_similarity
from minireg.optim import SGD
from minireg.regularizers import ProxGroupLasso, ProxGrOWL
from minireg.training import Trainer, learn_to_share


def _pipeline(data, regularizer):
    model = nn.Sequential(nn.Linear(784, 30, rng=1), nn.ReLU(), nn.Linear(30, 10, rng=2))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.01, momentum=0.9),
                      regularizers=[regularizer])
    loader = DataLoader(data.X_train, data.y_train, 100, rng=0)

    def make_retrainer(tied_model):
        return Trainer(tied_model, losses.cross_entropy, SGD(tied_model.parameters(), lr=0.01, momentum=0.9))

    result = learn_to_share(trainer, loader, epochs=10, layers="layers.0", make_retrainer=make_retrainer,
                            retrain_epochs=1, preference=0.6, damping=0.9)
    return model, result


def test_growl_recovers_the_blocks_better_than_group_lasso_end_to_end():
    """Stated measure: the mean eq. (10) similarity of the first layer's rows over pairs of
    features in one block, after train -> tie -> retrain; and the compression it buys."""
    data = growl_synthetic(0, n_train=2000, n_test=500)
    outcome = {}
    for name, regularizer in (("growl", ProxGrOWL(0.1, 0.001, p=0.5, params={"layers.0": 1.0})),
                              ("group_lasso", ProxGroupLasso(0.1, params={"layers.0": 1.0}))):
        model, result = _pipeline(data, regularizer)
        tied = model.layers[0]
        tying = result.tying[0]
        assert tied.centroids.shape[0] == tying.n_clusters and result.retrainer.model is model
        for k in range(tying.n_clusters):            # tied rows are still equal after retraining
            rows = tied.expanded_weight()[tying.rows[tying.labels == k]]
            np.testing.assert_array_equal(rows, np.broadcast_to(rows[0], rows.shape))
        outcome[name] = {**block_similarity(tied.expanded_weight(), data.feature_block),
                         "clusters": tying.n_clusters, "compression": compression_ratio(model, ["layers.0"]),
                         "sharing": parameter_sharing(model, ["layers.0"]),
                         "error": result.retrainer.evaluate(data.X_test, data.y_test)["error"]}
    growl, lasso = outcome["growl"], outcome["group_lasso"]
    assert growl["within"] > lasso["within"] + 0.3, outcome
    assert growl["compression"] > lasso["compression"] and growl["sharing"] > lasso["sharing"], outcome
    assert growl["error"] < 0.5, outcome


def test_learn_to_share_refuses_bad_arguments():
    model = nn.Sequential(nn.Linear(4, 2, rng=0))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    loader = DataLoader(np.ones((4, 4), np.float32), np.zeros(4, np.int64), 2, rng=0)
    with pytest.raises(TypeError, match="make_retrainer"):
        learn_to_share(trainer, loader, 1, "layers.0", make_retrainer=None, retrain_epochs=1)
    with pytest.raises(ValueError, match="layers"):
        learn_to_share(trainer, loader, 1, [], make_retrainer=lambda m: None, retrain_epochs=1)
    with pytest.raises(TypeError, match="run_phase"):
        learn_to_share(trainer, loader, 1, "layers.0", make_retrainer=lambda m: None, retrain_epochs=1, run_phase=3)


def test_a_tiny_growl_synthetic_run_reports_every_regularizer(tmp_path):
    config = GrowlSyntheticConfig(n_train=300, n_test=100, hidden=8, epochs=1, p_values="0.5", progress=False)
    folder = run_experiment(EXPERIMENTS["growl-synthetic"], config, runs_dir=tmp_path)
    results = json.loads((folder / "results.json").read_text())["results"]
    assert list(results["runs"]) == ["weight_decay", "group_lasso", "growl_p0_5", "oscar"]
    for run in results["runs"].values():
        assert -1 <= run["between"] <= 1 and -1 <= run["within"] <= 1
        assert len(run["similarity_image"]) == 196 and len(run["sorted_entries"]) == 200
        assert run["sorted_entries"] == sorted(run["sorted_entries"], reverse=True)
    report = (folder / "report.md").read_text()
    assert "within-block similarity" in report and "OSCAR" in report
    for plot in ("similarity.png", "sorted_similarity.png"):
        assert (folder / plot).stat().st_size > 1000 and f"({plot})" in report


def test_growl_synthetic_refuses_bad_p_values():
    with pytest.raises(ValueError, match="p_values"):
        GrowlSyntheticConfig(p_values="0.5,2")
    with pytest.raises(ValueError, match="p_values"):
        GrowlSyntheticConfig(p_values="half")


def test_learn_to_share_runs_its_phases_through_run_phase_and_prunes_upstream():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)).astype(np.float32), rng.integers(0, 3, 60)
    model = nn.Sequential(nn.Linear(5, 6, rng=0), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3, rng=1))
    model.layers[3].weight.data[[1, 4]] = 0.0              # rows a group Lasso would have zeroed
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.0))   # lr 0 keeps them zero
    loader = DataLoader(X, y, 20, rng=0)
    calls = []

    def run_phase(name, phase_trainer, phase_loader, epochs):
        calls.append((name, phase_trainer.step, epochs))
        phase_trainer.fit(phase_loader, epochs=epochs)

    def make_retrainer(tied):
        return Trainer(tied, losses.cross_entropy, SGD(tied.parameters(), lr=0.01))

    result = learn_to_share(trainer, loader, 2, "layers.3", make_retrainer, 1, preference=0.9, run_phase=run_phase)
    assert calls == [("train", 0, 2), ("retrain", 0, 1)] and result.retrainer.step == 3
    assert model.layers[0].weight.shape == (5, 4) and model.layers[1].num_features == 4   # units 1, 4 removed
    model.eval()
    assert model(X).shape == (60, 3)
    with pytest.raises(ValueError, match="fit or run_phase"):
        learn_to_share(trainer, loader, 1, "layers.0", make_retrainer, 1, fit={"eval_every": 1}, run_phase=run_phase)


def test_learn_to_share_skips_the_retraining_when_make_retrainer_declines():
    model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU(), nn.Linear(3, 2, rng=1))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    loader = DataLoader(np.ones((4, 4), np.float32), np.zeros(4, np.int64), 2, rng=0)
    tied = []
    result = learn_to_share(trainer, loader, 1, "layers.0", lambda m: None, 5,
                            tie=lambda m, layer: tied.append(layer) or layer)
    assert result.retrainer is None and result.tying == ["layers.0"] == tied and trainer.step == 2
