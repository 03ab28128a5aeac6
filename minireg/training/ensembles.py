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

The members train one after the other in this process (``workers=1``, the default), or
in parallel on local worker processes (``workers=N``) or a Dask cluster
(``scheduler=...``) through the sweep machinery's backends (:mod:`minireg.sweeps`):
:func:`train_members` runs any module-level training function over a list of jobs that
way. Wherever a member trains, the BLAS runs on ``threads_per_run`` threads and the
member draws only from its own seeds, so the members are the same bit for bit whether
they train one after the other or in parallel.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Callable

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


@dataclass(frozen=True)
class _Task:
    """``function(job)`` with the BLAS on ``threads`` threads: what a worker is sent."""

    function: Callable
    job: object
    threads: int


def _run_task(task: _Task):
    """Run one task (in this process or on a worker) with its BLAS thread count held."""
    from minireg import threads
    from minireg.sweeps.worker import BLAS_LIMIT     # not at the top: minireg.sweeps imports the experiments
    with BLAS_LIMIT.hold(task.threads):
        if threads.blas_threads() != task.threads:
            raise RuntimeError(f"the BLAS of this worker runs on {threads.blas_threads()} threads, not the "
                               f"threads_per_run={task.threads} asked for, and threadpoolctl could not change "
                               f"that from this thread; start the worker with OPENBLAS_NUM_THREADS={task.threads}")
        return task.function(task.job)


def _check_picklable(function, argument: str) -> None:
    """A TypeError naming ``argument`` unless ``function`` can be sent to a worker process."""
    try:
        pickle.dumps(function)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise TypeError(f"to train on workers, {argument}={getattr(function, '__qualname__', function)!r} must be "
                        f"picklable (a module-level function or a functools.partial of one): {error}") from None


def train_members(function, jobs, workers: int = 1, scheduler=None, threads_per_run: int = 1,
                  connect_timeout: float = 5.0, on_result=None) -> list:
    """``[function(job) for job in jobs]``, in this process or in parallel on workers.

    With ``workers=1`` and no ``scheduler`` the calls run here, one after the other.
    Otherwise they go to the sweep machinery's backends (:func:`minireg.sweeps.runner.make_backend`):
    ``workers`` local processes (started with ``spawn``), or the Dask scheduler at
    ``scheduler`` (``"tcp://HOST:PORT"``, or ``"local"`` for a LocalCluster of ``workers``
    processes), never more calls at a time than the workers can run. ``function`` must
    then be a module-level function and the jobs picklable. Every call runs with the
    BLAS (and OpenMP) on ``threads_per_run`` threads, here as on a worker, so that its
    numbers do not depend on where it ran.

    ``on_result(i, result)`` is called here as each call finishes (in the order they
    finish). The first call that raises stops the others, and its exception is raised.
    Returns the results in the order of ``jobs``.
    """
    workers = check_int(workers, "workers", minimum=1)
    threads_per_run = check_int(threads_per_run, "threads_per_run", minimum=1)
    if not callable(function):
        raise TypeError(f"train_members(function=...) must be callable, got {type(function).__name__}")
    tasks = [_Task(function, job, threads_per_run) for job in jobs]
    results = [None] * len(tasks)

    def finished(i, result):
        results[i] = result
        if on_result is not None:
            on_result(i, result)

    if workers == 1 and scheduler is None:
        for i, task in enumerate(tasks):
            finished(i, _run_task(task))
        return results
    _check_picklable(function, "function")
    from minireg.sweeps.runner import REFRESH_SECONDS, make_backend
    backend = make_backend(workers, scheduler, connect_timeout, function=_run_task)
    pending, in_flight, interrupted = list(reversed(range(len(tasks)))), {}, True
    try:
        while pending or in_flight:
            while pending and len(in_flight) < max(1, backend.slots()):
                i = pending.pop()
                in_flight[backend.submit(tasks[i])] = i
            for future in backend.wait(list(in_flight), REFRESH_SECONDS):
                finished(in_flight.pop(future), backend.result(future))
        interrupted = False
    finally:
        backend.close(now=interrupted)
    return results


@dataclass(frozen=True)
class MemberJob:
    """One member of :func:`fit_ensemble`: ``build(index)`` trained on (X, y), the
    minibatches shuffled from ``loader_seed``, ``fit`` passed to ``Trainer.fit``."""

    build: Callable
    index: int
    X: np.ndarray
    y: np.ndarray
    batch_size: int
    loader_seed: int
    fit: dict


def fit_member(job: MemberJob) -> Module:
    """Train one member of :func:`fit_ensemble` and return its model."""
    trainer = job.build(job.index)
    trainer.fit(DataLoader(job.X, job.y, job.batch_size, shuffle=True, rng=job.loader_seed), **job.fit)
    return trainer.model


def fit_ensemble(build, X, y, k, batch_size, bootstrap=False, rng=0, workers=1, scheduler=None, threads_per_run=1,
                 **fit) -> Ensemble:
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
    workers, scheduler, threads_per_run
        Where the members train, as :func:`train_members` (and ``minireg sweep``) take
        them: one after the other here by default; ``workers=2`` trains two at a time on
        local processes (``build`` must then be a module-level function or a
        ``functools.partial`` of one). The members are the same bit for bit either way.
    **fit
        Passed to ``Trainer.fit`` (``epochs=...``, ``max_steps=...``).
    """
    k = check_int(k, "k", minimum=1)
    if not callable(build):
        raise TypeError(f"fit_ensemble(build=...) must be callable as build(i) -> Trainer, got {type(build).__name__}")
    if workers != 1 or scheduler is not None:
        _check_picklable(build, "build")
    rng = make_rng(rng)
    jobs, resamples = [], []
    for i in range(k):
        chosen = bootstrap_indices(len(X), rng) if bootstrap else np.arange(len(X))
        jobs.append(MemberJob(build, i, X[chosen], y[chosen], batch_size, int(rng.integers(2**63)), fit))
        resamples.append(chosen)
    members = train_members(fit_member, jobs, workers=workers, scheduler=scheduler, threads_per_run=threads_per_run)
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
