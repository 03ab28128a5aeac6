"""Dropout's cost: in a training step, against PyTorch's nn.Dropout, and Monte-Carlo inference.

    python benchmarks/bench_stochastic.py [--repeats 30] [--threads 1]

Three measurements, each with its variants interleaved in this one process (every
repeat runs each variant as a block whose first call is untimed; medians over the
repeats are reported, with the range of the per-repeat ratios):

1. One SGD step (forward, cross-entropy, backward, update) of a 784-1024-1024-10 ReLU
   MLP through ``minireg.nn``, batch 128, float32, with dropout on the input
   (keep 0.8) and on both hidden layers (keep 0.5), against the same step without the
   dropout layers. Issue 17 wants at most 1.10x.
2. The dropout layer's own forward and backward, minireg ``nn.Dropout(keep=0.5)``
   against PyTorch CPU ``torch.nn.Dropout(p=0.5)``, on the same float32 arrays
   (both outputs are computed from ``x``, both gradients from one upstream ``g``).
   Issue 17 wants minireg at most half of PyTorch's time.
3. Monte-Carlo inference with k masks (``dropout_predict(rule="arithmetic", masks=k)``)
   against k evaluation-mode forward passes of the same model on 1000 inputs. Issue
   17 wants "about k forward passes".
"""
from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=30, help="interleaved repeats (median taken)")
parser.add_argument("--threads", type=int, default=1, help="BLAS threads for NumPy and PyTorch")
args = parser.parse_args()
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_prox import interleaved  # noqa: E402  (the same timing loop: blocks, medians)
from minireg import kernels, losses, nn  # noqa: E402
from minireg.optim import SGD  # noqa: E402
from minireg.tensor import Tensor, no_grad  # noqa: E402

torch.set_num_threads(args.threads)


def report(times, numerator, denominator, label):
    ratios = np.array(times[numerator]) / np.array(times[denominator])
    medians = {name: np.median(values) * 1e3 for name, values in times.items()}
    parts = "  ".join(f"{name} {value:8.3f} ms" for name, value in medians.items())
    print(f"  {parts}  ->  {label} = {medians[numerator] / medians[denominator]:.3f} "
          f"(per-repeat {ratios.min():.3f}-{ratios.max():.3f})")


def mlp(dropout: bool):
    layers = [nn.Dropout(keep=0.8, rng=1)] if dropout else []
    for i, (n_in, n_out) in enumerate(zip((784, 1024, 1024), (1024, 1024, 10))):
        layers.append(nn.Linear(n_in, n_out, rng=10 + i))
        if n_out != 10:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(keep=0.5, rng=2 + i))
    return nn.Sequential(*layers)


def training_step(model, x, y):
    optimizer = SGD(model.parameters(), lr=0.01)

    def step():
        model.zero_grad()
        losses.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def main():
    if kernels.compiled_status()["dropout"] != "compiled":
        raise SystemExit("the compiled dropout kernel is not built (or MINIREG_PURE_NUMPY asks for the twins)")
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, {args.repeats} interleaved repeats, float32")

    print("1. training step, 784-1024-1024-10 MLP, batch 128")
    x, y = Tensor(rng.random((128, 784), dtype=np.float32)), rng.integers(0, 10, size=128)
    steps = {"no dropout": training_step(mlp(False), x, y), "dropout": training_step(mlp(True), x, y)}
    report(interleaved(steps, 3, args.repeats), "dropout", "no dropout", "dropout / no dropout")

    print("2. dropout layer forward + backward, keep 0.5 (torch p = 0.5)")
    for shape in [(128, 1024), (1024, 1024)]:
        data = rng.standard_normal(shape, dtype=np.float32)
        upstream = rng.standard_normal(shape, dtype=np.float32)
        ours, theirs = nn.Dropout(keep=0.5, rng=0), torch.nn.Dropout(p=0.5)
        x_ours = Tensor(data, requires_grad=True)
        x_torch, g_torch = torch.from_numpy(data).requires_grad_(), torch.from_numpy(upstream)

        def minireg_layer():
            x_ours.grad = None
            ours(x_ours).backward(upstream)

        def torch_layer():
            x_torch.grad = None
            theirs(x_torch).backward(g_torch)

        print(f"  {shape}:")
        report(interleaved({"minireg": minireg_layer, "torch": torch_layer}, 10, args.repeats),
               "minireg", "torch", "minireg / torch")

    print("3. inference on 1000 inputs, the MLP of 1")
    model, X = mlp(True), rng.random((1000, 784), dtype=np.float32)
    for k in (1, 10):
        def forward_passes():
            model.eval()
            with no_grad():
                for _ in range(k):
                    model(Tensor(X))
            model.train()

        def monte_carlo():
            nn.dropout_predict(model, X, rule="arithmetic", masks=k)

        print(f"  k = {k}:")
        report(interleaved({f"{k} eval passes": forward_passes, f"MC, {k} masks": monte_carlo}, 2,
                           max(5, args.repeats // 3)),
               f"MC, {k} masks", f"{k} eval passes", "MC / k passes")


if __name__ == "__main__":
    main()
