"""Interrupting `minireg run` (Ctrl-C) and resuming it with `minireg resume FOLDER`.

The reference is the same run, never interrupted: a resumed run must write exactly the
same results (every number of results.json, the curves included), whichever phase
(Algorithm 7.1, 7.2 or 7.3) and whichever moment of it was interrupted.
"""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minireg import cli
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import RunProgress, continue_run, start_run
from minireg.training.trainer import Trainer

NAME = "early-stopping-synthetic"
# 60 subtrain / 40 validation examples in batches of 16: 4 steps per epoch on subtrain,
# 7 on all the data; Algorithm 7.3 checks the validation loss every 3 steps
SMALL = ["--n-subtrain", "60", "--n-val", "40", "--n-test", "50", "--hidden", "8", "--batch-size", "16",
         "--epochs", "6", "--patience", "2", "--continue-every", "3", "--continue-max-epochs", "2",
         "--lr", "0.05", "--seed", "5", "--no-progress"]


def run_folders(runs_dir):
    parent = Path(runs_dir) / NAME
    return sorted(parent.iterdir()) if parent.is_dir() else []


def only_folder(runs_dir):
    folders = run_folders(runs_dir)
    assert len(folders) == 1
    return folders[0]


def results_of(folder):
    document = json.loads((folder / "results.json").read_text())
    return document["config"], document["results"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its config and results, and the training steps of each phase."""
    runs_dir = tmp_path_factory.mktemp("reference")
    assert cli.main(["run", NAME, *SMALL, "--runs-dir", str(runs_dir)]) == 0
    config, results = results_of(only_folder(runs_dir))
    phase_steps = [results["early_stopping"]["epochs_trained"] * results["steps_per_epoch"]["subtrain"],
                   results["test"]["algorithm_7_2"]["steps"], results["test"]["algorithm_7_3"]["steps"]]
    # the interruptions below are meant to land inside each phase: check that each one trains
    assert results["steps_per_epoch"] == {"subtrain": 4, "all": 7}
    assert phase_steps[0] == 24 and phase_steps[1] >= 4 and phase_steps[2] >= 4, phase_steps
    return config, results, phase_steps


class InterruptAtStep:
    """Make `Trainer.train_step` raise KeyboardInterrupt (as Ctrl-C would) at its n-th
    call of this process, counted over all the phases."""

    def __init__(self, monkeypatch, n):
        self.n, self.calls = n, 0
        original = Trainer.train_step

        def train_step(trainer, x, y):
            self.calls += 1
            if self.calls == self.n:
                raise KeyboardInterrupt
            return original(trainer, x, y)

        monkeypatch.setattr(Trainer, "train_step", train_step)


def assert_interrupted_cleanly(folder, message_err):
    """Exit line as promised; no temporary file; every file there is complete."""
    lines = message_err.strip().splitlines()
    names = sorted(path.name for path in folder.iterdir())
    if any(name.startswith("checkpoint-") for name in names):
        assert lines[-1] == (f"minireg: interrupted; the run folder {folder} keeps what was saved; "
                             f"resume with: minireg resume {folder}")
    else:
        assert lines[-1] == (f"minireg: interrupted before the first checkpoint, so no training was saved; "
                             f"minireg resume {folder} starts the run again with the same options")
    # one instruction: the trainer prints nothing on Ctrl-C (it raises TrainingInterrupted),
    # and the phase announcements come before the interruption
    assert not [line for line in lines[:-1] if "interrupt" in line or "resume" in line], lines
    assert not [name for name in names if name.startswith(".") or name.endswith(".tmp")], names
    assert "results.json" not in names and "report.md" not in names
    json.loads((folder / "config.json").read_text())
    for name in names:
        if name.endswith(".npz"):
            with np.load(folder / name, allow_pickle=False) as archive:
                assert "trainer" in archive.files
    return names


def phase_points(phase_steps):
    """``(label, step, phases finished, steps saved)``: the steps (1-based, counted over
    the run) at which to interrupt: in each phase, its first step (no checkpoint of the
    phase yet), the middle, and the step right after an epoch's end. The steps saved are
    those of the finished phases plus, in the phase in progress, those up to its last
    epoch end (one checkpoint per epoch: 4 steps on subtrain, 7 on all the data)."""
    first, second, third = phase_steps
    middle_2, middle_3 = second // 2, third // 2
    return [
        ("7.1 first step", 1, [], 0),
        ("7.1 inside epoch 3", 10, [], 8),
        ("7.1 first step of epoch 5", 17, [], 16),
        ("7.2 first step", first + 1, ["algorithm_7_1"], first),
        ("7.2 middle", first + middle_2 + 1, ["algorithm_7_1"], first + middle_2 // 7 * 7),
        ("7.3 first step", first + second + 1, ["algorithm_7_1", "algorithm_7_2"], first + second),
        ("7.3 middle", first + second + middle_3 + 1, ["algorithm_7_1", "algorithm_7_2"],
         first + second + middle_3 // 7 * 7),
    ]


class CountSteps:
    """Count the calls of `Trainer.train_step`."""

    def __init__(self, monkeypatch):
        self.calls = 0
        original = Trainer.train_step

        def train_step(trainer, x, y):
            self.calls += 1
            return original(trainer, x, y)

        monkeypatch.setattr(Trainer, "train_step", train_step)


@pytest.mark.parametrize("point", range(7))
def test_a_run_interrupted_in_any_phase_resumes_to_the_same_results(tmp_path, capsys, monkeypatch, reference,
                                                                    point):
    config, results, phase_steps = reference
    label, at_step, finished, saved = phase_points(phase_steps)[point]
    with monkeypatch.context() as patch:
        interrupter = InterruptAtStep(patch, at_step)
        status = cli.main(["run", NAME, *SMALL, "--runs-dir", str(tmp_path)])
    assert interrupter.calls == at_step, "the run ended before the chosen step"
    assert status == 130
    folder = only_folder(tmp_path)
    message = capsys.readouterr().err
    names = assert_interrupted_cleanly(folder, message)
    # what the interrupted folder holds: the phases done, recorded, with their end states
    assert list(RunProgress(folder).finished) == finished, label
    assert "progress.json" in names, label             # written at the interruption, with the time spent
    for phase in finished:
        assert f"checkpoint-{phase}.npz" in names, label

    with monkeypatch.context() as patch:
        counter = CountSteps(patch)
        assert cli.main(["resume", str(folder)]) == 0
    assert f"wrote {folder}/results.json" in capsys.readouterr().out
    assert results_of(folder) == (config, results), label
    # the resumed run trained only what no checkpoint held
    assert counter.calls == sum(phase_steps) - saved, label
    # a finished run keeps its config, results, report and plots, not its checkpoints
    assert sorted(path.name for path in folder.iterdir()) == [
        "algorithm_7_3.png", "config.json", "error_curves.png", "loss_curves.png", "report.md", "results.json"]


def test_the_progress_file_records_the_finished_phases_and_their_results(tmp_path, capsys, monkeypatch, reference):
    config, results, phase_steps = reference
    with monkeypatch.context() as patch:
        InterruptAtStep(patch, phase_steps[0] + phase_steps[1] + 2)        # inside Algorithm 7.3
        assert cli.main(["run", NAME, *SMALL, "--runs-dir", str(tmp_path)]) == 130
    folder = only_folder(tmp_path)
    progress = RunProgress(folder)
    assert list(progress.finished) == ["algorithm_7_1", "algorithm_7_2"]
    # each with the step of its end-state checkpoint: the steps each phase trained
    assert progress.finished["algorithm_7_1"] == {"checkpoint_step": phase_steps[0]}
    assert progress.finished["algorithm_7_2"] == {"checkpoint_step": phase_steps[1]}
    assert progress.seconds > 0
    # interrupted at its second step, Algorithm 7.3 has finished no epoch: no checkpoint yet
    assert not (folder / "checkpoint-algorithm_7_3.npz").exists()
    assert {"checkpoint-algorithm_7_1.npz", "checkpoint-algorithm_7_2.npz"} <= {p.name for p in folder.iterdir()}
    capsys.readouterr()


def test_interrupted_twice_and_between_phases(tmp_path, capsys, monkeypatch, reference):
    """Ctrl-C during a test evaluation (after Algorithm 7.1 trained and was recorded, before
    Algorithm 7.2 starts), then again inside Algorithm 7.2 of the resumed run; checkpoints
    every 4 epochs."""
    config, results, phase_steps = reference
    original_evaluate = Trainer.evaluate
    calls = {"n": 0}

    def evaluate(trainer, X, y):
        if len(X) == 50:                          # the test set: first looked at after Algorithm 7.1
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
        return original_evaluate(trainer, X, y)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "evaluate", evaluate)
        assert cli.main(["run", NAME, *SMALL, "--checkpoint-every-epochs", "4", "--runs-dir", str(tmp_path)]) == 130
    folder = only_folder(tmp_path)
    names = assert_interrupted_cleanly(folder, capsys.readouterr().err)
    assert "checkpoint-algorithm_7_1.npz" in names and list(RunProgress(folder).finished) == ["algorithm_7_1"]
    with monkeypatch.context() as patch:
        interrupter = InterruptAtStep(patch, 3)    # the 7.1 phase trains no more: step 3 of Algorithm 7.2
        assert cli.main(["resume", str(folder)]) == 130
    assert interrupter.calls == 3
    names = assert_interrupted_cleanly(folder, capsys.readouterr().err)
    assert list(RunProgress(folder).finished) == ["algorithm_7_1"]
    assert cli.main(["resume", str(folder)]) == 0
    assert results_of(folder) == (config, results)
    saved = json.loads((folder / "config.json").read_text())
    assert saved["checkpoint_every_epochs"] == 4


def test_resuming_a_finished_run_only_writes_its_report_again(tmp_path, capsys, reference):
    assert cli.main(["run", NAME, *SMALL, "--runs-dir", str(tmp_path)]) == 0
    folder = only_folder(tmp_path)
    results_bytes = (folder / "results.json").read_bytes()
    report = (folder / "report.md").read_text()
    (folder / "report.md").unlink()
    capsys.readouterr()
    assert cli.main(["resume", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "is finished already: nothing to resume" in out
    assert (folder / "results.json").read_bytes() == results_bytes
    assert (folder / "report.md").read_text() == report
    assert run_folders(tmp_path) == [folder]


def test_resume_of_a_folder_that_is_not_a_resumable_run(tmp_path, capsys):
    assert cli.main(["resume", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    old_run = tmp_path / NAME / "20240101-000000"           # a run folder without config.json
    old_run.mkdir(parents=True)
    (old_run / "checkpoint-algorithm_7_1.npz").write_bytes(b"")
    assert cli.main(["resume", str(old_run)]) == 2
    err = capsys.readouterr().err
    assert f"{old_run} holds no config.json, so it is not a run folder that can be resumed" in err
    (old_run / "config.json").write_text("{not json")
    assert cli.main(["resume", str(old_run)]) == 2
    assert "config.json is not valid JSON" in capsys.readouterr().err
    (old_run / "config.json").write_text(json.dumps({"experiment": "no-such", "config": {}, "started": "",
                                                     "checkpoint_every_epochs": 1}))
    assert cli.main(["resume", str(old_run)]) == 2
    assert "a run of 'no-such', which is not an experiment" in capsys.readouterr().err
    assert not (old_run / "results.json").exists()


def test_resume_takes_no_options(tmp_path, capsys):
    folder = start_run(EXPERIMENTS[NAME], EXPERIMENTS[NAME].config_class(), tmp_path)
    assert cli.main(["resume", str(folder), "--epochs", "3"]) == 2
    assert "`minireg resume` takes only the run folder" in capsys.readouterr().err
    assert sorted(path.name for path in folder.iterdir()) == ["config.json"]


def test_a_folder_whose_run_wrote_no_checkpoint_yet_starts_over(tmp_path, capsys, reference):
    """Interrupted before its first checkpoint (say while loading data), a run has only
    config.json; resuming it trains from the beginning, with the saved config."""
    config, results, _ = reference
    experiment = EXPERIMENTS[NAME]
    parser = cli.experiment_parser(experiment)
    values = vars(parser.parse_args(SMALL))
    values.pop("runs_dir"), values.pop("checkpoint_every_epochs"), values.pop("threads")
    folder = start_run(experiment, experiment.config_class(**values), tmp_path)
    assert cli.main(["resume", str(folder)]) == 0
    assert results_of(folder) == (config, results)
    capsys.readouterr()


def test_continue_run_refuses_another_experiments_folder(tmp_path):
    folder = start_run(EXPERIMENTS[NAME], EXPERIMENTS[NAME].config_class(), tmp_path)
    with pytest.raises(ValueError, match="is a run of 'early-stopping-synthetic', not of 'early-stopping'"):
        continue_run(EXPERIMENTS["early-stopping"], folder)


def test_checkpoint_every_epochs_must_be_positive(tmp_path, capsys):
    assert cli.main(["run", NAME, *SMALL, "--checkpoint-every-epochs", "0", "--runs-dir", str(tmp_path)]) == 2
    assert "--checkpoint-every-epochs must be an integer >= 1" in capsys.readouterr().err
    assert run_folders(tmp_path) == []
    with pytest.raises(ValueError, match="checkpoint_every_epochs must be an integer >= 1"):
        RunProgress(tmp_path, checkpoint_every_epochs=0)


SLOW_RUN = """
import sys, time
from minireg.training.trainer import Trainer
original = Trainer.train_step
def slow_step(trainer, x, y):
    time.sleep(0.02)            # a slower machine: Ctrl-C has time to arrive mid-run
    return original(trainer, x, y)
Trainer.train_step = slow_step
from minireg.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_real_ctrl_c_exits_130_and_the_run_resumes(tmp_path, reference):
    """SIGINT to a real `minireg run` process, once its first checkpoint is on disk."""
    config, results, _ = reference
    process = subprocess.Popen([sys.executable, "-c", SLOW_RUN, "run", NAME, *SMALL, "--runs-dir", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(f"{NAME}/*/checkpoint-*.npz")) and time.monotonic() < deadline \
            and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    folder = only_folder(tmp_path)
    assert_interrupted_cleanly(folder, err)
    assert cli.main(["resume", str(folder)]) == 0
    assert results_of(folder) == (config, results)


def test_without_a_run_folder_the_experiment_is_the_same_without_checkpoints(tmp_path, reference):
    """`run(config)` (no RunProgress: plain fits, nothing written) gives the CLI's results."""
    config, results, _ = reference
    experiment = EXPERIMENTS[NAME]
    plain = experiment.run(experiment.config_class(**config))
    assert json.loads(json.dumps(plain)) == results


def test_a_finished_phase_whose_checkpoint_is_gone_is_a_clear_error(tmp_path):
    progress = RunProgress(tmp_path)
    assert progress.resume_from("algorithm_7_1") is None            # not started: train from the beginning
    progress.finish("algorithm_7_2", None)                          # finished without training: nothing to load
    assert RunProgress(tmp_path).resume_from("algorithm_7_2") is None
    progress.finish("algorithm_7_1", 3)
    with pytest.raises(FileNotFoundError, match="records phase 'algorithm_7_1' as finished, but its checkpoint"):
        RunProgress(tmp_path).resume_from("algorithm_7_1")
    with pytest.raises(ValueError, match="phase must be a name"):
        progress.checkpoint_path("../x")
