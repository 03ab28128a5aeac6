"""The pruned inputs of a tied layer removed from the layer before it (prune_previous), the
centroid gradient saved with the state, and the scatter of the centroid gradient."""
import numpy as np
import pytest

from minireg import losses, models, nn
from minireg.compression import (cluster_sums, count_parameters, find_previous, load_tied, prune_previous,
                                 tie_rows)
from minireg.optim import SGD
from minireg.tensor import Tensor
from minireg.training import Trainer


def _settle_batch_norm(model, x):
    """A few training-mode passes, so that the running statistics differ per unit."""
    model.train()
    for _ in range(3):
        model(x)
    model.eval()


def _mlp():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(6, 8, rng=1), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(keep=0.8, rng=0),
                          nn.Linear(8, 3, rng=2))
    model.layers[4].weight.data[[1, 4, 5]] = 0.0           # units 1, 4, 5 of the hidden layer: not read
    model.layers[1].scale.data[:] = rng.uniform(0.5, 2.0, 8).astype(np.float32)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    _settle_batch_norm(model, x)
    return model, x


def test_pruning_an_mlp_with_batch_norm_keeps_its_outputs_and_removes_the_units():
    model, x = _mlp()
    tie_rows(model, "layers.4", preference=0.9)
    before, stored_before = model(x).data, models.count_parameters(model)
    counts_before = count_parameters(model)
    producer = prune_previous(model, "layers.4")
    assert find_previous(model, "layers.4")[0] is producer          # still found, now with 5 outputs
    np.testing.assert_allclose(model(x).data, before, rtol=1e-6, atol=1e-6)
    first, norm, tied = model.layers[0], model.layers[1], model.layers[4]
    assert producer is first and first.weight.shape == (6, 5) and first.bias.shape == (5,)
    assert first.out_features == 5 and norm.num_features == 5 and tied.reads_pruned_input
    np.testing.assert_array_equal(first.kept_units, [True, False, True, True, False, False, True, True])
    for array in (norm.scale.data, norm.shift.data, norm.running_mean, norm.running_var):
        assert array.shape == (5,)
    # stored: 3 units x (6 weights + 1 bias + BN scale and shift) fewer
    assert models.count_parameters(model) == stored_before - 3 * (6 + 1 + 2)
    # §4's counts: the same original network (total), 3 x 6 more zeros, 3 x 6 fewer unique numbers
    counts = count_parameters(model)
    assert counts.total == counts_before.total == 6 * 8 + 8 * 3
    assert counts.zero == counts_before.zero + 18 and counts.unique == counts_before.unique - 18
    assert counts.compression_ratio > counts_before.compression_ratio


def _convnet():
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1, rng=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(5, 4, 3, rng=2), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(4, 3, 1, rng=3), nn.Flatten(), nn.Linear(3, 2, rng=4))
    model.layers[4].weight.data[[0, 3]] = 0.0                 # input channels 0 and 3 of the 2nd conv
    model.layers[8].weight.data[[2]] = 0.0                    # input channel 2 of the 3rd
    x = rng.normal(size=(8, 2, 8, 8)).astype(np.float32)
    _settle_batch_norm(model, x)
    return model, x


def test_pruning_a_conv_net_keeps_its_outputs_also_when_the_previous_layer_is_tied():
    model, x = _convnet()
    before = model(x).data
    stored = models.count_parameters(model)
    for layer in ("layers.4", "layers.8"):
        tie_rows(model, layer, preference=0.9)
        prune_previous(model, layer)
    np.testing.assert_allclose(model(x).data, before, rtol=1e-5, atol=1e-6)
    first, second = model.layers[0], model.layers[4]
    assert first.weight.shape == (2, 3, 3, 3) and first.out_channels == 3 and model.layers[1].num_features == 3
    assert second.centroids.shape[1] == 3 and second.bias.shape == (3,) and second.out_channels == 3
    np.testing.assert_array_equal(second.kept_units, [True, True, False, True])
    # stored: the first conv loses 2 output channels (2 x 9 weights, a bias, BN's scale and shift each);
    # the second conv's 5 x 4 x 9 weights and 4 biases become its centroids over 3 output channels and
    # 3 biases (its BN loses one channel's scale and shift); the third's 4 x 3 weights become centroids
    c2, c3 = second.centroids.shape[0], model.layers[8].centroids.shape[0]
    expected = stored - 2 * (18 + 1 + 2) - (180 + 4) + (c2 * 3 * 9 + 3) - 2 - 12 + c3 * 3
    assert models.count_parameters(model) == expected
    counts = count_parameters(model, layers=["layers.4"])
    assert counts.total == 5 * 4 * 9                              # the original conv's shape
    assert counts.unique == np.count_nonzero(second.centroids.data)
    assert counts.zero == 5 * 4 * 9 - 3 * 3 * 9                    # 2 pruned rows, 1 removed output channel


