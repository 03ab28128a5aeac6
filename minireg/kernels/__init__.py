"""The hot paths of minireg, each written twice: readable NumPy, and compiled.

Four computations dominate the running time of what minireg does. Each has a module
here holding its readable NumPy *twin*, named like the Cython file that compiles it
(as scikit-learn pairs ``isotonic.py`` with ``_isotonic.pyx``):

================  ==========================================  =======================
module            twins                                       compiled
================  ==========================================  =======================
``im2col.py``     ``im2col_numpy``, ``col2im_numpy``,          ``_ext/im2col.pyx``
                  ``im2row_numpy``, ``row2im_numpy``: the
                  unfolding behind convolution
``pava.py``       ``isotonic_nonincreasing_numpy``,            ``_ext/pava.pyx``
                  ``owl_prox_numpy``, ``growl_prox_numpy``:
                  the OWL / GrOWL proximal operators
``dropout.py``    ``dropout_numpy``: dropout masks              ``_ext/dropout.pyx``
``warp.py``       ``warp_affine_numpy``: the bilinear affine   ``_ext/warp.pyx``
                  warp of data augmentation
================  ==========================================  =======================

Read a twin to learn what a kernel computes; the tests check that twin and kernel agree.

This file holds the public functions (``im2col``, ``owl_prox``, ``dropout``, ...). Each
checks its arguments once, here at the door, and then calls the compiled kernel when it
is built and switched on, or the twin otherwise; twins and kernels assume valid input.
(One exception, for speed: the compiled OWL / GrOWL kernels report a non-finite input,
invalid weights ``lam`` or an overflowing row norm themselves, found during their first
pass over the data at no cost, where three NumPy passes in advance would add about 9 us
to the 13 us of a call on 1000 entries. The twin path checks the same rules in NumPy
before it computes, and both paths raise the same error.)

The public functions ``im2col`` and ``dropout`` share their names with the modules
``im2col.py`` and ``dropout.py``: ``kernels.im2col`` is the function. The twins are
re-exported here (``kernels.im2col_numpy``), so the modules need not be reached
(``importlib.import_module("minireg.kernels.im2col")`` does, if you must).

The switch
----------
* ``MINIREG_PURE_NUMPY`` in the environment, read when minireg is imported: ``1``,
  ``true``, ``yes`` or ``on`` (any case) starts with the twins switched on everywhere
  (useful for stepping through the code); unset, empty, ``0``, ``false``, ``no`` or
  ``off`` starts with the compiled kernels; any other value warns and uses them too;
* ``use_compiled(False)`` / ``use_compiled(True)`` flips it at run time, and returns
  the previous setting so that a test can restore it;
* ``compiled_status()`` says, for each kernel, whether it is built and in use.

If the extensions are not built (for instance a source checkout used without
``pip install``), minireg still imports and works through the twins, and says so once
with a :class:`RuntimeWarning`.
"""
from __future__ import annotations

import importlib
import os
import warnings

import numpy as np

from minireg import checks

from .dropout import DROPOUT_DRAW_BITS, dropout_numpy, keep_threshold
from .im2col import col2im_numpy, im2col_numpy, im2row_numpy, output_size, row2im_numpy
from .pava import growl_prox_numpy, isotonic_nonincreasing_numpy, owl_prox_numpy, row_norms
from .warp import EDGE_TOLERANCE, warp_affine_numpy

# ---------------------------------------------------------------------------------------
# The switch
# ---------------------------------------------------------------------------------------

_EXTENSION_NAMES = ("im2col", "pava", "dropout", "warp")
PURE_NUMPY_VARIABLE = "MINIREG_PURE_NUMPY"
_TWIN_SETTINGS = ("1", "true", "yes", "on")
_COMPILED_SETTINGS = ("", "0", "false", "no", "off")


