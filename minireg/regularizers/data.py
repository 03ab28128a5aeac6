"""The data side (place 1 of the step): what is done to a batch before the forward pass.

Each class is a :class:`~minireg.regularizers.base.Regularizer` whose
``transform_batch(x, y, step)`` returns a new batch drawn with ``step.rng`` (the
trainer's generator, saved in checkpoints); none of them changes the arrays it is
given. The same transform is callable on its own as ``transform(x, y, rng)``, which is
what ``transform_batch`` does with ``step.rng``.

* :class:`RandomAffine` -- dataset augmentation by translation, rotation and scaling
  (Deep Learning 7.5, published 7.4); flips available, off by default (a mirrored
  digit is another digit, or none).
* :class:`LabelSmoothing` -- noise at the output targets (the published book's 7.5.1,
  not in the draft; the lecture slides).
* :class:`Mixup` -- convex combinations of pairs of examples and of their targets
  (Zhang et al. 2018).
* :class:`RandomErasing` -- a random rectangle of random area and aspect ratio
  erased (Zhong et al. 2017); :class:`Cutout` -- a fixed square (DeVries & Taylor 2017).
* :class:`CutMix` -- a rectangle pasted from another example, targets mixed by its
  area (Yun et al. 2019).
* :class:`RandAugment` -- N operations of magnitude M drawn uniformly (Cubuk et al.
  2019), those that make sense for grayscale digits.

Inputs are float arrays (float32 stays float32): images (N, C, H, W), or flat vectors
(N, D) with ``image_shape=(H, W)`` or ``(C, H, W)`` (MNIST's 784 = 28 x 28), with
intensities in [0, 1]. Targets are class indices (N,) or soft targets (N, K), rows of
probabilities; the transforms that mix or smooth targets return soft targets of the
inputs' dtype, which :func:`minireg.losses.cross_entropy` takes as they are. The
geometry (inverse affine maps, bilinear interpolation, zero fill) and the pixel
operations are in :mod:`minireg.images`.

Input Gaussian noise (Deep Learning 7.6.1, published 7.5) is a layer,
:class:`minireg.nn.GaussianNoise`, and the randomization tests are in
:mod:`minireg.datasets.randomization`.
"""
from __future__ import annotations

import numpy as np

from minireg import images as im
from minireg.checks import check_int, check_number, check_probability
from minireg.regularizers.base import Regularizer


# ---- checks and conversions shared by the transforms -----------------------------------------


def _check_image_shape(image_shape, owner):
    """None, or (H, W) / (C, H, W) of positive ints, as a tuple (C, H, W)."""
    if image_shape is None:
        return None
    name = f"{owner}(image_shape=...)"
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) not in (2, 3):
        raise ValueError(f"{name} must be None, (H, W) or (C, H, W), got {image_shape!r}")
    sizes = tuple(check_int(size, f"{name}[{i}]", minimum=1) for i, size in enumerate(image_shape))
    return sizes if len(sizes) == 3 else (1,) + sizes


def _check_beta_parameter(a, owner):
    return check_number(a, f"{owner}(a=...)", minimum=0.0, include_minimum=False)


def _check_classes(n_classes, owner):
    return check_int(n_classes, f"{owner}(n_classes=...)", minimum=2)


def _check_inputs(x, owner):
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        kind = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{owner}: the inputs x must be a float NumPy array, got {kind}")
    return x


def as_images(x, image_shape, owner):
    """``x`` as images (N, C, H, W) (a view), and the shape to give the result back in.

    Images (N, C, H, W) are taken as they are; flat inputs (N, D) need ``image_shape``
    (C, H, W) with C·H·W = D.
    """
    _check_inputs(x, owner)
    if x.ndim == 4 and (image_shape is None or x.shape[1:] == image_shape):
        return x, x.shape
    if x.ndim == 2 and image_shape is not None and x.shape[1] == np.prod(image_shape):
        return x.reshape((x.shape[0],) + image_shape), x.shape
    if x.ndim == 2 and image_shape is None:
        raise ValueError(f"{owner}: the inputs have shape {x.shape}, flat vectors; pass image_shape=(H, W) or "
                         "(C, H, W) to say which images they are (MNIST: image_shape=(28, 28))")
    raise ValueError(f"{owner}: the inputs have shape {x.shape}, which are not images (N, C, H, W) nor flat "
                     f"vectors (N, C*H*W) of image_shape={image_shape}")


