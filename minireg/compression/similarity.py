"""Row similarity of a trained weight: GrOWL, eq. (10).

After GrOWL training, the rows of a layer's weight (its inputs, :func:`minireg.nn.row_view`)
that belong to correlated inputs are nearly or exactly equal. The paper measures how close
two rows are with

    S(i, j) = w_i^T w_j / max(||w_i||_2^2, ||w_j||_2^2)   in [-1, 1]        (eq. (10))

By Cauchy-Schwarz, |w_i^T w_j| <= ||w_i|| ||w_j|| <= max(||w_i||^2, ||w_j||^2), so S lies in
[-1, 1], and S(i, j) = 1 exactly when w_i = w_j: unlike the cosine, two parallel rows of
different lengths are *not* maximally similar, which is what tying them to one centroid
needs. The diagonal is 1. A zero row has no direction and is left out: it is pruned, not
clustered (GrOWL, Fig. 1).
"""
from __future__ import annotations

import numpy as np

from minireg.nn.module import row_view


def _weight_array(weight, name="weight") -> np.ndarray:
    """The ndarray of a NumPy array, Tensor or Parameter weight, dense (in, out) or conv
    (in, out, kh, kw)."""
    array = weight if isinstance(weight, np.ndarray) else getattr(weight, "data", None)
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, Tensor or Parameter, got {type(weight).__name__}")
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must hold floating-point numbers, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinity")
    return array


def nonzero_rows(weight) -> np.ndarray:
    """Indices (int64, increasing) of the rows of ``row_view(weight)`` that are not all zero."""
    rows = row_view(_weight_array(weight))
    return np.flatnonzero(np.any(rows != 0, axis=1)).astype(np.int64)


def row_similarity(weight):
    """GrOWL eq. (10) between the nonzero rows of a weight.

    Parameters
    ----------
    weight : ndarray, Tensor or Parameter
        Dense (in, out) or conv (in, out, kh, kw); rows are inputs (input channels for a
        conv weight, GrOWL eq. (4)).

    Returns
    -------
    similarity : ndarray of float64, shape (k, k)
        ``S[a, b]`` between rows ``rows[a]`` and ``rows[b]``; symmetric, diagonal 1.
    rows : ndarray of int64, shape (k,)
        The nonzero rows, increasing.

    Raises
    ------
    ValueError
        When every row is zero (there is nothing to cluster).
    """
    array = _weight_array(weight)
    rows = nonzero_rows(array)
    if rows.size == 0:
        raise ValueError(f"weight has no nonzero row (shape {array.shape}): every input is pruned, "
                         "there is nothing to cluster")
    kept = row_view(array)[rows].astype(np.float64)
    squared_norms = np.einsum("ij,ij->i", kept, kept)
    similarity = kept @ kept.T
    similarity /= np.maximum(squared_norms[:, None], squared_norms[None, :])
    np.fill_diagonal(similarity, 1.0)   # exactly, not up to rounding
    return similarity, rows


def similarity_matrix(weight) -> np.ndarray:
    """Eq. (10) between *all* rows of ``row_view(weight)``: (n_rows, n_rows) float64, with
    zeros on the rows and columns of zero rows (what GrOWL Figs. 3-4 draw)."""
    array = _weight_array(weight)
    n = row_view(array).shape[0]
    full = np.zeros((n, n))
    if np.any(array):
        similarity, rows = row_similarity(array)
        full[np.ix_(rows, rows)] = similarity
    return full
