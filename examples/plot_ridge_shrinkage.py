"""
L2 regularization is ridge regression: trained weights against the closed form
==============================================================================

Place 3 of the step (a penalty on the loss). With the squared error, the L2-regularized
objective of Deep Learning eq. 7.2, :math:`\\tfrac{1}{2N}\\lVert Xw - y\\rVert^2 +
\\tfrac{\\alpha}{2}\\lVert w\\rVert^2`, has the closed-form minimizer
:math:`w = (X^\\top X / N + \\alpha I)^{-1} X^\\top y / N` (7.2.1; published 7.1.1).
We train a linear model with :class:`minireg.regularizers.L2` for several α and put the
trained weights beside the closed form: the dots sit on the lines, and every weight
shrinks towards zero as α grows.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.regularizers import L2
from minireg.training import Trainer

rng = np.random.default_rng(0)
N, D = 200, 5
X = rng.normal(size=(N, D)) * np.array([3.0, 1.5, 1.0, 0.5, 0.2])
true_w = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
y = X @ true_w + 0.5 * rng.normal(size=N)


def half_mse(outputs, targets):
    """½ mean squared error, so that the gradient of the data term is Xᵀ(Xw − y)/N."""
    d = outputs[:, 0] - targets
    return 0.5 * (d * d).mean()


alphas = np.logspace(-2, 1.5, 8)
trained, closed = [], []
for alpha in alphas:
    model = nn.Linear(D, 1, bias=False, rng=0).to(np.float64)
    trainer = Trainer(model, half_mse, SGD(model.parameters(), lr=0.05, momentum=0.9), regularizers=[L2(alpha)])
    trainer.fit(DataLoader(X, y, N, shuffle=False), epochs=600)         # full batch: gradient descent
    trained.append(model.weight.data[:, 0].copy())
    closed.append(np.linalg.solve(X.T @ X / N + alpha * np.eye(D), X.T @ y / N))
trained, closed = np.array(trained), np.array(closed)
print("largest gap between trained and closed-form weights:", np.abs(trained - closed).max())

fig, ax = plt.subplots(figsize=(6, 4))
for j in range(D):
    line, = ax.semilogx(alphas, closed[:, j], label=f"w{j + 1}")
    ax.semilogx(alphas, trained[:, j], "o", color=line.get_color())
ax.set_xlabel("α")
ax.set_ylabel("weight")
ax.set_title("L2 penalty: trained (dots) = ridge closed form (lines)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
