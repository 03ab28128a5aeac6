"""
Gradient clipping keeps a large learning rate from throwing the weights away
============================================================================

Place 4 of the step (the gradient side). :class:`minireg.regularizers.ClipGradientNorm`
rescales all gradients together when their joint norm exceeds ``max_norm``, keeping the
direction and bounding the length of each step. With a learning rate too large for the
plain step, the unclipped run's loss jumps; the clipped run's descends.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.regularizers import ClipGradientNorm, Regularizer
from minireg.training import Trainer

rng = np.random.default_rng(0)
X = rng.normal(size=(600, 20)).astype(np.float32) * 3
y = (X[:, :5].sum(axis=1) > 0).astype(np.int64)


class GradientNorm(Regularizer):
    """Records the joint gradient norm the optimizer is about to use (a place-4 probe)."""

    def __init__(self):
        self.norms = []

    def transform_gradients(self, step):
        self.norms.append(float(np.sqrt(sum(np.sum(p.grad.data.astype(np.float64) ** 2)
                                            for p in step.model.parameters()))))


fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
for name, clip in (("plain", []), ("clipped at 1", [ClipGradientNorm(1.0)])):
    model = nn.Sequential(nn.Linear(20, 64, rng=1), nn.Tanh(), nn.Linear(64, 2, rng=2))
    probe = GradientNorm()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=4.0),
                      regularizers=[*clip, probe])
    step_losses = []
    for epoch in range(12):
        for xb, yb in DataLoader(X, y, 30, rng=epoch):
            step_losses.append(trainer.train_step(xb, yb)["loss"])
    print(f"{name}: final training loss {np.mean(step_losses[-20:]):.3f}")
    smooth = np.convolve(step_losses, np.ones(10) / 10, mode="valid")     # a running mean of 10 steps
    left.plot(smooth, label=name)
    right.semilogy(probe.norms, label=name, lw=0.8)
left.set(xlabel="step", ylabel="minibatch loss (mean of 10 steps)", title="loss, learning rate 4")
right.set(xlabel="step", ylabel="‖g‖ the optimizer used", title="gradient norm after clipping")
left.legend()
fig.tight_layout()
plt.show()
