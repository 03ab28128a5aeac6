"""conv2d, the one op that is written for speed: pixel rows, chunks of the batch, threads.

:func:`conv2d` is re-exported by :mod:`minireg.functional` as ``F.conv2d``; read
:func:`minireg.functional.im2col` and :func:`~minireg.functional.col2im` first, then
the docstring of :func:`conv2d` below for what is computed. The rest of this module is
how it is computed fast (``docs/convolution.md``, "The fast path"):

* **pixel rows.** ``rows = im2row(x_padded)`` unfolds the channels-last (NHWC) padded
  input with one row per output pixel, so ``rows @ W_matrix`` is the output in NHWC
  order; a window is KH runs of KW*C adjacent values, a cheaper copy than im2col's;
* **chunks.** The batch goes a few images at a time, so that a chunk's rows stay in
  the CPU's cache between the unfolding and the matrix product;
* **threads.** Several chunks run at once, one per thread, each product on one BLAS
  thread (:mod:`minireg.threads`). The chunks do not depend on the number of threads,
  so conv2d gives the same bits on one thread and on many.

Import cycle: :mod:`minireg.functional` imports :func:`conv2d` from here at its top,
and this module needs functional's ops (im2col, matmul, ...) for the differentiable
backward pass. It imports functional as a module object and looks the ops up when
conv2d runs, by which time functional is complete, so the order in which the two
modules are first imported does not matter.
"""
from __future__ import annotations

import math

import numpy as np

from minireg import functional as F
from minireg import kernels as _kernels
from minireg import threads as _threads
from minireg.tensor import Tensor, is_grad_enabled, needs_grad

# conv2d goes through the batch a few images at a time: the unfolded rows of one chunk
# (and the matrix products made from them) stay in the CPU's cache between the unfolding
# and the product, instead of a batch-sized matrix (80 MB for LeNet's second layer at
# batch 128) going out to memory and back. Several chunks run at once, one per thread
# (minireg.threads), so a batch is cut into at least _CONV_MIN_CHUNKS chunks to share.
# The chunks do not depend on the number of threads, and each matrix product runs on one
# BLAS thread, so conv2d gives the same bits on any number of threads. The sizes were
# tuned on LeNet's layers; see benchmarks/README.md.
_CONV_CHUNK_BYTES = 2 << 20
_CONV_MIN_CHUNKS = 32


