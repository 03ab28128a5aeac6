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


# ---- the door: bad input, on both paths -----------------------------------------------------

PATHS = ["compiled", "twin"]


@pytest.mark.parametrize("path", PATHS)
def test_out_that_overlaps_the_input_is_refused(path):
    """A shifted ``out`` over the same memory made the compiled GrOWL prox give other
    numbers than its twin (it writes row i before it reads row i + 1): refused."""
    memory = np.arange(1.0, 13.0)
    lam = np.array([1.0, 0.5, 0.0])
    with kernel_path(path):
        with pytest.raises(ValueError, match="out overlaps w in memory without being w itself"):
            kernels.growl_prox(memory[:9].reshape(3, 3), lam, 0.5, out=memory[3:].reshape(3, 3))
        with pytest.raises(ValueError, match="out overlaps z in memory without being z itself"):
            kernels.owl_prox(memory[:10], np.linspace(1, 0, 10), 0.5, out=memory[2:])
        with pytest.raises(ValueError, match="out overlaps z"):  # same memory, other order
            kernels.owl_prox(memory[:10], np.linspace(1, 0, 10), 0.5, out=memory[9::-1])
    np.testing.assert_array_equal(memory, np.arange(1.0, 13.0))  # nothing was written


def test_exact_in_place_gives_the_same_numbers_on_both_paths():
    """``out`` that is the input itself -- the same memory and layout, even as another
    view object -- is worked on in place, with the numbers of the out-of-place call."""
    lam = np.linspace(2, 0, 12)
    for step in [1, 2]:  # contiguous, and every other entry
        start = np.random.default_rng(step).standard_normal(24)
        after = {}
        for path in PATHS:
            memory = start.copy()
            z = memory[: 12 * step : step]
            with kernel_path(path):
                expected = kernels.owl_prox(z, lam, 0.3)
                assert kernels.owl_prox(z, lam, 0.3, out=z) is z
                np.testing.assert_array_equal(z, expected)
                w = memory[: 12 * step : step].reshape(4, 3)
                expected = kernels.growl_prox(w, lam[:4], 0.3)
                same_w = memory[: 12 * step : step].reshape(4, 3)
                assert kernels.growl_prox(w, lam[:4], 0.3, out=same_w) is same_w
                np.testing.assert_array_equal(w, expected)
            after[path] = memory
        np.testing.assert_allclose(after["twin"], after["compiled"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("path", PATHS)
def test_non_finite_input_is_refused_by_every_pava_function(path):
    with kernel_path(path):
        for bad in (np.nan, np.inf, -np.inf):
            with pytest.raises(ValueError, match="values must hold finite numbers only"):
                kernels.isotonic_nonincreasing(np.array([1.0, bad, 0.0]))
            with pytest.raises(ValueError, match="z must be finite"):
                kernels.owl_prox(np.array([1.0, bad, 0.0], dtype=np.float32), [1.0, 0.5, 0.0], 1.0)
            with pytest.raises(ValueError, match="w .* must be finite"):
                kernels.growl_prox(np.array([[1.0, bad], [1.0, 1.0]]), [1.0, 0.5], 1.0)
        with pytest.raises(ValueError, match="w .* must be finite"):  # a row norm overflows
            kernels.growl_prox(np.array([[1e200, 1e200], [1.0, 1.0]]), [1.0, 0.5], 1.0)
        for lam, message in [([np.inf, 0.5, 0.0], "lam must be finite"),
                             ([1.0, np.nan, 0.0], "lam must be finite"),
                             ([1.0, 0.5, -0.5], "lam must be non-negative"),
                             ([0.5, 1.0, 0.0], "lam must be non-increasing")]:
            with pytest.raises(ValueError, match=message):
                kernels.owl_prox(np.array([1.0, 2.0, 3.0]), lam, 1.0)
            with pytest.raises(ValueError, match=message):
                kernels.growl_prox(np.ones((3, 2)), lam, 1.0)


@pytest.mark.parametrize("lam", [[np.inf, 1.0, 0.0], [1.0, np.nan, 0.0], [2.0, 3.0, np.nan], [1.0, np.inf, 0.0],
                                 [1.0, 0.5, -np.inf], [-np.inf, -np.inf, -np.inf], [np.nan, 2.0, 3.0],
                                 [1.0, 0.5, -1e-300]])
def test_both_paths_name_the_same_problem_of_the_weights(lam):
    messages = set()
    for path in PATHS:
        with kernel_path(path), pytest.raises(ValueError, match="lam must") as caught:
            kernels.owl_prox(np.array([1.0, 2.0, 3.0]), lam, 1.0)
        messages.add(str(caught.value))
    assert len(messages) == 1


@pytest.mark.parametrize("path", PATHS)
def test_bad_types_shapes_and_numbers_are_refused(path):
    z, lam = np.array([1.0, -2.0, 3.0]), np.array([1.0, 0.5, 0.0])
    with kernel_path(path):
        for dtype in (np.float16, np.int64, np.complex128, object, np.bool_):
            bad = np.ones(3, dtype=dtype)
            with pytest.raises(TypeError, match="z must be a NumPy array of float32 or float64"):
                kernels.owl_prox(bad, lam, 1.0)
            with pytest.raises(TypeError, match="w must be a NumPy array of float32 or float64"):
                kernels.growl_prox(bad.reshape(3, 1), lam, 1.0)
            with pytest.raises(TypeError, match="values must be a NumPy array of float32 or float64"):
                kernels.isotonic_nonincreasing(bad)
        with pytest.raises(TypeError, match="z must be an array"):
            kernels.owl_prox([[1.0, 2.0], [3.0]], lam, 1.0)
        with pytest.raises(ValueError, match="z must be a 1-D vector"):
            kernels.owl_prox(np.ones((3, 1)), lam, 1.0)
        with pytest.raises(ValueError, match="w must be a 2-D matrix"):
            kernels.growl_prox(np.ones(3), lam, 1.0)
        with pytest.raises(ValueError, match="values must be 1-D"):
            kernels.isotonic_nonincreasing(np.ones((2, 2)))
        for bad_lam, error in [(np.array([1 + 1j, 0, 0]), TypeError), (np.array([True, False, False]), TypeError),
                               ([[1.0, 0.5, 0.0]], ValueError), ([1.0, 0.5], ValueError)]:
            with pytest.raises(error, match="lam must"):
                kernels.owl_prox(z, bad_lam, 1.0)
        for eta, error in [(-1.0, ValueError), (np.nan, ValueError), (np.inf, ValueError),
                           ("1", TypeError), (True, TypeError), (1 + 0j, TypeError)]:
            with pytest.raises(error, match="eta must be a finite number"):
                kernels.owl_prox(z, lam, eta)
        for out, error, message in [
            (np.ones(3, dtype=np.float32), ValueError, "got dtype float32"),
            (np.ones(4), ValueError, r"got shape \(4,\)"),
            (np.broadcast_to(0.0, 3), ValueError, "got a read-only array"),
            ([0.0, 0.0, 0.0], TypeError, "out must be None or"),
        ]:
            with pytest.raises(error, match=message):
                kernels.owl_prox(z, lam, 1.0, out=out)


@pytest.mark.parametrize("path", PATHS)
def test_empty_inputs_give_empty_results(path):
    with kernel_path(path):
        assert kernels.owl_prox(np.zeros(0, np.float32), [], 1.0).dtype == np.float32
        assert kernels.growl_prox(np.zeros((0, 3)), [], 1.0).shape == (0, 3)
        np.testing.assert_array_equal(kernels.growl_prox(np.ones((2, 0)), [1.0, 0.0], 1.0), np.ones((2, 0)))
        assert kernels.isotonic_nonincreasing([]).shape == (0,)
