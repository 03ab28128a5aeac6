"""im2col / col2im: the compiled kernel, its NumPy twin, and an independent reference.

* the compiled kernel and the twin agree exactly, over random shapes, kernels, strides,
  paddings, dtypes and memory layouts (hypothesis);
* im2col agrees with a reference built from the definition by fancy indexing;
* col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>, and col2im(c) equals
  M^T c for the explicit matrix M of the linear map im2col;
* bad arguments raise clear errors, in the twin, the dispatcher and the compiled module.
"""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minireg import kernels

compiled = importlib.import_module("minireg._ext.im2col")  # built by `pip install .`

SETTINGS = settings(max_examples=50, deadline=None)


@st.composite
def geometries(draw):
    """A random (x_shape, kh, kw, stride, padding) whose kernel fits the padded input."""
    n_batch = draw(st.integers(0, 3))
    channels = draw(st.integers(1, 3))
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    padding = draw(st.integers(0, 3))
    kh = draw(st.integers(1, min(6, height + 2 * padding)))
    kw = draw(st.integers(1, min(6, width + 2 * padding)))
    stride = draw(st.integers(1, 4))
    return (n_batch, channels, height, width), kh, kw, stride, padding


def random_array(shape, dtype, layout, seed):
    """Random values of ``shape`` in a C-contiguous, Fortran-ordered or strided array."""
    rng = np.random.default_rng(seed)
    if layout == "strided":
        return rng.standard_normal(shape[:-1] + (2 * shape[-1],)).astype(dtype)[..., ::2]
    array = rng.standard_normal(shape).astype(dtype)
    return np.asfortranarray(array) if layout == "fortran" else array


dtypes = st.sampled_from([np.float32, np.float64])
layouts = st.sampled_from(["c", "fortran", "strided"])
seeds = st.integers(0, 2**31)


def output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def im2col_reference(x, kh, kw, stride, padding):
    """cols[(c*KH + ky)*KW + kx, (n*OH + oh)*OW + ow] = x[n, c, oh*s + ky - p, ow*s + kx - p],
    or 0 outside the image, built by fancy indexing straight from the definition."""
    n_batch, channels, height, width = x.shape
    out_h, out_w = output_size(height, kh, stride, padding), output_size(width, kw, stride, padding)
    c, ky, kx, n, oh, ow = np.meshgrid(
        np.arange(channels), np.arange(kh), np.arange(kw),
        np.arange(n_batch), np.arange(out_h), np.arange(out_w), indexing="ij",
    )
    rows, cols = oh * stride + ky - padding, ow * stride + kx - padding
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    values = np.where(inside, x[n, c, np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)], 0)
    return values.reshape(channels * kh * kw, n_batch * out_h * out_w).astype(x.dtype)


@SETTINGS
@given(geometries(), dtypes, layouts, seeds)
def test_compiled_im2col_equals_twin_exactly(geometry, dtype, layout, seed):
    x_shape, kh, kw, stride, padding = geometry
    x = random_array(x_shape, dtype, layout, seed)
    fast = compiled.im2col(x, kh, kw, stride, padding)
    twin = kernels.im2col_numpy(x, kh, kw, stride, padding)
    assert fast.dtype == twin.dtype == dtype
    assert fast.shape == twin.shape
    np.testing.assert_array_equal(fast, twin)


@SETTINGS
@given(geometries(), dtypes, layouts, seeds)
def test_compiled_col2im_equals_twin_exactly(geometry, dtype, layout, seed):
    x_shape, kh, kw, stride, padding = geometry
    n_batch, channels, height, width = x_shape
    cols_shape = (channels * kh * kw,
                  n_batch * output_size(height, kh, stride, padding) * output_size(width, kw, stride, padding))
    cols = random_array(cols_shape, dtype, layout, seed)
    fast = compiled.col2im(cols, x_shape, kh, kw, stride, padding)
    twin = kernels.col2im_numpy(cols, x_shape, kh, kw, stride, padding)
    assert fast.dtype == twin.dtype == dtype
    assert fast.shape == twin.shape == x_shape
    np.testing.assert_array_equal(fast, twin)


