"""Compiled im2col / col2im: the patch unfolding behind convolution, and its adjoint.

The readable twins are ``im2col_numpy`` and ``col2im_numpy`` in ``minireg/kernels.py``;
the tests check that both give exactly the same numbers. Call these functions through
``minireg.kernels.im2col`` / ``minireg.kernels.col2im``, which fall back to the twins
when this module is not built.

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
"""
import os
import threading

import numpy as np

cimport numpy as cnp
from cython cimport floating

cnp.import_array()

# Calls that touch fewer entries of cols than this run on one thread: starting a thread
# (about 50 microseconds) would cost more than it saves.
cdef Py_ssize_t _PARALLEL_MIN = 1 << 18


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


def _im2col_planes(x_padded, cols, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                   Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t first, Py_ssize_t stop):
    """im2col of the planes [first, stop), without the GIL."""
    cdef float[:, :, :, ::1] x32
    cdef float[:, ::1] cols32
    cdef double[:, :, :, ::1] x64
    cdef double[:, ::1] cols64
    if x_padded.dtype == np.float32:
        x32, cols32 = x_padded, cols
        with nogil:
            _im2col_kernel[float](x32, cols32, kh, kw, stride, out_h, out_w, first, stop)
    else:
        x64, cols64 = x_padded, cols
        with nogil:
            _im2col_kernel[double](x64, cols64, kh, kw, stride, out_h, out_w, first, stop)


def _col2im_planes(cols, x_padded, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                   Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t first, Py_ssize_t stop):
    """col2im into the planes [first, stop), without the GIL."""
    cdef float[:, ::1] cols32
    cdef float[:, :, :, ::1] x32
    cdef double[:, ::1] cols64
    cdef double[:, :, :, ::1] x64
    if cols.dtype == np.float32:
        cols32, x32 = cols, x_padded
        with nogil:
            _col2im_kernel[float](cols32, x32, kh, kw, stride, out_h, out_w, first, stop)
    else:
        cols64, x64 = cols, x_padded
        with nogil:
            _col2im_kernel[double](cols64, x64, kh, kw, stride, out_h, out_w, first, stop)


def num_threads():
    """Threads the kernels use for large calls: ``OMP_NUM_THREADS``, else the usable CPUs."""
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _over_planes(kernel, args, Py_ssize_t n_planes, Py_ssize_t work):
    """Run ``kernel(*args, first, stop)`` over the planes [0, n_planes), one block per thread.

    ``work`` is the number of entries of ``cols`` the call touches; below _PARALLEL_MIN
    the calling thread does everything.
    """
    cdef Py_ssize_t n_blocks = min(num_threads(), n_planes) if work >= _PARALLEL_MIN else 1
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


def _check_window(Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t padding):
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel size must be >= 1, got kh={kh}, kw={kw}")
    if stride < 1:
        raise ValueError(f"stride must be an int >= 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding}")


def _output_size(Py_ssize_t size, Py_ssize_t kernel, Py_ssize_t stride, Py_ssize_t padding,
                 str name):
    if size + 2 * padding < kernel:
        raise ValueError(
            f"kernel size {kernel} is larger than the padded input {name} "
            f"{size} + 2*{padding} = {size + 2 * padding}")
    return (size + 2 * padding - kernel) // stride + 1


def _check_dtype(array, str name):
    if array.dtype != np.float32 and array.dtype != np.float64:
        raise TypeError(f"{name} must be float32 or float64, got dtype {array.dtype}")


def _check_out(out, shape, dtype):
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype \
            or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous {np.dtype(dtype)} array of shape {shape}")


def im2col(x, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t padding, out=None):
    """Unfold the KH x KW patches of ``x`` (N, C, H, W) into columns.

    Returns ``cols`` of shape (C*KH*KW, N*OH*OW) with the dtype of ``x`` (float32 or
    float64), laid out as described in the module docstring. When ``out`` is given (a
    C-contiguous array of that shape and dtype) the columns are written into it and it
    is returned. The GIL is released while copying, and large calls use
    :func:`num_threads` threads.
    """
    _check_window(kh, kw, stride, padding)
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have 4 dimensions (N, C, H, W), got shape {x.shape}")
    _check_dtype(x, "x")
    n_batch, channels, height, width = x.shape
    out_h = _output_size(height, kh, stride, padding, "height")
    out_w = _output_size(width, kw, stride, padding, "width")
    x_padded = np.ascontiguousarray(
        np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))) if padding else x)
    shape = (channels * kh * kw, n_batch * out_h * out_w)
    if out is None:
        cols = np.empty(shape, dtype=x.dtype)
    else:
        _check_out(out, shape, x.dtype)
        cols = out
    _over_planes(_im2col_planes, (x_padded, cols, kh, kw, stride, out_h, out_w),
                 n_batch * channels, cols.size)
    return cols


def col2im(cols, x_shape, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t padding):
    """Adjoint of :func:`im2col`: add each column entry back to the pixel it came from.

    ``cols`` has shape (C*KH*KW, N*OH*OW); returns a C-contiguous array of shape
    ``x_shape`` = (N, C, H, W) with the dtype of ``cols``. The GIL is released while
    adding, and large calls use :func:`num_threads` threads.
    """
    _check_window(kh, kw, stride, padding)
    cols = np.asarray(cols)
    x_shape = tuple(x_shape)
    if len(x_shape) != 4 or any(int(size) < 0 for size in x_shape):
        raise ValueError(f"x_shape must be (N, C, H, W) of non-negative ints, got {x_shape}")
    _check_dtype(cols, "cols")
    n_batch, channels, height, width = [int(size) for size in x_shape]
    out_h = _output_size(height, kh, stride, padding, "height")
    out_w = _output_size(width, kw, stride, padding, "width")
    expected = (channels * kh * kw, n_batch * out_h * out_w)
    if cols.shape != expected:
        raise ValueError(
            f"cols has shape {cols.shape}, but x_shape {x_shape} with a {kh}x{kw} "
            f"kernel, stride {stride} and padding {padding} needs {expected}")
    cols = np.ascontiguousarray(cols)
    x_padded = np.zeros((n_batch, channels, height + 2 * padding, width + 2 * padding), dtype=cols.dtype)
    _over_planes(_col2im_planes, (cols, x_padded, kh, kw, stride, out_h, out_w),
                 n_batch * channels, cols.size)
    if padding:
        return np.ascontiguousarray(x_padded[:, :, padding:padding + height, padding:padding + width])
    return x_padded
