"""The cost of the data-side transforms against the LeNet training step they feed.

A batch of 128 MNIST training images (1, 28, 28), float32. The reference is one
``Trainer.train_step`` of the LeNet-style network of ``minireg run augmentation``
(conv 6 - pool - conv 16 - pool - 120 - 84 - 10, SGD with momentum 0.9) on that batch
without any regularizer. Each transform is timed alone, ``transform(x, y, rng)`` on the
same batch, and reported as a fraction of the plain step:

* ``affine + RandAugment`` -- ``RandomAffine()`` then ``RandAugment(2, 9)``, the pair that
  issue 18 wants within 20 % of the step;
* ``mixup``, ``CutMix``, ``cutout`` -- within 5 %;
* ``random erasing``, ``label smoothing``, and each of the two above alone, for the record.

The variants are interleaved: each repeat runs every variant as a block whose first
call is untimed, and the reported time is the median per call over the repeats.

Usage::

    python benchmarks/bench_data.py [--repeats 20] [--steps 5] [--threads 1] [--data-root PATH]
"""
from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=20, help="interleaved repeats (median taken)")
parser.add_argument("--steps", type=int, default=5, help="timed calls per block")
parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
parser.add_argument("--data-root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "..", "..", "shared", "data", "mnist"),
                    help="folder of the MNIST IDX files (default ../shared/data/mnist)")
args = parser.parse_args()

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from interleave import interleaved  # noqa: E402 (benchmarks/interleave.py)
from minireg import losses  # noqa: E402
from minireg.datasets import load_mnist  # noqa: E402
from minireg.experiments.augmentation import lenet  # noqa: E402
from minireg.optim import SGD  # noqa: E402
from minireg.regularizers.data import (CutMix, Cutout, LabelSmoothing, Mixup, RandAugment,  # noqa: E402
                                       RandomAffine, RandomErasing)
from minireg.training import Trainer  # noqa: E402

BATCH = 128
images, labels = load_mnist("train", root=args.data_root)
X, Y = images[:BATCH], labels[:BATCH]
model = lenet(np.random.default_rng(0))
trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.01, momentum=0.9))
rng = np.random.default_rng(1)
affine, randaugment = RandomAffine(), RandAugment(2, 9.0)


def transform_block(*transforms):
    def run():
        x, y = X, Y
        for transform in transforms:
            x, y = transform.transform(x, y, rng)
    return run


blocks = {
    "plain LeNet step": lambda: trainer.train_step(X, Y),
    "affine + RandAugment": transform_block(affine, randaugment),
    "random affine": transform_block(affine),
    "RandAugment (2, 9)": transform_block(randaugment),
    "mixup": transform_block(Mixup(0.2, 10)),
    "CutMix": transform_block(CutMix(1.0, 10)),
    "cutout": transform_block(Cutout(8)),
    "random erasing": transform_block(RandomErasing()),
    "label smoothing": transform_block(LabelSmoothing(0.1, 10)),
}
WANTED = {"affine + RandAugment": 0.20, "mixup": 0.05, "CutMix": 0.05, "cutout": 0.05}

times = interleaved(blocks, args.repeats, args.steps)

median = {name: float(np.median(values)) for name, values in times.items()}
plain = median["plain LeNet step"]
print(f"median time per call over {args.repeats} blocks of {args.steps}, batch {BATCH}, {args.threads} BLAS threads")
for name, value in median.items():
    wanted = f"   (issue 18 wants <= {WANTED[name]:.0%})" if name in WANTED else ""
    print(f"  {name:<22} {value * 1e3:8.3f} ms   {value / plain:7.1%} of the step{wanted}")
