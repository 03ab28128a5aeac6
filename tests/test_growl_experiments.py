"""GrOWL's MNIST table (growl-mnist, growl-mnist-run), LeNet and VGG-16 on CIFAR-10, on tiny budgets."""
import dataclasses
import hashlib
import json
import pickle

import numpy as np
import pytest

from helpers import shared_mnist
from minireg import models, nn
from minireg.datasets import cifar10 as cifar_module
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import check_values, run_experiment
from minireg.experiments.growl_cifar import CifarConfig, LenetConfig
from minireg.experiments.growl_mnist import (PAPER_TABLE_1, GrowlMnistConfig, GrowlRunConfig, block_average,
                                             changed_indices, first_layer_regularizers, pick_scale, recipe)
from minireg.regularizers import L2, ProxGroupLasso, ProxGrOWL
from minireg.tensor import Tensor

TINY = {"n_train": 600, "n_val": 200, "hidden": 16, "epochs": 4, "retrain_epochs": 1, "lr": 0.01, "progress": False}


def _results(folder):
    return json.loads((folder / "results.json").read_text())["results"]


@pytest.mark.slow
def test_one_run_prunes_ties_and_counts_what_it_stores(tmp_path):
    config = GrowlRunConfig(data_root=str(shared_mnist()), regularizer="group-lasso+l2", scale=0.1, **TINY)
    folder = run_experiment(EXPERIMENTS["growl-mnist-run"], config, runs_dir=tmp_path)
    results = _results(folder)
    kept, clusters, m = results["nonzero_rows"], results["clusters"], results["metrics"]
    assert 0 < len(kept) < 784 and 0 < clusters <= len(kept)        # rows were pruned, the others clustered
    # the counts of GrOWL §4 for this network: layer 0 stores one 16-vector per cluster, layer 1 all its weights
    total, unique = 784 * 16 + 16 * 10, clusters * 16 + 16 * 10
    assert m["compression_ratio"] == pytest.approx(total / unique)
    assert m["sparsity"] == pytest.approx((784 - len(kept)) * 16 / total)
    assert m["parameter_sharing"] == pytest.approx((total - (784 - len(kept)) * 16) / unique)
    assert len(results["similarity_map"]) == min(len(kept), 196)
    assert results["converged"] is True and 0 < results["ap_iterations"] <= config.ap_max_iter
    assert results["units_removed_before"] is None                   # the first layer reads the image
    assert 0.1 < results["retrained"]["test"] <= 1.0
    report = (folder / "report.md").read_text()
    assert "GrOWL Table 1" in report and "group-Lasso+ℓ2" in report


