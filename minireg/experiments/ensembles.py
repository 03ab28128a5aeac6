"""Ensembles on MNIST: bagging and seed ensembles against single members, and MC dropout.

Deep Learning 7.10 (published 7.11), model averaging, and 7.11 (published 7.12),
dropout as an approximation of it:

1. **Seed ensemble**: k networks trained on the same data from different initial
   weights and batch orders; their predicted distributions averaged. The test error of
   the ensemble of the first j members, for j = 1 ... k, against the members' own errors.
2. **Bagging** (Breiman 1994): the same k members (the same initial weights and batch
   seeds as in 1), each trained on a bootstrap resample of the training set instead, so
   that the two ensembles differ only in their data.
3. The chapter's decomposition of the ensemble's expected squared error,
   v/k + (k − 1)c/k, measured from each ensemble's members on the test set.
4. **Dropout**: one network trained with dropout, evaluated by the weight scaling rule
   (one pass) and by Monte-Carlo averaging of j sampled sub-networks, with the
   arithmetic and the renormalized geometric mean (eq. 7.30), against j.

Each training run is one resumable phase (``minireg resume FOLDER``). The 2k + 1 runs are
independent: ``--workers N`` trains N at a time on local worker processes (the sweep
machinery's, through :func:`~minireg.training.ensembles.train_members`), each with the
BLAS on the run's ``--threads`` threads, and the results are the same bit for bit as
with one worker. A worker saves its run's checkpoint in the run folder; the client
records the phase as finished. The test set is only reported; nothing is chosen on it.
``--quick`` trains 4 members per ensemble on
2,000 examples for 5 epochs (about 5 s on 2 cores); the default, 10 members on 10,000
examples for 15 epochs (about a minute).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import log_softmax

from minireg import losses, nn, threads
from minireg.datasets import DataLoader, load_mnist
from minireg.experiments.base import (MNIST_TRAINING_EXAMPLES, PLOTS_SKIPPED, MnistConfig, Phases, RunProgress,
                                      format_number, line_plot, markdown_table, option, percent)
from minireg.optim import SGD
from minireg.tensor import Tensor, no_grad
from minireg.training import Trainer
from minireg.training.ensembles import (Ensemble, bootstrap_indices, ensemble_errors, error_decomposition,
                                        train_members)


@dataclass
class EnsemblesConfig(MnistConfig):
    """The options of ``minireg run ensembles``."""

    seed: int = option(0, "seed of every random choice (subset, resamples, initializations, batch orders, masks)",
                       minimum=0)
    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "4 members on 2,000 training examples for 5 epochs, 20 masks (about 5 s), "
                                "instead of the sizes below")
    n_train: int = option(10000, "training examples", minimum=1, maximum=MNIST_TRAINING_EXAMPLES)
    members: int = option(10, "members k of each ensemble", minimum=2)
    masks: int = option(50, "Monte-Carlo dropout: the largest number of sampled sub-networks", minimum=1)
    hidden: int = option(256, "hidden units (784-hidden-10, ReLU)", minimum=1)
    epochs: int = option(15, "epochs of each training run", minimum=1)
    lr: float = option(0.05, "SGD learning rate", minimum=0.0, include_minimum=False)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(100, "minibatch size", minimum=1)
    keep_input: float = option(0.8, "dropout's probability of keeping an input unit", minimum=0.0, maximum=1.0,
                               include_minimum=False)
    keep_hidden: float = option(0.5, "dropout's probability of keeping a hidden unit", minimum=0.0, maximum=1.0,
                                include_minimum=False)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")
    workers: int = option(1, "training runs at once, on local worker processes (the sweep machinery's); the "
                             "results are the same for any count; give --threads cores/workers", minimum=1)


def _sizes(config):
    """``(n_train, members, masks, epochs)`` after ``--quick``."""
    if config.quick:
        return 2000, 4, 20, 5
    return config.n_train, config.members, config.masks, config.epochs


def sampled_log_probabilities(model, X, k) -> np.ndarray:
    """(k, N, classes): the log-softmax of k sub-networks sampled by the model's dropout layers.

    The model is put in ``eval(stochastic=True)`` mode for the k passes, as
    :func:`minireg.nn.dropout_predict` does, and its modes are restored afterwards.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval(stochastic=True)
    try:
        with no_grad():
            return np.stack([log_softmax(model(Tensor(X)).data.astype(np.float64), axis=1) for _ in range(k)])
    finally:
        for module, mode in modes:
            module.training = mode


