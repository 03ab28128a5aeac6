"""GrOWL on convolutions: LeNet on MNIST, and VGG-16 with batch norm on CIFAR-10 (GrOWL §4.3, Table 2).

A convolution weight (in_channels, out_channels, kh, kw) has one *row* per input channel
(GrOWL eq. (4)): every filter entry that reads that channel. GrOWL and group Lasso act
on these rows, a zero row switches an input channel off, and tying makes input channels
share their filters, exactly as for the inputs of a dense layer. The pipeline is that
of :mod:`~minireg.experiments.growl_mnist` (train with the regularizer, cluster and tie
the rows of every regularized layer, retrain), on

* ``minireg run growl-lenet`` -- a LeNet-style network on MNIST (:func:`minireg.models.lenet`):
  the rows of the second convolution (input channels) and of the first dense layer;
* ``minireg run growl-cifar`` -- VGG-16 with batch norm (:func:`minireg.models.vgg16_bn`)
  on CIFAR-10: every convolution but the first, and the first dense layer (the layers
  marked with an asterisk in Table 2), reporting each layer's sparsity S1 and sharing S2
  beside Table 2.

Table 2's recipe (GrOWL §4.3), the defaults of ``growl-cifar``: 150 training epochs at
learning rate 0.01, multiplied by 0.1 every 60 epochs, then 50 retraining epochs from
0.001, multiplied by 0.1 every 20; p = 0.1 n for every layer; preference 0.8; batch norm
after every convolution and the first dense layer, no dropout. Not in the paper (ours):
momentum 0.9, batch 128, Λ1, Λ2, λ and α. The full network is 15 million weights: on a
CPU an epoch of 45,000 images takes about an hour (extrapolated from a measured step), so
``--width`` and ``--blocks`` scale it (``--quick``: width 1/8, 3 blocks, 1,000 images,
2 + 1 epochs, about 40 s).

CIFAR-10 is not downloaded here: give the folder of the python batches with
``--data-root`` (or ``$MINIREG_DATA``); without them the run stops at once and says where
it looked. The test set is only reported.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from minireg import models
from minireg.datasets import load_cifar10
from minireg.experiments.base import (CheckedConfig, Phases, check_data_root, check_mnist_split, format_number,
                                      markdown_table, option)
from minireg.experiments.growl_mnist import (LABELS, REGULARIZERS, first_layer_regularizers, mnist_splits,
                                             train_tie_retrain)

# Table 2 of Zhang et al. (ICLR 2018), copied from shared/references/003_*.txt (§4.3):
# (S1 sparsity %, S2 parameter sharing) of each regularized layer, 5 runs averaged, and the
# compression ratio and accuracy (%) of each regularizer (mean, std)
PAPER_TABLE_2 = {
    "weight-decay": {"layers": [(0, 1.0)] * 8 + [(0, 1.2), (0, 1.2), (0, 2.0), (0, 2.1), (0, 4.2)],
                     "compression": (1.3, 0.1), "accuracy": (93.1, 0.0)},
    "group-lasso": {"layers": [(34, 1.0), (28, 1.0), (34, 1.0), (12, 1.0), (38, 1.0), (46, 1.0), (49, 1.0), (78, 1.0),
                               (76, 1.0), (84, 1.0), (85, 1.0), (75, 1.1), (78, 1.0)],
                    "compression": (11.1, 0.5), "accuracy": (92.1, 0.2)},
    "group-lasso+l2": {"layers": [(40, 1.0), (20, 1.0), (29, 1.0), (11, 1.0), (40, 1.0), (51, 1.0), (53, 1.0),
                                  (78, 1.0), (76, 1.0), (87, 1.0), (91, 1.0), (90, 1.1), (91, 1.1)],
                       "compression": (14.5, 0.5), "accuracy": (92.7, 0.1)},
    "growl": {"layers": [(20, 1.0), (28, 1.0), (30, 1.0), (8, 1.0), (38, 1.0), (40, 1.0), (50, 1.0), (74, 1.1),
                         (66, 2.7), (81, 3.7), (75, 2.6), (78, 1.9), (69, 2.7)],
              "compression": (11.4, 0.5), "accuracy": (92.2, 0.1)},
    "growl+l2": {"layers": [(34, 1.0), (17, 1.0), (27, 1.0), (14, 1.0), (43, 1.0), (50, 1.0), (55, 1.0), (75, 1.2),
                            (73, 3.0), (88, 3.7), (78, 2.5), (71, 4.2), (81, 2.2)],
                 "compression": (14.5, 0.5), "accuracy": (92.7, 0.1)},
}
PAPER_BASELINE = {"accuracy": (93.4, 0.2), "compression": 1.0}
TABLE_2_LAYERS = [f"conv{i}" for i in range(2, 14)] + ["fc"]


@dataclass
class ConvRecipe(CheckedConfig):
    """What both conv experiments take; the defaults are growl-lenet's."""

    data_root: str = option("", "folder with the data files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "a minute: a small network on 1,000 training images for 2 + 1 epochs")
    regularizer: str = option("growl", "the regularizer of the rows of the regularized layers", choices=REGULARIZERS)
    seed: int = option(0, "seed of every random choice (split, initialization, batch order)", minimum=0)
    n_train: int = option(10000, "training images", minimum=1)
    n_val: int = option(2000, "validation images, held out of the training images", minimum=1)
    width: float = option(0.5, "multiplies every layer's channels and units", minimum=0.0, include_minimum=False)
    batch_norm: bool = option(True, "batch norm after every convolution and the hidden dense layer")
    epochs: int = option(10, "epochs of the initial training", minimum=1)
    retrain_epochs: int = option(3, "epochs of the retraining of the tied network", minimum=0)
    lr: float = option(0.01, "initial learning rate of the training", minimum=0.0, include_minimum=False)
    retrain_lr: float = option(0.01, "initial learning rate of the retraining", minimum=0.0, include_minimum=False)
    decay: float = option(0.5, "the learning rate is multiplied by this every decay-every epochs", minimum=0.0,
                          maximum=1.0, include_minimum=False)
    decay_every: int = option(5, "epochs between two decays in the training", minimum=1)
    retrain_decay_every: int = option(5, "epochs between two decays in the retraining", minimum=1)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(100, "minibatch size", minimum=1)
    lambda1: float = option(50.0, "GrOWL's Λ1 (ours)", minimum=0.0)
    lambda2: float = option(1.0, "GrOWL's Λ2 (ours)", minimum=0.0)
    p: float = option(0.5, "GrOWL's p as a fraction of each layer's rows", minimum=0.0, maximum=1.0,
                      include_minimum=False)
    group_lasso: float = option(100.0, "group Lasso's λ (ours)", minimum=0.0)
    weight_decay: float = option(1e-4, "α of weight decay and of the +ℓ2 rows", minimum=0.0)
    preference: float = option(0.8, "affinity propagation's preference (GrOWL §4.3: 0.8)", minimum=-1.0, maximum=1.0)
    damping: float = option(0.9, "affinity propagation's damping (at 0.5 it oscillates on GrOWL-trained rows and "
                                  "does not converge)", minimum=0.5, maximum=1.0, include_maximum=False)
    ap_max_iter: int = option(1000, "affinity propagation's iterations at most (the results say whether it "
                                    "converged)", minimum=1)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")


@dataclass
class LenetConfig(ConvRecipe):
    """The options of ``minireg run growl-lenet``."""

    @staticmethod
    def check_together(values, label):
        check_mnist_split(values, label)
        check_data_root(values, label)


@dataclass
class CifarConfig(ConvRecipe):
    """The options of ``minireg run growl-cifar``: Table 2's recipe by default."""

    n_train: int = option(45000, "training images (of CIFAR-10's 50,000)", minimum=1)
    n_val: int = option(5000, "validation images, held out of the training images", minimum=1)
    width: float = option(1.0, "multiplies every layer's channels and the dense layer's 512 units (1: VGG-16)",
                          minimum=0.0, include_minimum=False)
    blocks: int = option(5, "VGG blocks kept (5: all 13 convolutions of Table 3)", minimum=1, maximum=5)
    epochs: int = option(150, "epochs of the initial training (GrOWL §4.3: 150)", minimum=1)
    retrain_epochs: int = option(50, "epochs of the retraining (GrOWL §4.3: 50)", minimum=0)
    lr: float = option(0.01, "initial learning rate of the training (GrOWL §4.3)", minimum=0.0,
                       include_minimum=False)
    retrain_lr: float = option(0.001, "initial learning rate of the retraining (GrOWL §4.3)", minimum=0.0,
                               include_minimum=False)
    decay: float = option(0.1, "the learning rate is multiplied by this every decay-every epochs (GrOWL §4.3)",
                          minimum=0.0, maximum=1.0, include_minimum=False)
    decay_every: int = option(60, "epochs between two decays in the training (GrOWL §4.3)", minimum=1)
    retrain_decay_every: int = option(20, "epochs between two decays in the retraining (GrOWL §4.3)", minimum=1)
    batch_size: int = option(128, "minibatch size (ours)", minimum=1)
    p: float = option(0.1, "GrOWL's p as a fraction of each layer's rows (GrOWL §4.3: 0.1 n)", minimum=0.0,
                      maximum=1.0, include_minimum=False)

    @staticmethod
    def check_together(values, label):
        total = values["n_train"] + values["n_val"]
        if total > 50000:
            raise ValueError(f"{label('n_train')} + {label('n_val')} must be at most 50000 (CIFAR-10's training "
                             f"images), got {total}")
        check_data_root(values, label)


LENET_QUICK = {"n_train": 2000, "n_val": 500, "epochs": 4, "retrain_epochs": 2}
CIFAR_QUICK = {"n_train": 1000, "n_val": 200, "epochs": 2, "retrain_epochs": 1, "width": 0.125, "blocks": 3}


def _values(config, quick: dict) -> dict:
    values = dataclasses.asdict(config)
    if config.quick:
        values.update(quick)
    return values


def cifar_splits(values, seed) -> dict:
    """CIFAR-10's training images split into training and validation (by ``seed``), and
    its test images; a clear error when the batches are not there (nothing is downloaded)."""
    root = values["data_root"] or None
    try:
        X, y = load_cifar10("train", root=root, download=False)
        test = load_cifar10("test", root=root, download=False)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"growl-cifar needs the CIFAR-10 python batches (cifar-10-python.tar.gz, "
                                f"extracted), which it does not download; give their folder with --data-root. "
                                f"{error}") from None
    if values["n_train"] + values["n_val"] > len(X):
        raise ValueError(f"n_train + n_val = {values['n_train'] + values['n_val']} but the CIFAR-10 folder holds "
                         f"{len(X)} training images")
    order = np.random.default_rng(seed).permutation(len(X))
    train, val = order[:values["n_train"]], order[values["n_train"]:values["n_train"] + values["n_val"]]
    return {"train": (X[train], y[train]), "val": (X[val], y[val]), "test": test}


