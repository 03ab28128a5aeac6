"""Pretraining and transfer on MNIST with few labels (the lecture slides).

1. **Unsupervised pretraining**: an autoencoder 784-h-784 (ReLU code, sigmoid output,
   cross-entropy of the pixels as reconstruction loss, Adam) trained on unlabelled images; its encoder then gets a
   10-way softmax head trained on ``labels`` labelled images -- encoder frozen, or
   fine-tuned -- against the same network trained from scratch on those labels.
2. **Transfer**: a network 784-h-5 trained on the digits 0-4 (``source`` labelled
   images); its encoder gets a new head for the digits 5-9 with ``labels`` labelled
   images -- frozen, or fine-tuned -- against training from scratch.

The mechanics are :mod:`minireg.training.pretraining` (:class:`Autoencoder`,
:func:`with_new_head`: the encoder is copied, and a frozen one is left out of the
optimizer). Every network starts from the same initial weights where the shapes allow
(the from-scratch and the pretrained encoder alike), and the few-label runs see the same
batches. The test sets are MNIST's test images of the digits concerned; nothing is
chosen on them.

Each training is one resumable phase (``minireg resume FOLDER``). ``--quick``: 5,000
unlabelled images and 5,000 source images for 5 epochs, 100 labels (a minute or two on
2 cores); the default, 20,000 and 10,000 images for 10 epochs, 100 labels (a few
minutes).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

from minireg import losses, nn
from minireg.datasets import DataLoader, load_mnist
from minireg.experiments.base import (MNIST_TRAINING_EXAMPLES, PLOTS_SKIPPED, MnistConfig, Phases,
                                      figure_png, format_number, markdown_table, option)
from minireg.optim import SGD, Adam
from minireg.training import Trainer
from minireg.training.pretraining import Autoencoder, with_new_head

STARTS = ("scratch", "frozen", "fine-tuned")


@dataclass
class PretrainingConfig(MnistConfig):
    """The options of ``minireg run pretraining``."""

    seed: int = option(0, "seed of the subsets, the initial weights and the batch orders", minimum=0)
    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "5,000 unlabelled and 5,000 source images, 5 epochs of pretraining (a minute or "
                                "two), instead of the sizes below")
    unlabelled: int = option(20000, "images the autoencoder trains on (no labels)", minimum=1,
                             maximum=MNIST_TRAINING_EXAMPLES)
    source: int = option(10000, "labelled images of the digits 0-4 for the source task", minimum=1,
                         maximum=30000)
    labels: int = option(100, "labelled images of the task with few labels (all digits; then digits 5-9)",
                         minimum=10, maximum=5000)
    hidden: int = option(256, "units of the encoder's code (784-h)", minimum=1)
    pretrain_epochs: int = option(10, "epochs of the autoencoder and of the source network", minimum=1)
    finetune_steps: int = option(500, "updates of each few-label run", minimum=1)
    pretrain_lr: float = option(0.001, "Adam's learning rate for the autoencoder", minimum=0.0,
                                include_minimum=False)
    lr: float = option(0.05, "SGD learning rate (the source network and the few-label runs)", minimum=0.0,
                       include_minimum=False)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(20, "minibatch size of the few-label runs (100 for pretraining)", minimum=1)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")


def _sizes(config) -> tuple:
    """``(unlabelled, source, pretrain_epochs)`` after ``--quick``."""
    if config.quick:
        return 5000, 5000, 5
    return config.unlabelled, config.source, config.pretrain_epochs


def run(config: PretrainingConfig, progress=None) -> dict:
    """Pretrain (autoencoder, source task), then the few-label runs from each start."""
    unlabelled, source, pretrain_epochs = _sizes(config)
    phases = Phases(progress, total=2 + 2 * len(STARTS), show=config.progress)
    root = config.data_root or None
    X, y = load_mnist("train", root=root, flatten=True)
    X_test, y_test = load_mnist("test", root=root, flatten=True)
    split_seed, init_seed, head_seed, loader_seed = np.random.SeedSequence(config.seed).spawn(4)
    order = np.random.default_rng(split_seed).permutation(len(X))
    low, high = order[y[order] < 5], order[y[order] >= 5]

    def encoder():
        return nn.Sequential(nn.Linear(784, config.hidden, rng=np.random.default_rng(init_seed)), nn.ReLU())

    def head(outputs):
        return nn.Linear(config.hidden, outputs, rng=np.random.default_rng(head_seed))

    def fit(name, title, model, parameters, loss, inputs, targets, batch, optimizer=None, **budget):
        optimizer = optimizer or SGD(parameters, lr=config.lr, momentum=config.momentum)
        trainer = Trainer(model, loss, optimizer)
        loader = DataLoader(inputs, targets, batch, rng=np.random.default_rng(loader_seed))
        total = budget.get("max_steps") or budget["epochs"] * len(loader)
        phases.run(name, title, trainer.fit, loader, total_steps=total, **budget)
        return trainer

    # the pretrained encoders: an autoencoder on unlabelled images, a classifier of the digits 0-4
    autoencoder = Autoencoder(encoder(), head(784))     # the decoder's outputs are the logits of the pixels
    images = X[order[:unlabelled]]
    reconstruction = fit("autoencoder", "autoencoder on unlabelled images", autoencoder,
                         autoencoder.parameters(), losses.binary_cross_entropy_with_logits, images, images, 100,
                         optimizer=Adam(autoencoder.parameters(), lr=config.pretrain_lr), epochs=pretrain_epochs)
    source_net = nn.Sequential(encoder(), head(5))
    fit("source", "source task: digits 0-4", source_net, source_net.parameters(), losses.cross_entropy,
        X[low[:source]], y[low[:source]], 100, epochs=pretrain_epochs)
    pretrained = {"unsupervised": autoencoder.encoder, "transfer": source_net.layers[0]}

    # the few-label tasks: all ten digits (after the autoencoder), the digits 5-9 (after the source task)
    few = {"unsupervised": (order[-config.labels:], 10, np.arange(len(X_test)), 0),
           "transfer": (high[-config.labels:], 5, np.flatnonzero(y_test >= 5), 5)}
    reconstructed = expit(reconstruction.predict(X_test))
    results = {"reconstruction_mse": float(np.mean((reconstructed - X_test) ** 2))}
    for study, (chosen, classes, test, offset) in few.items():
        errors = {}
        for start in STARTS:
            if start == "scratch":
                model = nn.Sequential(encoder(), head(classes))
                parameters = model.parameters()
            else:
                built = with_new_head(pretrained[study], head(classes), freeze_encoder=start == "frozen")
                model, parameters = built.model, built.trainable
            trainer = fit(f"{study}_{start}".replace("-", "_"), f"{study}: {start}, {config.labels} labels", model,
                          parameters, losses.cross_entropy, X[chosen], y[chosen] - offset, config.batch_size,
                          max_steps=config.finetune_steps)
            errors[start] = trainer.evaluate(X_test[test], y_test[test] - offset)["error"]
        results[study] = {"labels": config.labels, "classes": classes, "test_images": len(test), "errors": errors}
    results["sizes"] = {"unlabelled": unlabelled, "source": source, "pretrain_epochs": pretrain_epochs}
    return results


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------

TITLES = {"unsupervised": "Unsupervised pretraining (autoencoder), then 10 digits with few labels",
          "transfer": "Transfer from the digits 0-4 to the digits 5-9"}


def report(document: dict, folder) -> str:
    """Markdown: the test error of each start, a bar chart of both studies."""
    folder = Path(folder)
    config, results = document["config"], document["results"]
    sizes = results["sizes"]
    lines = ["# Pretraining and transfer with few labels on MNIST (pretraining)", "",
             f"Encoder 784-{config['hidden']} ReLU. Autoencoder: {sizes['unlabelled']} unlabelled training images, "
             f"{sizes['pretrain_epochs']} epochs (Adam, lr {config['pretrain_lr']:g}), test reconstruction error (mean squared, per pixel) "
             f"{format_number(results['reconstruction_mse'])}. Source network: {sizes['source']} images of the "
             f"digits 0-4, {sizes['pretrain_epochs']} epochs. Few-label runs: {config['labels']} labelled images, "
             f"{config['finetune_steps']} SGD updates (lr {config['lr']}, momentum {config['momentum']}, batch "
             f"{config['batch_size']}). Seed {config['seed']}; run time {document['seconds']:.1f} s.", ""]
    for study in ("unsupervised", "transfer"):
        errors = results[study]["errors"]
        lines += [f"## {TITLES[study]}", "",
                  markdown_table(["start", "test error %"], [[start, 100 * errors[start]] for start in STARTS]), ""]
        changes = ", ".join(f"{start} {100 * (errors[start] - errors['scratch']):+.2f}" for start in STARTS[1:])
        lines += [f"Against training from scratch, in percentage points of test error ({results[study]['test_images']} "
                  f"test images; negative: the pretrained start helps): {changes}.", ""]

    def draw(axes):
        width = 0.25
        for index, start in enumerate(STARTS):
            axes.bar(np.arange(2) + (index - 1) * width,
                     [100 * results[study]["errors"][start] for study in ("unsupervised", "transfer")],
                     width, label=start)
        axes.set_xticks(np.arange(2), ["autoencoder → 10 digits", "digits 0-4 → digits 5-9"])

    if figure_png(folder / "pretraining.png", f"Test error with {config['labels']} labels", "", "test error (%)",
                  draw):
        lines += ["![test error by start](pretraining.png)", ""]
    else:
        lines += [PLOTS_SKIPPED]
    return "\n".join(lines) + "\n"
