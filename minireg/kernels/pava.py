"""The OWL and GrOWL proximal operators and isotonic regression (PAVA), in readable NumPy.

The proximal operator of a penalty R at z with step size eta is

    prox_{eta R}(z) = argmin_x  eta R(x) + 1/2 ||x - z||^2          (GrOWL, eq. (5)).

For the OWL norm ``Omega_lam(x) = sum_i lam_i |x|_[i]``, where ``|x|_[i]`` is the i-th
largest magnitude and ``lam_1 >= lam_2 >= ... >= lam_n >= 0`` (GrOWL, eq. (1) for
vectors; SLOPE, Bogdan et al. 2015), the prox is (GrOWL, Appendix A, Algorithm 2):

  1. sort the magnitudes ``|z|`` from largest to smallest;
  2. subtract eta * lam, and replace the result by the closest non-increasing sequence
     (isotonic regression, computed by the pool-adjacent-violators algorithm, PAVA);
     clip it at zero;
  3. put each value back at its original place, with the sign of z.

GrOWL applies this to the norms of the rows of a matrix and rescales each row to its new
norm (GrOWL, eq. (8)).

The compiled twins are in ``minireg/_ext/pava.pyx`` (the same three steps, with a radix
sort of the magnitudes' bit patterns instead of ``np.argsort``). These functions assume
valid arguments -- finite float arrays, ``lam`` a float64 vector of the right length,
non-increasing and non-negative, ``eta >= 0`` -- which the public functions of
:mod:`minireg.kernels` check.
"""
import numpy as np


def isotonic_nonincreasing_numpy(values):
    """The non-increasing sequence closest to ``values`` in least squares (PAVA).

    Solves ``min_f sum_k (f_k - values_k)^2`` subject to ``f_1 >= f_2 >= ... >= f_n``
    by pool adjacent violators (de Leeuw et al. 2009): walk left to right keeping
    blocks of equal fitted value (the mean of the block); whenever a new block's mean
    is larger than the previous block's mean -- a violation of "non-increasing" --
    pool the two blocks into one. Twin of ``pava.isotonic_nonincreasing``.

    Parameters
    ----------
    values : 1-D array of finite floats

    Returns
    -------
    fit : 1-D float64 array of the same length
    """
    block_sums = []     # sum of the values in each block
    block_lengths = []  # number of values in each block
    for value in values:
        total, length = float(value), 1
        while block_sums and total / length > block_sums[-1] / block_lengths[-1]:
            total += block_sums.pop()
            length += block_lengths.pop()
        block_sums.append(total)
        block_lengths.append(length)
    block_means = np.array(block_sums, dtype=np.float64) / np.array(block_lengths)
    return np.repeat(block_means, block_lengths)


def owl_prox_numpy(z, lam, eta):
    """prox of ``eta * Omega_lam`` at the vector ``z`` (GrOWL, Appendix A, Algorithm 2).

    ``Omega_lam(x) = sum_i lam_i |x|_[i]`` with ``|x|_[1] >= |x|_[2] >= ...``. The result
    is computed in float64 and returned in the dtype of ``z``. Twin of ``pava.owl_prox``.
    """
    magnitudes = np.abs(z).astype(np.float64)
    # 1. The order that sorts the magnitudes from largest to smallest.
    order = np.argsort(-magnitudes, kind="stable")
    sorted_magnitudes = magnitudes[order]
    # 2. Subtract eta * lam (the largest magnitude gets the largest weight), fit the
    #    closest non-increasing sequence, and clip it at zero.
    fitted = isotonic_nonincreasing_numpy(sorted_magnitudes - eta * lam)
    shrunk = np.maximum(fitted, 0.0)
    # 3. Undo the sort, and give each entry back its sign.
    result = np.empty_like(magnitudes)
    result[order] = shrunk
    return (np.sign(z) * result).astype(z.dtype)


def growl_prox_numpy(w, lam, eta):
    """prox of ``eta * Omega_lam`` applied to the rows of the matrix ``w`` (GrOWL, eq. (8)).

    ``U_i = w_i * prox_{eta Omega_lam}(r)_i / r_i`` with ``r_i = ||w_i||_2``: the OWL prox
    of the vector of row norms, then each row rescaled to its new norm (a zero row stays
    zero). Twin of ``pava.growl_prox_rows``.
    """
    norms = row_norms(w)
    shrunk_norms = owl_prox_numpy(norms, lam, eta)
    scale = np.zeros_like(norms)
    nonzero = norms > 0
    scale[nonzero] = shrunk_norms[nonzero] / norms[nonzero]
    return w * scale.astype(w.dtype)[:, None]


def row_norms(w):
    """The Euclidean norm of each row of the matrix ``w``, in float64: ``r_i = ||w_i||_2``."""
    return np.sqrt(np.sum(np.square(w, dtype=np.float64), axis=1))
