"""GrOWL on the synthetic correlated data of GrOWL §4.1 (Fig. 3): which regularizer ties
the rows of correlated inputs.

The data (:func:`minireg.datasets.synthetic.growl_synthetic`): 784 features in 10 blocks of
50 correlated features (cov ``0.96^|i-j|`` inside a block), gaps of 28 independent features;
the label is the block with the largest feature sum, so the features of one block play the
same role and the ideal first-layer weight has one tied row per block (and zero rows
elsewhere). One network with a single hidden layer of 300 units (784-300-10, ReLU) is
trained from the same initial weights and batches with each of

* weight decay (L2; Deep Learning 7.2.1, published 7.1.1),
* group Lasso (GrOWL eq. (1) with equal λ),
* GrOWL with several p (eq. (9): λ_i = Λ1 + (p - i + 1) Λ2 for i <= p, Λ1 after),
* OSCAR (GrOWL with p = n),

applied to the first layer's rows by their proximal step after every update (weight decay
as its penalty). Reported for each: the eq. (10) similarity matrix of the first layer's
rows as an image (rows in feature order, which is block order), the largest 25,000 entries
of that matrix sorted (our reading of Fig. 3's "first 25000 entries of the sorted pairwise
similarity matrices"), and two numbers for the block structure:

* **within-block similarity**: the mean eq. (10) similarity over pairs of distinct features
  of the same block (a pruned row counts 0) -- 1 when every block is tied into one row;
* **between-block similarity**: the same over pairs from different blocks -- 0 ideally.

``--quick`` trains on 2,000 examples, 50 hidden units, 10 epochs (about 15 s of CPU); the
default is the paper's 10,000 examples and 300 units, 10 epochs (about 2.5 minutes of CPU).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from minireg import losses, nn
from minireg.compression import nonzero_rows, similarity_matrix
from minireg.compression.plots import similarity_maps_png
from minireg.datasets import DataLoader
from minireg.datasets.synthetic import growl_synthetic
from minireg.experiments.base import (PLOTS_SKIPPED, CheckedConfig, Phases, format_number, line_plot,
                                      markdown_table, option)
from minireg.optim import SGD
from minireg.regularizers import L2, ProxGroupLasso, ProxGrOWL, ProxOSCAR
from minireg.training import Trainer

SORTED_ENTRIES = 25000
"""How many of the largest similarity entries the sorted curve shows (GrOWL Fig. 3)."""


@dataclasses.dataclass
class GrowlSyntheticConfig(CheckedConfig):
    """The options of ``minireg run growl-synthetic``."""

    seed: int = option(0, "seed of the data, the initial weights and the batch order", minimum=0)
    quick: bool = option(False, "2,000 training examples, 50 hidden units, 10 epochs (about 30 s)")
    n_train: int = option(10000, "training examples (the paper: 10,000)", minimum=1)
    n_test: int = option(1000, "test examples (the paper: 1,000)", minimum=1)
    hidden: int = option(300, "hidden units (the paper: 300)", minimum=1)
    epochs: int = option(10, "epochs of each run", minimum=1)
    lr: float = option(0.01, "SGD learning rate (also the prox's step size)", minimum=0.0, include_minimum=False)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(100, "minibatch size", minimum=1)
    lambda1: float = option(0.1, "Λ1 of GrOWL, OSCAR and group Lasso", minimum=0.0)
    lambda2: float = option(0.001, "Λ2 of GrOWL and OSCAR (eq. (9))", minimum=0.0)
    p_values: str = option("0.1,0.25,0.5", "GrOWL's p for each GrOWL run, fractions of the 784 rows, "
                                           "comma-separated (OSCAR, p = 1, runs as well)")
    weight_decay: float = option(0.001, "α of the weight-decay run", minimum=0.0)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")

    @staticmethod
    def check_together(values, label):
        parse_p_values(values["p_values"], label("p_values"))


def parse_p_values(text: str, name: str = "p_values") -> list:
    """``"0.1,0.5"`` as ``[0.1, 0.5]``: fractions in (0, 1)."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers in (0, 1), got {text!r}") from None
    if not values or not all(0 < v < 1 for v in values):
        raise ValueError(f"{name} must be comma-separated numbers in (0, 1), got {text!r}")
    return values