def conv2d(x, weight, bias=None, stride=1, padding=0) -> Tensor:
    """2-D convolution (cross-correlation, as in every deep-learning framework).

    ``out[n, o, i, j] = bias[o] + sum_{c, ky, kx} weight[c, o, ky, kx]
    * x_padded[n, c, i*sh + ky, j*sw + kx]`` (the strided multi-channel convolution of
    Deep Learning, draft sec. 9.5, eq. 9.8 -- published book sec. 9.5 -- with indices
    from 0; (sh, sw) is the stride).

    A convolution is one matrix product with the unfolded input:
    ``out2d = W_rows @ cols``, with ``cols = im2col(x)`` of shape (C*KH*KW, N*OH*OW) and
    ``W_rows`` = weight as (out_channels, C*KH*KW). With ``g2d`` the upstream gradient
    laid out like ``out2d``, the backward pass (Deep Learning, sec. 9.5, eqs. 9.11-9.13) is

        dL/dW_rows = g2d @ cols^T,   dL/dx = col2im(W_rows^T @ g2d),   dL/dbias = sum of g.

    conv2d is one op. Its backward pass comes in two versions that compute the same
    numbers: with ``create_graph=True`` it is written in differentiable Tensor ops
    (:func:`~minireg.functional.im2col`, :func:`~minireg.functional.matmul`,
    :func:`~minireg.functional.col2im`), so the convolution can be differentiated twice
    (input-gradient penalties, Hessian-vector products); otherwise it works on the
    arrays, in the pixel-row layout of the forward pass, chunk by chunk (this module's
    docstring).

    Parameters
    ----------
    x : Tensor of shape (N, C, H, W), float32 or float64
    weight : Tensor of shape (C, out_channels, KH, KW)
        minireg's layout; PyTorch's weight is ``weight.transpose(1, 0, 2, 3)``.
    bias : Tensor of shape (out_channels,), optional
    stride : int or (int, int)
        Step between windows, (height, width); an int is the same step on both axes.
    padding : int or (int, int)
        Zeros added above and below (height) and left and right (width).

    Returns
    -------
    Tensor of shape (N, out_channels, OH, OW), OH = (H + 2 ph - KH) // sh + 1 (OW likewise).
    """
    x, weight = F.as_tensor(x), F.as_tensor(weight)
    F._check_image(x, "conv2d")
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d: weight must have shape (in_channels, out_channels, KH, KW), got shape {weight.shape}"
        )
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: x has dtype {x.dtype} but weight has dtype {weight.dtype}")
    in_channels, out_channels, kh, kw = weight.shape
    if x.shape[1] != in_channels:
        raise ValueError(
            f"conv2d: x has {x.shape[1]} channels (x.shape[1]) but weight has {in_channels} input "
            f"channels (weight.shape[0]; minireg stores weights as (in, out, KH, KW))"
        )
    if bias is not None:
        bias = F.as_tensor(bias)
        if bias.shape != (out_channels,):
            raise ValueError(f"conv2d: bias must have shape ({out_channels},), got shape {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"conv2d: bias has dtype {bias.dtype} but x has dtype {x.dtype}")
    geometry = F._window_geometry(x.shape, (kh, kw), stride, padding)
    out = _conv2d_forward_in_arrays(x.data, weight.data, None if bias is None else bias.data, geometry)

    def backward(g, out):
        if is_grad_enabled():  # create_graph=True: the backward pass must itself be differentiable
            grads = _conv2d_backward_in_tensor_ops(g, x, weight, geometry)
        else:
            grads = _conv2d_backward_in_arrays(g.data, x, weight, geometry)
        if bias is None:
            return grads
        return grads + (F.sum(g, axis=(0, 2, 3)),)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(out, parents, backward)


def _conv2d_backward_in_tensor_ops(g, x, weight, geometry):
    """(dL/dx, dL/dweight) of conv2d in Tensor ops, recorded for double backprop."""
    kernel, stride, padding, _ = geometry
    in_channels, out_channels = weight.shape[:2]
    g2d = F.reshape(F.transpose(g, (1, 0, 2, 3)), (out_channels, -1))  # (OC, N*OH*OW)
    weight_rows = F.reshape(F.transpose(weight, (1, 0, 2, 3)), (out_channels, -1))
    grad_x = F.col2im(F.matmul(F.transpose(weight_rows), g2d), x.shape, kernel, stride, padding) \
        if needs_grad(x) else None
    grad_weight = None
    if needs_grad(weight):
        grad_rows = F.matmul(g2d, F.transpose(F.im2col(x, kernel, stride, padding)))  # (OC, C*KH*KW)
        grad_weight = F.transpose(F.reshape(grad_rows, (out_channels, in_channels) + kernel), (1, 0, 2, 3))
    return grad_x, grad_weight


# ---- the arrays: chunks of the batch in pixel-row layout ------------------------------------


def _batch_chunks(n_batch: int, bytes_per_image: int) -> list:
    """Split range(n_batch) into consecutive (start, stop) chunks of about
    _CONV_CHUNK_BYTES of unfolded rows each, and at least _CONV_MIN_CHUNKS of them
    (or one image each)."""
    images = min(_CONV_CHUNK_BYTES // max(1, bytes_per_image), n_batch // _CONV_MIN_CHUNKS)
    images = max(1, images)
    return [(start, min(n_batch, start + images)) for start in range(0, n_batch, images)]


def _padded_nhwc(x: np.ndarray, padding) -> np.ndarray:
    """``x`` (N, C, H, W) copied into channels-last order (N, H + 2 ph, W + 2 pw, C),
    zero-padded by ``padding`` = (ph, pw)."""
    n_batch, channels, height, width = x.shape
    ph, pw = padding
    padded = np.zeros((n_batch, height + 2 * ph, width + 2 * pw, channels), dtype=x.dtype)
    padded[:, ph:ph + height, pw:pw + width, :] = x.transpose(0, 2, 3, 1)
    return padded


# The kernels take one stride for both axes. A stride (sh, sw) with sh != sw unfolds at
# their greatest common divisor and keeps every (sh/gcd)-th window down and (sw/gcd)-th
# across; the adjoint spreads the rows back onto that finer grid, zeros between, and
# folds. Equal strides (the usual case) go straight to the kernel.


def _im2row(x_padded: np.ndarray, kernel, stride) -> np.ndarray:
    """kernels.im2row of a padded NHWC chunk, for a (sh, sw) stride: (N*OH*OW, KH*KW*C)."""
    (kh, kw), (sh, sw) = kernel, stride
    if sh == sw:
        return _kernels.im2row(x_padded, kh, kw, sh)
    step = math.gcd(sh, sw)
    n_batch, height, width, channels = x_padded.shape
    fine = _kernels.im2row(x_padded, kh, kw, step).reshape(
        n_batch, (height - kh) // step + 1, (width - kw) // step + 1, kh * kw * channels)
    return np.ascontiguousarray(fine[:, ::sh // step, ::sw // step]).reshape(-1, kh * kw * channels)


def _row2im(rows: np.ndarray, padded_shape, kernel, stride) -> np.ndarray:
    """The adjoint of :func:`_im2row`: a padded NHWC chunk of ``padded_shape``."""
    (kh, kw), (sh, sw) = kernel, stride
    if sh == sw:
        return _kernels.row2im(rows, padded_shape, kh, kw, sh)
    step = math.gcd(sh, sw)
    n_batch, height, width, channels = padded_shape
    fine = np.zeros((n_batch, (height - kh) // step + 1, (width - kw) // step + 1, rows.shape[1]), dtype=rows.dtype)
    strided = fine[:, ::sh // step, ::sw // step]
    strided[...] = rows.reshape(strided.shape)
    return _kernels.row2im(fine.reshape(-1, rows.shape[1]), padded_shape, kh, kw, step)


def _conv2d_forward_in_arrays(x, weight, bias, geometry):
    """conv2d's output on arrays, computed in the row layout a chunk of images at a time.

    ``rows = im2row(x_padded)`` has one row per output pixel, so ``rows @ W_matrix``, with
    ``W_matrix`` the weight as (KH*KW*C, out_channels), is the chunk's output in NHWC order;
    it is copied to NCHW with the bias added on the way.
    """
    kernel, stride, padding, (out_h, out_w) = geometry
    in_channels, out_channels = weight.shape[:2]
    n_batch = x.shape[0]
    window = kernel[0] * kernel[1] * in_channels
    weight_matrix = weight.transpose(2, 3, 0, 1).reshape(window, out_channels)  # rows (ky, kx, c)
    out = np.empty((n_batch, out_channels, out_h, out_w), dtype=x.dtype)
    chunks = _batch_chunks(n_batch, out_h * out_w * window * x.dtype.itemsize)

    def forward_chunk(i):
        start, stop = chunks[i]
        rows = _im2row(_padded_nhwc(x[start:stop], padding), kernel, stride)
        product = (rows @ weight_matrix).reshape(stop - start, out_h, out_w, out_channels)
        if bias is None:
            out[start:stop] = product.transpose(0, 3, 1, 2)
        else:
            np.add(product.transpose(0, 3, 1, 2), bias.reshape(1, out_channels, 1, 1), out=out[start:stop])

    _threads.run_chunks(forward_chunk, len(chunks), _threads.blas_threads())
    return out


def _conv2d_backward_in_arrays(g, x, weight, geometry):
    """The same gradients as :func:`_conv2d_backward_in_tensor_ops`, computed on arrays.

    In the row layout of the forward pass (``rows = im2row(x_padded)``, one row per
    output pixel, and ``g_pixels`` the upstream gradient in NHWC order, one row per
    output pixel too), the gradients are

        dL/dW_matrix = rows^T @ g_pixels,    dL/dx_padded = row2im(g_pixels @ W_matrix^T),

    computed a chunk of images at a time, like the forward pass. Each chunk unfolds its
    images again (cheaper than keeping the whole batch's rows in the graph) and writes its
    own term of the weight gradient; the terms are summed in chunk order at the end, so
    the result does not depend on which thread ran which chunk.
    """
    kernel, stride, (ph, pw), _ = geometry
    (kh, kw) = kernel
    in_channels, out_channels = weight.shape[:2]
    n_batch, _, out_h, out_w = g.shape
    _, _, height, width = x.shape
    window, pixels = kh * kw * in_channels, out_h * out_w
    chunks = _batch_chunks(n_batch, pixels * window * g.dtype.itemsize)
    need_x, need_weight = needs_grad(x), needs_grad(weight)
    if need_weight:
        grad_terms = np.empty((len(chunks), window, out_channels), dtype=g.dtype)
    if need_x:
        weight_matrix_t = weight.data.transpose(1, 2, 3, 0).reshape(out_channels, window)  # W_matrix^T
        grad_x = np.empty(x.shape, dtype=g.dtype)

    def backward_chunk(i):
        start, stop = chunks[i]
        g_pixels = np.ascontiguousarray(g[start:stop].transpose(0, 2, 3, 1)).reshape(-1, out_channels)
        if need_weight:
            rows = _im2row(_padded_nhwc(x.data[start:stop], (ph, pw)), kernel, stride)
            np.matmul(rows.T, g_pixels, out=grad_terms[i])
        if need_x:
            padded_shape = (stop - start, height + 2 * ph, width + 2 * pw, in_channels)
            grad_x_padded = _row2im(g_pixels @ weight_matrix_t, padded_shape, kernel, stride)
            inside = grad_x_padded[:, ph:ph + height, pw:pw + width, :]
            grad_x[start:stop] = inside.transpose(0, 3, 1, 2)  # NHWC -> NCHW

    _threads.run_chunks(backward_chunk, len(chunks), _threads.blas_threads())
    grad_weight = None
    if need_weight:
        grad_matrix = grad_terms.sum(axis=0)  # (KH*KW*C, OC), rows (ky, kx, c)
        grad_weight = Tensor(np.ascontiguousarray(
            grad_matrix.reshape(kh, kw, in_channels, out_channels).transpose(2, 3, 0, 1)))
    return (Tensor(grad_x) if need_x else None), grad_weight
