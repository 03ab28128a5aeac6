"""The hot paths of minireg, each written twice: readable NumPy, and compiled.

Three computations dominate the running time of what minireg does and are compiled
with Cython in ``minireg/_ext/``:

* ``im2col`` / ``col2im`` and ``im2row`` / ``row2im`` -- the unfolding of image patches
  that turns a convolution into one matrix product, in two layouts, and the adjoint of
  each (``_ext/im2col.pyx``);
* the OWL / GrOWL proximal operator -- a sort, the pool-adjacent-violators algorithm
  and a scatter (``_ext/pava.pyx``);
* dropout masks -- random bits, the keep mask and the scaled output in one pass
  (``_ext/dropout.pyx``).

For each one, this module holds a pure-NumPy *twin*: the same function, written to be
read line by line by a student. The tests check that twin and kernel agree. The public
function of each pair (``im2col``, ``owl_prox``, ...) calls the compiled kernel when it
is built and switched on, and the twin otherwise.

The switch
----------
* ``MINIREG_PURE_NUMPY=1`` in the environment, before minireg is imported, starts with
  the twins switched on everywhere (useful for stepping through the code);
* ``use_compiled(False)`` / ``use_compiled(True)`` flips it at run time, and returns
  the previous setting so that a test can restore it;
* ``compiled_status()`` says, for each kernel, whether it is built and in use.

If the extensions are not built (for instance a source checkout used without
``pip install``), minireg still imports and works through the twins, and says so once
with a :class:`RuntimeWarning`.
"""
from __future__ import annotations

import importlib
import os
import warnings

import numpy as np

_EXTENSION_NAMES = ("im2col", "pava", "dropout")


def _load_extensions():
    loaded, missing = {}, []
    for name in _EXTENSION_NAMES:
        try:
            loaded[name] = importlib.import_module(f"minireg._ext.{name}")
        except ImportError:
            missing.append(name)
    return loaded, missing


_EXT, _MISSING = _load_extensions()
_USE_COMPILED = os.environ.get("MINIREG_PURE_NUMPY", "").strip() in ("", "0")

if _MISSING and _USE_COMPILED:
    warnings.warn(
        "minireg: the compiled kernels "
        + ", ".join(f"minireg._ext.{name}" for name in _MISSING)
        + " are not built, so minireg uses their pure-NumPy twins (correct, but slower). "
        "Build them with `pip install -e .` from the source checkout.",
        RuntimeWarning,
        stacklevel=2,
    )


def use_compiled(enabled: bool) -> bool:
    """Switch the compiled kernels on (``True``) or force the NumPy twins (``False``).

    Returns the previous setting. Kernels that are not built always fall back to
    their twins, whatever this says.
    """
    global _USE_COMPILED
    if not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"use_compiled(enabled=...) takes True or False, got {enabled!r}")
    previous, _USE_COMPILED = _USE_COMPILED, bool(enabled)
    return previous


def compiled_status() -> dict:
    """For each kernel: ``'compiled'`` if it is built and in use, else ``'numpy twin'``."""
    return {name: "compiled" if _compiled(name) else "numpy twin" for name in _EXTENSION_NAMES}


def _compiled(name: str):
    """The compiled module ``name`` if it is built and switched on, else ``None``."""
    return _EXT.get(name) if _USE_COMPILED else None


# ---------------------------------------------------------------------------------------
# im2col / col2im  (compiled: minireg/_ext/im2col.pyx)
# ---------------------------------------------------------------------------------------
#
# A convolution slides a KH x KW window over the (zero-padded) input. im2col copies
# every window into a column of one matrix, so that the convolution becomes a single
# matrix product (the "unfolding" of Chellapilla, Puri and Simard, 2006).
#
# Layout ("kernel-major"): for x of shape (N, C, H, W), stride s and padding p,
#
#     cols[(c*KH + ky)*KW + kx, (n*OH + oh)*OW + ow] = x_padded[n, c, oh*s + ky, ow*s + kx]
#
# with OH = (H + 2p - KH) // s + 1 and OW = (W + 2p - KW) // s + 1: one row per
# (channel, ky, kx), one column per output pixel, the batch folded into the columns.
# col2im is the adjoint: it adds every entry of cols back to the pixel it was copied
# from, so that <im2col(x), c> = <x, col2im(c)> for all x and c.