@SETTINGS
@given(geometries(), dtypes, layouts, seeds)
def test_im2col_matches_definition(geometry, dtype, layout, seed):
    x_shape, kh, kw, stride, padding = geometry
    x = random_array(x_shape, dtype, layout, seed)
    expected = im2col_reference(np.ascontiguousarray(x), kh, kw, stride, padding)
    np.testing.assert_array_equal(kernels.im2col_numpy(x, kh, kw, stride, padding), expected)
    np.testing.assert_array_equal(compiled.im2col(x, kh, kw, stride, padding), expected)


@SETTINGS
@given(geometries(), seeds)
def test_col2im_is_the_adjoint_of_im2col(geometry, seed):
    x_shape, kh, kw, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    cols_x = compiled.im2col(x, kh, kw, stride, padding)
    c = rng.standard_normal(cols_x.shape)
    for col2im in (compiled.col2im, kernels.col2im_numpy):
        back = col2im(c, x_shape, kh, kw, stride, padding)
        np.testing.assert_allclose(np.vdot(cols_x, c), np.vdot(x, back), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kh, kw, stride, padding", [(3, 3, 1, 1), (2, 3, 2, 0), (3, 2, 3, 2), (4, 4, 2, 2)])
def test_col2im_is_the_transpose_of_the_im2col_matrix(kh, kw, stride, padding):
    """Build the matrix M of im2col column by column (im2col of each basis image) and
    check col2im(c) = M^T c."""
    x_shape = (2, 2, 5, 4)
    size = int(np.prod(x_shape))
    basis = np.eye(size).reshape((size,) + x_shape)
    matrix = np.stack([compiled.im2col(e, kh, kw, stride, padding).ravel() for e in basis], axis=1)
    c = np.random.default_rng(0).standard_normal(matrix.shape[0])
    cols = c.reshape(compiled.im2col(basis[0], kh, kw, stride, padding).shape)
    expected = (matrix.T @ c).reshape(x_shape)
    np.testing.assert_allclose(compiled.col2im(cols, x_shape, kh, kw, stride, padding), expected, rtol=1e-12)
    np.testing.assert_allclose(kernels.col2im_numpy(cols, x_shape, kh, kw, stride, padding), expected, rtol=1e-12)


def test_dispatcher_uses_compiled_kernel_or_twin():
    x = np.random.default_rng(1).standard_normal((3, 2, 6, 5)).astype(np.float32)
    previous = kernels.use_compiled(False)
    try:
        assert kernels.compiled_status()["im2col"] == "numpy twin"
        cols_twin = kernels.im2col(x, 3, 2, 2, 1)
        back_twin = kernels.col2im(cols_twin, x.shape, 3, 2, 2, 1)
        kernels.use_compiled(True)
        assert kernels.compiled_status()["im2col"] == "compiled"
        cols_fast = kernels.im2col(x, 3, 2, 2, 1)
        back_fast = kernels.col2im(cols_fast, x.shape, 3, 2, 2, 1)
    finally:
        kernels.use_compiled(previous)
    np.testing.assert_array_equal(cols_fast, cols_twin)
    np.testing.assert_array_equal(back_fast, back_twin)


# ---- errors --------------------------------------------------------------------------------

IM2COL_FUNCTIONS = [kernels.im2col_numpy, kernels.im2col, compiled.im2col]
COL2IM_FUNCTIONS = [kernels.col2im_numpy, kernels.col2im, compiled.col2im]
X = np.zeros((2, 3, 5, 5))


@pytest.mark.parametrize("im2col", IM2COL_FUNCTIONS)
@pytest.mark.parametrize("x, kh, kw, stride, padding, error, message", [
    (np.zeros((3, 5, 5)), 3, 3, 1, 0, ValueError, "4 dimensions"),
    (np.zeros((2, 3, 5, 5), dtype=np.int64), 3, 3, 1, 0, TypeError, "float32 or float64"),
    (np.zeros((2, 3, 5, 5), dtype=np.float16), 3, 3, 1, 0, TypeError, "float32 or float64"),
    (X, 3, 3, 1, -1, ValueError, "padding"),
    (X, 3, 3, 0, 0, ValueError, "stride"),
    (X, 0, 3, 1, 0, ValueError, "kernel size"),
    (X, 8, 3, 1, 1, ValueError, "larger than the padded input height"),
    (X, 3, 6, 1, 0, ValueError, "larger than the padded input width"),
])
def test_im2col_rejects_bad_arguments(im2col, x, kh, kw, stride, padding, error, message):
    with pytest.raises(error, match=message):
        im2col(x, kh, kw, stride, padding)


@pytest.mark.parametrize("col2im", COL2IM_FUNCTIONS)
def test_col2im_accepts_the_shape_im2col_produces(col2im):
    # x of shape (2, 3, 5, 5), 3x3 kernel, stride 1, no padding: cols is (3*3*3, 2*3*3)
    assert col2im(np.ones((27, 18)), (2, 3, 5, 5), 3, 3, 1, 0).shape == (2, 3, 5, 5)


@pytest.mark.parametrize("col2im", COL2IM_FUNCTIONS)
@pytest.mark.parametrize("cols_shape, x_shape, kh, kw, stride, padding, error, message", [
    ((27, 17), (2, 3, 5, 5), 3, 3, 1, 0, ValueError, r"needs \(27, 18\)"),
    ((27, 18, 1), (2, 3, 5, 5), 3, 3, 1, 0, ValueError, "cols"),
    ((27, 18), (2, 3, 5), 3, 3, 1, 0, ValueError, "x_shape"),
    ((27, 18), (2, 3, 5, 5), 3, 3, 1, -2, ValueError, "padding"),
    ((27, 18), (2, 3, 5, 5), 3, 3, 0, 0, ValueError, "stride"),
    ((27, 18), (2, 3, 2, 2), 3, 3, 1, 0, ValueError, "larger than the padded input"),
])
def test_col2im_rejects_bad_arguments(col2im, cols_shape, x_shape, kh, kw, stride, padding, error, message):
    with pytest.raises(error, match=message):
        col2im(np.zeros(cols_shape), x_shape, kh, kw, stride, padding)


@pytest.mark.parametrize("col2im", COL2IM_FUNCTIONS)
def test_col2im_rejects_integer_cols(col2im):
    with pytest.raises(TypeError, match="float32 or float64"):
        col2im(np.zeros((27, 18), dtype=np.int32), (2, 3, 5, 5), 3, 3, 1, 0)


@pytest.mark.parametrize("im2col", [kernels.im2col_numpy, kernels.im2col])
def test_im2col_rejects_non_integer_window_arguments(im2col):
    with pytest.raises(TypeError, match="stride must be an int"):
        im2col(X, 3, 3, 1.5, 0)
    with pytest.raises(TypeError, match="padding must be an int"):
        im2col(X, 3, 3, 1, True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0), (1, 2)])
