"""Dropout masks: the compiled kernel (minireg/_ext/dropout.pyx) and its NumPy twin.

* compiled and twin give the same mask and output bit for bit, from the same seed, and
  leave the generator in the same state (property-based shapes, dtypes, layouts);
* the statistics: keep fraction inside a binomial confidence interval, unbiased
  inverted scaling, independence across units and across calls;
* same seed -> same mask, different seeds -> different masks;
* bad input -> a clear error naming the argument.
The compiled module must be built: if it is not, the comparison tests fail, not skip.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
from minireg import kernels


def kernel_path(path):
    return helpers.kernel_path(path, "dropout")


PATHS = ["compiled", "twin"]
# 5 standard deviations: a false alarm about once in 3.5 million runs.
Z = 5.0


@st.composite
def dropout_inputs(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = tuple(draw(st.lists(st.integers(0, 40), min_size=1, max_size=3)))
    if draw(st.booleans()):
        shape = (draw(st.integers(0, 3)), 1031)  # crosses the kernel's 1024-draw blocks
    x = np.random.default_rng(draw(st.integers(0, 1000))).standard_normal(shape).astype(dtype)
    layout = draw(st.sampled_from(["contiguous", "transposed", "strided"]))
    if layout == "transposed":
        x = x.T
    elif layout == "strided" and x.ndim >= 1:
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    keep = draw(st.sampled_from([1.0, 0.999, 0.8, 0.5, 0.1, 2.0**-16]))
    seed = draw(st.integers(0, 2**32 - 1))
    return x, keep, seed


@settings(max_examples=60, deadline=None)
@given(dropout_inputs())
def test_compiled_and_twin_agree_bit_for_bit(inputs):
    x, keep, seed = inputs
    results = {}
    for path in PATHS:
        rng = np.random.default_rng(seed)
        with kernel_path(path):
            y, mask = kernels.dropout(x, keep, rng)
        results[path] = (y, mask, rng.bit_generator.state)
    (y_c, mask_c, state_c), (y_t, mask_t, state_t) = results["compiled"], results["twin"]
    assert mask_c.dtype == np.bool_ and mask_c.shape == x.shape
    assert y_c.dtype == x.dtype and y_c.shape == x.shape
    np.testing.assert_array_equal(mask_c, mask_t)
    assert y_c.tobytes() == y_t.tobytes()  # bit for bit, signs of zeros included
    assert state_c == state_t  # both consumed the same ceil(n / 4) words
    # y is x scaled by 1/keep where kept, 0 elsewhere.
    np.testing.assert_array_equal(y_c[mask_c], x[mask_c] * x.dtype.type(1 / keep))
    assert np.all(y_c[~mask_c] == 0)


@pytest.mark.parametrize("path", PATHS)
def test_words_consumed_are_the_generators_raw_output(path):
    """The draws are the 16-bit pieces of rng.bit_generator.random_raw words, in order."""
    x = np.ones(10, dtype=np.float32)
    rng = np.random.default_rng(42)
    with kernel_path(path):
        _, mask = kernels.dropout(x, 0.5, rng)
    words = np.random.default_rng(42).bit_generator.random_raw(3)
    draws = [(int(words[k // 4]) >> (16 * (k % 4))) & 0xFFFF for k in range(10)]
    np.testing.assert_array_equal(mask, np.array(draws) < 32768)
    expected_state = np.random.default_rng(42)
    expected_state.bit_generator.random_raw(3)
    assert rng.bit_generator.state == expected_state.bit_generator.state


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.8, 0.95])
def test_keep_fraction_lies_in_the_binomial_interval(path, keep):
    n = 1_000_000
    rng = np.random.default_rng(int(keep * 1000))
    with kernel_path(path):
        _, mask = kernels.dropout(np.ones(n, dtype=np.float32), keep, rng)
    half_width = Z * np.sqrt(keep * (1 - keep) / n)
    assert abs(mask.mean() - keep) <= half_width


@pytest.mark.parametrize("path", PATHS)
def test_inverted_scaling_is_unbiased(path):
    n = 1_000_000
    keep = 0.3
    x = np.full(n, 2.0)
    rng = np.random.default_rng(7)
    with kernel_path(path):
        y, _ = kernels.dropout(x, keep, rng)
    # y = 2/keep with probability keep, else 0: mean 2, variance 4 (1 - keep) / keep.
    standard_error = np.sqrt(4 * (1 - keep) / keep / n)
    assert abs(y.mean() - 2.0) <= Z * standard_error


@pytest.mark.parametrize("path", PATHS)
def test_masks_are_independent_across_units_and_calls(path):
    keep = 0.6
    rng = np.random.default_rng(11)
    x = np.ones((500, 2048), dtype=np.float32)
    with kernel_path(path):
        _, first = kernels.dropout(x, keep, rng)
        _, second = kernels.dropout(x, keep, rng)
    n = first.size
    pair_half_width = Z * np.sqrt(keep**2 * (1 - keep**2) / n)
    # Neighbouring units, units 4 apart (same position in consecutive 64-bit words), and
    # the same unit in two calls: each pair is kept together with probability keep**2.
    for a, b in [(first[:, :-1], first[:, 1:]), (first[:, :-4], first[:, 4:]),
                 (first[:-1], first[1:]), (first, second)]:
        assert abs(np.mean(a & b) - keep**2) <= pair_half_width
    # Each of the four draws cut from one word keeps with probability keep.
    for offset in range(4):
        column = first.reshape(-1)[offset::4]
        assert abs(column.mean() - keep) <= Z * np.sqrt(keep * (1 - keep) / column.size)


@pytest.mark.parametrize("path", PATHS)
def test_one_seed_one_mask_two_seeds_two_masks(path):
    x = np.ones((64, 100), dtype=np.float32)
    with kernel_path(path):
        _, mask_a = kernels.dropout(x, 0.5, np.random.default_rng(123))
        _, mask_b = kernels.dropout(x, 0.5, np.random.default_rng(123))
        _, mask_c = kernels.dropout(x, 0.5, np.random.default_rng(124))
    np.testing.assert_array_equal(mask_a, mask_b)
    assert not np.array_equal(mask_a, mask_c)
    assert 0.3 < np.mean(mask_a != mask_c) < 0.7


@pytest.mark.parametrize("path", PATHS)
def test_keep_one_keeps_everything_unchanged(path):
    x = np.random.default_rng(0).standard_normal((7, 9))
    with kernel_path(path):
        y, mask = kernels.dropout(x, 1.0, np.random.default_rng(0))
    assert mask.all()
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("path", PATHS)
def test_dropconnect_on_a_weight_and_in_place(path):
    """DropConnect: the same kernel applied to a weight matrix, here in place."""
    w = np.random.default_rng(3).standard_normal((784, 300)).astype(np.float32)
    original = w.copy()
    with kernel_path(path):
        y, mask = kernels.dropout(w, 0.5, np.random.default_rng(5), out=w)
    assert y is w and mask.shape == w.shape
    np.testing.assert_array_equal(w, np.where(mask, original * np.float32(2.0), np.float32(0)))
    buffer = np.zeros((784, 600), dtype=np.float32)
    with kernel_path(path):
        y2, mask2 = kernels.dropout(original, 0.5, np.random.default_rng(5), out=buffer[:, ::2])
    np.testing.assert_array_equal(mask2, mask)
    np.testing.assert_array_equal(buffer[:, ::2], w)
    assert np.all(buffer[:, 1::2] == 0)


@pytest.mark.parametrize("path", PATHS)
def test_bad_input_gives_a_clear_error(path):
    x = np.ones(8, dtype=np.float32)
    rng = np.random.default_rng(0)
    with kernel_path(path):
        for keep in [0.0, -0.1, 1.5, float("nan"), 2.0**-18]:
            with pytest.raises(ValueError, match="keep"):
                kernels.dropout(x, keep, rng)
        with pytest.raises(TypeError, match="keep must be a finite number"):
            kernels.dropout(x, "0.5", rng)
        with pytest.raises(TypeError, match="x must be a NumPy array of float32 or float64"):
            kernels.dropout(np.ones(8, dtype=np.int64), 0.5, rng)
        with pytest.raises(TypeError, match="x must be a NumPy array of float32 or float64"):
            kernels.dropout(np.array([1.0, None]), 0.5, rng)
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
            kernels.dropout(x, 0.5, np.random.RandomState(0))
        with pytest.raises(ValueError, match=r"out must be a writeable NumPy array of shape \(8,\)"):
            kernels.dropout(x, 0.5, rng, out=np.ones(9, dtype=np.float32))
        with pytest.raises(ValueError, match="out must be .* and dtype float32; got dtype float64"):
            kernels.dropout(x, 0.5, rng, out=np.ones(8))


@pytest.mark.parametrize("path", PATHS)
def test_out_that_overlaps_x_is_refused(path):
    """With ``out`` two entries after ``x`` in one buffer, the compiled kernel wrote
    ``out[k]`` -- which is ``x[k + 2]`` -- before it read ``x[k + 2]``, and gave other
    numbers than the twin. Every overlap that is not ``x`` itself is refused."""
    memory = np.arange(1.0, 13.0)
    with kernel_path(path):
        for x, out in [(memory[2:], memory[:10]), (memory[:10], memory[2:]), (memory[:6], memory[:6][::-1])]:
            with pytest.raises(ValueError, match="out overlaps x in memory without being x itself"):
                kernels.dropout(x, 0.5, np.random.default_rng(0), out=out)
    np.testing.assert_array_equal(memory, np.arange(1.0, 13.0))  # nothing was written


def test_exact_in_place_on_a_strided_view_agrees_on_both_paths():
    results = {}
    for path in PATHS:
        memory = np.arange(1.0, 41.0, dtype=np.float32).reshape(4, 10)
        x = memory[:, ::2]
        with kernel_path(path):
            y, mask = kernels.dropout(x, 0.5, np.random.default_rng(9), out=memory[:, ::2])
        assert np.shares_memory(y, memory)
        results[path] = (memory, mask)
    np.testing.assert_array_equal(results["compiled"][0], results["twin"][0])
    np.testing.assert_array_equal(results["compiled"][1], results["twin"][1])


@pytest.mark.parametrize("path", PATHS)
def test_bad_arrays_keeps_and_outs_are_refused(path):
    rng = np.random.default_rng(0)
    with kernel_path(path):
        for dtype in (np.float16, np.complex64, np.int32, np.bool_, object):
            with pytest.raises(TypeError, match="x must be a NumPy array of float32 or float64"):
                kernels.dropout(np.ones(4, dtype=dtype), 0.5, rng)
        with pytest.raises(TypeError, match="x must be an array"):
            kernels.dropout([[1.0], [1.0, 2.0]], 0.5, rng)
        for keep in (np.inf, -np.inf, True):
            with pytest.raises((TypeError, ValueError), match="keep must be a finite number"):
                kernels.dropout(np.ones(4), keep, rng)
        with pytest.raises(ValueError, match="got a read-only array"):
            kernels.dropout(np.ones(4), 0.5, rng, out=np.broadcast_to(0.0, 4))
        with pytest.raises(TypeError, match="out must be None or"):
            kernels.dropout(np.ones(4), 0.5, rng, out=[0.0] * 4)
        y, mask = kernels.dropout(np.ones((0, 3), np.float32), 0.5, rng)
        assert y.shape == mask.shape == (0, 3) and y.dtype == np.float32


def test_dropout_threshold_checks_keep():
    assert kernels.dropout_threshold(0.5) == 2**15
    assert kernels.dropout_threshold(1.0) == 2**16
    for keep in (np.nan, 0.0, 1.5, 2.0**-18):
        with pytest.raises(ValueError, match="keep"):
            kernels.dropout_threshold(keep)


def test_infinite_entries_give_the_same_output_on_both_paths_without_a_warning():
    """A dropped inf becomes inf * 0 = nan on both paths; the twin used to warn about it."""
    x = np.array([np.inf, -np.inf, np.nan, 1.0] * 8)
    results = []
    for path in PATHS:
        with kernel_path(path), warnings.catch_warnings():
            warnings.simplefilter("error")
            results.append(kernels.dropout(x, 0.5, np.random.default_rng(3)))
    (y_c, mask_c), (y_t, mask_t) = results
    np.testing.assert_array_equal(mask_c, mask_t)
    assert y_c.tobytes() == y_t.tobytes()
    dropped = ~mask_c
    assert np.isnan(y_c[dropped & ~np.isfinite(x)]).all()
    assert (y_c[dropped & np.isfinite(x)] == 0).all()
