"""Affinity propagation (Frey and Dueck, 2007), as GrOWL's Appendix B, Algorithm 3 states it.

Given similarities s(i, k) between points and a *preference* s(k, k) on the diagonal (how
much each point wants to be an exemplar; larger means more clusters), two kinds of
messages are exchanged until the set of exemplars stops changing:

* responsibility  r(i, k) <- s(i, k) - max_{k' != k} (a(i, k') + s(i, k'))
  how well suited k is to be i's exemplar, compared with i's other candidates;
* availability    a(i, k) <- min(0, r(k, k) + sum_{i' not in {i, k}} max(0, r(i', k)))  (i != k)
                  a(k, k) <- sum_{i' != k} max(0, r(i', k))
  how appropriate it is for i to choose k, given the support k gets from other points.

Each new message is mixed with the old one, m <- damping * m + (1 - damping) * m_new, to
stop oscillations. Point k is an exemplar when r(k, k) + a(k, k) > 0, and each point joins
the exemplar k with the largest r(i, k) + a(i, k).

The GrOWL authors ran scikit-learn's implementation (their footnote 1); this one follows
the same conventions so that both give the same clusters on the same similarities:

* convergence: the exemplar set (each point's "r(k, k) + a(k, k) > 0") has stayed the same
  for ``convergence_iter`` iterations, and it is not empty;
* the final assignment: every point joins the exemplar it is most similar to (s, not
  r + a), then each cluster's exemplar becomes the member with the largest summed
  similarity to the other members, and the points are assigned once more;
* ties are broken by adding noise of relative size 1e-16 to S, drawn from ``rng``. Ties
  are the rule, not the exception: with a symmetric S and one preference for all points,
  the two members of a pair are equally good exemplars, and exactly tied rows have
  S = 1. Where a tie decides, the noise decides, so two runs agree exactly when they
  draw the same noise: ``rng=numpy.random.RandomState(seed)`` draws scikit-learn's
  (``random_state=seed``), and the tests check that the two then agree exactly, ties
  included; with a Generator, they agree on tie-free data (per-point preferences).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from minireg.checks import check_int, check_number
from minireg.nn.init import make_rng


@dataclass
class AffinityResult:
    """What :func:`affinity_propagation` found.

    Attributes
    ----------
    exemplars : ndarray of int64, shape (n_clusters,)
        The points chosen as exemplars, increasing; cluster c is led by ``exemplars[c]``.
    labels : ndarray of int64, shape (n,)
        The cluster (0 ... n_clusters - 1) of every point; all -1 when no exemplar emerged.
    n_iter : int
        Message-passing iterations run.
    converged : bool
        Whether the exemplar set stayed fixed for ``convergence_iter`` iterations.
    """

    exemplars: np.ndarray
    labels: np.ndarray
    n_iter: int
    converged: bool

    @property
    def n_clusters(self) -> int:
        return int(self.exemplars.size)


def _check_similarity(similarity) -> np.ndarray:
    S = np.asarray(similarity)
    if S.ndim != 2 or S.shape[0] != S.shape[1] or S.shape[0] == 0:
        raise ValueError(f"similarity must be a square (n, n) matrix with n >= 1, got shape {S.shape}")
    if S.dtype.kind not in "fiu":
        raise TypeError(f"similarity must hold real numbers, got dtype {S.dtype}")
    S = S.astype(np.float64)           # a copy: the preference goes on its diagonal
    if not np.all(np.isfinite(S)):
        raise ValueError("similarity holds NaN or infinity")
    return S


def _check_preference(preference, S: np.ndarray) -> np.ndarray:
    """The preference as one float64 per point: a number, n numbers, or "median" (the
    median of all entries of S, diagonal included, as scikit-learn's default)."""
    n = S.shape[0]
    if isinstance(preference, str):
        if preference != "median":
            raise TypeError(f'preference must be a number, an array of {n} numbers or "median", '
                             f"got {preference!r}")
        return np.full(n, np.median(S))
    if np.ndim(preference) == 0:
        return np.full(n, check_number(preference, "preference"))
    values = np.asarray(preference)
    if values.shape != (n,) or values.dtype.kind not in "fiu":
        raise ValueError(f'preference must be a number, an array of {n} numbers or "median", '
                         f"got an array of shape {values.shape} and dtype {values.dtype}")
    if not np.all(np.isfinite(values)):
        raise ValueError("preference holds NaN or infinity")
    return values.astype(np.float64)


def _all_alike(S: np.ndarray, preference: np.ndarray) -> bool:
    """True when every off-diagonal similarity is the same and so is every preference:
    the messages cannot tell the points apart."""
    off_diagonal = S[~np.eye(S.shape[0], dtype=bool)]
    return bool(np.all(preference == preference[0]) and np.all(off_diagonal == off_diagonal[0]))


def affinity_propagation(similarity, preference="median", damping=0.5, max_iter=200,
                         convergence_iter=15, rng=0) -> AffinityResult:
    """Cluster points from their pairwise similarities (GrOWL, Appendix B, Algorithm 3).

    Parameters
    ----------
    similarity : array_like, shape (n, n)
        s(i, k); larger means more alike (e.g. :func:`row_similarity`). The diagonal is
        ignored: the preference replaces it.
    preference : float, array of n floats, or "median"
        s(k, k): a point's own claim to be an exemplar. Larger gives more clusters; the
        GrOWL authors used 0.6-0.8 with similarities of eq. (10).
    damping : float in [0.5, 1)
        Weight of the old message when mixing it with the new one.
    max_iter : int >= 1
    convergence_iter : int >= 1
        Iterations the exemplar set must stay unchanged to stop.
    rng : numpy.random.Generator, int, None, or numpy.random.RandomState
        Source of the tie-breaking noise (relative size 1e-16); a RandomState draws the
        noise scikit-learn draws with the same seed (module docstring).

    Returns
    -------
    AffinityResult
        A run that does not converge warns (RuntimeWarning) and returns the last
        iteration's exemplars, ``converged=False``.
    """
    S = _check_similarity(similarity)
    preference = _check_preference(preference, S)
    damping = check_number(damping, "damping", minimum=0.5, maximum=1.0, include_maximum=False)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    convergence_iter = check_int(convergence_iter, "convergence_iter", minimum=1)
    generator = rng if isinstance(rng, np.random.RandomState) else make_rng(rng)
    n = S.shape[0]
    if n == 1 or _all_alike(S, preference):
        # Nothing to tell the points apart: each is its own exemplar if it prefers itself
        # to any other point, otherwise one cluster (scikit-learn's rule).
        if n > 1 and preference[0] > S[0, 1]:
            return AffinityResult(np.arange(n), np.arange(n), 0, True)
        return AffinityResult(np.zeros(1, dtype=np.int64), np.zeros(n, dtype=np.int64), 0, True)

    np.fill_diagonal(S, preference)
    tiny = np.finfo(np.float64)
    S += (tiny.eps * S + tiny.tiny * 100) * generator.standard_normal((n, n))

    R = np.zeros((n, n))               # responsibilities r(i, k)
    A = np.zeros((n, n))               # availabilities a(i, k)
    work = np.empty((n, n))
    points = np.arange(n)
    diagonal = (points, points)
    history = np.zeros((convergence_iter, n), dtype=bool)   # the last exemplar sets
    converged = False
    for iteration in range(max_iter):
        # Responsibilities: s(i, k) minus the best competing a(i, k') + s(i, k').
        np.add(A, S, out=work)
        best = np.argmax(work, axis=1)
        best_value = work[points, best]
        work[points, best] = -np.inf
        second_value = np.max(work, axis=1)
        np.subtract(S, best_value[:, None], out=work)
        work[points, best] = S[points, best] - second_value
        work *= 1 - damping
        R *= damping
        R += work

        # Availabilities: the positive support k receives from the other points.
        np.maximum(R, 0, out=work)
        work[diagonal] = R[diagonal]                     # r(k, k) counts with its sign
        support = work.sum(axis=0)                       # r(k, k) + sum_{i' != k} max(0, r(i', k))
        np.subtract(support[None, :], work, out=work)    # ... minus point i's own term
        self_availability = work[diagonal].copy()        # a(k, k) = sum_{i' != k} max(0, r(i', k))
        np.minimum(work, 0, out=work)
        work[diagonal] = self_availability
        work *= 1 - damping
        A *= damping
        A += work

        exemplar = (A[diagonal] + R[diagonal]) > 0
        history[iteration % convergence_iter] = exemplar
        if iteration >= convergence_iter:
            times = history.sum(axis=0)
            settled = np.all((times == 0) | (times == convergence_iter))
            if settled and exemplar.any():
                converged = True
                break
    n_iter = iteration + 1

    exemplars = np.flatnonzero(exemplar)
    if exemplars.size == 0:
        warnings.warn(f"affinity propagation found no exemplar in {n_iter} iterations; "
                      "raise max_iter or damping, or change the preference", RuntimeWarning, stacklevel=2)
        return AffinityResult(exemplars.astype(np.int64), np.full(n, -1, dtype=np.int64), n_iter, False)
    if not converged:
        warnings.warn(f"affinity propagation did not converge in {n_iter} iterations; the clusters "
                      "may be degenerate (raise max_iter or damping)", RuntimeWarning, stacklevel=2)
    exemplars = _refine(S, exemplars)
    exemplar_of_point = exemplars[_assign(S, exemplars)]
    exemplars = np.unique(exemplar_of_point)            # increasing
    labels = np.searchsorted(exemplars, exemplar_of_point)
    return AffinityResult(exemplars.astype(np.int64), labels.astype(np.int64), n_iter, converged)


def _assign(S: np.ndarray, exemplars: np.ndarray) -> np.ndarray:
    """Each point's cluster: the exemplar it is most similar to; an exemplar leads its own."""
    labels = np.argmax(S[:, exemplars], axis=1)
    labels[exemplars] = np.arange(exemplars.size)
    return labels


def _refine(S: np.ndarray, exemplars: np.ndarray) -> np.ndarray:
    """Make each cluster's exemplar the member with the largest summed similarity to the
    members (the preference counting for itself)."""
    labels = _assign(S, exemplars)
    refined = exemplars.copy()
    for cluster in range(exemplars.size):
        members = np.flatnonzero(labels == cluster)
        refined[cluster] = members[np.argmax(S[np.ix_(members, members)].sum(axis=0))]
    return refined
