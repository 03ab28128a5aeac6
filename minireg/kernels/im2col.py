"""im2col / col2im and im2row / row2im: the unfolding behind convolution, in readable NumPy.

A convolution slides a KH x KW window over the (zero-padded) input. Unfolding copies
every window into one column (or row) of a matrix, so that the convolution becomes a
single matrix product (Chellapilla, Puri and Simard, 2006). The compiled twins of these
functions are in ``minireg/_ext/im2col.pyx``; ``minireg.kernels.im2col`` and the others
check their arguments and then call whichever is switched on.

Two layouts
-----------
*Kernel-major* (``im2col``), for x of shape (N, C, H, W), stride s and padding p::

    cols[(c*KH + ky)*KW + kx, (n*OH + oh)*OW + ow] = x_padded[n, c, oh*s + ky, ow*s + kx]

with OH = (H + 2p - KH) // s + 1 and OW = (W + 2p - KW) // s + 1: one row per
(channel, ky, kx), one column per output pixel, the batch folded into the columns.

*Pixel-major* (``im2row``), for an already zero-padded image in NHWC order (channels
last)::

    rows[(n*OH + oh)*OW + ow, (ky*KW + kx)*C + c] = x[n, oh*s + ky, ow*s + kx, c]

with OH = (H - KH) // s + 1 and OW = (W - KW) // s + 1: one row per output pixel, one
column per position in the window. A convolution is then ``rows @ W_matrix`` with
W_matrix of shape (KH*KW*C, OC), and its result is already in NHWC order. In NHWC memory
the KW pixels of one window row and all their channels are adjacent, so a window is KH
runs of KW*C values: a far cheaper copy than the runs of OW pixels of im2col. conv2d
uses this pair on cache-sized chunks of the batch.

``col2im`` and ``row2im`` are the adjoints: they add every entry back to the pixel it was
copied from, so that <im2col(x), c> = <x, col2im(c)> for all x and c -- what the
backward pass of a convolution needs.

These functions assume valid arguments (float32 or float64 arrays of the right shapes,
integer window sizes, a kernel that fits); the public functions of
:mod:`minireg.kernels` check them.
"""
import numpy as np


