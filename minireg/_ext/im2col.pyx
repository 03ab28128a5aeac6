"""Compiled im2col / col2im and im2row / row2im: the patch unfolding behind convolution,
in two layouts, and the adjoint of each.

The readable twins are ``im2col_numpy``, ``col2im_numpy``, ``im2row_numpy`` and
``row2im_numpy`` in ``minireg/kernels/im2col.py``; the tests check that both give exactly
the same numbers. Call these functions through ``minireg.kernels`` (``kernels.im2col``
and so on), which check the arguments and fall back to the twins when this module is
not built. These functions assume checked arguments: float32 or float64 arrays of
consistent shapes (any memory layout for the inputs), window sizes and stride >= 1,
padding >= 0, a kernel that fits, and an ``out`` of the result's shape and dtype that
does not overlap the input. They are not safe to call with anything else.

Layout ("kernel-major")
-----------------------
For an input ``x`` of shape (N, C, H, W), a KH x KW kernel, stride s and zero padding p,
there are OH = (H + 2p - KH) // s + 1 window positions down and OW = (W + 2p - KW) // s + 1
across, and

    cols[(c*KH + ky)*KW + kx, (n*OH + oh)*OW + ow] = x_padded[n, c, oh*s + ky, ow*s + kx]

so ``cols`` has shape (C*KH*KW, N*OH*OW): one row per (channel, ky, kx), one column per
output pixel, with the batch folded into the columns. A convolution is then the single
matrix product ``W.reshape(OC, C*KH*KW) @ cols``.

``col2im`` is the adjoint (transpose) of ``im2col``: every entry of ``cols`` is added back
to the input pixel it was copied from, so <im2col(x), c> == <x, col2im(c)>.

Both kernels work on the zero-padded image, so their loops need no bounds tests. They
go through the image one (n, c) plane at a time: for each kernel offset (ky, kx) they
copy (or add) one run of OW pixels per output row between the plane and the row
(c, ky, kx) of ``cols``. The plane stays in the L1 cache while ``cols`` is read or
written in runs of OH*OW consecutive entries.

Planes are independent (no two planes write to the same memory), so a large call shares
the planes out among threads: the calling thread and ``num_threads() - 1`` helper
threads each take one consecutive block of planes, with the GIL released. The number of
threads is ``OMP_NUM_THREADS`` when set, else the number of CPUs this process may use.
(Plain threads rather than OpenMP: idle OpenMP threads keep spinning for a while after a
parallel loop and take the cores from the matrix product that follows; they made the
next product 50 % slower.) Each pixel of ``col2im``'s result receives its terms in the
same order as in the NumPy twin (ky-major, kx-minor, starting from zero), whatever the
threads, so the two agree bit for bit.

Layout of the rows ("pixel-major", for padded NHWC images)
----------------------------------------------------------
For an already padded image ``x`` of shape (N, H, W, C) in channels-last order,

    rows[(n*OH + oh)*OW + ow, (ky*KW + kx)*C + c] = x[n, oh*s + ky, ow*s + kx, c]

one row per output pixel, one column per position in the window. In NHWC memory the KW
pixels of one window row and all their channels are adjacent, so ``im2row`` fills a row
with KH copies of KW*C values each. ``row2im`` is its adjoint; it zeroes each image, then
adds the rows kernel offset by kernel offset (ky-major, kx-minor), the order of the twin,
so the two agree bit for bit. conv2d calls these two on chunks of a few images (small
enough to stay in the cache), so they run on one thread unless a call is very large.
"""
import os
import threading

import numpy as np

cimport numpy as cnp
from cython cimport floating
from libc.string cimport memcpy, memset

cnp.import_array()

# Calls that touch fewer entries of cols than this run on one thread: starting a thread
# (about 50 microseconds) would cost more than it saves.
cdef Py_ssize_t _PARALLEL_MIN = 1 << 18
# The row kernels copy runs of KW*C values rather than of OW pixels, which is several
# times faster; conv2d calls them on cache-sized chunks of the batch, which one thread
# handles in about 0.1 ms. Threads start only for calls much larger than that.
cdef Py_ssize_t _PARALLEL_MIN_ROWS = 1 << 22


