"""Weight penalties and constraints on MNIST: L2, L1 (penalty and prox) and max-norm.

The regularizers of ``docs/penalties.md``, trained side by side on the 784-300-10
network of the GrOWL table (Deep Learning 7.2-7.3, published 7.1-7.2):

1. **L2 against α** (eqs. 7.2-7.3): the test error of each α. Small α changes little,
   large α underfits, so the curve is a U (or an L when the unregularized net does not
   overfit the training subset much).
2. **L1 against α** (eqs. 7.9-7.10), as a penalty (its subgradient, place 3) and as a
   proximal step (soft thresholding, place 5): the same objective, but the subgradient
   only makes weights *small* while the prox makes them *exactly zero*. The fraction of
   exact zeros and of near zeros (within ±10⁻³) in the first layer shows the difference.
3. **Max-norm** (7.3; Srivastava et al. 2014): every hidden unit's incoming weight norm
   over training, with and without the constraint.

Every α is chosen on a validation split; the test set is only reported. Each training
run is one resumable phase (``minireg resume FOLDER``); all runs start from the same
weights and see the same batches, so that they differ only in their regularizer.
``--quick`` trains on 5,000 examples for 8 epochs (under a minute on 2 cores); the
default, 10,000 examples for 20 epochs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader, load_mnist
from minireg.experiments.base import (PLOTS_SKIPPED, CheckedConfig, Phases, check_data_root, check_mnist_split,
                                      figure_png, format_number, line_plot, markdown_table, option, percent)
from minireg.optim import SGD
from minireg.regularizers import L1, L2, MaxNorm, ProxL1
from minireg.regularizers.constraints import unit_norms
from minireg.training import Callback, Trainer

NEAR_ZERO = 1e-3


def _alphas(text: str, label: str) -> list:
    """``"1e-5,1e-4"`` as ``[1e-05, 0.0001]``: positive finite numbers, increasing."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{label} must be comma-separated numbers such as 1e-5,1e-4,1e-3, got {text!r}") from None
    if not values or any(not np.isfinite(v) or v <= 0 for v in values) or sorted(values) != values:
        raise ValueError(f"{label} must be positive finite numbers in increasing order, got {text!r}")
    return values


@dataclass
class WeightPenaltiesConfig(CheckedConfig):
    """The options of ``minireg run weight-penalties``."""

    seed: int = option(0, "seed of every random choice (split, initialization, batch order)", minimum=0)
    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "5,000 training and 2,000 validation examples, 8 epochs (under a minute), "
                                "instead of the sizes below")
    n_train: int = option(10000, "training examples", minimum=1)
    n_val: int = option(5000, "validation examples (held out from MNIST's training set)", minimum=1)
    hidden: int = option(300, "hidden units (784-hidden-10, ReLU)", minimum=1)
    epochs: int = option(20, "epochs of each training run", minimum=1)
    lr: float = option(0.05, "SGD learning rate", minimum=0.0, include_minimum=False)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(128, "minibatch size", minimum=1)
    l2_alphas: str = option("1e-5,1e-4,1e-3,1e-2,1e-1", "the α of L2, comma-separated (α = 0 is always run)")
    l1_alphas: str = option("1e-6,1e-5,1e-4,1e-3", "the α of L1, comma-separated (penalty and prox each)")
    max_norm: float = option(1.0, "the radius c of max-norm (He initialization starts the units near 1.4)",
                             minimum=0.0, include_minimum=False)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")

    @staticmethod
    def check_together(values, label):
        _alphas(values["l2_alphas"], label("l2_alphas"))
        _alphas(values["l1_alphas"], label("l1_alphas"))
        check_mnist_split(values, label)
        check_data_root(values, label)


class UnitNorms(Callback):
    """The largest and the median incoming-weight norm of the first layer's units, per epoch."""

    def __init__(self, layer):
        self.layer = layer
        self.largest, self.median = [], []

    def on_epoch_end(self, trainer, logs):
        norms = unit_norms(self.layer.weight.data).ravel()
        self.largest.append(float(norms.max()))
        self.median.append(float(np.median(norms)))

    def state_dict(self):
        return {"largest": np.array(self.largest), "median": np.array(self.median)}

    def load_state_dict(self, state):
        self.largest = [float(v) for v in np.atleast_1d(state["largest"])]
        self.median = [float(v) for v in np.atleast_1d(state["median"])]