def _sizes(config):
    """``(n_train, hidden, epochs)`` after ``--quick``."""
    return (2000, 50, 10) if config.quick else (config.n_train, config.hidden, config.epochs)


def block_similarity(weight, feature_block) -> dict:
    """The mean eq. (10) similarity of a weight's rows within and between the blocks.

    ``feature_block[i]`` is the block of feature i, -1 outside every block. Pairs of
    distinct features of one block give ``"within"``; pairs from two different blocks
    ``"between"``; a zero row has similarity 0 with every row.
    """
    S = similarity_matrix(weight)
    block = np.asarray(feature_block)
    in_block = block >= 0
    same = (block[:, None] == block[None, :]) & in_block[:, None] & ~np.eye(len(block), dtype=bool)
    different = (block[:, None] != block[None, :]) & in_block[:, None] & in_block[None, :]
    return {"within": float(S[same].mean()), "between": float(S[different].mean())}


def regularizer_runs(config) -> dict:
    """``{name: (label, make_regularizers)}`` for every run, in the report's order."""
    first = {"layers.0": 1.0}
    runs = {"weight_decay": ("weight decay (ℓ2)", lambda: [L2(config.weight_decay, params=first)]),
            "group_lasso": ("group Lasso", lambda: [ProxGroupLasso(config.lambda1, params=first)])}
    for p in parse_p_values(config.p_values):
        runs[f"growl_p{p:g}".replace(".", "_")] = (f"GrOWL, p = {p:g}",
                                 lambda p=p: [ProxGrOWL(config.lambda1, config.lambda2, p=p, params=first)])
    runs["oscar"] = ("OSCAR (p = 1)", lambda: [ProxOSCAR(config.lambda1, config.lambda2, params=first)])
    return runs


def run(config: GrowlSyntheticConfig, progress=None) -> dict:
    """Train one network per regularizer on the same data, initial weights and batches."""
    n_train, hidden, epochs = _sizes(config)
    data_seed, init_seed, loader_seed = np.random.SeedSequence(config.seed).spawn(3)
    data = growl_synthetic(np.random.default_rng(data_seed), n_train=n_train, n_test=config.n_test)
    runs = regularizer_runs(config)
    phases = Phases(progress, total=len(runs), show=config.progress)
    results = {}
    for name, (label, make_regularizers) in runs.items():
        init_rng = np.random.default_rng(init_seed)
        model = nn.Sequential(nn.Linear(784, hidden, rng=init_rng), nn.ReLU(), nn.Linear(hidden, 10, rng=init_rng))
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=config.lr, momentum=config.momentum),
                          regularizers=make_regularizers())
        loader = DataLoader(data.X_train, data.y_train, config.batch_size, rng=np.random.default_rng(loader_seed))
        phases.run(name, label, trainer.fit, loader, epochs=epochs, total_steps=epochs * len(loader))
        weight = model.layers[0].weight.data
        S = similarity_matrix(weight)
        kept = nonzero_rows(weight)
        results[name] = {
            "label": label,
            "test_error": trainer.evaluate(data.X_test, data.y_test)["error"],
            "nonzero_rows": int(kept.size),
            "nonzero_rows_in_blocks": int(np.count_nonzero(data.feature_block[kept] >= 0)),
            **block_similarity(weight, data.feature_block),
            "similarity_image": _pooled(S, IMAGE_POOL).round(3).tolist(),
            "sorted_entries": _sorted_entries(S).round(4).tolist(),
        }
    return {"sizes": {"train": n_train, "test": config.n_test, "hidden": hidden, "epochs": epochs},
            "features_in_blocks": int(np.count_nonzero(data.feature_block >= 0)), "runs": results}


