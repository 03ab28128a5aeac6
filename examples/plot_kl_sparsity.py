"""
Sparse representations: KL sparsity and L1 on a hidden layer's activations
===========================================================================

Place 3 of the step, on a representation rather than on the parameters (Deep Learning
7.9, published 7.10, eq. 7.29). The penalties read the named layer's output through a
forward hook, so the model is used as it is. :class:`~minireg.regularizers.KLSparsity`
pulls each sigmoid unit's mean activation towards ρ; :class:`~minireg.regularizers.ActivationL1`
pushes activations of single examples towards zero.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.regularizers import ActivationL1, KLSparsity
from minireg.training import Trainer

rng = np.random.default_rng(0)
X = rng.normal(size=(1000, 20)).astype(np.float32)
y = (X[:, :3].sum(axis=1) > 0).astype(np.int64)

runs = {"no penalty": [], "KL sparsity, ρ = 0.05": [KLSparsity(2.0, "layers.1", rho=0.05)],
        "L1 on activations": [ActivationL1(0.05, "layers.1")]}
fig, ax = plt.subplots(figsize=(6, 4))
for name, penalty in runs.items():
    model = nn.Sequential(nn.Linear(20, 50, rng=1), nn.Sigmoid(), nn.Linear(50, 2, rng=2))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.5, momentum=0.9),
                      regularizers=penalty)
    trainer.fit(DataLoader(X, y, 50, rng=0), epochs=15)
    hidden = nn.Sequential(model[0], model[1])(X).data
    rates = hidden.mean(axis=0)
    print(f"{name}: mean activation {rates.mean():.3f}, training error {trainer.evaluate(X, y)['error']:.3f}")
    ax.hist(rates, bins=np.linspace(0, 1, 41), alpha=0.6, label=name)
ax.set(xlabel="mean activation of a hidden unit over the data", ylabel="units",
       title="representational sparsity (eq. 7.29)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
