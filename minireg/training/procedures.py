"""Two ways to use the validation data again after early stopping (Deep Learning 7.7, published 7.8).

Early stopping (Algorithm 7.1, :class:`~minireg.training.callbacks.EarlyStopping`)
holds out a validation set, so the model never trains on it. Once early stopping has
told us *how long* to train (:math:`i^*`) or *how low* the training loss may go before
overfitting (:math:`\\epsilon`), the validation data can join the training data:

* :func:`retrain_on_all_data` -- Algorithm 7.2: start again from random parameters and
  train on all the data for :math:`i^*` steps. "Steps" may mean parameter updates or
  passes over the data; the book notes that there is no good way to know which, and
  that the same number of *epochs* is the usual choice when overfitting is the concern.
* :func:`continue_on_all_data` -- Algorithm 7.3: keep θ* and continue on all the data
  until the validation loss is no larger than the training (subtrain) loss at the stop.
  The book warns that this may never happen; here a step budget ends the loop, and the
  result says whether the target was reached.

The first half of both algorithms (split the training set, run Algorithm 7.1) is a
:meth:`Trainer.fit` with an ``EarlyStopping`` callback; see
:mod:`minireg.experiments.early_stopping` for the whole sequence.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

from minireg.compression import tie_and_prune
from minireg.training.callbacks import StopAtTarget
from minireg.training.trainer import Trainer


@dataclass
class RetrainResult:
    """What :func:`retrain_on_all_data` did.

    Attributes
    ----------
    trainer : Trainer
        The new trainer, whose model was trained on all the data.
    steps : int
        Parameter updates made on all the data.
    epochs : float
        The same, counted in passes over all the data.
    count : str
        ``"updates"`` or ``"epochs"``: what was kept equal to the early-stopping run.
    """

    trainer: Trainer
    steps: int
    epochs: float
    count: str


@dataclass
class ContinueResult:
    """What :func:`continue_on_all_data` did.

    Attributes
    ----------
    target : float
        :math:`\\epsilon = J(\\theta^*, X^{(subtrain)})`, the subtrain loss at the stop.
    reached : bool
        Whether the validation loss came down to ``target`` within the step budget.
    steps : int
        Parameter updates made on all the data.
    initial_validation_loss, final_validation_loss : float
        :math:`J(\\theta, X^{(valid)})` before and after.
    trainer : Trainer
        The same trainer that was passed in, trained further.
    """

    target: float
    reached: bool
    steps: int
    initial_validation_loss: float
    final_validation_loss: float
    trainer: Trainer


def _check_nonnegative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def retrain_steps(best_step: int, subtrain_steps_per_epoch: int, all_steps_per_epoch: int,
                  count: str = "epochs") -> int:
    """The number of updates on all the data that matches :math:`i^*` (Algorithm 7.2).

    With ``count="updates"`` it is :math:`i^*` itself. With ``count="epochs"`` it is the
    same number of passes over the (larger) data: :math:`i^*` / (batches per subtrain
    epoch) epochs, times the batches per epoch of all the data, rounded to an integer.
    """
    best_step = _check_nonnegative_int(best_step, "best_step")
    if count == "updates":
        return best_step
    if count != "epochs":
        raise ValueError(f"count must be 'updates' or 'epochs', got {count!r}")
    subtrain_steps_per_epoch = _check_nonnegative_int(subtrain_steps_per_epoch, "subtrain_steps_per_epoch")
    all_steps_per_epoch = _check_nonnegative_int(all_steps_per_epoch, "all_steps_per_epoch")
    if subtrain_steps_per_epoch == 0 or all_steps_per_epoch == 0:
        raise ValueError("the batches per epoch must be >= 1")
    return int(round(best_step / subtrain_steps_per_epoch * all_steps_per_epoch))


def retrain_on_all_data(make_trainer, all_loader, best_step: int, subtrain_steps_per_epoch: int | None = None,
                        count: str = "epochs", eval_sets=None, eval_every=None, callbacks=(),
                        resume_from=None) -> RetrainResult:
    """Algorithm 7.2, after early stopping: new random θ, then :math:`i^*` steps on all data.

    The algorithm (Deep Learning 7.7, published 7.8)::

        split X_train into X_subtrain, X_valid
        run early stopping (Alg. 7.1) on X_subtrain / X_valid   -> i*
        set θ to random values again
        train on X_train for i* steps

    This function does the last two lines.

    Parameters
    ----------
    make_trainer : callable
        ``make_trainer() -> Trainer`` with a freshly initialized model and optimizer
        (same architecture and hyperparameters as the early-stopping run).
    all_loader : loader
        Batches of all the training data (subtrain and validation together).
    best_step : int
        :math:`i^*`, e.g. ``EarlyStopping.best_step``.
    subtrain_steps_per_epoch : int
        Batches per epoch of the early-stopping run's loader (needed for ``"epochs"``).
    count : {"epochs", "updates"}
        Keep the number of passes over the data equal (default, the book's advice when
        overfitting is the concern) or the number of parameter updates.
    eval_sets, eval_every, callbacks
        Passed to :meth:`Trainer.fit` (for curves and progress; they do not stop it).
    resume_from : path, optional
        A checkpoint of this retraining (written by a ``Checkpoint`` callback) to
        continue from after an interruption.
    """
    if count == "epochs" and subtrain_steps_per_epoch is None:
        raise ValueError("count='epochs' needs subtrain_steps_per_epoch (batches per epoch of the subtrain loader)")
    steps = retrain_steps(best_step, subtrain_steps_per_epoch or 1, len(all_loader), count)
    trainer = make_trainer()
    if not isinstance(trainer, Trainer):
        raise TypeError(f"make_trainer() must return a Trainer, got {type(trainer).__name__}")
    if trainer.step != 0:
        raise ValueError("make_trainer() must return a new trainer (step 0) with random parameters")
    if steps > 0:
        trainer.fit(all_loader, max_steps=steps, eval_sets=eval_sets, eval_every=eval_every, callbacks=callbacks,
                    resume_from=resume_from)
    return RetrainResult(trainer=trainer, steps=trainer.step, epochs=trainer.step / len(all_loader), count=count)


def continue_on_all_data(trainer: Trainer, all_loader, subtrain_data, validation_data, every: int,
                         max_steps: int, callbacks=(), resume_from=None) -> ContinueResult:
    """Algorithm 7.3, after early stopping: continue on all the data down to the stop's loss.

    The algorithm (Deep Learning 7.7, published 7.8)::

        split X_train into X_subtrain, X_valid
        run early stopping (Alg. 7.1) on X_subtrain / X_valid   -> θ*
        ε ← J(θ*, X_subtrain)
        while J(θ, X_valid) > ε:
            train on X_train for n steps

    This function does the last three lines, with a bound: at most ``max_steps`` updates.

    Parameters
    ----------
    trainer : Trainer
        The trainer of the early-stopping run, holding θ* (``EarlyStopping`` restores it).
    all_loader : loader
        Batches of all the training data.
    subtrain_data, validation_data : (X, y)
        The two parts of the split, to measure :math:`J` (the data loss, without
        penalties) on.
    every : int
        :math:`n`, the steps between two checks of the validation loss.
    max_steps : int
        The bound: the most updates this phase may make.
    callbacks : sequence of Callback
        Extra callbacks for :meth:`Trainer.fit` (a progress printer, say).
    resume_from : path, optional
        A checkpoint of this continuation to resume from after an interruption; the
        target is still measured at θ*, which ``trainer`` must hold.
    """
    every = _check_nonnegative_int(every, "every")
    max_steps = _check_nonnegative_int(max_steps, "max_steps")
    if every == 0:
        raise ValueError("every must be >= 1")
    target = trainer.evaluate(*subtrain_data)["loss"]               # ε ← J(θ*, X_subtrain)
    initial = trainer.evaluate(*validation_data)["loss"]
    start = trainer.step
    reached = initial <= target
    if not reached and max_steps > 0:                               # while J(θ, X_valid) > ε
        stopper = StopAtTarget("val_loss", target)
        trainer.fit(all_loader, max_steps=start + max_steps, eval_sets={"val": validation_data},
                    eval_every=every, callbacks=[stopper, *callbacks], resume_from=resume_from)
        reached = stopper.reached
    final = trainer.evaluate(*validation_data)["loss"]
    return ContinueResult(target=target, reached=bool(reached), steps=trainer.step - start,
                          initial_validation_loss=initial, final_validation_loss=final, trainer=trainer)


# ---------------------------------------------------------------------------------------
# GrOWL's "learning to share" (Fig. 1): train sparse, cluster, tie, retrain
# ---------------------------------------------------------------------------------------

@dataclass
class LearnToShareResult:
    """What :func:`learn_to_share` did.

    Attributes
    ----------
    trainer : Trainer
        The first phase's trainer (with the sparsity regularizer).
    retrainer : Trainer or None
        The retraining phase's trainer, on the tied model (the same model object); None
        when ``make_retrainer`` declined to retrain.
    tying : list
        One per tied layer, what ``tie`` returned: by default a
        :class:`minireg.compression.TyingResult` (the rows kept and their clusters).
    """

    trainer: Trainer
    retrainer: Trainer | None
    tying: list


def learn_to_share(trainer: Trainer, train_loader, epochs: int, layers, make_retrainer, retrain_epochs: int,
                   preference=0.8, damping=0.5, centroid_gradient="mean", fit=None, run_phase=None,
                   tie=None) -> LearnToShareResult:
    """GrOWL's pipeline (Fig. 1; §3.4): train with a sparsity-and-tying regularizer, cluster
    the rows of each named layer, tie them, retrain.

    1. ``trainer.fit(train_loader, epochs=epochs)``: ``trainer`` carries the regularizer
       (:class:`~minireg.regularizers.ProxGrOWL`, group Lasso, weight decay, ...);
    2. ``tie(model, layer)`` on each layer of ``layers``, by default :func:`tie_and_prune`:
       zero rows pruned -- in the layer before too, where that is a Linear/Conv2d reached
       through unit-wise layers -- and the others clustered by affinity propagation on
       eq. (10) and stored once per cluster;
    3. ``make_retrainer(model).fit(train_loader, epochs=retrain_epochs)``: the tied model
       has new parameters (the centroids), so the retraining phase needs its own
       optimizer, built by ``make_retrainer``; each centroid then gets the gradient of
       eq. (11).

    Parameters
    ----------
    trainer : Trainer
    train_loader : iterable of batches, as for :meth:`Trainer.fit`
    epochs, retrain_epochs : int
        Passes of the two phases (the paper's MNIST recipe: 300 and 100).
    layers : str or list of str
        The layers to tie, by name (``model.named_modules()``).
    make_retrainer : callable
        ``make_retrainer(model) -> Trainer`` for the tied model, or None to skip the
        retraining (an experiment does when a layer lost every row).
    preference, damping, centroid_gradient
        Of :func:`~minireg.compression.tie_rows` (used by the default ``tie``).
    fit : dict, optional
        More keyword arguments for both :meth:`Trainer.fit` calls (``eval_sets``,
        ``eval_every``, ``callbacks``, ...) when ``run_phase`` is not given.
    run_phase : callable, optional
        ``run_phase(name, trainer, loader, epochs)`` runs phase ``"train"`` or
        ``"retrain"`` instead of ``trainer.fit(loader, epochs=epochs, **fit)``: an
        experiment passes one that checkpoints, schedules and measures through its
        :class:`~minireg.experiments.base.Phases`.
    tie : callable, optional
        ``tie(model, layer)`` instead of :func:`tie_and_prune`; its results make ``tying``.
    """
    layers = [layers] if isinstance(layers, str) else list(layers)
    if not layers:
        raise ValueError("layers must name at least one layer to tie")
    if not callable(make_retrainer):
        raise TypeError(f"make_retrainer must be callable as make_retrainer(model) -> Trainer, "
                        f"got {type(make_retrainer).__name__}")
    for name, function in (("run_phase", run_phase), ("tie", tie)):
        if function is not None and not callable(function):
            raise TypeError(f"{name} must be callable or None, got {type(function).__name__}")
    if run_phase is None:
        fit = dict(fit or {})

        def run_phase(name, phase_trainer, loader, phase_epochs):
            return phase_trainer.fit(loader, epochs=phase_epochs, **fit)
    elif fit:
        raise ValueError("give fit or run_phase, not both: run_phase calls fit itself")
    if tie is None:
        def tie(model, layer):
            return tie_and_prune(model, layer, preference=preference, damping=damping,
                                 centroid_gradient=centroid_gradient)
    run_phase("train", trainer, train_loader, epochs)
    tying = [tie(trainer.model, layer) for layer in layers]
    retrainer = make_retrainer(trainer.model)
    if retrainer is not None:
        if not isinstance(retrainer, Trainer) or retrainer.model is not trainer.model:
            raise TypeError("make_retrainer(model) must return a Trainer of that same model (or None)")
        if retrain_epochs:
            run_phase("retrain", retrainer, train_loader, retrain_epochs)
    return LearnToShareResult(trainer, retrainer, tying)
