"""Mini-batches and the train/validation split."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minireg.datasets import DataLoader, train_val_indices, train_val_split


def numbered(n, features=3):
    """X[i] is full of i and y[i] = i, so a batch tells which examples it holds."""
    X = np.repeat(np.arange(n, dtype=np.float32)[:, None], features, axis=1)
    return X, np.arange(n)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 70), drop_last=st.booleans(),
       shuffle=st.booleans(), seed=st.integers(0, 1000))
def test_an_epoch_visits_every_example_once(n, batch_size, drop_last, shuffle, seed):
    X, y = numbered(n)
    loader = DataLoader(X, y, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, rng=seed)
    batches = list(loader)
    assert len(batches) == len(loader)
    seen = np.concatenate([y_batch for _, y_batch in batches]) if batches else np.array([], int)
    for X_batch, y_batch in batches:
        assert X_batch.dtype == np.float32
        np.testing.assert_array_equal(X_batch[:, 0], y_batch)  # rows stay with their labels
        assert len(y_batch) == batch_size or (not drop_last and y_batch is batches[-1][1])
    if drop_last:
        assert len(seen) == (n // batch_size) * batch_size
        assert len(np.unique(seen)) == len(seen)
    else:
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(len(seen)))


def test_same_seed_same_batches_and_each_epoch_a_new_order():
    X, y = numbered(100)
    first = DataLoader(X, y, batch_size=10, rng=42)
    second = DataLoader(X, y, batch_size=10, rng=np.random.default_rng(42))
    epochs_first = [np.concatenate([b for _, b in first]) for _ in range(3)]
    epochs_second = [np.concatenate([b for _, b in second]) for _ in range(3)]
    for a, b in zip(epochs_first, epochs_second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(epochs_first[0], epochs_first[1])
    assert not np.array_equal(epochs_first[0], np.arange(100))


def test_without_shuffle_batches_are_views():
    X, y = numbered(10)
    X_batch, _ = next(iter(DataLoader(X, y, batch_size=4, shuffle=False)))
    assert np.shares_memory(X_batch, X)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0, "rng": 0}, "batch_size"),
    ({"batch_size": 2.5, "rng": 0}, "batch_size"),
    ({"batch_size": 4, "shuffle": True}, "rng"),
])
def test_bad_loader_arguments(kwargs, message):
    X, y = numbered(10)
    with pytest.raises(ValueError, match=message):
        DataLoader(X, y, **kwargs)


def test_loader_checks_lengths():
    with pytest.raises(ValueError, match="examples"):
        DataLoader(np.zeros((3, 2)), np.zeros(4), shuffle=False)


# ---------------------------------------------------------------- train/validation split

@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 200), data=st.data(), seed=st.integers(0, 1000))
def test_split_is_a_seeded_partition(n, data, seed):
    n_val = data.draw(st.integers(0, n))
    train, val = train_val_indices(n, n_val, rng=seed)
    assert len(val) == n_val
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    again = train_val_indices(n, n_val, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(again[1], val)


def test_split_arrays_and_fraction():
    X, y = numbered(1000)
    X_train, y_train, X_val, y_val = train_val_split(X, y, val_fraction=0.15, rng=0)
    assert len(y_val) == 150 and len(y_train) == 850 and X_val.dtype == np.float32
    np.testing.assert_array_equal(X_val[:, 0], y_val)
    assert len(np.intersect1d(y_train, y_val)) == 0
    # a random subset, not the last 150 examples
    assert y_val.min() < 500
    other = train_val_split(X, y, val_fraction=0.15, rng=1)[3]
    assert not np.array_equal(other, y_val)


def test_stratified_split_keeps_class_proportions():
    y = np.repeat(np.arange(4), [500, 300, 150, 50])
    X = np.zeros((1000, 2), dtype=np.float32)
    _, y_train, _, y_val = train_val_split(X, y, 101, rng=3, stratify=True)
    assert len(y_val) == 101
    exact = 101 * np.array([500, 300, 150, 50]) / 1000  # 50.5, 30.3, 15.15, 5.05
    assert np.all(np.abs(np.bincount(y_val) - exact) < 1)
    np.testing.assert_array_equal(np.bincount(y_train) + np.bincount(y_val), [500, 300, 150, 50])


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one"),
    ({"n_val": 5, "val_fraction": 0.1}, "exactly one"),
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"n_val": 11}, "n_val"),
    ({"n_val": -1}, "n_val"),
])
def test_bad_split_arguments(kwargs, message):
    X, y = numbered(10)
    with pytest.raises(ValueError, match=message):
        train_val_split(X, y, rng=0, **kwargs)


def test_split_needs_rng():
    X, y = numbered(10)
    with pytest.raises(TypeError, match="rng"):
        train_val_split(X, y, 2, rng=None)