IMAGE_POOL = 4
"""The similarity images average 4 x 4 squares of the 784 x 784 matrix (196 x 196 pixels)."""


def _pooled(S: np.ndarray, size: int) -> np.ndarray:
    n = S.shape[0] // size * size
    return S[:n, :n].reshape(n // size, size, n // size, size).mean(axis=(1, 3))


def _sorted_entries(S: np.ndarray, points: int = 200) -> np.ndarray:
    """The largest :data:`SORTED_ENTRIES` off-diagonal entries in decreasing order, sampled
    at ``points`` evenly spaced ranks (GrOWL Fig. 3's curves)."""
    entries = np.sort(S[~np.eye(S.shape[0], dtype=bool)])[::-1][:SORTED_ENTRIES]
    return entries[np.linspace(0, entries.size - 1, points).astype(int)]


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def report(document: dict, folder) -> str:
    """Markdown: the block-structure numbers per regularizer, the similarity images and the
    sorted similarity curves."""
    folder = Path(folder)
    config, results = document["config"], document["results"]
    sizes, runs = results["sizes"], results["runs"]
    lines = ["# GrOWL on correlated synthetic data (growl-synthetic, GrOWL §4.1, Fig. 3)", ""]
    lines.append(f"Data: {sizes['train']} training and {sizes['test']} test examples of 784 features, 10 blocks of "
                 f"50 correlated features (cov 0.96^|i−j|), gaps of 28. Model: 784-{sizes['hidden']}-10 ReLU, SGD "
                 f"lr {config['lr']} momentum {config['momentum']}, batch {config['batch_size']}, {sizes['epochs']} "
                 f"epochs, the same initial weights and batches for every run. Λ1 = {config['lambda1']}, Λ2 = "
                 f"{config['lambda2']}, weight decay α = {config['weight_decay']}; the regularizer acts on the first "
                 f"layer only. Seed {config['seed']}; run time {document['seconds']:.1f} s.")
    lines += ["", "## How much of the block structure each regularizer recovers", "",
              "Within-block similarity: the mean eq. (10) similarity of the first layer's rows over pairs of "
              "features of one block (1 = each block tied into one row). Between: over pairs from different "
              "blocks (0 ideally).", ""]
    lines.append(markdown_table(
        ["regularizer", "within-block similarity", "between-block similarity", "nonzero rows",
         f"of them in blocks (of {results['features_in_blocks']})", "test error %"],
        [[r["label"], format_number(r["within"]), format_number(r["between"]), r["nonzero_rows"],
          r["nonzero_rows_in_blocks"], format_number(100 * r["test_error"])] for r in runs.values()]))
    best = max(runs.values(), key=lambda r: r["within"])
    lines += ["", f"The most within-block tying: {best['label']} ({format_number(best['within'])}). The paper "
                  "(Fig. 3) finds that GrOWL with a properly chosen p ties more than OSCAR (p = n), and that "
                  "weight decay pushes rows together less clearly and prunes nothing.", ""]
    plots = [similarity_maps_png(folder / "similarity.png",
                                 {run["label"]: run["similarity_image"] for run in runs.values()})]
    if plots[-1]:
        lines += ["![eq. (10) similarity of the first layer's rows, in feature order](similarity.png)", ""]
    plots.append(line_plot(folder / "sorted_similarity.png",
                           {r["label"]: (np.linspace(1, SORTED_ENTRIES, len(r["sorted_entries"])).tolist(),
                                         r["sorted_entries"]) for r in runs.values()},
                           f"The {SORTED_ENTRIES} largest pairwise similarities, sorted (GrOWL Fig. 3)",
                           "rank", "similarity, eq. (10)"))
    if plots[-1]:
        lines += ["![sorted similarities](sorted_similarity.png)", ""]
    if not all(plots):
        lines += [PLOTS_SKIPPED]
    return "\n".join(lines) + "\n"
