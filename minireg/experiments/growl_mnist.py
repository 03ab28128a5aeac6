"""GrOWL on MNIST: learning to share on the 784-300-10 network (GrOWL §4.2, Table 1, Figs. 4-5).

The paper's pipeline (its Figure 1), for six regularizers of the first layer's rows:

1. **train** with the regularizer: none, weight decay (ℓ2), group Lasso, group Lasso + ℓ2,
   GrOWL, GrOWL + ℓ2. The sparse ones are proximal steps on the rows of the first
   layer (one row per input pixel, GrOWL eq. (3)), applied once per epoch with the
   step size equal to the learning rate in force (the authors' public code);
2. **cluster and tie**: the nonzero rows are clustered by affinity propagation on their
   pairwise similarity (eq. (10)), zero rows are pruned, and each cluster's rows are
   replaced by their centroid, stored once (§3.4.2). The baseline "none" is not tied
   (Table 1's note);
3. **retrain** the tied network: each centroid moves with the mean of its rows'
   gradients (eq. (11)).

Then sparsity, parameter sharing and compression ratio (§4's definitions, counted by
:mod:`minireg.compression`) and the accuracy, beside Table 1.

Two experiments share this module:

* ``minireg run growl-mnist-run`` -- one regularizer, one seed: one job of a sweep;
* ``minireg run growl-mnist`` -- the table: every regularizer over several seeds, run
  as a sweep (:mod:`minireg.sweeps`, one job per (regularizer, seed), ``--workers``
  local processes), optionally after picking each regularizer's strength on the
  validation split (``--tune``); the report sets mean ± std beside the paper's
  numbers and draws the data's correlation map, each regularizer's similarity map
  (Fig. 4) and the nonzero rows across runs (Fig. 5).

Where the settings come from
----------------------------
* The paper (§4.2): 300 + 100 epochs, momentum, learning rate 0.001 for both phases
  decayed by 0.96 every 10 epochs, p = half the rows, Λ1 and Λ2 by grid search.
* The authors' public code, as quoted in issue 19: batch norm, GrOWL on the first
  layer only, the prox once per epoch with step size = learning rate, Λ1 = 12,
  Λ2 = 0.215, group Lasso λ = 60, affinity-propagation preference 0.6-0.8 (§4.3 uses
  0.8 for VGG; we start at 0.7).
* Ours (the paper does not give them): momentum 0.9, batch size 100, the weight decay
  α = 1e-4 of the ℓ2 rows, a 5,000-image validation split out of the 60,000 training
  images, and retraining on the loss alone (the pruned rows stay pruned by the tying).

The test set is only reported; the strengths ``--tune`` picks are picked on the
validation split.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minireg import compression, losses, models
from minireg.compression.plots import similarity_maps_png
from minireg.datasets import DataLoader, load_mnist
from minireg.experiments.base import (MNIST_TRAINING_EXAMPLES, PLOTS_SKIPPED, CheckedConfig, Phases,
                                      check_data_root, check_mnist_split, figure_png, format_number,
                                      markdown_table, option)
from minireg.optim import SGD, StepDecay
from minireg.regularizers import L2, ProxGroupLasso, ProxGrOWL
from minireg.training import LearningRateSchedule, Trainer, learn_to_share

REGULARIZERS = ("none", "weight-decay", "group-lasso", "group-lasso+l2", "growl", "growl+l2")
LABELS = {"none": "none", "weight-decay": "weight decay", "group-lasso": "group-Lasso",
          "group-lasso+l2": "group-Lasso+ℓ2", "growl": "GrOWL", "growl+l2": "GrOWL+ℓ2"}

# Table 1 of Zhang et al. (ICLR 2018), copied from shared/references/003_*.txt (§4.2):
# (sparsity %, its std, parameter sharing, std, compression ratio, std, accuracy %, std),
# means ± standard deviations over 5 runs
PAPER_TABLE_1 = {
    "none": (0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 98.3, 0.1),
    "weight-decay": (0.0, 0.0, 1.6, 0.0, 1.6, 0.0, 98.4, 0.0),
    "group-lasso": (87.6, 0.1, 1.9, 0.1, 15.8, 1.0, 98.1, 0.1),
    "group-lasso+l2": (93.2, 0.4, 1.6, 0.1, 23.7, 2.1, 98.0, 0.1),
    "growl": (80.4, 1.0, 3.2, 0.1, 16.7, 1.3, 98.1, 0.1),
    "growl+l2": (83.6, 0.5, 3.9, 0.1, 24.1, 0.8, 98.1, 0.1),
}
# Fig. 5's footnote 2: the mean ratio of changed indices of the nonzero rows over 5 runs (%)
PAPER_CHANGED_INDICES = {"group-lasso": 11.09, "growl": 0.59, "group-lasso+l2": 32.07, "growl+l2": 0.62}

MAP_SIZE = 196          # similarity and correlation maps are block-averaged to at most this many rows


# --------------------------------------------------------------------------------------
# The recipe: options shared by one run and by the table
# --------------------------------------------------------------------------------------


@dataclass
class GrowlRecipe(CheckedConfig):
    """The training recipe of Table 1 (defaults: the paper's and the authors' code's)."""

    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "minutes instead of hours: 20,000 training and 2,000 validation images, 10 + 3 "
                                "epochs at learning rate 0.01 decayed every 3 epochs, strengths x 200/550")
    n_train: int = option(55000, "training images (the rest of MNIST's 60,000 up to n_val is not used)",
                          minimum=1, maximum=MNIST_TRAINING_EXAMPLES)
    n_val: int = option(5000, "validation images, held out of MNIST's training images", minimum=1)
    hidden: int = option(300, "hidden units of the 784-hidden-10 network", minimum=1)
    batch_norm: bool = option(True, "batch norm after the hidden layer (the authors' code has it)")
    epochs: int = option(300, "epochs of the initial training (GrOWL §4.2: 300)", minimum=1)
    retrain_epochs: int = option(100, "epochs of the retraining of the tied network (GrOWL §4.2: 100)", minimum=0)
    lr: float = option(0.001, "initial learning rate of both phases (GrOWL §4.2)", minimum=0.0,
                       include_minimum=False)
    decay: float = option(0.96, "the learning rate is multiplied by this every decay-every epochs (GrOWL §4.2)",
                          minimum=0.0, maximum=1.0, include_minimum=False)
    decay_every: int = option(10, "epochs between two decays (GrOWL §4.2)", minimum=1)
    momentum: float = option(0.9, "SGD momentum (the paper says 'momentum'; 0.9 is ours)", minimum=0.0,
                             maximum=1.0, include_maximum=False)
    batch_size: int = option(100, "minibatch size (ours; not in the paper)", minimum=1)
    lambda1: float = option(12.0, "GrOWL's Λ1 (authors' code)", minimum=0.0)
    lambda2: float = option(0.215, "GrOWL's Λ2 (authors' code)", minimum=0.0)
    p: float = option(0.5, "GrOWL's p as a fraction of the rows (GrOWL §4.2: half)", minimum=0.0, maximum=1.0,
                      include_minimum=False)
    group_lasso: float = option(60.0, "group Lasso's λ (authors' code)", minimum=0.0)
    weight_decay: float = option(1e-4, "α of the weight-decay rows and of the +ℓ2 rows (ours)", minimum=0.0)
    preference: float = option(0.7, "affinity propagation's preference (authors' code: 0.6-0.8)", minimum=-1.0,
                               maximum=1.0)
    damping: float = option(0.9, "affinity propagation's damping (at 0.5 it oscillates on GrOWL-trained rows and "
                                  "does not converge)", minimum=0.5, maximum=1.0, include_maximum=False)
    ap_max_iter: int = option(1000, "affinity propagation's iterations at most (the results say whether it "
                                    "converged)", minimum=1)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")

    @staticmethod
    def check_together(values, label):
        check_mnist_split(values, label)
        check_data_root(values, label)