def soft_targets(y, n_classes, dtype, owner):
    """Targets as rows of probabilities (N, K) of ``dtype``: class indices become one-hot
    rows, soft targets are checked and cast."""
    y = np.asarray(y)
    if y.ndim == 1 and y.dtype.kind in "iu":
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{owner}: the class indices must lie in [0, {n_classes}) (n_classes={n_classes}), "
                             f"got values from {y.min()} to {y.max()}")
        return np.eye(n_classes, dtype=dtype)[y]
    if y.ndim == 2 and y.dtype.kind == "f" and y.shape[1] == n_classes:
        return y.astype(dtype, copy=False)
    raise ValueError(f"{owner}: the targets must be class indices (N,) or soft targets (N, {n_classes}), got "
                     f"shape {y.shape} and dtype {y.dtype}")


def _check_batch(x, y, owner):
    if len(y) != len(x):
        raise ValueError(f"{owner}: {len(x)} inputs but {len(y)} targets")


def box_masks(tops, lefts, heights, widths, shape):
    """(N, H, W) booleans: True inside the rectangle [top, top + height) x [left, left + width)
    of each image (parts outside the image simply fall off)."""
    rows = np.arange(shape[0])
    columns = np.arange(shape[1])
    inside_rows = (rows >= tops[:, None]) & (rows < (tops + heights)[:, None])
    inside_columns = (columns >= lefts[:, None]) & (columns < (lefts + widths)[:, None])
    return inside_rows[:, :, None] & inside_columns[:, None, :]


class DataTransform(Regularizer):
    """A regularizer of place 1 that draws a new batch: ``transform(x, y, rng) -> (x, y)``."""

    def transform_batch(self, x, y, step):
        return self.transform(x, y, step.rng)

    def transform(self, x, y, rng):
        """The transformed batch ``(x, y)``, random choices from ``rng``; ``x``, ``y`` unchanged."""
        raise NotImplementedError


# ---- D1: augmentation by translation, rotation, scaling ------------------------------------------


