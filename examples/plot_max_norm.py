"""
Max-norm: every unit's incoming weights stay in a ball
======================================================

Place 5 of the step (after the update). :class:`minireg.regularizers.MaxNorm` projects
each hidden unit's incoming weight vector -- a column of a dense weight stored
(in, out) -- back onto the ball of radius c whenever a step takes it outside
(Deep Learning 7.3, published 7.2; Srivastava et al. 2014 pair it with dropout). The
plot follows the largest and the median unit norm during training, with and without it.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.regularizers import MaxNorm
from minireg.regularizers.constraints import unit_norms
from minireg.training import Trainer

rng = np.random.default_rng(0)
X = rng.normal(size=(800, 30)).astype(np.float32)
y = (np.sin(X[:, 0] * 2) + X[:, 1] * X[:, 2] > 0).astype(np.int64)

fig, ax = plt.subplots(figsize=(6, 4))
c = 1.5
for name, constraint, style in (("no constraint", [], "--"), (f"MaxNorm({c})", [MaxNorm(c)], "-")):
    model = nn.Sequential(nn.Linear(30, 100, rng=1), nn.ReLU(), nn.Linear(100, 2, rng=2))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.2, momentum=0.9),
                      regularizers=constraint)
    largest, median = [], []
    for epoch in range(15):
        trainer.fit(DataLoader(X, y, 50, rng=epoch), epochs=epoch + 1)
        norms = unit_norms(model[0].weight.data).ravel()
        largest.append(norms.max())
        median.append(np.median(norms))
    print(f"{name}: largest unit norm {largest[-1]:.2f}, training error {trainer.evaluate(X, y)['error']:.3f}")
    ax.plot(range(1, 16), largest, style, label=f"{name}: largest")
    ax.plot(range(1, 16), median, style, label=f"{name}: median", alpha=0.6)
ax.axhline(c, color="gray", lw=0.8)
ax.set(xlabel="epoch", ylabel="‖incoming weights‖ of a hidden unit", title="max-norm constraint")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