def _run(values, model, data, progress, show, regularizer, loader_seed) -> dict:
    layers = models.regularized_layers(model)
    phases = Phases(progress, total=2 if values["retrain_epochs"] else 1, show=show)
    regularizers = first_layer_regularizers(regularizer, values, layers=layers)
    outcome = train_tie_retrain(model, layers, regularizers, data, values, phases, tie=regularizer != "none",
                                seed=loader_seed)
    for result in outcome["layers"].values():
        del result["similarity_map"]          # not drawn for conv layers; the rows and clusters are kept
    return {"regularizer": regularizer, "layers_regularized": layers, **outcome,
            "sizes": {split: len(data[split][1]) for split in data}}


def run_lenet(config: LenetConfig, progress=None) -> dict:
    """GrOWL on the input-channel rows of LeNet's second convolution and its dense layer."""
    values = _values(config, LENET_QUICK)
    data_seed, init_seed, loader_seed = np.random.SeedSequence(config.seed).spawn(3)
    data = mnist_splits(values, data_seed, flatten=False)
    model = models.lenet(width=values["width"], batch_norm=values["batch_norm"], rng=np.random.default_rng(init_seed))
    return _run(values, model, data, progress, config.progress, config.regularizer, loader_seed)


def run_cifar(config: CifarConfig, progress=None) -> dict:
    """Table 2's pipeline on (scaled) VGG-16 with batch norm and CIFAR-10."""
    values = _values(config, CIFAR_QUICK)
    data_seed, init_seed, loader_seed = np.random.SeedSequence(config.seed).spawn(3)
    data = cifar_splits(values, data_seed)
    model = models.vgg16_bn(width=values["width"], blocks=values["blocks"], rng=np.random.default_rng(init_seed))
    return _run(values, model, data, progress, config.progress, config.regularizer, loader_seed)


