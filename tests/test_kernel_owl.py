"""The compiled OWL / GrOWL kernel (minireg/_ext/pava.pyx) against its NumPy twin.

Property-based inputs: ties, zeros, n = 0 and 1, huge and tiny magnitudes, float32 and
float64, non-contiguous arrays. The compiled module must be built: if it is not, these
tests fail (the build is broken), they do not skip.
"""
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.isotonic import isotonic_regression

import helpers
from minireg import kernels


def kernel_path(path):
    return helpers.kernel_path(path, "pava")


def both_paths(function, *args, **kwargs):
    with kernel_path("compiled"):
        compiled = function(*args, **kwargs)
    with kernel_path("twin"):
        twin = function(*args, **kwargs)
    return compiled, twin


def assert_agree_to_rounding(compiled, twin, scale, n):
    """Equal up to the rounding of float64 sums over n terms of size ``scale``; float32
    results may also differ by the float32 rounding of values computed in float64."""
    assert compiled.dtype == twin.dtype and compiled.shape == twin.shape
    atol = 8 * max(n, 1) * np.finfo(np.float64).eps * scale
    rtol = 8 * np.finfo(np.float64).eps
    if compiled.dtype == np.float32:
        atol += 2 * np.finfo(np.float32).eps * scale
        rtol = 2 * np.finfo(np.float32).eps
    np.testing.assert_allclose(compiled, twin, rtol=rtol, atol=atol)


# Magnitudes from all over the range, as a few distinct values (so that ties are common).
magnitudes = st.sampled_from([0.0, 1e-300, 2.5e-38, 1e-12, 0.5, 1.0, 1.0, 3.0, 1e12, 1e30])
float_dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def owl_inputs(draw):
    dtype = draw(float_dtypes)
    n = draw(st.integers(0, 60))
    values = draw(st.lists(st.one_of(magnitudes, st.floats(-10, 10)), min_size=n, max_size=n))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
    z = (np.array(values, dtype=np.float64) * np.array(signs)).astype(dtype)
    if draw(st.booleans()):  # non-contiguous: every other entry of a longer array
        longer = np.zeros(2 * n, dtype=dtype)
        longer[::2] = z
        z = longer[::2]
    lam = np.sort(np.array(draw(st.lists(st.sampled_from([0.0, 0.1, 1.0, 2.0, 1e6]), min_size=n, max_size=n))))[::-1]
    eta = draw(st.sampled_from([0.0, 0.3, 1.0, 5.0]))
    return z, lam.copy(), eta


@settings(max_examples=60, deadline=None)
@given(owl_inputs())
def test_owl_compiled_and_twin_agree(inputs):
    z, lam, eta = inputs
    compiled, twin = both_paths(kernels.owl_prox, z, lam, eta)
    scale = max(float(np.max(np.abs(z), initial=0.0)), eta * float(np.max(lam, initial=0.0)), 1e-300)
    assert_agree_to_rounding(compiled, twin, scale, z.size)


@st.composite
def growl_inputs(draw):
    dtype = draw(float_dtypes)
    n_rows = draw(st.integers(0, 25))
    n_columns = draw(st.integers(1, 9))
    base = draw(hnp.arrays(np.float64, (n_rows, n_columns), elements=st.floats(-3, 3)))
    row_scales = np.array(draw(st.lists(st.sampled_from([0.0, 1e-100, 1e-20, 1.0, 1.0, 1e20, 1e100]),
                                        min_size=n_rows, max_size=n_rows)))
    w = base * row_scales[:, None]
    if n_rows > 2 and draw(st.booleans()):
        w[1] = w[0]  # two rows with the same norm
    if dtype == np.float32:
        w = np.clip(w, -1e30, 1e30)
    w = w.astype(dtype)
    if draw(st.booleans()):  # non-contiguous: the transpose of a column-major copy
        w = np.asfortranarray(w)
    lam = np.sort(np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=n_rows, max_size=n_rows))))[::-1]
    eta = draw(st.sampled_from([0.0, 0.5, 2.0]))
    return w, lam.copy(), eta