def output_size(size, kernel, stride, padding):
    """Number of window positions along one axis: ``(size + 2*padding - kernel) // stride + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def im2col_numpy(x, kh, kw, stride, padding, out=None):
    """Unfold the KH x KW patches of ``x`` into columns.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    kh, kw : int
        Kernel height and width.
    stride : int
        Step between windows, >= 1.
    padding : int
        Zeros added on each side of both spatial axes, >= 0.
    out : ndarray, optional
        A writeable C-contiguous array of the result's shape and dtype to write into
        (a reused work buffer spares the page faults of a fresh large array).

    Returns
    -------
    cols : ndarray of shape (C*KH*KW, N*OH*OW), dtype of ``x``
        ``cols[(c*KH + ky)*KW + kx, (n*OH + oh)*OW + ow] = x_padded[n, c, oh*s + ky, ow*s + kx]``.
        This is ``out`` when it is given.

    Notes
    -----
    One loop over the KH*KW kernel offsets; each step copies, for every channel and
    image at once, the strided slice of the padded input that the offset (ky, kx)
    touches.
    """
    n_batch, channels, height, width = x.shape
    out_h, out_w = output_size(height, kh, stride, padding), output_size(width, kw, stride, padding)
    x_padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    if out is None:
        cols = np.empty((channels, kh, kw, n_batch, out_h, out_w), dtype=x.dtype)
    else:
        cols = out.reshape(channels, kh, kw, n_batch, out_h, out_w)  # a view: writes land in out
    for ky in range(kh):
        for kx in range(kw):
            # the pixels that kernel offset (ky, kx) meets, for every output position
            window = x_padded[:, :, ky : ky + stride * out_h : stride, kx : kx + stride * out_w : stride]
            cols[:, ky, kx] = window.transpose(1, 0, 2, 3)  # (N, C, ...) -> (C, N, ...)
    return cols.reshape(channels * kh * kw, n_batch * out_h * out_w) if out is None else out


def col2im_numpy(cols, x_shape, kh, kw, stride, padding):
    """Adjoint of :func:`im2col_numpy`: add every column entry back to its pixel.

    Parameters
    ----------
    cols : ndarray of shape (C*KH*KW, N*OH*OW), float32 or float64
    x_shape : tuple (N, C, H, W)
        Shape of the image that ``cols`` was (or could have been) unfolded from.
    kh, kw, stride, padding : int
        As in :func:`im2col_numpy`.

    Returns
    -------
    x : ndarray of shape ``x_shape``, dtype of ``cols``
        ``x[n, c, i, j]`` is the sum of the entries of ``cols`` that im2col would have
        copied from pixel (i, j) of image n, channel c. Hence, for all ``x`` and ``c``,
        ``<im2col(x), c> = <x, col2im(c)>``: col2im is the transpose of the linear map
        im2col.

    Notes
    -----
    The same loop over kernel offsets as im2col, with ``+=`` in place of ``=``:
    windows of neighbouring offsets overlap, so their contributions add up. Each pixel
    receives its terms in the order ky-major, kx-minor; the compiled kernel keeps the
    same order, so the two agree exactly.
    """
    n_batch, channels, height, width = x_shape
    out_h, out_w = output_size(height, kh, stride, padding), output_size(width, kw, stride, padding)
    cols = cols.reshape(channels, kh, kw, n_batch, out_h, out_w)
    x_padded = np.zeros((n_batch, channels, height + 2 * padding, width + 2 * padding), dtype=cols.dtype)
    for ky in range(kh):
        for kx in range(kw):
            window = x_padded[:, :, ky : ky + stride * out_h : stride, kx : kx + stride * out_w : stride]
            window += cols[:, ky, kx].transpose(1, 0, 2, 3)  # (C, N, ...) -> (N, C, ...)
    return np.ascontiguousarray(x_padded[:, :, padding : padding + height, padding : padding + width])


def im2row_numpy(x, kh, kw, stride, out=None):
    """Unfold the KH x KW windows of a padded NHWC image into rows.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C), float32 or float64
        Channels last, and already zero-padded: im2row adds no padding.
    kh, kw : int
        Kernel height and width.
    stride : int
        Step between windows, >= 1.
    out : ndarray, optional
        A writeable C-contiguous array of the result's shape and dtype to write into.

    Returns
    -------
    rows : ndarray of shape (N*OH*OW, KH*KW*C), dtype of ``x``
        ``rows[(n*OH + oh)*OW + ow, (ky*KW + kx)*C + c] = x[n, oh*s + ky, ow*s + kx, c]``.
        This is ``out`` when it is given.

    Notes
    -----
    One loop over the KH*KW kernel offsets, as in :func:`im2col_numpy`; each step copies
    the strided slice of ``x`` that the offset (ky, kx) touches, for every image, output
    pixel and channel at once.
    """
    n_batch, height, width, channels = x.shape
    out_h, out_w = output_size(height, kh, stride, 0), output_size(width, kw, stride, 0)
    rows = np.empty((n_batch, out_h, out_w, kh, kw, channels), dtype=x.dtype) if out is None \
        else out.reshape(n_batch, out_h, out_w, kh, kw, channels)  # a view: writes land in out
    for ky in range(kh):
        for kx in range(kw):
            rows[:, :, :, ky, kx, :] = x[:, ky : ky + stride * out_h : stride, kx : kx + stride * out_w : stride, :]
    return rows.reshape(n_batch * out_h * out_w, kh * kw * channels) if out is None else out


def row2im_numpy(rows, x_shape, kh, kw, stride, out=None):
    """Adjoint of :func:`im2row_numpy`: add every entry of ``rows`` back to its pixel.

    Parameters
    ----------
    rows : ndarray of shape (N*OH*OW, KH*KW*C), float32 or float64
    x_shape : tuple (N, H, W, C)
        Shape of the padded NHWC image that ``rows`` was (or could have been) unfolded from.
    kh, kw, stride : int
        As in :func:`im2row_numpy`.
    out : ndarray, optional
        An array of shape ``x_shape`` and the dtype of ``rows``; it is overwritten with
        the result.

    Returns
    -------
    x : ndarray of shape ``x_shape``, dtype of ``rows``
        ``<im2row(x), r> = <x, row2im(r)>`` for all ``x`` and ``r``. Each pixel receives
        its terms in the order ky-major, kx-minor, starting from zero; the compiled
        kernel keeps the same order, so the two agree exactly.
    """
    n_batch, height, width, channels = x_shape
    out_h, out_w = output_size(height, kh, stride, 0), output_size(width, kw, stride, 0)
    rows = rows.reshape(n_batch, out_h, out_w, kh, kw, channels)
    x = np.zeros(x_shape, dtype=rows.dtype) if out is None else out
    x[...] = 0
    for ky in range(kh):
        for kx in range(kw):
            x[:, ky : ky + stride * out_h : stride, kx : kx + stride * out_w : stride, :] += rows[:, :, :, ky, kx, :]
    return x