@pytest.mark.slow
def test_the_table_runs_a_sweep_per_regularizer_and_seed_and_tunes_on_validation(tmp_path):
    config = GrowlMnistConfig(data_root=str(shared_mnist()), regularizers="none,group-lasso", seeds=2,
                              tune="0.1", **TINY)
    folder = run_experiment(EXPERIMENTS["growl-mnist"], config, runs_dir=tmp_path)
    results = _results(folder)
    rows = results["rows"]
    for name in ("none", "group-lasso"):
        assert [run["seed"] for run in rows[name]["runs"]] == [0, 1]
    # the tuning ran seed 0 of each scale, and the table used the scale it picked
    tried = results["tuning"]["group-lasso"]
    assert [t["scale"] for t in tried] == [0.1]
    assert rows["group-lasso"]["scale"] == 0.1 and all(run["scale"] == rows["group-lasso"]["scale"]
                                                               for run in rows["group-lasso"]["runs"])
    none = rows["none"]["summary"]
    assert none["sparsity"]["mean"] == 0 and none["compression_ratio"]["mean"] == 1      # the baseline is not tied
    accuracies = [run["retrained"]["test"] for run in rows["group-lasso"]["runs"]]
    assert rows["group-lasso"]["summary"]["test_accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert rows["group-lasso"]["summary"]["test_accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert len(results["correlation_map"]) == 196
    report = (folder / "report.md").read_text()
    for text in ("Our numbers beside the paper's", "98.1 ± 0.1", "footnote 2", "picked on the validation split"):
        assert text in report
    for plot in ("correlation.png", "similarity.png", "nonzero_rows.png"):
        assert (folder / plot).stat().st_size > 1000


def test_each_row_of_table_1_gets_its_regularizers_on_the_first_layer():
    values = recipe(GrowlRunConfig())
    assert values["lambda1"] == 12 and values["lambda2"] == 0.215 and values["group_lasso"] == 60   # the authors'
    assert first_layer_regularizers("none", values) == []
    assert [type(r) for r in first_layer_regularizers("weight-decay", values)] == [L2]
    assert [type(r) for r in first_layer_regularizers("group-lasso+l2", values)] == [L2, ProxGroupLasso]
    (growl,) = first_layer_regularizers("growl", values, scale=0.5)
    assert isinstance(growl, ProxGrOWL) and growl.every == "epoch" and growl.params == {"layers.0": 1.0}
    assert (growl.lambda1, growl.lambda2, growl.p) == (6.0, 0.1075, 0.5)
    quick = recipe(GrowlRunConfig(quick=True))
    assert quick["group_lasso"] == pytest.approx(60 * 200 / 550, rel=1e-3) and quick["epochs"] == 10


def test_block_average_matches_a_hand_computation():
    matrix = np.arange(25.0).reshape(5, 5)
    averaged = np.array(block_average(matrix, 3))       # blocks of 2: the last ones hold one row/column
    assert averaged.shape == (3, 3)
    assert averaged[0, 0] == np.mean([0, 1, 5, 6]) and averaged[2, 2] == 24 and averaged[0, 2] == np.mean([4, 9])
    assert block_average(matrix, 5) == matrix.tolist() and block_average(np.zeros((0, 0)), 4) == []


def test_pick_scale_keeps_the_most_compressed_within_the_tolerance():
    def run(scale, val, compression_ratio):
        return {"scale": scale, "retrained": {"val": val}, "metrics": {"compression_ratio": compression_ratio}}

    runs = [run(0.5, 0.980, 5.0), run(1.0, 0.978, 9.0), run(2.0, 0.970, 20.0)]
    assert pick_scale(runs, tolerance=0.2) == 1.0          # 2.0 is 1 point below the best
    assert pick_scale(runs, tolerance=1.0) == 2.0
    assert pick_scale(runs, tolerance=0.0) == 0.5


def test_changed_indices_is_footnote_2_and_undefined_for_a_run_that_kept_no_row():
    # rows {0, 1} and {0, 2}: rows 1 and 2 are in dispute, each run kept 2 -> (2/2 + 2/2) / 2
    assert changed_indices([[0, 1], [0, 2]]) == 1.0
    assert changed_indices([[0, 1, 2, 3], [0, 1, 2, 3]]) == 0.0
    assert changed_indices([[0, 1]]) is None and changed_indices([[0, 1], []]) is None


def test_paper_numbers_are_table_1():
    assert PAPER_TABLE_1["growl+l2"] == (83.6, 0.5, 3.9, 0.1, 24.1, 0.8, 98.1, 0.1)
    for sparsity, _, sharing, _, compression_ratio, _, _, _ in PAPER_TABLE_1.values():
        # §4: compression = sharing / (1 - sparsity), up to the paper's rounding
        assert compression_ratio == pytest.approx(sharing / (1 - sparsity / 100), rel=0.08)


@pytest.mark.parametrize("values, message", [
    ({"regularizers": "growl,lasso"}, "--regularizers must be distinct names"),
    ({"tune": "1,-2"}, "--tune must be distinct positive"),
    ({"n_train": 58000, "n_val": 5000}, "at most 60000"),
])
def test_bad_table_options_are_refused_naming_the_option(values, message):
    defaults = {f.name: f.default for f in dataclasses.fields(GrowlMnistConfig)}
    with pytest.raises(ValueError, match=message):
        check_values(GrowlMnistConfig, {**defaults, **values}, label=lambda name: "--" + name.replace("_", "-"))


def test_vgg16_bn_has_table_3s_weights_and_its_scaled_versions_run():
    full = models.vgg16_bn(rng=0)
    convs = [layer for _, layer in models.weight_layers(full) if isinstance(layer, nn.Conv2d)]
    # Table 3 of the paper: 13 convolutions, conv2 3.7E+04 weights, conv13 2.4E+06, fc 512 x 512
    assert len(convs) == 13 and convs[1].weight.data.size == 64 * 64 * 9 and convs[12].weight.data.size == 512 * 512 * 9
    assert sum(layer.weight.data.size for _, layer in models.weight_layers(full)) == pytest.approx(1.5e7, rel=0.01)
    assert len(models.regularized_layers(full)) == 13           # the layers marked * in Table 2
    small = models.vgg16_bn(width=0.125, blocks=3, rng=0)
    assert small(Tensor(np.zeros((2, 3, 32, 32), np.float32))).shape == (2, 10)
    with pytest.raises(ValueError, match="blocks"):
        models.vgg16_bn(blocks=6)


@pytest.mark.slow
def test_lenet_ties_the_input_channel_rows_of_its_convolution(tmp_path):
    config = LenetConfig(data_root=str(shared_mnist()), n_train=300, n_val=100, width=0.3, epochs=2, retrain_epochs=1,
                         regularizer="growl", lambda1=80.0, lambda2=1.0, progress=False)
    folder = run_experiment(EXPERIMENTS["growl-lenet"], config, runs_dir=tmp_path)
    results = _results(folder)
    conv, dense = results["layers_regularized"]
    assert results["layers"][conv]["clusters"] <= len(results["layers"][conv]["nonzero_rows"]) <= 6   # 20 * 0.3 rows
    # the first convolution no longer computes the channels the second does not read; a Flatten stands
    # before the dense layer, so nothing is removed there
    assert results["layers"][conv]["units_removed_before"] == 6 - len(results["layers"][conv]["nonzero_rows"])
    assert results["layers"][dense]["units_removed_before"] is None
    stored = results["stored_parameters"]
    assert stored["retrained"] <= stored["trained"]
    assert "S2 sharing" in (folder / "report.md").read_text()


def _write_tiny_cifar(folder, rng, per_batch=12):
    """Six batches in CIFAR-10's python format; returns their MD5s (to stand for the published ones)."""
    folder.mkdir(parents=True)
    md5 = {}
    for name in cifar_module.SPLIT_BATCHES["train"] + cifar_module.SPLIT_BATCHES["test"]:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": [int(v) for v in rng.integers(0, 10, per_batch)]}
        data = pickle.dumps(batch, protocol=2)
        (folder / name).write_bytes(data)
        md5[name] = hashlib.md5(data).hexdigest()
    return md5


@pytest.mark.slow
def test_growl_cifar_runs_on_a_tiny_cifar_folder(tmp_path, monkeypatch):
    md5 = _write_tiny_cifar(tmp_path / "data" / "cifar-10-batches-py", np.random.default_rng(0))
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", {**cifar_module.CIFAR10_MD5, **md5})
    config = CifarConfig(data_root=str(tmp_path / "data"), n_train=40, n_val=10, width=0.0625, blocks=2, epochs=1,
                         retrain_epochs=1, batch_size=20, regularizer="group-lasso", progress=False)
    folder = run_experiment(EXPERIMENTS["growl-cifar"], config, runs_dir=tmp_path / "runs")
    results = _results(folder)
    assert results["sizes"] == {"train": 40, "val": 10, "test": 12}
    assert len(results["layers_regularized"]) == 4        # conv2-conv4 of 2 blocks and the dense layer
    *convs, dense = results["layers_regularized"]
    for conv in convs:                                      # each preceded by a conv through BN, ReLU, pooling
        assert results["layers"][conv]["units_removed_before"] is not None
    assert results["layers"][dense]["units_removed_before"] is None
    assert "Table 2 (group-Lasso, 5 runs)" in (folder / "report.md").read_text()


def test_growl_cifar_without_the_data_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIREG_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "nothing").mkdir()
    config = CifarConfig(data_root=str(tmp_path / "nothing"), quick=True, progress=False)
    with pytest.raises(FileNotFoundError, match="--data-root"):
        EXPERIMENTS["growl-cifar"].run(config, None)


def test_similarity_maps_are_drawn_by_one_public_function(tmp_path):
    from minireg.compression.plots import similarity_maps_png
    maps = {"a": np.eye(4), "b": [[1.0, -1.0], [-1.0, 1.0]], "empty": []}
    assert similarity_maps_png(tmp_path / "maps.png", maps)
    assert (tmp_path / "maps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compress_layer_removes_the_pruned_channels_from_the_convolution_before():
    from minireg.experiments.growl_mnist import compress_layer
    model = models.lenet(width=0.5, rng=0)                       # conv 1 -> 10 channels -> conv 10 -> 25
    model.layers[4].weight.data[[0, 3, 7]] = 0.0
    found = compress_layer(model, "layers.4", {"preference": 0.8, "damping": 0.9, "ap_max_iter": 1000}, tie=True)
    assert found["nonzero_rows"] == [1, 2, 4, 5, 6, 8, 9] and found["units_removed_before"] == 3
    assert found["converged"] is True and model.layers[0].out_channels == 7 and model.layers[1].num_features == 7
    assert model(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)
