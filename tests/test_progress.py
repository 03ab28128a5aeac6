"""Progress: the tqdm bar of a fit (epoch k/N, batch, loss, rate, time left), plain lines
where no terminal is, and the phases of an experiment announced by name."""
import io
import re
import sys

import numpy as np
import pytest

from minireg import cli, losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.training import Checkpoint, ProgressBar, Trainer


class Stream(io.StringIO):
    """A text stream that says whether it is a terminal."""

    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def short_fit(bar, epochs=3, max_steps=None, resume_from=None, checkpoint=None):
    """60 examples in batches of 10: 6 steps per epoch."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Linear(3, 2, rng=0)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    callbacks = [bar] + ([checkpoint] if checkpoint else [])
    trainer.fit(DataLoader(X, y, 10, rng=0), epochs=epochs, max_steps=max_steps, eval_sets={"val": (X, y)},
                eval_every="epoch", callbacks=callbacks, resume_from=resume_from)
    return trainer


def screens(text):
    """What a terminal shows after each redraw of the bar."""
    return [part for part in re.split(r"[\r\n]", text) if part.strip()]


def test_the_bar_shows_epoch_k_of_n_batch_loss_rate_and_time_left():
    stream = Stream(tty=True)
    short_fit(ProgressBar(epochs=3, stream=stream))
    shown = screens(stream.getvalue())
    assert shown[0].startswith("epoch 1/3:") and "0/18" in shown[0]
    last = shown[-1]
    assert last.startswith("epoch 3/3: 100%") and "18/18 [" in last and "step/s" in last
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", last)                   # elapsed < time left
    assert "batch 6/6, loss " in last and "val_loss " in last and "val_error " in last
    assert stream.getvalue().endswith("\n")                              # closed: the next line starts clean


def test_where_no_terminal_is_it_writes_plain_lines():
    stream = Stream(tty=False)
    short_fit(ProgressBar(epochs=3, stream=stream, plain_every_seconds=0))
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[:2] for line in lines] == [["epoch 1/3", "step 6/18"], ["epoch 2/3", "step 12/18"],
                                                        ["epoch 3/3", "step 18/18"]]
    assert "\r" not in stream.getvalue()
    assert all("loss " in line and "val_loss " in line for line in lines)
    assert "s left)" in lines[0] and lines[-1].endswith(" s, 0 s left)")
    # by default at most one line every 10 s, and always the last epoch's
    stream = Stream(tty=False)
    short_fit(ProgressBar(epochs=3, stream=stream))
    assert [line.split("  ")[0] for line in stream.getvalue().splitlines()] == ["epoch 3/3"]


def test_a_budget_that_ends_inside_an_epoch_and_no_budget_at_all():
    stream = Stream(tty=False)
    short_fit(ProgressBar(max_steps=8, stream=stream, plain_every_seconds=0), epochs=None, max_steps=8)
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[:2] for line in lines] == [["epoch 1/2", "step 6/8"], ["epoch 1/2", "step 8/8"]]
    assert not lines[-1].endswith("left)")                              # the fit has ended
    stream = Stream(tty=True)
    bar = ProgressBar(stream=stream)
    trainer = short_fit(bar, epochs=2)                   # no budget given to the bar: fit states it
    assert trainer.fit_budget == (2, None)
    last = screens(stream.getvalue())[-1]
    assert last.startswith("epoch 2/2: ") and "12/12" in last.replace(" ", "")


def test_the_budget_comes_from_the_fit():
    stream = Stream(tty=False)
    short_fit(ProgressBar(stream=stream), epochs=2)
    assert stream.getvalue().startswith("epoch 2/2  step 12/12")


def test_fit_shows_a_bar_on_a_terminal_by_default_and_when_asked(monkeypatch, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Linear(3, 2, rng=0)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    for terminal, progress, shown in ((False, None, False), (True, None, True), (True, False, False),
                                      (False, True, True)):
        monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal, raising=False)
        trainer.fit(DataLoader(X, y, 10, rng=0), epochs=trainer.epoch + 1, progress=progress)
        err = capsys.readouterr().err
        assert (f"epoch {trainer.epoch}/{trainer.epoch}" in err) is shown, (terminal, progress, err)
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        trainer.fit(DataLoader(X, y, 10, rng=0), epochs=9, progress="yes")


def test_a_resumed_fit_counts_from_where_it_resumes(tmp_path):
    path = tmp_path / "fit.npz"
    short_fit(ProgressBar(stream=Stream(tty=False)), epochs=2, checkpoint=Checkpoint(path))
    stream = Stream(tty=True)
    short_fit(ProgressBar(epochs=3, stream=stream), epochs=3, resume_from=path, checkpoint=Checkpoint(path))
    shown = screens(stream.getvalue())
    assert shown[0].startswith("epoch 3/3:") and "12/18" in shown[0]    # starts at the resumed step
    assert "18/18" in shown[-1]
    stream = Stream(tty=True)
    short_fit(ProgressBar(epochs=3, stream=stream), epochs=3, resume_from=path)
    assert stream.getvalue() == ""                                      # nothing left to train: no bar


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs must be an integer >= 0"):
        ProgressBar(epochs=-1)
    with pytest.raises(ValueError, match="plain_every_seconds must be a finite number"):
        ProgressBar(plain_every_seconds=float("nan"))


TINY = ["--n-subtrain", "60", "--n-val", "40", "--n-test", "50", "--hidden", "8", "--epochs", "6",
        "--batch-size", "20", "--patience", "2", "--continue-max-epochs", "1"]


def test_the_command_announces_each_phase_by_name_and_shows_its_progress(tmp_path, capsys):
    assert cli.main(["run", "early-stopping-synthetic", *TINY, "--runs-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()          # not a terminal here: plain lines
    phases = [line for line in err if line.startswith("phase ")]
    assert [line.split(",")[0] for line in phases] == ["phase 1/3: Algorithm 7.1", "phase 2/3: Algorithm 7.2",
                                                      "phase 3/3: Algorithm 7.3"]
    assert "training on subtrain for up to 6 epochs" in phases[0]
    assert "retraining on subtrain + validation for" in phases[1]
    first = err.index(phases[0])
    assert err[first + 1].startswith("epoch 6/6  step 18/18  loss ")      # 3 batches of 20 per epoch
    # --no-progress: nothing on stderr
    assert cli.main(["run", "early-stopping-synthetic", *TINY, "--no-progress", "--runs-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""
