"""
Learning to share: GrOWL, then clustering, tying and retraining
================================================================

GrOWL's pipeline (Zhang et al., ICLR 2018, Fig. 1) on the correlated synthetic data of
its §4.1 (10 blocks of 50 correlated features among 784): train a 784-30-10 network with
the GrOWL prox on its first layer, cluster the first layer's rows by affinity propagation
on their eq. (10) similarities, tie each cluster to its centroid
(:func:`minireg.compression.tie_rows`), and retrain one centroid per cluster (eq. (11)).
Group Lasso, which prunes rows but does not tie them, runs beside it. The plot shows the
similarity of the tied rows (in feature order, i.e. block by block): GrOWL makes the rows
of a block nearly equal, so they fall into few clusters, and the tied model stores far
fewer numbers.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg import losses, nn
from minireg.compression import compression_ratio, parameter_sharing, similarity_matrix, sparsity
from minireg.datasets import DataLoader
from minireg.datasets.synthetic import growl_synthetic
from minireg.optim import SGD
from minireg.regularizers import ProxGroupLasso, ProxGrOWL
from minireg.training import Trainer, learn_to_share

data = growl_synthetic(0, n_train=1000, n_test=1000)
first_layer = {"layers.0": 1.0}
regularizers = {"GrOWL (p = 0.5)": ProxGrOWL(0.1, 0.001, p=0.5, params=first_layer),
                "group Lasso": ProxGroupLasso(0.1, params=first_layer)}


def make_trainer(model, regularizers=()):
    return Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.01, momentum=0.9),
                   regularizers=regularizers)


similarities = {}
for name, regularizer in regularizers.items():
    model = nn.Sequential(nn.Linear(784, 30, rng=1), nn.ReLU(), nn.Linear(30, 10, rng=2))
    trainer = make_trainer(model, [regularizer])

    def remember_the_trained_rows(tied_model, name=name):
        # called between tying and retraining: keep the similarity map of the tied rows
        similarities[name] = similarity_matrix(tied_model.layers[0].expanded_weight())
        return make_trainer(tied_model)

    result = learn_to_share(trainer, DataLoader(data.X_train, data.y_train, 50, rng=0), epochs=10,
                            layers="layers.0", make_retrainer=remember_the_trained_rows, retrain_epochs=1,
                            preference=0.6, damping=0.9)
    error = result.retrainer.evaluate(data.X_test, data.y_test)["error"]
    first = ["layers.0"]
    print(f"{name:16s} clusters {result.tying[0].n_clusters:3d} of {result.tying[0].rows.size} kept rows, "
          f"sparsity {sparsity(model, first):.2f}, parameter sharing {parameter_sharing(model, first):.1f}, "
          f"compression {compression_ratio(model, first):.1f}x, test error {error:.3f}")

figure, axes = plt.subplots(1, 2, figsize=(9, 4.3))
for ax, (name, S) in zip(axes, similarities.items()):
    image = ax.imshow(S, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_title(f"{name}: row similarity, eq. (10)")
    ax.set_xlabel("feature")
axes[0].set_ylabel("feature")
figure.colorbar(image, ax=axes, shrink=0.8)
plt.show()