def _twins_requested(setting: str | None) -> bool:
    """Whether a value of MINIREG_PURE_NUMPY asks for the twins (see the module docstring).

    A value that is neither a yes nor a no warns, naming the variable and the accepted
    values, and counts as no.
    """
    value = (setting or "").strip().lower()
    if value in _TWIN_SETTINGS:
        return True
    if value not in _COMPILED_SETTINGS:
        warnings.warn(
            f"{PURE_NUMPY_VARIABLE}={setting!r} is not understood, so minireg uses the compiled "
            f"kernels. Accepted values (any case): {', '.join(_TWIN_SETTINGS)} for the NumPy twins; "
            f"{', '.join(repr(v) for v in _COMPILED_SETTINGS)} or unset for the compiled kernels.",
            RuntimeWarning,
            stacklevel=3,
        )
    return False


def _load_extensions():
    loaded, missing = {}, []
    for name in _EXTENSION_NAMES:
        try:
            loaded[name] = importlib.import_module(f"minireg._ext.{name}")
        except ImportError:
            missing.append(name)
    return loaded, missing


_EXT, _MISSING = _load_extensions()
_USE_COMPILED = not _twins_requested(os.environ.get(PURE_NUMPY_VARIABLE))

if _MISSING and _USE_COMPILED:
    warnings.warn(
        "minireg: the compiled kernels "
        + ", ".join(f"minireg._ext.{name}" for name in _MISSING)
        + " are not built, so minireg uses their pure-NumPy twins (correct, but slower). "
        "Build them with `pip install -e .` from the source checkout.",
        RuntimeWarning,
        stacklevel=2,
    )


def use_compiled(enabled: bool) -> bool:
    """Switch the compiled kernels on (``True``) or force the NumPy twins (``False``).

    Returns the previous setting. Kernels that are not built always fall back to
    their twins, whatever this says.
    """
    global _USE_COMPILED
    if not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"use_compiled(enabled=...) takes True or False, got {enabled!r}")
    previous, _USE_COMPILED = _USE_COMPILED, bool(enabled)
    return previous


def compiled_status() -> dict:
    """For each kernel: ``'compiled'`` if it is built and in use, else ``'numpy twin'``."""
    return {name: "compiled" if _compiled(name) else "numpy twin" for name in _EXTENSION_NAMES}


def _compiled(name: str):
    """The compiled module ``name`` if it is built and switched on, else ``None``."""
    return _EXT.get(name) if _USE_COMPILED else None


# ---------------------------------------------------------------------------------------
# Arrays in and out
# ---------------------------------------------------------------------------------------

def _float_array(value, name: str) -> np.ndarray:
    """``value`` as a float32 or float64 ndarray (lists are converted), else an error naming it."""
    return checks.check_float_array(checks.as_array(value, name), name)


def check_out(out, like, name="out"):
    """``out`` (or None) checked to receive a result of the shape and dtype of ``like``."""
    if out is None:
        return None
    return checks.check_out_array(out, name, like.shape, like.dtype)


def _out_like(out, array, array_name):
    """``out`` checked like ``array``, and refused when it overlaps ``array`` without being
    it: the kernels that take an ``out`` like their input work in place, entry by entry."""
    out = check_out(out, array)
    if out is not None:
        checks.check_no_overlap(out, array, "out", array_name, in_place=True)
    return out


def _store(result, out):
    """Return ``result``, or copy it into ``out`` (unless it is already there) and return ``out``."""
    if out is None or result is out:
        return result
    out[...] = result
    return out


# ---------------------------------------------------------------------------------------
# im2col / col2im and im2row / row2im  (twins: im2col.py, compiled: _ext/im2col.pyx)
# ---------------------------------------------------------------------------------------

def conv_output_size(size: int, kernel: int, stride: int, padding: int, name: str = "size") -> int:
    """Number of window positions along one axis: ``(size + 2*padding - kernel) // stride + 1``.

    Raises ``ValueError`` when the kernel does not fit in the padded input.
    """
    size = checks.check_int(size, name, minimum=0)
    kernel = checks.check_int(kernel, "kernel", minimum=1)
    stride = checks.check_int(stride, "stride", minimum=1)
    padding = checks.check_int(padding, "padding", minimum=0)
    return _positions(size, kernel, stride, padding, name)


