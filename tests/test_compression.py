"""GrOWL compression (minireg.compression): eq. (10), affinity propagation against
scikit-learn, tying with eq. (11)'s centroid gradient, and the §4 metrics."""
import numpy as np
import pytest
from sklearn.cluster import AffinityPropagation

from minireg import functional as F
from minireg.compression import (affinity_propagation, compression_ratio, count_parameters, load_tied,
                                 nonzero_rows, parameter_sharing, row_selection_stability, row_similarity,
                                 sparsity, tie_rows, untie)
from minireg.compression.tying import TiedConv2d, TiedLinear
from minireg.gradcheck import check_gradients
from minireg.losses import cross_entropy
from minireg.nn import Conv2d, Linear, ReLU, Sequential
from minireg.nn.module import Parameter
from minireg.optim import SGD
from minireg.tensor import Tensor


# ---- eq. (10) --------------------------------------------------------------------------

def _similarity_by_loop(rows):
    n = len(rows)
    S = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            S[i, j] = rows[i] @ rows[j] / max(rows[i] @ rows[i], rows[j] @ rows[j])
    return S


@pytest.mark.parametrize("shape", [(7, 4), (5, 3, 2, 2)])
def test_row_similarity_is_eq_10_on_the_nonzero_rows(shape):
    w = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    w[[1, 3]] = 0
    S, rows = row_similarity(w)
    np.testing.assert_array_equal(rows, [0, 2, 4] + list(range(5, shape[0])))
    flat = w.reshape(shape[0], -1).astype(np.float64)[rows]
    np.testing.assert_allclose(S, _similarity_by_loop(flat), rtol=1e-12)
    assert S.dtype == np.float64 and np.all(np.abs(S) <= 1)
    first = w.reshape(shape[0], -1)[0]
    equal = np.vstack([first, first, 2 * first])
    np.testing.assert_allclose(row_similarity(equal)[0][0], [1, 1, 0.5])   # parallel is not equal


def test_row_similarity_refuses_a_weight_without_nonzero_rows():
    with pytest.raises(ValueError, match="no nonzero row"):
        row_similarity(np.zeros((4, 3), np.float32))
    with pytest.raises(TypeError, match="weight"):
        row_similarity([[1.0]])


# ---- affinity propagation ------------------------------------------------------------------

def _sklearn(S, preference, damping=0.5):
    model = AffinityPropagation(affinity="precomputed", preference=preference, damping=damping, random_state=0)
    return model.fit(S)


def _assert_same_as_sklearn(S, preference, damping=0.5, rng=None):
    rng = np.random.RandomState(0) if rng is None else rng            # sklearn's noise
    ours = affinity_propagation(S, preference=preference, damping=damping, rng=rng)
    theirs = _sklearn(S, preference, damping)
    np.testing.assert_array_equal(ours.exemplars, theirs.cluster_centers_indices_)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    assert ours.n_iter == theirs.n_iter_ and ours.converged
    return ours


def test_affinity_propagation_matches_sklearn_on_random_similarities():
    rng = np.random.default_rng(1)
    for _ in range(3):
        X = rng.normal(size=(40, 4))
        S = -((X[:, None] - X[None]) ** 2).sum(-1)
        off = S[~np.eye(40, dtype=bool)]
        for preference in (np.median(off), np.min(off) - 1.0, -2.0, rng.uniform(-20, -1, 40)):
            _assert_same_as_sklearn(S, preference)
        _assert_same_as_sklearn(S, -5.0, damping=0.9)
        # per-point preferences leave no ties: any noise gives sklearn's clusters
        _assert_same_as_sklearn(S, rng.uniform(-20, -1, 40), rng=np.random.default_rng(5))


def test_affinity_propagation_matches_sklearn_on_block_similarities_of_rows():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 12))
    rows = np.repeat(centres, [6, 3, 8, 5], axis=0) + 0.05 * rng.normal(size=(22, 12))
    S, _ = row_similarity(rows[rng.permutation(22)])
    for preference in (0.6, 0.8, 0.95):
        ours = _assert_same_as_sklearn(S, preference)
    assert ours.n_clusters >= 4


