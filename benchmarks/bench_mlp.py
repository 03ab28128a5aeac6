"""One SGD step of a ReLU MLP: minireg's autograd against NumPy, MyGrad and PyTorch.

The step is forward, softmax cross-entropy, backward, and an SGD update (with momentum
``--momentum``, PyTorch's convention v <- mu v + g, theta <- theta - lr v), on a batch
of 128 float32 inputs. Two networks are measured in the README:

* 784-1024-1024-10, plain SGD (the default; issue 2);
* 784-300-10 with momentum 0.9 (``--sizes 784 300 10 --momentum 0.9``), the network of
  the GrOWL paper's MNIST table, trained for 400 epochs a run (issue 12).

Variants, all timed in this one process:

* ``numpy``      -- the step written out by hand: one GEMM per layer forward, two back
                    per layer (none for the input), the softmax gradient p - onehot, the
                    momentum update in place;
* ``minireg``    -- raw Tensors for the weights, ``minireg.functional`` ops, the update
                    by :class:`minireg.optim.SGD`;
* ``minireg.nn`` -- what a user writes: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``,
                    ``losses.cross_entropy``, ``optim.SGD`` with ``zero_grad``/``step``;
* ``mygrad``     -- MyGrad (when it is installed; it is no dependency of minireg),
                    ``x @ W + b``, ``relu``, ``softmax_crossentropy``, the same update
                    written in NumPy on the ``.data`` arrays;
* ``torch``      -- PyTorch CPU, raw tensors, ``x @ W + b`` and ``F.cross_entropy``,
                    ``torch.optim.SGD``;
* ``torch.nn``   -- PyTorch CPU, ``nn.Sequential`` of ``nn.Linear`` + ``optim.SGD``.

PyTorch runs with as many threads as NumPy's BLAS (``--threads``, default 2, set for
both). The variants are interleaved: each repeat runs every variant as a block of
steps whose first step is untimed, and the reported time is the median per step over
the repeats; the minimum over the repeats (the least disturbed block, useful on a
shared machine) is printed beside it. Ratios are to ``numpy`` and to the faster of the
two PyTorch variants.

Usage::

    python benchmarks/bench_mlp.py [--sizes 784 300 10] [--momentum 0.9] [--repeats 40]
                                   [--steps 3] [--threads 2] [--profile]
"""
from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--sizes", type=int, nargs="+", default=[784, 1024, 1024, 10],
                    help="layer widths, input first (default 784 1024 1024 10)")
parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (default 0)")
parser.add_argument("--repeats", type=int, default=40, help="interleaved repeats (median taken)")
parser.add_argument("--steps", type=int, default=3, help="timed steps per block")
parser.add_argument("--threads", type=int, default=2, help="BLAS threads for NumPy and PyTorch")
parser.add_argument("--profile", action="store_true", help="cProfile 200 minireg.nn steps instead")
args = parser.parse_args()

# Thread settings must be in place before NumPy (and its OpenBLAS) is loaded. PyTorch
# shares the process, so OpenBLAS's idle threads must sleep soon (OPENBLAS_THREAD_TIMEOUT)
# rather than spin against PyTorch's.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from interleave import interleaved  # noqa: E402 (benchmarks/interleave.py)
import minireg.functional as F  # noqa: E402
from minireg import losses, nn, optim  # noqa: E402
from minireg.tensor import Tensor  # noqa: E402

BATCH, SIZES, LR, MOMENTUM = 128, tuple(args.sizes), 0.01, args.momentum


def make_problem(seed=0):
    """Inputs, labels and He-initialized (in, out) weights, all float32."""
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=BATCH)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        params += [w, np.zeros(fan_out, dtype=np.float32)]
    return x, y, params


# ---- (a) hand-written NumPy ----------------------------------------------------------------


def make_numpy(params, x, y):
    params = [p.copy() for p in params]
    velocities = [np.zeros_like(p) for p in params]
    rows = np.arange(BATCH)

    def step():
        weights, biases = params[0::2], params[1::2]
        activations = [x]
        for w, b in zip(weights[:-1], biases[:-1]):
            activations.append(np.maximum(activations[-1] @ w + b, 0))
        logits = activations[-1] @ weights[-1] + biases[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        exps = np.exp(shifted)
        sums = exps.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, y]))
        d_out = exps / sums
        d_out[rows, y] -= 1
        d_out /= BATCH
        grads = []
        for layer in reversed(range(len(weights))):
            grads += [d_out.sum(axis=0), activations[layer].T @ d_out]  # bias, weight
            if layer > 0:
                d_out = (d_out @ weights[layer].T) * (activations[layer] > 0)
        for p, v, g in zip(params, velocities, reversed(grads)):
            if MOMENTUM:
                v *= MOMENTUM
                v += g
                g = v
            p -= LR * g
        return loss

    return step


# ---- (b) minireg autograd, raw Tensors --------------------------------------------------------


