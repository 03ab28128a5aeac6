"""The `minireg` command under bad input and faults: every expected failure is one line on
stderr (`minireg: error: ...`, in the command's words), a non-zero exit, no traceback,
and no work done before it; option names are matched exactly; `--version`; `--threads`."""
import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import forbid_network
from minireg import __version__, cli, threads
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import RunProgress, start_run
from minireg.training.trainer import Trainer

NAME = "early-stopping-synthetic"
TINY = ["--n-subtrain", "60", "--n-val", "40", "--n-test", "50", "--hidden", "8", "--epochs", "3",
        "--patience", "2", "--continue-max-epochs", "1", "--no-progress"]


@pytest.fixture
def no_training(monkeypatch):
    """Any training step fails the test: the error must come before any work."""
    def train_step(trainer, x, y):
        raise AssertionError("training started before the error was found")

    monkeypatch.setattr(Trainer, "train_step", train_step)


def one_error_line(capsys, argv, status=2):
    """Run the command; return its single error line (checked: status, one line, no traceback)."""
    assert cli.main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("minireg: error: ")
    return lines[0]


@pytest.mark.parametrize("arguments, message", [
    (["--lr", "nan"], "--lr must be a finite number in (0.0, inf), got nan"),
    (["--lr", "inf"], "--lr must be a finite number in (0.0, inf), got inf"),
    (["--lr", "0"], "--lr must be a finite number in (0.0, inf), got 0.0"),
    (["--momentum", "nan"], "--momentum must be a finite number in [0.0, 1.0), got nan"),
    (["--label-noise", "1.5"], "--label-noise must be a finite number in [0.0, 1.0], got 1.5"),
    (["--continue-max-epochs", "inf"], "--continue-max-epochs must be a finite number in [0.0, inf), got inf"),
    (["--continue-max-epochs", "-1"], "--continue-max-epochs must be a finite number in [0.0, inf), got -1.0"),
    (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["--epochs", "2.5"], "argument --epochs: invalid int value: '2.5'"),
    (["--n-classes", "1"], "--n-classes must be an integer >= 2, got 1"),
    (["--retrain-count", "steps"], "--retrain-count must be one of 'epochs', 'updates'; got 'steps'"),
    (["--threads", "0"], "--threads must be an integer >= 1, got 0"),
    (["--checkpoint-every-epochs", "0"], "--checkpoint-every-epochs must be an integer >= 1, got 0"),
    (["--progress", "yes"], "unrecognized arguments: yes"),
])
def test_every_option_is_checked_before_any_work(tmp_path, capsys, no_training, arguments, message):
    line = one_error_line(capsys, ["run", NAME, *TINY, *arguments, "--runs-dir", str(tmp_path)])
    assert message in line
    assert list(tmp_path.iterdir()) == []                          # no run folder either


@pytest.mark.parametrize("argv, message", [
    (["run", NAME, "--epoch", "5"], "unrecognized arguments: --epoch 5"),
    (["run", NAME, "--n-sub", "10"], "unrecognized arguments: --n-sub 10"),
    (["run", NAME, "--runs", "x"], "unrecognized arguments: --runs x"),
    (["run", NAME, "--thread", "1"], "unrecognized arguments: --thread 1"),
    (["--vers"], "unrecognized arguments: --vers"),
    (["lst"], "invalid choice: 'lst'"),
])
def test_option_names_are_matched_exactly(capsys, no_training, argv, message):
    assert message in one_error_line(capsys, argv)


def test_runs_dir_that_is_a_file_or_under_one(tmp_path, capsys, no_training):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    line = one_error_line(capsys, ["run", NAME, *TINY, "--runs-dir", str(a_file)])
    assert line == f"minireg: error: --runs-dir {a_file} is a file; give a folder"
    line = one_error_line(capsys, ["run", NAME, *TINY, "--runs-dir", str(a_file / "runs" / "here")])
    assert line == f"minireg: error: --runs-dir {a_file / 'runs' / 'here'} is under {a_file}, which is a file; give a folder"


def test_a_data_root_that_does_not_exist_is_reported_as_missing_not_created(tmp_path, capsys, no_training):
    missing = tmp_path / "mnist-here"
    line = one_error_line(capsys, ["run", "early-stopping", "--data-root", str(missing), "--runs-dir", str(tmp_path)])
    assert f"--data-root {missing} does not exist" in line
    assert not missing.exists() and not (tmp_path / "early-stopping").exists()
    line = one_error_line(capsys, ["run", "early-stopping", "--n-subtrain", "55000", "--n-val", "10000"])
    assert "--n-subtrain + --n-val must be at most 60000" in line


def test_corrupt_data_is_one_line_in_the_commands_words(tmp_path, capsys, no_training, monkeypatch):
    monkeypatch.delenv("MINIREG_DATA", raising=False)
    root = tmp_path / "data"
    root.mkdir()
    (root / "train-images-idx3-ubyte").write_bytes(b"\x00" * 100)
    runs = tmp_path / "runs"
    line = one_error_line(capsys, ["run", "early-stopping", "--data-root", str(root), "--runs-dir", str(runs),
                                   "--no-progress"], status=1)
    assert str(root / "train-images-idx3-ubyte") in line and "--data-root" in line
    assert "`root`" not in line and "download=True" not in line
    assert list((runs / "early-stopping").iterdir()) == []        # the fresh run folder saved nothing: removed


