"""R4: learning curves with a U-shaped validation loss, and early stopping on them.

Deep Learning, Fig. 7.3 (a maxout network with dropout on MNIST): "the training
objective decreases consistently over time, but the validation set average loss
eventually begins to increase again, forming an asymmetric U-shaped curve." Section 7.7 (published 7.8)
turns that curve into early stopping (Algorithm 7.1) and offers two ways to use the
validation data afterwards (Algorithms 7.2 and 7.3).

This experiment, step by step:

1. Split the training data into *subtrain* and *validation* (seeded); optionally
   replace a fraction of their labels by random classes (label noise makes
   overfitting come sooner; the test set stays clean).
2. Train an MLP with SGD on subtrain for a fixed number of epochs, evaluating the loss
   and the 0-1 error on subtrain and validation after every epoch, with
   :class:`~minireg.training.EarlyStopping` (Algorithm 7.1, ``n`` = one epoch,
   patience ``p``) watching. By default training goes on after the algorithm's stop,
   so that the whole curve is drawn; θ* and i* are those of the stop.
3. Test loss and error at θ* (early stopping) and at the last epoch.
4. Algorithm 7.2: new random parameters, train on subtrain + validation for i*
   (the same number of epochs by default, or of updates).
5. Algorithm 7.3: from θ*, train on subtrain + validation until the validation loss is
   at most the subtrain loss at θ*, or until a step budget runs out.

The three training phases (steps 2, 4, 5) checkpoint into the run folder and can
resume after an interruption (:class:`~minireg.experiments.base.RunProgress`,
``minireg resume FOLDER``).

Two experiments share this code: ``early-stopping`` (MNIST, item R4) and
``early-stopping-synthetic`` (data generated on the spot by :func:`teacher_data`, so
that it runs offline in well under a minute).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader, load_mnist, random_labels
from minireg.experiments.base import (PLOTS_SKIPPED, CheckedConfig, Phases, check_data_root, check_mnist_split,
                                      format_number, line_plot, markdown_table, option)
from minireg.optim import SGD
from minireg.training import (EarlyStopping, Trainer, continue_on_all_data, retrain_on_all_data,
                              retrain_steps)

BOOK_CLAIM = ("Training objective decreases consistently over time, but the validation set "
              "average loss eventually begins to increase again, forming an asymmetric "
              "U-shaped curve (Deep Learning, Fig. 7.3: maxout + dropout on MNIST).")


# --------------------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------------------


@dataclass
class EarlyStoppingConfig(CheckedConfig):
    """Options shared by both data sets (see the module docstring for the steps)."""

    seed: int = option(0, "seed of every random choice (split, noise, initialization, batch order)", minimum=0)
    n_subtrain: int = option(10000, "training examples the early-stopping run trains on", minimum=1)
    n_val: int = option(10000, "validation examples (held out from the same training set)", minimum=1)
    label_noise: float = option(0.0, "probability that a subtrain/validation label is replaced by a random class",
                                minimum=0.0, maximum=1.0)
    hidden: int = option(800, "units per hidden layer", minimum=1)
    depth: int = option(2, "number of hidden layers (ReLU)", minimum=1)
    lr: float = option(0.05, "SGD learning rate", minimum=0.0, include_minimum=False)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(128, "minibatch size", minimum=1)
    epochs: int = option(60, "epochs of the early-stopping run (long enough for the U to show)", minimum=1)
    patience: int = option(10, "patience p of Algorithm 7.1, in evaluations (one per epoch)", minimum=1)
    monitor: str = option("loss", "validation metric of Algorithm 7.1: 'loss' or 'error' (0-1)",
                          choices=("loss", "error"))
    run_to_end: bool = option(True, "keep training after early stopping's stop, to draw the whole curve")
    retrain_count: str = option("epochs", "Algorithm 7.2 keeps equal the number of 'epochs' or of 'updates'",
                                choices=("epochs", "updates"))
    continue_every: int = option(50, "Algorithm 7.3: steps between two checks of the validation loss", minimum=1)
    continue_max_epochs: float = option(20.0, "Algorithm 7.3: the bound, in epochs over all the data", minimum=0.0)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")




@dataclass
class MnistConfig(EarlyStoppingConfig):
    """R4 on MNIST: a wide MLP on a 10,000-image subset overfits in the loss within a few
    epochs, while the training loss keeps falling."""

    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache; "
                                "downloaded if missing)")

    @staticmethod
    def check_together(values, label):
        """subtrain and validation come out of MNIST's 60,000 training images; a data
        folder that is named must exist (it is never created)."""
        check_mnist_split(values, label, train="n_subtrain")
        check_data_root(values, label)


@dataclass
class SyntheticConfig(EarlyStoppingConfig):
    """The same study on data generated from the seed (:func:`teacher_data`): no
    download, well under a minute on two cores."""

    n_subtrain: int = option(1000, "training examples the early-stopping run trains on", minimum=1)
    n_val: int = option(1000, "validation examples", minimum=1)
    n_test: int = option(5000, "test examples (clean labels)", minimum=1)
    n_features: int = option(5, "input dimension of the generated data", minimum=1)
    n_classes: int = option(4, "number of classes of the generated data", minimum=2)
    label_noise: float = option(0.2, "probability that a subtrain/validation label is replaced by a random class",
                                minimum=0.0, maximum=1.0)
    hidden: int = option(256, "units per hidden layer", minimum=1)
    lr: float = option(0.005, "SGD learning rate", minimum=0.0, include_minimum=False)
    batch_size: int = option(64, "minibatch size", minimum=1)
    epochs: int = option(150, "epochs of the early-stopping run (long enough for the U to show)", minimum=1)
    patience: int = option(20, "patience p of Algorithm 7.1, in evaluations (one per epoch)", minimum=1)
    continue_every: int = option(10, "Algorithm 7.3: steps between two checks of the validation loss", minimum=1)
    continue_max_epochs: float = option(60.0, "Algorithm 7.3: the bound, in epochs over all the data", minimum=0.0)


# --------------------------------------------------------------------------------------
# Data and model
# --------------------------------------------------------------------------------------


def teacher_data(rng, n_examples: int, n_features: int, n_classes: int, teacher_hidden: int = 16):
    """A classification task whose true labels come from a random "teacher" network.

    ``x ~ N(0, I)`` in ``n_features`` dimensions and ``y = argmax(tanh(x A) B)`` with
    ``A`` (n_features x teacher_hidden) and ``B`` (teacher_hidden x n_classes) standard
    normal: smooth, curved class boundaries that an MLP can learn, and that it distorts
    when it starts to fit noisy labels one by one.

    Returns
    -------
    X : ndarray of float32, shape (n_examples, n_features)
    y : ndarray of int64, shape (n_examples,)
    """
    A = rng.standard_normal((n_features, teacher_hidden))
    B = rng.standard_normal((teacher_hidden, n_classes))
    X = rng.standard_normal((n_examples, n_features))
    y = np.argmax(np.tanh(X @ A) @ B, axis=1).astype(np.int64)
    return X.astype(np.float32), y


def _noisy_labels(X, y, probability, n_classes, rng):
    """``y`` with each label replaced by a random class with ``probability`` (Zhang et al.)."""
    if probability == 0.0:
        return y
    return random_labels(X, y, rng, probability=probability, n_classes=n_classes)[1]


def load_data(config, rng):
    """``(X_subtrain, y_subtrain, X_val, y_val, X_test, y_test, n_classes, description)``,
    inputs flat."""
    if isinstance(config, MnistConfig):
        root = config.data_root or None
        X, y = load_mnist("train", root=root, flatten=True)
        X_test, y_test = load_mnist("test", root=root, flatten=True)
        n_classes, description = 10, "MNIST"
    elif isinstance(config, SyntheticConfig):
        n_train = config.n_subtrain + config.n_val
        X, y = teacher_data(rng, n_train + config.n_test, config.n_features, config.n_classes)
        X, y, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
        n_classes = config.n_classes
        description = (f"generated: x ~ N(0, I_{config.n_features}), {config.n_classes} classes from a "
                       "random tanh teacher network")
    else:
        raise TypeError(f"config must be a MnistConfig or a SyntheticConfig, got {type(config).__name__}")
    if config.n_subtrain + config.n_val > len(X):
        raise ValueError(f"n_subtrain + n_val = {config.n_subtrain + config.n_val} exceeds the "
                         f"{len(X)} training examples")
    order = rng.permutation(len(X))
    subtrain = order[:config.n_subtrain]
    val = order[config.n_subtrain:config.n_subtrain + config.n_val]
    y_subtrain = _noisy_labels(X[subtrain], y[subtrain], config.label_noise, n_classes, rng)
    y_val = _noisy_labels(X[val], y[val], config.label_noise, n_classes, rng)
    return X[subtrain], y_subtrain, X[val], y_val, X_test, y_test, n_classes, description


def make_mlp(n_inputs: int, hidden: int, depth: int, n_classes: int, rng) -> nn.Sequential:
    """``depth`` hidden layers of ``hidden`` ReLU units, then a linear layer to the logits."""
    layers, width = [], n_inputs
    for _ in range(depth):
        layers += [nn.Linear(width, hidden, rng=rng), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, n_classes, rng=rng))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


def _curve(history, name):
    return {"epoch": history.epochs(name), "value": history.values(name)}


def _summary(stopper, steps_per_epoch):
    """What Algorithm 7.1 returned, as plain data."""
    return {
        "monitor": stopper.monitor,
        "patience": stopper.patience,
        "best_step": stopper.best_step,
        "best_epoch": stopper.best_epoch,
        "best_value": stopper.best_value,
        "stopped_early": stopper.stopped_early,
        "stop_step": stopper.stop_step,
        "stop_epoch": None if stopper.stop_step is None else stopper.stop_step / steps_per_epoch,
    }


def run(config: EarlyStoppingConfig, progress=None) -> dict:
    """The five steps of the module docstring; returns JSON-ready results.

    Three phases train: ``"algorithm_7_1"`` (early stopping on subtrain), ``"algorithm_7_2"``
    (retraining on all the data) and ``"algorithm_7_3"`` (continuing on all the data),
    each one call of :meth:`Phases.run <minireg.experiments.base.Phases.run>`.
    With ``progress`` (a :class:`~minireg.experiments.base.RunProgress`) each one is
    checkpointed into the run folder and recorded there when done; called again on the
    same folder after an interruption, ``run`` builds everything from the seed in the
    same order, skips the finished phases (their checkpoints hold their end states),
    continues the interrupted one from its checkpoint, and returns exactly the results
    of a run that was never interrupted.
    """
    phases = Phases(progress, total=3, show=config.progress)
    seeds = np.random.SeedSequence(config.seed).spawn(8)
    data_rng, init_rng, loader_rng, trainer_rng, init2_rng, loader2_rng, loader3_rng, trainer3_rng = (
        np.random.default_rng(s) for s in seeds)
    X_sub, y_sub, X_val, y_val, X_test, y_test, n_classes, description = load_data(config, data_rng)
    X_all = np.concatenate([X_sub, X_val])
    y_all = np.concatenate([y_sub, y_val])
    n_inputs = X_sub.shape[1]

    def new_trainer(init, trainer_seed):
        model = make_mlp(n_inputs, config.hidden, config.depth, n_classes, init)
        optimizer = SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        return Trainer(model, losses.cross_entropy, optimizer, rng=trainer_seed)

    # 1-2. Algorithm 7.1 on subtrain / validation
    trainer = new_trainer(init_rng, trainer_rng)
    sub_loader = DataLoader(X_sub, y_sub, config.batch_size, shuffle=True, rng=loader_rng)
    steps_per_epoch = len(sub_loader)
    # Algorithm 7.1 with the chosen criterion, and beside it (never stopping the run) the
    # same algorithm with the other criterion, to compare the two choices
    other = "error" if config.monitor == "loss" else "loss"
    stopper = EarlyStopping(monitor="val_" + config.monitor, patience=config.patience,
                            restore_best=False, stop=not config.run_to_end)
    watcher = EarlyStopping(monitor="val_" + other, patience=config.patience, restore_best=False, stop=False)
    phases.run("algorithm_7_1", f"Algorithm 7.1, early stopping on the validation {config.monitor}, "
                                f"training on subtrain for up to {config.epochs} epochs",
               trainer.fit, sub_loader, epochs=config.epochs, total_steps=config.epochs * steps_per_epoch,
               eval_sets={"train": (X_sub, y_sub), "val": (X_val, y_val)}, eval_every="epoch",
               callbacks=[stopper, watcher])
    history = trainer.history

    # 3. test at the last epoch and at θ* (of each criterion)
    last = trainer.evaluate(X_test, y_test)
    trainer.model.load_state_dict(watcher.best_state)
    other_test = trainer.evaluate(X_test, y_test)
    trainer.model.load_state_dict(stopper.best_state)
    best = trainer.evaluate(X_test, y_test)
    best_state = stopper.best_state

    val_losses = history.values("val_loss")
    val_epochs = history.epochs("val_loss")
    minimum_index = int(np.argmin(val_losses))
    val_errors = history.values("val_error")
    error_minimum_index = int(np.argmin(val_errors))
    train_losses = history.values("train_loss")
    falls = sum(1 for a, b in zip(train_losses, train_losses[1:]) if b < a)
    tenths = [float(np.mean(part)) for part in np.array_split(np.array(train_losses), min(10, len(train_losses)))]
    tenth_falls = sum(1 for a, b in zip(tenths, tenths[1:]) if b < a)

    # 4. Algorithm 7.2: random θ again, i* steps (or epochs) on all the data
    all_loader = DataLoader(X_all, y_all, config.batch_size, shuffle=True, rng=loader2_rng)
    retrain_total = retrain_steps(stopper.best_step, steps_per_epoch, len(all_loader), config.retrain_count)
    retrained = phases.run("algorithm_7_2", f"Algorithm 7.2, new random θ, retraining on subtrain + validation "
                                            f"for {retrain_total} steps (as many {config.retrain_count} as i* = "
                                            f"{stopper.best_step} steps on subtrain)",
                           retrain_on_all_data, lambda: new_trainer(init2_rng, 0), all_loader, stopper.best_step,
                           subtrain_steps_per_epoch=steps_per_epoch, count=config.retrain_count,
                           total_steps=retrain_total)
    retrain_test = retrained.trainer.evaluate(X_test, y_test)

    # 5. Algorithm 7.3: from θ*, continue on all the data down to ε = J(θ*, subtrain)
    continuing = new_trainer(init2_rng, trainer3_rng)
    continuing.model.load_state_dict(best_state)
    all_loader3 = DataLoader(X_all, y_all, config.batch_size, shuffle=True, rng=loader3_rng)
    bound = int(math.ceil(config.continue_max_epochs * len(all_loader3)))
    continued = phases.run("algorithm_7_3", f"Algorithm 7.3, from θ*, training on subtrain + validation until the "
                                            f"validation loss is at most J(θ*, subtrain) (at most {bound} steps)",
                           continue_on_all_data, continuing, all_loader3, (X_sub, y_sub), (X_val, y_val),
                           every=config.continue_every, max_steps=bound, total_steps=bound)
    continue_test = continuing.evaluate(X_test, y_test)
    continue_curve = (_curve(continuing.history, "val_loss") if "val_loss" in continuing.history
                      else {"epoch": [], "value": []})
    continue_curve["step"] = continuing.history.steps("val_loss") if "val_loss" in continuing.history else []

    return {
        "data": description,
        "sizes": {"subtrain": len(X_sub), "validation": len(X_val), "test": len(X_test)},
        "steps_per_epoch": {"subtrain": steps_per_epoch, "all": len(all_loader)},
        "curves": {name: _curve(history, name)
                   for name in ("train_loss", "val_loss", "train_error", "val_error", "batch_loss")},
        "early_stopping": {**_summary(stopper, steps_per_epoch), "epochs_trained": trainer.epoch},
        "other_criterion": {**_summary(watcher, steps_per_epoch), "test": other_test},
        "validation_minimum": {"epoch": val_epochs[minimum_index], "loss": val_losses[minimum_index],
                               "last_loss": val_losses[-1],
                               "error_epoch": val_epochs[error_minimum_index],
                               "error": val_errors[error_minimum_index], "last_error": val_errors[-1]},
        "train_loss_fell": {"epochs": falls, "of": len(train_losses) - 1,
                            "tenths": tenth_falls, "of_tenths": len(tenths) - 1,
                            "first": train_losses[0], "last": train_losses[-1]},
        "test": {
            "early_stopping": best,
            "last_epoch": last,
            "algorithm_7_2": {**retrain_test, "steps": retrained.steps, "epochs": retrained.epochs,
                              "count": retrained.count},
            "algorithm_7_3": {**continue_test, "steps": continued.steps,
                              "epochs": continued.steps / len(all_loader3), "target": continued.target,
                              "reached": continued.reached, "bound_steps": bound,
                              "initial_validation_loss": continued.initial_validation_loss,
                              "final_validation_loss": continued.final_validation_loss},
        },
        "continue_curve": continue_curve,
    }


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def _criterion_marks(stop: dict, other: dict) -> list:
    """Vertical lines for the plots: θ* and the stop of Algorithm 7.1 on each criterion,
    one colour per criterion, θ* dashed and the stop dotted; the first criterion's lines
    are wider, so that both show where they coincide."""
    marks = []
    for summary, color, width in ((stop, "tab:red", 3.0), (other, "tab:purple", 1.2)):
        criterion = summary["monitor"].removeprefix("val_")
        marks.append((summary["best_epoch"], f"θ* on validation {criterion} (epoch {summary['best_epoch']:.0f})",
                      {"color": color, "linestyle": "--", "linewidth": width}))
        if summary["stop_epoch"] is not None:
            marks.append((summary["stop_epoch"], f"Alg. 7.1 on {criterion} stops (epoch {summary['stop_epoch']:.0f})",
                          {"color": color, "linestyle": ":", "linewidth": width}))
    return marks


def report(document: dict, folder) -> str:
    """Markdown: the learning curves, early stopping's choice, and the test errors."""
    config, results = document["config"], document["results"]
    curves, stop, test = results["curves"], results["early_stopping"], results["test"]
    lines = [f"# Early stopping and the U-shaped validation curve ({document['experiment']})", ""]
    lines.append(f"Data: {results['data']}; {results['sizes']['subtrain']} subtrain, "
                 f"{results['sizes']['validation']} validation, {results['sizes']['test']} test examples; "
                 f"label noise {config['label_noise']} on subtrain and validation (test labels clean). "
                 f"Model: MLP with {config['depth']} hidden layer(s) of {config['hidden']} ReLU units, "
                 f"SGD lr {config['lr']} momentum {config['momentum']}, batch {config['batch_size']}, "
                 f"{stop['epochs_trained']} epochs, seed {config['seed']}. Run time {document['seconds']:.1f} s.")
    lines.append("")

    dataset = "MNIST" if results["data"] == "MNIST" else "generated data"
    marks = _criterion_marks(stop, results["other_criterion"])
    drew_loss = line_plot(folder / "loss_curves.png",
                          {"training (subtrain) loss": (curves["train_loss"]["epoch"], curves["train_loss"]["value"]),
                           "validation loss": (curves["val_loss"]["epoch"], curves["val_loss"]["value"])},
                          f"Learning curves on {dataset} (cf. Deep Learning Fig. 7.3)", "epoch",
                          "negative log-likelihood", vertical_lines=marks)
    drew_error = line_plot(folder / "error_curves.png",
                           {"training (subtrain) 0-1 error": (curves["train_error"]["epoch"],
                                                              curves["train_error"]["value"]),
                            "validation 0-1 error": (curves["val_error"]["epoch"], curves["val_error"]["value"])},
                           f"0-1 error on {dataset}", "epoch", "error", vertical_lines=marks)

    lines += ["## The book's claim and what we measured", "", f"> {BOOK_CLAIM}", ""]
    fell, minimum, other = results["train_loss_fell"], results["validation_minimum"], results["other_criterion"]
    u_shape = minimum["last_loss"] > minimum["loss"] and minimum["epoch"] < stop["epochs_trained"]
    lines.append(markdown_table(
        ["claim", "measured", "holds"],
        [["the training loss decreases consistently",
          f"{format_number(fell['first'])} → {format_number(fell['last'])}; averaged over each tenth of "
          f"the run it fell {fell['tenths']} times out of {fell['of_tenths']} (from one epoch to the next: "
          f"{fell['epochs']} of {fell['of']}, SGD noise)", fell["tenths"] == fell["of_tenths"]],
         ["the validation loss eventually increases again (U shape)",
          f"minimum {format_number(minimum['loss'])} at epoch {minimum['epoch']:.0f}, "
          f"{format_number(minimum['last_loss'])} at the last epoch", u_shape],
         ["(not in the book) the validation 0-1 error",
          f"minimum {format_number(100 * minimum['error'])} % at epoch {minimum['error_epoch']:.0f}, "
          f"{format_number(100 * minimum['last_error'])} % at the last epoch", "–"]]))
    if drew_loss:
        lines += ["![learning curves](loss_curves.png)", ""]
    if drew_error:
        lines += ["![0-1 error curves](error_curves.png)", ""]
    if not (drew_loss and drew_error):
        lines += [PLOTS_SKIPPED, ""]

    lines += ["## Algorithm 7.1 (early stopping)", ""]
    lines.append(markdown_table(
        ["validation metric", "patience p", "n (steps between evaluations)", "i* (steps)", "θ* at epoch",
         "best validation value", "stops at epoch"],
        [[s["monitor"] + (" (used below)" if s is stop else ""), s["patience"], results["steps_per_epoch"]["subtrain"],
          s["best_step"], s["best_epoch"], s["best_value"], s["stop_epoch"] if s["stopped_early"] else "no stop"]
         for s in (stop, other)]))
    if config["run_to_end"] and stop["stopped_early"]:
        lines += ["Training went on after the stop only to draw the whole curve; θ* and i* are "
                  "those of the algorithm at its stop.", ""]

    lines += ["## Test error", ""]
    a72, a73 = test["algorithm_7_2"], test["algorithm_7_3"]
    lines.append(markdown_table(
        ["parameters", "trained on", "updates", "test loss", "test error (%)"],
        [[f"θ* (early stopping, Alg. 7.1 on {stop['monitor']})", "subtrain", stop["best_step"],
          test["early_stopping"]["loss"], 100 * test["early_stopping"]["error"]],
         [f"θ* of Alg. 7.1 on {other['monitor']}", "subtrain", other["best_step"], other["test"]["loss"],
          100 * other["test"]["error"]],
         ["last epoch", "subtrain", stop["epochs_trained"] * results["steps_per_epoch"]["subtrain"],
          test["last_epoch"]["loss"], 100 * test["last_epoch"]["error"]],
         [f"Alg. 7.2: retrain, same number of {a72['count']}", "subtrain + validation", a72["steps"],
          a72["loss"], 100 * a72["error"]],
         ["Alg. 7.3: continue from θ*", "subtrain + validation", stop["best_step"] + a73["steps"],
          a73["loss"], 100 * a73["error"]]]))
    lines += [f"Algorithms 7.2 and 7.3 use i* and θ* of Algorithm 7.1 on {stop['monitor']}.", ""]
    reached = ("reached" if a73["reached"] else
               f"**not reached** within the bound of {a73['bound_steps']} steps")
    lines += [f"Algorithm 7.3 target ε = J(θ*, subtrain) = {format_number(a73['target'])}: the validation loss "
              f"went from {format_number(a73['initial_validation_loss'])} to "
              f"{format_number(a73['final_validation_loss'])} in {a73['steps']} steps "
              f"({a73['epochs']:.2f} epochs over all the data); target {reached}.", ""]
    curve = results["continue_curve"]
    steps = [0, *curve["step"]]
    if curve["step"] and line_plot(folder / "algorithm_7_3.png",
                                   {"validation loss (now also trained on)":
                                    (steps, [a73["initial_validation_loss"], *curve["value"]]),
                                    "target ε = J(θ*, subtrain)": (steps, [a73["target"]] * len(steps))},
                                   f"Algorithm 7.3 on {dataset}: from θ*, training on subtrain + validation",
                                   "steps on subtrain + validation", "negative log-likelihood",
                                   points={f"start: θ*, validation loss {format_number(a73['initial_validation_loss'])}":
                                           (0, a73["initial_validation_loss"])}):
        lines += ["![Algorithm 7.3](algorithm_7_3.png)", ""]
    lines += ["## Reading the numbers", ""]
    at_best, at_last = test["early_stopping"]["error"], test["last_epoch"]["error"]
    if at_best < at_last:
        lines.append(f"Early stopping pays: θ* has a lower test error than the last epoch "
                     f"({100 * at_best:.2f} % against {100 * at_last:.2f} %).")
    else:
        lines.append(f"Here the validation *loss* turns up while the 0-1 error does not get worse: the "
                     f"network grows over-confident on the examples it gets wrong. Stopping on "
                     f"{stop['monitor']} then stops too early for the error (test error {100 * at_best:.2f} % "
                     f"at θ* against {100 * at_last:.2f} % at the last epoch); Algorithm 7.1 on "
                     f"{other['monitor']} gives {100 * other['test']['error']:.2f} %. Deep Learning 7.7 (published 7.8) notes "
                     "that the 0-1 error, which cannot be trained on, can serve as the stopping criterion.")
    best_all = min(a72["error"], a73["error"])
    lines.append(f"Training on the validation data too (Algorithms 7.2 and 7.3) gives "
                 f"{100 * a72['error']:.2f} % and {100 * a73['error']:.2f} %, "
                 f"{'better' if best_all < at_best else 'no better'} than θ* alone.")
    lines.append("")
    lines += ["The book gives no test numbers for Fig. 7.3 (a maxout network with dropout, trained for "
              "about 250 epochs); its claim is qualitative, and so is the comparison above. Our network "
              "is a plain ReLU MLP without dropout, so it overfits sooner.", ""]
    return "\n".join(lines)