class RandomAffine(DataTransform):
    r"""Dataset augmentation: each image moved by its own random affine map (Deep Learning 7.5, published 7.4).

    "Operations like translating the training images a few pixels in each direction can
    often greatly improve generalization" -- as can rotating and scaling them, as long as
    the class does not change: no flips for digits (off by default), and rotations
    small enough that a 6 stays a 6.

    Each image n gets its own rotation θ ~ U(−max_rotation, max_rotation) degrees,
    scaling s ~ U(scale), translation t ~ U(−max_translation, max_translation)² pixels
    and, when enabled, flips of probability 1/2, about the image centre c:

    .. math:: \tilde x_n(p) = x_n\big(c + F R(-\theta) (p - c - t) / s\big)

    computed for the whole batch with one inverse-affine sampling grid per image,
    bilinear interpolation, and zero fill where the grid leaves the image
    (:func:`minireg.images.warp_affine`).

    Parameters
    ----------
    max_rotation : float in [0, 180]
        Degrees.
    max_translation : float >= 0
        Pixels, along each axis.
    scale : (low, high), 0 < low <= high
    flip_horizontal, flip_vertical : bool
        Mirror with probability 1/2 (for natural images, not digits).
    image_shape : None, (H, W) or (C, H, W)
        Needed for flat inputs (N, D).
    """

    def __init__(self, max_rotation=15.0, max_translation=2.0, scale=(0.9, 1.1), flip_horizontal=False,
                 flip_vertical=False, image_shape=None):
        self.max_rotation = check_number(max_rotation, "RandomAffine(max_rotation=...)", 0.0, 180.0)
        self.max_translation = check_number(max_translation, "RandomAffine(max_translation=...)", minimum=0.0)
        if not isinstance(scale, (tuple, list)) or len(scale) != 2:
            raise ValueError(f"RandomAffine(scale=...) must be a pair (low, high), got {scale!r}")
        low = check_number(scale[0], "RandomAffine(scale[0]=...)", minimum=0.0, include_minimum=False)
        high = check_number(scale[1], "RandomAffine(scale[1]=...)", minimum=low)
        self.scale = (low, high)
        for name, value in (("flip_horizontal", flip_horizontal), ("flip_vertical", flip_vertical)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"RandomAffine({name}=...) must be True or False, got {value!r}")
        self.flip_horizontal, self.flip_vertical = bool(flip_horizontal), bool(flip_vertical)
        self.image_shape = _check_image_shape(image_shape, "RandomAffine")

    def transform(self, x, y, rng):
        images, shape = as_images(x, self.image_shape, "RandomAffine")
        n = len(images)
        A, b = im.affine_matrices(
            images.shape[2:],
            rotation=rng.uniform(-self.max_rotation, self.max_rotation, n),
            scale=rng.uniform(*self.scale, n),
            translation=rng.uniform(-self.max_translation, self.max_translation, (2, n)),
            flip_horizontal=rng.random(n) < 0.5 if self.flip_horizontal else False,
            flip_vertical=rng.random(n) < 0.5 if self.flip_vertical else False)
        return im.warp_affine(images, A, b).reshape(shape), y

    def __repr__(self):
        return (f"RandomAffine(max_rotation={self.max_rotation}, max_translation={self.max_translation}, "
                f"scale={self.scale}, flip_horizontal={self.flip_horizontal}, flip_vertical={self.flip_vertical})")


# ---- D2: label smoothing ------------------------------------------------------------------------


class LabelSmoothing(DataTransform):
    r"""Noise at the output targets: the hard 0 and 1 become α/(K−1) and 1 − α.

    The lecture's label smoothing (the published book's 7.5.1, not in the draft): if a
    label is correct with probability 1 − α and otherwise any of the K − 1 other
    classes, the expected target is

    .. math:: \tilde q = (1 - \alpha)\, q + \frac{\alpha}{K - 1} (1 - q),

    which for a one-hot q puts 1 − α on the labelled class and α/(K−1) on each other
    one (K = 3, α = 0.01: 0.005, 0.990, 0.005), and is applied the same way, linearly,
    to soft targets (after mixup, say); the rows still sum to 1. The loss is the usual
    cross-entropy against q̃.

    PyTorch's ``cross_entropy(label_smoothing=ε)`` instead mixes q with the uniform
    distribution, (1 − ε) q + ε/K, which puts 1 − ε + ε/K on the labelled class and ε/K
    on the others. The two agree when α/(K−1) = ε/K:

    .. math:: \alpha = \varepsilon\,\frac{K - 1}{K}, \qquad \varepsilon = \alpha\,\frac{K}{K - 1}.

    Parameters
    ----------
    alpha : float in [0, 1)
    n_classes : int >= 2
    """

    def __init__(self, alpha, n_classes):
        self.alpha = check_probability(alpha, "LabelSmoothing(alpha=...)")
        self.n_classes = _check_classes(n_classes, "LabelSmoothing")

    def transform(self, x, y, rng=None):
        """``x`` unchanged and the smoothed targets q̃ = (1 − α) q + α/(K−1) (1 − q), rows of
        probabilities in ``x``'s float dtype (float32 for integer inputs)."""
        _check_batch(x, y, "LabelSmoothing")
        dtype = x.dtype if isinstance(x, np.ndarray) and x.dtype.kind == "f" else np.dtype(np.float32)
        q = soft_targets(y, self.n_classes, dtype, "LabelSmoothing")
        other = dtype.type(self.alpha / (self.n_classes - 1))
        return x, (1 - dtype.type(self.alpha)) * q + other * (1 - q)

    def __repr__(self):
        return f"LabelSmoothing(alpha={self.alpha}, n_classes={self.n_classes})"


