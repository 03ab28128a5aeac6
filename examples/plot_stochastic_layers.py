"""
Stochastic layers side by side: dropout, fast dropout, DropConnect, noise
=========================================================================

Left: the input of one unit under dropout of its 100 inputs (keep 0.5), sampled 20 000
times, against the Gaussian that fast dropout (Wang and Manning 2013) draws from
instead, with the mean and variance of :func:`minireg.nn.dropout_moments`.

Right: the same small, overfitting MLP trained with each of the stochastic layers of
:mod:`minireg.nn` (Deep Learning 7.6 and 7.11, published 7.5 and 7.12), and its test
error in evaluation mode.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import functional as F
from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.tensor import Tensor
from minireg.training import Trainer

rng = np.random.default_rng(0)
x, w = rng.normal(size=(1, 100)), rng.normal(size=(100, 1)) / 10
mean, variance = nn.dropout_moments(Tensor(x), Tensor(w), None, keep=0.5)
draws = np.array([(F.dropout(Tensor(x), 0.5, rng).data @ w).item() for _ in range(20000)])
print(f"unit input under dropout: mean {draws.mean():.3f} (Gaussian {mean.item():.3f}), "
      f"variance {draws.var():.3f} (Gaussian {variance.item():.3f})")

X = rng.normal(size=(1400, 20)).astype(np.float32)
y = (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(np.int64)
X_train, y_train, X_test, y_test = X[:400], y[:400], X[400:], y[400:]
builders = {
    "none": lambda: [nn.Linear(20, 200, rng=1), nn.ReLU()],
    "Dropout": lambda: [nn.Dropout(keep=0.8, rng=2), nn.Linear(20, 200, rng=1), nn.ReLU(),
                        nn.Dropout(keep=0.5, rng=3)],
    "FastDropout": lambda: [nn.FastDropoutLinear(20, 200, keep=0.8, rng=1), nn.ReLU()],
    "DropConnect": lambda: [nn.DropConnectLinear(20, 200, keep=0.5, activation=nn.ReLU(), rng=1)],
    "GaussianNoise": lambda: [nn.GaussianNoise(0.3, rng=2), nn.Linear(20, 200, rng=1), nn.ReLU(),
                              nn.GaussianNoise(0.3, rng=3)],
    "WeightNoise": lambda: [nn.WeightNoise(nn.Linear(20, 200, rng=1), 0.05, rng=2), nn.ReLU()],
}
errors = {}
for name, build in builders.items():
    model = nn.Sequential(*build(), nn.Linear(200, 2, rng=4))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.05, momentum=0.9))
    trainer.fit(DataLoader(X_train, y_train, 32, rng=5), epochs=30)
    errors[name] = trainer.evaluate(X_test, y_test)["error"]
    print(f"{name:>13}: test error {errors[name]:.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
left.hist(draws, bins=60, density=True, alpha=0.5, label="dropout, 20 000 masks")
grid = np.linspace(draws.min(), draws.max(), 200)
left.plot(grid, np.exp(-(grid - mean.item()) ** 2 / (2 * variance.item())) / np.sqrt(2 * np.pi * variance.item()),
          label="fast dropout's Gaussian")
left.set(xlabel="input of one unit", ylabel="density", title="fast dropout's approximation")
left.legend(fontsize=8)
right.bar(list(errors), list(errors.values()), color="tab:blue")
right.set(ylabel="test error", title="one MLP, each stochastic layer")
right.tick_params(axis="x", rotation=30)
fig.tight_layout()
plt.show()
