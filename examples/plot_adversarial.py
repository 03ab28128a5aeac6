"""
Adversarial examples and adversarial training: x, the sign of the gradient, x'
==============================================================================

Deep Learning 7.13 (published 7.13); Goodfellow, Shlens and Szegedy (2015). The fast
gradient sign method moves every pixel by ε in the direction that raises the loss,
x' = clip(x + ε sign(∇ₓJ(θ, x, y)), 0, 1): for a nearly linear model the loss rises by
about ε‖∇ₓJ‖₁, which grows with the number of pixels. Adversarial training minimizes
αJ(x) + (1 − α)J(x') (``minireg.regularizers.AdversarialTraining``).

The data are 12 x 12 images of a bar, horizontal, vertical or diagonal (three classes),
at a random place, with noise. Two MLPs from the same initial weights are trained, one
plainly and one adversarially (ε = 0.2, α = 0.5); the left panel shows their test error
on FGSM examples against ε, the others one test image, the sign of the plain network's
gradient and the adversarial image, with the class predicted and its confidence.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.experiments.adversarial import attack, draw_fgsm_row, fgsm_example
from minireg.optim import SGD
from minireg.regularizers import AdversarialTraining
from minireg.training import Trainer

SIDE, CLASSES = 12, ("horizontal", "vertical", "diagonal")


def bars(n, rng):
    """n noisy images of a 6-pixel bar in one of three orientations, and the orientation."""
    images = rng.uniform(0.0, 0.3, size=(n, SIDE, SIDE))
    labels = rng.integers(0, 3, size=n)
    steps = {0: (0, 1), 1: (1, 0), 2: (1, 1)}
    for image, label in zip(images, labels):
        (dr, dc), (r, c) = steps[label], rng.integers(0, SIDE - 6, size=2)
        for k in range(6):
            image[r + k * dr, c + k * dc] = rng.uniform(0.8, 1.0)
    return images.reshape(n, -1).astype(np.float32), labels


rng = np.random.default_rng(0)
X_train, y_train = bars(3000, rng)
X_test, y_test = bars(1000, rng)
EPSILON = 0.2

models = {}
for name, regularizers in (("plain", []), ("adversarial", [AdversarialTraining(EPSILON, alpha=0.5)])):
    model = nn.Sequential(nn.Linear(SIDE * SIDE, 64, rng=1), nn.ReLU(), nn.Linear(64, 3, rng=2))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.05, momentum=0.9),
                      regularizers=regularizers)
    trainer.fit(DataLoader(X_train, y_train, 50, rng=3), epochs=15, progress=False)
    models[name] = model.to(np.float64)

epsilons = [i / 40 for i in range(13)]          # 0, 0.025, ..., 0.3
X_test = X_test.astype(np.float64)
curves = {name: attack(model, X_test, y_test, epsilons)["errors"] for name, model in models.items()}
for name, errors in curves.items():
    print(f"{name} training: test error {100 * errors[0]:.1f} %, on FGSM examples at ε = {EPSILON}: "
          f"{100 * errors[epsilons.index(EPSILON)]:.1f} %")

fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), gridspec_kw={"width_ratios": [1.4, 1, 1, 1]})
for name, errors in curves.items():
    axes[0].plot(epsilons, 100 * np.array(errors), "o-", label=f"{name} training")
axes[0].axvline(EPSILON, color="0.4", linestyle="--", label=f"training ε = {EPSILON}")
axes[0].set(xlabel="ε", ylabel="error on x' (%)", title="test error on FGSM examples")
axes[0].legend(fontsize=8)
shown = fgsm_example(models["plain"], X_test[0], y_test[0], EPSILON)
draw_fgsm_row(axes[1:], X_test[0], shown["sign"], shown["adversarial"],
              (CLASSES[shown["clean_class"]], shown["clean_confidence"]),
              (CLASSES[shown["adversarial_class"]], shown["adversarial_confidence"]), EPSILON, shape=(SIDE, SIDE))
print(f"test image 0 ({CLASSES[y_test[0]]}): plain network says {CLASSES[shown['clean_class']]} on x, "
      f"{CLASSES[shown['adversarial_class']]} ({100 * shown['adversarial_confidence']:.1f} %) on x'")
fig.tight_layout()
plt.show()