def running_mc_errors(log_probabilities, y) -> dict:
    """The 0-1 error of the arithmetic and of the geometric mean of the first j samples, j = 1 ... k.

    Arithmetic: argmax of Σⱼ p_j. Geometric (Deep Learning eq. 7.30): argmax of
    Σⱼ log p_j -- the renormalization does not change the argmax.
    """
    y = np.asarray(y)[None, :]
    arithmetic = np.cumsum(np.exp(log_probabilities), axis=0).argmax(axis=2)
    geometric = np.cumsum(log_probabilities, axis=0).argmax(axis=2)
    return {"arithmetic": (arithmetic != y).mean(axis=1).tolist(), "geometric": (geometric != y).mean(axis=1).tolist()}


@dataclass(frozen=True)
class TrainingRun:
    """One network of the experiment to train: plain data, so that it can go to a worker.

    ``X, y`` are its training examples (a bootstrap resample for a bagged member);
    ``init_seed`` draws its initial weights, ``loader_seed`` its batch order and
    ``mask_seed``, for the dropout network, its masks. ``folder`` is the run folder whose
    ``checkpoint-NAME.npz`` a worker saves into and resumes from (None: no checkpoints).
    """

    name: str
    title: str
    config: EnsemblesConfig
    epochs: int
    X: np.ndarray
    y: np.ndarray
    init_seed: np.random.SeedSequence
    loader_seed: np.random.SeedSequence
    mask_seed: np.random.SeedSequence | None = None
    folder: str | None = None
    checkpoint_every_epochs: int = 1


def _network(config, init_seed, mask_seed=None):
    """784-hidden-10 ReLU MLP; with ``mask_seed``, dropout on the inputs and the hidden units
    (both drawing from one generator)."""
    init_rng = np.random.default_rng(init_seed)
    dropouts = []
    if mask_seed is not None:
        mask_rng = np.random.default_rng(mask_seed)
        dropouts = [nn.Dropout(keep=config.keep_input, rng=mask_rng), nn.Dropout(keep=config.keep_hidden, rng=mask_rng)]
    return nn.Sequential(*dropouts[:1], nn.Linear(784, config.hidden, rng=init_rng), nn.ReLU(), *dropouts[1:],
                         nn.Linear(config.hidden, 10, rng=init_rng))


def fit_run(run: TrainingRun, callbacks=(), resume_from=None):
    """Train ``run``'s network (the same wherever it runs); return the model."""
    config = run.config
    model = _network(config, run.init_seed, run.mask_seed)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=config.lr, momentum=config.momentum))
    loader = DataLoader(run.X, run.y, config.batch_size, rng=np.random.default_rng(run.loader_seed))
    trainer.fit(loader, epochs=run.epochs, callbacks=callbacks, resume_from=resume_from)
    return model


def fit_run_on_worker(run: TrainingRun):
    """``(model, step of its last checkpoint)``: :func:`fit_run` checkpointed into the run
    folder as its phase would be, resumed from there if a checkpoint exists. The client,
    not the worker, records the phase as finished (one writer of progress.json)."""
    if run.folder is None:
        return fit_run(run), None
    progress = RunProgress(run.folder, run.checkpoint_every_epochs)
    checkpoint = progress.checkpoint(run.name)
    return fit_run(run, [checkpoint], progress.resume_from(run.name)), checkpoint.last_saved_step