# --quick: 20,000 training images for 10 + 3 epochs at a 10 times larger learning rate. The
# prox comes once per epoch, and an epoch of 20,000 images has 200 steps instead of 550, so
# the strengths are scaled by 200/550 to keep their balance with the data's pull
QUICK = {"n_train": 20000, "n_val": 2000, "epochs": 10, "retrain_epochs": 3, "lr": 0.01, "decay_every": 3}
QUICK_STRENGTH = 20000 / 55000


def recipe(config) -> dict:
    """The recipe's values after ``--quick`` (which replaces the sizes, epochs and learning
    rate, and scales the strengths by :data:`QUICK_STRENGTH`)."""
    values = {field.name: getattr(config, field.name) for field in dataclasses.fields(GrowlRecipe)}
    if config.quick:
        values.update(QUICK)
        for name in ("lambda1", "lambda2", "group_lasso", "weight_decay"):
            values[name] *= QUICK_STRENGTH
    return values


@dataclass
class GrowlRunConfig(GrowlRecipe):
    """The options of ``minireg run growl-mnist-run``: one regularizer, one seed."""

    regularizer: str = option("growl", "the regularizer of the first layer's rows", choices=REGULARIZERS)
    scale: float = option(1.0, "multiplies the regularizer's strengths (Λ1 and Λ2, λ, α): what --tune varies",
                          minimum=0.0)
    seed: int = option(0, "seed of every random choice (split, initialization, batch order)", minimum=0)


