"""Randomization tests of Zhang et al. (2017): what each transform keeps and destroys."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minireg.datasets import (gaussian_inputs, pixel_permutation, random_labels, random_pixels,
                              shuffled_pixels)


def distinct_images(shape, seed=0):
    """Images whose values are all different, so that a permutation can be read back."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).astype(np.float32).reshape(shape) / n


# ---------------------------------------------------------------- random labels

def test_all_labels_random():
    y = np.repeat(np.arange(10), 1000)
    X = np.zeros((len(y), 2), dtype=np.float32)
    X_out, y_random = random_labels(X, y, rng=0)
    assert X_out is X and y_random.dtype == np.int64
    counts = np.bincount(y_random, minlength=10)
    assert counts.min() > 850 and counts.max() < 1150          # uniform: sd 30
    changed = np.mean(y_random != y)
    assert abs(changed - 0.9) < 0.02                           # a random class equals the old one 1 time in 10
    # the new labels carry no information about the old ones
    confusion = np.histogram2d(y, y_random, bins=10)[0]
    assert confusion.min() > 60 and confusion.max() < 145      # 100 expected per cell, sd ~10


def test_partially_corrupted_labels():
    y = np.random.default_rng(1).integers(0, 10, 20000)
    y_copy = y.copy()
    _, y_half = random_labels(None, y, rng=2, probability=0.5)
    assert abs(np.mean(y_half != y) - 0.5 * 0.9) < 0.015
    np.testing.assert_array_equal(y, y_copy)                   # input untouched
    _, y_none = random_labels(None, y, rng=2, probability=0.0)
    np.testing.assert_array_equal(y_none, y)


def test_random_labels_are_reproducible_and_respect_n_classes():
    y = np.zeros(500, dtype=np.int64)
    _, a = random_labels(None, y, rng=3, n_classes=4)
    _, b = random_labels(None, y, rng=np.random.default_rng(3), n_classes=4)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0, 1, 2, 3}


@pytest.mark.parametrize("kwargs, error", [
    ({"probability": 1.5}, ValueError), ({"n_classes": 0}, ValueError),
])
def test_random_labels_bad_arguments(kwargs, error):
    with pytest.raises(error):
        random_labels(None, np.arange(5), rng=0, **kwargs)


def test_random_labels_need_integer_labels():
    with pytest.raises(ValueError, match="integer labels"):
        random_labels(None, np.ones(3), rng=0)


# ---------------------------------------------------------------- shuffled pixels

def test_one_permutation_for_every_image_and_both_sets():
    X_train, X_test = distinct_images((6, 1, 4, 5), seed=0), distinct_images((3, 1, 4, 5), seed=1)
    permutation = pixel_permutation(X_train, rng=0)
    S_train, _ = shuffled_pixels(X_train, None, permutation=permutation)
    S_test, _ = shuffled_pixels(X_test, None, permutation=permutation)
    assert S_train.shape == X_train.shape and S_train.dtype == np.float32
    for original, shuffled in zip(np.concatenate([X_train, X_test]), np.concatenate([S_train, S_test])):
        # read the permutation back from where each value went
        where = np.argsort(original.ravel())[np.searchsorted(np.sort(original.ravel()), shuffled.ravel())]
        np.testing.assert_array_equal(where, permutation)
    assert not np.array_equal(permutation, np.arange(20))


def test_colour_channels_of_a_pixel_move_together():
    X = distinct_images((2, 3, 4, 4))
    S, _ = shuffled_pixels(X, None, rng=5)
    R, _ = random_pixels(X, None, rng=5)
    for out in (S, R):
        for n in range(2):
            # the pixel at position k of the output is one pixel of the input, all 3 channels
            for k in range(16):
                source = np.flatnonzero(X[n, 0].ravel() == out[n, 0].ravel()[k])[0]
                np.testing.assert_array_equal(out[n, :, k // 4, k % 4], X[n, :, source // 4, source % 4])


def test_shuffled_pixels_needs_a_valid_permutation():
    X = np.zeros((2, 5), dtype=np.float32)
    with pytest.raises(ValueError, match="permutation"):
        shuffled_pixels(X, None, permutation=[0, 1, 2, 3, 3])
    with pytest.raises(ValueError, match="rng"):
        shuffled_pixels(X, None)


# ---------------------------------------------------------------- random pixels

def test_each_image_gets_its_own_permutation():
    X = distinct_images((50, 784))
    R, y = random_pixels(X, "labels", rng=0)
    assert y == "labels" and R.dtype == np.float32
    permutations = []
    for original, shuffled in zip(X, R):
        np.testing.assert_array_equal(np.sort(shuffled), np.sort(original))
        permutations.append(np.argsort(original)[np.searchsorted(np.sort(original), shuffled)])
    assert len({p.tobytes() for p in permutations}) == 50
    # uniform: the pixel sent to position 0 is anywhere, so its mean index is near 391.5
    assert abs(np.mean([p[0] for p in permutations]) - 391.5) < 5 * 226 / np.sqrt(50)


def test_random_pixels_reproducible():
    X = distinct_images((4, 1, 3, 3))
    np.testing.assert_array_equal(random_pixels(X, None, rng=9)[0], random_pixels(X, None, rng=9)[0])
    assert not np.array_equal(random_pixels(X, None, rng=9)[0], random_pixels(X, None, rng=10)[0])


@settings(max_examples=50, deadline=None)
@given(shape=st.sampled_from([(3, 7), (2, 4, 5), (2, 3, 2, 3), (1, 1, 1, 1)]), seed=st.integers(0, 10**6))
def test_pixel_transforms_keep_each_images_values(shape, seed):
    X = np.random.default_rng(seed).random(shape).astype(np.float32)
    for transformed in (shuffled_pixels(X, None, rng=seed)[0], random_pixels(X, None, rng=seed)[0]):
        assert transformed.shape == X.shape and transformed.dtype == X.dtype
        np.testing.assert_array_equal(np.sort(transformed.reshape(len(X), -1), axis=1),
                                      np.sort(X.reshape(len(X), -1), axis=1))


def test_bad_image_shape():
    with pytest.raises(ValueError, match="shape"):
        random_pixels(np.zeros(5), None, rng=0)


# ---------------------------------------------------------------- Gaussian inputs

def test_gaussian_inputs_match_mean_and_variance():
    X = np.random.default_rng(0).beta(0.5, 2.0, (2000, 1, 28, 28)).astype(np.float32)
    G, y = gaussian_inputs(X, "y", rng=1)
    assert G.shape == X.shape and G.dtype == np.float32 and y == "y"
    assert abs(G.mean(dtype=np.float64) - X.mean(dtype=np.float64)) < 1e-3
    assert abs(G.std(dtype=np.float64) - X.std(dtype=np.float64)) < 1e-3
    # Gaussian, unlike the data: skewness 0 and independent of the original pixels
    centred = (G - G.mean()) / G.std()
    assert abs(np.mean(centred.astype(np.float64) ** 3)) < 0.01
    assert abs(np.corrcoef(G.ravel()[:100000], X.ravel()[:100000])[0, 1]) < 0.02


def test_gaussian_inputs_with_given_statistics():
    X = np.zeros((1000, 100), dtype=np.float64)
    G, _ = gaussian_inputs(X, None, rng=2, mean=3.0, std=0.5)
    assert G.dtype == np.float64
    assert abs(G.mean() - 3.0) < 0.005 and abs(G.std() - 0.5) < 0.005


def test_gaussian_inputs_need_floats():
    with pytest.raises(TypeError, match="floating"):
        gaussian_inputs(np.zeros((2, 2), dtype=np.uint8), None, rng=0)