def _header(document, title) -> list:
    results, config = document["results"], document["config"]
    sizes = results["sizes"]
    return [f"# {title}", "",
            f"Regularizer: {LABELS[results['regularizer']]}, seed {config['seed']}; {sizes['train']} training, "
            f"{sizes['val']} validation, {sizes['test']} test images; run time {document['seconds']:.1f} s.", ""]


def _layer_table(results, paper_layers=None) -> str:
    header = ["layer", "rows kept", "clusters", "AP converged", "units removed before", "S1 sparsity %", "S2 sharing"]
    if paper_layers is not None:
        header += ["paper layer", "paper S1 %", "paper S2"]
    rows = []
    for index, (name, layer) in enumerate(results["layers"].items()):
        row = [name, len(layer["nonzero_rows"]), layer["clusters"], layer["converged"],
               layer["units_removed_before"], 100 * layer["sparsity"], layer["parameter_sharing"]]
        if paper_layers is not None:
            paper = paper_layers[index] if index < len(paper_layers) else None
            row += [TABLE_2_LAYERS[index], *paper] if paper else [None, None, None]
        rows.append(row)
    return markdown_table(header, rows)


def _summary_lines(results) -> list:
    m = results["metrics"]
    lines = [f"Whole network: sparsity {format_number(100 * m['sparsity'])} %, parameter sharing "
             f"{format_number(m['parameter_sharing'])}, compression {format_number(m['compression_ratio'])}×; test "
             f"accuracy {format_number(100 * results['trained']['test'])} % after training, "
             f"{format_number(100 * results['retrained']['test'])} % after retraining.", "",
             f"Stored parameters (weights, biases, batch norm): {results['stored_parameters']['trained']} trained, "
             f"{results['stored_parameters']['retrained']} after tying and removing the pruned units from the layer "
             "before each tied one (the 'units removed before' column; not across a Flatten).", ""]
    if results["emptied"]:
        lines += [f"Every row of {', '.join(results['emptied'])} was zeroed: the network is constant and was not "
                  "retrained; lower the strengths.", ""]
    return lines