def first_layer_regularizers(name: str, values: dict, scale: float = 1.0, layers=("layers.0",)) -> list:
    """The regularizers of the row ``name`` of Table 1, acting on ``layers`` (the first
    layer's weight by default), with its strengths times ``scale``.

    The sparse ones are proximal steps once per epoch with step size = learning rate;
    ℓ2 is the weight-decay penalty α/2 ‖W‖² (Deep Learning 7.2.1, published 7.1.1) on the
    same weights.
    """
    params = {layer: 1.0 for layer in layers}
    chosen = []
    if name in ("weight-decay", "group-lasso+l2", "growl+l2"):
        chosen.append(L2(scale * values["weight_decay"], params=params))
    if name.startswith("group-lasso"):
        chosen.append(ProxGroupLasso(scale * values["group_lasso"], params=params, every="epoch"))
    if name.startswith("growl"):
        chosen.append(ProxGrOWL(scale * values["lambda1"], scale * values["lambda2"], p=values["p"], params=params,
                                every="epoch"))
    return chosen


# --------------------------------------------------------------------------------------
# Train, cluster and tie, retrain (shared with the conv experiments)
# --------------------------------------------------------------------------------------


def _trainer(model, values, regularizers):
    optimizer = SGD(model.parameters(), lr=values["lr"], momentum=values["momentum"])
    return Trainer(model, losses.cross_entropy, optimizer, regularizers=regularizers)


def _phase(values, phase: str) -> dict:
    """The recipe of the ``"train"`` or ``"retrain"`` phase: ``retrain_lr`` and
    ``retrain_decay_every``, when the recipe has them (Table 2's), replace ``lr`` and
    ``decay_every`` in the retraining."""
    if phase == "retrain":
        return {**values, "lr": values.get("retrain_lr", values["lr"]),
                "decay_every": values.get("retrain_decay_every", values["decay_every"])}
    return values


def _schedule(values):
    return LearningRateSchedule(StepDecay(values["lr"], values["decay_every"], values["decay"]), per="epoch")


def _accuracy(trainer, X, y) -> float:
    return 1.0 - trainer.evaluate(X, y)["error"]