def test_a_pruned_model_saves_loads_and_predicts_the_same(tmp_path):
    model, x = _convnet()
    for layer in ("layers.4", "layers.8"):
        tie_rows(model, layer, preference=0.9)
        prune_previous(model, layer)
    model.save(tmp_path / "pruned.npz")
    from minireg.io import load_npz
    fresh, _ = _convnet()
    loaded = load_tied(fresh, load_npz(tmp_path / "pruned.npz"))
    loaded.eval()
    np.testing.assert_array_equal(loaded(x).data, model(x).data)
    assert loaded.layers[0].weight.shape == (2, 3, 3, 3) and loaded.layers[8].reads_pruned_input


def test_prune_previous_refuses_what_it_cannot_prune_and_changes_nothing():
    model, _ = _convnet()
    with pytest.raises(ValueError, match="TiedLinear or TiedConv2d"):
        prune_previous(model, "layers.4")                          # not tied yet
    model.layers[10].weight.data[[1]] = 0.0
    tie_rows(model, "layers.10", preference=0.9)
    state = model.state_dict()
    with pytest.raises(ValueError, match="a Flatten comes before 'layers.10'"):
        prune_previous(model, "layers.10")
    assert find_previous(model, "layers.10")[0] is None
    tie_rows(model, "layers.0", preference=0.9)
    with pytest.raises(ValueError, match="reads the model's input"):
        prune_previous(model, "layers.0")
    tie_rows(model, "layers.4", preference=0.9)
    prune_previous(model, "layers.4")
    with pytest.raises(ValueError, match="already pruned"):
        prune_previous(model, "layers.4")
    untouched = {key: value for key, value in model.state_dict().items() if key.startswith("layers.10")}
    for key, value in untouched.items():
        np.testing.assert_array_equal(value, state[key])


@pytest.mark.parametrize("centroid_gradient", ["mean", "sum"])
def test_load_tied_restores_the_centroid_gradient_and_retrains_the_same_steps(centroid_gradient):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 6)).astype(np.float32), rng.integers(0, 3, 40)

    def build():
        return nn.Sequential(nn.Linear(6, 5, rng=0), nn.ReLU(), nn.Linear(5, 3, rng=1))

    model = build()
    model.layers[0].weight.data[1] = model.layers[0].weight.data[0] * 1.01       # two near-equal rows
    tie_rows(model, "layers.0", preference=0.5, centroid_gradient=centroid_gradient)
    loaded = load_tied(build(), model.state_dict())
    assert loaded.layers[0].centroid_gradient == centroid_gradient
    for net in (model, loaded):
        trainer = Trainer(net, losses.cross_entropy, SGD(net.parameters(), lr=0.1))
        for start in range(0, 40, 10):
            trainer.train_step(X[start:start + 10], y[start:start + 10])
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value, err_msg=key)


@pytest.mark.parametrize("shape", [(7,), (7, 4), (7, 3, 2, 2)])
def test_cluster_sums_equal_np_add_at(shape):
    rng = np.random.default_rng(0)
    values = rng.normal(size=shape).astype(np.float32)
    assignment = np.array([2, 0, 2, 4, 0, 2, 4])                # cluster 1 and 3 empty
    expected = np.zeros((5,) + shape[1:], dtype=np.float32)
    np.add.at(expected, assignment, values)
    np.testing.assert_allclose(cluster_sums(values, assignment, 5), expected, rtol=1e-6)
    assert cluster_sums(values[:0], assignment[:0], 5).shape == (5,) + shape[1:]


def test_the_gather_backward_sums_by_cluster_and_divides_by_the_size():
    from minireg.compression import gather_rows
    centroids = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    out = gather_rows(centroids, np.array([0, 2, 0, 2]), "mean")
    (out * out).sum().backward()
    # d/dc_k of sum over members r of c_k^2, divided by |G_k|: 2 c_k (clusters 0 and 2), 0 for the empty one
    np.testing.assert_allclose(centroids.grad.data, [[0.0, 2.0], [0.0, 0.0], [8.0, 10.0]])
