"""Data-side regularizers on a small MNIST training set: D1-D6 against none.

Deep Learning 7.5 (published 7.4), dataset augmentation, and the lecture's slides
(label smoothing, mixup, random erasing / cutout, CutMix, RandAugment). A LeNet-style
convolutional network is trained on a few thousand MNIST images -- few enough that a
plain network overfits and what is done to the batches shows -- once without any
regularizer and once with each of

* random affine maps (translation, rotation, scaling; no flips for digits),
* label smoothing, mixup, random erasing, cutout, CutMix, RandAugment,

every row from the same initial weights and with the same batches (common random
numbers), so that the rows differ only by the data-side transform. The test error of
each row is set beside the plain one, and an image grid shows what each transform does
to the same digits (the grids are drawn again, from the seed, when the report is
written). Hyperparameters are fixed options, not tuned; nothing is chosen on the test
set.

``--quick``: 1,000 training images, 6 epochs, 2,000 test images (under a minute with
one thread); the default: 3,000 training images, 15 epochs, the 10,000 test images
(about four minutes, up to eight on a busy machine).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minireg import io, losses, nn
from minireg.datasets import DataLoader, load_mnist
from minireg.experiments.base import (MNIST_TRAINING_EXAMPLES, PLOTS_SKIPPED, MnistConfig, Phases, format_number,
                                      markdown_table, option, percent, plotting_available)
from minireg.optim import SGD
from minireg.regularizers.data import (CutMix, Cutout, LabelSmoothing, Mixup, RandAugment, RandomAffine,
                                       RandomErasing)
from minireg.training import Trainer

MNIST_TEST_EXAMPLES = 10000
IMAGE_SHAPE = (1, 28, 28)


@dataclass
class AugmentationConfig(MnistConfig):
    """The options of ``minireg run augmentation``."""

    seed: int = option(0, "seed of every random choice (subset, initialization, batch order, transforms)",
                       minimum=0)
    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "1,000 training images, 6 epochs, 2,000 test images (under a minute), instead of "
                                "the sizes below")
    n_train: int = option(3000, "training images (a random subset of MNIST's training set)", minimum=1,
                          maximum=MNIST_TRAINING_EXAMPLES)
    n_test: int = option(MNIST_TEST_EXAMPLES, "test images (the first ones of MNIST's test set)", minimum=1,
                         maximum=MNIST_TEST_EXAMPLES)
    epochs: int = option(15, "epochs of each training run", minimum=1)
    lr: float = option(0.05, "SGD learning rate", minimum=0.0, include_minimum=False)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(64, "minibatch size", minimum=1)
    max_rotation: float = option(15.0, "random affine: largest rotation, degrees", minimum=0.0, maximum=180.0)
    max_translation: float = option(2.0, "random affine: largest translation along each axis, pixels", minimum=0.0)
    max_scaling: float = option(0.1, "random affine: scaling factors in [1 − this, 1 + this]", minimum=0.0,
                                maximum=1.0, include_maximum=False)
    smoothing: float = option(0.1, "label smoothing's α (targets 1 − α and α/9)", minimum=0.0, maximum=1.0,
                              include_maximum=False)
    mixup_a: float = option(0.2, "mixup's Beta(a, a) parameter", minimum=0.0, include_minimum=False)
    erasing_p: float = option(0.5, "random erasing: probability of erasing an image", minimum=0.0, maximum=1.0)
    cutout_size: int = option(8, "cutout: the square's side, pixels", minimum=1, maximum=28)
    cutmix_a: float = option(1.0, "CutMix's Beta(a, a) parameter", minimum=0.0, include_minimum=False)
    randaugment_n: int = option(2, "RandAugment: operations per image N", minimum=0)
    randaugment_m: float = option(5.0, "RandAugment: magnitude M on the scale 0-10", minimum=0.0, maximum=10.0)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")


def _sizes(config):
    """``(n_train, n_test, epochs)`` after ``--quick``."""
    if config.quick:
        return 1000, 2000, 6
    return config.n_train, config.n_test, config.epochs


def transforms(config) -> dict:
    """``{name: (title, data-side regularizer or None)}``: the rows, the plain network first."""
    scaling = (1 - config.max_scaling, 1 + config.max_scaling)
    return {
        "none": ("no data-side regularizer", None),
        "affine": (f"random affine (±{config.max_rotation:g}°, ±{config.max_translation:g} px, scale "
                   f"{scaling[0]:g}-{scaling[1]:g})",
                   RandomAffine(config.max_rotation, config.max_translation, scaling, image_shape=IMAGE_SHAPE)),
        "label_smoothing": (f"label smoothing (α = {config.smoothing:g})", LabelSmoothing(config.smoothing, 10)),
        "mixup": (f"mixup (a = {config.mixup_a:g})", Mixup(config.mixup_a, 10)),
        "random_erasing": (f"random erasing (p = {config.erasing_p:g})",
                           RandomErasing(config.erasing_p, image_shape=IMAGE_SHAPE)),
        "cutout": (f"cutout ({config.cutout_size} x {config.cutout_size})",
                   Cutout(config.cutout_size, image_shape=IMAGE_SHAPE)),
        "cutmix": (f"CutMix (a = {config.cutmix_a:g})", CutMix(config.cutmix_a, 10, image_shape=IMAGE_SHAPE)),
        "randaugment": (f"RandAugment (N = {config.randaugment_n}, M = {config.randaugment_m:g})",
                        RandAugment(config.randaugment_n, config.randaugment_m, image_shape=IMAGE_SHAPE)),
    }


def lenet(rng) -> nn.Sequential:
    """A LeNet-style network for 28 x 28 digits: conv 5x5 (6, padding 2) - max pool - conv 5x5 (16) -
    max pool - 120 - 84 - 10, ReLU."""
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120, rng=rng), nn.ReLU(), nn.Linear(120, 84, rng=rng), nn.ReLU(),
                         nn.Linear(84, 10, rng=rng))


def _seeds(config):
    """(data, initialization, batch order, transforms, grids) seeds."""
    return np.random.SeedSequence(config.seed).spawn(5)


def run(config: AugmentationConfig, progress=None) -> dict:
    """Train the plain network and one network per data-side regularizer, one resumable phase each."""
    n_train, n_test, epochs = _sizes(config)
    rows = transforms(config)
    phases = Phases(progress, total=len(rows), show=config.progress)
    data_seed, init_seed, loader_seed, transform_seed, _ = _seeds(config)
    root = config.data_root or None
    X, y = load_mnist("train", root=root)
    X_test, y_test = load_mnist("test", root=root)
    X_test, y_test = X_test[:n_test], y_test[:n_test]
    train = np.random.default_rng(data_seed).permutation(len(X))[:n_train]
    X, y = X[train], y[train]
    results = []
    for name, (title, transform) in rows.items():
        model = lenet(np.random.default_rng(init_seed))
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=config.lr, momentum=config.momentum),
                          regularizers=[transform] if transform is not None else [],
                          rng=np.random.default_rng(transform_seed))
        loader = DataLoader(X, y, config.batch_size, rng=np.random.default_rng(loader_seed))
        phases.run(name, title, trainer.fit, loader, epochs=epochs, total_steps=epochs * len(loader))
        results.append({"name": name, "title": title,
                        "test_error": trainer.evaluate(X_test, y_test)["error"],
                        "train_error": trainer.evaluate(X, y)["error"]})
    return {"data": "MNIST", "sizes": {"train": n_train, "test": n_test}, "epochs": epochs, "rows": results}


# --------------------------------------------------------------------------------------
# The image grids
# --------------------------------------------------------------------------------------


def augmented_examples(transform, images, labels, rng, draws=3):
    """``(grid, targets)``: the images (first row) and ``draws`` transformed copies of them
    (the next rows), shape (draws + 1, k, H, W); and each row's targets as soft targets
    (draws + 1, k, 10)."""
    grid, targets = [images[:, 0]], [np.eye(10, dtype=np.float32)[labels]]
    for _ in range(draws):
        x, q = transform.transform(images, labels, rng)
        grid.append(x[:, 0])
        targets.append(q if q.ndim == 2 else np.eye(10, dtype=np.float32)[q])
    return np.stack(grid), np.stack(targets)


def describe_target(q) -> str:
    """A soft target in a few characters: its largest class (with its weight when below 1)
    and the second largest when it weighs at least 0.05."""
    first, second = np.argsort(q)[::-1][:2]
    if q[first] > 0.995:
        return str(first)
    text = f"{first}: {q[first]:.2f}"
    return text + (f"\n{second}: {q[second]:.2f}" if q[second] >= 0.05 else "")


def mosaic(grid, gap=2):
    """The images ``grid`` (rows, columns, H, W) tiled into one array, ``gap`` pixels of
    1 (white) between them."""
    rows, columns, height, width = grid.shape
    out = np.ones((rows * (height + gap) - gap, columns * (width + gap) - gap), dtype=grid.dtype)
    for r in range(rows):
        for c in range(columns):
            top, left = r * (height + gap), c * (width + gap)
            out[top:top + height, left:left + width] = grid[r, c]
    return out


def image_grid(path, grid, title: str, captions=None) -> bool:
    """A PNG of the images ``grid`` (rows, columns, H, W) in gray, with an optional caption
    under each (a list of lists of str); False (nothing written) without matplotlib."""
    if not plotting_available():
        return False
    rows, columns, height, width = grid.shape
    gap = 12 if captions is not None else 2            # room for the captions
    with io.png_figure(path, figsize=(1.0 * columns, 1.05 * rows + 0.4), dpi=100) as (figure, axes):
        axes.imshow(mosaic(grid, gap), cmap="gray", vmin=0, vmax=1)
        axes.set_axis_off()
        for r in range(rows if captions is not None else 0):
            for c in range(columns):
                axes.text(c * (width + gap) + width / 2, r * (height + gap) + height + 1, captions[r][c],
                          ha="center", va="top", fontsize=6.5)
        axes.set_title(title, fontsize=9)
        figure.tight_layout()
    return True


def draw_grids(config, folder, count=8) -> dict:
    """``{name: PNG file name or None}``: for each transform, ``count`` test digits and three
    transformed copies, drawn from the run's seed (the same digits for every transform)."""
    root = config.data_root or None
    images, labels = load_mnist("test", root=root)
    grid_seed = _seeds(config)[4]
    chosen = np.random.default_rng(grid_seed).choice(len(images), count, replace=False)
    images, labels = images[chosen], labels[chosen]
    written = {}
    for name, (title, transform) in transforms(config).items():
        if transform is None:
            continue
        grid, targets = augmented_examples(transform, images, labels, np.random.default_rng(grid_seed))
        captions = [[describe_target(q) for q in row] for row in targets]
        file = f"grid_{name}.png"
        plotted = image_grid(folder / file, grid, f"{title}: the digits (top) and three draws", captions)
        written[name] = file if plotted else None
    return written


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def report(document: dict, folder) -> str:
    """Markdown: the test error of each row beside the plain network's, and the image grids."""
    folder = Path(folder)
    config, results = document["config"], document["results"]
    rows, sizes = results["rows"], results["sizes"]
    plain = rows[0]
    lines = ["# Data-side regularizers on a small MNIST training set (augmentation)", ""]
    lines.append(f"Data: {sizes['train']} MNIST training images, {sizes['test']} test images. Model: LeNet-style "
                 f"convolutional network (conv 6 - pool - conv 16 - pool - 120 - 84 - 10, ReLU), SGD lr "
                 f"{config['lr']} momentum {config['momentum']}, batch {config['batch_size']}, {results['epochs']} "
                 f"epochs per row. Every row starts from the same weights and sees the same batches; only the "
                 f"data-side transform differs. Seed {config['seed']}; run time {document['seconds']:.1f} s. "
                 "Hyperparameters are fixed options, not tuned; nothing is chosen on the test set.")
    lines += ["", "## Test error with each data-side regularizer (Deep Learning 7.5, published 7.4; the slides)", ""]
    lines.append(markdown_table(
        ["regularizer", "test error %", "change from none (points)", "training error % (clean images)"],
        [[row["title"], percent(row["test_error"]), format_number(100 * (row["test_error"] - plain["test_error"])),
          percent(row["train_error"])] for row in rows]))
    best = min(rows[1:], key=lambda row: row["test_error"])
    p = plain["test_error"]
    lines += ["", f"Lowest test error: {best['title']}, {percent(best['test_error'])} % against "
                  f"{percent(p)} % without. One standard error of a test error p on {sizes['test']} images, "
                  f"√(p(1−p)/N), is about {100 * np.sqrt(p * (1 - p) / sizes['test']):.2f} points here; the rows "
                  "share their initial weights and batches, so their differences are less noisy than that, but "
                  "another seed may still reorder rows that are close.", ""]
    lines += ["## What each transform does to the same digits", "",
              "Top row: eight test digits; below them, three draws of the transform. Under each image: its target "
              "(the class, or the classes and their weights when the transform mixes or smooths the targets).", ""]
    grids = draw_grids(AugmentationConfig(**config), folder)
    for name, file in grids.items():
        if file is not None:
            lines += [f"![{name}]({file})", ""]
    if not all(grids.values()):
        lines += [PLOTS_SKIPPED]
    return "\n".join(lines) + "\n"