def _positions(size, kernel, stride, padding, name):
    """:func:`conv_output_size` of checked integers."""
    if size + 2 * padding < kernel:
        raise ValueError(
            f"kernel size {kernel} is larger than the padded input {name} "
            f"{size} + 2*{padding} = {size + 2 * padding}"
        )
    return output_size(size, kernel, stride, padding)


def _window(kh, kw, stride, padding=0):
    """The window arguments of the unfolding functions, checked, as Python ints."""
    return (checks.check_int(kh, "kh", minimum=1), checks.check_int(kw, "kw", minimum=1),
            checks.check_int(stride, "stride", minimum=1), checks.check_int(padding, "padding", minimum=0))


def _image(x, name, layout):
    """``x`` checked to be a float32 or float64 ndarray of 4 dimensions in ``layout``."""
    checks.check_float_array(x, name)
    if x.ndim != 4:
        raise ValueError(f"{name} must have 4 dimensions {layout}, got shape {x.shape}")
    return x


def _image_shape(x_shape, layout):
    """``x_shape`` checked to be four non-negative integers, as a tuple of ints."""
    try:
        sizes = tuple(x_shape)
    except TypeError:
        raise TypeError(f"x_shape must be {layout}, four non-negative integers, got {x_shape!r}") from None
    if len(sizes) != 4:
        raise ValueError(f"x_shape must be {layout}, four non-negative integers, got {x_shape!r}")
    return tuple(checks.check_int(size, f"x_shape[{i}]", minimum=0) for i, size in enumerate(sizes))


def _unfolded(array, name, expected, x_shape, window):
    """Check that ``array`` (cols or rows) has the shape that ``x_shape`` and ``window`` give."""
    if array.shape != expected:
        raise ValueError(f"{name} has shape {array.shape}, but x_shape {x_shape} with {window} needs {expected}")


def _work_buffer(out, shape, dtype, source, source_name):
    """``out`` (or None) checked to be a C-contiguous buffer for the result, apart from ``source``."""
    if out is not None:
        checks.check_out_array(out, "out", shape, dtype, c_contiguous=True)
        checks.check_no_overlap(out, source, "out", source_name)
    return out


def im2col(x, kh, kw, stride, padding, out=None):
    """Unfold the KH x KW patches of ``x`` (N, C, H, W) into columns (C*KH*KW, N*OH*OW).

    Compiled ``im2col.im2col`` when built, else :func:`im2col_numpy`, which documents the
    arguments and the layout. ``out`` must not overlap ``x``.
    """
    x = _image(x, "x", "(N, C, H, W)")
    kh, kw, stride, padding = _window(kh, kw, stride, padding)
    n_batch, channels, height, width = x.shape
    out_h = _positions(height, kh, stride, padding, "height")
    out_w = _positions(width, kw, stride, padding, "width")
    _work_buffer(out, (channels * kh * kw, n_batch * out_h * out_w), x.dtype, x, "x")
    kernel = _compiled("im2col")
    if kernel is None:
        return im2col_numpy(x, kh, kw, stride, padding, out)
    return kernel.im2col(x, kh, kw, stride, padding, out)


def col2im(cols, x_shape, kh, kw, stride, padding):
    """Add columns back into an image of ``x_shape`` (N, C, H, W): the adjoint of :func:`im2col`.

    Compiled ``im2col.col2im`` when built, else :func:`col2im_numpy`.
    """
    checks.check_float_array(cols, "cols")
    x_shape = _image_shape(x_shape, "(N, C, H, W)")
    kh, kw, stride, padding = _window(kh, kw, stride, padding)
    n_batch, channels, height, width = x_shape
    out_h = _positions(height, kh, stride, padding, "height")
    out_w = _positions(width, kw, stride, padding, "width")
    _unfolded(cols, "cols", (channels * kh * kw, n_batch * out_h * out_w), x_shape,
              f"a {kh}x{kw} kernel, stride {stride} and padding {padding}")
    kernel = _compiled("im2col")
    if kernel is None:
        return col2im_numpy(cols, x_shape, kh, kw, stride, padding)
    return kernel.col2im(cols, x_shape, kh, kw, stride, padding)


