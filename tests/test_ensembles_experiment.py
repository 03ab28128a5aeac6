"""`minireg run ensembles` on a small MNIST budget, and its running Monte-Carlo errors."""
import json

import numpy as np
import pytest

from helpers import shared_mnist
from minireg import cli, nn
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import RunProgress, run_experiment
from minireg.experiments.ensembles import EnsemblesConfig, run, running_mc_errors, sampled_log_probabilities


@pytest.mark.slow
def test_a_small_run_measures_both_ensembles_and_the_dropout_rules(tmp_path):
    config = EnsemblesConfig(data_root=str(shared_mnist()), n_train=500, members=3, masks=4, hidden=32, epochs=2,
                             progress=False)
    folder = run_experiment(EXPERIMENTS["ensembles"], config, runs_dir=tmp_path)
    results = json.loads((folder / "results.json").read_text())["results"]
    seeds, bagging = results["ensembles"]["seeds"], results["ensembles"]["bagging"]
    for ensemble in (seeds, bagging):
        assert len(ensemble["member_errors"]) == 3 and len(ensemble["ensemble_errors"]) == 3
        # the ensemble of one member is that member
        assert ensemble["ensemble_errors"][0] == ensemble["member_errors"][0]
        d = ensemble["decomposition"]
        assert d["k"] == 3 and np.isclose(d["predicted"], d["ensemble"], rtol=1e-9)
    # bagging's members see bootstrap resamples (about 1 - 1/e distinct), the seed members all the data
    assert seeds["distinct_fraction"] == 1.0 and abs(bagging["distinct_fraction"] - (1 - np.exp(-1))) < 0.06
    assert seeds["member_errors"] != bagging["member_errors"]
    dropout = results["dropout"]
    assert len(dropout["arithmetic"]) == len(dropout["geometric"]) == 4 and 0 < dropout["weight_scaling"] < 0.9
    # one sampled sub-network: both means are that sub-network's prediction
    assert dropout["arithmetic"][0] == dropout["geometric"][0]
    report = (folder / "report.md").read_text()
    for text in ("Test error against the number of members", "The decomposition", "Monte-Carlo dropout",
                 "Reproducing this run"):
        assert text in report
    for plot in ("ensemble_error.png", "mc_dropout.png"):
        assert (folder / plot).stat().st_size > 1000 and f"({plot})" in report


@pytest.mark.slow
def test_two_worker_processes_give_the_same_results_as_one_after_the_other(tmp_path):
    options = dict(data_root=str(shared_mnist()), n_train=300, members=2, masks=3, hidden=16, epochs=2, progress=False)
    expected = run(EnsemblesConfig(**options), None)                # here, one after the other
    # on workers: each saves its phase's checkpoint in the run folder, the client records the phase finished
    config, folder = EnsemblesConfig(**options, workers=2), tmp_path / "on-workers"
    folder.mkdir()
    assert run(config, RunProgress(folder)) == expected
    finished = json.loads((folder / "progress.json").read_text())["finished"]
    assert set(finished) == {"seeds_0", "seeds_1", "bagging_0", "bagging_1", "dropout"}
    assert all((folder / f"checkpoint-{phase}.npz").is_file() for phase in finished)
    # resumed here from the workers' checkpoints: every phase restores its end state, the results stay
    assert run(EnsemblesConfig(**options), RunProgress(folder)) == expected


def test_member_i_of_both_ensembles_starts_from_the_same_weights(monkeypatch):
    """Only the data differ between the seed and the bagged ensemble (SeedSequence.spawn
    moves on at each call, so the member seeds must be spawned once)."""
    from minireg.experiments import ensembles as experiment
    seen = {}
    monkeypatch.setattr(experiment, "_train_all", lambda runs, *rest: seen.update(runs=runs) or 1 / 0)
    monkeypatch.setattr(experiment, "load_mnist", lambda split, root, flatten: (np.zeros((60, 784), np.float32),
                                                                                   np.zeros(60, np.int64)))
    with pytest.raises(ZeroDivisionError):
        experiment.run(EnsemblesConfig(n_train=50, members=3, progress=False))
    by_name = {run.name: run for run in seen["runs"]}
    for i in range(3):
        seed, bagged = by_name[f"seeds_{i}"], by_name[f"bagging_{i}"]
        assert seed.init_seed.spawn_key == bagged.init_seed.spawn_key
        assert seed.loader_seed.spawn_key == bagged.loader_seed.spawn_key
    assert len({run.init_seed.spawn_key for run in seen["runs"]}) == 3 + 1


def _dropout_model(seed):
    return nn.Sequential(nn.Linear(6, 8, rng=0), nn.ReLU(), nn.Dropout(keep=0.5, rng=seed), nn.Linear(8, 3, rng=1))


@pytest.mark.parametrize("rule", ["arithmetic", "geometric"])
def test_running_errors_equal_dropout_predict_with_the_same_masks(rule):
    X = np.random.default_rng(5).normal(size=(200, 6)).astype(np.float32)
    y = np.random.default_rng(6).integers(0, 3, size=200)
    running = running_mc_errors(sampled_log_probabilities(_dropout_model(7), X, 6), y)[rule]
    for j in (1, 3, 6):
        predicted = nn.dropout_predict(_dropout_model(7), X, rule, masks=j, batch_size=len(X))
        assert running[j - 1] == np.mean(predicted.argmax(axis=1) != y)


def test_sampled_log_probabilities_restore_the_modes_and_sum_to_one():
    model = _dropout_model(3)
    model.train()
    log_p = sampled_log_probabilities(model, np.ones((4, 6), np.float32), 5)
    assert log_p.shape == (5, 4, 3) and np.allclose(np.exp(log_p).sum(axis=2), 1)
    assert all(module.training for module in model.modules())
    assert not np.allclose(log_p[0], log_p[1])       # different masks


@pytest.mark.parametrize("option, value, message", [
    ("--members", "1", "--members must be"),
    ("--masks", "0", "--masks must be"),
    ("--keep-input", "1.5", "--keep-input must be"),
])
def test_bad_options_are_one_line_before_any_work(option, value, message, capsys, tmp_path):
    status = cli.main(["run", "ensembles", option, value, "--runs-dir", str(tmp_path),
                       "--data-root", str(shared_mnist())])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and message in err[0], err
    assert not any(tmp_path.iterdir())
