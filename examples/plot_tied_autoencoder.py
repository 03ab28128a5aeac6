"""
Parameter sharing: a tied autoencoder, W and Wᵀ
===============================================

Deep Learning 7.8 (published 7.9): instead of penalizing two sets of parameters for
differing, force them to be equal -- *share* them. Here the decoder of an autoencoder
reuses the encoder's weight W, transposed: x̂ = (x W) Wᵀ + c. Autograd adds the
gradients of both uses into the one Parameter, and the optimizer updates it once; the
model has half the weights of an untied one. On data that lies near a 4-dimensional
subspace, a linear autoencoder with a 4-unit code, tied or not, learns that subspace
(the tied one converges to W with orthonormal columns spanning the principal
components), and the tied model reaches the same reconstruction error with half the
weights.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import functional as F
from minireg import nn
from minireg.datasets import DataLoader
from minireg.optim import Adam
from minireg.training import Trainer


class TiedAutoencoder(nn.Module):
    def __init__(self, d, hidden, seed=0):
        super().__init__()
        self.encoder = nn.Linear(d, hidden, rng=seed)
        self.decoder_bias = nn.Parameter(np.zeros(d, dtype=np.float32), kind="bias")

    def forward(self, x):
        return F.matmul(self.encoder(x), F.transpose(self.encoder.weight)) + self.decoder_bias


def untied(d, hidden, seed=0):
    return nn.Sequential(nn.Linear(d, hidden, rng=seed), nn.Linear(hidden, d, rng=seed + 1))


def mse(outputs, targets):
    d = outputs - targets
    return (d * d).mean()


rng = np.random.default_rng(0)
latent = rng.normal(size=(600, 4))
X = (latent @ rng.normal(size=(4, 16)) + 0.1 * rng.normal(size=(600, 16))).astype(np.float32)
X_train, X_test = X[:400], X[400:]

fig, ax = plt.subplots(figsize=(6, 4))
for name, model in (("tied (W, Wᵀ)", TiedAutoencoder(16, 4)), ("untied", untied(16, 4))):
    trainer = Trainer(model, mse, Adam(model.parameters(), lr=0.01))
    curve = []
    for epoch in range(60):
        trainer.fit(DataLoader(X_train, X_train, 40, rng=epoch), epochs=epoch + 1)
        curve.append(trainer.evaluate(X_test, X_test)["loss"])
    n_weights = sum(w.data.size for w in model.weights())
    print(f"{name}: {n_weights} weights, test reconstruction error {curve[-1]:.4f}")
    ax.semilogy(range(1, 61), curve, label=f"{name}: {n_weights} weights")
ax.set(xlabel="epoch", ylabel="test reconstruction error", title="parameter sharing")
ax.legend()
fig.tight_layout()
plt.show()
