"""
Input noise and the input-gradient penalty flatten the function alike
======================================================================

Deep Learning 7.6.1 (published 7.5) shows that training on inputs with small Gaussian
noise of variance ν adds, to second order, the penalty ν E‖∇ₓŷ(x)‖² (the last term of
eq. 7.17). This example writes the noise as a data-side regularizer (place 1: a few
lines on the hook protocol) and sets it beside
:class:`~minireg.regularizers.InputGradientPenalty` (place 3, by double
backpropagation) on a 1-D regression: both fits are smoother than the unregularized one.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import nn
from minireg.datasets import DataLoader
from minireg.optim import Adam
from minireg.regularizers import InputGradientPenalty, Regularizer
from minireg.training import Trainer


class GaussianInputNoise(Regularizer):
    """Place 1: x ← x + ε, ε ~ N(0, ν I), drawn from the trainer's generator."""

    def __init__(self, variance):
        self.std = np.sqrt(variance)

    def transform_batch(self, x, y, step):
        return x + step.rng.normal(scale=self.std, size=x.shape).astype(x.dtype), y


def mse(outputs, targets):
    d = outputs - targets
    return (d * d).mean()


rng = np.random.default_rng(0)
X = np.sort(rng.uniform(-3, 3, size=(30, 1)), axis=0)
y = np.sin(X) + 0.3 * rng.normal(size=X.shape)
grid = np.linspace(-3.5, 3.5, 300)[:, None]

nu = 0.1
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(X, y, "k.", label="training data")
for name, regularizer in (("plain", []), (f"input noise, ν = {nu}", [GaussianInputNoise(nu)]),
                          (f"gradient penalty, ν = {nu}", [InputGradientPenalty(nu)])):
    model = nn.Sequential(nn.Linear(1, 64, rng=1), nn.Tanh(), nn.Linear(64, 64, rng=2), nn.Tanh(),
                          nn.Linear(64, 1, rng=3)).to(np.float64)
    trainer = Trainer(model, mse, Adam(model.parameters(), lr=0.01), regularizers=regularizer, rng=0)
    trainer.fit(DataLoader(X, y, 30, rng=0), epochs=800)
    slope = np.abs(np.diff(trainer.predict(X)[:, 0]) / np.diff(X[:, 0])).mean()
    print(f"{name}: training MSE {trainer.evaluate(X, y)['loss']:.3f}, mean |slope| between points {slope:.2f}")
    ax.plot(grid, trainer.predict(grid), label=name)
ax.set(xlabel="x", ylabel="ŷ(x)", title="noise on the inputs ≈ penalty on ∇ₓŷ (eq. 7.17)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
