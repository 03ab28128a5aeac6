"""Progress of :meth:`Trainer.fit <minireg.training.Trainer.fit>`: a tqdm bar in a terminal,
plain lines in a log.

In a terminal, :class:`ProgressBar` draws the bar people know from the Python ecosystem
(`tqdm <https://tqdm.github.io>`_)::

    epoch 3/150:  2%|▎         | 41/2400 [00:00<00:27, 86.3step/s, batch 9/16, loss 0.8131, val_loss 0.9712]

the epoch as k/N, the bar over the steps of the whole fit, the rate, the time left, and
after it the batch inside the epoch, the running mean of the minibatch losses of the
epoch, and the most recent evaluation. Where the stream is not a terminal (a log file,
a pipe, a CI job), a bar redrawn with ``\\r`` would be noise, so it writes plain lines
instead, at epoch ends, at most one every ``plain_every_seconds``, and always the last::

    epoch 150/150  step 2400/2400  loss 0.2213  val_loss 1.257  val_error 0.318  (6.1 s, 0 s left)

The fit's budget (``epochs``, ``max_steps``) gives N and the time left. Give it to the
constructor, or let the trainer state it: the bar reads ``trainer.fit_budget``, a pair
``(epochs, max_steps)`` with None for the limit not set, when the trainer has one.
Without either the bar counts steps without a total.
"""
from __future__ import annotations

import math
import sys
import time

from tqdm import tqdm

from minireg import checks
from minireg.training.callbacks import Callback


def _total_steps(epochs, max_steps, steps_per_epoch):
    """The step count at which the fit ends at the latest, or None when it has no budget."""
    totals = [limit for limit in (max_steps, None if epochs is None else epochs * steps_per_epoch)
              if limit is not None]
    return min(totals) if totals else None


def _metrics(logs: dict) -> str:
    return "  ".join(f"{name} {value:.4g}" for name, value in logs.items())


