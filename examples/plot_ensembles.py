"""
Bagging, seed ensembles and dropout: test error against the number of members
=============================================================================

Deep Learning 7.10 (published 7.11): k networks trained separately and averaged make
partly independent errors, so the ensemble's squared error v/k + (k-1)c/k falls from v
towards c. Bagging trains member i on a bootstrap resample of the training set; a seed
ensemble trains every member on all of it, from a different initialization and
minibatch order. Dropout trains one network, an implicit ensemble of sub-networks
(7.11, published 7.12), whose Monte-Carlo average over k masks is plotted beside them.
The right panel shows the members' v and c and the ensemble's squared error against k.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.training import Trainer, ensemble_errors, error_decomposition, fit_ensemble

rng = np.random.default_rng(0)
X = rng.normal(size=(1400, 10)).astype(np.float32)
y = (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(np.int64)
X_train, y_train, X_test, y_test = X[:400], y[:400], X[400:], y[400:]
K = 10


def build(i, dropout=False):
    hidden = [nn.ReLU(), nn.Dropout(keep=0.5, rng=100 + i)] if dropout else [nn.ReLU()]
    model = nn.Sequential(nn.Linear(10, 100, rng=i), *hidden, nn.Linear(100, 2, rng=50 + i))
    return Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.05, momentum=0.9))


curves, decompositions = {}, {}
for name, bootstrap in (("bagging", True), ("seeds", False)):
    ensemble = fit_ensemble(build, X_train, y_train, k=K, batch_size=32, bootstrap=bootstrap, rng=1, epochs=30)
    members = ensemble.member_probabilities(X_test)
    curves[name] = ensemble_errors(members, y_test)
    onehot = np.eye(2)[y_test]
    decompositions[name] = [error_decomposition(members[:k], onehot) for k in range(2, K + 1)]
    alone = (members.argmax(axis=2) != y_test).mean(axis=1)
    print(f"{name}: members {alone.min():.3f}-{alone.max():.3f} (mean {alone.mean():.3f}), "
          f"ensemble of {K} {curves[name][-1]:.3f}; "
          f"v = {decompositions[name][-1]['v']:.3f}, c = {decompositions[name][-1]['c']:.3f}")

trainer = build(0, dropout=True)
trainer.fit(DataLoader(X_train, y_train, 32, shuffle=True, rng=2), epochs=30)
mc = [np.mean(nn.dropout_predict(trainer.model, X_test, rule="arithmetic", masks=k).argmax(1) != y_test)
      for k in range(1, K + 1)]
scaled = np.mean(nn.dropout_predict(trainer.model, X_test).argmax(1) != y_test)
print(f"dropout: weight scaling {scaled:.3f}, MC with {K} masks {mc[-1]:.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
ks = np.arange(1, K + 1)
for name, style in (("bagging", "o-"), ("seeds", "s-")):
    left.plot(ks, curves[name], style, label=f"{name} ensemble")
left.plot(ks, mc, "^--", label="dropout, MC over k masks")
left.axhline(scaled, color="black", lw=0.8, label="dropout, weight scaling")
left.set(xlabel="k", ylabel="test error", title="error against the number of members")
left.legend(fontsize=8)
for name, style in (("bagging", "o"), ("seeds", "s")):
    d = decompositions[name]
    right.plot(ks[1:], [r["ensemble"] for r in d], style, label=f"{name}: measured")
    right.plot(ks[1:], [r["v"] / r["k"] + (r["k"] - 1) * r["c"] / r["k"] for r in d], "k-", lw=0.6)
right.set(xlabel="k", ylabel="squared error of p(y|x)", title="v/k + (k-1)c/k (lines) and measured")
right.legend(fontsize=8)
fig.tight_layout()
plt.show()
