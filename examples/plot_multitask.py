"""
Multi-task learning: parity labels help a digit classifier with few labels
==========================================================================

Deep Learning 7.12 (published 7.7), Fig. 7.6: tasks that share a trunk h^(shared) lend
each other statistical strength. Here, on MNIST, the *digit* task has only 100 labelled
images, and the *parity* task (is the digit odd?) has thousands. One network -- a shared
784-256-256 ReLU trunk, a 10-way digit head and a 2-way parity head -- is trained on the
weighted sum of the two cross-entropies (:class:`~minireg.training.multitask.MultiTaskLoss`),
each image carrying the labels it has (``MISSING`` for the others). The 100 digit
images are repeated so that every minibatch holds some. Against it, the same network
trained on the 100 digit labels alone. The digit test error falls as parity labels are
added: the trunk learns from the images that have no digit label.
"""
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from minireg import nn
from minireg.datasets import DataLoader, load_mnist
from minireg.optim import SGD
from minireg.training import Trainer
from minireg.training.multitask import MISSING, MultiTask, MultiTaskLoss, task_error


def mnist_folder():
    """MNIST beside the checkout (shared/data/mnist, as in this project's CI), else None:
    then $MINIREG_DATA, the cache, or a download. Looked for above this script (the
    script's path is sys.argv[0], also when sphinx-gallery runs it) and the working folder."""
    for start in (Path(sys.argv[0]).resolve(), Path.cwd()):
        for above in start.parents:
            if (above / "shared" / "data" / "mnist").is_dir():
                return above / "shared" / "data" / "mnist"
    return None


X, digits = load_mnist("train", root=mnist_folder(), flatten=True)
X_test, digits_test = load_mnist("test", root=mnist_folder(), flatten=True)
order = np.random.default_rng(0).permutation(len(X))
X, digits = X[order[:5000]], digits[order[:5000]]
X_test, digits_test = X_test[:3000], digits_test[:3000]
test_targets = np.stack([digits_test, digits_test % 2], axis=1)
FEW = 100                                   # images 0..99 carry a digit label


def train(parity_labels, seed):
    """Digit test error of the two-headed network trained with ``parity_labels`` parity labels
    (0: the digit task alone, on its 100 images)."""
    init = np.random.default_rng(seed)
    trunk = nn.Sequential(nn.Linear(784, 256, rng=init), nn.ReLU(), nn.Linear(256, 256, rng=init), nn.ReLU())
    model = MultiTask(trunk, {"digit": nn.Linear(256, 10, rng=init), "parity": nn.Linear(256, 2, rng=init)})
    n = max(FEW, parity_labels)
    targets = np.full((n, 2), MISSING)
    targets[:FEW, 0] = digits[:FEW]
    targets[:parity_labels, 1] = digits[:parity_labels] % 2
    if parity_labels == 0:
        rows, batch, epochs = np.arange(FEW), 20, 100
    else:                                   # the few digit images repeated: about 1/3 of each batch
        rows, batch, epochs = np.concatenate([np.arange(n)] + [np.arange(FEW)] * (n // (2 * FEW))), 100, 4
    trainer = Trainer(model, MultiTaskLoss(model, {"digit": 1.0, "parity": 1.0}),
                      SGD(model.parameters(), lr=0.05, momentum=0.9),
                      metrics={"digit_error": task_error(model, "digit")})
    trainer.fit(DataLoader(X[rows], targets[rows], batch, rng=np.random.default_rng(seed)), epochs=epochs,
                progress=False)
    return trainer.evaluate(X_test, test_targets)["digit_error"]


counts = [0, 1000, 5000]
errors = np.array([train(count, seed=0) for count in counts])
for count, error in zip(counts, errors):
    label = "digit task alone" if count == 0 else f"+ {count} parity labels"
    print(f"{label:>24}: digit test error {100 * error:.1f} %")

fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(counts, 100 * errors, marker="o")
ax.set_xlabel("parity labels (the digit task has 100 labels throughout)")
ax.set_ylabel("digit test error (%)")
ax.set_title("A shared trunk: parity labels help the digit task")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