class ProgressBar(Callback):
    """The progress of a fit: a tqdm bar in a terminal, plain lines elsewhere.

    Parameters
    ----------
    epochs, max_steps : int, optional
        The fit's budget (totals since the trainer's start, as :meth:`Trainer.fit` takes
        them). By default ``trainer.fit_budget`` when the trainer states it.
    stream : file, optional
        Where to write; ``sys.stderr`` by default (stdout stays for results).
    plain : bool, optional
        Plain lines instead of a bar. By default: plain when ``stream`` is not a terminal.
    plain_every_seconds : float
        In plain mode, the least time between two epoch lines (the last epoch's line is
        always written).
    description : str, optional
        Written before the epoch, e.g. the phase of an experiment.
    """

    def __init__(self, epochs=None, max_steps=None, stream=None, plain=None, plain_every_seconds: float = 10.0,
                 description: str = ""):
        self.epochs = None if epochs is None else checks.check_int(epochs, "epochs", minimum=0)
        self.max_steps = None if max_steps is None else checks.check_int(max_steps, "max_steps", minimum=0)
        self.stream = stream
        self.plain = plain if plain is None else bool(plain)
        self.plain_every_seconds = checks.check_number(plain_every_seconds, "plain_every_seconds", minimum=0.0)
        self.description = str(description)
        self._bar = None
        self._total = None
        self._steps_per_epoch = None
        self._start_time = self._start_step = None
        self._last_line_time = self._last_postfix_time = None
        self._last_line_step = None

    # ---- where and how --------------------------------------------------------------------

    def _out(self):
        return self.stream if self.stream is not None else sys.stderr

    def _is_plain(self) -> bool:
        if self.plain is not None:
            return self.plain
        isatty = getattr(self._out(), "isatty", None)
        return not (isatty and isatty())

    def _epochs_total(self):
        """N of "epoch k/N": the passes the fit's budget allows, or None."""
        if self._total is None:
            return None
        return math.ceil(self._total / self._steps_per_epoch)

    def _epoch_text(self, epoch: int) -> str:
        total = self._epochs_total()
        text = f"epoch {epoch}" if total is None else f"epoch {epoch}/{total}"
        return f"{self.description}: {text}" if self.description else text

    # ---- the moments of the fit -------------------------------------------------------------

    def on_fit_start(self, trainer):
        epochs, max_steps = self.epochs, self.max_steps
        if epochs is None and max_steps is None:
            epochs, max_steps = getattr(trainer, "fit_budget", (None, None))
        self._steps_per_epoch = trainer.steps_per_epoch
        self._total = _total_steps(epochs, max_steps, self._steps_per_epoch)
        self._start_time = None        # set at the first step: a resumed fit has loaded its state by then

    def on_step_begin(self, trainer):
        if self._start_time is not None:
            return
        self._start_time = self._last_line_time = self._last_postfix_time = time.perf_counter()
        self._start_step = self._last_line_step = trainer.step
        if not self._is_plain():
            self._bar = tqdm(total=self._total, initial=trainer.step, unit="step", file=self._out(),
                             desc=self._epoch_text(trainer.epoch + 1), dynamic_ncols=True, leave=True)

    def on_epoch_begin(self, trainer):
        if self._bar is not None:
            self._bar.set_description_str(self._epoch_text(trainer.epoch + 1), refresh=False)

    def on_step_end(self, trainer, logs):
        if self._bar is None:
            return
        now = time.perf_counter()
        if now - self._last_postfix_time >= self._bar.mininterval:   # what the next redraw shows
            self._last_postfix_time = now
            self._set_postfix(trainer)
        self._bar.update(trainer.step - self._bar.n)

    def _set_postfix(self, trainer):
        batch = trainer.batch_in_epoch or self._steps_per_epoch      # 0 between epochs: the last one is whole
        parts = [f"batch {batch}/{self._steps_per_epoch}", f"loss {trainer.running_loss():.4f}"]
        parts += [f"{name} {value:.4g}" for name, value in trainer.last_evaluation.items()]
        self._bar.set_postfix_str(", ".join(parts), refresh=False)

    def on_epoch_end(self, trainer, logs):
        if self._bar is not None or self._start_time is None:
            return
        now = time.perf_counter()
        last_epoch = self._total is not None and trainer.step >= self._total
        if last_epoch or now - self._last_line_time >= self.plain_every_seconds:
            self._write_line(trainer, logs, now)

    def on_fit_end(self, trainer):
        if self._bar is not None:
            self._set_postfix(trainer)          # the bar's last picture shows the end, not 0.1 s before it
        elif self._start_time is not None and self._last_line_step != trainer.step:
            logs = {"loss": trainer.running_loss(), **trainer.last_evaluation}
            self._write_line(trainer, logs, time.perf_counter(), ended=True)
        self.close()

    def close(self) -> None:
        """Close the bar (leaving its last state on screen); the fit's end does it, and
        whoever stops a fit otherwise (Ctrl-C) should, so that the next line starts clean."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # ---- plain lines ----------------------------------------------------------------------------

    def _write_line(self, trainer, logs, now, ended=False):
        """``epoch k/N  step s/T  <metrics>  (elapsed, time left)``; no time left once ``ended``."""
        elapsed = now - self._start_time
        done = trainer.step - self._start_step
        parts = [self._epoch_text(trainer.epoch)]
        parts.append(f"step {trainer.step}" if self._total is None else f"step {trainer.step}/{self._total}")
        metrics = _metrics({("loss" if name == "batch_loss" else name): value
                            for name, value in logs.items() if name != "lr"})
        if metrics:
            parts.append(metrics)
        timing = f"{elapsed:.1f} s"
        if self._total is not None and done > 0 and not ended:
            timing += f", {elapsed / done * max(self._total - trainer.step, 0):.0f} s left"
        parts.append(f"({timing})")
        out = self._out()
        out.write("  ".join(parts) + "\n")
        out.flush()
        self._last_line_time, self._last_line_step = now, trainer.step

    def __repr__(self):
        return f"ProgressBar(epochs={self.epochs}, max_steps={self.max_steps}, plain={self.plain})"
