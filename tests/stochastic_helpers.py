"""Statistical checks shared by the tests of the stochastic layers.

Every interval is six standard errors wide on each side: a correct implementation
fails such a check with probability about 2e-9 (normal approximation, which holds at
the sample sizes used). The seeds are fixed, so a run that passes always passes.
"""
import numpy as np

Z = 6.0
"""Half-width of the intervals, in standard errors."""


def assert_proportion(successes, trials, p, what):
    """``successes / trials`` within Z binomial standard errors of ``p``."""
    se = np.sqrt(p * (1 - p) / trials)
    observed = successes / trials
    assert abs(observed - p) <= Z * se, f"{what}: {observed:.6f} against {p:.6f} (+- {Z * se:.2g})"


def assert_mean(samples, mean, what, axis=0):
    """The sample mean along ``axis`` within Z standard errors of ``mean`` (elementwise)."""
    samples = np.asarray(samples, dtype=np.float64)
    se = samples.std(axis=axis, ddof=1) / np.sqrt(samples.shape[axis])
    gap = np.abs(samples.mean(axis=axis) - mean)
    assert np.all(gap <= Z * se + 1e-12), f"{what}: worst gap {np.max(gap / (se + 1e-300)):.2f} standard errors"


def assert_variance(samples, variance, what, axis=0):
    """The sample variance along ``axis`` within Z standard errors of ``variance``; the
    standard error of a sample variance is sqrt((m4 - s^4) / n), m4 the fourth central moment."""
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[axis]
    centred = samples - samples.mean(axis=axis, keepdims=True)
    s2 = (centred ** 2).mean(axis=axis)
    se = np.sqrt(((centred ** 4).mean(axis=axis) - s2 ** 2) / n)
    gap = np.abs(s2 - variance)
    assert np.all(gap <= Z * se + 1e-12), f"{what}: worst gap {np.max(gap / (se + 1e-300)):.2f} standard errors"
