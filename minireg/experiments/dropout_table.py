"""The lecture's dropout table on MNIST: L2, late L1, KL sparsity, max-norm, dropout.

The slides reproduce Table 9 of Srivastava et al. (2014), "Dropout: a simple way to
prevent neural networks from overfitting" (JMLR 15), MNIST test error of one network
trained with each regularizer:

=====================================  ========
L2                                     1.62 %
L2 + L1 applied towards the end        1.60 %
L2 + KL sparsity                       1.55 %
max-norm                               1.35 %
dropout + L2                           1.25 %
dropout + max-norm                     1.05 %
=====================================  ========

**The paper's recipe.** A 784-1024-1024-2048-10 ReLU network on all 60,000 training
images, SGD with momentum (0.95 at the end), a decaying learning rate, hundreds of
epochs (up to 10⁶ updates); dropout keeps input units with probability 0.8 and hidden
units with 0.5; max-norm's radius c between 3 and 4; every hyperparameter chosen on a
validation set of 10,000 images. That is days of CPU time for 2 cores.

**This run.** The same six rows on one smaller network (784-H-H-10; H = 1024 by default,
the width of the paper's first two layers) trained for a fixed budget of epochs on a
subset of the training images with a linearly decaying learning rate, every row from the
same initial weights and the same batch order (common random numbers), the dropout rows
with the same masks generator. The rows differ only in their regularizer:

* ``L2``: weight decay α/2 ‖w‖² (Deep Learning 7.2.1, published 7.1.1).
* ``L2 + L1 late``: the same, plus the L1 penalty α‖w‖₁ (7.2.2, published 7.1.2)
  switched on for the last epochs only (:class:`FromEpoch`).
* ``L2 + KL sparsity``: sigmoid hidden units (KL divergence needs activations in
  [0, 1]), each hidden layer's mean activation pulled towards ρ (7.9, published 7.10).
  It is the one row whose hidden units are not ReLU.
* ``max-norm``: every unit's incoming weight vector projected onto the ball of radius c
  after each update (7.3, published 7.2).
* ``dropout + L2`` and ``dropout + max-norm``: input units kept with probability 0.8,
  hidden units with 0.5, the weight scaling rule at test time (7.11, published 7.12).

The hyperparameters are options, set once and not tuned (the validation error is
reported beside the test error; nothing is chosen on the test set). The first claim
to check is the *ordering* of the rows, not the numbers: a smaller network trained for
minutes cannot reach the paper's errors.

``--quick`` trains 784-128-128-10 on 5,000 images for 10 epochs (about 10 s on
2 cores); the default, 784-1024-1024-10 on 20,000 images for 25 epochs (about 9 minutes).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader, load_mnist
from minireg.experiments.base import (PLOTS_SKIPPED, CheckedConfig, Phases, check_data_root, check_mnist_split,
                                      format_number, line_plot, markdown_table, option, percent)
from minireg.optim import SGD, LinearDecay
from minireg.regularizers import L1, L2, KLSparsity, MaxNorm
from minireg.regularizers.base import Regularizer
from minireg.training import LearningRateSchedule, Trainer


#: Srivastava et al. (2014), Table 9, as the lecture's slides show it: (row, test error %).
PAPER_TABLE = {"l2": 1.62, "l2_l1_late": 1.60, "l2_kl": 1.55, "max_norm": 1.35, "dropout_l2": 1.25,
               "dropout_max_norm": 1.05}
ROW_TITLES = {"l2": "L2", "l2_l1_late": "L2 + L1 towards the end", "l2_kl": "L2 + KL sparsity",
              "max_norm": "max-norm", "dropout_l2": "dropout + L2", "dropout_max_norm": "dropout + max-norm"}
SOURCE = ("Srivastava, Hinton, Krizhevsky, Sutskever and Salakhutdinov (2014), Dropout: a simple way to prevent "
          "neural networks from overfitting, JMLR 15, Table 9 (784-1024-1024-2048-10 ReLU network, the whole "
          "training set, hyperparameters chosen on validation)")


class FromEpoch(Regularizer):
    """A regularizer that acts only from epoch ``start`` on (counting from 0).

    "L1 applied towards the end of training" in Srivastava et al. (2014): the wrapped
    regularizer's hooks are called once ``step.epoch >= start`` and skipped before. The
    trainer's epoch count is in its checkpoints, so a resumed run switches at the same
    step as an uninterrupted one.
    """

    def __init__(self, regularizer: Regularizer, start: int):
        if not isinstance(regularizer, Regularizer):
            raise TypeError(f"regularizer must be a minireg Regularizer, got {type(regularizer).__name__}")
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
            raise ValueError(f"start must be an integer epoch >= 0, got {start!r}")
        self.regularizer, self.start = regularizer, int(start)
        self.needs_input_grad = regularizer.needs_input_grad

    def attach(self, model):
        self.regularizer.attach(model)

    def _on(self, step) -> bool:
        return step.epoch >= self.start

    def transform_batch(self, x, y, step):
        return self.regularizer.transform_batch(x, y, step) if self._on(step) else (x, y)

    def penalty(self, step):
        return self.regularizer.penalty(step) if self._on(step) else None

    def transform_gradients(self, step):
        if self._on(step):
            self.regularizer.transform_gradients(step)

    def after_step(self, step):
        if self._on(step):
            self.regularizer.after_step(step)

    def after_epoch(self, step):
        if step.epoch - 1 >= self.start:      # step.epoch counts the epoch just completed
            self.regularizer.after_epoch(step)

    def state_dict(self):
        return self.regularizer.state_dict()

    def load_state_dict(self, state):
        self.regularizer.load_state_dict(state)

    def __repr__(self):
        return f"FromEpoch({self.regularizer!r}, start={self.start})"


@dataclass
class DropoutTableConfig(CheckedConfig):
    """The options of ``minireg run dropout-table``."""

    seed: int = option(0, "seed of every random choice (split, initialization, batch order, masks)", minimum=0)
    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "784-128-128-10 on 5,000 training and 2,000 validation examples, 10 epochs "
                                "(about 10 s), instead of the sizes below")
    n_train: int = option(20000, "training examples", minimum=1)
    n_val: int = option(5000, "validation examples (held out from MNIST's training set)", minimum=1)
    hidden: int = option(1024, "units of each of the two hidden layers (784-hidden-hidden-10)", minimum=1)
    epochs: int = option(25, "epochs of each training run", minimum=1)
    lr: float = option(0.1, "SGD learning rate of the first epoch, decayed linearly to lr / 20 at the last",
                       minimum=0.0, include_minimum=False)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(100, "minibatch size", minimum=1)
    l2: float = option(1e-4, "α of L2 in the L2 rows", minimum=0.0, include_minimum=False)
    l1: float = option(1e-4, "α of the late L1 penalty", minimum=0.0, include_minimum=False)
    l1_epochs: int = option(5, "the last epochs during which the L1 penalty is on", minimum=1)
    kl: float = option(1e-3, "α of the KL sparsity penalty (summed over the units of each hidden layer)",
                       minimum=0.0, include_minimum=False)
    kl_rho: float = option(0.1, "target mean activation ρ of the sigmoid hidden units", minimum=0.0, maximum=1.0,
                           include_minimum=False, include_maximum=False)
    max_norm: float = option(3.0, "radius c of max-norm (the paper: 3 to 4)", minimum=0.0, include_minimum=False)
    keep_input: float = option(0.8, "dropout's probability of keeping an input unit", minimum=0.0, maximum=1.0,
                               include_minimum=False)
    keep_hidden: float = option(0.5, "dropout's probability of keeping a hidden unit", minimum=0.0, maximum=1.0,
                                include_minimum=False)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")

    @staticmethod
    def check_together(values, label):
        check_mnist_split(values, label)
        if values["l1_epochs"] > values["epochs"]:
            raise ValueError(f"{label('l1_epochs')} must be at most {label('epochs')} ({values['epochs']}), "
                             f"got {values['l1_epochs']}")
        check_data_root(values, label)


def _sizes(config):
    """``(n_train, n_val, hidden, epochs, l1_epochs)`` after ``--quick``."""
    if config.quick:
        return 5000, 2000, 128, 10, min(config.l1_epochs, 10)
    return config.n_train, config.n_val, config.hidden, config.epochs, config.l1_epochs


def _model(hidden, activation, keep_input, keep_hidden, init_rng, mask_rng):
    """784-hidden-hidden-10; the dropout layers are there in every row (keep = 1 is the identity),
    so that every row draws the same initial weights from ``init_rng``."""
    return nn.Sequential(nn.Dropout(keep=keep_input, rng=mask_rng), nn.Linear(784, hidden, rng=init_rng), activation(),
                         nn.Dropout(keep=keep_hidden, rng=mask_rng), nn.Linear(hidden, hidden, rng=init_rng),
                         activation(), nn.Dropout(keep=keep_hidden, rng=mask_rng),
                         nn.Linear(hidden, 10, rng=init_rng))


def _rows(config, epochs, l1_epochs):
    """``[(name, activation, dropout?, regularizers factory)]``: the six rows of the table."""
    kl_layers = ("layers.2", "layers.5")    # the two sigmoid layers of _model
    return [
        ("l2", nn.ReLU, False, lambda: [L2(config.l2)]),
        ("l2_l1_late", nn.ReLU, False, lambda: [L2(config.l2), FromEpoch(L1(config.l1), epochs - l1_epochs)]),
        ("l2_kl", nn.Sigmoid, False,
         lambda: [L2(config.l2)] + [KLSparsity(config.kl, layer, config.kl_rho) for layer in kl_layers]),
        ("max_norm", nn.ReLU, False, lambda: [MaxNorm(config.max_norm)]),
        ("dropout_l2", nn.ReLU, True, lambda: [L2(config.l2)]),
        ("dropout_max_norm", nn.ReLU, True, lambda: [MaxNorm(config.max_norm)]),
    ]


def run(config: DropoutTableConfig, progress=None) -> dict:
    """Train the six rows of the table, one resumable phase each; return JSON-ready results."""
    n_train, n_val, hidden, epochs, l1_epochs = _sizes(config)
    rows = _rows(config, epochs, l1_epochs)
    phases = Phases(progress, total=len(rows), show=config.progress)
    data_seed, init_seed, loader_seed, mask_seed = np.random.SeedSequence(config.seed).spawn(4)
    root = config.data_root or None
    X, y = load_mnist("train", root=root, flatten=True)
    X_test, y_test = load_mnist("test", root=root, flatten=True)
    order = np.random.default_rng(data_seed).permutation(len(X))
    train, val = order[:n_train], order[n_train:n_train + n_val]

    results = []
    for name, activation, dropout, regularizers_of in rows:
        keep_input, keep_hidden = (config.keep_input, config.keep_hidden) if dropout else (1.0, 1.0)
        model = _model(hidden, activation, keep_input, keep_hidden, np.random.default_rng(init_seed),
                       np.random.default_rng(mask_seed))
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=config.lr, momentum=config.momentum),
                          regularizers=regularizers_of())
        loader = DataLoader(X[train], y[train], config.batch_size, rng=np.random.default_rng(loader_seed))
        # a decaying rate, as in the paper, lets the noisy dropout rows settle by the last epoch
        decay = LearningRateSchedule(LinearDecay(config.lr, config.lr / 20, max(epochs - 1, 1)), per="epoch")
        phases.run(name, ROW_TITLES[name], trainer.fit, loader, epochs=epochs, total_steps=epochs * len(loader),
                   eval_sets={"val": (X[val], y[val])}, eval_every="epoch", callbacks=[decay])
        results.append({
            "name": name, "title": ROW_TITLES[name], "paper_test_error": PAPER_TABLE[name] / 100,
            "val_error": trainer.history.last("val_error"),
            "test_error": trainer.evaluate(X_test, y_test)["error"],
            "train_error": trainer.evaluate(X[train], y[train])["error"],
            "val_errors": trainer.history.values("val_error"),
        })
    return {"data": "MNIST", "sizes": {"train": n_train, "validation": n_val, "test": len(X_test)},
            "hidden": hidden, "epochs": epochs, "l1_epochs": l1_epochs, "rows": results}


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def rank_agreement(rows) -> float:
    """Kendall's τ between the paper's order of the rows and ours (1: the same order, -1: reversed)."""
    paper = np.array([row["paper_test_error"] for row in rows])
    ours = np.array([row["test_error"] for row in rows])
    pairs = [(i, j) for i in range(len(rows)) for j in range(i + 1, len(rows))]
    signs = [np.sign(paper[i] - paper[j]) * np.sign(ours[i] - ours[j]) for i, j in pairs]
    return float(np.mean(signs))


def report(document: dict, folder) -> str:
    """Markdown: our table beside the paper's, the ordering, validation curves."""
    folder = Path(folder)
    config, results = document["config"], document["results"]
    rows = results["rows"]
    sizes = results["sizes"]
    lines = ["# The dropout table on MNIST (dropout-table)", ""]
    lines.append(f"Data: MNIST, {sizes['train']} training and {sizes['validation']} validation images (from the "
                 f"training set), {sizes['test']} test images. Model: 784-{results['hidden']}-{results['hidden']}-10 "
                 f"(ReLU; sigmoid in the KL row), SGD lr {config['lr']} decayed linearly to {config['lr'] / 20:g}, "
                 f"momentum {config['momentum']}, batch {config['batch_size']}, {results['epochs']} epochs per row, "
                 "the L1 penalty on for the last "
                 f"{results['l1_epochs']}. Every row starts from the same weights and sees the same batches. Seed "
                 f"{config['seed']}; run time {document['seconds']:.1f} s. Hyperparameters are fixed options, not "
                 "tuned; nothing is chosen on the test set.")
    lines += ["", "## Ours beside the paper's", ""]
    ours_order = sorted(range(len(rows)), key=lambda i: rows[i]["test_error"])
    errors = [row["test_error"] for row in rows]
    rank = {i: 1 + sum(other < errors[i] for other in errors) for i in range(len(rows))}    # ties share a rank
    lines.append(markdown_table(
        ["regularizer", "paper test error %", "our test error %", "our rank", "validation error %",
         "training error %"],
        [[row["title"], format_number(100 * row["paper_test_error"]), percent(row["test_error"]), rank[i],
          percent(row["val_error"]), percent(row["train_error"])] for i, row in enumerate(rows)]))
    lines += ["", f"Source of the paper's column: {SOURCE}.", ""]
    tau = rank_agreement(rows)
    same = ours_order == list(range(len(rows)))[::-1]        # the paper's rows go from worst to best
    lines += ["## The ordering", "",
              f"The paper's rows are in decreasing order of error. Ours, from best to worst: "
              f"{', '.join(rows[i]['title'] for i in ours_order)}. "
              + ("That is the paper's order exactly. " if same else "")
              + f"Kendall's τ between the two orders: {tau:.2f} (1 = the same order, 0 = unrelated).", ""]
    by_name = {row["name"]: row for row in rows}
    best_plain = min(by_name[n]["test_error"] for n in ("l2", "l2_l1_late", "l2_kl", "max_norm"))
    best_dropout = min(by_name[n]["test_error"] for n in ("dropout_l2", "dropout_max_norm"))
    lines += [f"Best row without dropout: {percent(best_plain)} %; best with dropout: {percent(best_dropout)} %. "
              f"One standard error of a test error p on {sizes['test']} images, √(p(1−p)/N), is about "
              f"{100 * np.sqrt(best_plain * (1 - best_plain) / sizes['test']):.2f} points here: rows closer than "
              "about twice that may swap with another seed.", ""]
    epochs = list(range(1, len(rows[0]["val_errors"]) + 1))
    plotted = line_plot(folder / "validation_error.png",
                        {row["title"]: (epochs, [100 * v for v in row["val_errors"]]) for row in rows},
                        "Validation error per epoch (MNIST)", "epoch", "validation error (%)")
    lines += ["![validation error](validation_error.png)" if plotted else PLOTS_SKIPPED]
    return "\n".join(lines) + "\n"