cdef void _im2col_kernel(const floating[:, :, :, ::1] x_padded, floating[:, ::1] cols,
                         Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                         Py_ssize_t out_h, Py_ssize_t out_w,
                         Py_ssize_t first_plane, Py_ssize_t stop_plane) noexcept nogil:
    cdef Py_ssize_t channels = x_padded.shape[1]
    cdef Py_ssize_t plane, c, ky, kx, n, oh, ow
    cdef floating *dst
    cdef const floating *src
    for plane in range(first_plane, stop_plane):  # plane = n*C + c
        n = plane // channels
        c = plane % channels
        for ky in range(kh):
            for kx in range(kw):
                for oh in range(out_h):
                    # the pixels that offset (ky, kx) meets along output row oh of image n
                    dst = &cols[(c * kh + ky) * kw + kx, (n * out_h + oh) * out_w]
                    src = &x_padded[n, c, oh * stride + ky, kx]
                    if stride == 1:
                        for ow in range(out_w):
                            dst[ow] = src[ow]
                    else:
                        for ow in range(out_w):
                            dst[ow] = src[ow * stride]


cdef void _col2im_kernel(const floating[:, ::1] cols, floating[:, :, :, ::1] x_padded,
                         Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                         Py_ssize_t out_h, Py_ssize_t out_w,
                         Py_ssize_t first_plane, Py_ssize_t stop_plane) noexcept nogil:
    # x_padded holds zeros on entry; every entry of cols is added to its source pixel.
    cdef Py_ssize_t channels = x_padded.shape[1]
    cdef Py_ssize_t plane, c, ky, kx, n, oh, ow
    cdef const floating *src
    cdef floating *dst
    for plane in range(first_plane, stop_plane):  # plane = n*C + c
        n = plane // channels
        c = plane % channels
        for ky in range(kh):
            for kx in range(kw):
                for oh in range(out_h):
                    src = &cols[(c * kh + ky) * kw + kx, (n * out_h + oh) * out_w]
                    dst = &x_padded[n, c, oh * stride + ky, kx]
                    if stride == 1:
                        for ow in range(out_w):
                            dst[ow] += src[ow]
                    else:
                        for ow in range(out_w):
                            dst[ow * stride] += src[ow]


cdef void _im2row_kernel(const floating[:, :, :, ::1] x_padded, floating[:, ::1] rows,
                         Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                         Py_ssize_t out_h, Py_ssize_t out_w,
                         Py_ssize_t first_image, Py_ssize_t stop_image) noexcept nogil:
    # x_padded is NHWC: for one window row (n, y), the KW pixels x .. x+KW-1 and all their
    # channels lie next to each other, so each window is KH copies of KW*C values.
    cdef Py_ssize_t run = kw * x_padded.shape[3]
    cdef Py_ssize_t n, oh, ow, ky, row
    if run == 0:
        return
    for n in range(first_image, stop_image):
        row = n * out_h * out_w
        for oh in range(out_h):
            for ow in range(out_w):
                for ky in range(kh):
                    memcpy(&rows[row, ky * run], &x_padded[n, oh * stride + ky, ow * stride, 0],
                           run * sizeof(floating))
                row += 1


