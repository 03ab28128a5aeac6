"""A ``Trainer.fit`` epoch on MNIST against the same steps in a bare Python loop.

The network of the GrOWL paper's MNIST table: 784-300-10, ReLU, softmax cross-entropy,
SGD with momentum 0.9, batch 128, float32, no regularizer, over the 60,000 training
images. Two variants, each with its own model, optimizer and loader built from the
same seeds, so that both do exactly the same work (the losses are checked equal):

* ``Trainer.fit`` -- ``trainer.fit(loader, epochs=trainer.epoch + 1)``, one epoch per call;
* ``bare loop``   -- the steps of :meth:`Trainer.train_step` written out in a ``for``
                     loop over the same loader: ``model(Tensor(x))``, ``cross_entropy``,
                     ``zero_grad``, ``backward``, ``step``, ``float(loss.item())``.

Each variant first runs one untimed epoch; then the variants alternate, one timed epoch
each per repeat, and the median over the repeats is reported with the minimum beside it.
``--profile`` prints a cProfile of one ``Trainer.fit`` epoch instead.

Usage::

    python benchmarks/bench_trainer.py [--repeats 7] [--threads 2] [--data-root PATH] [--profile]
"""
from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=7, help="timed epochs per variant (median taken)")
parser.add_argument("--threads", type=int, default=2, help="BLAS threads")
parser.add_argument("--data-root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "..", "..", "shared", "data", "mnist"),
                    help="folder of the MNIST IDX files (default ../shared/data/mnist)")
parser.add_argument("--profile", action="store_true", help="cProfile one Trainer.fit epoch instead")
args = parser.parse_args()

# Before NumPy is loaded. OpenBLAS threads that sleep soon after a product (rather than
# spin) keep a shared machine's other jobs from turning the timings into noise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minireg import losses, nn, optim  # noqa: E402
from minireg.datasets import DataLoader, load_mnist  # noqa: E402
from minireg.tensor import Tensor  # noqa: E402
from minireg.training import Trainer  # noqa: E402

BATCH, LR, MOMENTUM = 128, 0.01, 0.9


def make_run(X, y):
    """A fresh model, optimizer and shuffling loader, the same for every call."""
    model = nn.Sequential(nn.Linear(784, 300, rng=1), nn.ReLU(), nn.Linear(300, 10, rng=2))
    optimizer = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loader = DataLoader(X, y, batch_size=BATCH, shuffle=True, rng=3)
    return model, optimizer, loader


def make_trainer_epoch(X, y):
    model, optimizer, loader = make_run(X, y)
    trainer = Trainer(model, losses.cross_entropy, optimizer)

    def epoch():
        trainer.fit(loader, epochs=trainer.epoch + 1)
        return trainer.history.values("batch_loss")[-1]

    return epoch


def make_bare_epoch(X, y):
    model, optimizer, loader = make_run(X, y)

    def epoch():
        total, count = 0.0, 0
        for x_batch, y_batch in loader:
            loss = losses.cross_entropy(model(Tensor(x_batch)), y_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.item())
            count += 1
        return total / count

    return epoch


def main():
    X, y = load_mnist("train", root=args.data_root, download=False, flatten=True)
    variants = {"Trainer.fit": make_trainer_epoch(X, y), "bare loop": make_bare_epoch(X, y)}
    if args.profile:
        import cProfile
        import pstats
        epoch = variants["Trainer.fit"]
        epoch()
        profiler = cProfile.Profile()
        profiler.enable()
        epoch()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return

    first = {name: epoch() for name, epoch in variants.items()}  # untimed
    assert first["Trainer.fit"] == first["bare loop"], f"the variants differ: {first}"
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, epoch in variants.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    median = {name: float(np.median(t)) for name, t in times.items()}
    best = {name: float(np.min(t)) for name, t in times.items()}
    steps = -(-len(X) // BATCH)
    print(f"MNIST epoch, 784-300-10, batch {BATCH} ({steps} steps), SGD momentum {MOMENTUM}, "
          f"{args.threads} BLAS threads; {args.repeats} timed epochs each, median and (min); "
          f"load average {os.getloadavg()[0]:.1f}")
    for name in variants:
        print(f"{name:<12} {median[name]:7.3f} s  ({median[name] / steps * 1e3:.3f} ms/step)   "
              f"/ bare loop {median[name] / median['bare loop']:.3f}   "
              f"(min {best[name]:.3f} s, {best[name] / best['bare loop']:.3f})")


if __name__ == "__main__":
    main()