def pytorch_label_smoothing(alpha, n_classes) -> float:
    """PyTorch's ``label_smoothing`` ε that gives the slides' α: ε = α K / (K − 1)."""
    return alpha * n_classes / (n_classes - 1)


# ---- D3: mixup ----------------------------------------------------------------------------------


class Mixup(DataTransform):
    r"""Mixup (Zhang et al. 2018, the lecture's slide): train on convex combinations of pairs.

    With λ ~ Beta(a, a), one per batch as in the authors' code, and a random
    permutation π of the batch,

    .. math:: \tilde x_i = \lambda x_i + (1 - \lambda) x_{\pi(i)}, \qquad
              \tilde q_i = \lambda q_i + (1 - \lambda) q_{\pi(i)}

    for inputs of any shape; the targets q are one-hot rows (or soft targets already).
    a → 0 gives λ near 0 or 1 (little mixing), a = 1 a uniform λ.

    Parameters
    ----------
    a : float > 0
        The Beta distribution's parameter.
    n_classes : int >= 2
    """

    def __init__(self, a, n_classes):
        self.a = _check_beta_parameter(a, "Mixup")
        self.n_classes = _check_classes(n_classes, "Mixup")

    def transform(self, x, y, rng):
        """The mixed batch (x̃, q̃): one λ ~ Beta(a, a) and one permutation π from ``rng``,
        the same λ for the inputs and the targets."""
        _check_inputs(x, "Mixup")
        _check_batch(x, y, "Mixup")
        q = soft_targets(y, self.n_classes, x.dtype, "Mixup")
        weight = x.dtype.type(rng.beta(self.a, self.a))
        partner = rng.permutation(len(x))
        return weight * x + (1 - weight) * x[partner], weight * q + (1 - weight) * q[partner]

    def __repr__(self):
        return f"Mixup(a={self.a}, n_classes={self.n_classes})"


# ---- D4: random erasing and cutout -------------------------------------------------------------


def _fill(images, mask, fill, rng):
    """``images`` with the pixels under ``mask`` (N, H, W) set to ``fill`` (a number or
    "random": uniform in [0, 1) per pixel), on every channel."""
    mask = np.broadcast_to(mask[:, None], images.shape)
    out = images.copy()
    if fill == "random":   # draw only for the erased pixels
        kind = images.dtype if images.dtype == np.float32 else np.float64
        out[mask] = rng.random(int(np.count_nonzero(mask)), dtype=kind)
    else:
        out[mask] = fill
    return out


def _check_fill(fill, owner):
    if isinstance(fill, str):
        if fill != "random":
            raise ValueError(f"{owner}(fill=...) must be a number or 'random', got {fill!r}")
        return fill
    return check_number(fill, f"{owner}(fill=...)")