def conv_output_size(size: int, kernel: int, stride: int, padding: int, name: str = "size") -> int:
    """Number of window positions along one axis: ``(size + 2*padding - kernel) // stride + 1``.

    Raises ``ValueError`` when the kernel does not fit in the padded input.
    """
    if size + 2 * padding < kernel:
        raise ValueError(
            f"kernel size {kernel} is larger than the padded input {name} "
            f"{size} + 2*{padding} = {size + 2 * padding}"
        )
    return (size + 2 * padding - kernel) // stride + 1


def _check_window(kh, kw, stride, padding):
    """Validate the window arguments shared by im2col and col2im; return them as ints."""
    for name, value in (("kh", kh), ("kw", kw), ("stride", stride), ("padding", padding)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel size must be >= 1, got kh={kh}, kw={kw}")
    if stride < 1:
        raise ValueError(f"stride must be an int >= 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding}")
    return int(kh), int(kw), int(stride), int(padding)


def _check_float_array(array, name):
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(array).__name__}")
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got dtype {array.dtype}")


def _check_buffer(out, shape, dtype):
    """Check an ``out`` array that a kernel writes into (None passes): shape, dtype, layout."""
    if out is not None and (not isinstance(out, np.ndarray) or out.shape != tuple(shape)
                            or out.dtype != dtype or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous {np.dtype(dtype)} array of shape {tuple(shape)}")


def _check_im2col_args(x, kh, kw, stride, padding, out=None):
    """Validate im2col's arguments; return (kh, kw, stride, padding, out_h, out_w)."""
    kh, kw, stride, padding = _check_window(kh, kw, stride, padding)
    _check_float_array(x, "x")
    if x.ndim != 4:
        raise ValueError(f"x must have 4 dimensions (N, C, H, W), got shape {x.shape}")
    out_h = conv_output_size(x.shape[2], kh, stride, padding, "height")
    out_w = conv_output_size(x.shape[3], kw, stride, padding, "width")
    _check_buffer(out, (x.shape[1] * kh * kw, x.shape[0] * out_h * out_w), x.dtype)
    return kh, kw, stride, padding, out_h, out_w


def _check_col2im_args(cols, x_shape, kh, kw, stride, padding):
    """Validate col2im's arguments; return (x_shape, kh, kw, stride, padding, out_h, out_w)."""
    kh, kw, stride, padding = _check_window(kh, kw, stride, padding)
    _check_float_array(cols, "cols")
    x_shape = tuple(x_shape)
    if len(x_shape) != 4 or any(int(size) < 0 for size in x_shape):
        raise ValueError(f"x_shape must be (N, C, H, W) of non-negative ints, got {x_shape}")
    n_batch, channels, height, width = (int(size) for size in x_shape)
    out_h = conv_output_size(height, kh, stride, padding, "height")
    out_w = conv_output_size(width, kw, stride, padding, "width")
    expected = (channels * kh * kw, n_batch * out_h * out_w)
    if cols.shape != expected:
        raise ValueError(
            f"cols has shape {cols.shape}, but x_shape {x_shape} with a {kh}x{kw} kernel, "
            f"stride {stride} and padding {padding} needs {expected}"
        )
    return (n_batch, channels, height, width), kh, kw, stride, padding, out_h, out_w


def im2col_numpy(x, kh, kw, stride, padding, out=None):
    """Unfold the KH x KW patches of ``x`` into columns (readable NumPy twin).

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
    kh, kw, stride, padding, out_h, out_w = _check_im2col_args(x, kh, kw, stride, padding, out)
    n_batch, channels = x.shape[:2]
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
        im2col, which is what the backward pass of a convolution needs.

    Notes
    -----
    The same loop over kernel offsets as im2col, with ``+=`` in place of ``=``:
    windows of neighbouring offsets overlap, so their contributions add up. Each pixel
    receives its terms in the order ky-major, kx-minor; the compiled kernel keeps the
    same order, so the two agree exactly.
    """
    x_shape, kh, kw, stride, padding, out_h, out_w = _check_col2im_args(
        cols, x_shape, kh, kw, stride, padding
    )
    n_batch, channels, height, width = x_shape
    cols = cols.reshape(channels, kh, kw, n_batch, out_h, out_w)
    x_padded = np.zeros((n_batch, channels, height + 2 * padding, width + 2 * padding), dtype=cols.dtype)
    for ky in range(kh):
        for kx in range(kw):
            window = x_padded[:, :, ky : ky + stride * out_h : stride, kx : kx + stride * out_w : stride]
            window += cols[:, ky, kx].transpose(1, 0, 2, 3)  # (C, N, ...) -> (N, C, ...)
    return np.ascontiguousarray(x_padded[:, :, padding : padding + height, padding : padding + width])


def im2col(x, kh, kw, stride, padding, out=None):
    """Unfold image patches into columns; the compiled kernel when built, else the twin.

    Same arguments and result as :func:`im2col_numpy`.
    """
    kernel = _compiled("im2col")
    if kernel is None:
        return im2col_numpy(x, kh, kw, stride, padding, out)
    kh, kw, stride, padding, _, _ = _check_im2col_args(x, kh, kw, stride, padding, out)
    return kernel.im2col(x, kh, kw, stride, padding, out)


def col2im(cols, x_shape, kh, kw, stride, padding):
    """Add columns back into an image (adjoint of :func:`im2col`); compiled when built.

    Same arguments and result as :func:`col2im_numpy`.
    """
    kernel = _compiled("im2col")
    if kernel is None:
        return col2im_numpy(cols, x_shape, kh, kw, stride, padding)
    x_shape, kh, kw, stride, padding, _, _ = _check_col2im_args(cols, x_shape, kh, kw, stride, padding)
    return kernel.col2im(cols, x_shape, kh, kw, stride, padding)


# ---------------------------------------------------------------------------------------
# im2row / row2im  (compiled: minireg/_ext/im2col.pyx)
# ---------------------------------------------------------------------------------------
#
# The same unfolding in the other orientation, for images in NHWC order (channels last)
# that are already zero-padded: one row per output pixel, one column per position in
# the window,
#
#     rows[(n*OH + oh)*OW + ow, (ky*KW + kx)*C + c] = x[n, oh*s + ky, ow*s + kx, c]
#
# with OH = (H - KH) // s + 1 and OW = (W - KW) // s + 1. A convolution is then
# rows @ W_matrix, with W_matrix of shape (KH*KW*C, OC), and its result is already in
# NHWC order. In NHWC memory the KW pixels of one window row and all their channels are
# adjacent, so a window is KH runs of KW*C values: a far cheaper copy than the runs of
# OW pixels of im2col. conv2d uses this pair on cache-sized chunks of the batch.


def _check_im2row_args(x, kh, kw, stride, out=None):
    """Validate im2row's arguments; return (kh, kw, stride, out_h, out_w)."""
    kh, kw, stride, _ = _check_window(kh, kw, stride, 0)
    _check_float_array(x, "x")
    if x.ndim != 4:
        raise ValueError(f"x must have 4 dimensions (N, H, W, C), got shape {x.shape}")
    out_h = conv_output_size(x.shape[1], kh, stride, 0, "height")
    out_w = conv_output_size(x.shape[2], kw, stride, 0, "width")
    _check_buffer(out, (x.shape[0] * out_h * out_w, kh * kw * x.shape[3]), x.dtype)
    return kh, kw, stride, out_h, out_w


def _check_row2im_args(rows, x_shape, kh, kw, stride, out=None):
    """Validate row2im's arguments; return (x_shape, kh, kw, stride, out_h, out_w)."""
    kh, kw, stride, _ = _check_window(kh, kw, stride, 0)
    _check_float_array(rows, "rows")
    x_shape = tuple(x_shape)
    if len(x_shape) != 4 or any(int(size) < 0 for size in x_shape):
        raise ValueError(f"x_shape must be (N, H, W, C) of non-negative ints, got {x_shape}")
    n_batch, height, width, channels = (int(size) for size in x_shape)
    out_h = conv_output_size(height, kh, stride, 0, "height")
    out_w = conv_output_size(width, kw, stride, 0, "width")
    expected = (n_batch * out_h * out_w, kh * kw * channels)
    if rows.shape != expected:
        raise ValueError(
            f"rows has shape {rows.shape}, but x_shape {x_shape} with a {kh}x{kw} kernel "
            f"and stride {stride} needs {expected}"
        )
    x_shape = (n_batch, height, width, channels)
    _check_buffer(out, x_shape, rows.dtype)
    return x_shape, kh, kw, stride, out_h, out_w


def im2row_numpy(x, kh, kw, stride, out=None):
    """Unfold the KH x KW windows of a padded NHWC image into rows (readable NumPy twin).

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
    kh, kw, stride, out_h, out_w = _check_im2row_args(x, kh, kw, stride, out)
    n_batch, channels = x.shape[0], x.shape[3]
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
        A writeable C-contiguous array of shape ``x_shape`` and the dtype of ``rows``;
        it is overwritten with the result.

    Returns
    -------
    x : ndarray of shape ``x_shape``, dtype of ``rows``
        ``<im2row(x), r> = <x, row2im(r)>`` for all ``x`` and ``r``. Each pixel receives
        its terms in the order ky-major, kx-minor, starting from zero; the compiled
        kernel keeps the same order, so the two agree exactly.
    """
    x_shape, kh, kw, stride, out_h, out_w = _check_row2im_args(rows, x_shape, kh, kw, stride, out)
    n_batch, _, _, channels = x_shape
    rows = rows.reshape(n_batch, out_h, out_w, kh, kw, channels)
    x = np.zeros(x_shape, dtype=rows.dtype) if out is None else out
    x[...] = 0
    for ky in range(kh):
        for kx in range(kw):
            x[:, ky : ky + stride * out_h : stride, kx : kx + stride * out_w : stride, :] += rows[:, :, :, ky, kx, :]
    return x


def im2row(x, kh, kw, stride, out=None):
    """Unfold windows of a padded NHWC image into rows; compiled when built, else the twin.

    Same arguments and result as :func:`im2row_numpy`.
    """
    kernel = _compiled("im2col")
    if kernel is None:
        return im2row_numpy(x, kh, kw, stride, out)
    kh, kw, stride, _, _ = _check_im2row_args(x, kh, kw, stride, out)
    return kernel.im2row(x, kh, kw, stride, out)


def row2im(rows, x_shape, kh, kw, stride, out=None):
    """Add rows back into a padded NHWC image (adjoint of :func:`im2row`); compiled when built.

    Same arguments and result as :func:`row2im_numpy`.
    """
    kernel = _compiled("im2col")
    if kernel is None:
        return row2im_numpy(rows, x_shape, kh, kw, stride, out)
    x_shape, kh, kw, stride, _, _ = _check_row2im_args(rows, x_shape, kh, kw, stride, out)
    return kernel.row2im(rows, x_shape, kh, kw, stride, out)


# ---------------------------------------------------------------------------------------
# OWL / GrOWL proximal operator  (compiled: minireg/_ext/pava.pyx)
# ---------------------------------------------------------------------------------------
#
# The proximal operator of a penalty R at z with step size eta is
#
#     prox_{eta R}(z) = argmin_x  eta R(x) + 1/2 ||x - z||^2          (GrOWL, eq. (5)).
#
# For the OWL norm Omega_lam(x) = sum_i lam_i |x|_[i], where |x|_[i] is the i-th largest
# magnitude and lam_1 >= lam_2 >= ... >= lam_n >= 0, the prox is (GrOWL, Appendix A,
# Algorithm 2, from Bogdan et al. 2015):
#
#   1. sort the magnitudes |z| from largest to smallest;
#   2. subtract eta * lam, and replace the result by the closest non-increasing sequence
#      (isotonic regression, computed by the pool-adjacent-violators algorithm, PAVA);
#      clip it at zero;
#   3. put each value back at its original place, with the sign of z.
#
# GrOWL applies this to the norms of the rows of a matrix and rescales each row to its
# new norm (GrOWL, eq. (8)). The compiled kernel does the same three steps, with a radix
# sort of the magnitudes' bit patterns instead of np.argsort.


def isotonic_nonincreasing_numpy(values):
    """The non-increasing sequence closest to ``values`` in least squares (PAVA).

    Solves ``min_f sum_k (f_k - values_k)^2`` subject to ``f_1 >= f_2 >= ... >= f_n``
    by pool adjacent violators (de Leeuw et al. 2009): walk left to right keeping
    blocks of equal fitted value (the mean of the block); whenever a new block's mean
    is larger than the previous block's mean -- a violation of "non-increasing" --
    pool the two blocks into one. Readable twin of ``pava.isotonic_nonincreasing``.

    Parameters
    ----------
    values : 1-D array of float

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

    ``Omega_lam(x) = sum_i lam_i |x|_[i]`` with ``|x|_[1] >= |x|_[2] >= ...`` (GrOWL,
    eq. (1) for vectors; SLOPE, Bogdan et al. 2015). The result is computed in float64
    and returned in the dtype of ``z``. Readable twin of ``pava.owl_prox``; no
    argument checks (``owl_prox`` does them).
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
    zero). Readable twin of ``pava.growl_prox_rows``; no argument checks.
    """
    row_norms = np.sqrt(np.sum(np.square(w, dtype=np.float64), axis=1))
    shrunk_norms = owl_prox_numpy(row_norms, lam, eta)
    scale = np.zeros_like(row_norms)
    nonzero = row_norms > 0
    scale[nonzero] = shrunk_norms[nonzero] / row_norms[nonzero]
    return w * scale.astype(w.dtype)[:, None]


def _prox_float_array(array, name):
    """``array`` as an ndarray of float32 or float64, else a TypeError naming ``name``."""
    array = np.asarray(array)
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {array.dtype}")
    return array


def _prox_weights(lam, n):
    """The OWL weights ``lam`` as a contiguous float64 vector of length ``n``.

    Only type and shape are checked here; the values are checked by
    :func:`_owl_problem_numpy` (twin path) or by the compiled kernel itself.
    """
    lam = np.asarray(lam)
    if lam.dtype.kind not in "fiu":
        raise TypeError(f"lam must be an array of real numbers, got dtype {lam.dtype}")
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    if lam.shape != (n,):
        raise ValueError(f"lam must have shape ({n},), one weight per entry (or row), got {lam.shape}")
    return lam


# What is wrong with the input, by the number the compiled kernel returns (the STATUS_
# codes of minireg/_ext/pava.pyx); 0 means nothing.
_OWL_PROBLEMS = {
    1: "{name} must be finite (no inf or nan)",
    2: "lam must be finite",
    3: "lam must be non-increasing: lam[0] >= lam[1] >= ... >= lam[-1] >= 0",
    4: "lam must be non-negative (its last, smallest weight is negative)",
}


def _owl_problem_numpy(values, lam):
    """The number of the first problem of ``_OWL_PROBLEMS`` found, or 0 if none."""
    if not np.isfinite(values).all():
        return 1
    if lam.size == 0:
        return 0
    if not np.isfinite(lam).all():
        return 2
    if (lam[1:] > lam[:-1]).any():
        return 3
    if lam[-1] < 0:
        return 4
    return 0


def _raise_owl_problem(problem, name):
    """Raise the ValueError for problem number ``problem`` (nothing if it is 0)."""
    if problem:
        raise ValueError(_OWL_PROBLEMS[problem].format(name=name))


def _prox_step(eta):
    """The step size as a Python float, checked to be finite and >= 0."""
    if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, (int, float, np.integer, np.floating)):
        raise TypeError(f"eta must be a real number >= 0, got {eta!r}")
    eta = float(eta)
    if not (0.0 <= eta < np.inf):
        raise ValueError(f"eta must be a finite number >= 0, got {eta}")
    return eta