def train_tie_retrain(model, layers, regularizers, data, values, phases, tie: bool = True, seed=0) -> dict:
    """The pipeline of GrOWL's Figure 1 on ``model``, through
    :func:`~minireg.training.learn_to_share`: train with ``regularizers``, cluster and tie
    the rows of each of ``layers`` (and remove their pruned inputs from the layer before,
    :func:`~minireg.compression.prune_previous`), retrain; return what was measured.

    ``data`` is ``{"train": (X, y), "val": ..., "test": ...}``; ``values`` the recipe
    (:func:`recipe`); ``phases`` a :class:`~minireg.experiments.base.Phases` (two phases:
    ``train`` and ``retrain``), through which both phases run, scheduled and
    checkpointed. With ``tie=False`` the rows are neither pruned nor tied (the baseline).

    Returns ``{"trained": accuracies, "retrained": accuracies, "metrics": {sparsity,
    parameter_sharing, compression_ratio}, "stored_parameters": {"trained", "retrained"},
    "layers": {layer: {nonzero_rows, clusters, converged, ap_iterations, units_removed_before,
    similarity_map, sparsity, parameter_sharing}}, "emptied": [layers]}``, the accuracies
    as ``{"val": ., "test": .}``. "trained" is measured right after the last prox, whose
    shrinking batch norm's running statistics have not seen yet (the retraining adapts
    them). A layer whose rows were all zeroed (a regularizer too strong) leaves a
    constant network: it is listed in ``emptied`` and the retraining is skipped.
    """
    X, y = data["train"]
    loader = DataLoader(X, y, values["batch_size"], rng=np.random.default_rng(seed))
    titles = {"train": "initial training with the regularizer", "retrain": "retraining the tied network (eq. 11)"}
    measured, found = {}, {}

    def run_phase(name, trainer, phase_loader, epochs):
        phases.run(name, titles[name], trainer.fit, phase_loader, epochs=epochs,
                   total_steps=epochs * len(phase_loader), callbacks=[_schedule(_phase(values, name))])
        measured[name] = {split: _accuracy(trainer, *data[split]) for split in ("val", "test")}
        if name == "train":
            measured["stored"] = models.count_parameters(model)

    def emptied():
        return [layer for layer, result in found.items() if not result["nonzero_rows"]]

    def make_retrainer(tied_model):        # a layer with no input left stays so: nothing to retrain
        return None if emptied() else _trainer(tied_model, _phase(values, "retrain"), [])

    def compress(tied_model, layer):
        found[layer] = compress_layer(tied_model, layer, values, tie)
        return found[layer]

    learn_to_share(_trainer(model, values, regularizers), loader, values["epochs"], layers, make_retrainer,
                   values["retrain_epochs"], run_phase=run_phase, tie=compress)
    for layer, result in found.items():
        result["sparsity"] = compression.sparsity(model, layers=[layer])
        result["parameter_sharing"] = compression.parameter_sharing(model, layers=[layer])
    return {"trained": measured["train"], "retrained": measured.get("retrain", measured["train"]),
            "metrics": network_metrics(model),
            "stored_parameters": {"trained": measured["stored"], "retrained": models.count_parameters(model)},
            "layers": found, "emptied": emptied()}


def compress_layer(model, layer, values, tie: bool) -> dict:
    """With ``tie``, prune the zero rows of ``layer``, cluster the others (eq. 10,
    affinity propagation with ``values["ap_max_iter"]`` iterations at most) and tie each
    cluster to its centroid (§3.4.2), then remove the pruned inputs from the layer before
    where :func:`~minireg.compression.prune_previous` applies; without, leave it as it is
    (each row its own cluster). Returns the nonzero rows, the number of clusters, whether
    affinity propagation converged and in how many iterations, the units removed from
    the layer before (None where that does not apply) and the eq. (10) similarity map of
    the nonzero rows sorted by cluster.

    A regularizer so strong that it zeroed every row leaves nothing to cluster: the
    layer stays as it is (all zero) and the run says so (no rows, no clusters)."""
    weight = dict(model.named_modules())[layer].weight.data
    found = {"nonzero_rows": [], "clusters": 0, "converged": None, "ap_iterations": None,
             "units_removed_before": None, "similarity_map": []}
    if compression.nonzero_rows(weight).size == 0:
        return found
    similarity, rows = compression.row_similarity(weight)
    if tie:
        tying = compression.tie_and_prune(model, layer, preference=values["preference"], damping=values["damping"],
                                          max_iter=values["ap_max_iter"])
        labels = tying.labels
        found.update(converged=bool(tying.affinity.converged), ap_iterations=int(tying.affinity.n_iter))
        kept_units = getattr(compression.find_previous(model, layer)[0], "kept_units", None)
        if kept_units is not None:
            found["units_removed_before"] = int(np.count_nonzero(~kept_units))
    else:                                   # the baseline: every row its own cluster, in row order
        labels = np.arange(len(rows))
    order = np.argsort(labels, kind="stable")
    found.update(nonzero_rows=[int(r) for r in rows], clusters=int(labels.max()) + 1 if labels.size else 0,
                 similarity_map=block_average(similarity[np.ix_(order, order)], MAP_SIZE))
    return found


def network_metrics(model) -> dict:
    """Sparsity, parameter sharing and compression ratio of the whole network (§4)."""
    return {"sparsity": float(compression.sparsity(model)),
            "parameter_sharing": float(compression.parameter_sharing(model)),
            "compression_ratio": float(compression.compression_ratio(model))}