def im2row(x, kh, kw, stride, out=None):
    """Unfold the windows of a padded NHWC image ``x`` (N, H, W, C) into rows (N*OH*OW, KH*KW*C).

    Compiled ``im2col.im2row`` when built, else :func:`im2row_numpy`, which documents the
    arguments and the layout. ``out`` must not overlap ``x``.
    """
    x = _image(x, "x", "(N, H, W, C)")
    kh, kw, stride, _ = _window(kh, kw, stride)
    n_batch, height, width, channels = x.shape
    out_h = _positions(height, kh, stride, 0, "height")
    out_w = _positions(width, kw, stride, 0, "width")
    _work_buffer(out, (n_batch * out_h * out_w, kh * kw * channels), x.dtype, x, "x")
    kernel = _compiled("im2col")
    if kernel is None:
        return im2row_numpy(x, kh, kw, stride, out)
    return kernel.im2row(x, kh, kw, stride, out)


def row2im(rows, x_shape, kh, kw, stride, out=None):
    """Add rows back into a padded NHWC image of ``x_shape`` (N, H, W, C): the adjoint of :func:`im2row`.

    Compiled ``im2col.row2im`` when built, else :func:`row2im_numpy`. ``out`` must not
    overlap ``rows``.
    """
    checks.check_float_array(rows, "rows")
    x_shape = _image_shape(x_shape, "(N, H, W, C)")
    kh, kw, stride, _ = _window(kh, kw, stride)
    n_batch, height, width, channels = x_shape
    out_h = _positions(height, kh, stride, 0, "height")
    out_w = _positions(width, kw, stride, 0, "width")
    _unfolded(rows, "rows", (n_batch * out_h * out_w, kh * kw * channels), x_shape,
              f"a {kh}x{kw} kernel and stride {stride}")
    _work_buffer(out, x_shape, rows.dtype, rows, "rows")
    kernel = _compiled("im2col")
    if kernel is None:
        return row2im_numpy(rows, x_shape, kh, kw, stride, out)
    return kernel.row2im(rows, x_shape, kh, kw, stride, out)


# ---------------------------------------------------------------------------------------
# OWL / GrOWL proximal operators and PAVA  (twins: pava.py, compiled: _ext/pava.pyx)
# ---------------------------------------------------------------------------------------

# What is wrong with the weights lam, by number. The compiled kernels return the same
# numbers (the STATUS_ codes of _ext/pava.pyx; 1 is a non-finite input); 0 means nothing.
_WEIGHT_PROBLEMS = {
    2: "lam must be finite",
    3: "lam must be non-increasing: lam[0] >= lam[1] >= ... >= lam[-1] >= 0",
    4: "lam must be non-negative (its last, smallest weight is negative)",
}
_INPUT_NOT_FINITE = 1
_Z_NOT_FINITE = "z must be finite (no inf or nan)"
_ROWS_NOT_FINITE = "w (with row norms that fit in float64) must be finite (no inf or nan)"


def _weights_problem(lam):
    """The number of the first problem of ``lam`` in ``_WEIGHT_PROBLEMS``, or 0 if none.

    The rules are taken in the compiled kernel's order, so that both paths name the same
    problem: ``lam[0]`` finite, then each weight no larger than the one before it (a NaN
    there counts as not finite), then the last weight non-negative.
    """
    if lam.size == 0:
        return 0
    if not lam[0] < np.inf:
        return 2
    larger = np.flatnonzero(~(lam[1:] <= lam[:-1]))
    if larger.size:
        return 2 if np.isnan(lam[larger[0] + 1]) else 3
    return 4 if lam[-1] < 0 else 0


