"""im2col / col2im: the compiled kernel, its NumPy twin, and an independent reference.

* the compiled kernel and the twin agree exactly, over random shapes, kernels, strides,
  paddings, dtypes and memory layouts (hypothesis);
* im2col agrees with a reference built from the definition by fancy indexing;
* col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>, and col2im(c) equals
  M^T c for the explicit matrix M of the linear map im2col;
* bad arguments raise clear errors at the door (``kernels.im2col`` and the others), on
  both paths; behind it, the twins and the compiled module assume valid arguments.
"""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
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


# ---- errors, at the door, on both paths -----------------------------------------------------

PATHS = ["compiled", "twin"]
X = np.zeros((2, 3, 5, 5))


def kernel_path(path):
    return helpers.kernel_path(path, "im2col")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("x, kh, kw, stride, padding, error, message", [
    (np.zeros((3, 5, 5)), 3, 3, 1, 0, ValueError, "4 dimensions"),
    (np.zeros((2, 3, 5, 5), dtype=np.int64), 3, 3, 1, 0, TypeError, "float32 or float64"),
    (np.zeros((2, 3, 5, 5), dtype=np.float16), 3, 3, 1, 0, TypeError, "float32 or float64"),
    (np.zeros((2, 3, 5, 5), dtype=np.complex128), 3, 3, 1, 0, TypeError, "float32 or float64"),
    (np.zeros((2, 3, 5, 5)).tolist(), 3, 3, 1, 0, TypeError, "x must be a NumPy array"),
    (X, 3, 3, 1, -1, ValueError, "padding"),
    (X, 3, 3, 0, 0, ValueError, "stride"),
    (X, 0, 3, 1, 0, ValueError, "kh must be an integer >= 1"),
    (X, 3, 0, 1, 0, ValueError, "kw must be an integer >= 1"),
    (X, 8, 3, 1, 1, ValueError, "larger than the padded input height"),
    (X, 3, 6, 1, 0, ValueError, "larger than the padded input width"),
    (X, 3, 3, 1.5, 0, TypeError, "stride must be an integer"),
    (X, 3, 3, 1, True, TypeError, "padding must be an integer"),
    (X, 3.0, 3, 1, 0, TypeError, "kh must be an integer"),
])
def test_im2col_rejects_bad_arguments(path, x, kh, kw, stride, padding, error, message):
    with kernel_path(path), pytest.raises(error, match=message):
        kernels.im2col(x, kh, kw, stride, padding)


@pytest.mark.parametrize("path", PATHS)
def test_col2im_accepts_the_shape_im2col_produces(path):
    # x of shape (2, 3, 5, 5), 3x3 kernel, stride 1, no padding: cols is (3*3*3, 2*3*3)
    with kernel_path(path):
        assert kernels.col2im(np.ones((27, 18)), (2, 3, 5, 5), 3, 3, 1, 0).shape == (2, 3, 5, 5)
        assert kernels.col2im(np.ones((27, 18)), [np.int64(2), 3, 5, 5], 3, 3, 1, 0).shape == (2, 3, 5, 5)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("cols, x_shape, kh, kw, stride, padding, error, message", [
    (np.zeros((27, 17)), (2, 3, 5, 5), 3, 3, 1, 0, ValueError, r"needs \(27, 18\)"),
    (np.zeros((27, 18, 1)), (2, 3, 5, 5), 3, 3, 1, 0, ValueError, "cols"),
    (np.zeros((27, 18)), (2, 3, 5), 3, 3, 1, 0, ValueError, "x_shape"),
    (np.zeros((27, 18)), 5, 3, 3, 1, 0, TypeError, "x_shape"),
    (np.zeros((27, 18)), (2, 3, 5.0, 5), 3, 3, 1, 0, TypeError, r"x_shape\[2\] must be an integer"),
    (np.zeros((27, 18)), (2, 3, 5.7, 5), 3, 3, 1, 0, TypeError, r"x_shape\[2\] must be an integer"),
    (np.zeros((27, 18)), (2, -3, 5, 5), 3, 3, 1, 0, ValueError, r"x_shape\[1\] must be an integer >= 0"),
    (np.zeros((27, 18)), (2, 3, 5, 5), 3, 3, 1, -2, ValueError, "padding"),
    (np.zeros((27, 18)), (2, 3, 5, 5), 3, 3, 0, 0, ValueError, "stride"),
    (np.zeros((27, 18)), (2, 3, 2, 2), 3, 3, 1, 0, ValueError, "larger than the padded input"),
    (np.zeros((27, 18), dtype=np.int32), (2, 3, 5, 5), 3, 3, 1, 0, TypeError, "float32 or float64"),
    (np.zeros((27, 18), dtype=np.float16), (2, 3, 5, 5), 3, 3, 1, 0, TypeError, "float32 or float64"),
])
def test_col2im_rejects_bad_arguments(path, cols, x_shape, kh, kw, stride, padding, error, message):
    with kernel_path(path), pytest.raises(error, match=message):
        kernels.col2im(cols, x_shape, kh, kw, stride, padding)


