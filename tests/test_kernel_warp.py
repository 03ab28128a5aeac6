"""The bilinear affine warp: the compiled kernel (minireg/_ext/warp.pyx) and its NumPy twin.

* compiled and twin agree exactly (``assert_array_equal``, tolerance 0, float32 and
  float64 alike), on random maps and odd shapes: H != W, several channels, 1-pixel sides,
  empty batches, maps that land exactly on the edges, any memory layout (hypothesis);
* both agree with ``scipy.ndimage.affine_transform(order=1, mode="constant")``;
* bad arguments raise clear errors at the door, on both paths.
The compiled module must be built: if it is not, the comparison tests fail, not skip.
"""
import numpy as np
import pytest
import scipy.ndimage as ndimage
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
from minireg import kernels
from minireg.images import affine_matrices

PATHS = ["compiled", "twin"]


def kernel_path(path):
    return helpers.kernel_path(path, "warp")


def both_paths(images, A, b):
    """``kernels.warp_affine`` through the compiled kernel, then through the twin."""
    results = []
    for path in PATHS:
        with kernel_path(path):
            results.append(kernels.warp_affine(images, A, b))
    return results


def random_maps(rng, n, height, width, kind):
    """``n`` inverse maps: general random matrices, or rotations by multiples of 90 degrees
    (sample points on the pixels and the edges, the tolerance at work), or whole-pixel shifts."""
    if kind == "random":
        A = rng.uniform(-1.5, 1.5, (n, 2, 2))
        b = rng.uniform(-0.5, 1.5, (n, 2)) * np.array([height, width])
    elif kind == "quarter turns":
        A, b = affine_matrices((height, width), rotation=90.0 * rng.integers(-2, 3, n))
    else:
        A, b = affine_matrices((height, width), translation=tuple(rng.integers(-3, 4, (2, n)).astype(float)))
    return A, b


