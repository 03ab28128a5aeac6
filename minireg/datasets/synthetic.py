"""The synthetic data with blocks of correlated features of GrOWL §4.1.

GrOWL §4.1 (Zhang, Wang, Figueiredo, Balzano, ICLR 2018): "a synthetic data matrix X
with block-diagonal covariance matrix Σ, where each block corresponds to a cluster of
correlated features, and there is a gap g between two blocks. Within each cluster, the
covariance between two features X_i and X_j is cov(X_i, X_j) = 0.96^|i-j|, while
features from different clusters are generated independently of each other. We set
n = 784, K = 10, block size 50, and gap g = 28. We generate 10000 training and 1000
testing examples." The network trained on it is one hidden layer of 300 units.

What the paper leaves open, and what we chose
---------------------------------------------
* **Layout.** Block ``k`` (k = 0..K-1) holds features ``k (b + g)`` to
  ``k (b + g) + b - 1`` (``b`` the block size). With 784 features, blocks of 50 and
  gaps of 28 the blocks end at feature 751; features 752-783 follow the last block.
* **Features outside the blocks** (the gaps and the tail) are independent standard
  normal variables: Σ is the identity there. Every feature has variance 1.
* **Labels.** The paper does not say how they are made. We use K classes, one per
  block: the label is the block whose features have the largest sum,
  ``y = argmax_k sum_{i in block k} x_i``. The teacher is then linear with identical
  weight rows inside a block (row ``i`` of block ``k`` is the unit vector ``e_k``) and
  zero rows outside the blocks, which is exactly the structure GrOWL is meant to find:
  zero rows for the irrelevant features, one tied group per block. The classes are
  equally likely by symmetry (the blocks are identically distributed and independent).

Sampling a block
----------------
A vector with covariance ``ρ^|i-j|`` is a stationary AR(1) sequence:
``x_0 = z_0``, ``x_j = ρ x_{j-1} + sqrt(1 - ρ²) z_j`` with ``z`` standard normal. Then
``var x_j = 1`` and ``cov(x_i, x_j) = ρ^|i-j|`` exactly. This is a product with a lower-
triangular matrix ``L`` such that ``L Lᵀ = Σ_block``, the same law as a Cholesky factor
gives, in one pass over the block's columns (:func:`correlate_features`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .loader import as_generator, is_integer


@dataclass
class GrowlSyntheticData:
    """The arrays of :func:`growl_synthetic`.

    Attributes
    ----------
    X_train, X_test : ndarray of float32, shape (n_train, n_features), (n_test, n_features)
    y_train, y_test : ndarray of int64
        The block with the largest feature sum (0..n_blocks-1).
    blocks : list of ndarray of int64
        ``blocks[k]`` are the feature indices of block ``k``.
    feature_block : ndarray of int64, shape (n_features,)
        The block of each feature, -1 for features outside every block.
    rho : float
        The within-block correlation ρ.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    blocks: list
    feature_block: np.ndarray
    rho: float

    def covariance(self) -> np.ndarray:
        """The population covariance Σ of the features (float64, n_features x n_features)."""
        return block_covariance(len(self.feature_block), self.blocks, self.rho)

    def teacher_weights(self) -> np.ndarray:
        """The (n_features, n_blocks) matrix W with ``y = argmax(x @ W)``: row ``i`` is
        ``e_k`` for a feature of block ``k``, zero outside the blocks."""
        weights = np.zeros((len(self.feature_block), len(self.blocks)), dtype=np.float32)
        for k, features in enumerate(self.blocks):
            weights[features, k] = 1.0
        return weights


