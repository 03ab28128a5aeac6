"""The randomization tests of Zhang et al. (2017), as dataset transforms.

Zhang, Bengio, Hardt, Recht, Vinyals, *Understanding Deep Learning Requires Rethinking
Generalization*, ICLR 2017, summarised in the lecture slides ("Neural nets can easily
memorize"): a network that fits these datasets to zero training error shows that its
capacity suffices to memorise, and that generalization must come from somewhere other
than a small hypothesis class.

* **Random labels:** all the labels are replaced with random ones
  (:func:`random_labels`; with ``probability < 1``, Zhang et al.'s *partially
  corrupted labels*: each label independently, with that probability, becomes a
  uniformly random class -- possibly its own).
* **Shuffled pixels:** one random permutation of the pixels, applied to all the images
  of both training and test set (:func:`shuffled_pixels`; draw the permutation once with
  :func:`pixel_permutation` and pass it to both).
* **Random pixels:** a different random permutation for each image
  (:func:`random_pixels`).
* **Gaussian:** pixels drawn from a Gaussian with the mean and variance of the original
  images (:func:`gaussian_inputs`; one mean and one variance for the whole dataset).

Every transform takes ``(X, y, rng)``, returns a new ``(X, y)`` and leaves its inputs
unchanged; the dtype of ``X`` is kept. A *pixel* is a position in the image: for
``(N, C, H, W)`` images the ``C`` channel values of a pixel move together; for flat
``(N, D)`` inputs each of the ``D`` features is a pixel.
"""
from __future__ import annotations

import numpy as np

from .loader import as_generator, is_integer


def _pixels_view(X):
    """``X`` as ``(N, channels, pixels)`` so that one index picks a pixel in every channel."""
    X = np.asarray(X)
    if X.ndim == 2:          # (N, D): D pixels, one channel
        return X.reshape(len(X), 1, X.shape[1])
    if X.ndim == 3:          # (N, H, W)
        return X.reshape(len(X), 1, X.shape[1] * X.shape[2])
    if X.ndim == 4:          # (N, C, H, W)
        return X.reshape(len(X), X.shape[1], X.shape[2] * X.shape[3])
    raise ValueError(
        f"X must have shape (N, D), (N, H, W) or (N, C, H, W), got {X.shape}"
    )


def random_labels(X, y, rng, probability=1.0, n_classes=None):
    """Replace labels by uniformly random classes (Zhang et al. 2017, "random labels").

    Parameters
    ----------
    X : ndarray
        Returned unchanged (the same object).
    y : ndarray of int, shape (N,)
    rng : numpy.random.Generator or int
    probability : float in [0, 1]
        Each label is, independently, replaced with this probability by a class drawn
        uniformly from ``0..n_classes-1`` (so with probability
        ``probability * (n_classes - 1) / n_classes`` it actually changes). 1 gives
        completely random labels.
    n_classes : int, optional
        Default ``y.max() + 1``.

    Returns
    -------
    X, y_random : ndarray
        ``y_random`` is a new int64 array.
    """
    rng = as_generator(rng)
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"y must be a 1-d array of integer labels, got {y.dtype} {y.shape}")
    if not 0.0 <= float(probability) <= 1.0:
        raise ValueError(f"probability must lie in [0, 1], got {probability!r}")
    if n_classes is None:
        n_classes = int(y.max()) + 1 if y.size else 1
    if not is_integer(n_classes) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    replace = rng.random(len(y)) < float(probability)
    drawn = rng.integers(0, n_classes, size=len(y))
    return X, np.where(replace, drawn, y).astype(np.int64)


def pixel_permutation(X, rng):
    """One random permutation of the pixel positions of images shaped like ``X``."""
    return as_generator(rng).permutation(_pixels_view(X).shape[2])


def shuffled_pixels(X, y, rng=None, permutation=None):
    """Apply one pixel permutation to every image (Zhang et al. 2017, "shuffled pixels").

    Parameters
    ----------
    X : ndarray, shape (N, D), (N, H, W) or (N, C, H, W)
    y : ndarray
        Returned unchanged.
    rng : numpy.random.Generator or int, optional
        Draws the permutation when ``permutation`` is not given.
    permutation : ndarray of int, optional
        The permutation to use -- pass the same one for the training and the test set,
        as the paper does: ``p = pixel_permutation(X_train, rng)``.

    Returns
    -------
    X_shuffled, y : ndarray
        ``X_shuffled[n, c, k] = X[n, c, permutation[k]]`` in the pixel view.
    """
    pixels = _pixels_view(X)
    if permutation is None:
        if rng is None:
            raise ValueError("give rng (to draw a permutation) or permutation")
        permutation = pixel_permutation(X, rng)
    permutation = np.asarray(permutation)
    n_pixels = pixels.shape[2]
    is_permutation = (permutation.shape == (n_pixels,)
                      and np.array_equal(np.sort(permutation), np.arange(n_pixels)))
    if not is_permutation:
        raise ValueError(f"permutation must be a permutation of 0..{n_pixels - 1}")
    return pixels[:, :, permutation].reshape(np.shape(X)), y


def random_pixels(X, y, rng):
    """Permute the pixels of each image with its own random permutation
    (Zhang et al. 2017, "random pixels").

    Returns
    -------
    X_random, y : ndarray
        Each image holds its own pixel values in a new random order.
    """
    rng = as_generator(rng)
    pixels = _pixels_view(X)
    n_images, _, n_pixels = pixels.shape
    # one permutation per row: shuffle each row of a table 0..n_pixels-1 independently
    orders = np.tile(np.arange(n_pixels), (n_images, 1))
    orders = rng.permuted(orders, axis=1)
    shuffled = np.take_along_axis(pixels, orders[:, None, :], axis=2)
    return shuffled.reshape(np.shape(X)), y


def gaussian_inputs(X, y, rng, mean=None, std=None):
    """Replace every pixel by a Gaussian draw with the data's mean and variance
    (Zhang et al. 2017, "Gaussian").

    Parameters
    ----------
    X : ndarray of float
    y : ndarray
        Returned unchanged.
    rng : numpy.random.Generator or int
    mean, std : float, optional
        Default: the mean and standard deviation of all the values of ``X``. Pass the
        training set's values when transforming the test set.

    Returns
    -------
    X_gaussian, y : ndarray
        Same shape and dtype as ``X``; values ``mean + std * z`` with ``z ~ N(0, 1)``.
    """
    rng = as_generator(rng)
    X = np.asarray(X)
    if X.dtype.kind != "f":
        raise TypeError(f"X must be a floating-point array, got {X.dtype}")
    mean = float(X.mean(dtype=np.float64)) if mean is None else float(mean)
    std = float(X.std(dtype=np.float64)) if std is None else float(std)
    if std < 0:
        raise ValueError(f"std must be non-negative, got {std}")
    noise_dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    noise = rng.standard_normal(X.shape, dtype=noise_dtype)
    return (mean + std * noise).astype(X.dtype, copy=False), y
