"""The cost of a multi-task step: a shared trunk with two heads against one head.

The network of ``examples/plot_multitask.py`` (784-256-256 ReLU trunk, batch 100,
float32, SGD with momentum 0.9) through ``Trainer.train_step``:

* ``single task``  -- ``Sequential(trunk, Linear(256, 10))`` with ``cross_entropy``;
* ``multi-task``   -- ``MultiTask(trunk, {digit: Linear(256, 10), parity: Linear(256, 2)})``
                      with ``MultiTaskLoss``, a third of the digit labels ``MISSING``.

The two are interleaved: each repeat runs both as a block of steps whose first step is
untimed, and the reported time is the median per step over the repeats.

Usage::

    python benchmarks/bench_multitask.py [--repeats 30] [--steps 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import functools
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=30, help="interleaved repeats (median taken)")
parser.add_argument("--steps", type=int, default=5, help="timed steps per block")
parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
args = parser.parse_args()

os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from interleave import interleaved  # noqa: E402 (benchmarks/interleave.py)
from minireg import losses, nn  # noqa: E402
from minireg.optim import SGD  # noqa: E402
from minireg.training import Trainer  # noqa: E402
from minireg.training.multitask import MISSING, MultiTask, MultiTaskLoss  # noqa: E402

BATCH = 100
rng = np.random.default_rng(0)
x = rng.uniform(size=(BATCH, 784)).astype(np.float32)
digits = rng.integers(0, 10, size=BATCH)
targets = np.stack([np.where(np.arange(BATCH) % 3 == 0, MISSING, digits), digits % 2], axis=1)


def trunk():
    return nn.Sequential(nn.Linear(784, 256, rng=1), nn.ReLU(), nn.Linear(256, 256, rng=2), nn.ReLU())


single = nn.Sequential(trunk(), nn.Linear(256, 10, rng=3))
multi = MultiTask(trunk(), {"digit": nn.Linear(256, 10, rng=3), "parity": nn.Linear(256, 2, rng=4)})
variants = {
    "single task": (Trainer(single, losses.cross_entropy, SGD(single.parameters(), lr=0.01, momentum=0.9)), digits),
    "multi-task": (Trainer(multi, MultiTaskLoss(multi), SGD(multi.parameters(), lr=0.01, momentum=0.9)), targets),
}
times = interleaved({name: functools.partial(trainer.train_step, x, y) for name, (trainer, y) in variants.items()},
                    args.repeats, args.steps)
plain = np.median(times["single task"])
for name, values in times.items():
    print(f"{name:>12}: {1000 * np.median(values):.3f} ms per step, {np.median(values) / plain:.2f}x")