def _runs(config):
    """``[(phase name, family, α, regularizers factory)]``: every training run, in order."""
    runs = [("none", "none", 0.0, lambda model: [])]
    for index, alpha in enumerate(_alphas(config.l2_alphas, "l2_alphas")):
        runs.append((f"l2_{index}", "L2", alpha, lambda model, a=alpha: [L2(a)]))
    for index, alpha in enumerate(_alphas(config.l1_alphas, "l1_alphas")):
        runs.append((f"l1_{index}", "L1 penalty", alpha, lambda model, a=alpha: [L1(a)]))
        runs.append((f"prox_l1_{index}", "L1 prox", alpha, lambda model, a=alpha: [ProxL1(a)]))
    runs.append(("max_norm", "max-norm", config.max_norm, lambda model: [MaxNorm(config.max_norm)]))
    return runs


def run(config: WeightPenaltiesConfig, progress=None) -> dict:
    """Train every run of :func:`_runs` as one phase; return JSON-ready results."""
    n_train, n_val, epochs = (5000, 2000, 8) if config.quick else (config.n_train, config.n_val, config.epochs)
    runs = _runs(config)
    phases = Phases(progress, total=len(runs), show=config.progress)
    # every run starts from the same weights and sees the same batches: the runs differ
    # only in their regularizer (common random numbers)
    data_seed, init_seed, loader_seed = np.random.SeedSequence(config.seed).spawn(3)
    root = config.data_root or None
    X, y = load_mnist("train", root=root, flatten=True)
    X_test, y_test = load_mnist("test", root=root, flatten=True)
    order = np.random.default_rng(data_seed).permutation(len(X))
    train, val = order[:n_train], order[n_train:n_train + n_val]

    results = []
    for name, family, alpha, regularizers_of in runs:
        init_rng, loader_rng = np.random.default_rng(init_seed), np.random.default_rng(loader_seed)
        model = nn.Sequential(nn.Linear(784, config.hidden, rng=init_rng), nn.ReLU(),
                              nn.Linear(config.hidden, 10, rng=init_rng))
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=config.lr, momentum=config.momentum),
                          regularizers=regularizers_of(model))
        loader = DataLoader(X[train], y[train], config.batch_size, rng=loader_rng)
        norms = UnitNorms(model[0])
        phases.run(name, f"{family}, α = {alpha:g}" if family not in ("none", "max-norm")
                   else (f"max-norm, c = {alpha:g}" if family == "max-norm" else "no regularizer"),
                   trainer.fit, loader, epochs=epochs, total_steps=epochs * len(loader),
                   eval_sets={"val": (X[val], y[val])}, eval_every="epoch", callbacks=[norms])
        first = model[0].weight.data
        counts, edges = np.histogram(first, bins=60, range=(-0.3, 0.3))
        results.append({
            "name": name, "family": family, "alpha": alpha,
            "val_error": trainer.history.last("val_error"),
            "test_error": trainer.evaluate(X_test, y_test)["error"],
            "train_error": trainer.evaluate(X[train], y[train])["error"],
            "exact_zeros": float(np.mean(first == 0)),
            "near_zeros": float(np.mean(np.abs(first) < NEAR_ZERO)),
            "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
            "unit_norms": {"largest": norms.largest, "median": norms.median},
        })
    return {"data": "MNIST", "sizes": {"train": n_train, "validation": n_val, "test": len(X_test)},
            "epochs": epochs, "runs": results}


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def _best(rows):
    """The row of the smallest validation error (the choice of α)."""
    return min(rows, key=lambda row: row["val_error"])


