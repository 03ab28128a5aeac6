"""
Dropout at test time: weight scaling against Monte-Carlo averages of k masks
============================================================================

A network trained with :class:`minireg.nn.Dropout` can predict three ways
(:func:`minireg.nn.dropout_predict`): the weight scaling rule (one deterministic pass;
the default), the arithmetic mean of the distributions of k sampled sub-networks, or
their renormalized geometric mean (Deep Learning 7.11, published 7.12, eq. 7.30). The
plot shows the test error and the test log-loss of the two Monte-Carlo rules against k,
beside weight scaling; the tutorial's 10-20 masks are shaded. Which rule is best is
problem-dependent, as the chapter says.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.training import Trainer

rng = np.random.default_rng(0)
X = rng.normal(size=(1600, 20)).astype(np.float32)
y = (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.2 * rng.normal(size=1600) > 0).astype(np.int64)
X_train, y_train, X_test, y_test = X[:600], y[:600], X[600:], y[600:]

model = nn.Sequential(nn.Dropout(keep=0.8, rng=1), nn.Linear(20, 200, rng=2), nn.ReLU(),
                      nn.Dropout(keep=0.5, rng=3), nn.Linear(200, 2, rng=4))
trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.05, momentum=0.9))
trainer.fit(DataLoader(X_train, y_train, 32, rng=5), epochs=40)


def error_and_log_loss(p):
    return np.mean(p.argmax(axis=1) != y_test), -np.mean(np.log(p[np.arange(len(y_test)), y_test] + 1e-12))


scaled = error_and_log_loss(nn.dropout_predict(model, X_test))
ks = [1, 2, 5, 10, 20, 50, 100]
curves = {rule: [error_and_log_loss(nn.dropout_predict(model, X_test, rule=rule, masks=k)) for k in ks]
          for rule in ("arithmetic", "geometric")}
print(f"weight scaling: test error {scaled[0]:.3f}, log-loss {scaled[1]:.3f}")
for rule, values in curves.items():
    print(f"{rule} mean of k masks: " + ", ".join(f"k={k}: {e:.3f}" for k, (e, _) in zip(ks, values)))

fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
for ax, index, label in zip(axes, (0, 1), ("test error", "test log-loss")):
    ax.axhline(scaled[index], color="black", lw=1, label="weight scaling")
    for rule, style in (("arithmetic", "o-"), ("geometric", "s--")):
        ax.plot(ks, [v[index] for v in curves[rule]], style, label=f"MC, {rule} mean")
    ax.axvspan(10, 20, color="gray", alpha=0.15)
    ax.set(xscale="log", xlabel="k, sampled masks", ylabel=label)
axes[0].legend(fontsize=8)
fig.suptitle("dropout inference rules (shaded: the tutorial's 10-20 masks)")
fig.tight_layout()
plt.show()
