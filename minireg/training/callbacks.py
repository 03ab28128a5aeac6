"""What happens *around* the training step: callbacks, and the history of every metric.

The :class:`~minireg.training.Trainer` runs the step (the five places of the
regularization picture) and, at fixed moments, calls the methods of each callback in
the order the callbacks were given:

===============================  ==========================================================
``on_fit_start(trainer)``        once, before the first step of :meth:`Trainer.fit`
``on_epoch_begin(trainer)``      before the first batch of each pass over the data
``on_step_begin(trainer)``       before each training step
``on_evaluate(trainer, logs)``   after each evaluation on the held-out sets (every
                                 ``eval_every`` steps); ``logs`` holds ``"val_loss"``, ...
``on_step_end(trainer, logs)``   after each step; ``logs`` holds the batch ``"loss"``
``on_epoch_end(trainer, logs)``  after each pass over the data
``on_fit_end(trainer)``          once, when :meth:`Trainer.fit` ends normally
===============================  ==========================================================

A callback stops the run by setting ``trainer.stop_training = True``. A callback that
remembers something between steps (early stopping remembers θ*, i* and its patience
counter) returns it from :meth:`Callback.state_dict`, so that a checkpoint can store it
and a resumed run can continue exactly.

The callbacks here:

* :class:`EarlyStopping` -- Deep Learning, Algorithm 7.1;
* :class:`StopAtTarget` -- the stopping rule of Algorithm 7.3;
* :class:`LearningRateSchedule` -- sets ``optimizer.lr`` from a schedule;
* :class:`Checkpoint` -- saves everything needed to resume, atomically;
* :class:`~minireg.training.progress.ProgressBar` (in its own module) -- a tqdm progress
  bar, or plain lines where no terminal is.

:class:`History` is not a callback: the trainer owns one and records every metric in it.
"""
from __future__ import annotations

import math
import numbers
import os

import numpy as np