def _raise_problem(problem, not_finite_message=None):
    """Raise the ValueError for a problem number (nothing if it is 0)."""
    if problem == _INPUT_NOT_FINITE:
        raise ValueError(not_finite_message)
    if problem:
        raise ValueError(_WEIGHT_PROBLEMS[problem])


def _owl_weights(lam, n):
    """The OWL weights ``lam`` as a contiguous float64 vector, checked for type and length ``n``."""
    lam = checks.as_array(lam, "lam")
    if lam.dtype.kind not in "fiu":
        raise TypeError(f"lam must be an array of real numbers, got dtype {lam.dtype}")
    if lam.shape != (n,):
        raise ValueError(f"lam must have shape ({n},), one weight per entry (or row), got {lam.shape}")
    return np.ascontiguousarray(lam, dtype=np.float64)


def check_owl_weights(lam, n):
    """``lam`` as a float64 vector if it holds ``n`` OWL weights: finite, non-increasing and
    non-negative, ``lam[0] >= lam[1] >= … >= lam[n-1] >= 0`` (GrOWL, eq. (1))."""
    lam = _owl_weights(lam, n)
    _raise_problem(_weights_problem(lam))
    return lam


def _prox_arguments(array, name, lam, eta, out):
    """The other arguments of a prox of ``array``: ``lam`` (one weight per entry of its
    first axis; values checked later), ``eta`` and ``out``, checked."""
    return (_owl_weights(lam, array.shape[0]), checks.check_number(eta, "eta", minimum=0.0),
            _out_like(out, array, name))


def _check_owl_values(values, lam, not_finite_message):
    """The twin path's value checks, in the order of the compiled kernels: ``values``
    finite, then the rules of ``lam``."""
    _raise_problem(_INPUT_NOT_FINITE if not np.isfinite(values).all() else _weights_problem(lam),
                   not_finite_message)


def _run_pava_kernel(kernel, array, lam, eta, out, not_finite_message):
    """Run a compiled prox ``kernel(array, lam, eta, result)``; raise the problem it reports
    (it writes nothing then); return the result, in ``out`` when it is given."""
    contiguous = np.ascontiguousarray(array)
    result = out if out is not None and out.flags.c_contiguous else np.empty_like(contiguous)
    _raise_problem(kernel(contiguous, lam, eta, result), not_finite_message)
    return _store(result, out)


def isotonic_nonincreasing(values):
    """The closest non-increasing sequence to ``values`` in least squares (PAVA).

    ``values``: a 1-D float32 or float64 array of finite numbers. Compiled
    ``pava.isotonic_nonincreasing`` or its twin :func:`isotonic_nonincreasing_numpy`;
    the result is float64.
    """
    values = _float_array(values, "values")
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {values.shape}")
    checks.check_float_array(values, "values", finite=True)
    values = np.ascontiguousarray(values, dtype=np.float64)
    ext = _compiled("pava")
    if ext is None:
        return isotonic_nonincreasing_numpy(values)
    return ext.isotonic_nonincreasing(values)


def owl_prox(z, lam, eta, out=None):
    """prox of ``eta * Omega_lam`` at the vector ``z``: the OWL (SLOPE) proximal operator.

    ``argmin_x eta * sum_i lam_i |x|_[i] + 1/2 ||x - z||^2`` (GrOWL, eq. (5) and
    Appendix A, Algorithm 2; Bogdan et al. 2015).

    Parameters
    ----------
    z : 1-D float32 or float64 array, finite
    lam : 1-D array of ``len(z)`` weights, finite, non-increasing and non-negative
    eta : float >= 0, the step size
    out : None, or an array like ``z`` to write into (``out=z`` works in place; an
        ``out`` that overlaps ``z`` otherwise is refused)

    Returns
    -------
    ndarray of the dtype of ``z`` (``out`` if given). Uses the compiled kernel when it
    is built and switched on (see :func:`use_compiled`), else :func:`owl_prox_numpy`.
    """
    z = _float_array(z, "z")
    if z.ndim != 1:
        raise ValueError(f"z must be a 1-D vector, got shape {z.shape}; for rows use growl_prox")
    lam, eta, out = _prox_arguments(z, "z", lam, eta, out)
    ext = _compiled("pava")
    if ext is None or z.shape[0] >= 2**31:  # the kernel's tags hold 31-bit indices
        _check_owl_values(z, lam, _Z_NOT_FINITE)
        return _store(owl_prox_numpy(z, lam, eta), out)
    return _run_pava_kernel(ext.owl_prox, z, lam, eta, out, _Z_NOT_FINITE)


