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

import json
import math
import numbers
import os
import sys

import numpy as np

from minireg import io
from minireg.regularizers.base import Regularizer
from minireg.tensor import Tensor, no_grad
from minireg.training.callbacks import Callback, Checkpoint, History

CHECKPOINT_FORMAT = 1


# --------------------------------------------------------------------------------------
# Metrics computed on a whole held-out set
# --------------------------------------------------------------------------------------


def zero_one_error(outputs: np.ndarray, targets: np.ndarray) -> float:
    """The fraction of examples whose predicted class (the largest output) is wrong.

    The 0-1 loss cannot be trained on (its derivative is zero almost everywhere) but
    it is the usual early-stopping criterion (Deep Learning 7.7, "surrogate loss").

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
# Random generators: their states are saved in checkpoints as JSON
# --------------------------------------------------------------------------------------


def _generator_state(rng: np.random.Generator) -> dict:
    """The state of a Generator's bit generator, JSON-ready (arrays become lists)."""
    state = rng.bit_generator.state

    def plain(value):
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, np.ndarray):
            return {"__array__": value.tolist(), "dtype": str(value.dtype)}
        if isinstance(value, np.integer):
            return int(value)
        return value

    return plain(state)


def _set_generator_state(rng: np.random.Generator, state: dict) -> None:
    def restore(value):
        if isinstance(value, dict) and "__array__" in value:
            return np.array(value["__array__"], dtype=value["dtype"])
        if isinstance(value, dict):
            return {key: restore(item) for key, item in value.items()}
        return value

    rng.bit_generator.state = restore(state)


