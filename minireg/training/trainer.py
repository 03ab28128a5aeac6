"""The Trainer: the training step with its five places for regularizers, and the loop.

Read :meth:`Trainer.train_step` first. It is the picture of ``docs/training.md``
written as code::

    batch -> (1) data side -> model.forward -> loss -> (3) + penalties -> backward
          -> (4) gradient side -> optimizer.step -> (5) constraints / prox
    (2) stochastic layers live inside the model, switched on by model.train()

:meth:`Trainer.fit` repeats the step over the batches of a data loader, evaluates the
model on held-out sets every ``eval_every`` steps, records everything in a
:class:`~minireg.training.callbacks.History`, and calls the callbacks (early stopping,
schedules, checkpoints, progress) at fixed moments. It can resume from a checkpoint
and then gives exactly the result of a run that was never interrupted.
"""
from __future__ import annotations

import math
import numbers
import os
import sys

import numpy as np

from minireg.regularizers.base import Regularizer, StepContext
from minireg.tensor import Tensor, no_grad
from minireg.training import checkpoint
from minireg.training.callbacks import Callback, Checkpoint, History
from minireg.training.progress import ProgressBar


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by :meth:`Trainer.fit` when Ctrl-C interrupts it.

    Its message is the one instruction for continuing: which checkpoint to pass as
    ``resume_from`` (or that none was written yet). It is a KeyboardInterrupt, so code
    that handles Ctrl-C keeps working; the command line prints its own instruction
    (``minireg resume FOLDER``) instead.

    Attributes
    ----------
    step : int
        The updates made when the run was interrupted.
    checkpoint : str or None
        The last complete checkpoint, or None when none was written.
    """

    def __init__(self, message: str, step: int, checkpoint):
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint


# --------------------------------------------------------------------------------------
# Metrics computed on a whole held-out set
# --------------------------------------------------------------------------------------


def zero_one_error(outputs: np.ndarray, targets: np.ndarray) -> float:
    """The fraction of examples whose predicted class (the largest output) is wrong.

    The 0-1 loss cannot be trained on (its derivative is zero almost everywhere) but
    it is the usual early-stopping criterion (Deep Learning 7.7, published 7.8, "surrogate loss").

    Parameters
    ----------
    outputs : ndarray, shape (N, K)
        Logits or probabilities.
    targets : ndarray, shape (N,) of class indices, or (N, K) of class probabilities
        (the most probable class is the label).
    """
    outputs = np.asarray(outputs)
    targets = np.asarray(targets)
    if outputs.ndim != 2:
        raise ValueError(f"zero_one_error needs outputs of shape (N, K), got {outputs.shape}")
    labels = targets.argmax(axis=1) if targets.ndim == 2 else targets
    if labels.shape != (outputs.shape[0],):
        raise ValueError(f"targets of shape {targets.shape} do not match outputs of shape {outputs.shape}")
    return float(np.mean(outputs.argmax(axis=1) != labels))


def _is_classification(outputs: np.ndarray, targets: np.ndarray) -> bool:
    """Class-index targets (N,) for outputs (N, K) with K >= 2 classes, or soft targets of
    the outputs' shape (rows summing to one)."""
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        return False
    if targets.ndim == 1 and targets.dtype.kind in "iu":
        return True
    return (targets.shape == outputs.shape and targets.dtype.kind == "f"
            and bool(np.allclose(targets.sum(axis=1), 1.0)))


# --------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------