def check_out(out, like, name="out"):
    """Check that ``out`` (if given) can receive a result shaped and typed like ``like``."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be None or an ndarray, got {type(out).__name__}")
    if out.shape != like.shape or out.dtype != like.dtype:
        raise ValueError(
            f"{name} must have shape {like.shape} and dtype {like.dtype} like the input, "
            f"got shape {out.shape} and dtype {out.dtype}"
        )
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return out


def _store(result, out):
    """Return ``result``, or copy it into ``out`` and return ``out``."""
    if out is None:
        return result
    out[...] = result
    return out


def isotonic_nonincreasing(values):
    """The closest non-increasing sequence to ``values`` in least squares (PAVA).

    Compiled ``pava.isotonic_nonincreasing`` or its twin
    :func:`isotonic_nonincreasing_numpy`; the result is float64.
    """
    values = np.ascontiguousarray(_prox_float_array(values, "values"), dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {values.shape}")
    ext = _compiled("pava")
    if ext is None:
        return isotonic_nonincreasing_numpy(values)
    return ext.isotonic_nonincreasing(values)


def owl_prox(z, lam, eta, out=None):
    """prox of ``eta * Omega_lam`` at the vector ``z``: the OWL (SLOPE) proximal operator.

    ``argmin_x eta * sum_i lam_i |x|_[i] + 1/2 ||x - z||^2`` (GrOWL, eq. (5) and
    Appendix A, Algorithm 2; Bogdan et al. 2015).

    Parameters
    ----------
    z : 1-D float32 or float64 array, finite
    lam : 1-D array of ``len(z)`` weights, non-increasing and non-negative
    eta : float >= 0, the step size
    out : None, or an array like ``z`` to write into (``out=z`` works in place)

    Returns
    -------
    ndarray of the dtype of ``z`` (``out`` if given). Uses the compiled kernel when it
    is built and switched on (see :func:`use_compiled`), else :func:`owl_prox_numpy`.
    """
    z = _prox_float_array(z, "z")
    if z.ndim != 1:
        raise ValueError(f"z must be a 1-D vector, got shape {z.shape}; for rows use growl_prox")
    lam = _prox_weights(lam, z.shape[0])
    eta = _prox_step(eta)
    out = check_out(out, z)
    ext = _compiled("pava")
    if ext is None or z.shape[0] >= 2**31:
        _raise_owl_problem(_owl_problem_numpy(z, lam), "z")
        return _store(owl_prox_numpy(z, lam, eta), out)
    # The kernel checks z and lam itself, and writes nothing when they are not valid.
    z_contiguous = np.ascontiguousarray(z)
    if out is not None and out.flags.c_contiguous:
        _raise_owl_problem(ext.owl_prox(z_contiguous, lam, eta, out), "z")
        return out
    result = np.empty_like(z_contiguous)
    _raise_owl_problem(ext.owl_prox(z_contiguous, lam, eta, result), "z")
    return _store(result, out)


def growl_prox(w, lam, eta, out=None):
    """prox of ``eta * Omega_lam`` on the rows of the matrix ``w`` (GrOWL, eq. (8)).

    ``Omega_lam(W) = sum_i lam_i ||w_[i]||_2``, where ``w_[i]`` is the row with the i-th
    largest norm (GrOWL, eq. (1)). Each row is rescaled to the OWL prox of the row
    norms: ``U_i = w_i * prox_{eta Omega_lam}(r)_i / r_i``, ``r_i = ||w_i||_2``.

    Parameters
    ----------
    w : 2-D float32 or float64 array (n_rows, n_columns), finite. For a layer weight
        use ``minireg.nn.row_view`` to get its rows.
    lam : 1-D array of ``n_rows`` weights, non-increasing and non-negative
    eta : float >= 0, the step size
    out : None, or an array like ``w`` to write into (``out=w`` works in place)

    Returns
    -------
    ndarray of the dtype of ``w`` (``out`` if given). Compiled ``pava.growl_prox_rows``
    (row norms, OWL prox, rescaling in one call) or :func:`growl_prox_numpy`.
    """
    w = _prox_float_array(w, "w")
    if w.ndim != 2:
        raise ValueError(f"w must be a 2-D matrix whose rows are the groups, got shape {w.shape}")
    lam = _prox_weights(lam, w.shape[0])
    eta = _prox_step(eta)
    out = check_out(out, w)
    # A finite float64 row can still have a norm that overflows (entries near 1e154 and
    # up); both paths refuse it, like an inf.
    name = "w (with row norms that fit in float64)"
    ext = _compiled("pava")
    if ext is None or w.shape[0] >= 2**30:
        _raise_owl_problem(_owl_problem_numpy(w, lam), name)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below
            result = growl_prox_numpy(w, lam, eta)
        _raise_owl_problem(_owl_problem_numpy(result, lam), name)
        return _store(result, out)
    # The kernel checks the row norms and lam itself, and writes nothing when they are
    # not valid.
    w_contiguous = np.ascontiguousarray(w)
    if out is not None and out.flags.c_contiguous:
        _raise_owl_problem(ext.growl_prox_rows(w_contiguous, lam, eta, out), name)
        return out
    result = np.empty_like(w_contiguous)
    _raise_owl_problem(ext.growl_prox_rows(w_contiguous, lam, eta, result), name)
    return _store(result, out)


# ---------------------------------------------------------------------------------------
# dropout masks  (compiled: minireg/_ext/dropout.pyx)
# ---------------------------------------------------------------------------------------
#
# Dropout multiplies each entry of x by an independent mask bit m (1 with probability
# keep) and divides by keep, so that the expected output equals x ("inverted dropout":
# the weight scaling rule of Deep Learning, sec. 7.11, applied at training time instead
# of at inference):
#
#     y = x * m / keep,      m ~ Bernoulli(keep), independently for each entry.
#
# The random bits come from the caller's numpy.random.Generator. Both the kernel and the
# twin read the same 64-bit words from its bit generator and cut each word into four
# 16-bit draws (bits 0-15 for the first entry, 16-31 for the second, ...); entry k keeps
# its value when its draw is below round(keep * 2**16). Same seed, same mask, whichever
# of the two ran. The keep probability is round(keep * 2**16) / 2**16, within 2**-17 of
# keep. DropConnect (Wan et al. 2013) is the same operation applied to a weight matrix.

DROPOUT_DRAW_BITS = 16


def dropout_threshold(keep):
    """The integer ``t`` such that a 16-bit draw ``u`` keeps its entry when ``u < t``.

    ``t = round(keep * 2**16)``; the keep probability is then ``t / 2**16``.
    """
    return int(round(keep * 2**DROPOUT_DRAW_BITS))


def dropout_numpy(x, keep, rng):
    """Inverted dropout ``y = x * m / keep`` with ``m ~ Bernoulli(keep)`` per entry.

    Readable twin of ``dropout.dropout_fill``: it draws the same words from
    ``rng.bit_generator`` and returns the same mask and output. No argument checks
    (``dropout`` does them).

    Returns
    -------
    y : array like ``x`` (same dtype), the kept entries scaled by ``1 / keep``
    mask : bool array of the shape of ``x``, True where the entry was kept
    """
    threshold = dropout_threshold(keep)
    n_words = (x.size + 3) // 4  # four 16-bit draws per 64-bit word
    words = rng.bit_generator.random_raw(n_words)
    # Draw j of a word is its bits 16*j ... 16*j + 15.
    draws = np.empty((n_words, 4), dtype=np.uint16)
    for j in range(4):
        draws[:, j] = (words >> np.uint64(16 * j)) & np.uint64(0xFFFF)
    draws = draws.reshape(-1)[: x.size].reshape(x.shape)
    mask = draws < threshold
    scale = x.dtype.type(1.0 / keep)  # in the dtype of x, so float32 stays float32
    y = x * np.where(mask, scale, x.dtype.type(0))
    return y, mask


def _dropout_keep(keep):
    """``keep`` as a Python float in (0, 1], fine enough for 16-bit draws, else an error."""
    if isinstance(keep, (bool, np.bool_)) or not isinstance(keep, (int, float, np.integer, np.floating)):
        raise TypeError(f"keep must be a number in (0, 1], got {keep!r}")
    keep = float(keep)
    if not (0.0 < keep <= 1.0):
        raise ValueError(f"keep must be in (0, 1] (the probability of keeping an entry), got {keep}")
    if dropout_threshold(keep) == 0:
        raise ValueError(
            f"keep={keep} is below the 2**-17 resolution of the 16-bit draws; use keep >= 2**-16"
        )
    return keep


def dropout(x, keep, rng, out=None):
    """Inverted dropout (or DropConnect on a weight): ``y = x * m / keep``.

    Parameters
    ----------
    x : float32 or float64 array (activations, or a weight matrix for DropConnect)
    keep : float in (0, 1], the probability of keeping each entry
    rng : numpy.random.Generator; its bit generator supplies the random bits, so one
        seed always gives the same mask (compiled kernel or twin alike)
    out : None, or an array like ``x`` to write ``y`` into (``out=x`` works in place)

    Returns
    -------
    y : ndarray like ``x`` (``out`` if given)
    mask : bool ndarray of the shape of ``x``, True where the entry was kept

    The compiled ``dropout.dropout_fill`` makes mask and output in one pass, holding
    the generator's lock; :func:`dropout_numpy` is its readable twin.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be a float32 or float64 array, got dtype {x.dtype}")
    keep = _dropout_keep(keep)
    check_out(out, x)
    ext = _compiled("dropout")
    if ext is None:
        y, mask = dropout_numpy(x, keep, rng)
        if out is None:
            return np.asarray(y), np.asarray(mask)  # arrays even when x is 0-d
        out[...] = y
        return out, np.asarray(mask)
    x_contiguous = np.ascontiguousarray(x)
    mask = np.empty(x.shape, dtype=np.bool_)
    if out is not None and out.flags.c_contiguous:
        y = out
    else:
        y = np.empty(x.shape, dtype=x.dtype)
    ext.dropout_fill(
        x_contiguous.reshape(-1), dropout_threshold(keep), 1.0 / keep, rng.bit_generator,
        y.reshape(-1), mask.reshape(-1).view(np.uint8),
    )
    if out is not None and y is not out:
        out[...] = y
        return out, mask
    return y, mask