def block_average(matrix, size: int) -> list:
    """``matrix`` (n x n) averaged over square blocks so that it has at most ``size`` rows,
    rounded to 3 decimals, as nested lists (for results.json)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n = len(matrix)
    if n == 0:
        return []
    k = -(-n // size)                         # block side
    padded = -(-n // k) * k
    full = np.full((padded, padded), np.nan)
    full[:n, :n] = matrix
    blocks = full.reshape(padded // k, k, padded // k, k)
    with np.errstate(invalid="ignore"):
        averaged = np.nanmean(blocks, axis=(1, 3))
    return np.round(averaged, 3).tolist()


def mnist_splits(values, seed, flatten=True) -> dict:
    """``{"train", "val", "test"}`` of MNIST: the training and validation images drawn
    (by ``seed``) out of the 60,000 training images, the test set whole."""
    root = values["data_root"] or None
    X, y = load_mnist("train", root=root, flatten=flatten)
    order = np.random.default_rng(seed).permutation(len(X))
    train, val = order[:values["n_train"]], order[values["n_train"]:values["n_train"] + values["n_val"]]
    return {"train": (X[train], y[train]), "val": (X[val], y[val]), "test": load_mnist("test", root=root,
                                                                                        flatten=flatten)}


def run_one(config: GrowlRunConfig, progress=None) -> dict:
    """One row of Table 1 for one seed: train, cluster and tie, retrain."""
    values = recipe(config)
    data_seed, init_seed, loader_seed = np.random.SeedSequence(config.seed).spawn(3)
    data = mnist_splits(values, data_seed)
    model = models.mlp(batch_norm=values["batch_norm"], hidden=values["hidden"], rng=np.random.default_rng(init_seed))
    phases = Phases(progress, total=2 if values["retrain_epochs"] else 1, show=config.progress)
    regularizers = first_layer_regularizers(config.regularizer, values, config.scale)
    outcome = train_tie_retrain(model, ["layers.0"], regularizers, data, values, phases,
                                tie=config.regularizer != "none", seed=loader_seed)
    first = outcome.pop("layers")["layers.0"]
    return {"regularizer": config.regularizer, "seed": config.seed, "scale": config.scale, **outcome, **first,
            "sizes": {split: len(data[split][1]) for split in data}}


def report_one(document: dict, folder) -> str:
    """Markdown of one run: its accuracies and metrics beside the paper's row."""
    results = document["results"]
    name = results["regularizer"]
    paper = PAPER_TABLE_1[name]
    m = results["metrics"]
    lines = [f"# GrOWL on MNIST, one run: {LABELS[name]}, seed {results['seed']} (growl-mnist-run)", "",
             f"Training images {results['sizes']['train']}, validation {results['sizes']['val']}, test "
             f"{results['sizes']['test']}; run time {document['seconds']:.1f} s.", ""]
    lines.append(markdown_table(
        ["", "sparsity %", "parameter sharing", "compression ratio", "val accuracy %", "test accuracy %"],
        [["this run", 100 * m["sparsity"], m["parameter_sharing"], m["compression_ratio"],
          100 * results["retrained"]["val"], 100 * results["retrained"]["test"]],
         ["GrOWL Table 1", paper[0], paper[2], paper[4], None, paper[6]]]))
    converged = {True: "converged", False: "did not converge", None: "not run"}[results["converged"]]
    lines += ["", f"{len(results['nonzero_rows'])} nonzero rows of 784 in {results['clusters']} clusters (affinity "
                  f"propagation {converged}"
                  + (f" in {results['ap_iterations']} iterations" if results["ap_iterations"] else "") + "); test "
                  f"accuracy {100 * results['trained']['test']:.2f} % before tying, "
                  f"{100 * results['retrained']['test']:.2f} % after retraining.", ""]
    if similarity_maps_png(Path(folder) / "similarity.png", {LABELS[name]: results["similarity_map"]}):
        lines += ["![similarity map](similarity.png)", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# The table: every regularizer over several seeds, as a sweep
# --------------------------------------------------------------------------------------


def _factors(text: str, label: str) -> list:
    """``"0.5,1,2"`` as ``[0.5, 1.0, 2.0]``: positive finite numbers, distinct."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{label} must be comma-separated numbers such as 0.5,1,2, got {text!r}") from None
    if any(not np.isfinite(v) or v <= 0 for v in values) or len(set(values)) != len(values):
        raise ValueError(f"{label} must be distinct positive finite numbers, got {text!r}")
    return values


def _regularizer_list(text: str, label: str) -> list:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in REGULARIZERS]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"{label} must be distinct names among {', '.join(REGULARIZERS)}, comma-separated; "
                         f"got {text!r}")
    return names


@dataclass
class GrowlMnistConfig(GrowlRecipe):
    """The options of ``minireg run growl-mnist``: Table 1 over several seeds."""

    regularizers: str = option(",".join(REGULARIZERS), "the rows of the table, comma-separated")
    seeds: int = option(5, "seeds 0 ... seeds-1 of every row (GrOWL Table 1: 5 runs; at most 2 with --quick)",
                        minimum=1)
    workers: int = option(1, "local worker processes of the sweep (one BLAS thread each)", minimum=1)
    tune: str = option("", "factors of each regularizer's strengths to try on the validation split with seed 0, "
                           "e.g. 0.5,1,2 (empty: the authors' values)")
    tolerance: float = option(0.2, "--tune keeps the most compressed strength whose validation accuracy is within "
                                   "this many points (%) of the best", minimum=0.0)

    @staticmethod
    def check_together(values, label):
        GrowlRecipe.check_together(values, label)
        _regularizer_list(values["regularizers"], label("regularizers"))
        _factors(values["tune"], label("tune"))


def _run_options(config) -> dict:
    """The recipe's options as a run of the sweep takes them (``data_root`` made absolute,
    so that the workers find the same folder)."""
    options = {field.name: getattr(config, field.name) for field in dataclasses.fields(GrowlRecipe)}
    options["progress"] = False
    if options["data_root"]:
        options["data_root"] = str(Path(options["data_root"]).expanduser().resolve())
    return options


def _sweep(folder, grid, seeds, options, workers, show):
    """Run ``growl-mnist-run`` over ``grid`` x ``seeds`` in ``folder`` (resumed if it
    holds finished runs); the results of its runs, or an error naming the failed ones."""
    from minireg import sweeps   # here: minireg.sweeps imports the experiments, this module among them

    outcome = sweeps.sweep("growl-mnist-run", grid=grid, seeds=seeds, options=options, workers=workers,
                           folder=folder, progress=show)
    if outcome.failed:
        first = next(iter(outcome.failed.items()))
        raise RuntimeError(f"{len(outcome.failed)} run(s) of the sweep in {outcome.folder} failed; the first, "
                           f"{first[0]}: {first[1]} (see its error.txt; run the command again to resume)")
    return [_read_results(path) for path in sorted(Path(outcome.folder).glob("*/seed=*/results.json"))]


def _read_results(path):
    return json.loads(path.read_text(encoding="utf-8"))["results"]


def pick_scale(runs: list, tolerance: float) -> float:
    """The scale of the most compressed run whose validation accuracy is within
    ``tolerance`` percentage points of the best validation accuracy among ``runs``
    (ties: the smaller scale)."""
    best = max(run["retrained"]["val"] for run in runs)
    kept = [run for run in runs if 100 * (best - run["retrained"]["val"]) <= tolerance + 1e-12]
    return min(kept, key=lambda run: (-run["metrics"]["compression_ratio"], run["scale"]))["scale"]


def data_correlation(values, size: int = MAP_SIZE) -> list:
    """The 784 x 784 correlation of the training pixels (Fig. 4a), block-averaged; a
    pixel that never varies (the margins) has correlation 0 with every other."""
    X = mnist_splits(values, 0)["train"][0].astype(np.float64)
    X = X - X.mean(axis=0)
    norms = np.sqrt((X * X).sum(axis=0))
    norms[norms == 0] = np.inf
    correlation = (X.T @ X) / np.outer(norms, norms)
    return block_average(correlation, size)


def _seeds(config) -> int:
    """How many seeds each row runs: ``--seeds``, at most 2 with ``--quick``."""
    return min(config.seeds, 2) if config.quick else config.seeds


def run_table(config: GrowlMnistConfig, progress=None) -> dict:
    """Tune (optional), then sweep every regularizer over the seeds; collect the table."""
    names = _regularizer_list(config.regularizers, "regularizers")
    factors = _factors(config.tune, "tune")
    options = _run_options(config)
    with tempfile.TemporaryDirectory(prefix="minireg-growl-") as scratch:
        base = Path(progress.folder) if progress is not None else Path(scratch)
        scales = {name: 1.0 for name in names}
        tuning = {}
        tuned = [name for name in names if name != "none"]
        if factors and tuned:
            runs = _sweep(base / "tuning", {"regularizer": tuned, "scale": factors}, [0], options, config.workers,
                          config.progress)
            for name in tuned:
                candidates = [run for run in runs if run["regularizer"] == name]
                scales[name] = pick_scale(candidates, config.tolerance)
                tuning[name] = [{"scale": run["scale"], "val_accuracy": run["retrained"]["val"],
                                 "compression_ratio": run["metrics"]["compression_ratio"]}
                                for run in sorted(candidates, key=lambda run: run["scale"])]
        runs, by_scale = [], {}     # one sweep per scale: the grid of a sweep is a product
        for name in names:
            by_scale.setdefault(scales[name], []).append(name)
        for index, (scale, group) in enumerate(sorted(by_scale.items())):
            runs += _sweep(base / f"table-{index}", {"regularizer": group}, list(range(_seeds(config))),
                           {**options, "scale": scale}, config.workers, config.progress)
    values = recipe(config)
    rows = {}
    for name in names:
        mine = sorted((run for run in runs if run["regularizer"] == name), key=lambda run: run["seed"])
        for run in mine[1:]:      # the first seed's map is drawn; the others stay in their run folders
            del run["similarity_map"]
        rows[name] = {"scale": scales[name], "runs": mine, "summary": _summary(mine)}
    return {"regularizers": names, "rows": rows, "tuning": tuning, "correlation_map": data_correlation(values),
            "recipe": values}


def _mean_std(values) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None}


def _summary(runs) -> dict:
    summary = {key: _mean_std([run["metrics"][key] for run in runs])
               for key in ("sparsity", "parameter_sharing", "compression_ratio")}
    for split in ("val", "test"):
        summary[f"{split}_accuracy"] = _mean_std([run["retrained"][split] for run in runs])
    summary["changed_indices"] = changed_indices([run["nonzero_rows"] for run in runs])
    summary["emptied_runs"] = sum(1 for run in runs if run["emptied"])
    summary["ap_not_converged"] = sum(1 for run in runs if run["converged"] is False)
    return summary


def changed_indices(row_sets):
    """Footnote 2 of GrOWL §4.2, the mean ratio of changed indices of the runs' nonzero
    rows (:func:`minireg.compression.row_selection_stability`); None for a single run."""
    if len(row_sets) < 2 or not all(row_sets):       # undefined for one run, or a run that kept no row
        return None
    return float(compression.row_selection_stability(row_sets))


# --------------------------------------------------------------------------------------
# The table's report
# --------------------------------------------------------------------------------------


def _cell(statistic: dict, factor: float = 1.0, digits: int = 3) -> str:
    mean = format_number(factor * statistic["mean"], digits)
    return mean if statistic["std"] is None else f"{mean} ± {format_number(factor * statistic['std'], 2)}"


def _paper_cell(mean, std) -> str:
    return f"{mean:g} ± {std:g}"


def _rows_png(path, rows: dict) -> bool:
    """Fig. 5: for each sparse regularizer, the nonzero rows (x: row index) of each run (y)."""
    sparse = {name: row for name, row in rows.items() if name not in ("none", "weight-decay")}
    if not sparse:
        return False

    def draw(axes):
        y = 0
        for name, row in sparse.items():
            axes.text(786, y + (len(row["runs"]) - 1) / 2, LABELS[name], fontsize="small", va="center")
            for run in row["runs"]:
                axes.scatter(run["nonzero_rows"], [y] * len(run["nonzero_rows"]), s=1.5, marker="|")
                y += 1
            y += 1
        axes.set_xlim(0, 860)
        axes.plot([], [], label="nonzero rows, one line per run")

    return figure_png(path, "Nonzero rows of the first layer across runs (GrOWL Fig. 5)", "row index (pixel)",
                      "run", draw)


def report_table(document: dict, folder) -> str:
    """Markdown: Table 1 beside the paper's, the tuning, Figs. 4 and 5."""
    folder = Path(folder)
    results, config = document["results"], document["config"]
    values, rows = results["recipe"], results["rows"]
    seeds = len(next(iter(rows.values()))["runs"])
    lines = ["# GrOWL on MNIST: Table 1 (growl-mnist)", "",
             f"784-{values['hidden']}-10 network{' with batch norm' if values['batch_norm'] else ''}; "
             f"{values['n_train']} training, {values['n_val']} validation images, the 10,000 test images; "
             f"{values['epochs']} + {values['retrain_epochs']} epochs, SGD lr {values['lr']} × {values['decay']} "
             f"every {values['decay_every']} epochs, momentum {values['momentum']}, batch {values['batch_size']}; "
             f"Λ1 = {values['lambda1']:.4g}, Λ2 = {values['lambda2']:.4g}, p = {values['p']} of the rows, "
             f"group Lasso λ = {values['group_lasso']:.4g}, ℓ2 α = {values['weight_decay']:.4g}, "
             f"preference {values['preference']}"
             f"{' (strengths × 200/550 by --quick)' if config['quick'] else ''}. "
             f"{seeds} seed(s) per row; run time {document['seconds']:.0f} s.", "",
             "## Our numbers beside the paper's (mean ± std over the seeds; accuracy on the test set)", ""]
    table = []
    for name in results["regularizers"]:
        s, paper = rows[name]["summary"], PAPER_TABLE_1[name]
        table.append([LABELS[name], rows[name]["scale"], _cell(s["sparsity"], 100), _paper_cell(*paper[0:2]),
                      _cell(s["parameter_sharing"]), _paper_cell(*paper[2:4]), _cell(s["compression_ratio"]),
                      _paper_cell(*paper[4:6]), _cell(s["test_accuracy"], 100, 4), _paper_cell(*paper[6:8])])
    lines.append(markdown_table(["regularizer", "strength scale", "sparsity %", "paper", "sharing", "paper",
                                 "compression", "paper", "accuracy %", "paper"], table))
    emptied = {LABELS[name]: rows[name]["summary"]["emptied_runs"] for name in results["regularizers"]
               if rows[name]["summary"]["emptied_runs"]}
    if emptied:
        lines += ["", "Runs whose regularizer zeroed every row of the first layer (a constant network, counted in "
                      "the means above): " + ", ".join(f"{name} {count} of {seeds}" for name, count in emptied.items())
                  + ". Their strength is too large for this budget; --tune picks it on the validation split."]
    unconverged = {LABELS[name]: rows[name]["summary"]["ap_not_converged"] for name in results["regularizers"]}
    unconverged = {name: count for name, count in unconverged.items() if count}
    lines += ["", "Affinity propagation (at most " + str(values["ap_max_iter"]) + " iterations) "
              + ("converged in every tied run." if not unconverged else "did not converge in: " + ", ".join(
                  f"{name} {count} of {seeds}" for name, count in unconverged.items()) + " (raise --ap-max-iter).")]
    lines += ["", "Paper: Zhang et al. (ICLR 2018), Table 1 (5 runs each). Sparsity = zero parameters / all "
                  "parameters, compression = all / unique, sharing = nonzero / unique (§4), counted over the "
                  "whole network by `minireg.compression`.", ""]
    stable = [[LABELS[name], format_number(100 * rows[name]["summary"]["changed_indices"], 3)
               if rows[name]["summary"]["changed_indices"] is not None else None, PAPER_CHANGED_INDICES[name]]
              for name in results["regularizers"] if name in PAPER_CHANGED_INDICES]
    if stable:
        lines += ["## Which rows are selected, across runs (footnote 2)", "",
                  markdown_table(["regularizer", "mean ratio of changed indices %", "paper %"], stable), ""]
    if results["tuning"]:
        lines += ["## Strengths picked on the validation split (seed 0)", ""]
        tuning = [[LABELS[name], t["scale"], 100 * t["val_accuracy"], t["compression_ratio"]]
                  for name, entries in results["tuning"].items() for t in entries]
        lines += [markdown_table(["regularizer", "scale", "val accuracy %", "compression"], tuning), "",
                  f"Each row keeps the most compressed scale within {config['tolerance']} points of its best "
                  "validation accuracy.", ""]
    plots = [similarity_maps_png(folder / "correlation.png",
                            {"Fig. 4a: correlation of the pixels": results["correlation_map"]}),
             similarity_maps_png(folder / "similarity.png", {LABELS[name]: rows[name]["runs"][0]["similarity_map"]
                                                        for name in results["regularizers"]}),
             _rows_png(folder / "nonzero_rows.png", rows)]
    lines += ["## Figures", ""]
    for drawn, (name, text) in zip(plots, (("correlation.png", "data correlation"),
                                           ("similarity.png", "similarity maps (seed 0)"),
                                           ("nonzero_rows.png", "nonzero rows across runs"))):
        if drawn:
            lines += [f"![{text}]({name})", ""]
    if not all(plots[:2]):
        lines.append(PLOTS_SKIPPED)
    return "\n".join(lines)
