"""The `minireg` command: list, run (files written, with and without matplotlib), errors."""
import json
import subprocess
import sys

import pytest

from helpers import shared_mnist
from minireg import cli
from minireg.experiments import EXPERIMENTS, base

TINY = ["--n-subtrain", "60", "--n-val", "40", "--n-test", "50", "--hidden", "8", "--epochs", "6",
        "--patience", "2", "--continue-max-epochs", "1", "--no-progress"]


def only_run_folder(runs_dir, name):
    folders = list((runs_dir / name).iterdir())
    assert len(folders) == 1
    return folders[0]


def test_list_shows_every_experiment_with_its_sentence(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name, experiment in EXPERIMENTS.items():
        assert name in lines                                    # the name on a line of its own
        assert " ".join(experiment.description.split()) in " ".join(out.split())
        assert "R4" not in experiment.description             # words, not catalog ids
        assert experiment.description.rstrip().endswith(".")  # sentences


def test_python_dash_m_minireg_works():
    done = subprocess.run([sys.executable, "-m", "minireg", "list"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "early-stopping-synthetic" in done.stdout


def test_run_writes_results_report_and_plots(tmp_path, capsys):
    assert cli.main(["run", "early-stopping-synthetic", *TINY, "--seed", "3", "--runs-dir", str(tmp_path)]) == 0
    folder = only_run_folder(tmp_path, "early-stopping-synthetic")
    assert str(folder) in capsys.readouterr().out
    document = json.loads((folder / "results.json").read_text())
    assert document["experiment"] == "early-stopping-synthetic"
    assert document["config"]["seed"] == 3 and document["config"]["epochs"] == 6
    assert document["config"]["progress"] is False
    results = document["results"]
    assert len(results["curves"]["val_loss"]["value"]) == 6
    assert results["sizes"] == {"subtrain": 60, "validation": 40, "test": 50}
    best, val_losses = results["early_stopping"], results["curves"]["val_loss"]["value"]
    assert val_losses[int(best["best_epoch"]) - 1] == best["best_value"] == min(val_losses[:int(best["best_epoch"])])
    report = (folder / "report.md").read_text()
    assert "| θ* (early stopping, Alg. 7.1 on val_loss) |" in report and "Alg. 7.3" in report
    for png in ("loss_curves.png", "error_curves.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in report
    assert "skipped" not in report


def test_without_matplotlib_the_report_keeps_its_tables(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "plotting_available", lambda: False)
    assert cli.main(["run", "early-stopping-synthetic", *TINY, "--runs-dir", str(tmp_path)]) == 0
    folder = only_run_folder(tmp_path, "early-stopping-synthetic")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "report.md", "results.json"]
    report = (folder / "report.md").read_text()
    assert "Plots were skipped" in report and "| parameters |" in report


def test_the_mnist_experiment_runs_on_the_shared_data(tmp_path):
    options = ["--n-subtrain", "300", "--n-val", "100", "--hidden", "16", "--depth", "1", "--epochs", "2",
               "--batch-size", "20",
               "--patience", "1", "--continue-max-epochs", "0.5", "--no-progress",
               "--data-root", str(shared_mnist()), "--runs-dir", str(tmp_path)]
    assert cli.main(["run", "early-stopping", *options]) == 0
    document = json.loads((only_run_folder(tmp_path, "early-stopping") / "results.json").read_text())
    assert document["results"]["data"] == "MNIST"
    assert document["results"]["sizes"]["test"] == 10000
    assert document["results"]["test"]["early_stopping"]["error"] < 0.5    # 30 updates: far better than chance (0.9)


@pytest.mark.parametrize("arguments, message", [
    (["--bogus", "3"], "unrecognized arguments: --bogus"),
    (["--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
    (["--monitor", "accuracy"], "--monitor must be one of 'loss', 'error'; got 'accuracy'"),
    (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
])
def test_bad_options_give_a_clear_error(tmp_path, capsys, arguments, message):
    assert cli.main(["run", "early-stopping-synthetic", *arguments, "--runs-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "early-stopping-synthetic").exists()


def test_unknown_experiment_and_help(capsys):
    assert cli.main(["run", "no-such-thing"]) == 2
    assert "unknown experiment 'no-such-thing'" in capsys.readouterr().err
    assert cli.main(["run", "--help"]) == 0
    assert "early-stopping" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "early-stopping", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--n-subtrain INT" in out and "--data-root STR" in out and "(default: 10000)" in out
    assert "--checkpoint-every-epochs INT" in out and "minireg resume runs/NAME/<time>" in " ".join(out.split())
    assert "--threads INT" in out


def test_top_level_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for line in ("minireg list", "minireg run NAME [--option value ...]", "minireg resume runs/NAME/<time>"):
        assert line in out


def test_every_config_field_becomes_an_option():
    for experiment in EXPERIMENTS.values():
        fields = base.config_fields(experiment.config_class)
        assert fields, experiment.name
        parser = cli.experiment_parser(experiment)
        defaults = vars(parser.parse_args([]))
        for name, kind, default, help_text in fields:
            assert defaults[name] == default and isinstance(default, kind) and help_text


def test_minireg_sweep_is_the_sweeps_command(capsys, tmp_path):
    assert cli.main(["sweep", "early-stopping-synthetic", "--grid", "lr=0.005", "--grid", "nope=1",
                     "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--grid: unknown option 'nope'" in err[0]
    assert not any(tmp_path.iterdir())
