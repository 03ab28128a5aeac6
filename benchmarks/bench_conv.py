"""LeNet-style convolutions, forward + backward: minireg against PyTorch CPU, and the
compiled im2col / col2im against their NumPy twins.

The two conv layers of a LeNet-style MNIST network, batch 128, float32, 5x5 kernels,
padding 2 (stride 1):

* ``conv1`` -- 1 -> 32 channels on 28x28;
* ``conv2`` -- 32 -> 64 channels on 14x14.

One "step" of a layer is its forward pass and a backward pass that computes the input,
weight and bias gradients. Variants, all timed in this one process:

* ``minireg``        -- ``minireg.functional.conv2d`` with the compiled kernels: the batch
                        in chunks of a few images, run in parallel, one per thread, each
                        matrix product on one BLAS thread (``minireg.threads``);
* ``in sequence``    -- the same chunks one after the other, each product threaded by the
                        BLAS (what conv2d does when it cannot control the BLAS's threads);
* ``minireg twin``   -- ``minireg`` with the NumPy twins (``kernels.use_compiled(False)``);
* ``torch``          -- ``torch.nn.functional.conv2d`` on PyTorch CPU;
* ``whole-batch gemms`` -- only the three matrix products of the layer, each one call on
                        the whole batch (``rows @ W``, ``rows.T @ g``, ``g @ W.T`` on
                        ready-made arrays), threaded by the BLAS;

and, for each layer's shapes, the kernels alone, compiled against the twin: ``im2row`` and
``row2im`` on one chunk of the batch (as conv2d calls them), and ``im2col`` / ``col2im`` on
the whole batch (pooling and the differentiable backward pass use them).

PyTorch runs with as many threads as NumPy's BLAS (``--threads``, default 2, set for
both). The variants are interleaved: each repeat runs every variant as a block of
calls whose first call is untimed, and the reported time is the median per call over
the repeats.

Usage::

    python benchmarks/bench_conv.py [--repeats 11] [--steps 5] [--threads 2] [--profile]
"""
from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=11, help="interleaved repeats (median taken)")
parser.add_argument("--steps", type=int, default=5, help="timed calls per block")
parser.add_argument("--threads", type=int, default=2, help="BLAS threads for NumPy and PyTorch")
parser.add_argument("--profile", action="store_true", help="cProfile 20 minireg conv2 steps instead")
args = parser.parse_args()

# Thread settings must be in place before NumPy (and its OpenBLAS) is loaded.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minireg.functional as F  # noqa: E402
from minireg import conv_fast, kernels, threads  # noqa: E402
from minireg.tensor import Tensor  # noqa: E402

BATCH, KERNEL, PADDING = 128, 5, 2
# name: (in_channels, out_channels, image size)
LAYERS = {"conv1": (1, 32, 28), "conv2": (32, 64, 14)}