def _train_all(runs, config, progress, threads_per_run) -> list:
    """The trained models of ``runs``: here one phase after the other (``--workers 1``), or on
    ``config.workers`` local processes, each with the BLAS on ``threads_per_run`` threads."""
    if config.workers == 1:
        phases = Phases(progress, total=len(runs), show=config.progress)
        steps_per_epoch = -(-len(runs[0].X) // config.batch_size)       # every run has n_train examples
        return [phases.run(run.name, run.title, fit_run, run, total_steps=run.epochs * steps_per_epoch) for run in runs]
    done = []

    def finished(i, result):
        done.append(i)
        if progress is not None:
            progress.finish(runs[i].name, result[1])
        if config.progress:
            print(f"phase {len(done)}/{len(runs)} done on a worker: {runs[i].title}", file=sys.stderr, flush=True)

    if config.progress:
        print(f"{len(runs)} training runs on {config.workers} worker processes, {threads_per_run} BLAS "
              f"thread{'s' if threads_per_run > 1 else ''} each", file=sys.stderr, flush=True)
    results = train_members(fit_run_on_worker, runs, workers=config.workers, threads_per_run=threads_per_run,
                            on_result=finished)
    return [model for model, _ in results]


def run(config: EnsemblesConfig, progress=None) -> dict:
    """Train the seed ensemble, the bagged ensemble and the dropout network, one phase each."""
    n_train, k, masks, epochs = _sizes(config)
    data_seed, member_seed, resample_seed, dropout_seed = np.random.SeedSequence(config.seed).spawn(4)
    # member i: (initialization, batch order), the same for both ensembles (spawned once: spawn() moves on)
    member_seeds = [seeds.spawn(2) for seeds in member_seed.spawn(k)]
    root = config.data_root or None
    X, y = load_mnist("train", root=root, flatten=True)
    X_test, y_test = load_mnist("test", root=root, flatten=True)
    train = np.random.default_rng(data_seed).permutation(len(X))[:n_train]
    X, y = X[train], y[train]
    resample_rng = np.random.default_rng(resample_seed)
    resamples = [bootstrap_indices(n_train, resample_rng) for _ in range(k)]
    where = {"folder": None if progress is None else str(progress.folder),
             "checkpoint_every_epochs": 1 if progress is None else progress.checkpoint_every_epochs}
    runs = [TrainingRun(f"seeds_{i}", f"seeds ensemble, member {i + 1} of {k}", config, epochs, X, y,
                        init_seed, loader_seed, **where) for i, (init_seed, loader_seed) in enumerate(member_seeds)]
    runs += [TrainingRun(f"bagging_{i}", f"bagging ensemble, member {i + 1} of {k}", config, epochs,
                         X[chosen], y[chosen], init_seed, loader_seed, **where)
             for i, ((init_seed, loader_seed), chosen) in enumerate(zip(member_seeds, resamples))]
    init_seed, loader_seed, mask_seed = dropout_seed.spawn(3)
    runs.append(TrainingRun("dropout", "dropout network", config, epochs, X, y, init_seed, loader_seed, mask_seed,
                            **where))
    models = _train_all(runs, config, progress, threads.blas_threads())

    ensembles = {}
    for kind, members in (("seeds", models[:k]), ("bagging", models[k:2 * k])):
        probabilities = Ensemble(members).member_probabilities(X_test).astype(np.float64)
        decomposition = error_decomposition(probabilities, np.eye(10)[y_test])
        ensembles[kind] = {
            "member_errors": (probabilities.argmax(axis=2) != y_test[None]).mean(axis=1).tolist(),
            "ensemble_errors": ensemble_errors(probabilities, y_test).tolist(),
            "decomposition": decomposition,
            "distinct_fraction": float(np.mean([len(np.unique(r)) / n_train for r in resamples]))
            if kind == "bagging" else 1.0,
        }

    dropout_network = models[-1]
    weight_scaling = float((Ensemble([dropout_network]).predict_proba(X_test).argmax(axis=1) != y_test).mean())
    mc = running_mc_errors(sampled_log_probabilities(dropout_network, X_test, masks), y_test)
    return {"data": "MNIST", "sizes": {"train": n_train, "test": len(X_test)}, "members": k, "masks": masks,
            "epochs": epochs, "ensembles": ensembles,
            "dropout": {"weight_scaling": weight_scaling, **mc}}


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def report(document: dict, folder) -> str:
    """Markdown: ensemble error against k, the decomposition, MC dropout against weight scaling."""
    folder = Path(folder)
    config, results = document["config"], document["results"]
    k, ensembles, dropout = results["members"], results["ensembles"], results["dropout"]
    plots = []
    lines = ["# Ensembles and dropout on MNIST (ensembles)", ""]
    lines.append(f"Data: MNIST, {results['sizes']['train']} training images, {results['sizes']['test']} test images. "
                 f"Model: 784-{config['hidden']}-10 ReLU MLP, SGD lr {config['lr']} momentum {config['momentum']}, "
                 f"batch {config['batch_size']}, {results['epochs']} epochs per run; {k} members per ensemble. Seed "
                 f"{config['seed']}; run time {document['seconds']:.1f} s. Member i of the seed ensemble and of "
                 "the bagged ensemble share their initial weights and batch seed; only the data differ.")
    lines += ["", "## Test error against the number of members k (Deep Learning 7.10, published 7.11)", ""]
    header = ["ensemble", "mean member error %", "best member %", "worst member %", "ensemble of 1 %",
              f"ensemble of {k} %"]
    lines.append(markdown_table(header, [
        [kind, percent(np.mean(e["member_errors"])), percent(min(e["member_errors"])),
         percent(max(e["member_errors"])), percent(e["ensemble_errors"][0]), percent(e["ensemble_errors"][-1])]
        for kind, e in ensembles.items()]))
    bag = ensembles["bagging"]
    lines += ["", f"A bootstrap resample held {100 * bag['distinct_fraction']:.1f} % distinct examples on average "
                  f"(1 − 1/e = {100 * (1 - np.exp(-1)):.1f} %), so each bagged member sees fewer distinct images "
                  "than a seed member.", ""]
    members = list(range(1, k + 1))
    plots.append(line_plot(folder / "ensemble_error.png",
                           {f"{kind} ensemble": (members, [100 * v for v in e["ensemble_errors"]])
                            for kind, e in ensembles.items()}
                           | {f"{kind}: mean member": (members, [100 * np.mean(e["member_errors"])] * k)
                              for kind, e in ensembles.items()},
                           "MNIST test error of the ensemble of the first k members", "k", "test error (%)"))
    if plots[-1]:
        lines += ["![ensemble error against k](ensemble_error.png)", ""]
    lines += ["## The decomposition v/k + (k − 1)c/k", "",
              "Errors eᵢ = member i's predicted distribution minus the one-hot label; v is the mean of eᵢ², c of "
              "eᵢeⱼ (i ≠ j), over the test set.", ""]
    lines.append(markdown_table(["ensemble", "v", "c", "c / v", "v/k + (k−1)c/k", "ensemble's squared error"], [
        [kind, format_number(d["v"]), format_number(d["c"]), format_number(d["c"] / d["v"]),
         format_number(d["predicted"]), format_number(d["ensemble"])]
        for kind, d in ((kind, e["decomposition"]) for kind, e in ensembles.items())]))
    ratio = {kind: e["decomposition"]["c"] / e["decomposition"]["v"] for kind, e in ensembles.items()}
    less = min(ratio, key=ratio.get)
    lines += ["", "The closer c is to v, the more alike the members' mistakes and the less averaging gains. Here "
                  f"the {less} ensemble's members make the less correlated mistakes (c / v = "
                  f"{format_number(ratio[less])} against {format_number(max(ratio.values()))}).", ""]
    masks = list(range(1, results["masks"] + 1))
    lines += ["## Monte-Carlo dropout against weight scaling (7.11, published 7.12; eq. 7.30)", ""]
    shown = sorted({j for j in (1, 2, 5, 10, 20, 50, 100) if j <= results["masks"]} | {results["masks"]})
    lines.append(markdown_table(["sub-networks j", "arithmetic mean %", "geometric mean %", "weight scaling %"], [
        [j, percent(dropout["arithmetic"][j - 1]), percent(dropout["geometric"][j - 1]),
         percent(dropout["weight_scaling"])] for j in shown]))
    plots.append(line_plot(folder / "mc_dropout.png",
                           {"arithmetic mean of j sub-networks": (masks, [100 * v for v in dropout["arithmetic"]]),
                            "geometric mean of j sub-networks": (masks, [100 * v for v in dropout["geometric"]]),
                            "weight scaling (one pass)": (masks, [100 * dropout["weight_scaling"]] * len(masks))},
                           "MNIST test error of a dropout network's inference rules", "sub-networks j",
                           "test error (%)"))
    if plots[-1]:
        lines += ["", "![MC dropout against weight scaling](mc_dropout.png)"]
    if not all(plots):
        lines += ["", PLOTS_SKIPPED]
    return "\n".join(lines) + "\n"
