"""Double descent with random Fourier features on an MNIST subset (Belkin et al. 2019).

Belkin, Hsu, Ma, Mandal, *Reconciling modern machine-learning practice and the classical
bias-variance trade-off*, PNAS 2019 (arXiv 2018), cited by the lecture slides ("They
overfit strangely", the interpolation threshold): past the point where a model has just
enough parameters to fit its n training examples exactly, the test error falls again
as the model grows, when the fit chosen among the interpolating ones is the one of
minimum norm.

The model of the paper's MNIST figure, with real features instead of complex ones:
**random Fourier features** (Rahimi and Recht 2007)

    φ(x) = √(2/N) cos(W x + b),   W ∈ R^{N×784} with entries ~ N(0, σ⁻²),   b ~ U[0, 2π),

whose inner products approximate the Gaussian kernel exp(−‖x − x'‖²/(2σ²)), and a
linear predictor h(x) = Aᵀφ(x) with A ∈ R^{N×10} fit to one-hot targets Y by least
squares. Below the threshold (N < n) the least-squares fit is unique; above it (N > n)
infinitely many A fit the data exactly, and we take the one of least Frobenius norm,
A = Φ⁺Y with Φ⁺ the pseudoinverse (:func:`minimum_norm_fit`: the SVD of Φ, the same
solution as ``numpy.linalg.lstsq``). Beside it, ridge regression,

    A_λ = argmin (1/n)‖ΦA − Y‖² + λ‖A‖² = V diag(sᵢ/(sᵢ² + nλ)) Uᵀ Y,

whose small penalty tames the peak at N = n (where the smallest singular value of Φ
approaches zero and the min-norm coefficients blow up).

For every number of features N the experiment records the training and test 0-1 error,
the squared loss (mean over examples of ‖h(x) − y‖²) and ‖A‖, averaged over
``repeats`` draws of the features. The paper uses n = 10⁴ and up to 6·10⁴ features;
here, on a CPU, the default is n = 1,000 and up to 3n features, 25 points, 2 draws
(20 s of CPU), ``--quick`` n = 500 (8 s of CPU). With ``--workers k`` the
points go to k local processes through :class:`minireg.sweeps.local.LocalProcesses`.
No training loop, so no resumable phases: a run is short enough to start again.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minireg.datasets import load_mnist
from minireg.experiments.base import (MNIST_TRAINING_EXAMPLES, PLOTS_SKIPPED, MnistConfig, format_number, line_plot,
                                      markdown_table, option)

CLASSES = 10


@dataclass
class DoubleDescentConfig(MnistConfig):
    """The options of ``minireg run double-descent``."""

    seed: int = option(0, "seed of the training and test subsets and of the random features", minimum=0)
    data_root: str = option("", "folder with the MNIST files (default: $MINIREG_DATA, then the cache)")
    quick: bool = option(False, "500 training examples, 2,000 test examples, 2 feature draws per point, 25 "
                                "points (8 s of CPU), instead of the sizes below")
    n_train: int = option(1000, "training examples n (the interpolation threshold is at n features)", minimum=10,
                          maximum=MNIST_TRAINING_EXAMPLES)
    n_test: int = option(1000, "test examples (from MNIST's test set)", minimum=1, maximum=10000)
    max_ratio: float = option(3.0, "the largest number of features, as a multiple of n", minimum=1.0,
                              include_minimum=False, maximum=30.0)
    points: int = option(25, "numbers of features swept (n itself and points close to it are always among "
                             "them)", minimum=10, maximum=200)
    repeats: int = option(2, "draws of the random features per point, averaged", minimum=1)
    bandwidth: float = option(5.0, "σ of the Gaussian kernel the features approximate (pixels in [0, 1])",
                              minimum=0.0, include_minimum=False)
    ridge: float = option(1e-4, "λ of the ridge fit set beside the minimum-norm one: (1/n)‖ΦA − Y‖² + λ‖A‖²",
                          minimum=0.0, include_minimum=False)
    workers: int = option(1, "local processes that fit the points (the sweep machinery's LocalProcesses)",
                          minimum=1, maximum=64)
    progress: bool = option(True, "write a line per point on stderr")


def _sizes(config) -> tuple:
    """``(n_train, n_test, repeats, points)`` after ``--quick``."""
    if config.quick:
        return 500, 2000, 2, 25
    return config.n_train, config.n_test, config.repeats, config.points


def feature_counts(n: int, max_ratio: float, points: int) -> list:
    """The numbers of features N swept: about ``points`` values from n/20 to ``max_ratio``·n,
    spaced evenly in log N, with n and the points n·(0.8, 0.9, 0.95, 1.05, 1.1, 1.25)
    around the threshold added (sorted, distinct, each at least 1)."""
    spread = np.geomspace(max(1.0, n / 20), max_ratio * n, max(2, points - 7))
    near = n * np.array([0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25])
    counts = np.unique(np.maximum(1, np.rint(np.concatenate([spread, near[near <= max_ratio * n]]))).astype(int))
    return [int(c) for c in counts]


def random_fourier_features(X, n_features: int, bandwidth: float, rng) -> callable:
    """A function ``x -> φ(x) = √(2/N) cos(W x + b)`` (float64) with W ~ N(0, σ⁻²), b ~ U[0, 2π).

    E[φ(x)·φ(x')] = exp(−‖x − x'‖²/(2σ²)) (Rahimi and Recht 2007). ``X`` gives only the
    input dimension.
    """
    rng = np.random.default_rng(rng)
    weights = rng.standard_normal((np.shape(X)[1], n_features)) / bandwidth
    phases = rng.uniform(0.0, 2 * np.pi, size=n_features)
    scale = np.sqrt(2.0 / n_features)

    def features(inputs):
        return scale * np.cos(np.asarray(inputs, dtype=np.float64) @ weights + phases)

    return features


def minimum_norm_fit(features, targets, ridge: float = 0.0, svd=None) -> np.ndarray:
    """The coefficients A of the least-squares fit of ``targets`` by ``features``.

    ``ridge = 0``: the minimum-norm least-squares solution A = Φ⁺Y -- among the A that
    minimize ‖ΦA − Y‖, the one of least ‖A‖ (unique; what ``numpy.linalg.lstsq`` returns,
    with the same cut-off for small singular values, sᵢ ≤ max(n, N)·ε·s₁ counted as 0).
    ``ridge = λ > 0``: argmin (1/n)‖ΦA − Y‖² + λ‖A‖² = V diag(sᵢ/(sᵢ² + nλ)) Uᵀ Y.

    Parameters
    ----------
    features : ndarray, shape (n, N)
    targets : ndarray, shape (n,) or (n, K)
    ridge : float >= 0
    svd : tuple, optional
        ``numpy.linalg.svd(features, full_matrices=False)``, when it is already computed.
    """
    features = np.asarray(features, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if features.ndim != 2 or targets.shape[:1] != features.shape[:1]:
        raise ValueError(f"features must be (n, N) and targets (n, ...) with the same n; got {features.shape} "
                         f"and {targets.shape}")
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
    U, s, Vt = svd if svd is not None else np.linalg.svd(features, full_matrices=False)
    if ridge == 0:
        kept = s > max(features.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
        gains = np.where(kept, 1.0 / np.where(kept, s, 1.0), 0.0)
    else:
        gains = s / (s * s + len(features) * ridge)
    return Vt.T @ (gains[:, None] * (U.T @ targets.reshape(len(targets), -1))).reshape(
        (len(s),) + targets.shape[1:])


def fit_scores(coefficients, features, labels) -> dict:
    """``{"error", "squared_loss"}`` of h(x) = Aᵀφ(x) against integer ``labels``: the 0-1 error
    of the largest output, and the mean over examples of ‖h(x) − onehot(y)‖²."""
    outputs = features @ coefficients
    onehot = np.eye(coefficients.shape[1])[labels]
    return {"error": float(np.mean(outputs.argmax(axis=1) != labels)),
            "squared_loss": float(np.mean(np.sum((outputs - onehot) ** 2, axis=1)))}


@functools.lru_cache(maxsize=2)
def _subsets(data_root: str, seed: int, n_train: int, n_test: int) -> tuple:
    """The training and test subsets, loaded once per process (a worker keeps them)."""
    root = data_root or None
    X, y = load_mnist("train", root=root, flatten=True)
    X_test, y_test = load_mnist("test", root=root, flatten=True)
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    train = np.random.default_rng(train_seed).permutation(len(X))[:n_train]
    test = np.random.default_rng(test_seed).permutation(len(X_test))[:n_test]
    return X[train], y[train], X_test[test], y_test[test]


def fit_point(job: dict) -> dict:
    """One point of the sweep: ``job`` holds data_root, seed, n_train, n_test, n_features,
    repeats, bandwidth, ridge. Returns, for the fits ``"min_norm"`` and ``"ridge"``, the
    mean over the feature draws of train/test error and squared loss and of ‖A‖ (and
    each draw's values). Module-level, so that worker processes can run it."""
    X, y, X_test, y_test = _subsets(job["data_root"], job["seed"], job["n_train"], job["n_test"])
    targets = np.eye(CLASSES)[y]
    draws = {"min_norm": [], "ridge": []}
    for repeat in range(job["repeats"]):
        # the draw depends on (seed, N, repeat) only: the same features whatever the grid
        features = random_fourier_features(X, job["n_features"], job["bandwidth"],
                                           np.random.SeedSequence([job["seed"], job["n_features"], repeat]))
        train_features, test_features = features(X), features(X_test)
        svd = np.linalg.svd(train_features, full_matrices=False)
        for fit, ridge in (("min_norm", 0.0), ("ridge", job["ridge"])):
            A = minimum_norm_fit(train_features, targets, ridge, svd=svd)
            train, test = fit_scores(A, train_features, y), fit_scores(A, test_features, y_test)
            draws[fit].append({"train_error": train["error"], "train_squared_loss": train["squared_loss"],
                               "test_error": test["error"], "test_squared_loss": test["squared_loss"],
                               "norm": float(np.linalg.norm(A))})
    return {"n_features": job["n_features"],
            **{fit: {key: float(np.mean([d[key] for d in values])) for key in values[0]} | {"draws": values}
               for fit, values in draws.items()}}


def _fit_all(jobs: list, workers: int, show: bool) -> list:
    """``fit_point`` of every job, here or on ``workers`` local processes; in job order."""
    def announce(done, point):
        if show:
            sys.stderr.write(f"point {done}/{len(jobs)}: N = {point['n_features']}, test error (min-norm) "
                             f"{100 * point['min_norm']['test_error']:.2f} %\n")
            sys.stderr.flush()

    if workers == 1:
        points = []
        for job in jobs:
            points.append(fit_point(job))
            announce(len(points), points[-1])
        return points
    from minireg.sweeps.local import LocalProcesses

    pool = LocalProcesses(workers, function=fit_point)
    pending, done = set(), 0
    try:
        futures = [pool.submit(job) for job in jobs]
        pending = set(futures)
        while pending:
            for future in pool.wait(pending, timeout=1.0):
                pending.discard(future)
                done += 1
                announce(done, pool.result(future))
        return [pool.result(future) for future in futures]
    finally:
        pool.close(now=bool(pending))


def run(config: DoubleDescentConfig, progress=None) -> dict:
    """Fit the min-norm and the ridge predictor at every number of features."""
    n_train, n_test, repeats, points = _sizes(config)
    counts = feature_counts(n_train, config.max_ratio, points)
    jobs = [{"data_root": config.data_root, "seed": config.seed, "n_train": n_train, "n_test": n_test,
             "n_features": count, "repeats": repeats, "bandwidth": config.bandwidth, "ridge": config.ridge}
            for count in counts]
    return {"data": "MNIST", "sizes": {"train": n_train, "test": n_test}, "repeats": repeats,
            "threshold": n_train, "points": _fit_all(jobs, config.workers, config.progress)}


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------

FITS = {"min_norm": "minimum norm (λ = 0)", "ridge": "ridge"}


def report(document: dict, folder) -> str:
    """Markdown: the test error, squared loss and norm against N, with the threshold marked."""
    folder = Path(folder)
    config, results = document["config"], document["results"]
    points, n = results["points"], results["threshold"]
    counts = [p["n_features"] for p in points]
    labels = {"min_norm": FITS["min_norm"], "ridge": f"ridge, λ = {config['ridge']:g}"}
    threshold = [(n, f"interpolation threshold N = n = {n}")]
    lines = ["# Double descent with random Fourier features on MNIST (double-descent)", "",
             f"Data: {results['sizes']['train']} MNIST training images (n), {results['sizes']['test']} test images. "
             f"Model: random Fourier features of the Gaussian kernel with σ = {config['bandwidth']:g}, a linear "
             "predictor of the one-hot labels fit by least squares: the minimum-norm solution (pseudoinverse) and "
             f"ridge with λ = {config['ridge']:g}. Each point is the mean over {results['repeats']} draws of the "
             f"features. Seed {config['seed']}; run time {document['seconds']:.1f} s.", "",
             "Belkin et al. (2019, Fig. 2) on n = 10⁴ MNIST images: the test error and the squared loss peak "
             "where N = n and fall again beyond it, while the norm of the min-norm solution peaks there and "
             "decreases after.", ""]
    plots = []
    for key, title, ylabel, log_y in (("test_error", "0-1 test error", "test error (%)", False),
                                      ("test_squared_loss", "squared test loss", "squared loss", True),
                                      ("norm", "norm of the coefficients ‖A‖", "‖A‖ (Frobenius)", True)):
        scale = 100 if key == "test_error" else 1
        plots.append(line_plot(folder / f"{key}.png",
                               {labels[fit]: (counts, [scale * p[fit][key] for p in points]) for fit in FITS},
                               f"{title} against the number of random features", "number of features N",
                               ylabel, vertical_lines=threshold, log_y=log_y))
        if plots[-1]:
            lines += [f"![{title}]({key}.png)", ""]
    peak = max(points, key=lambda p: p["min_norm"]["test_squared_loss"])
    last = points[-1]
    lines += [f"The min-norm fit's squared test loss is largest at N = {peak['n_features']} "
              f"({format_number(peak['min_norm']['test_squared_loss'])}; ridge there: "
              f"{format_number(peak['ridge']['test_squared_loss'])}), and at N = {last['n_features']} it is "
              f"{format_number(last['min_norm']['test_squared_loss'])}.", ""]
    lines.append(markdown_table(
        ["N", "N / n", "train error % (min-norm)", "test error % (min-norm)", "test error % (ridge)",
         "squared loss (min-norm)", "squared loss (ridge)", "‖A‖ (min-norm)", "‖A‖ (ridge)"],
        [[p["n_features"], p["n_features"] / n, 100 * p["min_norm"]["train_error"],
          100 * p["min_norm"]["test_error"], 100 * p["ridge"]["test_error"], p["min_norm"]["test_squared_loss"],
          p["ridge"]["test_squared_loss"], p["min_norm"]["norm"], p["ridge"]["norm"]] for p in points]))
    if not all(plots):
        lines += ["", PLOTS_SKIPPED]
    return "\n".join(lines) + "\n"