def make_layer(in_channels, out_channels, size, seed=0):
    """Input, weight (minireg layout (in, out, KH, KW)), bias and upstream gradient."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, in_channels, size, size)).astype(np.float32)
    fan_in = in_channels * KERNEL * KERNEL
    w = (rng.standard_normal((in_channels, out_channels, KERNEL, KERNEL)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    b = np.zeros(out_channels, dtype=np.float32)
    upstream = rng.standard_normal((BATCH, out_channels, size, size)).astype(np.float32)
    return x, w, b, upstream


def minireg_step(x, w, b, upstream):
    xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
    F.conv2d(xt, wt, bt, stride=1, padding=PADDING).backward(upstream)
    return xt.grad, wt.grad, bt.grad


def twin_step(x, w, b, upstream):
    previous = kernels.use_compiled(False)
    try:
        return minireg_step(x, w, b, upstream)
    finally:
        kernels.use_compiled(previous)


def sequential_step(x, w, b, upstream):
    """minireg_step with the chunks run one after the other (conv2d finds one BLAS thread
    to lend, so it lends none, and the BLAS threads each product itself)."""
    lend = threads.blas_threads
    threads.blas_threads = lambda: 1
    try:
        return minireg_step(x, w, b, upstream)
    finally:
        threads.blas_threads = lend


def make_torch_step(x, w, b, upstream):
    import torch

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(np.ascontiguousarray(w.transpose(1, 0, 2, 3)), requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    tg = torch.tensor(upstream)

    def step():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, stride=1, padding=PADDING).backward(tg)

    return step


def make_whole_batch_gemms(x, w, upstream):
    rows = kernels.im2row(conv_fast._padded_nhwc(x, (PADDING, PADDING)), KERNEL, KERNEL, 1)
    w_matrix = np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(-1, w.shape[1]))
    g_pixels = np.ascontiguousarray(upstream.transpose(0, 2, 3, 1)).reshape(-1, w.shape[1])

    def step():
        return rows @ w_matrix, rows.T @ g_pixels, g_pixels @ w_matrix.T

    return step


def make_kernel_steps(x):
    compiled = kernels._EXT["im2col"]
    # the first chunk conv2d makes (stride 1 and padding 2 keep the image size)
    rows_per_image = x.shape[2] * x.shape[3] * x.shape[1] * KERNEL * KERNEL * x.dtype.itemsize
    start, stop = conv_fast._batch_chunks(len(x), rows_per_image)[0]
    chunk = conv_fast._padded_nhwc(x[start:stop], (PADDING, PADDING))
    rows = kernels.im2row(chunk, KERNEL, KERNEL, 1)
    cols = kernels.im2col(x, KERNEL, KERNEL, 1, PADDING)
    return {
        "im2row compiled": lambda: compiled.im2row(chunk, KERNEL, KERNEL, 1),
        "im2row twin": lambda: kernels.im2row_numpy(chunk, KERNEL, KERNEL, 1),
        "row2im compiled": lambda: compiled.row2im(rows, chunk.shape, KERNEL, KERNEL, 1),
        "row2im twin": lambda: kernels.row2im_numpy(rows, chunk.shape, KERNEL, KERNEL, 1),
        "im2col compiled": lambda: compiled.im2col(x, KERNEL, KERNEL, 1, PADDING),
        "im2col twin": lambda: kernels.im2col_numpy(x, KERNEL, KERNEL, 1, PADDING),
        "col2im compiled": lambda: compiled.col2im(cols, x.shape, KERNEL, KERNEL, 1, PADDING),
        "col2im twin": lambda: kernels.col2im_numpy(cols, x.shape, KERNEL, KERNEL, 1, PADDING),
    }


def time_interleaved(variants: dict, repeats: int, steps: int) -> dict:
    """Median seconds per call of each variant; variants interleaved, first call of a block untimed."""
    samples = {name: [] for name in variants}
    for _ in range(repeats):
        for name, step in variants.items():
            step()
            start = time.perf_counter()
            for _ in range(steps):
                step()
            samples[name].append((time.perf_counter() - start) / steps)
    return {name: float(np.median(times)) for name, times in samples.items()}


def check_agreement(x, w, b, upstream):
    """The compiled kernels and the twins give bit-identical gradients."""
    fast = minireg_step(x, w, b, upstream)
    slow = twin_step(x, w, b, upstream)
    for a, c in zip(fast, slow):
        np.testing.assert_array_equal(a.data, c.data)


def profile():
    import cProfile
    import pstats

    x, w, b, upstream = make_layer(*LAYERS["conv2"])
    minireg_step(x, w, b, upstream)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        minireg_step(x, w, b, upstream)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def main():
    if args.profile:
        profile()
        return
    import torch

    torch.set_num_threads(args.threads)
    if kernels.compiled_status()["im2col"] != "compiled":
        sys.exit("bench_conv: the compiled im2col is not built (pip install -e . or "
                 "MINIREG_BUILD_ONLY=im2col python setup.py build_ext --inplace)")
    print(f"batch {BATCH}, float32, {KERNEL}x{KERNEL} kernels, padding {PADDING}; "
          f"{args.threads} threads; median of {args.repeats} interleaved blocks of {args.steps} calls")
    totals = {}
    for name, (in_channels, out_channels, size) in LAYERS.items():
        x, w, b, upstream = make_layer(in_channels, out_channels, size)
        check_agreement(x, w, b, upstream)
        variants = {
            "minireg": lambda: minireg_step(x, w, b, upstream),
            "in sequence": lambda: sequential_step(x, w, b, upstream),
            "minireg twin": lambda: twin_step(x, w, b, upstream),
            "torch": make_torch_step(x, w, b, upstream),
            "whole-batch gemms": make_whole_batch_gemms(x, w, upstream),
        }
        variants.update(make_kernel_steps(x))
        result = time_interleaved(variants, args.repeats, args.steps)
        for key, seconds in result.items():
            totals[key] = totals.get(key, 0.0) + seconds
        print(f"\n{name}: {in_channels} -> {out_channels} channels on {size}x{size}, forward + backward")
        report(result)
    print("\nLeNet conv layers together (conv1 + conv2)")
    report(totals)


def report(result):
    for key in ("minireg", "in sequence", "minireg twin", "torch", "whole-batch gemms"):
        print(f"  {key:<18} {result[key] * 1e3:8.2f} ms   {result[key] / result['torch']:5.2f}x torch")
    for kernel in ("im2row", "row2im", "im2col", "col2im"):
        fast, slow = result[f"{kernel} compiled"], result[f"{kernel} twin"]
        print(f"  {kernel:<8} compiled {fast * 1e3:7.3f} ms, twin {slow * 1e3:7.3f} ms   "
              f"compiled is {slow / fast:4.1f}x faster")


if __name__ == "__main__":
    main()
