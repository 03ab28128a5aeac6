"""Bagging and other ensembles (Deep Learning 7.10, published 7.11).

An ensemble trains k members separately and averages their predicted distributions,
p(y | x) = (1/k) sum_i p_i(y | x). The members differ by what :func:`fit_ensemble` is
given:

* **bagging** (Breiman 1994; ``bootstrap=True``): member i trains on a bootstrap
  resample of the training set -- n examples drawn with replacement from the n -- which
  holds on average a fraction 1 - (1 - 1/n)^n, about 1 - 1/e = 63.2 %, of the distinct
  examples (the chapter's "around 2/3");
* **seeds, minibatch orders, hyperparameters**: ``build(i)`` returns member i's Trainer,
  with its own initialization seed or hyperparameters; each member's loader shuffles
  with its own seed.

Why averaging helps (the chapter's decomposition): if the members' errors e_i have
variances E[e_i^2] = v and covariances E[e_i e_j] = c, the ensemble's expected squared
error is E[((1/k) sum_i e_i)^2] = v / k + (k - 1) c / k. :func:`error_decomposition`
measures v and c from the members and checks the identity on held-out data.

The members train one after the other (there is no sweep machinery to run them in
parallel yet).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from minireg import functional as F
from minireg.checks import check_int
from minireg.datasets import DataLoader
from minireg.nn.init import make_rng
from minireg.nn.module import Module
from minireg.tensor import Tensor, no_grad


def bootstrap_indices(n, rng) -> np.ndarray:
    """n indices drawn uniformly with replacement from range(n): one bootstrap resample."""
    n = check_int(n, "n", minimum=1)
    return make_rng(rng).integers(0, n, size=n)


def expected_distinct_fraction(n) -> float:
    """E[distinct examples] / n of a bootstrap resample: 1 - (1 - 1/n)^n -> 1 - 1/e."""
    n = check_int(n, "n", minimum=1)
    return 1.0 - (1.0 - 1.0 / n) ** n


@dataclass
class Ensemble:
    """Trained members whose predicted distributions are averaged.

    ``members`` are Modules whose output is (N, classes) logits; ``indices[i]`` is the
    training resample of member i (all of range(n) without bagging).
    """

    members: list
    indices: list = field(default_factory=list)

    def __post_init__(self):
        if not self.members or not all(isinstance(m, Module) for m in self.members):
            raise TypeError("Ensemble(members=...) must be a non-empty list of Modules")

    def member_probabilities(self, X, batch_size=1000) -> np.ndarray:
        """(k, N, classes): each member's softmax in evaluation mode (weight scaling for
        members with dropout); the members' modes are restored afterwards."""
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        out = []
        for member in self.members:
            modes = [(module, module.training) for module in member.modules()]
            member.eval()
            try:
                with no_grad():
                    out.append(np.concatenate([F.softmax(member(Tensor(X[s:s + batch_size])), axis=1).data
                                               for s in range(0, len(X), batch_size)]))
            finally:
                for module, mode in modes:
                    module.training = mode
        return np.stack(out)

    def predict_proba(self, X, batch_size=1000) -> np.ndarray:
        """(N, classes): the arithmetic mean of the members' distributions."""
        return self.member_probabilities(X, batch_size).mean(axis=0)


def fit_ensemble(build, X, y, k, batch_size, bootstrap=False, rng=0, **fit) -> Ensemble:
    """Train k members and return them as an :class:`Ensemble`.

    Parameters
    ----------
    build : callable
        ``build(i)`` returns a fresh :class:`~minireg.training.Trainer` for member i
        (its model's seed, its hyperparameters).
    X, y : arrays, the training set (n examples)
    k : int >= 1
    batch_size : int
    bootstrap : bool
        Bagging: member i trains on a bootstrap resample of the n examples.
    rng : Generator or int
        Draws the resamples and each member's shuffling seed.
    **fit
        Passed to ``Trainer.fit`` (``epochs=...``, ``max_steps=...``).
    """
    k = check_int(k, "k", minimum=1)
    if not callable(build):
        raise TypeError(f"fit_ensemble(build=...) must be callable as build(i) -> Trainer, got {type(build).__name__}")
    rng = make_rng(rng)
    members, resamples = [], []
    for i in range(k):
        chosen = bootstrap_indices(len(X), rng) if bootstrap else np.arange(len(X))
        trainer = build(i)
        trainer.fit(DataLoader(X[chosen], y[chosen], batch_size, shuffle=True,
                               rng=int(rng.integers(2**63))), **fit)
        members.append(trainer.model)
        resamples.append(chosen)
    return Ensemble(members, resamples)


def ensemble_errors(member_probabilities, y) -> np.ndarray:
    """The 0-1 error of the ensemble of the first j members, for j = 1 ... k.

    ``member_probabilities`` is (k, N, classes), as :meth:`Ensemble.member_probabilities`
    returns; ``y`` holds the N labels.
    """
    running = np.cumsum(member_probabilities, axis=0)       # the mean's argmax is the sum's
    return (running.argmax(axis=2) != np.asarray(y)[None, :]).mean(axis=1)


def error_decomposition(member_predictions, targets) -> dict:
    """The chapter's v and c measured from k members, and the ensemble's squared error.

    ``member_predictions`` (k, N, ...) and ``targets`` (N, ...) give the errors
    e_i = prediction_i - target (for a classifier: the predicted distribution minus the
    one-hot label). With v the mean of e_i^2 over members and entries and c the mean of
    e_i e_j over pairs i != j, the ensemble's mean squared error equals
    v / k + (k - 1) c / k exactly (the identity behind the formula of Deep Learning 7.10, published 7.11).

    Returns ``{"k", "v", "c", "ensemble", "predicted"}`` (the last two are equal up to
    round-off).
    """
    errors = np.asarray(member_predictions, dtype=np.float64) - np.asarray(targets, dtype=np.float64)[None]
    k = errors.shape[0]
    flat = errors.reshape(k, -1)
    v = float((flat**2).mean())
    total = flat.sum(axis=0)
    c = float(((total**2 - (flat**2).sum(axis=0)).mean()) / (k * (k - 1))) if k > 1 else float("nan")
    ensemble = float(((total / k) ** 2).mean())
    predicted = v / k + ((k - 1) / k) * c if k > 1 else v
    return {"k": k, "v": v, "c": c, "ensemble": ensemble, "predicted": predicted}
