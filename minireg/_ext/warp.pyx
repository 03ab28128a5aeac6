# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled bilinear affine warp: ``out[n, c, p] = bilinear(images[n, c], A[n] p + b[n])``, zero outside.

The readable twin is ``warp_affine_numpy`` in ``minireg/kernels/warp.py``, whose
docstring gives the five steps for one output pixel; call this kernel through
``minireg.kernels.warp_affine``, which checks the arguments: this module assumes them
valid (C-contiguous images and ``out`` of one shape and dtype, float64 maps ``A`` (N, 2, 2)
and ``b`` (N, 2) that send every pixel to a finite point in the images' dtype).

Where the twin makes about 30 passes over all the sample points of a chunk of images,
this kernel makes one: for each image, each output pixel (row by row) and each channel,
it computes the sample point, its 2 x 2 neighbourhood and the blend in registers. The
operations are the twin's, in the twin's order and in the images' dtype (the maps are
rounded to it first, as ``A.astype(dtype)`` does), so the two agree bit for bit; setup.py
builds this file with ``-ffp-contract=off`` so that the C compiler may not fuse a
multiply and an add into one rounding.
"""
from cython cimport floating


def warp_affine(const floating[:, :, :, ::1] images, const double[:, :, ::1] A, const double[:, ::1] b,
                double edge_tolerance, floating[:, :, :, ::1] out):
    """Warp each image ``images[n]`` by its inverse map ``(A[n], b[n])`` into ``out[n]``.

    ``edge_tolerance``: sample points this far outside the grid of pixel centres count
    as on it (``EDGE_TOLERANCE`` of the twin's module). Twin: ``warp_affine_numpy``.
    """
    cdef Py_ssize_t n_images = images.shape[0], channels = images.shape[1]
    cdef Py_ssize_t height = images.shape[2], width = images.shape[3]
    cdef Py_ssize_t n, row, column, channel, top, left
    # neighbours of the top-left corner: one column right, one row down (itself on a 1-pixel side)
    cdef Py_ssize_t right = 1 if width > 1 else 0
    cdef Py_ssize_t below = width if height > 1 else 0
    cdef Py_ssize_t plane_size = height * width
    cdef floating zero = 0, one = 1
    cdef floating tolerance = <floating>edge_tolerance
    cdef floating last_row = <floating>(height - 1), last_column = <floating>(width - 1)
    cdef floating row_limit = last_row + tolerance, column_limit = last_column + tolerance
    cdef Py_ssize_t last_top = height - 2 if height > 1 else 0
    cdef Py_ssize_t last_left = width - 2 if width > 1 else 0
    cdef floating a00, a01, a10, a11, b0, b1, row_start, column_start, q_row, q_column
    cdef floating f_row, f_column, g_row, g_column, inside, upper, lower
    cdef const floating* image
    cdef const floating* source
    cdef floating* warped
    cdef floating* target
    if channels == 0 or plane_size == 0:
        return
    with nogil:
        for n in range(n_images):
            a00, a01 = <floating>A[n, 0, 0], <floating>A[n, 0, 1]
            a10, a11 = <floating>A[n, 1, 0], <floating>A[n, 1, 1]
            b0, b1 = <floating>b[n, 0], <floating>b[n, 1]
            image, warped = &images[n, 0, 0, 0], &out[n, 0, 0, 0]
            for row in range(height):
                row_start = a00 * <floating>row + b0        # the part of q that one output row shares
                column_start = a10 * <floating>row + b1
                for column in range(width):
                    q_row = row_start + a01 * <floating>column
                    q_column = column_start + a11 * <floating>column
                    inside = one if ((q_row >= -tolerance) & (q_row <= row_limit)
                                     & (q_column >= -tolerance) & (q_column <= column_limit)) else zero
                    # clipped to the grid as np.clip does it (the lower bound first)
                    q_row = q_row if q_row > zero else zero
                    q_row = q_row if q_row < last_row else last_row
                    q_column = q_column if q_column > zero else zero
                    q_column = q_column if q_column < last_column else last_column
                    # the top-left pixel of the 2 x 2 around q: floor(q), which the cast gives as
                    # q >= 0, but one row or column back on the last one
                    top, left = <Py_ssize_t>q_row, <Py_ssize_t>q_column
                    top = top if top < last_top else last_top
                    left = left if left < last_left else last_left
                    f_row = q_row - <floating>top                            # the fractions
                    f_column = q_column - <floating>left
                    g_row, g_column = one - f_row, one - f_column
                    source = image + top * width + left
                    target = warped + row * width + column
                    for channel in range(channels):  # the same point in every channel's plane
                        upper = source[0] * g_column + source[right] * f_column
                        lower = source[below] * g_column + source[below + right] * f_column
                        target[0] = (upper * g_row + lower * f_row) * inside
                        source += plane_size
                        target += plane_size