def test_conv_output_size_checks_its_arguments():
    assert kernels.conv_output_size(28, 5, 1, 2) == 28
    assert kernels.conv_output_size(np.int64(7), 3, 2, 0) == 3
    for args, error, message in [((3, 0, 1, 0), ValueError, "kernel must be an integer >= 1"),
                                 ((3, 1, 0, 0), ValueError, "stride must be an integer >= 1"),
                                 ((3, 1, 1, -1), ValueError, "padding must be an integer >= 0"),
                                 ((3.5, 1, 1, 0), TypeError, "size must be an integer"),
                                 ((3, 5, 1, 0), ValueError, "larger than the padded input size")]:
        with pytest.raises(error, match=message):
            kernels.conv_output_size(*args)


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


@pytest.mark.parametrize("path", PATHS)
def test_im2col_writes_into_out_and_checks_it(path):
    x = random_array((2, 3, 5, 5), np.float32, "c", seed=3)
    expected = kernels.im2col_numpy(x, 3, 3, 1, 1)
    out = np.full(expected.shape, np.nan, dtype=np.float32)
    with kernel_path(path):
        assert kernels.im2col(x, 3, 3, 1, 1, out=out) is out
        np.testing.assert_array_equal(out, expected)
        for bad in (np.empty(expected.shape, dtype=np.float64),
                    np.empty((expected.shape[0] + 1, expected.shape[1]), np.float32),
                    np.empty(expected.shape[::-1], np.float32).T,  # the right shape, not C-contiguous
                    np.broadcast_to(np.float32(0), expected.shape)):  # read-only
            with pytest.raises(ValueError, match="out must be a writeable C-contiguous"):
                kernels.im2col(x, 3, 3, 1, 1, out=bad)
        with pytest.raises(TypeError, match="out must be None or"):
            kernels.im2col(x, 3, 3, 1, 1, out=expected.tolist())


@pytest.mark.parametrize("path", PATHS)
def test_out_that_shares_memory_with_the_input_is_refused(path):
    """The compiled kernels read the input while they write ``out`` (with no padding,
    im2col reads ``x`` itself), so an overlapping ``out`` would give other numbers than
    the twin: both paths refuse it."""
    # 1x1 kernel, no padding, one image of one channel: cols has the shape of x's pixels
    memory = np.arange(1.0, 17.0)
    x = memory[:9].reshape(1, 1, 3, 3)
    with kernel_path(path):
        with pytest.raises(ValueError, match="out shares memory with x"):
            kernels.im2col(x, 1, 1, 1, 0, out=memory[4:13].reshape(1, 9))
        image = memory[:16].reshape(1, 4, 4, 1)
        with pytest.raises(ValueError, match="out shares memory with x"):
            kernels.im2row(image, 1, 1, 1, out=memory.reshape(16, 1))
        rows = memory.reshape(16, 1)
        with pytest.raises(ValueError, match="out shares memory with rows"):
            kernels.row2im(rows, (1, 4, 4, 1), 1, 1, 1, out=memory.reshape(1, 4, 4, 1))
    np.testing.assert_array_equal(memory, np.arange(1.0, 17.0))  # nothing was written


# ---- im2row / row2im: the same unfolding of a padded NHWC image, one row per pixel ------------


@st.composite
def nhwc_geometries(draw):
    """A random (x_shape (N, H, W, C), kh, kw, stride) whose kernel fits the (padded) image."""
    n_batch, channels = draw(st.integers(0, 3)), draw(st.integers(1, 4))
    height, width = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    kh, kw = draw(st.integers(1, min(6, height))), draw(st.integers(1, min(6, width)))
    return (n_batch, height, width, channels), kh, kw, draw(st.integers(1, 4))