class Callback:
    """Base class: every method does nothing. Override the moments you need."""

    def on_fit_start(self, trainer):
        pass

    def on_epoch_begin(self, trainer):
        pass

    def on_step_begin(self, trainer):
        pass

    def on_evaluate(self, trainer, logs):
        pass

    def on_step_end(self, trainer, logs):
        pass

    def on_epoch_end(self, trainer, logs):
        pass

    def on_fit_end(self, trainer):
        pass

    def state_dict(self) -> dict:
        """What this callback must remember across an interruption: ``{name: array or
        number}``. Stateless callbacks return an empty dict (the default)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (values may come back as 0-d arrays)."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, but was given keys {sorted(state)}")


def _as_python_number(value):
    """A number saved in a checkpoint (a 0-d array) back as a Python int or float."""
    return np.asarray(value).item()


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------


class History:
    """Every value of every metric, with the step and epoch at which it was measured.

    The trainer records, for example, ``"batch_loss"`` (the mean minibatch loss of each
    epoch), ``"lr"``, and ``"<set>_loss"`` / ``"<set>_error"`` for each held-out set
    at each evaluation.

    Examples
    --------
    >>> history.values("val_loss")     # [0.61, 0.43, 0.40, 0.41, ...]
    >>> history.epochs("val_loss")     # [1.0, 2.0, 3.0, 4.0, ...]
    """

    def __init__(self):
        self._records = {}

    def record(self, name: str, value: float, step: int, epoch: float) -> None:
        """Append one measurement of metric ``name``."""
        series = self._records.setdefault(name, {"step": [], "epoch": [], "value": []})
        series["step"].append(int(step))
        series["epoch"].append(float(epoch))
        series["value"].append(float(value))

    def names(self) -> list:
        """The names of the metrics recorded so far, in the order they first appeared."""
        return list(self._records)

    def _series(self, name):
        if name not in self._records:
            raise KeyError(f"no metric named {name!r} in the history; recorded: {self.names()}")
        return self._records[name]

    def values(self, name: str) -> list:
        return list(self._series(name)["value"])

    def steps(self, name: str) -> list:
        return list(self._series(name)["step"])

    def epochs(self, name: str) -> list:
        return list(self._series(name)["epoch"])

    def last(self, name: str) -> float:
        return self._series(name)["value"][-1]

    def __contains__(self, name):
        return name in self._records

    def to_dict(self) -> dict:
        """A JSON-ready copy: ``{name: {"step": [...], "epoch": [...], "value": [...]}}``."""
        return {name: {key: list(column) for key, column in series.items()}
                for name, series in self._records.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        history = cls()
        for name, series in data.items():
            for step, epoch, value in zip(series["step"], series["epoch"], series["value"]):
                history.record(name, value, step, epoch)
        return history

    def __repr__(self):
        counts = ", ".join(f"{name}: {len(series['value'])}" for name, series in self._records.items())
        return f"History({counts})"


# --------------------------------------------------------------------------------------
# Early stopping, Deep Learning Algorithm 7.1
# --------------------------------------------------------------------------------------


class EarlyStopping(Callback):
    r"""Early stopping exactly as Deep Learning, Algorithm 7.1.

    The algorithm, with :math:`n` the number of steps between evaluations (the
    trainer's ``eval_every``) and :math:`p` the patience::

        θ* ← θ;  i* ← i;  v ← ∞;  j ← 0
        while j < p:
            train for n steps;  i ← i + n
            v' ← ValidationSetError(θ)
            if v' < v:  j ← 0;  θ* ← θ;  i* ← i;  v ← v'
            else:       j ← j + 1
        return θ*, i*

    :meth:`on_evaluate` is the body of the loop after "train for n steps". A value that
    is not strictly smaller than the best so far (a tie, or NaN) counts as "worse", as
    in the algorithm.

    Parameters
    ----------
    monitor : str
        The validation metric, a name the trainer's evaluation produces: ``"val_loss"``
        (the surrogate loss) or ``"val_error"`` (the 0-1 error, which Deep Learning 7.7 (published 7.8)
        recommends as an early-stopping criterion even though it cannot be trained on),
        or any custom metric. Smaller must be better.
    patience : int
        :math:`p`, the number of evaluations in a row without improvement after which
        training stops.
    restore_best : bool
        At the end of the run, load θ* into the model (the algorithm's output).
    stop : bool
        End the run when patience runs out (the algorithm). With ``stop=False`` the run
        goes on to its step or epoch budget, which draws the whole learning curve, while
        θ*, i* and the stop stay those of Algorithm 7.1: once patience has run out,
        later evaluations are ignored.

    Attributes
    ----------
    best_value : float
        :math:`v`, the best validation value (``inf`` before the first evaluation).
    best_step : int
        :math:`i^*`, the number of training steps at which θ* was taken.
    best_epoch : float
        The same moment counted in epochs (passes over the training data).
    best_state : dict
        θ*: a copy of ``model.state_dict()`` (parameters and buffers).
    wait : int
        :math:`j`, evaluations since the last improvement.
    stopped_early : bool
        Whether patience ran out (False if the run ended for another reason, for
        example its step budget).
    stop_step : int or None
        The step at which patience ran out: where Algorithm 7.1 ends.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, restore_best: bool = True,
                 stop: bool = True):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be the name of a metric such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        self.patience = _check_positive_int(patience, "patience")
        self.restore_best = bool(restore_best)
        self.stop = bool(stop)
        self.best_value = math.inf
        self.best_step = 0
        self.best_epoch = 0.0
        self.best_state = None
        self.wait = 0
        self.stopped_early = False
        self.stop_step = None

    def on_fit_start(self, trainer):
        if trainer.eval_every is None:
            raise ValueError(
                "EarlyStopping needs evaluations on a validation set: call fit(..., "
                "eval_sets={'val': (X_val, y_val)}, eval_every=n)")
        # θ* ← θ_o, i* ← i, v ← ∞, j ← 0
        self.best_value = math.inf
        self.best_step = trainer.step
        self.best_epoch = trainer.epochs_done()
        self.best_state = trainer.model.state_dict()
        self.wait = 0
        self.stopped_early = False
        self.stop_step = None

    def on_evaluate(self, trainer, logs):
        """One pass of Algorithm 7.1's loop after "train for n steps": compare v' (the
        monitored value in ``logs``) with v, update θ*, i*, v and j, and stop when j reaches p."""
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping(monitor={self.monitor!r}): the evaluation produced "
                           f"{sorted(logs)}; choose one of those")
        if self.stopped_early:
            return                           # the algorithm has ended (only with stop=False)
        value = float(logs[self.monitor])  # v'
        if value < self.best_value:          # if v' < v
            self.wait = 0                    # j ← 0
            self.best_state = trainer.model.state_dict()  # θ* ← θ (a copy)
            self.best_step = trainer.step    # i* ← i
            self.best_epoch = trainer.epochs_done()
            self.best_value = value          # v ← v'
        else:
            self.wait += 1                   # j ← j + 1
        if self.wait >= self.patience:       # while j < p
            self.stopped_early = True
            self.stop_step = trainer.step
            if self.stop:
                trainer.stop_training = True

    def on_fit_end(self, trainer):
        if self.restore_best and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self):
        state = {"best_value": self.best_value, "best_step": self.best_step,
                 "best_epoch": self.best_epoch, "wait": self.wait,
                 "stopped_early": self.stopped_early,
                 "stop_step": -1 if self.stop_step is None else self.stop_step}
        for name, array in (self.best_state or {}).items():
            state["best_state." + name] = array
        return state

    def load_state_dict(self, state):
        self.best_value = float(_as_python_number(state["best_value"]))
        self.best_step = int(_as_python_number(state["best_step"]))
        self.best_epoch = float(_as_python_number(state["best_epoch"]))
        self.wait = int(_as_python_number(state["wait"]))
        self.stopped_early = bool(_as_python_number(state["stopped_early"]))
        stop_step = int(_as_python_number(state["stop_step"]))
        self.stop_step = None if stop_step < 0 else stop_step
        prefix = "best_state."
        self.best_state = {key[len(prefix):]: np.array(value) for key, value in state.items()
                           if key.startswith(prefix)} or None

    def __repr__(self):
        return f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, stop={self.stop})"


