"""OWL and GrOWL proximal operators: the compiled kernels against NumPy + scikit-learn.

    python benchmarks/bench_prox.py [--repeats 11]

All variants run interleaved in one process; each runs as a block of calls whose first
call is untimed, and the median over blocks is reported. Ratios are what to compare:
absolute times drift with the machine.

OWL prox of a vector z (float64), lam non-increasing, eta = 0.5:

* sklearn:   np.argsort(-|z|), sklearn.isotonic.isotonic_regression (decreasing),
             clip at 0, unsort with signs
* argsort:   np.argsort(np.abs(z)) alone (the sort the sklearn path cannot avoid)
* argsort+compiled PAVA: np.argsort, then minireg's compiled PAVA, clip, unsort
* compiled:  minireg.kernels.owl_prox (radix sort of the bit patterns, PAVA, scatter)

GrOWL prox of a 784 x 300 float32 weight (rows = inputs):

* numpy+sklearn: row norms, the sklearn OWL path above on them, rescale rows
* norm+scale:    np.linalg.norm(W, axis=1) and W * s[:, None] alone
* compiled:      minireg.kernels.growl_prox (one fused call)

Issue 8 wants: OWL at 1e6 >= 3x faster than sklearn and no slower than argsort; at 1e3
>= 10x faster than sklearn; GrOWL no slower than norm+scale.
"""
import argparse
import time

import numpy as np
from sklearn.isotonic import isotonic_regression

from minireg import kernels


def owl_sklearn(z, lam, eta):
    magnitudes = np.abs(z)
    order = np.argsort(-magnitudes)
    fitted = isotonic_regression(magnitudes[order] - eta * lam, increasing=False)
    result = np.empty_like(z)
    result[order] = np.maximum(fitted, 0.0)
    return np.sign(z) * result


def owl_argsort_only(z, lam, eta):
    return np.argsort(np.abs(z))


def owl_argsort_compiled_pava(z, lam, eta):
    magnitudes = np.abs(z)
    order = np.argsort(-magnitudes)
    fitted = kernels.isotonic_nonincreasing(magnitudes[order] - eta * lam)
    result = np.empty_like(z)
    result[order] = np.maximum(fitted, 0.0)
    return np.sign(z) * result


def owl_compiled(z, lam, eta):
    return kernels.owl_prox(z, lam, eta)


def growl_numpy_sklearn(w, lam, eta):
    norms = np.linalg.norm(w.astype(np.float64), axis=1)
    shrunk = owl_sklearn(norms, lam, eta)
    scale = np.divide(shrunk, norms, out=np.zeros_like(norms), where=norms > 0)
    return w * scale.astype(w.dtype)[:, None]


def growl_norm_and_scale(w, lam, eta, scale):
    norms = np.linalg.norm(w, axis=1)
    return norms, w * scale[:, None]


def growl_compiled(w, lam, eta):
    return kernels.growl_prox(w, lam, eta)


def time_block(call, calls):
    """Median seconds per call over ``calls`` timed calls, after one untimed call."""
    call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def interleaved(variants, calls, repeats):
    """{name: [median seconds of each block]} with the variants run in turn."""
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, call in variants.items():
            times[name].append(time_block(call, calls))
    return times


def report(title, times, reference, ratios):
    median = {name: float(np.median(values)) for name, values in times.items()}
    print(title)
    for name, value in median.items():
        unit, factor = ("ms", 1e3) if value >= 1e-3 else ("us", 1e6)
        print(f"  {name:<24s} {value * factor:9.2f} {unit}   {median[reference] / value:6.2f}x vs {reference}")
    for numerator, denominator in ratios:
        per_round = np.array(times[numerator]) / np.array(times[denominator])
        print(
            f"  {numerator} / {denominator} = {median[numerator] / median[denominator]:.2f} "
            f"(per-round range {per_round.min():.2f}-{per_round.max():.2f})"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    if kernels.compiled_status()["pava"] != "compiled":
        raise SystemExit("the compiled pava kernel is not built (or MINIREG_PURE_NUMPY asks for the twins)")
    rng = np.random.default_rng(0)
    eta = 0.5

    for n, calls in [(1000, 200), (1_000_000, 2)]:
        z = rng.standard_normal(n)
        lam = np.sort(rng.random(n))[::-1].copy()
        assert np.allclose(owl_compiled(z, lam, eta), owl_sklearn(z, lam, eta), rtol=0, atol=1e-12)
        variants = {
            "sklearn": lambda: owl_sklearn(z, lam, eta),
            "argsort": lambda: owl_argsort_only(z, lam, eta),
            "argsort+compiled PAVA": lambda: owl_argsort_compiled_pava(z, lam, eta),
            "compiled": lambda: owl_compiled(z, lam, eta),
        }
        times = interleaved(variants, calls, args.repeats)
        report(
            f"OWL prox, n = {n}, float64 (medians of {args.repeats} blocks of {calls} calls)",
            times, "sklearn", [("sklearn", "compiled"), ("compiled", "argsort")],
        )

    w = rng.standard_normal((784, 300)).astype(np.float32)
    lam = np.linspace(2.0, 0.1, 784)
    scale = rng.random(784).astype(np.float32)
    assert np.allclose(growl_compiled(w, lam, 3.0), growl_numpy_sklearn(w, lam, 3.0), atol=1e-6)
    variants = {
        "numpy+sklearn": lambda: growl_numpy_sklearn(w, lam, 3.0),
        "norm+scale": lambda: growl_norm_and_scale(w, lam, 3.0, scale),
        "compiled": lambda: growl_compiled(w, lam, 3.0),
    }
    times = interleaved(variants, 100, args.repeats)
    report(
        f"GrOWL prox, 784 x 300 float32 (medians of {args.repeats} blocks of 100 calls)",
        times, "numpy+sklearn", [("compiled", "norm+scale")],
    )


if __name__ == "__main__":
    main()