def growl_prox(w, lam, eta, out=None):
    """prox of ``eta * Omega_lam`` on the rows of the matrix ``w`` (GrOWL, eq. (8)).

    ``Omega_lam(W) = sum_i lam_i ||w_[i]||_2``, where ``w_[i]`` is the row with the i-th
    largest norm (GrOWL, eq. (1)). Each row is rescaled to the OWL prox of the row
    norms: ``U_i = w_i * prox_{eta Omega_lam}(r)_i / r_i``, ``r_i = ||w_i||_2``.

    Parameters
    ----------
    w : 2-D float32 or float64 array (n_rows, n_columns), finite, with row norms that
        fit in float64. For a layer weight use ``minireg.nn.row_view`` to get its rows.
    lam : 1-D array of ``n_rows`` weights, finite, non-increasing and non-negative
    eta : float >= 0, the step size
    out : None, or an array like ``w`` to write into (``out=w`` works in place; an
        ``out`` that overlaps ``w`` otherwise is refused)

    Returns
    -------
    ndarray of the dtype of ``w`` (``out`` if given). Compiled ``pava.growl_prox_rows``
    (row norms, OWL prox, rescaling in one call) or :func:`growl_prox_numpy`.
    """
    w = _float_array(w, "w")
    if w.ndim != 2:
        raise ValueError(f"w must be a 2-D matrix whose rows are the groups, got shape {w.shape}")
    lam, eta, out = _prox_arguments(w, "w", lam, eta, out)
    ext = _compiled("pava")
    if ext is None or w.shape[0] >= 2**30:  # the kernel sorts 2 * n_rows entries
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing norm is refused
            _check_owl_values(row_norms(w), lam, _ROWS_NOT_FINITE)
        return _store(growl_prox_numpy(w, lam, eta), out)
    return _run_pava_kernel(ext.growl_prox_rows, w, lam, eta, out, _ROWS_NOT_FINITE)


# ---------------------------------------------------------------------------------------
# Dropout masks  (twin: dropout.py, compiled: _ext/dropout.pyx)
# ---------------------------------------------------------------------------------------

def _dropout_keep(keep):
    """``keep`` as a Python float in (0, 1], fine enough for the 16-bit draws, else an error."""
    keep = checks.check_number(keep, "keep", 0.0, 1.0, include_minimum=False)
    if keep_threshold(keep) == 0:
        raise ValueError(
            f"keep={keep} is below the 2**-17 resolution of the 16-bit draws; use keep >= 2**-16"
        )
    return keep


def dropout_threshold(keep):
    """The integer ``t = round(keep * 2**16)`` such that a 16-bit draw ``u`` keeps its entry
    when ``u < t``; the keep probability is then ``t / 2**16``."""
    return keep_threshold(_dropout_keep(keep))


