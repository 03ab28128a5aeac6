"""Dropout masks: the compiled one-pass kernel against the naive NumPy line.

    python benchmarks/bench_dropout.py [--repeats 15]

Variants, interleaved in one process (each run as a block whose first call is untimed;
the median over blocks is reported):

* naive:    ``m = rng.random(x.shape) < keep; y = x * m / keep``
* compiled: ``minireg.kernels.dropout(x, keep, rng)`` with the kernel switched on
* twin:     the same function with the NumPy twins forced (``use_compiled(False)``)

Issue 8 wants compiled >= 5x faster than naive at (1024, 4096) float32, keep 0.8, and
>= 4x at (128, 4096).
"""
import argparse
import time

import numpy as np

from minireg import kernels


def naive(x, keep, rng):
    m = rng.random(x.shape) < keep
    return x * m / keep


def compiled(x, keep, rng):
    kernels.use_compiled(True)
    return kernels.dropout(x, keep, rng)


def twin(x, keep, rng):
    previous = kernels.use_compiled(False)
    try:
        return kernels.dropout(x, keep, rng)
    finally:
        kernels.use_compiled(previous)


def time_block(function, x, keep, rng, calls):
    """Median seconds per call over ``calls`` timed calls, after one untimed call."""
    function(x, keep, rng)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function(x, keep, rng)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--keep", type=float, default=0.8)
    args = parser.parse_args()
    if kernels.compiled_status()["dropout"] != "compiled":
        raise SystemExit("the compiled dropout kernel is not built (or MINIREG_PURE_NUMPY asks for the twins)")
    rng = np.random.default_rng(0)
    variants = {"naive": naive, "compiled": compiled, "twin": twin}
    print(f"dropout, float32, keep {args.keep}, medians over {args.repeats} interleaved blocks")
    for shape in [(1024, 4096), (128, 4096)]:
        x = rng.standard_normal(shape).astype(np.float32)
        calls = 3 if shape[0] >= 1024 else 10
        times = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, function in variants.items():
                times[name].append(time_block(function, x, args.keep, rng, calls))
        median = {name: float(np.median(values)) for name, values in times.items()}
        per_round = np.array(times["naive"]) / np.array(times["compiled"])
        print(
            f"  {shape}: naive {median['naive'] * 1e3:7.2f} ms  compiled {median['compiled'] * 1e3:6.2f} ms"
            f"  twin {median['twin'] * 1e3:7.2f} ms  ->  naive / compiled = "
            f"{median['naive'] / median['compiled']:.2f}x (per-round range "
            f"{per_round.min():.2f}-{per_round.max():.2f}x)"
        )


if __name__ == "__main__":
    main()