cdef void _row2im_kernel(const floating[:, ::1] rows, floating[:, :, :, ::1] x_padded,
                         Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                         Py_ssize_t out_h, Py_ssize_t out_w,
                         Py_ssize_t first_image, Py_ssize_t stop_image) noexcept nogil:
    # Each image is zeroed, then receives its terms kernel offset by kernel offset
    # (ky-major, kx-minor), the order of the NumPy twin, so the sums agree bit for bit.
    cdef Py_ssize_t channels = x_padded.shape[3]
    cdef Py_ssize_t image_size = x_padded.shape[1] * x_padded.shape[2] * channels
    cdef Py_ssize_t n, oh, ow, ky, kx, c, row
    cdef const floating *src
    cdef floating *dst
    for n in range(first_image, stop_image):
        if image_size == 0:
            continue
        memset(&x_padded[n, 0, 0, 0], 0, image_size * sizeof(floating))
        if channels == 0:
            continue
        for ky in range(kh):
            for kx in range(kw):
                row = n * out_h * out_w
                for oh in range(out_h):
                    for ow in range(out_w):
                        src = &rows[row, (ky * kw + kx) * channels]
                        dst = &x_padded[n, oh * stride + ky, ow * stride + kx, 0]
                        for c in range(channels):
                            dst[c] += src[c]
                        row += 1


def _im2col_planes(const floating[:, :, :, ::1] x_padded, floating[:, ::1] cols,
                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                   Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t first, Py_ssize_t stop):
    """im2col of the planes [first, stop), without the GIL (float or double: Cython picks by the arrays)."""
    with nogil:
        _im2col_kernel(x_padded, cols, kh, kw, stride, out_h, out_w, first, stop)


def _col2im_planes(const floating[:, ::1] cols, floating[:, :, :, ::1] x_padded,
                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                   Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t first, Py_ssize_t stop):
    """col2im into the planes [first, stop), without the GIL (float or double: Cython picks by the arrays)."""
    with nogil:
        _col2im_kernel(cols, x_padded, kh, kw, stride, out_h, out_w, first, stop)


def num_threads():
    """Threads the kernels use for large calls: ``OMP_NUM_THREADS``, else the usable CPUs."""
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _over_planes(kernel, args, Py_ssize_t n_planes, Py_ssize_t work, Py_ssize_t min_work=_PARALLEL_MIN):
    """Run ``kernel(*args, first, stop)`` over the planes [0, n_planes), one block per thread.

    ``work`` is the number of entries of ``cols`` the call touches; below ``min_work``
    the calling thread does everything.
    """
    cdef Py_ssize_t n_blocks = min(num_threads(), n_planes) if work >= min_work else 1
    if n_blocks <= 1:
        kernel(*args, 0, n_planes)
        return
    bounds = [n_planes * i // n_blocks for i in range(n_blocks + 1)]
    helpers = [threading.Thread(target=kernel, args=args + (bounds[i], bounds[i + 1]))
               for i in range(1, n_blocks)]
    for helper in helpers:
        helper.start()
    kernel(*args, bounds[0], bounds[1])  # the first block on this thread
    for helper in helpers:
        helper.join()


cdef inline Py_ssize_t _output_size(Py_ssize_t size, Py_ssize_t kernel, Py_ssize_t stride,
                                    Py_ssize_t padding) noexcept:
    """Number of window positions along one axis (the kernel fits: checked by the caller)."""
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t padding, out=None):
    """Unfold the KH x KW patches of ``x`` (N, C, H, W) into columns.

    Returns ``cols`` of shape (C*KH*KW, N*OH*OW) with the dtype of ``x`` (float32 or
    float64), laid out as described in the module docstring. When ``out`` is given (a
    C-contiguous array of that shape and dtype) the columns are written into it and it
    is returned. The GIL is released while copying, and large calls use
    :func:`num_threads` threads.
    """
    n_batch, channels, height, width = x.shape
    cdef Py_ssize_t out_h = _output_size(height, kh, stride, padding)
    cdef Py_ssize_t out_w = _output_size(width, kw, stride, padding)
    x_padded = np.ascontiguousarray(
        np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))) if padding else x)
    shape = (channels * kh * kw, n_batch * out_h * out_w)
    cols = np.empty(shape, dtype=x.dtype) if out is None else out
    _over_planes(_im2col_planes, (x_padded, cols, kh, kw, stride, out_h, out_w),
                 n_batch * channels, cols.size)
    return cols