def test_large_inputs_split_over_threads_still_equal_the_twin(dtype, stride, padding):
    # above 2**18 entries the compiled kernels split the planes among threads
    x = random_array((8, 16, 40, 40), dtype, "c", seed=stride + 10 * padding)
    cols = compiled.im2col(x, 3, 3, stride, padding)
    assert cols.size > 2**18
    np.testing.assert_array_equal(cols, kernels.im2col_numpy(x, 3, 3, stride, padding))
    upstream = random_array(cols.shape, dtype, "c", seed=1)
    np.testing.assert_array_equal(compiled.col2im(upstream, x.shape, 3, 3, stride, padding),
                                  kernels.col2im_numpy(upstream, x.shape, 3, 3, stride, padding))


@pytest.mark.parametrize("im2col", [compiled.im2col, kernels.im2col_numpy, kernels.im2col])
def test_im2col_writes_into_out_and_checks_it(im2col):
    x = random_array((2, 3, 5, 5), np.float32, "c", seed=3)
    expected = kernels.im2col_numpy(x, 3, 3, 1, 1)
    out = np.full(expected.shape, np.nan, dtype=np.float32)
    assert im2col(x, 3, 3, 1, 1, out=out) is out
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="out"):
        im2col(x, 3, 3, 1, 1, out=np.empty(expected.shape, dtype=np.float64))
    with pytest.raises(ValueError, match="out"):
        im2col(x, 3, 3, 1, 1, out=np.empty((expected.shape[0] + 1, expected.shape[1]), np.float32))