def test_an_unreachable_download_is_one_line(tmp_path, capsys, no_training, monkeypatch):
    forbid_network(monkeypatch)
    monkeypatch.delenv("MINIREG_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "empty"
    root.mkdir()
    assert cli.main(["run", "early-stopping", "--data-root", str(root), "--runs-dir", str(tmp_path / "runs"),
                     "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("minireg: error: ")]
    assert len(errors) == 1 and errors[0] == err.strip().splitlines()[-1]
    assert "could not download" in errors[0] and "--data-root FOLDER" in errors[0]
    # the only other lines are the loader's "downloading ..." notes
    assert all(line.startswith("minireg: downloading ") for line in err.strip().splitlines()[:-1])


def a_run_folder(tmp_path):
    experiment = EXPERIMENTS[NAME]
    return start_run(experiment, experiment.config_class(n_subtrain=60, n_val=40, progress=False), tmp_path)


def edit_config(folder, edit):
    document = json.loads((folder / "config.json").read_text())
    edit(document)
    (folder / "config.json").write_text(json.dumps(document))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["config"].update(lr="fast"), "lr must be a finite number in (0.0, inf), got 'fast'"),
    (lambda d: d["config"].update(lr=float("nan")), "lr must be a finite number in (0.0, inf), got nan"),
    (lambda d: d["config"].update(epochs=-3), "epochs must be an integer >= 1, got -3"),
    (lambda d: d["config"].update(surprise=1), "unknown option(s) surprise"),
    (lambda d: d["config"].pop("seed"), "missing option(s) seed"),
    (lambda d: d.update(checkpoint_every_epochs=0), "checkpoint_every_epochs must be an integer >= 1, got 0"),
    (lambda d: d.update(blas_threads="two"), "blas_threads must be an integer >= 1, got 'two'"),
    (lambda d: d.update(config=[1, 2]), "config an object"),
    (lambda d: d.pop("started"), "lacks the keys experiment, config, started"),
])
def test_a_bad_config_json_on_resume(tmp_path, capsys, no_training, edit, message):
    folder = a_run_folder(tmp_path)
    edit_config(folder, edit)
    line = one_error_line(capsys, ["resume", str(folder)])
    assert message in line and str(folder / "config.json") in line


def test_a_damaged_checkpoint_or_progress_file_on_resume(tmp_path, capsys, no_training):
    folder = a_run_folder(tmp_path)
    third = folder / "checkpoint-algorithm_7_3.npz"
    for content in (b"", b"PK\x03\x04 truncated zip", b"garbage " * 50):
        third.write_bytes(content)
        line = one_error_line(capsys, ["resume", str(folder)])
        assert f"the checkpoint {third} is damaged" in line
        assert "delete it to train phase algorithm_7_3 again from its start" in line
    np.savez(third, weights=np.zeros(3))                           # a good .npz, but no training state
    assert f"the checkpoint {third} is damaged (KeyError" in one_error_line(capsys, ["resume", str(folder)])
    third.unlink()
    RunProgress(folder).finish("algorithm_7_1", 12)                # finished, but its checkpoint is gone
    line = one_error_line(capsys, ["resume", str(folder)])
    assert "records phase 'algorithm_7_1' as finished, but its checkpoint" in line
    (folder / "progress.json").write_text('{"finished": ')
    line = one_error_line(capsys, ["resume", str(folder)])
    assert f"{folder / 'progress.json'} is damaged" in line and "delete it" in line


def test_the_command_line_itself_prints_one_line_and_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "minireg", "run", NAME, "--lr", "nan", "--runs-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "minireg: error: --lr must be a finite number in (0.0, inf), got nan\n"
    done = subprocess.run([sys.executable, "-m", "minireg", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == f"minireg {__version__}\n"


def test_threads_fix_the_blas_thread_count_record_it_and_resume_with_it(tmp_path, capsys, monkeypatch):
    seen = set()
    original = Trainer.train_step

    def train_step(trainer, x, y):
        seen.add(threads.blas_threads())
        return original(trainer, x, y)

    monkeypatch.setattr(Trainer, "train_step", train_step)
    before = threads.blas_threads()
    assert cli.main(["run", NAME, *TINY, "--threads", "1", "--runs-dir", str(tmp_path)]) == 0
    assert seen == {1} and threads.blas_threads() == before         # the limit ends with the command
    folder = next((tmp_path / NAME).iterdir())
    assert json.loads((folder / "config.json").read_text())["blas_threads"] == 1
    assert json.loads((folder / "results.json").read_text())["blas_threads"] == 1
    report = (folder / "report.md").read_text()
    assert "--threads 1" in report and "only on the same BLAS thread count: this run used 1" in report
    # a resume runs on the count the run started with, whatever the BLAS is set to now
    other = a_run_folder(tmp_path / "other")
    edit_config(other, lambda d: d.update(blas_threads=1, config={**d["config"], "epochs": 2, "hidden": 4}))
    seen.clear()
    assert cli.main(["resume", str(other)]) == 0
    assert seen == {1}
    capsys.readouterr()
