"""Image geometry and pixel operations for the data side (Deep Learning 7.5, published 7.4).

Images are NumPy arrays of shape (N, C, H, W) with pixel intensities in [0, 1]; every
function here works on the whole batch at once and keeps the dtype (float32 stays
float32).

Geometry: the inverse map
-------------------------
A geometric transform is given, per image, by its *inverse* affine map from the
coordinates p = (row, column) of an output pixel to the point of the input it shows,

    q = A p + b,                     output[p] = input(q),

the convention of ``scipy.ndimage.affine_transform(input, A, offset=b)``, so that every
output pixel is computed once (no holes, no pixel written twice).

* **Interpolation**: bilinear. ``input(q)`` is the weighted mean of the four pixels
  around q, with weights (1 − f_r)(1 − f_c), (1 − f_r) f_c, f_r (1 − f_c), f_r f_c,
  where f is q's fractional part.
* **Fill**: zero (black, the background of a digit). A sample point q that falls
  outside the grid of pixel centres, [0, H − 1] × [0, W − 1], gives 0 -- as
  ``scipy.ndimage``'s ``mode='constant', cval=0`` does -- except that points within
  1e-4 pixel of that grid count as on it, so that rotations by multiples of 90°
  are exact although cos and sin of them are rounded.
* **Precision**: the sample points are computed in the images' dtype (float32 for
  float32 images, about 2e-6 pixel off at 28 x 28).
* **Speed**: a compiled kernel, ``minireg/_ext/warp.pyx``, with a readable NumPy twin,
  :mod:`minireg.kernels.warp` (see :func:`minireg.kernels.warp_affine`).

:func:`affine_matrices` builds (A, b) from a rotation, a scaling, a shear, a
translation and flips about the image centre; :func:`warp_affine` applies them.

Pixel operations
----------------
The intensity operations of RandAugment (Cubuk et al. 2019), written for grayscale
images in [0, 1] after the Python Imaging Library's definitions on 8-bit images:
:func:`blend` (contrast, brightness, sharpness), :func:`solarize`, :func:`posterize`,
:func:`autocontrast`, :func:`equalize`.
"""
from __future__ import annotations

import numpy as np

from minireg import kernels


def affine_matrices(shape, rotation=0.0, scale=1.0, shear=(0.0, 0.0), translation=(0.0, 0.0),
                    flip_horizontal=False, flip_vertical=False):
    r"""The inverse maps (A, b) of affine transforms about the centre of an H x W image.

    With c = ((H − 1)/2, (W − 1)/2) the centre and coordinates (row, column), the
    transform moves the input point q to the output point

    .. math:: p = c + t + s\,R(\theta)\,S\,F\,(q - c),

    flips F first, then the shear S, the rotation R by θ degrees (counter-clockwise as
    the image is displayed, so 90° is ``np.rot90``), the scaling s (> 1 enlarges) and
    the translation t = (down, right) in pixels. Its inverse, q = A p + b, is what
    :func:`warp_affine` needs: A = F S⁻¹ R(−θ) / s and b = c − A (c + t).

    Shear: a shear along x by k_x moves a point's column by k_x times its row (both from
    the centre), S_x = [[1, 0], [k_x, 1]]; a shear along y by k_y moves its row by k_y
    times its column, S_y = [[1, k_y], [0, 1]]; S = S_x S_y (RandAugment's ShearX and
    ShearY set one of them).

    Parameters
    ----------
    shape : (H, W)
    rotation, scale : float or array of shape (N,)
        Degrees; a factor > 0.
    shear : pair (k_x, k_y) of floats or arrays (N,)
    translation : pair (down, right) of floats or arrays (N,), in pixels
    flip_horizontal, flip_vertical : bool or bool array (N,)
        Mirror left-right, top-bottom.

    Returns
    -------
    A : ndarray (N, 2, 2) float64, b : ndarray (N, 2) float64
        N is the length of the array arguments (1 when all are scalars).
    """
    theta = np.deg2rad(np.asarray(rotation, dtype=np.float64))
    scale = np.asarray(scale, dtype=np.float64)
    shear_x, shear_y = (np.asarray(k, dtype=np.float64) for k in shear)
    down, right = (np.asarray(t, dtype=np.float64) for t in translation)
    mirror_columns = np.where(flip_horizontal, -1.0, 1.0)
    mirror_rows = np.where(flip_vertical, -1.0, 1.0)
    n = np.broadcast(theta, scale, shear_x, shear_y, down, right, mirror_columns, mirror_rows).size
    cos, sin = np.cos(theta), np.sin(theta)
    # S = S_x S_y = [[1, k_y], [k_x, 1 + k_x k_y]] has determinant 1, so S⁻¹ = [[1 + k_x k_y, −k_y], [−k_x, 1]];
    # R(−θ) = [[cos, sin], [−sin, cos]] in (row, column) coordinates; A = F S⁻¹ R(−θ) / s, entry by entry
    corner = 1 + shear_x * shear_y
    A = np.empty((n, 2, 2))
    A[:, 0, 0] = mirror_rows * (corner * cos + shear_y * sin) / scale
    A[:, 0, 1] = mirror_rows * (corner * sin - shear_y * cos) / scale
    A[:, 1, 0] = mirror_columns * (-shear_x * cos - sin) / scale
    A[:, 1, 1] = mirror_columns * (cos - shear_x * sin) / scale
    centre = np.array([(shape[0] - 1) / 2, (shape[1] - 1) / 2])
    moved = np.empty((n, 2))
    moved[:, 0], moved[:, 1] = centre[0] + down, centre[1] + right
    b = centre - np.einsum("nij,nj->ni", A, moved)
    return A, b


