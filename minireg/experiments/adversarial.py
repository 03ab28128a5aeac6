"""Adversarial examples and adversarial training on MNIST (R7; Deep Learning 7.13).

Goodfellow, Shlens and Szegedy (2015), "Explaining and harnessing adversarial
examples" (ICLR; arXiv:1412.6572), made adversarial examples with the fast gradient
sign method, :math:`x' = \\mathrm{clip}(x + \\epsilon\\,\\mathrm{sign}(\\nabla_x J))`, and
trained on :math:`\\alpha J(x) + (1-\\alpha) J(x')` (:class:`~minireg.regularizers.AdversarialTraining`).
Their MNIST numbers (maxout network, :math:`\\epsilon = 0.25`, :math:`\\alpha = 0.5`),
from sections 4 and 6 of the paper, which is not among ``shared/references``:

====================================================  ===========================
FGSM examples (ε = 0.25), error before                89.4 % (mean confidence 97.6 %)
the same, after adversarial training                  17.9 % (mean confidence of the
                                                      misclassified: 81.4 %)
clean test error, maxout + dropout, before → after    0.94 % → 0.84 %
====================================================  ===========================

**This run.** Two networks of the same architecture (784-H-10 ReLU), from the same
initial weights and the same batch order: one trained plainly, one with adversarial
training; one resumable phase each. Then, for each, on the test images: the error on
FGSM examples made against that network itself (white box) for ε from 0 to
``--epsilon-max``, the mean confidence of its wrong answers, and how the examples made
against one network fool the other (transfer). The gradients of the attack are taken in
float64 (the trained weights converted), because in float32 a saturated softmax gives
an exactly zero gradient and an attack that moves nothing; the fraction of test images
whose gradient is zero all the same is reported. A figure in the manner of Deep
Learning Fig. 7.7 shows x, sign(∇ₓJ) and x' with the predicted class and its
confidence, for both networks on the same test image.

``--quick``: H = 128, 5,000 training images, 10 epochs (about 20 s on 2 cores); the
default: H = 256, all 60,000 training images, 10 epochs (about 3 minutes). Both attack all
10,000 test images (``--n-test``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import softmax

from minireg import io, losses, nn
from minireg.datasets import DataLoader, load_mnist
from minireg.experiments.base import (MNIST_TRAINING_EXAMPLES, PLOTS_SKIPPED, MnistConfig, Phases, format_number,
                                      line_plot, markdown_table, option, percent, plotting_available)
from minireg.optim import SGD
from minireg.regularizers import AdversarialTraining
from minireg.regularizers.penalties import fast_gradient_sign, input_gradient
from minireg.tensor import Tensor, no_grad
from minireg.training import Trainer

MNIST_TEST_EXAMPLES = 10000

PAPER = {"epsilon": 0.25, "alpha": 0.5, "plain_fgsm_error": 0.894, "plain_fgsm_confidence": 0.976,
         "adversarial_fgsm_error": 0.179, "adversarial_wrong_confidence": 0.814,
         "plain_clean_error": 0.0094, "adversarial_clean_error": 0.0084}
"""Goodfellow, Shlens and Szegedy (2015), sections 4 and 6: a maxout network on MNIST."""

MODELS = ("plain", "adversarial")
TITLES = {"plain": "plain training", "adversarial": "adversarial training"}


@dataclass
class AdversarialConfig(MnistConfig):
    """The options of ``minireg run adversarial``."""

    seed: int = option(0, "seed of every random choice (subset, initial weights, batch order)", minimum=0)
    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "H = 128 on 5,000 training images for 10 epochs (about 20 s), instead of the "
                                "sizes below")
    n_train: int = option(MNIST_TRAINING_EXAMPLES, "training images", minimum=1, maximum=MNIST_TRAINING_EXAMPLES)
    n_test: int = option(MNIST_TEST_EXAMPLES, "test images attacked", minimum=1, maximum=MNIST_TEST_EXAMPLES)
    hidden: int = option(256, "hidden units H (784-H-10, ReLU)", minimum=1)
    epochs: int = option(10, "epochs of each training run", minimum=1)
    lr: float = option(0.05, "SGD learning rate", minimum=0.0, include_minimum=False)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0, maximum=1.0, include_maximum=False)
    batch_size: int = option(100, "minibatch size", minimum=1)
    epsilon: float = option(0.25, "ε of adversarial training (Goodfellow et al.'s on MNIST)", minimum=0.0)
    alpha: float = option(0.5, "weight α of the clean loss in adversarial training", minimum=0.0, maximum=1.0)
    epsilon_max: float = option(0.3, "the largest ε of the attack curve", minimum=0.0, include_minimum=False)
    epsilon_points: int = option(13, "points of the attack curve, from 0 to --epsilon-max", minimum=2)
    progress: bool = option(True, "show a progress bar (plain lines when stderr is not a terminal)")


def _sizes(config):
    """``(n_train, hidden, epochs)`` after ``--quick``."""
    if config.quick:
        return 5000, 128, 10
    return config.n_train, config.hidden, config.epochs


def attack(model, X, y, epsilons, batch_size=1000) -> dict:
    """FGSM against ``model`` (in evaluation mode) at each ε: the error on ``x'``, and the mean
    confidence (largest softmax probability) of the wrong predictions.

    The gradient does not depend on ε, so it is taken once per batch and each ε costs one
    forward pass. Returns ``{"errors": [...], "wrong_confidences": [...],
    "zero_gradient_fraction": fraction of examples whose input gradient is exactly zero}``.
    """
    model.eval()
    wrong = np.zeros(len(epsilons))
    confidence = np.zeros(len(epsilons))
    zero_gradients = 0
    for start in range(0, len(X), batch_size):
        x, target = X[start:start + batch_size], y[start:start + batch_size]
        gradient = input_gradient(model, losses.cross_entropy, x, target)
        zero_gradients += int(np.sum(~gradient.reshape(len(x), -1).any(axis=1)))
        for i, epsilon in enumerate(epsilons):
            probabilities = predict_probabilities(model, fast_gradient_sign(x, gradient, epsilon))
            mistaken = probabilities.argmax(axis=1) != target
            wrong[i] += mistaken.sum()
            confidence[i] += probabilities.max(axis=1)[mistaken].sum()
    return {"errors": (wrong / len(X)).tolist(),
            "wrong_confidences": np.divide(confidence, wrong, out=np.full_like(confidence, np.nan),
                                           where=wrong > 0).tolist(),
            "zero_gradient_fraction": zero_gradients / len(X)}


def predict_probabilities(model, x) -> np.ndarray:
    """Softmax of the model's outputs on ``x`` (in the model's current mode), as float64."""
    with no_grad():
        return softmax(model(Tensor(x)).data.astype(np.float64), axis=1)


def adversarial_examples(model, X, y, epsilon, batch_size=1000) -> np.ndarray:
    """FGSM examples against ``model`` (put in evaluation mode) for a whole set, batch by batch."""
    model.eval()
    return np.concatenate([fast_gradient_sign(X[i:i + batch_size], input_gradient(
        model, losses.cross_entropy, X[i:i + batch_size], y[i:i + batch_size]), epsilon)
        for i in range(0, len(X), batch_size)])


def fgsm_example(model, x, label, epsilon) -> dict:
    """One image's x, sign(∇ₓJ) and x' with the class predicted on each and its confidence."""
    model.eval()
    gradient = input_gradient(model, losses.cross_entropy, x[None], np.array([label]))[0]
    adversarial = fast_gradient_sign(x, gradient, epsilon)
    clean_p, adversarial_p = predict_probabilities(model, np.stack([x, adversarial]))
    return {"sign": np.sign(gradient).astype(int).tolist(), "adversarial": adversarial.tolist(),
            "clean_class": int(clean_p.argmax()), "clean_confidence": float(clean_p.max()),
            "adversarial_class": int(adversarial_p.argmax()), "adversarial_confidence": float(adversarial_p.max())}


def run(config: AdversarialConfig, progress=None) -> dict:
    """Train the plain and the adversarially trained network (one phase each), then attack both."""
    n_train, hidden, epochs = _sizes(config)
    n_test = config.n_test
    phases = Phases(progress, total=len(MODELS), show=config.progress)
    data_seed, init_seed, loader_seed = np.random.SeedSequence(config.seed).spawn(3)
    root = config.data_root or None
    X, y = load_mnist("train", root=root, flatten=True)
    X_test, y_test = load_mnist("test", root=root, flatten=True)
    train = np.random.default_rng(data_seed).permutation(len(X))[:n_train]
    X, y = X[train], y[train]
    X_test, y_test = X_test[:n_test].astype(np.float64), y_test[:n_test]

    models = {}
    for name in MODELS:
        init_rng = np.random.default_rng(init_seed)
        model = nn.Sequential(nn.Linear(784, hidden, rng=init_rng), nn.ReLU(), nn.Linear(hidden, 10, rng=init_rng))
        regularizers = [AdversarialTraining(config.epsilon, alpha=config.alpha)] if name == "adversarial" else []
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=config.lr, momentum=config.momentum),
                          regularizers=regularizers)
        loader = DataLoader(X, y, config.batch_size, rng=np.random.default_rng(loader_seed))
        title = (f"adversarial training (ε = {config.epsilon}, α = {config.alpha})" if regularizers
                 else "plain training")
        phases.run(name, title, trainer.fit, loader, epochs=epochs, total_steps=epochs * len(loader))
        models[name] = model.to(np.float64)          # the attack's gradients in float64 (module docstring)

    grid = np.linspace(0.0, config.epsilon_max, config.epsilon_points).round(12).tolist()
    epsilons = sorted(set(grid) | {config.epsilon})         # the training ε is always on the curve
    results = {name: attack(model, X_test, y_test, epsilons) for name, model in models.items()}
    against = {name: adversarial_examples(model, X_test, y_test, config.epsilon) for name, model in models.items()}
    for source, target in (("plain", "adversarial"), ("adversarial", "plain")):
        predicted = predict_probabilities(models[target], against[source]).argmax(axis=1)
        results[target][f"error_on_examples_against_{source}"] = float(np.mean(predicted != y_test))

    plain_right = predict_probabilities(models["plain"], X_test).argmax(axis=1) == y_test
    flipped = np.flatnonzero(plain_right & (predict_probabilities(models["plain"], against["plain"]).argmax(axis=1)
                                            != y_test))
    shown = int(flipped[0]) if len(flipped) else 0
    example = {"index": shown, "label": int(y_test[shown]), "image": X_test[shown].tolist(),
               **{name: fgsm_example(model, X_test[shown], y_test[shown], config.epsilon)
                  for name, model in models.items()}}
    return {"data": "MNIST", "sizes": {"train": n_train, "test": n_test}, "hidden": hidden, "epochs": epochs,
            "epsilons": epsilons, "epsilon_index": epsilons.index(config.epsilon), "models": results,
            "example": example}


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def draw_fgsm_row(axes, image, sign, adversarial, clean, attacked, epsilon, shape=(28, 28)):
    """Deep Learning Fig. 7.7 on three axes: x, sign(∇ₓJ), x' = x + ε sign(∇ₓJ) (clipped).

    ``clean`` and ``attacked`` are ``(class, confidence)`` predicted on x and on x'.
    """
    panels = ((image, f"x: {clean[0]} ({100 * clean[1]:.1f} %)", "gray", 0, 1),
              (sign, "sign(∇ₓJ(θ, x, y))", "coolwarm", -1, 1),
              (adversarial, f"x + {epsilon:g} sign(∇ₓJ): {attacked[0]} ({100 * attacked[1]:.1f} %)", "gray", 0, 1))
    for ax, (values, title, cmap, low, high) in zip(axes, panels):
        ax.imshow(np.reshape(values, shape), cmap=cmap, vmin=low, vmax=high)
        ax.set_title(title, fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])


def fgsm_figure_png(path, example, epsilon) -> bool:
    """The Fig. 7.7-like panel for each network, one row each, as a PNG written atomically;
    False (and nothing written) when matplotlib is missing."""
    if not plotting_available():
        return False
    with io.png_figure(path, len(MODELS), 3, figsize=(8, 2.9 * len(MODELS)), dpi=110,
                       squeeze=False) as (figure, rows):
        for axes, name in zip(rows, MODELS):
            shown = example[name]
            draw_fgsm_row(axes, example["image"], shown["sign"], shown["adversarial"],
                          (shown["clean_class"], shown["clean_confidence"]),
                          (shown["adversarial_class"], shown["adversarial_confidence"]), epsilon)
            axes[0].set_ylabel(TITLES[name], fontsize="small")
        figure.tight_layout()
    return True


def report(document: dict, folder) -> str:
    """Markdown: the error on FGSM examples against ε before and after, beside the paper's numbers."""
    folder = Path(folder)
    config, results = document["config"], document["results"]
    models, epsilon, at = results["models"], config["epsilon"], results["epsilon_index"]
    plain, adversarial = models["plain"], models["adversarial"]
    plots = []
    lines = ["# Adversarial examples and adversarial training on MNIST (adversarial)", ""]
    lines.append(f"Data: MNIST, {results['sizes']['train']} training images, the first {results['sizes']['test']} "
                 f"test images attacked. Model: 784-{results['hidden']}-10 ReLU MLP, SGD lr {config['lr']} momentum "
                 f"{config['momentum']}, batch {config['batch_size']}, {results['epochs']} epochs, both networks from "
                 f"the same initial weights and batch order. Adversarial training: αJ(x) + (1 − α)J(x') with "
                 f"α = {config['alpha']}, x' = clip(x + ε sign(∇ₓJ), 0, 1), ε = {epsilon}. Seed {config['seed']}; run "
                 f"time {document['seconds']:.1f} s.")
    lines += ["", f"## Beside Goodfellow et al. (2015), ε = {PAPER['epsilon']}", "",
              "The paper's numbers are those of a maxout network (sections 4 and 6 of \"Explaining and harnessing "
              "adversarial examples\", arXiv:1412.6572); ours are those of a smaller ReLU MLP trained for minutes, "
              f"attacked at this run's ε = {epsilon}.", ""]
    lines.append(markdown_table(["", "paper: before", "ours: before", "paper: after", "ours: after"], [
        ["error on FGSM examples %", percent(PAPER["plain_fgsm_error"]), percent(plain["errors"][at]),
         percent(PAPER["adversarial_fgsm_error"]), percent(adversarial["errors"][at])],
        ["mean confidence of the wrong answers %", percent(PAPER["plain_fgsm_confidence"]),
         percent(plain["wrong_confidences"][at]), percent(PAPER["adversarial_wrong_confidence"]),
         percent(adversarial["wrong_confidences"][at])],
        ["clean test error %", percent(PAPER["plain_clean_error"]), percent(plain["errors"][0]),
         percent(PAPER["adversarial_clean_error"]), percent(adversarial["errors"][0])],
    ]))
    lines += ["", "Our confidence is the mean largest softmax probability of the wrong answers; the paper gives "
                  "an average confidence beside each error rate. Its clean errors are those of a maxout network "
                  "with dropout.", "",
              "## Error on FGSM examples against ε", ""]
    shown = list(range(0, len(results["epsilons"]), max(1, len(results["epsilons"]) // 7)))
    lines.append(markdown_table(["ε", "plain %", "adversarially trained %"], [
        [format_number(results["epsilons"][i]), percent(plain["errors"][i]), percent(adversarial["errors"][i])]
        for i in shown]))
    plots.append(line_plot(folder / "fgsm_error.png",
                           {TITLES[name]: (results["epsilons"], [100 * e for e in models[name]["errors"]])
                            for name in MODELS},
                           "MNIST test error on FGSM examples made against each network", "ε",
                           "error on x' (%)", vertical_lines=[(epsilon, f"training ε = {epsilon}")]))
    if plots[-1]:
        lines += ["", "![error on FGSM examples against ε](fgsm_error.png)"]
    lines += ["", "## Transfer", "",
              f"At ε = {epsilon}, the plain network misclassifies "
              f"{percent(plain['error_on_examples_against_adversarial'])} % of the examples made against the "
              f"adversarially trained one, which misclassifies {percent(adversarial['error_on_examples_against_plain'])}"
              " % of those made against the plain one.", "",
              f"Test images whose input gradient is exactly zero (the attack cannot move them): plain "
              f"{percent(plain['zero_gradient_fraction'])} %, adversarially trained "
              f"{percent(adversarial['zero_gradient_fraction'])} %.", "",
              "## x, sign of the gradient, x' (as Deep Learning Fig. 7.7)", ""]
    example = results["example"]
    plots.append(fgsm_figure_png(folder / "fgsm_example.png", example, epsilon))
    lines.append(f"Test image {example['index']} (a {example['label']}): the first one that the plain network "
                 f"classifies correctly and FGSM at ε = {epsilon} makes it misclassify.")
    if plots[-1]:
        lines += ["", "![x, sign of the gradient, x'](fgsm_example.png)"]
    if not all(plots):
        lines += ["", PLOTS_SKIPPED]
    return "\n".join(lines) + "\n"
