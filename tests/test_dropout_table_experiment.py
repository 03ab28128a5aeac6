"""`minireg run dropout-table` on a small MNIST budget, and its late-L1 schedule."""
import json

import numpy as np
import pytest

from helpers import shared_mnist
from minireg import cli, losses, nn
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import run_experiment
from minireg.experiments.dropout_table import PAPER_TABLE, DropoutTableConfig, FromEpoch, rank_agreement
from minireg.regularizers import L1
from minireg.regularizers.base import StepContext


@pytest.mark.slow
def test_a_small_run_gives_the_six_rows_with_common_random_numbers(tmp_path):
    config = DropoutTableConfig(data_root=str(shared_mnist()), n_train=600, n_val=300, hidden=32, epochs=3,
                                l1_epochs=1, l1=1e-3, progress=False)
    folder = run_experiment(EXPERIMENTS["dropout-table"], config, runs_dir=tmp_path)
    results = json.loads((folder / "results.json").read_text())["results"]
    rows = {row["name"]: row for row in results["rows"]}
    assert list(rows) == ["l2", "l2_l1_late", "l2_kl", "max_norm", "dropout_l2", "dropout_max_norm"]
    assert [round(100 * row["paper_test_error"], 2) for row in rows.values()] == [1.62, 1.60, 1.55, 1.35, 1.25, 1.05]
    # same weights, same batches: L2 and L2 + late L1 agree exactly until the L1 penalty is switched on
    assert rows["l2"]["val_errors"][:2] == rows["l2_l1_late"]["val_errors"][:2]
    ends = [(rows[name]["val_errors"][2], rows[name]["test_error"], rows[name]["train_error"])
            for name in ("l2", "l2_l1_late")]
    assert ends[0] != ends[1]
    # dropout changes the training run (the only difference between these two rows' setups is the masks and L2)
    assert rows["dropout_max_norm"]["val_errors"] != rows["max_norm"]["val_errors"]
    for row in rows.values():
        assert len(row["val_errors"]) == 3 and 0 <= row["test_error"] < 0.9
    report = (folder / "report.md").read_text()
    for text in ("Ours beside the paper's", "The ordering", "Kendall's τ", "Srivastava", "Reproducing this run"):
        assert text in report
    assert (folder / "validation_error.png").stat().st_size > 1000 and "(validation_error.png)" in report


def _step(epoch):
    model = nn.Sequential(nn.Linear(3, 2, rng=0))
    return model, StepContext(model, losses.cross_entropy, np.random.default_rng(0), step=10 * epoch, epoch=epoch,
                              lr=0.1)


def test_from_epoch_adds_the_penalty_only_from_its_start():
    model, _ = _step(0)
    late = FromEpoch(L1(0.5), start=2)
    late.attach(model)
    expected = 0.5 * np.abs(model[0].weight.data).sum()
    for epoch, on in ((0, False), (1, False), (2, True), (5, True)):
        _, step = _step(epoch)
        step.model = model
        term = late.penalty(step)
        assert (term is not None) == on
        if on:
            assert np.isclose(float(term.item()), expected)
    assert repr(late) == "FromEpoch(L1(alpha=0.5), start=2)"


@pytest.mark.parametrize("start", [-1, 1.5, True])
def test_from_epoch_refuses_a_start_that_is_not_an_epoch(start):
    with pytest.raises(ValueError, match="start must be an integer epoch >= 0"):
        FromEpoch(L1(0.1), start=start)


def test_rank_agreement_is_kendalls_tau():
    rows = [{"paper_test_error": p / 100, "test_error": p / 100} for p in PAPER_TABLE.values()]
    assert rank_agreement(rows) == 1.0
    reversed_rows = [{"paper_test_error": row["paper_test_error"], "test_error": -row["test_error"]} for row in rows]
    assert rank_agreement(reversed_rows) == -1.0
    from scipy.stats import kendalltau
    rng = np.random.default_rng(3)
    ours = rng.permutation(6) / 100
    mixed = [{"paper_test_error": row["paper_test_error"], "test_error": t} for row, t in zip(rows, ours)]
    assert np.isclose(rank_agreement(mixed), kendalltau(list(PAPER_TABLE.values()), ours).statistic)


@pytest.mark.parametrize("arguments, message", [
    (["--l1-epochs", "30", "--epochs", "10"], "--l1-epochs must be at most --epochs (10), got 30"),
    (["--kl-rho", "1"], "--kl-rho must be"),
    (["--keep-hidden", "0"], "--keep-hidden must be"),
    (["--n-train", "59000"], "--n-train + --n-val must be at most 60000"),
])
def test_bad_options_are_one_line_before_any_work(arguments, message, capsys, tmp_path):
    status = cli.main(["run", "dropout-table", *arguments, "--runs-dir", str(tmp_path),
                       "--data-root", str(shared_mnist())])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and message in err[0], err
    assert not any(tmp_path.iterdir())