def report(document: dict, folder) -> str:
    """Markdown: test error against α, exact against near zeros, histograms, unit norms."""
    folder = Path(folder)
    config, results = document["config"], document["results"]
    by_family = {}
    for row in results["runs"]:
        by_family.setdefault(row["family"], []).append(row)
    none = by_family["none"][0]
    plots = []
    lines = ["# Weight penalties and constraints on MNIST (weight-penalties)", ""]
    lines.append(f"Data: MNIST, {results['sizes']['train']} training and {results['sizes']['validation']} "
                 f"validation images (from the training set), {results['sizes']['test']} test images. Model: "
                 f"784-{config['hidden']}-10 ReLU MLP, SGD lr {config['lr']} momentum {config['momentum']}, batch "
                 f"{config['batch_size']}, {results['epochs']} epochs per run, {len(results['runs'])} runs, seed "
                 f"{config['seed']}. Run time {document['seconds']:.1f} s. Every choice of α is made on the "
                 "validation error; the test error is only reported.")
    lines.append("")

    lines += ["## Test error against α (Deep Learning 7.2, published 7.1)", ""]
    table = [["none", 0, percent(none["val_error"]), percent(none["test_error"]), percent(none["train_error"]), ""]]
    for family in ("L2", "L1 penalty", "L1 prox"):
        chosen = _best(by_family[family] + [none])
        table += [[family, row["alpha"], percent(row["val_error"]), percent(row["test_error"]),
                   percent(row["train_error"]), "chosen" if row is chosen else ""] for row in by_family[family]]
    lines.append(markdown_table(["regularizer", "α", "validation error %", "test error %", "training error %",
                                 "on validation"], table))

    def error_curves(axes):
        for family in ("L2", "L1 penalty", "L1 prox"):
            rows = by_family[family]
            axes.semilogx([r["alpha"] for r in rows], [100 * r["test_error"] for r in rows], "o-", label=family)
        axes.axhline(100 * none["test_error"], color="0.35", linestyle="--", label="no regularizer")

    plots.append(figure_png(folder / "error_vs_alpha.png", "MNIST test error against α (784-300-10)", "α",
                         "test error (%)", error_curves))
    if plots[-1]:
        lines += ["", "![test error against alpha](error_vs_alpha.png)"]
    largest, chosen = by_family["L2"][-1], _best(by_family["L2"] + [none])
    lines += ["", f"The largest α of L2 ({largest['alpha']:g}) gives {percent(largest['test_error'])} % test "
                  f"error and {percent(largest['train_error'])} % training error, against "
                  f"{percent(chosen['test_error'])} % at the α chosen on validation ({chosen['alpha']:g}): too "
                  "much weight decay underfits.", ""]

    lines += ["## Exact zeros: the L1 prox against the L1 subgradient (7.2.2, published 7.1.2)", ""]
    lines.append(markdown_table(
        ["α", "exact zeros, penalty %", "exact zeros, prox %", f"within ±{NEAR_ZERO:g}, penalty %",
         f"within ±{NEAR_ZERO:g}, prox %"],
        [[penalty["alpha"], f"{100 * penalty['exact_zeros']:.2f}", f"{100 * prox['exact_zeros']:.2f}",
          f"{100 * penalty['near_zeros']:.2f}", f"{100 * prox['near_zeros']:.2f}"]
         for penalty, prox in zip(by_family["L1 penalty"], by_family["L1 prox"])]))
    lines += ["", "The subgradient α·sign(w) moves each weight a fixed step towards zero but rarely lands on it; "
                  "soft thresholding sets every weight whose step would cross zero to exactly zero.", ""]
    if config["momentum"] > 0:
        lines += [f"At equal α the two are not equally strong here: the penalty's gradient α·sign(w) goes through "
                  f"the momentum, which amplifies a constant gradient by 1/(1 − {config['momentum']}) = "
                  f"{1 / (1 - config['momentum']):.3g}, while the prox thresholds at lr·α after the update.", ""]
    strongest = by_family["L1 prox"][-1]["alpha"]
    histograms = {"none": none["histogram"], f"L2, α = {chosen['alpha']:g}": chosen["histogram"],
                  f"L1 penalty, α = {strongest:g}": by_family["L1 penalty"][-1]["histogram"],
                  f"L1 prox, α = {strongest:g}": by_family["L1 prox"][-1]["histogram"]}

    def draw_histograms(axes):
        for label, histogram in histograms.items():
            counts = np.maximum(np.array(histogram["counts"]), 0.5)       # empty bins at the bottom of the log axis
            axes.stairs(counts, np.array(histogram["edges"]), label=label, linewidth=1.4)
        axes.set_yscale("log")

    plots.append(figure_png(folder / "weight_histograms.png", "First-layer weights on MNIST (zeros and near-zeros fill "
                         "the middle bin)", "weight", "count (log scale)", draw_histograms))
    if plots[-1]:
        lines += ["![weight histograms](weight_histograms.png)", ""]

    lines += ["## Max-norm (7.3, published 7.2)", ""]
    constrained = by_family["max-norm"][0]
    lines.append(markdown_table(
        ["run", "largest unit norm at the end", "median unit norm", "test error %"],
        [[label, format_number(row["unit_norms"]["largest"][-1]), format_number(row["unit_norms"]["median"][-1]),
          percent(row["test_error"])]
         for label, row in (("none", none), (f"max-norm, c = {constrained['alpha']:g}", constrained))]))
    epochs = list(range(1, len(none["unit_norms"]["largest"]) + 1))
    plots.append(line_plot(folder / "unit_norms.png",
                           {f"{label}: {which}": (epochs, row["unit_norms"][which])
                            for label, row in (("none", none), ("max-norm", constrained))
                            for which in ("largest", "median")},
                           "Incoming weight norms of the hidden units (MNIST)", "epoch", "‖W[:, j]‖"))
    if plots[-1]:
        lines += ["", "![unit norms](unit_norms.png)"]
    if not all(plots):
        lines += ["", PLOTS_SKIPPED]
    return "\n".join(lines) + "\n"