class StopAtTarget(Callback):
    """Stop as soon as a monitored metric is at or below a target value.

    This is the loop condition of Deep Learning, Algorithm 7.3: keep training on all the
    data *while* ``J(θ, X_valid) > ε``. The trainer's step budget (``max_steps``) is the
    bound that makes the loop end even when the target is never reached.

    Attributes
    ----------
    reached : bool
        Whether an evaluation found ``logs[monitor] <= target``.
    """

    def __init__(self, monitor: str, target: float):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be the name of a metric such as 'val_loss', got {monitor!r}")
        if isinstance(target, bool) or not isinstance(target, numbers.Real) or math.isnan(target):
            raise ValueError(f"target must be a number, got {target!r}")
        self.monitor = monitor
        self.target = float(target)
        self.reached = False

    def on_fit_start(self, trainer):
        if trainer.eval_every is None:
            raise ValueError("StopAtTarget needs evaluations: call fit(..., eval_sets=..., eval_every=n)")

    def on_evaluate(self, trainer, logs):
        if self.monitor not in logs:
            raise KeyError(f"StopAtTarget(monitor={self.monitor!r}): the evaluation produced "
                           f"{sorted(logs)}; choose one of those")
        if float(logs[self.monitor]) <= self.target:
            self.reached = True
            trainer.stop_training = True

    def state_dict(self):
        return {"reached": self.reached}

    def load_state_dict(self, state):
        self.reached = bool(_as_python_number(state["reached"]))


# --------------------------------------------------------------------------------------
# Learning-rate schedules
# --------------------------------------------------------------------------------------


class LearningRateSchedule(Callback):
    """Set ``optimizer.lr = schedule(t)`` before each step or each epoch.

    Parameters
    ----------
    schedule : callable
        ``schedule(t) -> lr``, for example :class:`minireg.optim.StepDecay`.
    per : {"step", "epoch"}
        What ``t`` counts: training steps done so far, or epochs done so far.
    """

    def __init__(self, schedule, per: str = "epoch"):
        if not callable(schedule):
            raise TypeError(f"schedule must be callable as schedule(t) -> lr, got {type(schedule).__name__}")
        if per not in ("step", "epoch"):
            raise ValueError(f"per must be 'step' or 'epoch', got {per!r}")
        self.schedule = schedule
        self.per = per

    def on_step_begin(self, trainer):
        if self.per == "step":
            trainer.optimizer.lr = float(self.schedule(trainer.step))

    def on_epoch_begin(self, trainer):
        if self.per == "epoch":
            trainer.optimizer.lr = float(self.schedule(trainer.epoch))

    def __repr__(self):
        return f"LearningRateSchedule({self.schedule!r}, per={self.per!r})"


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------


class Checkpoint(Callback):
    """Save the whole training state to one ``.npz`` file, atomically, now and then.

    The file holds the model (parameters and buffers), the optimizer (momentum, Adam
    moments, learning rate), the trainer (step, epoch, position inside the epoch, the
    history) and every random generator involved (the trainer's, the data loader's, and
    those of layers such as dropout), plus the state of the other callbacks. So
    ``trainer.fit(..., resume_from=path)`` continues exactly where the run was, and
    gives the same result as a run that was never interrupted.

    The file is written through :func:`minireg.io.save_npz_atomic` (temporary file,
    fsync, rename): an interruption while saving leaves the previous checkpoint intact.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (over)write.
    every_steps : int, optional
        Save every this many training steps.
    every_epochs : int, optional
        Save every this many epochs (default 1 when ``every_steps`` is not given).

    Attributes
    ----------
    last_saved_step : int or None
        The trainer's step count in the most recent checkpoint written by this run.
    """

    def __init__(self, path, every_steps: int | None = None, every_epochs: int | None = None):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if every_steps is None and every_epochs is None:
            every_epochs = 1
        self.path = os.fspath(path)
        self.every_steps = None if every_steps is None else _check_positive_int(every_steps, "every_steps")
        self.every_epochs = None if every_epochs is None else _check_positive_int(every_epochs, "every_epochs")
        self.last_saved_step = None

    def on_step_end(self, trainer, logs):
        if self.every_steps is not None and trainer.step % self.every_steps == 0:
            self.save(trainer)

    def on_epoch_end(self, trainer, logs):
        if self.every_epochs is not None and trainer.epoch % self.every_epochs == 0:
            self.save(trainer)

    def save(self, trainer):
        trainer.save_checkpoint(self.path)
        self.last_saved_step = trainer.step

    def __repr__(self):
        return f"Checkpoint({self.path!r}, every_steps={self.every_steps}, every_epochs={self.every_epochs})"