def test_affinity_propagation_agrees_with_sklearn_on_exactly_tied_rows():
    # S = 1 between tied rows: only the noise decides, and both draw the same noise
    rows = np.repeat(np.random.default_rng(3).normal(size=(3, 5)), [4, 2, 5], axis=0)
    S, _ = row_similarity(rows)
    for preference in (0.5, 0.9):
        assert _assert_same_as_sklearn(S, preference).n_clusters == 3
    expected = _sklearn(S, np.median(S))
    ours = affinity_propagation(S, preference="median", rng=np.random.RandomState(0))
    np.testing.assert_array_equal(ours.labels, expected.labels_)


def test_affinity_propagation_of_identical_points_follows_sklearns_rule():
    S = np.zeros((3, 3))
    np.testing.assert_array_equal(affinity_propagation(S, preference=1.0).labels, [0, 1, 2])
    np.testing.assert_array_equal(affinity_propagation(S, preference=-1.0).labels, [0, 0, 0])


def test_affinity_propagation_refuses_bad_input():
    S = np.eye(3)
    with pytest.raises(TypeError, match="preference"):
        affinity_propagation(S, preference=None)
    with pytest.raises(TypeError, match="preference"):
        affinity_propagation(S, preference="mean")
    with pytest.raises(ValueError, match="preference"):
        affinity_propagation(S, preference=[1.0, 2.0])
    with pytest.raises(ValueError, match="damping"):
        affinity_propagation(S, damping=0.2)
    with pytest.raises(ValueError, match="square"):
        affinity_propagation(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        affinity_propagation(np.full((2, 2), np.nan))


# ---- tying ---------------------------------------------------------------------------------

def _planted_model(dtype=np.float32):
    """784-style toy: 9 inputs, rows 0-2 equal, rows 4-5 nearly equal, rows 3 and 8 zero."""
    rng = np.random.default_rng(4)
    model = Sequential(Linear(9, 5, rng=0, dtype=dtype), ReLU(), Linear(5, 3, rng=1, dtype=dtype))
    w = rng.normal(size=(9, 5)).astype(dtype)
    w[1] = w[2] = w[0]
    w[5] = w[4] + 1e-3
    w[[3, 8]] = 0
    model.layers[0].weight.data[...] = w
    model.layers[0].bias.data[...] = rng.normal(size=5)
    return model


def test_tie_rows_prunes_zero_rows_and_stores_each_cluster_once():
    model = _planted_model()
    plain = model.layers[0]
    x = np.random.default_rng(5).normal(size=(6, 9)).astype(np.float32)
    before = model(x).data
    result = tie_rows(model, "layers.0", preference=0.9)
    tied = model.layers[0]
    assert isinstance(tied, TiedLinear) and tied.bias is plain.bias
    np.testing.assert_array_equal(result.rows, [0, 1, 2, 4, 5, 6, 7])
    assert result.labels[0] == result.labels[1] == result.labels[2] and result.labels[3] == result.labels[4]
    assert result.n_clusters == tied.centroids.shape[0] == 4
    assert tied.centroids.dtype == np.float32 and tied.centroids.kind == "weight"
    expanded = tied.expanded_weight()
    np.testing.assert_array_equal(expanded[[3, 8]], 0)
    np.testing.assert_allclose(expanded[4], (plain.weight.data[4] + plain.weight.data[5]) / 2, rtol=1e-6)
    np.testing.assert_allclose(model(x).data, before, atol=2e-3)      # only rows 4, 5 moved (1e-3)
    # predictions equal to the plain model of the same shape with the expanded weight
    reference = _planted_model()
    reference.layers[0].weight.data[...] = expanded
    np.testing.assert_allclose(model(x).data, reference(x).data, rtol=1e-6, atol=1e-6)
    counts = count_parameters(model, layers=["layers.0"])
    assert counts.unique == tied.centroids.size == 20                 # what is stored
    assert counts.total == 45 and counts.zero == 10
    assert counts.total / compression_ratio(model, ["layers.0"]) == tied.centroids.size


def test_exactly_equal_rows_share_a_cluster():
    # Affinity propagation alone (sklearn's too) leaves three exact duplicates without an
    # exemplar and lumps them with unrelated rows; tie_rows clusters distinct rows.
    w = np.array([[1, 2, 0, 0], [1, 2, 0, 0], [1, 2, 0, 0], [0, 0, 3, 0], [0, 0, 0, 4]], np.float32)
    alone = affinity_propagation(row_similarity(w)[0], 0.5, rng=np.random.RandomState(0))
    assert alone.labels.tolist() == _sklearn(row_similarity(w)[0], 0.5).labels_.tolist() == [0, 1, 1, 1, 1]
    model = Sequential(Linear(5, 4, rng=0))
    model.layers[0].weight.data[...] = w
    result = tie_rows(model, "layers.0", preference=0.5)
    assert result.labels.tolist() == [0, 0, 0, 1, 2] and result.exemplars.tolist() == [0, 3, 4]


def test_a_tied_model_saves_loads_and_unties(tmp_path):
    model = _planted_model()
    tie_rows(model, "layers.0", preference=0.9)
    x = np.random.default_rng(6).normal(size=(4, 9)).astype(np.float32)
    path = tmp_path / "tied.npz"
    model.save(path)
    from minireg.io import load_npz
    state = load_npz(path)
    assert {"layers.0.centroids", "layers.0.assignment", "layers.0.rows"} <= set(state)
    loaded = load_tied(Sequential(Linear(9, 5), ReLU(), Linear(5, 3)), state)
    np.testing.assert_array_equal(loaded(x).data, model(x).data)
    expanded = model.layers[0].expanded_weight()
    plain = untie(model, "layers.0")
    assert isinstance(plain, Linear)
    np.testing.assert_array_equal(plain.weight.data, expanded)
    np.testing.assert_array_equal(model(x).data, loaded(x).data)


def _loss(model, x, y):
    return cross_entropy(model(x), y)


def test_the_centroid_gradient_is_eq_11_the_average_of_the_members_gradients():
    model = _planted_model(np.float64)
    result = tie_rows(model, "layers.0", preference=0.9)
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(8, 9)), rng.integers(0, 3, 8)
    _loss(model, x, y).backward()
    centroid_grad = model.layers[0].centroids.grad.data
    # the plain model with the expanded weight: the gradient of every row
    reference = _planted_model(np.float64)
    reference.layers[0].weight.data[...] = model.layers[0].expanded_weight()
    _loss(reference, x, y).backward()
    row_grads = reference.layers[0].weight.grad.data[result.rows]
    for k in range(result.n_clusters):
        members = result.labels == k
        np.testing.assert_allclose(centroid_grad[k], row_grads[members].mean(axis=0), rtol=1e-10, atol=1e-12)