def make_minireg(params, x, y):
    params = [Tensor(p.copy(), requires_grad=True) for p in params]
    optimizer = optim.SGD(params, lr=LR, momentum=MOMENTUM)
    rows = np.arange(BATCH)

    def step():
        optimizer.zero_grad()
        h = Tensor(x)
        for w, b in zip(params[0:-2:2], params[1:-2:2]):
            h = F.relu(h @ w + b)
        logits = h @ params[-2] + params[-1]
        loss = -F.mean(F.getitem(F.log_softmax(logits, axis=1), (rows, y)))
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


# ---- (b') minireg.nn: what a user writes ------------------------------------------------------


def make_minireg_nn(params, x, y):
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for layer, w, b in zip(linears, params[0::2], params[1::2]):
        layer.weight.data[...] = w
        layer.bias.data[...] = b
    optimizer = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        optimizer.zero_grad()
        loss = losses.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


# ---- (c) MyGrad, when it is installed ---------------------------------------------------------


def make_mygrad(params, x, y):
    """The step in MyGrad, or None if MyGrad is not installed."""
    try:
        import mygrad as mg
        from mygrad.nnet.activations import relu
        from mygrad.nnet.losses import softmax_crossentropy
    except ImportError:
        return None
    tensors = [mg.Tensor(p.copy()) for p in params]
    velocities = [np.zeros_like(p) for p in params]

    def step():
        h = x
        for w, b in zip(tensors[0:-2:2], tensors[1:-2:2]):
            h = relu(h @ w + b)
        loss = softmax_crossentropy(h @ tensors[-2] + tensors[-1], y)
        loss.backward()
        for p, v in zip(tensors, velocities):  # MyGrad has no optimizers: the update by hand
            g = p.grad
            if MOMENTUM:
                v *= MOMENTUM
                v += g
                g = v
            p.data -= LR * g
        return loss.item()

    return step


# ---- (d) PyTorch CPU -------------------------------------------------------------------------


def make_torch(params, x, y):
    import torch
    torch.set_num_threads(args.threads)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    raw = [torch.tensor(p, requires_grad=True) for p in params]
    raw_optimizer = torch.optim.SGD(raw, lr=LR, momentum=MOMENTUM)

    def raw_step():
        raw_optimizer.zero_grad(set_to_none=True)
        h = tx
        for w, b in zip(raw[0:-2:2], raw[1:-2:2]):
            h = torch.relu(h @ w + b)
        loss = torch.nn.functional.cross_entropy(h @ raw[-2] + raw[-1], ty)
        loss.backward()
        raw_optimizer.step()
        return loss.item()

    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    with torch.no_grad():
        for layer, w, b in zip(model[0::2], params[0::2], params[1::2]):
            layer.weight.copy_(torch.from_numpy(w.T.copy()))  # torch stores (out, in)
            layer.bias.copy_(torch.from_numpy(b))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def nn_step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        optimizer.step()
        return loss.item()

    return raw_step, nn_step


def profile(step):
    import cProfile
    import pstats
    for _ in range(3):
        step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(200):
        step()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main():
    x, y, params = make_problem()
    variants = {
        "numpy": make_numpy(params, x, y),
        "minireg": make_minireg(params, x, y),
        "minireg.nn": make_minireg_nn(params, x, y),
    }
    if args.profile:
        profile(variants["minireg.nn"])
        return
    mygrad_step = make_mygrad(params, x, y)
    if mygrad_step is not None:
        variants["mygrad"] = mygrad_step
    variants["torch"], variants["torch.nn"] = make_torch(params, x, y)

    # The same first two steps everywhere (the second one after a momentum update): a
    # check that all variants compute one thing.
    for _ in range(2):
        first = {name: step() for name, step in variants.items()}
        spread = max(first.values()) - min(first.values())
        assert spread < 1e-4, f"variants disagree on the loss: {first}"

    times = interleaved(variants, args.repeats, args.steps)
    median = {name: float(np.median(t)) for name, t in times.items()}
    best = {name: float(np.min(t)) for name, t in times.items()}
    torch_median = min(median["torch"], median["torch.nn"])
    torch_best = min(best["torch"], best["torch.nn"])

    load = os.getloadavg()[0]
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, SGD momentum {MOMENTUM}, "
          f"{args.threads} threads; {args.repeats} blocks of {args.steps} steps; median and (min) "
          f"over blocks; load average {load:.1f}")
    print(f"{'variant':<12} {'ms/step':>8} {'/ numpy':>8} {'/ torch':>8}   "
          f"{'(min ms)':>8} {'(/ numpy)':>9} {'(/ torch)':>9}")
    for name in median:
        m, b = median[name], best[name]
        print(f"{name:<12} {m * 1e3:8.3f} {m / median['numpy']:8.2f} {m / torch_median:8.2f}   "
              f"{b * 1e3:8.3f} {b / best['numpy']:9.2f} {b / torch_best:9.2f}")


if __name__ == "__main__":
    main()
