"""GrOWL's costs: affinity propagation against scikit-learn's, and an MNIST epoch of the
784-300-10 network with the GrOWL prox once per epoch against the same work by hand.

1. **Affinity propagation on 784 rows.** The eq. (10) similarities of a 784 x 300 weight
   whose rows come in 60 groups of near-equal rows (a GrOWL-trained layer's shape), then
   ``minireg.compression.affinity_propagation`` and
   ``sklearn.cluster.AffinityPropagation(affinity="precomputed")`` with the same preference
   and damping, alternating; both must find the same clusters (sklearn's noise is drawn
   with ``rng=RandomState(0)``). Target: no slower than scikit-learn.
2. **An epoch.** 60,000 MNIST images, batch 128, SGD momentum 0.9, lr 0.001, float32,
   softmax cross-entropy, the GrOWL prox (Λ1 = 12, Λ2 = 0.215, p = half the rows -- the
   authors' values) on the first layer's rows after the epoch's last step, as the
   authors' code did:

   * ``minireg``: ``Trainer(..., regularizers=[ProxGrOWL(..., every="epoch")]).fit``;
   * ``numpy``: the same steps by hand -- the same batches (the same ``DataLoader``),
     the same matrix products, the momentum update, then ``prox_growl`` on the weight;
   * ``torch``: PyTorch CPU's ``nn.Linear`` network, ``optim.SGD``, and the same prox on
     its weight (transposed: PyTorch stores (out, in)).

   One untimed epoch each, then ``--repeats`` timed epochs each, alternating; median and
   minimum. Target: minireg at most 1.15x numpy.
3. **A retraining epoch of the tied network** (``--retrain-only`` runs this part alone).
   The same network and data; the first layer's rows in 60 groups of near-equal rows,
   40 % of them zero, tied by ``tie_rows``; then one epoch of ``Trainer.fit`` with the
   eq. (11) centroid gradient scattered by ``cluster_sums`` (one sort, ``np.add.reduceat``)
   against the same epoch with the scatter done by ``np.add.at`` (the implementation
   before), alternating.

Usage::

    python benchmarks/bench_growl.py [--repeats 5] [--threads 2] [--data-root PATH] [--skip-epoch]
                                     [--retrain-only]
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant (median taken)")
parser.add_argument("--threads", type=int, default=2, help="BLAS threads")
parser.add_argument("--data-root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "..", "..", "shared", "data", "mnist"),
                    help="folder of the MNIST IDX files (default ../shared/data/mnist)")
parser.add_argument("--skip-epoch", action="store_true", help="no epoch benchmarks: affinity propagation only")
parser.add_argument("--retrain-only", action="store_true", help="only the retraining epoch of the tied network")
args = parser.parse_args()

os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minireg import losses, nn, optim  # noqa: E402
from minireg.compression import affinity_propagation, row_similarity, tie_rows, tying  # noqa: E402
from minireg.datasets import DataLoader, load_mnist  # noqa: E402
from minireg.regularizers import ProxGrOWL  # noqa: E402
from minireg.regularizers.proximal import growl_weights, prox_growl  # noqa: E402
from minireg.training import Trainer  # noqa: E402

BATCH, LR, MOMENTUM = 128, 0.001, 0.9
LAMBDA1, LAMBDA2, P = 12.0, 0.215, 392


def timed(variants: dict, repeats: int) -> dict:
    """``{name: [seconds]}``: each variant called once untimed, then alternately ``repeats`` times."""
    for run in variants.values():
        run()
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def print_times(times: dict, reference: str, unit: str = "s", scale: float = 1.0) -> None:
    median = {name: float(np.median(t)) for name, t in times.items()}
    best = {name: float(np.min(t)) for name, t in times.items()}
    for name in times:
        print(f"  {name:<10} {scale * median[name]:9.3f} {unit} (min {scale * best[name]:.3f})   "
              f"/ {reference} {median[name] / median[reference]:.3f} (min {best[name] / best[reference]:.3f})")


# ---- 1. affinity propagation ------------------------------------------------------------

def bench_affinity_propagation():
    from sklearn.cluster import AffinityPropagation

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 300))
    weight = centres[rng.integers(0, 60, 784)] + 0.3 * rng.normal(size=(784, 300))
    S, _ = row_similarity(weight.astype(np.float32))
    preference, damping = 0.6, 0.9
    ours = affinity_propagation(S, preference, damping=damping, rng=np.random.RandomState(0))
    theirs = AffinityPropagation(affinity="precomputed", preference=preference, damping=damping,
                                 random_state=0).fit(S)
    assert np.array_equal(ours.labels, theirs.labels_), "the clusters differ"
    variants = {
        "minireg": lambda: affinity_propagation(S, preference, damping=damping, rng=np.random.RandomState(0)),
        "sklearn": lambda: AffinityPropagation(affinity="precomputed", preference=preference, damping=damping,
                                               random_state=0).fit(S),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = timed(variants, args.repeats)
    print(f"affinity propagation, 784 rows ({ours.n_clusters} clusters, {ours.n_iter} iterations), "
          f"load average {os.getloadavg()[0]:.1f}")
    print_times(times, "sklearn", "ms", 1e3)


# ---- 2. an epoch with the GrOWL prox ------------------------------------------------------

def initial_weights():
    model = nn.Sequential(nn.Linear(784, 300, rng=1), nn.ReLU(), nn.Linear(300, 10, rng=2))
    return [p.data.copy() for p in model.parameters()]


def make_minireg_epoch(X, y):
    model = nn.Sequential(nn.Linear(784, 300, rng=1), nn.ReLU(), nn.Linear(300, 10, rng=2))
    growl = ProxGrOWL(LAMBDA1, LAMBDA2, p=P, every="epoch", params={"layers.0": 1.0})
    trainer = Trainer(model, losses.cross_entropy, optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM),
                      regularizers=[growl])
    loader = DataLoader(X, y, batch_size=BATCH, shuffle=True, rng=3)

    def epoch():
        trainer.fit(loader, epochs=trainer.epoch + 1)
        return model.layers[0].weight.data

    return epoch


def make_numpy_epoch(X, y):
    W1, b1, W2, b2 = initial_weights()
    params = [W1, b1, W2, b2]
    velocities = [np.zeros_like(p) for p in params]
    lam = growl_weights(784, LAMBDA1, LAMBDA2, P)
    loader = DataLoader(X, y, batch_size=BATCH, shuffle=True, rng=3)

    def epoch():
        for x, labels in loader:
            n = len(x)
            pre = x @ W1
            pre += b1
            h = np.maximum(pre, 0)
            logits = h @ W2
            logits += b2
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(n), labels] -= 1          # d loss / d logits, times n
            g = p / np.float32(n)
            dh = g @ W2.T
            dh *= pre > 0
            grads = [x.T @ dh, dh.sum(axis=0), h.T @ g, g.sum(axis=0)]
            for param, velocity, grad in zip(params, velocities, grads):
                velocity *= MOMENTUM
                velocity += grad
                param -= LR * velocity
        prox_growl(W1, lam, LR, out=W1)
        return W1

    return epoch


def make_torch_epoch(X, y):
    import torch

    torch.set_num_threads(args.threads)
    W1, b1, W2, b2 = initial_weights()
    model = torch.nn.Sequential(torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 10))
    with torch.no_grad():
        for layer, (w, b) in zip((model[0], model[2]), ((W1, b1), (W2, b2))):
            layer.weight.copy_(torch.from_numpy(w.T.copy()))
            layer.bias.copy_(torch.from_numpy(b))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    lam = growl_weights(784, LAMBDA1, LAMBDA2, P)
    loader = DataLoader(X, y, batch_size=BATCH, shuffle=True, rng=3)

    def epoch():
        for x, labels in loader:
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(labels))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            weight = model[0].weight.numpy()       # (out, in): the rows are its columns
            weight[...] = prox_growl(np.ascontiguousarray(weight.T), lam, LR).T
        return weight.T

    return epoch


def bench_epoch():
    X, y = load_mnist("train", root=args.data_root, download=False, flatten=True)
    variants = {"minireg": make_minireg_epoch(X, y), "numpy": make_numpy_epoch(X, y),
                "torch": make_torch_epoch(X, y)}
    first = {name: epoch().copy() for name, epoch in variants.items()}
    for name in ("numpy", "torch"):
        assert np.allclose(first[name], first["minireg"], atol=1e-4), f"{name} computed something else"
    times = timed(variants, args.repeats)
    zero_rows = int(np.count_nonzero(~np.any(first["minireg"], axis=1)))
    print(f"MNIST epoch, 784-300-10, batch {BATCH}, SGD momentum {MOMENTUM}, GrOWL prox once per epoch "
          f"({zero_rows} zero rows after the first); {args.threads} BLAS threads; {args.repeats} timed epochs "
          f"each; load average {os.getloadavg()[0]:.1f}")
    print_times(times, "numpy")


# ---- 3. a retraining epoch of the tied network -----------------------------------------------

CLUSTER_SUMS = tying.cluster_sums        # one sort + np.add.reduceat


def cluster_sums_add_at(values, assignment, n_clusters):
    """The scatter as it was before ``cluster_sums``: ``np.add.at``, one entry at a time."""
    sums = np.zeros((n_clusters,) + values.shape[1:], dtype=values.dtype)
    np.add.at(sums, assignment, values)
    return sums


def make_retrain_epoch(X, y, scatter):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(784, 300, rng=1), nn.ReLU(), nn.Linear(300, 10, rng=2))
    centres = rng.normal(scale=0.05, size=(60, 300))
    weight = centres[rng.integers(0, 60, 784)] + 0.005 * rng.normal(size=(784, 300))
    weight[rng.random(784) < 0.4] = 0.0
    model.layers[0].weight.data[...] = weight
    tie_rows(model, "layers.0", preference=0.6, damping=0.9)
    trainer = Trainer(model, losses.cross_entropy, optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM))
    loader = DataLoader(X, y, batch_size=BATCH, shuffle=True, rng=3)

    def epoch():
        tying.cluster_sums = scatter
        trainer.fit(loader, epochs=trainer.epoch + 1)
        return model.layers[0].centroids.data

    return epoch, model.layers[0]


def bench_retrain_epoch():
    X, y = load_mnist("train", root=args.data_root, download=False, flatten=True)
    fast, tied = make_retrain_epoch(X, y, CLUSTER_SUMS)
    slow, _ = make_retrain_epoch(X, y, cluster_sums_add_at)
    variants = {"reduceat": fast, "add.at": slow}
    first = {name: epoch().copy() for name, epoch in variants.items()}
    assert np.allclose(first["reduceat"], first["add.at"], atol=1e-5), "the two scatters computed something else"
    times = timed(variants, args.repeats)
    print(f"MNIST retraining epoch of the tied 784-300-10 ({tied.rows.size} kept rows in {tied.n_clusters} "
          f"clusters), batch {BATCH}, SGD momentum {MOMENTUM}; {args.threads} BLAS threads; {args.repeats} timed "
          f"epochs each; load average {os.getloadavg()[0]:.1f}")
    print_times(times, "add.at")


if __name__ == "__main__":
    if args.retrain_only:
        bench_retrain_epoch()
    else:
        bench_affinity_propagation()
        if not args.skip_epoch:
            bench_epoch()
            bench_retrain_epoch()