def test_the_sum_centroid_gradient_is_the_true_gradient():
    model = _planted_model(np.float64)
    tie_rows(model, "layers.0", preference=0.9, centroid_gradient="sum")
    tied = model.layers[0]
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(5, 9)), rng.integers(0, 3, 5)

    def loss_of(centroids):
        saved = tied.centroids
        tied.centroids = centroids
        try:
            return _loss(model, x, y)
        finally:
            tied.centroids = saved

    check_gradients(loss_of, [tied.centroids.data])


def test_tied_rows_stay_equal_at_every_step_of_retraining():
    model = _planted_model()
    result = tie_rows(model, "layers.0", preference=0.9)
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(9)
    start = model.layers[0].expanded_weight()
    for _ in range(5):
        x, y = rng.normal(size=(16, 9)).astype(np.float32), rng.integers(0, 3, 16)
        model.zero_grad()
        _loss(model, x, y).backward()
        optimizer.step()
        w = model.layers[0].expanded_weight()
        for k in range(result.n_clusters):
            members = w[result.rows[result.labels == k]]
            np.testing.assert_array_equal(members, np.broadcast_to(members[0], members.shape))
        np.testing.assert_array_equal(w[[3, 8]], 0)
    assert not np.array_equal(w, start)


def test_tie_rows_on_a_conv_layer_ties_input_channels():
    rng = np.random.default_rng(10)
    model = Sequential(Conv2d(4, 3, 3, padding=1, rng=0), ReLU(), Conv2d(3, 2, 3, rng=1))
    w = model.layers[2].weight.data
    w[1] = w[0]
    w[2] = 0
    x = rng.normal(size=(2, 4, 6, 6)).astype(np.float32)
    before = model(x).data
    result = tie_rows(model, "layers.2", preference=0.5)
    assert isinstance(model.layers[2], TiedConv2d)
    np.testing.assert_array_equal(result.rows, [0, 1])
    assert result.n_clusters == 1 and model.layers[2].centroids.shape == (1, 2, 3, 3)
    np.testing.assert_allclose(model(x).data, before, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(untie(model, "layers.2").weight.data, w)


def test_tie_rows_refuses_bad_input_and_leaves_the_model_unchanged():
    model = _planted_model()
    with pytest.raises(ValueError, match="layer='fc'.*layers.0"):
        tie_rows(model, "fc")
    with pytest.raises(ValueError, match="layer='layers.1'"):
        tie_rows(model, "layers.1")                         # a ReLU
    with pytest.raises(TypeError, match="preference"):
        tie_rows(model, "layers.0", preference="high")
    with pytest.raises(ValueError, match="centroid_gradient"):
        tie_rows(model, "layers.0", centroid_gradient="max")
    model.layers[0].weight.data[...] = 0
    with pytest.raises(ValueError, match="no nonzero row"):
        tie_rows(model, "layers.0")
    assert isinstance(model.layers[0], Linear)
    with pytest.raises(ValueError, match="TiedLinear or TiedConv2d"):
        untie(model, "layers.0")


def test_growl_arguments_are_checked_where_growl_is_built():
    from minireg.regularizers.proximal import ProxGrOWL, growl_weights
    with pytest.raises(ValueError, match="lambda1"):
        ProxGrOWL(-1.0, 0.1)
    with pytest.raises(ValueError, match="lambda2"):
        ProxGrOWL(1.0, -0.1)
    with pytest.raises(ValueError, match="p"):
        growl_weights(10, 1.0, 0.1, 11)
    with pytest.raises(ValueError, match="p"):
        growl_weights(10, 1.0, 0.1, 0)


# ---- metrics ---------------------------------------------------------------------------

def test_metrics_count_hand_counted_weights():
    model = Sequential(Linear(4, 3, rng=0), ReLU(), Linear(3, 2, rng=1))
    model.layers[0].weight.data[...] = [[0, 0, 0], [1, 2, 3], [0, 5, 0], [1, 2, 3]]
    model.layers[2].weight.data[...] = [[1, 0], [0, 0], [2, 2]]
    model.layers[0].bias.data[...] = 0                    # biases are not counted
    # plain weights: 12 + 6 = 18 in all, 5 + 3 = 8 zero, 10 nonzero, each stored
    assert sparsity(model) == 8 / 18
    assert compression_ratio(model) == 18 / 10 and parameter_sharing(model) == 1.0
    result = tie_rows(model, "layers.0", preference=0.5)  # rows 1 and 3 equal -> one centroid
    np.testing.assert_array_equal(result.labels, [0, 1, 0])
    counts = count_parameters(model)
    # layer 0 stores centroids [1, 2, 3] and [0, 5, 0]: 4 nonzero numbers; layer 2: 3
    assert (counts.total, counts.zero, counts.unique) == (18, 8, 4 + 3)
    assert parameter_sharing(model) == 10 / 7 and compression_ratio(model) == 18 / 7
    assert count_parameters(model, ["layers.2"]).unique == 3
    assert sparsity(np.array([[0.0, 1.0]])) == 0.5
    with pytest.raises(ValueError, match="layers"):
        sparsity(model, ["nope"])


def test_row_selection_stability_is_footnote_2():
    assert row_selection_stability([[1, 2, 3], [1, 2, 3]]) == 0.0
    # rows 0..3; runs keep {0,1}, {0,1}, {0,2}: rows 1 and 2 are disputed
    expected = np.mean([2 / 2, 2 / 2, 2 / 2])
    assert row_selection_stability([np.array([0, 1]), np.array([0, 1]), np.array([0, 2])]) == expected
    masks = [np.array([True, True, False, False]), np.array([True, False, True, True])]
    assert row_selection_stability(masks) == np.mean([3 / 2, 3 / 3])
    assert row_selection_stability([nonzero_rows(np.eye(3)), nonzero_rows(np.eye(3))]) == 0.0
    with pytest.raises(ValueError, match="two runs"):
        row_selection_stability([[1, 2]])