def im2row_reference(x, kh, kw, stride):
    """rows[(n*OH + oh)*OW + ow, (ky*KW + kx)*C + c] = x[n, oh*s + ky, ow*s + kx, c], by fancy indexing."""
    n_batch, height, width, channels = x.shape
    out_h, out_w = output_size(height, kh, stride, 0), output_size(width, kw, stride, 0)
    n, oh, ow, ky, kx, c = np.meshgrid(
        np.arange(n_batch), np.arange(out_h), np.arange(out_w),
        np.arange(kh), np.arange(kw), np.arange(channels), indexing="ij",
    )
    values = x[n, oh * stride + ky, ow * stride + kx, c]
    return values.reshape(n_batch * out_h * out_w, kh * kw * channels)


@SETTINGS
@given(nhwc_geometries(), dtypes, layouts, seeds)
def test_im2row_compiled_twin_and_definition_agree_exactly(geometry, dtype, layout, seed):
    x_shape, kh, kw, stride = geometry
    x = random_array(x_shape, dtype, layout, seed)
    expected = im2row_reference(np.ascontiguousarray(x), kh, kw, stride)
    for im2row in (compiled.im2row, kernels.im2row_numpy, kernels.im2row):
        rows = im2row(x, kh, kw, stride)
        assert rows.dtype == dtype
        np.testing.assert_array_equal(rows, expected)


@SETTINGS
@given(nhwc_geometries(), dtypes, layouts, seeds)
def test_row2im_compiled_equals_twin_exactly(geometry, dtype, layout, seed):
    x_shape, kh, kw, stride = geometry
    n_batch, height, width, channels = x_shape
    rows_shape = (n_batch * output_size(height, kh, stride, 0) * output_size(width, kw, stride, 0),
                  kh * kw * channels)
    rows = random_array(rows_shape, dtype, layout, seed)
    fast = compiled.row2im(rows, x_shape, kh, kw, stride)
    twin = kernels.row2im_numpy(rows, x_shape, kh, kw, stride)
    assert fast.dtype == twin.dtype == dtype
    assert fast.shape == twin.shape == x_shape
    np.testing.assert_array_equal(fast, twin)


@SETTINGS
@given(geometries(), seeds)
def test_im2row_of_the_padded_nhwc_image_is_im2col_reordered(geometry, seed):
    """The two layouts hold the same numbers: im2row(pad(x) in NHWC) is im2col(x) with its
    rows (c, ky, kx) -> columns (ky, kx, c) and its columns (n, oh, ow) -> rows."""
    (n_batch, channels, height, width), kh, kw, stride, padding = geometry
    x = np.random.default_rng(seed).standard_normal((n_batch, channels, height, width))
    x_nhwc = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))).transpose(0, 2, 3, 1)
    rows = compiled.im2row(x_nhwc, kh, kw, stride)
    cols = compiled.im2col(x, kh, kw, stride, padding)
    cols = cols.reshape(channels, kh, kw, -1).transpose(3, 1, 2, 0).reshape(rows.shape)
    np.testing.assert_array_equal(rows, cols)