@settings(max_examples=60, deadline=None)
@given(growl_inputs())
def test_growl_compiled_and_twin_agree(inputs):
    w, lam, eta = inputs
    compiled, twin = both_paths(kernels.growl_prox, w, lam, eta)
    norms = np.sqrt(np.sum(np.square(w, dtype=np.float64), axis=1))
    scale = max(float(np.max(np.abs(w), initial=0.0)), eta * float(np.max(lam, initial=0.0)), 1e-300)
    assert_agree_to_rounding(compiled, twin, scale, max(w.size, 1))
    # Each row keeps its direction: a shrunk row is a non-negative multiple of the input row.
    kept = np.sqrt(np.sum(np.square(compiled, dtype=np.float64), axis=1)) <= norms * (1 + 1e-6)
    assert kept.all()


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 80), elements=st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]) | st.floats(-5, 5)))
def test_pava_compiled_twin_and_scikit_learn_agree(values):
    compiled, twin = both_paths(kernels.isotonic_nonincreasing, values)
    np.testing.assert_allclose(compiled, twin, rtol=1e-12, atol=1e-12)
    if values.size:
        np.testing.assert_allclose(compiled, isotonic_regression(values, increasing=False), rtol=1e-12, atol=1e-12)
    assert np.all(np.diff(compiled) <= 1e-12)


@pytest.mark.parametrize("n", [1000, 5000, 300_000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_inputs_agree_on_every_sort_route(n, dtype):
    """Sizes that reach each first split of the compiled sort (by value, 11-bit, 16-bit),
    on data that crowds into a few exponents and on heavy-tailed data."""
    rng = np.random.default_rng(n)
    lam = np.sort(rng.random(n))[::-1].copy()
    for z in [rng.standard_normal(n), np.exp(rng.standard_normal(n) * 20) * rng.choice([-1, 1], n)]:
        z = z.astype(dtype)
        with kernel_path("compiled"):
            compiled = kernels.owl_prox(z, lam, 0.5)
        # The twin's Python PAVA is slow at 3e5: compare with argsort + scikit-learn instead.
        order = np.argsort(-np.abs(z).astype(np.float64), kind="stable")
        fitted = isotonic_regression(np.abs(z).astype(np.float64)[order] - 0.5 * lam, increasing=False)
        expected = np.empty(n)
        expected[order] = np.maximum(fitted, 0)
        expected = (np.sign(z) * expected).astype(dtype)
        assert_agree_to_rounding(compiled, expected, float(np.max(np.abs(z))), n)


def test_in_place_and_out_on_both_paths():
    rng = np.random.default_rng(1)
    z = rng.standard_normal(100)
    lam = np.linspace(1, 0, 100)
    for path in ["compiled", "twin"]:
        with kernel_path(path):
            expected = kernels.owl_prox(z, lam, 0.4)
            x = z.copy()
            assert kernels.owl_prox(x, lam, 0.4, out=x) is x
            np.testing.assert_array_equal(x, expected)
            buffer = np.zeros(200)
            assert kernels.owl_prox(z, lam, 0.4, out=buffer[::2]) is not None
            np.testing.assert_array_equal(buffer[::2], expected)
            w = rng.standard_normal((10, 4)).astype(np.float32)
            expected_w = kernels.growl_prox(w, lam[:10], 0.4)
            assert kernels.growl_prox(w, lam[:10], 0.4, out=w) is w
            np.testing.assert_array_equal(w, expected_w)


def test_compiled_kernel_runs_in_threads_with_the_same_results():
    """The kernel releases the GIL and keeps one spare workspace: threads must not share it."""
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal(n) for n in [3000, 50_000, 700, 50_000]]
    lams = [np.linspace(2, 0, z.size) for z in inputs]
    with kernel_path("compiled"):
        expected = [kernels.owl_prox(z, lam, 0.3) for z, lam in zip(inputs, lams)]
        results = [None] * len(inputs)

        def work(k):
            for _ in range(5):
                results[k] = kernels.owl_prox(inputs[k], lams[k], 0.3)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(len(inputs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for result, reference in zip(results, expected):
        np.testing.assert_array_equal(result, reference)


def test_compiled_kernel_refuses_bad_values_without_touching_out():
    out = np.full(3, 7.0)
    with kernel_path("compiled"):
        with pytest.raises(ValueError, match="z must be finite"):
            kernels.owl_prox(np.array([1.0, np.nan, 2.0]), [1.0, 0.5, 0.0], 1.0, out=out)
        with pytest.raises(ValueError, match="lam must be non-increasing"):
            kernels.owl_prox(np.array([1.0, 3.0, 2.0]), [1.0, 0.5, 0.6], 1.0, out=out)
        with pytest.raises(ValueError, match="lam must be finite"):
            kernels.owl_prox(np.array([1.0, 3.0, 2.0]), [np.inf, 0.5, 0.1], 1.0, out=out)
    np.testing.assert_array_equal(out, 7.0)
