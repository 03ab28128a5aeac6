"""The bilinear affine warp of a batch of images, in readable NumPy.

Each image n of a batch (N, C, H, W) is given its own *inverse* affine map, from the
coordinates p = (row, column) of an output pixel to the point q of the input it shows::

    q = A[n] p + b[n],        output[n, c, p] = bilinear(images[n, c], q),   zero outside

(the convention of ``scipy.ndimage.affine_transform(input, A, offset=b, order=1)``;
:mod:`minireg.images` explains it and builds the maps). The compiled twin is
``minireg/_ext/warp.pyx``; ``minireg.kernels.warp_affine`` checks the arguments and then
calls whichever is switched on.

The computation, for one output pixel, in the images' dtype (float32 stays float32):

1. the sample point ``q_row = (A00 * row + b0) + A01 * column`` and
   ``q_column = (A10 * row + b1) + A11 * column``, in that order of operations;
2. ``inside``: q lies in ``[-t, H - 1 + t] x [-t, W - 1 + t]`` with the tolerance
   ``t = EDGE_TOLERANCE`` (so that a rotation by 90 degrees, whose cos and sin are rounded,
   is exact);
3. q clipped to ``[0, H - 1] x [0, W - 1]``; the top-left pixel of the 2 x 2 around it,
   ``top = min(floor(q_row), H - 2)`` and ``left = min(floor(q_column), W - 2)`` (one back
   on the last row or column, where the fraction is then 1; 0 for a 1-pixel side);
4. the fractions ``f_row = q_row - top``, ``f_column = q_column - left`` and their
   complements ``g = 1 - f`` (written so, a fraction of 0 or 1 gives exact weights);
5. ``output = (p00 g_col + p01 f_col) g_row + (p10 g_col + p11 f_col) f_row``, times
   ``inside`` (1 or 0): the pixels ``p01``, ``p10``, ``p11`` are one column, one row,
   and both further than ``p00`` (the same pixel along a 1-pixel side).

The compiled kernel performs the same operations in the same order, so the two agree bit
for bit. These functions assume valid arguments (a 4-D float32 or float64 array, maps of
matching length that send every pixel to a finite point); :mod:`minireg.kernels` checks them.
"""
import numpy as np

EDGE_TOLERANCE = 1e-4
"""Sample points this close (in pixels) outside the grid of pixel centres count as on it."""

CHUNK_POINTS = 25_000
"""Sample points warped at a time (32 MNIST images): the temporaries stay in the cache."""


def warp_affine_numpy(images, A, b):
    """``output[n, :, p] = images[n, :, A[n] p + b[n]]``: bilinear, zero outside.

    Parameters
    ----------
    images : ndarray (N, C, H, W), float32 or float64
    A : ndarray (N, 2, 2), b : ndarray (N, 2)
        One inverse map per image.

    Returns
    -------
    ndarray (N, C, H, W), the dtype of ``images``

    The batch is warped a few images at a time (:data:`CHUNK_POINTS` sample points), so
    that the dozen temporary arrays of a chunk stay in the processor's cache: on 128
    MNIST images that is 3-4 times faster than the whole batch at once.
    """
    out = np.empty_like(images)
    step = max(1, CHUNK_POINTS // max(1, images.shape[2] * images.shape[3]))
    for start in range(0, len(images), step):
        out[start:start + step] = _warp_chunk(images[start:start + step], A[start:start + step],
                                              b[start:start + step])
    return out


def _warp_chunk(images, A, b):
    """:func:`warp_affine_numpy` on a few images at once."""
    n, channels, height, width = images.shape
    dtype = images.dtype           # coordinates in float32 for float32 images: half the memory traffic
    real = dtype.type              # scalars of the images' dtype (a Python int would take NumPy's slow path)
    rows = np.arange(height, dtype=dtype)[None, :, None]          # every output pixel p = (row, column)
    columns = np.arange(width, dtype=dtype)[None, None, :]
    A, b = A.astype(dtype)[:, :, :, None, None], b.astype(dtype)[:, :, None, None]
    # q = A p + b, (N, H, W) each, the products on the (N, H, 1) and (N, 1, W) factors only
    q_row = ((A[:, 0, 0] * rows + b[:, 0]) + A[:, 0, 1] * columns).reshape(n, -1)
    q_column = ((A[:, 1, 0] * rows + b[:, 1]) + A[:, 1, 1] * columns).reshape(n, -1)
    tolerance = real(EDGE_TOLERANCE)
    inside = (q_row >= -tolerance) & (q_row <= real(height - 1) + tolerance)
    inside &= q_column >= -tolerance
    inside &= q_column <= real(width - 1) + tolerance
    np.clip(q_row, real(0), real(height - 1), out=q_row)
    np.clip(q_column, real(0), real(width - 1), out=q_column)
    # the top-left pixel of the 2 x 2 around q (one row or column back on the last one, where f = 1)
    top = np.minimum(np.floor(q_row), real(max(height - 2, 0)))
    left = np.minimum(np.floor(q_column), real(max(width - 2, 0)))
    f_row = q_row - top
    f_column = q_column - left
    down, right = (1 if height > 1 else 0), (1 if width > 1 else 0)
    # indices into the flat batch, one per (image, channel, output pixel); int32 when they fit (faster)
    index = np.int32 if images.size < 2 ** 31 else np.intp
    corner = top.astype(index)
    corner *= index(width)
    corner += left.astype(index)
    corner = corner[:, None, :] + (np.arange(n * channels, dtype=index) * index(height * width)).reshape(n, channels, 1)
    flat = images.reshape(-1)
    f_row, f_column, inside = f_row[:, None], f_column[:, None], inside[:, None]
    g_row, g_column = real(1) - f_row, real(1) - f_column        # weights written so that f = 0 or 1 is exact
    # the other three corners: the same indices into the batch shifted by 1, W, W + 1 (views, no index arithmetic)
    below = down * width
    upper = flat.take(corner) * g_column + flat[right:].take(corner) * f_column
    lower = flat[below:].take(corner) * g_column + flat[below + right:].take(corner) * f_column
    out = upper * g_row + lower * f_row
    out *= inside
    return out.reshape(images.shape)