class RandomErasing(DataTransform):
    r"""Random erasing (Zhong et al. 2017, Algorithm 1; the lecture's slide).

    Each image is, with probability p, given a rectangle of random values (or of the
    value ``fill``); otherwise it is kept. The rectangle: area S_e ~ U(s_l, s_h)·S of
    the image's area S, aspect ratio r_e = H_e/W_e ~ U(r_1, 1/r_1), so H_e = √(S_e r_e)
    and W_e = √(S_e / r_e) (rounded to whole pixels), top-left corner (y_e, x_e) uniform
    over the image; a rectangle that does not fit inside the image is drawn again.

    Two choices of ours: the rules are checked on the rounded rectangle, so the erased
    area lies in [s_l S, s_h S] and its aspect ratio in [r_1, 1/r_1] exactly; and the
    redraws stop after ``tries`` (the paper repeats until one fits), leaving the image
    as it is -- with the defaults on 28 x 28 images, 100 tries fail with probability
    below 1e-20.

    Parameters
    ----------
    p : float in [0, 1]
        Probability that an image is erased (paper: 0.5).
    area : (s_l, s_h), 0 < s_l <= s_h <= 1
        Fractions of the image's area (paper: 0.02, 0.4).
    aspect : float in (0, 1]
        r_1 (paper: 0.3).
    fill : float or "random"
        The erased pixels' value, or "random" for uniform values in [0, 1) (paper: random).
    image_shape : None, (H, W) or (C, H, W)
    tries : int >= 1
    """

    def __init__(self, p=0.5, area=(0.02, 0.4), aspect=0.3, fill="random", image_shape=None, tries=100):
        self.p = check_number(p, "RandomErasing(p=...)", 0.0, 1.0)
        if not isinstance(area, (tuple, list)) or len(area) != 2:
            raise ValueError(f"RandomErasing(area=...) must be a pair (s_l, s_h), got {area!r}")
        low = check_number(area[0], "RandomErasing(area[0]=...)", 0.0, 1.0, include_minimum=False)
        high = check_number(area[1], "RandomErasing(area[1]=...)", low, 1.0)
        self.area = (low, high)
        self.aspect = check_number(aspect, "RandomErasing(aspect=...)", 0.0, 1.0, include_minimum=False)
        self.fill = _check_fill(fill, "RandomErasing")
        self.image_shape = _check_image_shape(image_shape, "RandomErasing")
        self.tries = check_int(tries, "RandomErasing(tries=...)", minimum=1)

    def draw_rectangles(self, n, shape, rng):
        """(erase, tops, lefts, heights, widths), arrays (N,): for each image whether it is
        erased and its rectangle (zero size where not)."""
        height, width = shape
        size = (n, self.tries)
        areas = rng.uniform(*self.area, size) * (height * width)
        ratios = rng.uniform(self.aspect, 1 / self.aspect, size)
        heights = np.rint(np.sqrt(areas * ratios)).astype(np.intp)
        widths = np.rint(np.sqrt(areas / ratios)).astype(np.intp)
        tops = rng.integers(0, height, size)
        lefts = rng.integers(0, width, size)
        area = heights * widths
        fits = ((heights >= 1) & (widths >= 1) & (tops + heights <= height) & (lefts + widths <= width)
                & (area >= self.area[0] * height * width) & (area <= self.area[1] * height * width)
                & (heights >= self.aspect * widths) & (widths >= self.aspect * heights))
        first = np.argmax(fits, axis=1)
        rows = np.arange(n)
        erase = (rng.random(n) < self.p) & fits[rows, first]
        pick = lambda values: np.where(erase, values[rows, first], 0)  # noqa: E731
        return erase, pick(tops), pick(lefts), pick(heights), pick(widths)

    def transform(self, x, y, rng):
        images, shape = as_images(x, self.image_shape, "RandomErasing")
        _, tops, lefts, heights, widths = self.draw_rectangles(len(images), images.shape[2:], rng)
        mask = box_masks(tops, lefts, heights, widths, images.shape[2:])
        return _fill(images, mask, self.fill, rng).reshape(shape), y

    def __repr__(self):
        return f"RandomErasing(p={self.p}, area={self.area}, aspect={self.aspect}, fill={self.fill!r})"