@SETTINGS
@given(nhwc_geometries(), seeds)
def test_row2im_is_the_adjoint_of_im2row(geometry, seed):
    x_shape, kh, kw, stride = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    rows_x = compiled.im2row(x, kh, kw, stride)
    r = rng.standard_normal(rows_x.shape)
    for row2im in (compiled.row2im, kernels.row2im_numpy):
        np.testing.assert_allclose(np.vdot(rows_x, r), np.vdot(x, row2im(r, x_shape, kh, kw, stride)),
                                   rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kh, kw, stride", [(3, 3, 1), (2, 3, 2), (3, 2, 3)])
def test_row2im_is_the_transpose_of_the_im2row_matrix(kh, kw, stride):
    x_shape = (2, 6, 5, 2)
    size = int(np.prod(x_shape))
    basis = np.eye(size).reshape((size,) + x_shape)
    matrix = np.stack([compiled.im2row(e, kh, kw, stride).ravel() for e in basis], axis=1)
    r = np.random.default_rng(0).standard_normal(matrix.shape[0])
    rows = r.reshape(compiled.im2row(basis[0], kh, kw, stride).shape)
    expected = (matrix.T @ r).reshape(x_shape)
    for row2im in (compiled.row2im, kernels.row2im_numpy, kernels.row2im):
        np.testing.assert_allclose(row2im(rows, x_shape, kh, kw, stride), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_row_calls_split_over_threads_still_equal_the_twin(dtype):
    # above 2**22 entries the compiled row kernels split the images among threads
    x = random_array((16, 34, 34, 16), dtype, "c", seed=7)
    rows = compiled.im2row(x, 5, 5, 1)
    assert rows.size > 2**22
    np.testing.assert_array_equal(rows, kernels.im2row_numpy(x, 5, 5, 1))
    np.testing.assert_array_equal(compiled.row2im(rows, x.shape, 5, 5, 1),
                                  kernels.row2im_numpy(rows, x.shape, 5, 5, 1))


@pytest.mark.parametrize("path", PATHS)
def test_row_kernels_write_into_out_and_check_it(path):
    x = random_array((2, 6, 6, 3), np.float32, "c", seed=3)
    expected_rows = kernels.im2row_numpy(x, 3, 3, 1)
    out = np.full(expected_rows.shape, np.nan, dtype=np.float32)
    with kernel_path(path):
        assert kernels.im2row(x, 3, 3, 1, out=out) is out
        np.testing.assert_array_equal(out, expected_rows)
        back = np.full(x.shape, np.nan, dtype=np.float32)  # overwritten, not added to
        assert kernels.row2im(expected_rows, x.shape, 3, 3, 1, out=back) is back
        np.testing.assert_array_equal(back, kernels.row2im_numpy(expected_rows, x.shape, 3, 3, 1))
        for bad in (np.empty(expected_rows.shape, np.float64), np.empty((3, 27), np.float32),
                    np.empty((54, 16), np.float32)[:, ::2]):
            with pytest.raises(ValueError, match="out"):
                kernels.im2row(x, 3, 3, 1, out=bad)
        with pytest.raises(ValueError, match="out"):
            kernels.row2im(expected_rows, x.shape, 3, 3, 1, out=np.empty((2, 6, 6, 3), np.float64))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("x, kh, kw, stride, error, message", [
    (np.zeros((5, 5, 3)), 3, 3, 1, ValueError, "4 dimensions"),
    (np.zeros((2, 5, 5, 3), dtype=np.int64), 3, 3, 1, TypeError, "float32 or float64"),
    (np.zeros((2, 5, 5, 3), dtype=np.complex64), 3, 3, 1, TypeError, "float32 or float64"),
    (np.zeros((2, 5, 5, 3)), 3, 3, 0, ValueError, "stride"),
    (np.zeros((2, 5, 5, 3)), 0, 3, 1, ValueError, "kh must be an integer >= 1"),
    (np.zeros((2, 5, 5, 3)), 6, 3, 1, ValueError, "larger than the padded input height"),
    (np.zeros((2, 5, 5, 3)), 3, 6, 1, ValueError, "larger than the padded input width"),
])
def test_im2row_rejects_bad_arguments(path, x, kh, kw, stride, error, message):
    with kernel_path(path), pytest.raises(error, match=message):
        kernels.im2row(x, kh, kw, stride)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("rows, x_shape, error, message", [
    (np.zeros((18, 26)), (2, 5, 5, 3), ValueError, r"needs \(18, 27\)"),
    (np.zeros((18, 27)), (2, 5, 5), ValueError, "x_shape"),
    (np.zeros((18, 27)), (2, 2, 5, 3), ValueError, "larger than the padded input height"),
    (np.zeros((18, 27)), (2, 5.5, 5, 3), TypeError, r"x_shape\[1\] must be an integer"),
    (np.zeros((18, 27), dtype=np.int32), (2, 5, 5, 3), TypeError, "float32 or float64"),
])
def test_row2im_rejects_bad_arguments(path, rows, x_shape, error, message):
    with kernel_path(path), pytest.raises(error, match=message):
        kernels.row2im(rows, x_shape, 3, 3, 1)


@pytest.mark.parametrize("path", PATHS)
def test_empty_inputs_give_empty_results_on_both_paths(path):
    with kernel_path(path):
        assert kernels.im2col(np.zeros((0, 2, 4, 4)), 3, 3, 1, 1).shape == (18, 0)
        assert kernels.im2col(np.zeros((1, 0, 4, 4)), 3, 3, 1, 1).shape == (0, 16)
        assert kernels.col2im(np.zeros((18, 0)), (0, 2, 4, 4), 3, 3, 1, 1).shape == (0, 2, 4, 4)
        assert kernels.im2row(np.zeros((0, 4, 4, 2)), 3, 3, 1).shape == (0, 18)
        assert kernels.im2row(np.zeros((1, 4, 4, 0)), 3, 3, 1).shape == (4, 0)
        assert kernels.row2im(np.zeros((4, 0)), (1, 4, 4, 0), 3, 3, 1).shape == (1, 4, 4, 0)