@st.composite
def warp_inputs(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = (draw(st.integers(0, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    images = rng.standard_normal(shape).astype(dtype)
    layout = draw(st.sampled_from(["contiguous", "channels last", "strided"]))
    if layout == "channels last":
        images = np.ascontiguousarray(images.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    elif layout == "strided":
        images = np.repeat(images, 2, axis=-1)[..., ::2]
    kind = draw(st.sampled_from(["random", "quarter turns", "shifts"]))
    A, b = random_maps(rng, shape[0], shape[2], shape[3], kind)
    return images, A, b


@settings(max_examples=80, deadline=None)
@given(warp_inputs())
def test_compiled_and_twin_agree_exactly(inputs):
    images, A, b = inputs
    compiled, twin = both_paths(images, A, b)
    assert compiled.dtype == twin.dtype == images.dtype
    assert compiled.shape == twin.shape == images.shape and compiled.flags.c_contiguous
    np.testing.assert_array_equal(compiled, twin)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(128, 1, 28, 28), (5, 3, 7, 11), (3, 2, 1, 1), (4, 1, 1, 9), (4, 2, 6, 1)])
def test_compiled_and_twin_agree_exactly_on_augmentation_maps(shape, dtype):
    """The maps of RandomAffine and RandAugment: rotations, scalings, shears, shifts, flips."""
    rng = np.random.default_rng(sum(shape))
    n = shape[0]
    images = rng.random(shape).astype(dtype)
    A, b = affine_matrices(shape[2:], rotation=rng.uniform(-60, 60, n), scale=rng.uniform(0.5, 1.5, n),
                           shear=tuple(rng.uniform(-0.3, 0.3, (2, n))), translation=tuple(rng.uniform(-3, 3, (2, n))),
                           flip_horizontal=rng.random(n) < 0.5, flip_vertical=rng.random(n) < 0.5)
    compiled, twin = both_paths(images, A, b)
    np.testing.assert_array_equal(compiled, twin)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_both_paths_agree_with_scipy_ndimage(path, dtype, tolerance):
    rng = np.random.default_rng(3)
    images = rng.random((3, 2, 9, 13)).astype(dtype)
    A, b = random_maps(rng, 3, 9, 13, "random")
    expected = np.stack([[ndimage.affine_transform(images[n, c].astype(np.float64), A[n], offset=b[n], order=1,
                                                   mode="constant", cval=0) for c in range(2)] for n in range(3)])
    with kernel_path(path):
        warped = kernels.warp_affine(images, A, b)
    # scipy knows no 1e-4 pixel tolerance at the edges: leave out the points near them
    rows, columns = np.meshgrid(np.arange(9), np.arange(13), indexing="ij")
    q_row = A[:, 0, 0, None, None] * rows + A[:, 0, 1, None, None] * columns + b[:, 0, None, None]
    q_column = A[:, 1, 0, None, None] * rows + A[:, 1, 1, None, None] * columns + b[:, 1, None, None]
    near_edge = ((np.abs(q_row) < 1e-3) | (np.abs(q_row - 8) < 1e-3)
                 | (np.abs(q_column) < 1e-3) | (np.abs(q_column - 12) < 1e-3))
    clear = np.broadcast_to(~near_edge[:, None], warped.shape)
    np.testing.assert_allclose(warped[clear], expected[clear], rtol=0, atol=tolerance)
    assert clear.mean() > 0.9


@pytest.mark.parametrize("path", PATHS)
def test_a_one_pixel_image_is_kept_at_its_pixel_and_zero_elsewhere(path):
    images = np.array([[[[0.75]], [[-2.0]]]] * 3, dtype=np.float32)
    A = np.stack([np.eye(2)] * 3)
    b = np.array([[0.0, 0.0], [5e-5, -5e-5], [0.0, 0.5]])     # on it, within the tolerance, off it
    with kernel_path(path):
        warped = kernels.warp_affine(images, A, b)
    np.testing.assert_array_equal(warped[:2], images[:2])
    np.testing.assert_array_equal(warped[2], 0)


WIDE = np.zeros((2, 1, 3, 4))
IDENTITY, ORIGIN = np.stack([np.eye(2)] * 2), np.zeros((2, 2))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("images, A, b, error, message", [
    (WIDE[0], IDENTITY, ORIGIN, ValueError, r"images must have 4 dimensions \(N, C, H, W\)"),
    (WIDE.astype(np.int64), IDENTITY, ORIGIN, TypeError, "images must be a NumPy array of float32 or float64"),
    (WIDE.tolist(), IDENTITY, ORIGIN, TypeError, "images must be a NumPy array"),
    (WIDE, IDENTITY[:1], ORIGIN, ValueError, r"shapes \(2, 2, 2\) and \(2, 2\).*got \(1, 2, 2\) and \(2, 2\)"),
    (WIDE, IDENTITY, np.zeros((2, 3)), ValueError, r"shapes \(2, 2, 2\) and \(2, 2\).*got \(2, 2, 2\) and \(2, 3\)"),
    (WIDE, IDENTITY.astype(int), ORIGIN, TypeError, "A must be a NumPy array of float32 or float64"),
    (WIDE, np.where(IDENTITY == 1, np.nan, 0), ORIGIN, ValueError, "A must hold finite numbers only"),
    (WIDE, IDENTITY, ORIGIN + np.inf, ValueError, "b must hold finite numbers only"),
    (WIDE.astype(np.float32), IDENTITY * 1e38, ORIGIN, ValueError, "coordinates as large as 3e"),
    (WIDE, IDENTITY, ORIGIN - 1e308, ValueError, "a quarter of the largest float64"),
])
def test_bad_arguments_raise_clear_errors(path, images, A, b, error, message):
    with kernel_path(path), pytest.raises(error, match=message):
        kernels.warp_affine(images, A, b)


@pytest.mark.parametrize("shape", [(0, 1, 5, 5), (2, 0, 5, 5), (2, 1, 0, 5), (2, 1, 5, 0)])
def test_empty_batches_channels_and_sides_give_empty_results(shape):
    images = np.zeros(shape, dtype=np.float32)
    A, b = np.broadcast_to(np.eye(2), (shape[0], 2, 2)), np.zeros((shape[0], 2))
    for warped in both_paths(images, A, b):
        assert warped.shape == shape and warped.dtype == np.float32