class Trainer:
    """Train a model with a loss, an optimizer and a list of regularizers.

    Parameters
    ----------
    model : minireg.nn.Module
    loss_fn : callable
        ``loss_fn(outputs, targets) -> scalar Tensor`` averaged over the batch, e.g.
        :func:`minireg.losses.cross_entropy`.
    optimizer : minireg.optim.Optimizer
        Built on ``model.parameters()``.
    regularizers : sequence of Regularizer
        Their hooks are called at the places of :meth:`train_step`, in this order. Each
        is attached to the model here (:meth:`Regularizer.attach`), so that a layer or a
        parameter it names that the model lacks is reported now, before any training.
    rng : numpy.random.Generator or int
        The generator the regularizers' hooks get as ``step.rng`` (data-side
        randomness, noise). Its state is saved in checkpoints.
    metrics : dict, optional
        Extra metrics for :meth:`evaluate`: ``{name: fn(outputs, targets) -> float}`` on
        NumPy arrays of the whole set. ``"loss"`` is always computed, and ``"error"``
        (:func:`zero_one_error`) for classification.
    eval_batch_size : int
        Batch size of the forward passes of :meth:`evaluate` and :meth:`predict`.

    Attributes
    ----------
    step : int
        Training steps (parameter updates) done so far: :math:`i` of Algorithm 7.1.
    epoch : int
        Complete passes over the training data so far.
    batch_in_epoch : int
        Batches done in the current pass.
    history : History
        Every recorded metric.
    stop_training : bool
        Set by a callback to end :meth:`fit` after the current step.
    fit_budget : tuple
        ``(epochs, max_steps)`` of the current :meth:`fit`, None for a limit not set.
    """

    def __init__(self, model, loss_fn, optimizer, regularizers=(), rng=0, metrics=None,
                 eval_batch_size: int = 1000):
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable as loss_fn(outputs, targets), got {type(loss_fn).__name__}")
        _check_optimizer_updates(model, optimizer)
        self.regularizers = list(regularizers)
        for index, regularizer in enumerate(self.regularizers):
            if not isinstance(regularizer, Regularizer):
                raise TypeError(f"regularizers[{index}] must be a minireg Regularizer, got "
                                f"{type(regularizer).__name__}")
            regularizer.attach(model)
        self.inputs_need_grad = any(r.needs_input_grad for r in self.regularizers)
        if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
            rng = np.random.default_rng(int(rng))
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")
        self.metrics = dict(metrics or {})
        for name, fn in self.metrics.items():
            if not callable(fn):
                raise TypeError(f"metrics[{name!r}] must be callable as fn(outputs, targets) -> float")
        if isinstance(eval_batch_size, bool) or not isinstance(eval_batch_size, numbers.Integral) \
                or eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be an integer >= 1, got {eval_batch_size!r}")
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.rng = rng
        self.eval_batch_size = int(eval_batch_size)
        self.history = History()
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.steps_per_epoch = None
        self.stop_training = False
        self.fit_budget = (None, None)  # (epochs, max_steps) of the current fit()
        self.eval_every = None
        self.eval_sets = {}
        self.eval_origin = 0
        self.last_evaluation = {}  # the metrics of the most recent evaluation
        self.callbacks = []       # those of the current fit(), whose states checkpoints keep
        self.train_loader = None  # that of the current fit(), whose generator checkpoints keep
        self._loss_sum = 0.0      # minibatch losses of the current epoch, summed
        self._loss_count = 0
        self._loader_state_at_epoch_start = None

    # ---- the training step ------------------------------------------------------------

    def train_step(self, x, y) -> dict:
        """One update of the parameters on the batch ``(x, y)``: the five places.

        Returns
        -------
        dict
            ``"loss"``: the minimized objective on this batch (data loss plus penalties);
            ``"penalty"``: the penalties' part of it.

        Raises
        ------
        FloatingPointError
            When the objective is NaN or infinite; it is checked before ``backward``, so
            the parameters are left as they were before the step.
        """
        if not self.model.training:   # walking the module tree costs ~7 µs; do it only when needed
            self.model.train()
        step = StepContext(self.model, self.loss_fn, self.rng, self.step, self.epoch, float(self.optimizer.lr))
        # (1) data side: augmentation, input noise, label smoothing, mixup ...
        for regularizer in self.regularizers:
            x, y = regularizer.transform_batch(x, y, step)
        # (2) stochastic layers (dropout, noise, ...) act inside the forward pass,
        #     because model.train() switched them on
        step.inputs = Tensor(x, requires_grad=self.inputs_need_grad)
        step.targets = y
        step.outputs = self.model(step.inputs)
        step.data_loss = loss = self.loss_fn(step.outputs, y)
        # (3) penalties added to the loss: J~(θ) = J(θ) + α Ω(θ)   (Deep Learning, eq. 7.2)
        penalty = 0.0
        for regularizer in self.regularizers:
            term = regularizer.penalty(step)
            if term is not None:
                loss = loss + term
                penalty += float(term.item())
        value = float(loss.item())
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the training objective is {value} at step {self.step + 1} (penalties: {penalty}); the "
                "parameters were not updated. Lower the learning rate or check the data for NaN/inf")
        self.optimizer.zero_grad()
        loss.backward()
        # (4) gradient side: clipping, decoupled weight decay ... (change p.grad in place)
        for regularizer in self.regularizers:
            regularizer.transform_gradients(step)
        self.optimizer.step()
        # (5) constraints and proximal steps after the update: max-norm, prox of L1/GrOWL
        for regularizer in self.regularizers:
            regularizer.after_step(step)
        self.step += 1
        return {"loss": value, "penalty": penalty}

    # ---- evaluation ---------------------------------------------------------------------

    def predict(self, X, stochastic: bool = False) -> np.ndarray:
        """The model's outputs on ``X``, in evaluation mode, batch by batch, as NumPy.

        With ``stochastic=True`` the stochastic layers (dropout, noise: those whose
        class sets ``stochastic = True``) stay switched on while everything else --
        batch normalization above all -- is in evaluation mode: one sample of a
        Monte-Carlo prediction such as MC dropout. Average several calls for the MC
        estimate; each call draws new masks from the layers' generators.
        """
        modes = [(module, module.training) for module in self.model.modules()]
        self.model.eval(stochastic=stochastic)
        outputs = []
        try:
            with no_grad():
                for start in range(0, len(X), self.eval_batch_size):
                    outputs.append(self.model(Tensor(X[start:start + self.eval_batch_size])).data)
        finally:
            for module, mode in modes:
                module.training = mode
        return np.concatenate(outputs, axis=0)

    def evaluate(self, X, y) -> dict:
        """The data loss (no penalties) and the metrics on a whole set, in evaluation mode.

        Returns
        -------
        dict
            ``{"loss": mean loss, "error": 0-1 error (classification only), <metric>: ...}``.
        """
        X = np.asarray(X)
        y = np.asarray(y)
        if len(X) != len(y) or len(X) == 0:
            raise ValueError(f"evaluate needs as many targets as inputs, at least one; got {len(X)} and {len(y)}")
        outputs = self.predict(X)
        loss_sum = 0.0
        with no_grad():
            for start in range(0, len(X), self.eval_batch_size):
                stop = start + self.eval_batch_size
                batch_loss = self.loss_fn(Tensor(outputs[start:stop]), y[start:stop])
                loss_sum += float(batch_loss.item()) * len(outputs[start:stop])
        results = {"loss": loss_sum / len(X)}
        if _is_classification(outputs, y):
            results["error"] = zero_one_error(outputs, y)
        for name, fn in self.metrics.items():
            results[name] = float(fn(outputs, y))
        return results

    def _evaluate_held_out(self) -> dict:
        """Evaluate every set of ``eval_sets``; record and return ``{"<set>_<metric>": value}``."""
        logs = {}
        for set_name, (X, y) in self.eval_sets.items():
            for metric, value in self.evaluate(X, y).items():
                logs[f"{set_name}_{metric}"] = value
        for name, value in logs.items():
            self.history.record(name, value, self.step, self.epochs_done())
        self.last_evaluation = logs
        return logs

    # ---- counters -----------------------------------------------------------------------

    def epochs_done(self) -> float:
        """Passes over the training data so far, counting the current one fractionally."""
        if not self.steps_per_epoch:
            return float(self.epoch)
        return self.epoch + self.batch_in_epoch / self.steps_per_epoch

    def running_loss(self) -> float:
        """Mean minibatch loss of the current epoch so far (nan before its first step)."""
        return self._loss_sum / self._loss_count if self._loss_count else math.nan

    # ---- the loop -----------------------------------------------------------------------

    def fit(self, train_loader, epochs=None, max_steps=None, eval_sets=None, eval_every=None,
            callbacks=(), resume_from=None, progress=None) -> History:
        """Train until ``epochs`` or ``max_steps`` is reached or a callback stops the run.

        Parameters
        ----------
        train_loader : iterable of (x, y) batches with ``len()``
            One pass is one epoch; :class:`minireg.datasets.DataLoader` for example. For
            an exact resume, a shuffling loader must draw its order from a Generator
            stored as ``train_loader.rng`` when a pass begins (DataLoader does).
        epochs, max_steps : int, optional
            Totals counted from the trainer's start (not from this call): the run ends
            when ``self.epoch == epochs`` or ``self.step == max_steps``. At least one.
        eval_sets : dict, optional
            ``{name: (X, y)}``; each evaluation records ``"<name>_loss"``,
            ``"<name>_error"``, ... in the history, e.g. ``{"val": (X_val, y_val)}``.
        eval_every : int or "epoch", optional
            Evaluate every this many steps (:math:`n` of Algorithm 7.1), or at the end of
            each epoch. Required with ``eval_sets``.
        callbacks : sequence of Callback
        progress : bool or None
            Show the progress (:class:`~minireg.training.progress.ProgressBar`: epoch k/N,
            batch, loss, rate, time left). ``None`` (the default): a bar when standard
            error is a terminal, nothing otherwise; ``True``: always (plain lines in a
            log); ``False``: never. A ProgressBar among ``callbacks`` is used as given.
        resume_from : path, optional
            A checkpoint written by :class:`~minireg.training.callbacks.Checkpoint`.
            Pass the same loader, sets and callbacks as the interrupted run.

        Returns
        -------
        History
            ``self.history``.
        """
        epochs = self._check_budget(epochs, "epochs")
        max_steps = self._check_budget(max_steps, "max_steps")
        if epochs is None and max_steps is None:
            raise ValueError("fit needs a budget: give epochs=..., max_steps=..., or both")
        self._configure_evaluation(eval_sets, eval_every)
        callbacks = list(callbacks)
        for index, callback in enumerate(callbacks):
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks[{index}] must be a minireg Callback, got {type(callback).__name__}")
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"progress must be True, False or None (a bar on a terminal), got {progress!r}")
        wants_bar = progress if progress is not None else _stderr_is_a_terminal()
        if wants_bar and not any(isinstance(c, ProgressBar) for c in callbacks):
            callbacks.append(ProgressBar())
        self.fit_budget = (epochs, max_steps)      # what a ProgressBar counts towards
        try:
            self.steps_per_epoch = len(train_loader)
        except TypeError:
            raise TypeError("train_loader must have a length (the number of batches per epoch)") from None
        if self.steps_per_epoch < 1:
            raise ValueError("train_loader yields no batches")

        self.callbacks = callbacks
        self.train_loader = train_loader
        self.eval_origin = self.step       # evaluations come every eval_every steps from here
        self.stop_training = False
        self.batch_in_epoch = 0
        for callback in callbacks:
            callback.on_fit_start(self)
        if resume_from is not None:
            self.load_checkpoint(resume_from, train_loader, callbacks)
            for callback in callbacks:      # that file is the last complete checkpoint for now
                if isinstance(callback, Checkpoint) and os.path.abspath(callback.path) == os.path.abspath(resume_from):
                    callback.last_saved_step = self.step

        try:
            while not self._budget_spent(epochs, max_steps):
                self._run_epoch(train_loader, callbacks, epochs, max_steps)
        except KeyboardInterrupt:
            for callback in callbacks:
                if isinstance(callback, ProgressBar):
                    callback.close()            # the next line starts clean
            raise self._interrupted(callbacks) from None
        for callback in callbacks:
            callback.on_fit_end(self)
        return self.history

    def _run_epoch(self, train_loader, callbacks, epochs, max_steps):
        """One pass over the loader (or the rest of one, after a resume)."""
        loader_rng = getattr(train_loader, "rng", None)
        if self.batch_in_epoch == 0:
            for callback in callbacks:
                callback.on_epoch_begin(self)
            self._loss_sum, self._loss_count = 0.0, 0
            if isinstance(loader_rng, np.random.Generator):
                self._loader_state_at_epoch_start = checkpoint.generator_state(loader_rng)
        elif isinstance(loader_rng, np.random.Generator) and self._loader_state_at_epoch_start:
            # resuming inside an epoch: replay the same order and skip the batches done
            checkpoint.set_generator_state(loader_rng, self._loader_state_at_epoch_start)
        batches = iter(train_loader)
        for _ in range(self.batch_in_epoch):
            if next(batches, None) is None:
                self._loader_broke_its_length()
        for x, y in batches:
            if self.batch_in_epoch == self.steps_per_epoch:
                self._loader_broke_its_length(more=True)
            for callback in callbacks:
                callback.on_step_begin(self)
            logs = self.train_step(x, y)
            self.batch_in_epoch += 1
            self._loss_sum += logs["loss"]
            self._loss_count += 1
            if isinstance(self.eval_every, int) and (self.step - self.eval_origin) % self.eval_every == 0:
                eval_logs = self._evaluate_held_out()
                for callback in callbacks:
                    callback.on_evaluate(self, eval_logs)
            for callback in callbacks:
                callback.on_step_end(self, logs)
            if self.batch_in_epoch < self.steps_per_epoch and self._budget_spent(epochs, max_steps):
                return
        if self.batch_in_epoch < self.steps_per_epoch:
            self._loader_broke_its_length()
        self._end_epoch(callbacks)

    def _loader_broke_its_length(self, more=False):
        """A pass that yields fewer or more batches than ``len(loader)`` is an error: the
        epoch count, fractional epochs and exact resumption all rest on that length."""
        told = self.steps_per_epoch
        yielded = f"more than {told}" if more else f"only {self.batch_in_epoch}"
        raise RuntimeError(f"train_loader yielded {yielded} batches in epoch {self.epoch + 1}, but "
                           f"len(train_loader) is {told}; a loader must yield len() batches on every "
                           "pass (a generator is used up after one pass: give a re-iterable loader "
                           "such as minireg.datasets.DataLoader)")

    def _end_epoch(self, callbacks):
        self.epoch += 1
        self.batch_in_epoch = 0
        # (5) once per epoch: proximal steps applied per epoch, before evaluation sees the model
        step = StepContext(self.model, self.loss_fn, self.rng, self.step, self.epoch, float(self.optimizer.lr))
        for regularizer in self.regularizers:
            regularizer.after_epoch(step)
        epoch_logs = {"batch_loss": self.running_loss(), "lr": float(self.optimizer.lr)}
        for name, value in epoch_logs.items():
            self.history.record(name, value, self.step, self.epoch)
        if self.eval_every == "epoch":
            eval_logs = self._evaluate_held_out()
            for callback in callbacks:
                callback.on_evaluate(self, eval_logs)
        epoch_logs.update(self.last_evaluation)
        for callback in callbacks:
            callback.on_epoch_end(self, epoch_logs)

    def _budget_spent(self, epochs, max_steps) -> bool:
        return (self.stop_training
                or (max_steps is not None and self.step >= max_steps)
                or (epochs is not None and self.epoch >= epochs))

    @staticmethod
    def _check_budget(value, name):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0 (a total since the start), got {value!r}")
        return int(value)

    def _configure_evaluation(self, eval_sets, eval_every):
        eval_sets = dict(eval_sets or {})
        if eval_sets and eval_every is None:
            raise ValueError("eval_sets needs eval_every: a number of steps, or 'epoch'")
        if eval_every is not None and not eval_sets:
            raise ValueError("eval_every needs eval_sets, e.g. eval_sets={'val': (X_val, y_val)}")
        if eval_every is not None and eval_every != "epoch":
            if isinstance(eval_every, bool) or not isinstance(eval_every, numbers.Integral) or eval_every < 1:
                raise ValueError(f"eval_every must be an integer >= 1 or 'epoch', got {eval_every!r}")
            eval_every = int(eval_every)
        for name, pair in eval_sets.items():
            if not isinstance(name, str) or not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"eval_sets must map names to (X, y) pairs; entry {name!r} is not one")
        self.eval_sets = eval_sets
        self.eval_every = eval_every

    def _interrupted(self, callbacks) -> TrainingInterrupted:
        """The exception that tells how to continue after Ctrl-C."""
        checkpoints = [c for c in callbacks if isinstance(c, Checkpoint)]
        saved = [c for c in checkpoints if c.last_saved_step is not None]
        if saved:
            path = os.fspath(saved[-1].path)
            message = (f"training interrupted at step {self.step}; the checkpoint {path!r} (step "
                       f"{saved[-1].last_saved_step}) is complete: continue with "
                       f"trainer.fit(..., resume_from={path!r})")
            return TrainingInterrupted(message, self.step, path)
        if checkpoints:
            message = f"training interrupted at step {self.step}, before its first checkpoint was written"
        else:
            message = (f"training interrupted at step {self.step}; no checkpoint was written (add a "
                       "Checkpoint callback to be able to resume)")
        return TrainingInterrupted(message, self.step, None)

    # ---- checkpoints (minireg/training/checkpoint.py) ------------------------------------

    def save_checkpoint(self, path) -> None:
        """Write everything needed to continue this run exactly to ``path``, atomically
        (:func:`minireg.training.checkpoint.save_checkpoint`)."""
        checkpoint.save_checkpoint(self, path)

    def load_checkpoint(self, path, train_loader=None, callbacks=()) -> None:
        """Restore what :meth:`save_checkpoint` wrote, all or nothing (used by
        ``fit(resume_from=...)``; :func:`minireg.training.checkpoint.load_checkpoint`)."""
        checkpoint.load_checkpoint(self, path, train_loader, callbacks)


def _stderr_is_a_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _check_optimizer_updates(model, optimizer) -> None:
    """The optimizer must update this model's parameters: one built on another model's
    would train nothing without a word."""
    for name in ("step", "zero_grad", "state_dict", "load_state_dict"):
        if not callable(getattr(optimizer, name, None)):
            raise TypeError(f"optimizer must be a minireg optimizer (with {name}()), got {type(optimizer).__name__}")
    params = getattr(optimizer, "params", None)
    if params is None:
        return
    own = {id(p) for p in model.parameters()}
    strangers = [index for index, p in enumerate(params) if id(p) not in own]
    if strangers:
        raise ValueError(f"the optimizer updates {len(strangers)} of its {len(params)} parameters that are not "
                         f"this model's (the first is params[{strangers[0]}]); build it on this model, "
                         "e.g. SGD(model.parameters(), lr=...)")
