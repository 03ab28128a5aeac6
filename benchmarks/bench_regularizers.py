"""The cost of a regularizer per step: the 784-300-10 MLP step with and without it.

The network of the GrOWL table (784-300-10, ReLU, batch 128, float32, SGD with momentum
0.9) trained with minireg's Trainer. Each variant is timed as a ratio to the plain step
in the same process:

* ``L2``                 -- ``L2(1e-4)`` on the weights (a penalty, place 3);
* ``GrOWL every step``   -- ``ProxGrOWL`` on the first layer after every update (place 5);
* ``GrOWL every epoch``  -- the same once per epoch of 469 steps (MNIST at batch 128):
                            the epoch's time is 469 plain steps plus one prox, so the
                            ratio reported is (469 · plain + prox) / (469 · plain);
* ``input gradient``     -- ``InputGradientPenalty(nu, of="loss")`` by double backprop,
                            beside PyTorch's same penalty (``torch.autograd.grad`` with
                            ``create_graph=True``) as a ratio to PyTorch's plain step;
* ``adversarial``        -- ``AdversarialTraining(0.1)``, FGSM adversarial training (two
                            forward passes, a backward pass to the inputs, the backward
                            pass through both), beside PyTorch's same step (``x'`` from
                            ``torch.autograd.grad``, detached).

The variants are interleaved: each repeat runs every variant as a block of steps whose
first step is untimed (it absorbs the previous variant's still-spinning threads), and
the reported time is the median per step over the repeats.

Usage::

    python benchmarks/bench_regularizers.py [--repeats 30] [--steps 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=30, help="interleaved repeats (median taken)")
parser.add_argument("--steps", type=int, default=5, help="timed steps per block")
parser.add_argument("--threads", type=int, default=2, help="BLAS threads for NumPy and PyTorch")
args = parser.parse_args()

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from interleave import interleaved  # noqa: E402 (benchmarks/interleave.py)
from minireg import losses, nn  # noqa: E402
from minireg.optim import SGD  # noqa: E402
from minireg.regularizers import L2, AdversarialTraining, InputGradientPenalty, ProxGrOWL  # noqa: E402
from minireg.training import Trainer  # noqa: E402

BATCH, STEPS_PER_EPOCH = 128, 469
rng = np.random.default_rng(0)
X = rng.random((BATCH, 784), dtype=np.float32)
Y = rng.integers(0, 10, size=BATCH)


def trainer_with(regularizers_of):
    model = nn.Sequential(nn.Linear(784, 300, rng=0), nn.ReLU(), nn.Linear(300, 10, rng=1))
    return Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.01, momentum=0.9),
                   regularizers=regularizers_of(model))


variants = {
    "plain": trainer_with(lambda m: []),
    "L2": trainer_with(lambda m: [L2(1e-4)]),
    "GrOWL every step": trainer_with(lambda m: [ProxGrOWL(1e-4, 1e-5, params=[m[0].weight])]),
    "input gradient": trainer_with(lambda m: [InputGradientPenalty(1e-3, of="loss")]),
    "adversarial": trainer_with(lambda m: [AdversarialTraining(0.1)]),
}
growl_epoch = ProxGrOWL(1e-4, 1e-5, every="epoch", params=[variants["plain"].model[0].weight])
growl_epoch.attach(variants["plain"].model)


def minireg_block(trainer):
    def run():
        trainer.train_step(X, Y)
    return run


def prox_block():
    growl_epoch.apply(0.01)


blocks = {name: minireg_block(trainer) for name, trainer in variants.items()}
blocks["prox alone"] = prox_block

try:
    import torch

    torch.set_num_threads(args.threads)
    tx, ty = torch.tensor(X), torch.tensor(Y)

    def torch_trainer(penalized, adversarial=False):
        model = torch.nn.Sequential(torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def run():
            x = tx.requires_grad_(penalized or adversarial)
            loss = torch.nn.functional.cross_entropy(model(x), ty)
            if penalized:
                g, = torch.autograd.grad(loss, x, create_graph=True)
                loss = loss + 1e-3 * BATCH * g.square().sum()
            if adversarial:
                g, = torch.autograd.grad(loss, x, retain_graph=True)
                x_adv = (x + 0.1 * g.sign()).clamp(0, 1).detach()
                loss = 0.5 * loss + 0.5 * torch.nn.functional.cross_entropy(model(x_adv), ty)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return run

    blocks["torch plain"] = torch_trainer(False)
    blocks["torch input gradient"] = torch_trainer(True)
    blocks["torch adversarial"] = torch_trainer(False, adversarial=True)
except ImportError:
    torch = None

times = interleaved(blocks, args.repeats, args.steps)

median = {name: float(np.median(values)) for name, values in times.items()}
plain = median["plain"]
print(f"median time per step over {args.repeats} blocks of {args.steps} steps, {args.threads} BLAS threads")
for name in ("plain", "L2", "GrOWL every step", "input gradient", "adversarial"):
    print(f"  {name:<20} {median[name] * 1e3:8.3f} ms   {median[name] / plain:5.2f}x plain")
epoch_ratio = (STEPS_PER_EPOCH * plain + median["prox alone"]) / (STEPS_PER_EPOCH * plain)
print(f"  {'GrOWL every epoch':<20} prox {median['prox alone'] * 1e3:.3f} ms per epoch of {STEPS_PER_EPOCH} steps: "
      f"{epoch_ratio:.3f}x plain per epoch")
if torch is not None:
    torch_ratio = median["torch input gradient"] / median["torch plain"]
    ours = median["input gradient"] / plain
    print(f"  torch plain {median['torch plain'] * 1e3:.3f} ms, torch input gradient "
          f"{median['torch input gradient'] * 1e3:.3f} ms: {torch_ratio:.2f}x; minireg's ratio {ours:.2f}x "
          f"is {ours / torch_ratio:.2f}x torch's")
    torch_ratio = median["torch adversarial"] / median["torch plain"]
    ours = median["adversarial"] / plain
    print(f"  torch adversarial {median['torch adversarial'] * 1e3:.3f} ms: {torch_ratio:.2f}x torch plain; "
          f"minireg's ratio {ours:.2f}x is {ours / torch_ratio:.2f}x torch's")
