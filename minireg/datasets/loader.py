"""Mini-batches and the train/validation split, both driven by a seeded Generator.

Randomness in minireg is a ``numpy.random.Generator`` passed in, never global state:
the same seed gives the same batches in the same order, bit for bit.
"""
from __future__ import annotations

import numpy as np


def as_generator(rng) -> np.random.Generator:
    """Accept a ``numpy.random.Generator`` (returned as is) or an int seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if is_integer(rng):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}"
    )


def is_integer(value) -> bool:
    """True for a Python or NumPy integer (bool excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_pair(X, y):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("X and y must have a first (example) axis")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} examples but y has {len(y)}")
    return X, y


class DataLoader:
    """Iterate over ``(X_batch, y_batch)`` mini-batches.

    Parameters
    ----------
    X : ndarray, shape (N, ...)
        Inputs; batches keep their dtype (float32 stays float32).
    y : ndarray, shape (N, ...)
        Targets (labels or soft targets).
    batch_size : int
        Examples per batch; the last batch may be smaller unless ``drop_last``.
    shuffle : bool
        Visit the examples in a new random order at every pass (epoch).
    drop_last : bool
        Skip the last batch when it has fewer than ``batch_size`` examples.
    rng : numpy.random.Generator or int, optional
        Required when ``shuffle`` is True. Each call to ``iter()`` draws the next
        permutation from it, so two loaders built with the same seed give the same
        sequence of epochs.

    Notes
    -----
    Without shuffling a batch is a view (a slice) of ``X``; with shuffling it is a copy
    made by fancy indexing. Either way nothing is converted.

    Examples
    --------
    >>> loader = DataLoader(X, y, batch_size=128, shuffle=True, rng=0)
    >>> for epoch in range(10):
    ...     for X_batch, y_batch in loader:
    ...         ...
    """

    def __init__(self, X, y, batch_size=128, shuffle=True, drop_last=False, rng=None):
        self.X, self.y = _check_pair(X, y)
        if not is_integer(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if shuffle and rng is None:
            raise ValueError(
                "shuffle=True needs rng (a numpy.random.Generator or an int seed) so that "
                "the batch order is reproducible"
            )
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = as_generator(rng) if rng is not None else None

    @property
    def n_examples(self) -> int:
        return len(self.X)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return self.n_examples // self.batch_size
        return -(-self.n_examples // self.batch_size)  # ceiling division

    def __iter__(self):
        n_batches = len(self)
        if self.shuffle:
            order = self.rng.permutation(self.n_examples)
            for b in range(n_batches):
                indices = order[b * self.batch_size:(b + 1) * self.batch_size]
                yield self.X[indices], self.y[indices]
        else:
            for b in range(n_batches):
                batch = slice(b * self.batch_size, (b + 1) * self.batch_size)
                yield self.X[batch], self.y[batch]


def train_val_indices(n_examples, n_val=None, *, val_fraction=None, rng, labels=None):
    """Seeded split of ``range(n_examples)`` into training and validation indices.

    Parameters
    ----------
    n_examples : int
    n_val : int, optional
        Number of validation examples. Give exactly one of ``n_val`` and ``val_fraction``.
    val_fraction : float, optional
        Fraction in (0, 1); ``n_val = round(val_fraction * n_examples)``.
    rng : numpy.random.Generator or int
    labels : ndarray of int, shape (n_examples,), optional
        When given, the split is stratified: each class gets ``n_val * count / N``
        validation examples, rounded by largest remainder so that they sum to ``n_val``.

    Returns
    -------
    train, val : ndarray of int64
        Disjoint, together ``0..n_examples-1``, each sorted increasingly (so the split
        keeps the data's original order inside each part).
    """
    rng = as_generator(rng)
    n_val = _validation_size(n_examples, n_val, val_fraction)
    if labels is None:
        chosen = rng.permutation(n_examples)[:n_val]
    else:
        labels = np.asarray(labels)
        if labels.shape != (n_examples,):
            raise ValueError(f"labels must have shape ({n_examples},), got {labels.shape}")
        chosen = _stratified_choice(labels, n_val, rng)
    is_val = np.zeros(n_examples, dtype=bool)
    is_val[chosen] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _validation_size(n_examples, n_val, val_fraction):
    if (n_val is None) == (val_fraction is None):
        raise ValueError("give exactly one of n_val and val_fraction")
    if val_fraction is not None:
        if not 0.0 < float(val_fraction) < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
        n_val = int(round(float(val_fraction) * n_examples))
    if not is_integer(n_val) or not 0 <= n_val <= n_examples:
        raise ValueError(f"n_val must be an integer in [0, {n_examples}], got {n_val!r}")
    return int(n_val)


def _stratified_choice(labels, n_val, rng):
    """Pick ``n_val`` indices with the classes in proportion (largest-remainder rounding)."""
    classes, counts = np.unique(labels, return_counts=True)
    exact = n_val * counts / len(labels)
    per_class = np.floor(exact).astype(np.int64)
    shortfall = n_val - int(per_class.sum())
    # give the remaining examples to the classes with the largest fractional parts
    by_remainder = np.argsort(-(exact - per_class), kind="stable")
    per_class[by_remainder[:shortfall]] += 1
    chosen = []
    for cls, take in zip(classes, per_class):
        members = np.flatnonzero(labels == cls)
        chosen.append(rng.permutation(members)[:take])
    return np.concatenate(chosen)


def train_val_split(X, y, n_val=None, *, val_fraction=None, rng, stratify=False):
    """Split ``(X, y)`` into a training and a validation part, reproducibly.

    Parameters
    ----------
    X, y : ndarray, same first dimension
    n_val : int, optional
        Number of validation examples (or give ``val_fraction``).
    val_fraction : float, optional
        Fraction of the examples for validation, in (0, 1).
    rng : numpy.random.Generator or int
        Same seed, same split.
    stratify : bool
        Keep the class proportions of ``y`` (integer labels) in both parts.

    Returns
    -------
    X_train, y_train, X_val, y_val : ndarray
        Copies, in the original order inside each part; dtypes unchanged.

    Examples
    --------
    >>> X_train, y_train, X_val, y_val = train_val_split(X, y, 10000, rng=0)
    """
    X, y = _check_pair(X, y)
    train, val = train_val_indices(len(X), n_val, val_fraction=val_fraction, rng=rng,
                                   labels=y if stratify else None)
    return X[train], y[train], X[val], y[val]
