"""Memorization on MNIST: the randomization tests of Zhang et al. (2017).

Zhang, Bengio, Hardt, Recht, Vinyals, *Understanding Deep Learning Requires Rethinking
Generalization*, ICLR 2017, as the lecture slides summarise it ("Neural nets can easily
memorize"): the same network, trained the same way, fits to zero training error

* the true labels,
* random labels (every label replaced by a uniformly random class),
* shuffled pixels (one random permutation of the pixels for all the images),
* random pixels (a permutation of its own for each image),
* Gaussian inputs (pixels drawn from a Gaussian with the data's mean and variance),

the random ones only somewhat more slowly; its test error goes from a few percent
(true labels) to chance (random labels, Gaussian inputs: 90 % on ten classes). So a
network's capacity suffices to memorise its training set, and what makes it generalize
on real data is not a small hypothesis class. Explicit regularizers -- here weight
decay (an L2 penalty, Deep Learning 7.2.1, published 7.1.1) and dropout (7.11,
published 7.12) -- lower the test error on true labels a little but do not stop the
memorization (the paper's Table 1 and Fig. 1a-b).

Each (dataset, regularization) pair is one training run, one resumable phase
(``minireg resume FOLDER``), stopped at the end of the first epoch whose training error
(the whole training set, evaluation mode) is zero, or at the epoch budget. The data
transforms are :mod:`minireg.datasets.randomization`; the test set is transformed the
same way (the same permutation for shuffled pixels, the training set's mean and variance
for Gaussian inputs) and keeps its true labels. ``--dataset`` and ``--regularization``
pick one run, so that ``minireg sweep memorization --grid dataset=... --grid
regularization=... --workers 2`` spreads the runs over processes; a run of one pair
also gives its ``epochs_to_fit``, ``train_error`` and ``test_error`` at the top of its
results, where the sweep's summary finds them.

Budgets: ``--quick``, 500 training images and at most 80 epochs per run, 15 runs
(about a minute on 2 cores); the default, 5,000 images and at most 300 epochs (tens of
minutes; the paper trains on all of CIFAR-10 and ImageNet).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader, load_mnist
from minireg.datasets.randomization import (gaussian_inputs, pixel_permutation, random_labels, random_pixels,
                                            shuffled_pixels)
from minireg.experiments.base import (MNIST_TRAINING_EXAMPLES, PLOTS_SKIPPED, MnistConfig, Phases, line_plot,
                                      markdown_table, option, percent)
from minireg.optim import SGD
from minireg.regularizers import L2
from minireg.training import StopAtTarget, Trainer

DATASETS = ("true-labels", "random-labels", "shuffled-pixels", "random-pixels", "gaussian")
REGULARIZATIONS = ("none", "weight-decay", "dropout")


@dataclass
class MemorizationConfig(MnistConfig):
    """The options of ``minireg run memorization``."""

    seed: int = option(0, "seed of the subset, the randomizations, the initial weights and the batch orders",
                       minimum=0)
    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "500 training images, 1,000 test images, at most 80 epochs per run (about a "
                                "minute), instead of the sizes below")
    dataset: str = option("all", "the training set(s): all, or one of " + ", ".join(DATASETS),
                          choices=("all",) + DATASETS)
    regularization: str = option("all", "the regularization(s): all, or one of " + ", ".join(REGULARIZATIONS),
                                 choices=("all",) + REGULARIZATIONS)
    n_train: int = option(5000, "training images", minimum=1, maximum=MNIST_TRAINING_EXAMPLES)
    n_test: int = option(10000, "test images", minimum=1, maximum=10000)
    epochs: int = option(300, "the most epochs of a run (it stops at zero training error)", minimum=1)
    hidden: int = option(512, "units of each of the two hidden layers (784-h-h-10, ReLU)", minimum=1)
    lr: float = option(0.05, "SGD learning rate", minimum=0.0, include_minimum=False)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(100, "minibatch size", minimum=1)
    weight_decay: float = option(1e-3, "α of the L2 penalty (α/2)‖w‖² of the weight-decay runs", minimum=0.0,
                                 include_minimum=False)
    keep_hidden: float = option(0.5, "dropout's probability of keeping a hidden unit (dropout runs)",
                                minimum=0.0, maximum=1.0, include_minimum=False)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")


def _sizes(config) -> tuple:
    """``(n_train, n_test, epochs)`` after ``--quick``."""
    if config.quick:
        return 500, 1000, 80
    return config.n_train, config.n_test, config.epochs


def randomized(name: str, train: tuple, test: tuple, rng) -> tuple:
    """``(train, test)`` pairs ``(X, y)`` for the dataset ``name`` of :data:`DATASETS`.

    The test set gets the same kind of inputs as the training set and keeps its true
    labels: for random labels and Gaussian inputs nothing can be learnt, so the test
    error is at chance.
    """
    (X, y), (X_test, y_test) = train, test
    if name == "true-labels":
        return (X, y), (X_test, y_test)
    if name == "random-labels":
        return random_labels(X, y, rng, n_classes=10), (X_test, y_test)
    if name == "shuffled-pixels":
        permutation = pixel_permutation(X, rng)
        return shuffled_pixels(X, y, permutation=permutation), shuffled_pixels(X_test, y_test, permutation=permutation)
    if name == "random-pixels":
        return random_pixels(X, y, rng), random_pixels(X_test, y_test, rng)
    if name == "gaussian":
        mean, std = float(X.mean(dtype=np.float64)), float(X.std(dtype=np.float64))
        return gaussian_inputs(X, y, rng, mean, std), gaussian_inputs(X_test, y_test, rng, mean, std)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {name!r}")


def _network(config, regularization: str, init_seed, mask_seed):
    """784-h-h-10 ReLU; with dropout after each hidden layer for the dropout runs."""
    init_rng = np.random.default_rng(init_seed)

    def dropout():
        return [nn.Dropout(keep=config.keep_hidden, rng=mask_rng)] if regularization == "dropout" else []

    mask_rng = np.random.default_rng(mask_seed)
    return nn.Sequential(nn.Linear(784, config.hidden, rng=init_rng), nn.ReLU(), *dropout(),
                         nn.Linear(config.hidden, config.hidden, rng=init_rng), nn.ReLU(), *dropout(),
                         nn.Linear(config.hidden, 10, rng=init_rng))


def _chosen(value: str, every: tuple) -> tuple:
    return every if value == "all" else (value,)


def run(config: MemorizationConfig, progress=None) -> dict:
    """Train one network per (dataset, regularization) until it fits its training set."""
    n_train, n_test, epochs = _sizes(config)
    datasets, regularizations = _chosen(config.dataset, DATASETS), _chosen(config.regularization, REGULARIZATIONS)
    phases = Phases(progress, total=len(datasets) * len(regularizations), show=config.progress)
    root = config.data_root or None
    X, y = load_mnist("train", root=root, flatten=True)
    X_test, y_test = load_mnist("test", root=root, flatten=True)
    subset_seed, data_seed, run_seed = np.random.SeedSequence(config.seed).spawn(3)
    subset_rng = np.random.default_rng(subset_seed)
    train, test = subset_rng.permutation(len(X))[:n_train], subset_rng.permutation(len(X_test))[:n_test]
    # every dataset has a generator of its own, and every run its own seeds, whichever runs are chosen
    data_seeds = dict(zip(DATASETS, data_seed.spawn(len(DATASETS))))
    init_seed, loader_seed, mask_seed = run_seed.spawn(3)   # shared by all runs: common random numbers
    runs = []
    for dataset in datasets:
        (X_run, y_run), test_set = randomized(dataset, (X[train], y[train]), (X_test[test], y_test[test]),
                                              np.random.default_rng(data_seeds[dataset]))
        for regularization in regularizations:
            model = _network(config, regularization, init_seed, mask_seed)
            regularizers = [L2(config.weight_decay)] if regularization == "weight-decay" else []
            trainer = Trainer(model, losses.cross_entropy,
                              SGD(model.parameters(), lr=config.lr, momentum=config.momentum), regularizers)
            loader = DataLoader(X_run, y_run, config.batch_size, rng=np.random.default_rng(loader_seed))
            fitted = StopAtTarget("train_error", 0.0)
            start = time.perf_counter()
            history = phases.run(f"{dataset}_{regularization}".replace("-", "_"),
                                 f"{dataset}, {regularization}", trainer.fit, loader, epochs=epochs,
                                 eval_sets={"train": (X_run, y_run), "test": test_set}, eval_every="epoch",
                                 callbacks=[fitted], total_steps=epochs * len(loader))
            runs.append({"dataset": dataset, "regularization": regularization,
                         "epochs_to_fit": trainer.epoch if fitted.reached else None,
                         "seconds": time.perf_counter() - start,
                         "train_error": history.last("train_error"), "test_error": history.last("test_error"),
                         "curve": {"epoch": history.epochs("train_error"),
                                   "train_error": history.values("train_error"),
                                   "train_loss": history.values("train_loss"),
                                   "test_error": history.values("test_error")}})
    results = {"data": "MNIST", "sizes": {"train": n_train, "test": n_test}, "epochs": epochs, "runs": runs}
    if len(runs) == 1:      # one run chosen (a point of a sweep): its numbers where the sweep's summary reads them
        results.update({key: runs[0][key] for key in ("epochs_to_fit", "train_error", "test_error")})
    return results


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def report(document: dict, folder) -> str:
    """Markdown: epochs to fit and test error per run, the training curves per regularization."""
    folder = Path(folder)
    config, results = document["config"], document["results"]
    runs = results["runs"]
    true_epochs = {r["regularization"]: r["epochs_to_fit"] for r in runs if r["dataset"] == "true-labels"}
    lines = ["# Memorization: the randomization tests of Zhang et al. (2017) on MNIST (memorization)", "",
             f"Data: {results['sizes']['train']} MNIST training images, {results['sizes']['test']} test images. "
             f"Model: 784-{config['hidden']}-{config['hidden']}-10 ReLU MLP, SGD lr {config['lr']} momentum "
             f"{config['momentum']}, batch {config['batch_size']}, at most {results['epochs']} epochs, stopped at "
             f"zero training error. Weight decay: L2 with α = {config['weight_decay']:g}; dropout: keep "
             f"{config['keep_hidden']:g} on the hidden units. Same initial weights and batch orders for every run. "
             f"Seed {config['seed']}; run time {document['seconds']:.1f} s.", "",
             "Zhang et al. (2017, Fig. 1a): on CIFAR-10 every randomization is fit to zero training error; random "
             "labels take a small constant factor longer than true labels; explicit regularizers do not prevent "
             "it. Test error: low on true labels, at chance (90 %) on random labels and Gaussian inputs.", ""]
    header = ["dataset", "regularization", "epochs to zero training error", "× true labels",
              "final training error %", "test error %", "seconds"]
    rows = []
    for r in runs:
        base = true_epochs.get(r["regularization"])
        ratio = r["epochs_to_fit"] / base if r["epochs_to_fit"] is not None and base else None
        rows.append([r["dataset"], r["regularization"],
                     r["epochs_to_fit"] if r["epochs_to_fit"] is not None else f"not within {results['epochs']}",
                     ratio, percent(r["train_error"]), percent(r["test_error"]), r["seconds"]])
    lines.append(markdown_table(header, rows))
    plots = []
    for regularization in dict.fromkeys(r["regularization"] for r in runs):
        curves = {r["dataset"]: (r["curve"]["epoch"], [100 * v for v in r["curve"]["train_error"]])
                  for r in runs if r["regularization"] == regularization}
        name = f"train_error_{regularization}.png"
        plots.append(line_plot(folder / name, curves, f"training error, regularization: {regularization}",
                               "epoch", "training error (%)"))
        if plots[-1]:
            lines += ["", f"![training error, {regularization}]({name})"]
    if not all(plots):
        lines += ["", PLOTS_SKIPPED]
    return "\n".join(lines) + "\n"