def col2im(cols, x_shape, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t padding):
    """Adjoint of :func:`im2col`: add each column entry back to the pixel it came from.

    ``cols`` has shape (C*KH*KW, N*OH*OW); returns a C-contiguous array of shape
    ``x_shape`` = (N, C, H, W) with the dtype of ``cols``. The GIL is released while
    adding, and large calls use :func:`num_threads` threads.
    """
    n_batch, channels, height, width = x_shape
    cdef Py_ssize_t out_h = _output_size(height, kh, stride, padding)
    cdef Py_ssize_t out_w = _output_size(width, kw, stride, padding)
    cols = np.ascontiguousarray(cols)
    x_padded = np.zeros((n_batch, channels, height + 2 * padding, width + 2 * padding), dtype=cols.dtype)
    _over_planes(_col2im_planes, (cols, x_padded, kh, kw, stride, out_h, out_w),
                 n_batch * channels, cols.size)
    if padding:
        return np.ascontiguousarray(x_padded[:, :, padding:padding + height, padding:padding + width])
    return x_padded


def _im2row_images(const floating[:, :, :, ::1] x_padded, floating[:, ::1] rows,
                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                   Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t first, Py_ssize_t stop):
    """im2row of the images [first, stop), without the GIL (float or double: Cython picks by the arrays)."""
    with nogil:
        _im2row_kernel(x_padded, rows, kh, kw, stride, out_h, out_w, first, stop)


def _row2im_images(const floating[:, ::1] rows, floating[:, :, :, ::1] x_padded,
                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                   Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t first, Py_ssize_t stop):
    """row2im into the images [first, stop), without the GIL (float or double: Cython picks by the arrays)."""
    with nogil:
        _row2im_kernel(rows, x_padded, kh, kw, stride, out_h, out_w, first, stop)


def im2row(x, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, out=None):
    """Unfold the KH x KW windows of a padded NHWC image ``x`` (N, H, W, C) into rows.

    Returns ``rows`` of shape (N*OH*OW, KH*KW*C) with the dtype of ``x`` (float32 or
    float64), ``rows[(n*OH + oh)*OW + ow, (ky*KW + kx)*C + c] = x[n, oh*s + ky, ow*s + kx, c]``,
    with OH = (H - KH) // s + 1 and OW = (W - KW) // s + 1 (``x`` is already padded).
    When ``out`` is given (a C-contiguous array of that shape and dtype) the rows are
    written into it and it is returned. The GIL is released while copying.
    """
    n_batch, height, width, channels = x.shape
    cdef Py_ssize_t out_h = _output_size(height, kh, stride, 0)
    cdef Py_ssize_t out_w = _output_size(width, kw, stride, 0)
    x = np.ascontiguousarray(x)
    shape = (n_batch * out_h * out_w, kh * kw * channels)
    rows = np.empty(shape, dtype=x.dtype) if out is None else out
    _over_planes(_im2row_images, (x, rows, kh, kw, stride, out_h, out_w),
                 n_batch, rows.size, _PARALLEL_MIN_ROWS)
    return rows


def row2im(rows, x_shape, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, out=None):
    """Adjoint of :func:`im2row`: add each entry of ``rows`` back to the pixel it came from.

    ``rows`` has shape (N*OH*OW, KH*KW*C); returns an array of shape ``x_shape`` =
    (N, H, W, C) with the dtype of ``rows`` (written into ``out`` when it is given, a
    C-contiguous array of that shape and dtype). The GIL is released while adding.
    """
    n_batch, height, width, channels = x_shape
    cdef Py_ssize_t out_h = _output_size(height, kh, stride, 0)
    cdef Py_ssize_t out_w = _output_size(width, kw, stride, 0)
    rows = np.ascontiguousarray(rows)
    x = np.empty(x_shape, dtype=rows.dtype) if out is None else out
    _over_planes(_row2im_images, (rows, x, kh, kw, stride, out_h, out_w),
                 n_batch, rows.size, _PARALLEL_MIN_ROWS)
    return x