class Cutout(DataTransform):
    """Cutout (DeVries & Taylor 2017): a size x size square of ``fill`` (0: black) at a
    centre drawn uniformly over the image, clipped where it leaves the image; applied
    to each image with probability p.

    Parameters
    ----------
    size : int >= 1
        The square's side in pixels.
    p : float in [0, 1]
    fill : float or "random"
    image_shape : None, (H, W) or (C, H, W)
    """

    def __init__(self, size, p=1.0, fill=0.0, image_shape=None):
        self.size = check_int(size, "Cutout(size=...)", minimum=1)
        self.p = check_number(p, "Cutout(p=...)", 0.0, 1.0)
        self.fill = _check_fill(fill, "Cutout")
        self.image_shape = _check_image_shape(image_shape, "Cutout")

    def transform(self, x, y, rng):
        images, shape = as_images(x, self.image_shape, "Cutout")
        n, (height, width) = len(images), images.shape[2:]
        centres = rng.integers(0, height, n), rng.integers(0, width, n)
        side = np.where(rng.random(n) < self.p, self.size, 0)
        mask = box_masks(centres[0] - self.size // 2, centres[1] - self.size // 2, side, side, (height, width))
        return _fill(images, mask, self.fill, rng).reshape(shape), y

    def __repr__(self):
        return f"Cutout(size={self.size}, p={self.p}, fill={self.fill!r})"


# ---- D5: CutMix ---------------------------------------------------------------------------------


class CutMix(DataTransform):
    r"""CutMix (Yun et al. 2019, the lecture's slide): paste a rectangle of another example.

    With λ ~ Beta(a, a) and a random permutation π of the batch (one λ and one box per
    batch, as in the authors' code), the box has sides r_h = H√(1−λ), r_w = W√(1−λ) and
    a centre (r_y, r_x) uniform over the image; it is clipped at the image's border and
    rounded to whole pixels, and its pixels come from x_π(i):

    .. math:: \tilde x_i = M \odot x_{\pi(i)} + (1 - M) \odot x_i, \qquad
              \tilde q_i = \lambda' q_i + (1 - \lambda') q_{\pi(i)},

    with the label weight λ' = 1 − area(box)/(HW) the share of the image that is *not*
    pasted: the true area of the clipped box, not the λ it was drawn from (a box
    clipped at a corner can be much smaller than (1−λ)HW).

    Parameters
    ----------
    a : float > 0
    n_classes : int >= 2
    image_shape : None, (H, W) or (C, H, W)
    """

    def __init__(self, a, n_classes, image_shape=None):
        self.a = _check_beta_parameter(a, "CutMix")
        self.n_classes = _check_classes(n_classes, "CutMix")
        self.image_shape = _check_image_shape(image_shape, "CutMix")

    @staticmethod
    def box(weight, shape, rng):
        """(top, left, height, width) of the box for λ = ``weight``, clipped, in whole pixels."""
        height, width = shape
        side = np.sqrt(1 - weight)
        centre_row, centre_column = rng.uniform(0, height), rng.uniform(0, width)
        top = int(np.clip(np.rint(centre_row - height * side / 2), 0, height))
        bottom = int(np.clip(np.rint(centre_row + height * side / 2), 0, height))
        left = int(np.clip(np.rint(centre_column - width * side / 2), 0, width))
        right = int(np.clip(np.rint(centre_column + width * side / 2), 0, width))
        return top, left, bottom - top, right - left

    def transform(self, x, y, rng):
        """The mixed batch (x̃, q̃): a permutation π, λ ~ Beta(a, a) and its :meth:`box` from
        ``rng``; the targets weighted by λ' = 1 − area(box)/(HW), the clipped box's true area."""
        images, shape = as_images(x, self.image_shape, "CutMix")
        _check_batch(x, y, "CutMix")
        q = soft_targets(y, self.n_classes, x.dtype, "CutMix")
        partner = rng.permutation(len(images))
        top, left, height, width = self.box(rng.beta(self.a, self.a), images.shape[2:], rng)
        mixed = images.copy()
        mixed[:, :, top:top + height, left:left + width] = images[partner, :, top:top + height, left:left + width]
        kept = x.dtype.type(1 - height * width / (images.shape[2] * images.shape[3]))
        return mixed.reshape(shape), kept * q + (1 - kept) * q[partner]

    def __repr__(self):
        return f"CutMix(a={self.a}, n_classes={self.n_classes})"


# ---- D6: RandAugment ----------------------------------------------------------------------------

MAX_ROTATION = 30.0
"""RandAugment's rotation at magnitude 10, in degrees."""
MAX_SHEAR = 0.3
"""Its shear factor at magnitude 10."""
MAX_TRANSLATION = 0.3
"""Its translation at magnitude 10, as a fraction of the image's side."""
MAX_ENHANCE = 0.9
"""Contrast, brightness and sharpness factors 1 ± MAX_ENHANCE at magnitude 10."""
MAX_MAGNITUDE = 10.0


def randaugment_operation(name, images, magnitude, signs):
    """Apply RandAugment's operation ``name`` at ``magnitude`` (in [0, 10]) to images (N, C, H, W) in [0, 1].

    ``signs`` (N,) of ±1 give the direction of the signed operations (rotate, shear,
    translate, contrast, brightness, sharpness), drawn at random by :class:`RandAugment`.
    With v = magnitude / 10:

    ==============  =======================================================================
    identity        x
    autocontrast    (x − min x) / (max x − min x), per image
    equalize        histogram equalization of the 8-bit levels (PIL's algorithm)
    rotate          by ±30 v degrees about the centre
    solarize        pixels above 1 − v inverted (x → 1 − x)
    posterize       8 − round(4 v) bits kept of the 8-bit levels
    contrast        blend with the image's mean, factor 1 ± 0.9 v
    brightness      blend with black, factor 1 ± 0.9 v
    sharpness       blend with the smoothed image (PIL's SMOOTH), factor 1 ± 0.9 v
    shear_x         columns move by ±0.3 v times the row (from the centre)
    shear_y         rows move by ±0.3 v times the column
    translate_x     by ±0.3 v W pixels to the right
    translate_y     by ±0.3 v H pixels down
    ==============  =======================================================================

    The geometric ones use :func:`minireg.images.warp_affine` (bilinear, zero fill).
    """
    return apply_operations(images, np.full(len(images), name), magnitude, signs)


def _pixel_operation(name, images, v, signs):
    """One of the pixel operations of :func:`randaugment_operation` at v = magnitude / 10."""
    factors = 1 + MAX_ENHANCE * v * signs
    if name == "identity":
        return images
    if name == "autocontrast":
        return im.autocontrast(images)
    if name == "equalize":
        return im.equalize(images)
    if name == "solarize":
        return im.solarize(images, np.full(len(images), 1 - v))
    if name == "posterize":
        return im.posterize(images, np.full(len(images), 8 - int(round(4 * v))))
    if name == "contrast":
        return im.blend(images, images.mean(axis=(1, 2, 3), keepdims=True), factors)
    if name == "brightness":
        return im.blend(images, images.dtype.type(0), factors)
    if name == "sharpness":
        return im.blend(images, im.smooth(images), factors)
    raise ValueError(f"unknown RandAugment operation {name!r}; the operations are {', '.join(OPERATIONS)}")


def apply_operations(images, names, magnitude, signs):
    """Apply to each image n the operation ``names[n]`` at ``magnitude``, in the direction
    ``signs[n]``; see :func:`randaugment_operation`.

    The images with a geometric operation are warped together, in one
    :func:`minireg.images.warp_affine` call (each with its own map: a rotation, a shear
    or a translation); those with a pixel operation go through it by groups. (The
    operations are handled by their index in :data:`OPERATIONS`: comparing small
    integers is much cheaper than comparing strings, for every image and every name.)
    """
    names = np.asarray(names)
    codes = np.full(names.shape, -1)
    for code, name in enumerate(OPERATIONS):
        codes[names == name] = code
    if np.any(codes < 0):
        unknown = names[codes < 0][0]
        raise ValueError(f"unknown RandAugment operation {unknown!r}; the operations are {', '.join(OPERATIONS)}")
    return _apply_codes(images, codes, magnitude, np.asarray(signs, dtype=np.float64))


def _apply_codes(images, codes, magnitude, signs):
    """:func:`apply_operations` with the operations given by their index in :data:`OPERATIONS`."""
    v = magnitude / MAX_MAGNITUDE
    present = np.bincount(codes, minlength=len(OPERATIONS))
    out = images.copy()
    moved = np.flatnonzero(_IS_GEOMETRIC[codes])
    if moved.size:
        which, step = codes[moved], v * signs[moved]
        height, width = images.shape[2:]

        def amount(name, scale):
            return np.where(which == OPERATIONS.index(name), scale * step, 0.0)

        A, b = im.affine_matrices(
            (height, width), rotation=amount("rotate", MAX_ROTATION),
            shear=(amount("shear_x", MAX_SHEAR), amount("shear_y", MAX_SHEAR)),
            translation=(amount("translate_y", MAX_TRANSLATION * height),
                         amount("translate_x", MAX_TRANSLATION * width)))
        out[moved] = im.warp_affine(images[moved], A, b)
    for code in _PIXEL_CODES[present[_PIXEL_CODES] > 0]:
        chosen = np.flatnonzero(codes == code)
        out[chosen] = _pixel_operation(OPERATIONS[code], images[chosen], v, signs[chosen])
    return out


GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
OPERATIONS = ("identity", "autocontrast", "equalize", "rotate", "solarize", "posterize", "contrast",
              "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y")
"""RandAugment's operations for grayscale digits: the paper's fourteen less Color."""
_IS_GEOMETRIC = np.isin(OPERATIONS, GEOMETRIC)
_PIXEL_CODES = np.flatnonzero(~_IS_GEOMETRIC)[1:]     # the pixel operations, the identity (code 0) left out


class RandAugment(DataTransform):
    """RandAugment (Cubuk et al. 2019, the lecture's slides): N operations of magnitude M.

    For each image, N operations are drawn uniformly, with replacement, from
    :data:`OPERATIONS` and applied in turn, all at the one magnitude M on the scale 0-10
    (see :func:`randaugment_operation` for what M means for each); signed operations go
    either way with probability 1/2. Two numbers instead of a learned policy.

    The operations are the paper's fourteen (Identity, AutoContrast, Equalize, Rotate,
    Solarize, Color, Posterize, Contrast, Brightness, Sharpness, ShearX/Y,
    TranslateX/Y) less **Color**, which changes a colour image's saturation and is the
    identity on a grayscale one. Nor are flips among them (nor in the paper): a mirrored
    digit is not the same digit. Pixel operations work on the 8-bit levels or on [0, 1]
    as PIL does; the inputs must lie in [0, 1].

    Parameters
    ----------
    n : int >= 0
        Operations per image.
    m : float in [0, 10]
        Their magnitude.
    image_shape : None, (H, W) or (C, H, W)
    """

    def __init__(self, n=2, m=5.0, image_shape=None):
        self.n = check_int(n, "RandAugment(n=...)", minimum=0)
        self.m = check_number(m, "RandAugment(m=...)", 0.0, MAX_MAGNITUDE)
        self.image_shape = _check_image_shape(image_shape, "RandAugment")

    def transform(self, x, y, rng):
        images, shape = as_images(x, self.image_shape, "RandAugment")
        if images.size and (images.min() < 0 or images.max() > 1):
            raise ValueError(f"RandAugment: the inputs must be intensities in [0, 1], got values from "
                             f"{images.min()} to {images.max()}")
        chosen = rng.integers(0, len(OPERATIONS), (self.n, len(images)))
        signs = np.where(rng.random((self.n, len(images))) < 0.5, -1.0, 1.0)
        out = images
        for k in range(self.n):
            out = _apply_codes(out, chosen[k], self.m, signs[k])
        return out.reshape(shape) if self.n else x.copy(), y

    def __repr__(self):
        return f"RandAugment(n={self.n}, m={self.m})"
