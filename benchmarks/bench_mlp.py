"""One SGD step of a 784-1024-1024-10 ReLU MLP: minireg's autograd against NumPy and PyTorch.

The step is forward, softmax cross-entropy, backward, and a plain SGD update, on a
batch of 128 float32 inputs. Variants, all timed in this one process:

* ``numpy``          -- the step written out by hand: three GEMMs forward, five back
                        (no gradient for the input), the softmax gradient p - onehot;
* ``minireg``        -- the same model with raw Tensors for the weights, through
                        minireg's autograd (``loss.backward()``);
* ``minireg.nn``     -- through ``minireg.nn.Linear`` and ``minireg.losses.cross_entropy``
                        (only when those modules exist);
* ``torch``          -- PyTorch CPU, raw tensors, ``x @ W + b`` and ``F.cross_entropy``;
* ``torch.nn``       -- PyTorch CPU, ``nn.Sequential`` of ``nn.Linear`` + ``optim.SGD``.

PyTorch runs with as many threads as NumPy's BLAS (``--threads``, default 2, set for
both). The variants are interleaved: each repeat runs every variant as a block of
steps whose first step is untimed, and the reported time is the median per step over
the repeats; the minimum over the repeats (the least disturbed block, useful on a
shared machine) is printed beside it. Ratios are to ``numpy`` and to the faster of the
two PyTorch variants.

Usage::

    python benchmarks/bench_mlp.py [--repeats 40] [--steps 3] [--threads 2] [--profile]
"""
from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=40, help="interleaved repeats (median taken)")
parser.add_argument("--steps", type=int, default=3, help="timed steps per block")
parser.add_argument("--threads", type=int, default=2, help="BLAS threads for NumPy and PyTorch")
parser.add_argument("--profile", action="store_true", help="cProfile 50 minireg steps instead")
args = parser.parse_args()

# Thread settings must be in place before NumPy (and its OpenBLAS) is loaded.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minireg.functional as F  # noqa: E402
from minireg.tensor import Tensor, no_grad  # noqa: E402

BATCH, SIZES, LR = 128, (784, 1024, 1024, 10), 0.01


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


def numpy_step(x, y, params):
    w1, b1, w2, b2, w3, b3 = params
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    logits = h2 @ w3 + b3
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    sums = exps.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(sums[:, 0]) - shifted[np.arange(BATCH), y]))
    d_logits = exps / sums
    d_logits[np.arange(BATCH), y] -= 1
    d_logits /= BATCH
    grads = [None] * 6
    grads[4], grads[5] = h2.T @ d_logits, d_logits.sum(axis=0)
    d_h2 = (d_logits @ w3.T) * (h2 > 0)
    grads[2], grads[3] = h1.T @ d_h2, d_h2.sum(axis=0)
    d_h1 = (d_h2 @ w2.T) * (h1 > 0)
    grads[0], grads[1] = x.T @ d_h1, d_h1.sum(axis=0)
    for p, g in zip(params, grads):
        p -= LR * g
    return loss


# ---- (b) minireg autograd, raw Tensors --------------------------------------------------------


def minireg_cross_entropy(logits, y):
    """Mean of -log softmax(logits)[i, y_i]."""
    picked = F.getitem(F.log_softmax(logits, axis=1), (np.arange(len(y)), y))
    return -F.mean(picked)


def minireg_step(x, y, params):
    w1, b1, w2, b2, w3, b3 = params
    h1 = F.relu(x @ w1 + b1)
    h2 = F.relu(h1 @ w2 + b2)
    loss = minireg_cross_entropy(h2 @ w3 + b3, y)
    loss.backward()
    with no_grad():
        for p in params:
            p.data -= LR * p.grad.data
            p.grad = None
    return loss.item()


# ---- (b') minireg.nn, when it exists ---------------------------------------------------------