def _module_generators(model) -> dict:
    """``{module name: Generator}`` for the layers that draw random numbers while training
    (dropout, noise, stochastic depth keep theirs in an attribute named ``rng``)."""
    found = {}
    for name, module in model.named_modules():
        rng = getattr(module, "rng", None)
        if isinstance(rng, np.random.Generator):
            found[name] = rng
    return found


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
        Their hooks are called at the places of :meth:`train_step`, in this order.
    rng : numpy.random.Generator or int
        The generator passed to ``Regularizer.transform_batch`` (data-side randomness).
        Its state is saved in checkpoints.
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
    """

    def __init__(self, model, loss_fn, optimizer, regularizers=(), rng=0, metrics=None,
                 eval_batch_size: int = 1000):
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable as loss_fn(outputs, targets), got {type(loss_fn).__name__}")
        self.regularizers = list(regularizers)
        for index, regularizer in enumerate(self.regularizers):
            if not isinstance(regularizer, Regularizer):
                raise TypeError(f"regularizers[{index}] must be a minireg Regularizer, got "
                                f"{type(regularizer).__name__}")
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
        """
        self.model.train()
        # (1) data side: augmentation, input noise, label smoothing, mixup ...
        for regularizer in self.regularizers:
            x, y = regularizer.transform_batch(x, y, self.rng)
        # (2) stochastic layers (dropout, noise, ...) act inside the forward pass,
        #     because model.train() switched them on
        inputs = Tensor(x)
        outputs = self.model(inputs)
        loss = self.loss_fn(outputs, y)
        # (3) penalties added to the loss: J~(θ) = J(θ) + α Ω(θ)   (Deep Learning, eq. 7.2)
        penalty = 0.0
        for regularizer in self.regularizers:
            term = regularizer.penalty(self.model, inputs, outputs)
            if term is not None:
                loss = loss + term
                penalty += float(term.item())
        self.optimizer.zero_grad()
        loss.backward()
        # (4) gradient side: clipping, decoupled weight decay ... (change p.grad in place)
        for regularizer in self.regularizers:
            regularizer.transform_gradients(self.model)
        self.optimizer.step()
        # (5) constraints and proximal steps after the update: max-norm, prox of L1/GrOWL
        for regularizer in self.regularizers:
            regularizer.after_step(self.model, self.optimizer.lr)
        self.step += 1
        value = float(loss.item())
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the training loss became {value} at step {self.step}; lower the learning rate "
                "or check the data for NaN/inf")
        return {"loss": value, "penalty": penalty}

    # ---- evaluation ---------------------------------------------------------------------

    def predict(self, X) -> np.ndarray:
        """The model's outputs on ``X``, in evaluation mode, batch by batch, as NumPy."""
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        outputs = []
        try:
            with no_grad():
                for start in range(0, len(X), self.eval_batch_size):
                    outputs.append(self.model(Tensor(X[start:start + self.eval_batch_size])).data)
        finally:
            self.model.train(was_training)
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
            callbacks=(), resume_from=None) -> History:
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
            self._say_how_to_resume(callbacks)
            raise
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
                self._loader_state_at_epoch_start = _generator_state(loader_rng)
        elif isinstance(loader_rng, np.random.Generator) and self._loader_state_at_epoch_start:
            # resuming inside an epoch: replay the same order and skip the batches done
            _set_generator_state(loader_rng, self._loader_state_at_epoch_start)
        batches = iter(train_loader)
        for _ in range(self.batch_in_epoch):
            next(batches)
        for x, y in batches:
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
        self._end_epoch(callbacks)

    def _end_epoch(self, callbacks):
        self.epoch += 1
        self.batch_in_epoch = 0
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

    def _say_how_to_resume(self, callbacks):
        checkpoints = [c for c in callbacks if isinstance(c, Checkpoint)]
        saved = [c for c in checkpoints if c.last_saved_step is not None]
        if saved:
            where = saved[-1]
            message = (f"\nTraining interrupted at step {self.step}. The checkpoint {where.path!r} "
                       f"(step {where.last_saved_step}) is complete; continue with "
                       f"trainer.fit(..., resume_from={where.path!r}).\n")
        elif checkpoints:
            message = f"\nTraining interrupted at step {self.step}, before its first checkpoint.\n"
        else:
            message = (f"\nTraining interrupted at step {self.step}; no checkpoint was written "
                       "(add a Checkpoint callback to be able to resume).\n")
        sys.stderr.write(message)
        sys.stderr.flush()

    # ---- checkpoints ----------------------------------------------------------------------

    def _trainer_state(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "stop_training": self.stop_training,
            "eval_origin": self.eval_origin,
            "loss_sum": self._loss_sum,
            "loss_count": self._loss_count,
            "rng": _generator_state(self.rng),
            "loader_rng_at_epoch_start": self._loader_state_at_epoch_start,
            "loader_rng_now": self._loader_state_now(),
            "module_rngs": {name: _generator_state(rng) for name, rng in _module_generators(self.model).items()},
            "history": self.history.to_dict(),
        }

    def _loader_state_now(self):
        loader_rng = getattr(self.train_loader, "rng", None)
        return _generator_state(loader_rng) if isinstance(loader_rng, np.random.Generator) else None

    def save_checkpoint(self, path) -> None:
        """Write model, optimizer, trainer, random generators and the states of the
        callbacks of the current :meth:`fit` to one ``.npz`` file, atomically."""
        arrays = {"trainer": np.array(json.dumps(self._trainer_state()))}
        for name, array in self.model.state_dict().items():
            arrays["model." + name] = array
        for name, value in self.optimizer.state_dict().items():
            arrays["optimizer." + name] = np.asarray(value)
        for key, callback in _callback_keys(self.callbacks):
            for name, value in callback.state_dict().items():
                arrays[f"callback.{key}.{name}"] = np.asarray(value)
        folder = os.path.dirname(os.path.abspath(os.fspath(path)))
        os.makedirs(folder, exist_ok=True)
        io.save_npz_atomic(path, **arrays)

    def load_checkpoint(self, path, train_loader=None, callbacks=()) -> None:
        """Restore everything :meth:`save_checkpoint` wrote (used by ``fit(resume_from=...)``)."""
        if not os.path.isfile(os.fspath(path)):
            raise FileNotFoundError(f"resume_from={os.fspath(path)!r}: no such checkpoint file")
        arrays = io.load_npz(path)
        if "trainer" not in arrays:
            raise ValueError(f"{os.fspath(path)!r} is not a minireg training checkpoint (no 'trainer' entry)")
        state = json.loads(str(arrays["trainer"]))
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint format {state.get('format')} is not supported (expected {CHECKPOINT_FORMAT})")

        def part(prefix):
            return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}

        callback_states = {}
        for key, value in part("callback.").items():
            owner, name = key.split(".", 1)
            callback_states.setdefault(owner, {})[name] = value
        keyed = _callback_keys(callbacks)
        unknown = sorted(set(callback_states) - {key for key, _ in keyed})
        if unknown:
            raise ValueError(f"the checkpoint holds the state of callbacks {unknown} that were not passed to "
                             "fit(); pass the same callbacks as the interrupted run")

        self.model.load_state_dict(part("model."))
        self.optimizer.load_state_dict(part("optimizer."))
        for key, callback in keyed:
            if key in callback_states:        # stateless callbacks have nothing saved
                callback.load_state_dict(callback_states[key])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.stop_training = bool(state["stop_training"])
        self.eval_origin = int(state["eval_origin"])
        self._loss_sum = float(state["loss_sum"])
        self._loss_count = int(state["loss_count"])
        _set_generator_state(self.rng, state["rng"])
        self._loader_state_at_epoch_start = state["loader_rng_at_epoch_start"]
        loader_rng = getattr(train_loader, "rng", None)
        if self.batch_in_epoch == 0 and state["loader_rng_now"] and isinstance(loader_rng, np.random.Generator):
            # between two epochs: the loader continues from where it was
            # (inside an epoch, _run_epoch replays the epoch from its start instead)
            _set_generator_state(loader_rng, state["loader_rng_now"])
        generators = _module_generators(self.model)
        for name, rng_state in state["module_rngs"].items():
            if name not in generators:
                raise ValueError(f"the checkpoint has a random generator for layer {name!r}, which this model lacks")
            _set_generator_state(generators[name], rng_state)
        self.history = History.from_dict(state["history"])
        if train_loader is not None and self.batch_in_epoch > len(train_loader):
            raise ValueError(f"the checkpoint is {self.batch_in_epoch} batches into an epoch, but the loader "
                             f"has only {len(train_loader)} batches: pass the same loader as the interrupted run")


def _callback_keys(callbacks) -> list:
    """``[(key, callback)]`` with keys such as ``"EarlyStopping#0"`` (class name and
    occurrence), which name each callback's state inside a checkpoint."""
    counts, keyed = {}, []
    for callback in callbacks:
        name = type(callback).__name__
        keyed.append((f"{name}#{counts.get(name, 0)}", callback))
        counts[name] = counts.get(name, 0) + 1
    return keyed