def block_layout(n_features=784, n_blocks=10, block_size=50, gap=28):
    """The feature indices of each block: block ``k`` starts at ``k * (block_size + gap)``.

    Returns
    -------
    blocks : list of ndarray of int64
    feature_block : ndarray of int64, shape (n_features,), -1 outside the blocks
    """
    for name, value in (("n_features", n_features), ("n_blocks", n_blocks),
                        ("block_size", block_size)):
        if not is_integer(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not is_integer(gap) or gap < 0:
        raise ValueError(f"gap must be a non-negative integer, got {gap!r}")
    span = n_blocks * block_size + (n_blocks - 1) * gap
    if span > n_features:
        raise ValueError(
            f"{n_blocks} blocks of {block_size} with gaps of {gap} need {span} features, "
            f"but n_features is {n_features}"
        )
    blocks = [k * (block_size + gap) + np.arange(block_size, dtype=np.int64)
              for k in range(n_blocks)]
    feature_block = np.full(n_features, -1, dtype=np.int64)
    for k, features in enumerate(blocks):
        feature_block[features] = k
    return blocks, feature_block


def block_covariance(n_features, blocks, rho) -> np.ndarray:
    """Σ of GrOWL §4.1: ``ρ^|i-j|`` for two features of one block, 1 on the diagonal,
    0 everywhere else."""
    covariance = np.eye(n_features)
    for features in blocks:
        distance = np.abs(features[:, None] - features[None, :])
        covariance[np.ix_(features, features)] = float(rho) ** distance
    return covariance


def correlate_features(Z, blocks, rho) -> np.ndarray:
    """Turn independent standard normal features into block-correlated ones.

    Inside each block the columns become the AR(1) sequence
    ``x_0 = z_0``, ``x_j = ρ x_{j-1} + sqrt(1 - ρ²) z_j``, so that
    ``cov(x_i, x_j) = ρ^|i-j|``; columns outside the blocks are copied.

    Parameters
    ----------
    Z : ndarray, shape (n_samples, n_features)
        Independent standard normal values (float64 recommended).
    blocks : list of ndarray of int
        Feature indices of each block, in order along the block; all blocks the same size.
    rho : float
        Correlation of neighbouring features, in (-1, 1).

    Returns
    -------
    ndarray, same shape and dtype as ``Z``.
    """
    rho = float(rho)
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie strictly between -1 and 1, got {rho}")
    X = np.array(Z, copy=True)
    innovation_scale = float(np.sqrt(1.0 - rho * rho))
    # column j of every block at once: shape (n_blocks,) of feature indices
    block_columns = np.stack(blocks, axis=1)  # (block_size, n_blocks)
    for j in range(1, block_columns.shape[0]):
        previous, current = block_columns[j - 1], block_columns[j]
        X[:, current] = rho * X[:, previous] + innovation_scale * Z[:, current]
    return X


def growl_synthetic(rng, n_train=10000, n_test=1000, n_features=784, n_blocks=10,
                    block_size=50, gap=28, rho=0.96):
    """Generate the correlated synthetic dataset of GrOWL §4.1.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        The source of randomness (an int is a seed). Same seed, same data.
    n_train, n_test : int
        Number of examples (the paper: 10,000 and 1,000).
    n_features, n_blocks, block_size, gap : int
        The layout (the paper: 784, 10, 50, 28); see :func:`block_layout`.
    rho : float
        Within-block correlation of neighbouring features (the paper: 0.96).

    Returns
    -------
    GrowlSyntheticData
        Features float32, labels int64 = the block with the largest feature sum, and
        the block structure (``blocks``, ``feature_block``) to score a grouping against.
    """
    rng = as_generator(rng)
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not is_integer(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if not -1.0 < float(rho) < 1.0:
        raise ValueError(f"rho must lie strictly between -1 and 1, got {rho}")
    blocks, feature_block = block_layout(n_features, n_blocks, block_size, gap)
    Z = rng.standard_normal((n_train + n_test, n_features))
    X = correlate_features(Z, blocks, rho)
    block_sums = np.stack([X[:, features].sum(axis=1) for features in blocks], axis=1)
    y = np.argmax(block_sums, axis=1).astype(np.int64)
    X = X.astype(np.float32)
    return GrowlSyntheticData(
        X_train=X[:n_train], y_train=y[:n_train],
        X_test=X[n_train:], y_test=y[n_train:],
        blocks=blocks, feature_block=feature_block, rho=float(rho),
    )