def make_minireg_nn(params):
    """A Sequential of minireg.nn.Linear with the given weights, or None if nn is missing."""
    try:
        from minireg import losses, nn
        model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                              nn.Linear(1024, 10))
    except (ImportError, AttributeError):
        return None
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for layer, w, b in zip(linears, params[0::2], params[1::2]):
        layer.weight.data[...] = w
        layer.bias.data[...] = b

    def step(x, y):
        loss = losses.cross_entropy(model(x), y)
        loss.backward()
        with no_grad():
            for p in model.parameters():
                p.data -= LR * p.grad.data
                p.grad = None
        return loss.item()

    return step


# ---- (c) PyTorch CPU -------------------------------------------------------------------------


def make_torch(params, x, y):
    import torch
    torch.set_num_threads(args.threads)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    raw = [torch.tensor(p, requires_grad=True) for p in params]

    def raw_step():
        w1, b1, w2, b2, w3, b3 = raw
        h1 = torch.relu(tx @ w1 + b1)
        h2 = torch.relu(h1 @ w2 + b2)
        loss = torch.nn.functional.cross_entropy(h2 @ w3 + b3, ty)
        loss.backward()
        with torch.no_grad():
            for p in raw:
                p -= LR * p.grad
                p.grad = None
        return loss.item()

    model = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                                torch.nn.ReLU(), torch.nn.Linear(1024, 10))
    with torch.no_grad():
        for layer, w, b in zip(model[0::2], params[0::2], params[1::2]):
            layer.weight.copy_(torch.from_numpy(w.T.copy()))  # torch stores (out, in)
            layer.bias.copy_(torch.from_numpy(b))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)

    def nn_step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        optimizer.step()
        return loss.item()

    return raw_step, nn_step


def main():
    x, y, params = make_problem()
    np_params = [p.copy() for p in params]
    mr_params = [Tensor(p.copy(), requires_grad=True) for p in params]
    variants = {
        "numpy": lambda: numpy_step(x, y, np_params),
        "minireg": lambda: minireg_step(x, y, mr_params),
    }
    nn_step = make_minireg_nn(params)
    if nn_step is not None:
        variants["minireg.nn"] = lambda: nn_step(x, y)
    if args.profile:
        import cProfile
        import pstats
        for _ in range(3):
            variants["minireg"]()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(50):
            variants["minireg"]()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    torch_raw, torch_nn = make_torch(params, x, y)
    variants["torch"] = torch_raw
    variants["torch.nn"] = torch_nn

    # The same first step everywhere: a check that all variants compute one thing.
    first = {name: step() for name, step in variants.items()}
    spread = max(first.values()) - min(first.values())
    assert spread < 1e-4, f"variants disagree on the first loss: {first}"

    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, step in variants.items():
            step()  # untimed warm-up of the block
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - start) / args.steps)
    median = {name: float(np.median(t)) for name, t in times.items()}
    best = {name: float(np.min(t)) for name, t in times.items()}
    torch_median = min(median["torch"], median["torch.nn"])
    torch_best = min(best["torch"], best["torch.nn"])

    print(f"MLP 784-1024-1024-10, batch {BATCH}, float32, {args.threads} threads; "
          f"{args.repeats} blocks of {args.steps} steps; median and (min) over blocks")
    print(f"{'variant':<12} {'ms/step':>8} {'/ numpy':>8} {'/ torch':>8}   "
          f"{'(min ms)':>8} {'(/ numpy)':>9} {'(/ torch)':>9}")
    for name in median:
        m, b = median[name], best[name]
        print(f"{name:<12} {m * 1e3:8.2f} {m / median['numpy']:8.2f} {m / torch_median:8.2f}   "
              f"{b * 1e3:8.2f} {b / best['numpy']:9.2f} {b / torch_best:9.2f}")
    for name in ("minireg", "minireg.nn"):
        if name in median:
            ok = median[name] <= torch_median and median[name] <= 1.2 * median["numpy"]
            print(f"{name}: {'meets' if ok else 'MISSES'} the targets on medians "
                  "(<= PyTorch, <= 1.2x hand-written NumPy)")


if __name__ == "__main__":
    main()
