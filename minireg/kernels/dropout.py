"""Dropout masks in readable NumPy: ``y = x * m / keep`` with ``m ~ Bernoulli(keep)``.

Dropout multiplies each entry of x by an independent mask bit m (1 with probability
keep) and divides by keep, so that the expected output equals x ("inverted dropout":
the weight scaling rule of Deep Learning, draft sec. 7.11 (published 7.12),
applied at training time instead of at inference):

    y = x * m / keep,      m ~ Bernoulli(keep), independently for each entry.

DropConnect (Wan et al. 2013) is the same operation applied to a weight matrix.

Random bits
-----------
The bits come from the caller's ``numpy.random.Generator``. This twin and the compiled
kernel (``minireg/_ext/dropout.pyx``) read the same 64-bit words from its bit generator
and cut each word into four 16-bit draws (bits 0-15 for the first entry, 16-31 for the
second, ...); entry k keeps its value when its draw is below ``round(keep * 2**16)``.
Same seed, same mask, whichever of the two ran. The keep probability is
``round(keep * 2**16) / 2**16``, within 2**-17 of keep.

These functions assume valid arguments (a float32 or float64 array, keep in
[2**-16, 1]); ``minireg.kernels.dropout`` checks them.
"""
import numpy as np

DROPOUT_DRAW_BITS = 16


def keep_threshold(keep):
    """The integer ``t = round(keep * 2**16)``: a 16-bit draw ``u`` keeps its entry when ``u < t``."""
    return int(round(keep * 2**DROPOUT_DRAW_BITS))


def dropout_numpy(x, keep, rng):
    """Inverted dropout ``y = x * m / keep`` with ``m ~ Bernoulli(keep)`` per entry.

    Twin of ``dropout.dropout_fill``: it draws the same words from ``rng.bit_generator``
    and returns the same mask and output.

    Returns
    -------
    y : array like ``x`` (same dtype), the kept entries scaled by ``1 / keep``
    mask : bool array of the shape of ``x``, True where the entry was kept
    """
    threshold = keep_threshold(keep)
    n_words = (x.size + 3) // 4  # four 16-bit draws per 64-bit word
    words = rng.bit_generator.random_raw(n_words)
    # Draw j of a word is its bits 16*j ... 16*j + 15.
    draws = np.empty((n_words, 4), dtype=np.uint16)
    for j in range(4):
        draws[:, j] = (words >> np.uint64(16 * j)) & np.uint64(0xFFFF)
    draws = draws.reshape(-1)[: x.size].reshape(x.shape)
    mask = draws < threshold
    scale = x.dtype.type(1.0 / keep)  # in the dtype of x, so float32 stays float32
    with np.errstate(invalid="ignore"):  # a dropped inf becomes inf * 0 = nan, as in the kernel
        y = x * np.where(mask, scale, x.dtype.type(0))
    return y, mask