def warp_affine(images, A, b):
    """``output[n, :, p] = images[n, :, A[n] p + b[n]]``: bilinear, zero outside (see the module).

    ``images`` (N, C, H, W) float32 or float64, one inverse map ``A[n]`` (2 x 2), ``b[n]``
    (2,) per image, as :func:`affine_matrices` gives them; the result has the images'
    shape and dtype. This is :func:`minireg.kernels.warp_affine`: a compiled kernel, or
    its NumPy twin :func:`minireg.kernels.warp.warp_affine_numpy`, which spells out the
    computation.
    """
    return kernels.warp_affine(images, A, b)


# ---- pixel operations (images in [0, 1]) --------------------------------------------------


def blend(images, degenerate, factor):
    """``clip(degenerate + factor (images − degenerate), 0, 1)``, factor per image (N,).

    PIL's ``ImageEnhance``: factor 1 is the identity, 0 the degenerate image. Brightness
    blends with black (degenerate 0), contrast with the image's mean intensity, sharpness
    with the image smoothed by :func:`smooth`.
    """
    factor = np.asarray(factor, dtype=images.dtype).reshape(-1, 1, 1, 1)
    return np.clip(degenerate + factor * (images - degenerate), 0, 1)


def smooth(images):
    """PIL's SMOOTH filter: the 3 x 3 kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 on the
    interior pixels; the border pixels are kept (the degenerate image of Sharpness)."""
    out = images.copy()
    height, width = images.shape[-2:]
    total = 4 * images[..., 1:-1, 1:-1]                  # the centre weighs 4 + 1 = 5
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            total = total + images[..., 1 + dr:height - 1 + dr, 1 + dc:width - 1 + dc]
    out[..., 1:-1, 1:-1] = total / 13
    return out


def to_bytes(images):
    """Intensities in [0, 1] as the integers 0 ... 255 (rounded)."""
    return np.rint(images * 255).astype(np.int32)


def solarize(images, threshold):
    """Invert (x → 1 − x) the pixels brighter than ``threshold`` (per image, (N,)).

    Strictly brighter, so that a threshold of 1 is the identity (PIL inverts from the
    threshold up: ``>=``)."""
    threshold = np.asarray(threshold, dtype=images.dtype).reshape(-1, 1, 1, 1)
    return np.where(images > threshold, 1 - images, images)


def posterize(images, bits):
    """Keep the ``bits`` high bits (per image, (N,) ints in [1, 8]) of the 8-bit intensities."""
    mask = (255 - (2 ** (8 - np.asarray(bits).reshape(-1, 1, 1, 1)) - 1)).astype(np.int32)
    return ((to_bytes(images) & mask) / 255).astype(images.dtype)


def autocontrast(images):
    """Stretch each image linearly so that its darkest pixel is 0 and its brightest 1
    (a constant image is left alone)."""
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    spread = high - low
    constant = spread == 0
    return np.where(constant, images, (images - low) / np.where(constant, 1, spread))


def equalize(images):
    """Histogram equalization of each image's 8-bit intensities, PIL's ``ImageOps.equalize``.

    With h the histogram of the 256 levels and h_last its last non-zero count, step =
    ⌊(Σh − h_last) / 255⌋ and level i maps to ⌊(⌊step / 2⌋ + Σ_{j<i} h_j) / step⌋ / 255.
    An image with step 0 (one level, or nearly) is left alone.
    """
    n = images.shape[0]
    levels = to_bytes(images).reshape(n, -1)
    histogram = np.bincount((levels + 256 * np.arange(n)[:, None]).ravel(), minlength=256 * n).reshape(n, 256)
    last = 255 - np.argmax(histogram[:, ::-1] > 0, axis=1)
    step = (levels.shape[1] - histogram[np.arange(n), last]) // 255
    before = np.cumsum(histogram, axis=1) - histogram
    safe = np.maximum(step, 1)[:, None]
    table = np.minimum((safe // 2 + before) // safe, 255)
    mapped = (np.take_along_axis(table, levels, axis=1) / 255).astype(images.dtype).reshape(images.shape)
    return np.where((step > 0).reshape(-1, 1, 1, 1), mapped, images)
