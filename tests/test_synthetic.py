"""GrOWL §4.1 synthetic data: layout, covariance (exact and empirical), labels, seeding."""
import numpy as np
import pytest
from scipy.linalg import toeplitz

from minireg.datasets import growl_synthetic
from minireg.datasets.synthetic import block_covariance, block_layout, correlate_features


@pytest.fixture(scope="module")
def data():
    return growl_synthetic(0)


def test_paper_layout(data):
    # 784 features, 10 blocks of 50, a gap of 28 between blocks
    assert len(data.blocks) == 10
    for k, features in enumerate(data.blocks):
        np.testing.assert_array_equal(features, np.arange(78 * k, 78 * k + 50))
    assert np.count_nonzero(data.feature_block == -1) == 784 - 500
    assert data.feature_block[751] == 9 and data.feature_block[752] == -1


def test_shapes_and_types(data):
    assert data.X_train.shape == (10000, 784) and data.X_test.shape == (1000, 784)
    assert data.X_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.y_test.shape == (1000,)


def test_the_sampler_has_exactly_the_paper_covariance():
    # the sampler is linear, X = Z A; feeding the identity gives A, and Aᵀ A must be Σ
    blocks, _ = block_layout(n_features=40, n_blocks=3, block_size=8, gap=4)
    A = correlate_features(np.eye(40), blocks, 0.96)
    reference = np.eye(40)
    for features in blocks:  # Σ built independently, with SciPy's Toeplitz matrix
        reference[np.ix_(features, features)] = toeplitz(0.96 ** np.arange(8))
    np.testing.assert_allclose(A.T @ A, reference, atol=1e-12)
    np.testing.assert_allclose(block_covariance(40, blocks, 0.96), reference, atol=1e-15)


def test_empirical_covariance(data):
    X = np.concatenate([data.X_train, data.X_test]).astype(np.float64)
    empirical = np.cov(X, rowvar=False)
    population = data.covariance()
    # standard error of a covariance estimate from 11,000 samples is below 0.014
    assert np.max(np.abs(empirical - population)) < 0.07
    first = data.blocks[0]
    np.testing.assert_allclose(empirical[first[0], first[:5]], 0.96 ** np.arange(5), atol=0.03)
    across = empirical[np.ix_(data.blocks[0], data.blocks[1])]
    assert np.abs(across).max() < 0.07


def test_labels_are_the_block_with_the_largest_sum(data):
    sums = np.stack([data.X_train[:, f].astype(np.float64).sum(axis=1) for f in data.blocks], axis=1)
    np.testing.assert_array_equal(data.y_train, sums.argmax(axis=1))
    np.testing.assert_array_equal(np.argmax(data.X_test @ data.teacher_weights(), axis=1), data.y_test)
    counts = np.bincount(data.y_train, minlength=10)
    # ten equally likely classes: binomial sd = 30, so 5 sd either side of 1000
    assert counts.min() > 850 and counts.max() < 1150


def test_seeding():
    a = growl_synthetic(7, n_train=50, n_test=10)
    b = growl_synthetic(np.random.default_rng(7), n_train=50, n_test=10)
    c = growl_synthetic(8, n_train=50, n_test=10)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_blocks": 11}, "need 830 features"),
    ({"gap": -1}, "gap"),
    ({"block_size": 0}, "block_size"),
    ({"rho": 1.0}, "rho"),
    ({"n_train": -5}, "n_train"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        growl_synthetic(0, **kwargs)


def test_rng_must_be_a_generator_or_seed():
    with pytest.raises(TypeError, match="rng"):
        growl_synthetic("seed")