def report_lenet(document: dict, folder) -> str:
    """Markdown: each regularized layer's rows, clusters, S1 and S2."""
    results = document["results"]
    return "\n".join(_header(document, "GrOWL on LeNet's input-channel rows, MNIST (growl-lenet)")
                     + [_layer_table(results), ""] + _summary_lines(results))


def report_cifar(document: dict, folder) -> str:
    """Markdown: S1 and S2 per layer beside Table 2's (for the full VGG-16), compression, accuracy."""
    results, config = document["results"], document["config"]
    name = results["regularizer"]
    paper = PAPER_TABLE_2.get(name)
    full = config["width"] == 1.0 and config["blocks"] == 5 and not config["quick"]
    lines = _header(document, "GrOWL on VGG-16 with batch norm, CIFAR-10 (growl-cifar)")
    lines += [_layer_table(results, paper["layers"] if paper and full else None), ""] + _summary_lines(results)
    if paper:
        lines += [f"Table 2 ({LABELS[name]}, 5 runs): compression {paper['compression'][0]} ± "
                  f"{paper['compression'][1]}×, accuracy {paper['accuracy'][0]} ± {paper['accuracy'][1]} %; the "
                  f"baseline without compression {PAPER_BASELINE['accuracy'][0]} %."
                  + ("" if full else " This run is a scaled network, so its layers are not set beside the paper's."),
                  ""]
    return "\n".join(lines)
