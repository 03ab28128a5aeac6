"""Multi-task learning: a shared trunk, one head per task, weighted task losses.

Deep Learning 7.12 (published 7.7), Fig. 7.6: several supervised tasks share the input
and a part of the model, the *generic* parameters h^(shared) below the task-specific
heads. The shared part is trained by the examples of every task, so that a task with
few labels borrows statistical strength from the others -- "the examples of the other
tasks act as a regularizer on the shared parameters" -- while each head is trained by
its own task only. The objective is the weighted sum

    J(θ) = Σ_t w_t J_t(θ_shared, θ_t),

so that ∇_{θ_shared} J = Σ_t w_t ∇_{θ_shared} J_t and ∇_{θ_t} J = w_t ∇_{θ_t} J_t.

With minireg's :class:`~minireg.training.Trainer`, which calls ``loss_fn(outputs,
targets)``:

* :class:`MultiTask` returns the heads' outputs side by side, one block of columns per
  task (``model.columns[task]``);
* the targets are an integer array of shape (N, tasks), column t holding task t's
  class, or :data:`MISSING` (−1) where the example has no label for it -- so that a
  task with few labels and a task with many share one data set;
* :class:`MultiTaskLoss` is the weighted sum, each J_t the mean cross-entropy over
  the examples of the batch that carry a label for task t (0 when none does);
* :func:`task_error` is a metric of one task for ``Trainer(metrics=...)``.
"""
from __future__ import annotations

import numbers

import numpy as np

from minireg import functional as F
from minireg import losses
from minireg.nn import Module

MISSING = -1


def _check_tasks(names, what: str) -> list:
    names = list(names)
    if not names or any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
        raise ValueError(f"{what} must name each task once by a non-empty string, got {names!r}")
    return names


class MultiTask(Module):
    """A shared trunk and one head per task (Deep Learning 7.12, published 7.7, Fig. 7.6).

    Parameters
    ----------
    trunk : Module
        The shared part: inputs -> the shared representation h.
    heads : dict
        ``{task name: Module}``, each h -> that task's outputs (logits), in the order of
        the targets' columns.

    Attributes
    ----------
    tasks : list of str
    columns : dict
        ``{task: slice}``: the task's columns in the output, filled at the first forward.
    """

    def __init__(self, trunk, heads: dict):
        super().__init__()
        if not isinstance(trunk, Module):
            raise TypeError(f"trunk must be a minireg Module, got {type(trunk).__name__}")
        if not isinstance(heads, dict):
            raise TypeError(f"heads must be a dict {{task name: Module}}, got {type(heads).__name__}")
        self.tasks = _check_tasks(heads, "heads")
        for name, head in heads.items():
            if not isinstance(head, Module):
                raise TypeError(f"heads[{name!r}] must be a minireg Module, got {type(head).__name__}")
        self.trunk = trunk
        for index, head in enumerate(heads.values()):
            setattr(self, f"head{index}", head)
        self.columns = {}

    def head(self, task: str) -> Module:
        """The head of ``task``."""
        if task not in self.tasks:
            raise KeyError(f"task must be one of {self.tasks}, got {task!r}")
        return getattr(self, f"head{self.tasks.index(task)}")

    def forward(self, x):
        shared = self.trunk(x)
        outputs = [self.head(task)(shared) for task in self.tasks]
        start = 0
        for task, out in zip(self.tasks, outputs):
            self.columns[task] = slice(start, start + out.shape[1])
            start += out.shape[1]
        return F.concatenate(outputs, axis=1)


def _labels(targets, count: int) -> np.ndarray:
    targets = np.asarray(targets)
    if targets.ndim != 2 or targets.shape[1] != count or targets.dtype.kind not in "iu":
        raise ValueError(f"targets must be an integer array of shape (N, {count}) -- one column per task, "
                         f"{MISSING} where a label is missing -- got {targets.dtype} {targets.shape}")
    return targets


class MultiTaskLoss:
    """J = Σ_t w_t J_t: the weighted sum of the tasks' mean cross-entropies.

    J_t is the mean, over the examples of the batch whose column t is not
    :data:`MISSING`, of the cross-entropy of task t's outputs; a task without a label in
    the batch adds 0 (and no gradient).

    Parameters
    ----------
    model : MultiTask
        Gives the tasks, their order and their output columns.
    weights : dict, optional
        ``{task: w_t >= 0}``; 1 for every task by default.
    """

    def __init__(self, model: MultiTask, weights=None):
        if not isinstance(model, MultiTask):
            raise TypeError(f"model must be a MultiTask, got {type(model).__name__}")
        weights = {task: 1.0 for task in model.tasks} if weights is None else dict(weights)
        if set(weights) != set(model.tasks):
            raise ValueError(f"weights must give one weight per task {model.tasks}, got {sorted(weights)}")
        for task, w in weights.items():
            if isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w) or w < 0:
                raise ValueError(f"weights[{task!r}] must be a finite number >= 0, got {w!r}")
        self.model = model
        self.weights = {task: float(weights[task]) for task in model.tasks}

    def task_losses(self, outputs, targets) -> dict:
        """``{task: J_t}`` (scalar Tensors, or None for a task with no label in the batch)."""
        labels = _labels(targets, len(self.model.tasks))
        if not self.model.columns:
            raise RuntimeError("the model has not run yet, so its tasks' output columns are unknown: compute "
                               "outputs = model(x) first, then loss(outputs, targets)")
        found = {}
        for index, task in enumerate(self.model.tasks):
            column = labels[:, index]
            labelled = column != MISSING
            if not labelled.any():
                found[task] = None
                continue
            logits = outputs[:, self.model.columns[task]]
            per_example = losses.cross_entropy(logits, np.where(labelled, column, 0), reduction="none")
            mask = (labelled / labelled.sum()).astype(per_example.dtype)
            found[task] = (per_example * mask).sum()
        return found

    def __call__(self, outputs, targets):
        total = None
        for task, loss in self.task_losses(outputs, targets).items():
            if loss is None:
                continue
            term = loss * np.asarray(self.weights[task], dtype=loss.dtype)
            total = term if total is None else total + term
        if total is None:
            return (outputs * np.zeros((), dtype=outputs.dtype)).sum()   # no labels at all: 0, no gradient
        return total


def task_error(model: MultiTask, task: str):
    """A metric for ``Trainer(metrics={...})``: the 0-1 error of ``task`` on the examples
    that carry its label (NaN when none does)."""
    index = model.tasks.index(task) if task in model.tasks else None
    if index is None:
        raise KeyError(f"task must be one of {model.tasks}, got {task!r}")

    def error(outputs, targets) -> float:
        column = _labels(targets, len(model.tasks))[:, index]
        labelled = column != MISSING
        if not labelled.any():
            return float("nan")
        predicted = outputs[labelled][:, model.columns[task]].argmax(axis=1)
        return float(np.mean(predicted != column[labelled]))

    return error
