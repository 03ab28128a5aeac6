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

Both kernels work on the zero-padded image, so their loops need no bounds tests: for
each row (c, ky, kx) of ``cols`` they walk the output pixels in order and copy (or add)
one run of OW pixels per output row. Reads and writes of ``cols`` are sequential. Each
pixel of ``col2im``'s result receives its terms in the same order as in the NumPy twin
(ky-major, kx-minor, starting from zero), so the two agree bit for bit.
"""
import numpy as np

cimport numpy as cnp
from cython cimport floating

cnp.import_array()


cdef void _im2col_kernel(const floating[:, :, :, ::1] x_padded, floating[:, ::1] cols,
                         Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                         Py_ssize_t out_h, Py_ssize_t out_w) noexcept nogil:
    cdef Py_ssize_t n_batch = x_padded.shape[0], channels = x_padded.shape[1]
    cdef Py_ssize_t c, ky, kx, n, oh, ow
    cdef floating *dst
    cdef const floating *src
    for c in range(channels):
        for ky in range(kh):
            for kx in range(kw):
                dst = &cols[(c * kh + ky) * kw + kx, 0]  # the row of (c, ky, kx)
                for n in range(n_batch):
                    for oh in range(out_h):
                        # the pixels that offset (ky, kx) meets along output row oh
                        src = &x_padded[n, c, oh * stride + ky, kx]
                        if stride == 1:
                            for ow in range(out_w):
                                dst[ow] = src[ow]
                        else:
                            for ow in range(out_w):
                                dst[ow] = src[ow * stride]
                        dst += out_w


cdef void _col2im_kernel(const floating[:, ::1] cols, floating[:, :, :, ::1] x_padded,
                         Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                         Py_ssize_t out_h, Py_ssize_t out_w) noexcept nogil:
    # x_padded holds zeros on entry; every entry of cols is added to its source pixel.
    cdef Py_ssize_t n_batch = x_padded.shape[0], channels = x_padded.shape[1]
    cdef Py_ssize_t c, ky, kx, n, oh, ow
    cdef const floating *src
    cdef floating *dst
    for c in range(channels):
        for ky in range(kh):
            for kx in range(kw):
                src = &cols[(c * kh + ky) * kw + kx, 0]
                for n in range(n_batch):
                    for oh in range(out_h):
                        dst = &x_padded[n, c, oh * stride + ky, kx]
                        if stride == 1:
                            for ow in range(out_w):
                                dst[ow] += src[ow]
                        else:
                            for ow in range(out_w):
                                dst[ow * stride] += src[ow]
                        src += out_w


cdef void _run_im2col(const floating[:, :, :, ::1] x_padded, floating[:, ::1] cols,
                      Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                      Py_ssize_t out_h, Py_ssize_t out_w):
    with nogil:
        _im2col_kernel(x_padded, cols, kh, kw, stride, out_h, out_w)


cdef void _run_col2im(const floating[:, ::1] cols, floating[:, :, :, ::1] x_padded,
                      Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride,
                      Py_ssize_t out_h, Py_ssize_t out_w):
    with nogil:
        _col2im_kernel(cols, x_padded, kh, kw, stride, out_h, out_w)


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


def im2col(x, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t padding):
    """Unfold the KH x KW patches of ``x`` (N, C, H, W) into columns.

    Returns ``cols`` of shape (C*KH*KW, N*OH*OW) with the dtype of ``x`` (float32 or
    float64), laid out as described in the module docstring. The GIL is released while
    copying.
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
    cols = np.empty((channels * kh * kw, n_batch * out_h * out_w), dtype=x.dtype)
    if x.dtype == np.float32:
        _run_im2col[float](x_padded, cols, kh, kw, stride, out_h, out_w)
    else:
        _run_im2col[double](x_padded, cols, kh, kw, stride, out_h, out_w)
    return cols


def col2im(cols, x_shape, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t padding):
    """Adjoint of :func:`im2col`: add each column entry back to the pixel it came from.

    ``cols`` has shape (C*KH*KW, N*OH*OW); returns a C-contiguous array of shape
    ``x_shape`` = (N, C, H, W) with the dtype of ``cols``. The GIL is released while
    adding.
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
    if cols.dtype == np.float32:
        _run_col2im[float](cols, x_padded, kh, kw, stride, out_h, out_w)
    else:
        _run_col2im[double](cols, x_padded, kh, kw, stride, out_h, out_w)
    if padding:
        return np.ascontiguousarray(x_padded[:, :, padding:padding + height, padding:padding + width])
    return x_padded
