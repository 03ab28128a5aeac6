"""`minireg run weight-penalties` on a small MNIST budget: the results say what the report claims."""
import json

import numpy as np
import pytest

from helpers import shared_mnist
from minireg import cli
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import run_experiment
from minireg.experiments.weight_penalties import WeightPenaltiesConfig


@pytest.mark.slow
def test_a_small_run_shows_exact_zeros_from_the_prox_and_the_max_norm_bound(tmp_path):
    config = WeightPenaltiesConfig(data_root=str(shared_mnist()), n_train=1500, n_val=500, hidden=64, epochs=3,
                                   l2_alphas="1e-4,1e-1", l1_alphas="3e-3", max_norm=0.8, progress=False)
    folder = run_experiment(EXPERIMENTS["weight-penalties"], config, runs_dir=tmp_path)
    results = json.loads((folder / "results.json").read_text())["results"]
    runs = {row["name"]: row for row in results["runs"]}
    assert list(runs) == ["none", "l2_0", "l2_1", "l1_0", "prox_l1_0", "max_norm"]
    # the L1 prox makes exact zeros, the L1 penalty's subgradient does not
    assert runs["prox_l1_0"]["exact_zeros"] > 0.01 and runs["l1_0"]["exact_zeros"] == 0
    assert runs["l1_0"]["near_zeros"] > runs["none"]["near_zeros"]
    # far too much weight decay underfits: the training error rises
    assert runs["l2_1"]["train_error"] > runs["none"]["train_error"] + 0.02
    # max-norm: every unit at most c at every epoch's end; without it they pass c
    assert max(runs["max_norm"]["unit_norms"]["largest"]) <= 0.8 * (1 + 1e-6)
    assert max(runs["none"]["unit_norms"]["largest"]) > 0.8
    assert len(runs["none"]["unit_norms"]["median"]) == 3
    assert sum(runs["none"]["histogram"]["counts"]) <= 784 * 64
    report = (folder / "report.md").read_text()
    for heading in ("Test error against α", "Exact zeros", "Max-norm", "Reproducing this run"):
        assert heading in report
    for plot in ("error_vs_alpha.png", "weight_histograms.png", "unit_norms.png"):
        assert (folder / plot).stat().st_size > 1000 and f"({plot})" in report


@pytest.mark.parametrize("option, value, message", [
    ("--l2-alphas", "1e-4,abc", "--l2-alphas must be comma-separated numbers"),
    ("--l1-alphas", "1e-3,1e-4", "--l1-alphas must be positive finite numbers in increasing order"),
    ("--l1-alphas", "0", "--l1-alphas must be positive"),
    ("--max-norm", "0", "--max-norm must be a finite number in (0.0, inf)"),
    ("--n-train", "59000", "--n-train + --n-val must be at most 60000"),
])
def test_bad_options_are_one_line_before_any_work(option, value, message, capsys, tmp_path):
    status = cli.main(["run", "weight-penalties", option, value, "--runs-dir", str(tmp_path),
                       "--data-root", str(shared_mnist())])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and message in err[0], err
    assert not any(tmp_path.iterdir())


def test_the_regularizers_of_the_runs_are_those_named():
    from minireg.experiments.weight_penalties import _runs
    runs = _runs(WeightPenaltiesConfig(l2_alphas="1e-3", l1_alphas="1e-4,1e-2", max_norm=2.5))
    made = [(name, [repr(r) for r in factory(None)]) for name, _, _, factory in runs]
    assert made == [("none", []), ("l2_0", ["L2(alpha=0.001)"]), ("l1_0", ["L1(alpha=0.0001)"]),
                    ("prox_l1_0", ["ProxL1(every='step', alpha=0.0001)"]), ("l1_1", ["L1(alpha=0.01)"]),
                    ("prox_l1_1", ["ProxL1(every='step', alpha=0.01)"]), ("max_norm", ["MaxNorm(max_norm=2.5)"])]
    assert np.isclose(runs[-1][2], 2.5)