def dropout(x, keep, rng, out=None):
    """Inverted dropout (or DropConnect on a weight): ``y = x * m / keep``.

    Parameters
    ----------
    x : float32 or float64 array (activations, or a weight matrix for DropConnect)
    keep : float in (0, 1], the probability of keeping each entry
    rng : numpy.random.Generator; its bit generator supplies the random bits, so one
        seed always gives the same mask (compiled kernel or twin alike)
    out : None, or an array like ``x`` to write ``y`` into (``out=x`` works in place;
        an ``out`` that overlaps ``x`` otherwise is refused)

    Returns
    -------
    y : ndarray like ``x`` (``out`` if given)
    mask : bool ndarray of the shape of ``x``, True where the entry was kept

    The compiled ``dropout.dropout_fill`` makes mask and output in one pass, holding
    the generator's lock; :func:`dropout_numpy` is its readable twin.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    x = _float_array(x, "x")
    keep = _dropout_keep(keep)
    out = _out_like(out, x, "x")
    ext = _compiled("dropout")
    if ext is None:
        y, mask = dropout_numpy(x, keep, rng)
        return _store(np.asarray(y), out), np.asarray(mask)  # arrays even when x is 0-d
    x_contiguous = np.ascontiguousarray(x)
    mask = np.empty(x.shape, dtype=np.bool_)
    y = out if out is not None and out.flags.c_contiguous else np.empty(x.shape, dtype=x.dtype)
    ext.dropout_fill(
        x_contiguous.reshape(-1), keep_threshold(keep), 1.0 / keep, rng.bit_generator,
        y.reshape(-1), mask.reshape(-1).view(np.uint8),
    )
    return _store(y, out), mask


# ---------------------------------------------------------------------------------------
# Bilinear affine warp  (twin: warp.py, compiled: _ext/warp.pyx)
# ---------------------------------------------------------------------------------------

def _check_maps(A, b, images):
    """``A`` (N, 2, 2) and ``b`` (N, 2), finite, one map per image, sending every pixel of
    the images to a point well inside the range of their dtype; as float64 C arrays."""
    A, b = _float_array(A, "A"), _float_array(b, "b")
    n_images, _, height, width = images.shape
    if A.shape != (n_images, 2, 2) or b.shape != (n_images, 2):
        raise ValueError(f"A and b must have shapes ({n_images}, 2, 2) and ({n_images}, 2), one map per "
                         f"image of images {images.shape}; got {A.shape} and {b.shape}")
    checks.check_float_array(A, "A", finite=True)
    checks.check_float_array(b, "b", finite=True)
    A, b = np.ascontiguousarray(A, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64)
    # |q_i| <= sum_j |A_ij| (size_j - 1) + |b_i| over the grid (1 for a 1-pixel side, so that
    # A itself must fit in the dtype); a margin of 4 covers the rounding of q = A p + b
    with np.errstate(over="ignore"):
        reach = np.abs(A) @ np.array([max(height - 1, 1), max(width - 1, 1)], dtype=np.float64) + np.abs(b)
    limit = float(np.finfo(images.dtype).max) / 4
    if reach.size and not reach.max() <= limit:
        raise ValueError(f"A and b send pixels of the {height} x {width} images to coordinates as large as "
                         f"{reach.max():.3g}; they must stay below {limit:.3g} (a quarter of the largest "
                         f"{images.dtype})")
    return A, b


def warp_affine(images, A, b):
    """``output[n, :, p] = bilinear(images[n, :], A[n] p + b[n])``, zero outside the grid.

    Parameters
    ----------
    images : ndarray (N, C, H, W), float32 or float64
    A : ndarray (N, 2, 2), b : ndarray (N, 2)
        One inverse map per image, from an output pixel p = (row, column) to the point of
        the input it shows (``minireg.images.affine_matrices`` builds them); finite, and
        sending the pixels to coordinates below a quarter of the images' largest float.

    Returns
    -------
    ndarray (N, C, H, W), C-contiguous, the dtype of ``images``

    Compiled ``warp.warp_affine`` when built, else :func:`warp_affine_numpy`, which
    documents the computation; the two agree bit for bit.
    """
    images = _image(images, "images", "(N, C, H, W)")
    A, b = _check_maps(A, b, images)
    images = np.ascontiguousarray(images)
    ext = _compiled("warp")
    if ext is None:
        return warp_affine_numpy(images, A, b)
    out = np.empty(images.shape, dtype=images.dtype)
    ext.warp_affine(images, A, b, EDGE_TOLERANCE, out)
    return out
