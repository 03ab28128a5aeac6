"""Differentiable operations on Tensors.

Each operation computes its result with NumPy and hands :meth:`Tensor.from_op` a
``backward(grad, out)`` function that returns the gradient for each input, written in
Tensor operations (so it can itself be differentiated; see :mod:`minireg.tensor`).

The operations come in layers, as in tinygrad: a small set of primitives with their
own backward (elementwise arithmetic, exp/log, reductions, reshaping, indexing, matmul),
and composites built from them whose gradients follow by the chain rule (mean, var,
log-sum-exp, softmax, softplus, ...).

dtype rule: numbers and arrays that meet a Tensor adopt the Tensor's dtype, so a
float32 model stays float32; two floating Tensors of different dtypes are an error
rather than a silent promotion.
"""
from __future__ import annotations

import math

import numpy as np

from minireg import kernels as _kernels
from minireg.checks import FLOAT_DTYPES, check_int, check_number, check_pair
from minireg.conv_fast import conv2d  # noqa: F401  (an op of this module, kept apart: it is written for speed)
from minireg.tensor import Tensor, _check_dtype, needs_grad

# ---------------------------------------------------------------------------------------
# Helpers: operands, broadcasting
# ---------------------------------------------------------------------------------------


def as_tensor(x, dtype=None) -> Tensor:
    """``x`` itself if it is a Tensor, else a constant Tensor (no gradient) holding it."""
    return x if isinstance(x, Tensor) else Tensor(x, dtype=dtype)


def _constant_like(x, like: Tensor) -> Tensor:
    """A number or array met by the Tensor ``like``: a constant of ``like``'s float dtype.

    Boolean arrays (masks) stay boolean: NumPy combines them with float32 without
    promotion, and skipping the conversion saves a pass over the data.
    """
    if isinstance(x, np.ndarray) and x.dtype == bool:
        return Tensor(x)
    if like.dtype.kind == "f":
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(np.asarray(x))


def _operands(a, b, op: str):
    """Turn the two operands of a binary operation into Tensors of one dtype."""
    a_is, b_is = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_is and b_is:
        if a.dtype != b.dtype:
            if a.dtype.kind == "f" and b.dtype.kind == "f":
                raise TypeError(
                    f"{op}: operands have dtypes {a.dtype} and {b.dtype}; convert one with "
                    ".astype(...) (minireg does not promote silently)"
                )
            if a.dtype.kind == "f":
                b = Tensor(b.data.astype(a.dtype))
            elif b.dtype.kind == "f":
                a = Tensor(a.data.astype(b.dtype))
        return a, b
    if a_is:
        return a, _constant_like(b, a)
    if b_is:
        return _constant_like(a, b), b
    return Tensor(a), Tensor(b)


def _broadcast(op: str, ufunc, a: Tensor, b: Tensor) -> np.ndarray:
    """``ufunc(a.data, b.data)``, NumPy broadcasting the two; an error names the op and
    both shapes (NumPy's names neither the op nor which operand is which)."""
    try:
        return ufunc(a.data, b.data)
    except ValueError:
        raise _broadcast_error(op, a, b) from None


def _broadcast_error(op: str, a: Tensor, b: Tensor) -> ValueError:
    return ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast together (axes are matched "
                      "from the right; each pair of sizes must be equal or contain a 1)")


def sum_to_shape(g: Tensor, shape: tuple) -> Tensor:
    """Undo broadcasting: sum ``g`` over the axes along which an input of ``shape`` was
    stretched, so that the gradient has the input's shape."""
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    stretched = tuple(extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1)
    if extra and not stretched:  # only leading axes were added (a bias): one sum gives the shape
        return sum(g, axis=tuple(range(extra)))
    axes = tuple(range(extra)) + stretched
    g = sum(g, axis=axes, keepdims=True) if axes else g
    return reshape(g, shape)


def _normalize_axis(axis, ndim: int, name: str = "axis"):
    """Axis argument as a tuple of non-negative ints (None means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else axis
    normalized = []
    for a in axes:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, a tuple of integers or None, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}={axis} is out of range for a tensor with {ndim} dimensions")
        normalized.append(int(a) % ndim)
    return tuple(normalized)


# ---------------------------------------------------------------------------------------
# Elementwise arithmetic (primitives)
# ---------------------------------------------------------------------------------------


def add(a, b) -> Tensor:
    """a + b, with broadcasting."""
    a, b = _operands(a, b, "add")

    def backward(g, out):
        return (sum_to_shape(g, a.shape) if needs_grad(a) else None,
                sum_to_shape(g, b.shape) if needs_grad(b) else None)

    return Tensor.from_op(_broadcast("add", np.add, a, b), (a, b), backward)


def sub(a, b) -> Tensor:
    """a - b, with broadcasting."""
    a, b = _operands(a, b, "sub")

    def backward(g, out):
        return (sum_to_shape(g, a.shape) if needs_grad(a) else None,
                sum_to_shape(neg(g), b.shape) if needs_grad(b) else None)

    return Tensor.from_op(_broadcast("sub", np.subtract, a, b), (a, b), backward)


def mul(a, b) -> Tensor:
    """a * b (elementwise), with broadcasting."""
    a, b = _operands(a, b, "mul")

    def backward(g, out):
        return (sum_to_shape(g * b, a.shape) if needs_grad(a) else None,
                sum_to_shape(g * a, b.shape) if needs_grad(b) else None)

    return Tensor.from_op(_broadcast("mul", np.multiply, a, b), (a, b), backward)


def div(a, b) -> Tensor:
    """a / b (elementwise), with broadcasting."""
    a, b = _operands(a, b, "div")

    def backward(g, out):
        return (sum_to_shape(g / b, a.shape) if needs_grad(a) else None,
                sum_to_shape(neg(g) * a / (b * b), b.shape) if needs_grad(b) else None)

    return Tensor.from_op(_broadcast("div", np.divide, a, b), (a, b), backward)


def neg(x) -> Tensor:
    """-x."""
    x = as_tensor(x)
    return Tensor.from_op(-x.data, (x,), lambda g, out: (neg(g),))


def power(x, exponent) -> Tensor:
    """x ** p, elementwise: d/dx = p x^(p-1), and d/dp = x^p log x.

    The exponent p is a number (the usual case: a constant power) or a Tensor or array,
    broadcast against x (then ``2.0 ** t`` works too, through ``Tensor.__rpow__``).
    At x = 0 with p >= 0, d/dp is taken as 0 (the limit from x > 0, and PyTorch's
    choice), and at x = 0, p = 0 d/dx is 0 (x^0 = 1); for x < 0, d/dp is NaN, as log x.
    """
    if isinstance(exponent, Tensor) or np.ndim(exponent) > 0:
        return _power_of_tensors(x, exponent)
    x = as_tensor(x)
    p = check_number(exponent, "power: exponent")
    if p == int(p):
        p = int(p)  # integer powers of negative numbers stay defined

    def backward(g, out):
        if p == 0:  # x^0 = 1 is constant; p x^(p-1) would be 0 * inf = NaN at x = 0
            return (g * 0.0,)
        return (g * p * power(x, p - 1),)

    return Tensor.from_op(x.data ** p, (x,), backward)


def _power_of_tensors(x, p) -> Tensor:
    """x ** p with a Tensor or array exponent; see :func:`power`."""
    x, p = _operands(x, p, "power")
    data = _broadcast("power", np.power, x, p)
    # Where a formula would meet 0 * inf, its other factor is 0, and so is the gradient:
    # x^p log x at x = 0, p >= 0, and p x^(p-1) at x = 0, p = 0. There x is replaced by 1.
    log_at_zero = (x.data == 0) & (p.data >= 0)
    slope_at_zero = (x.data == 0) & (p.data == 0)

    def one_where(mask):
        return where(mask, 1.0, x) if mask.any() else x

    def backward(g, out):
        grad_x = sum_to_shape(g * p * power(one_where(slope_at_zero), p - 1.0), x.shape) if needs_grad(x) else None
        grad_p = sum_to_shape(g * out * log(one_where(log_at_zero)), p.shape) if needs_grad(p) else None
        return grad_x, grad_p

    return Tensor.from_op(data, (x, p), backward)


def clip(x, low=None, high=None) -> Tensor:
    """x limited to [low, high] elementwise (``np.clip``); either bound may be None.

    The gradient passes where low <= x <= high, bounds included (as in PyTorch's clamp),
    and is 0 outside: at a bound both 1 and 0 are valid subgradients. Adversarial
    examples use it to stay in the pixel range.
    """
    x = as_tensor(x)
    if low is None and high is None:
        raise ValueError("clip: give low, high or both")
    low = None if low is None else check_number(low, "clip: low")
    high = None if high is None else check_number(high, "clip: high")
    if low is not None and high is not None and low > high:
        raise ValueError(f"clip: low must be <= high, got low={low}, high={high}")
    inside = np.ones(x.shape, dtype=bool)
    if low is not None:
        inside &= x.data >= low
    if high is not None:
        inside &= x.data <= high
    data = np.clip(x.data, low, high).astype(x.dtype, copy=False)
    return Tensor.from_op(data, (x,), lambda g, out: (g * inside,))


def exp(x) -> Tensor:
    """e^x; its derivative is itself."""
    x = as_tensor(x)
    return Tensor.from_op(np.exp(x.data), (x,), lambda g, out: (g * out,))


def log(x) -> Tensor:
    """Natural logarithm; d/dx = 1/x."""
    x = as_tensor(x)
    return Tensor.from_op(np.log(x.data), (x,), lambda g, out: (g / x,))


def log1p(x) -> Tensor:
    """log(1 + x), accurate for small x; d/dx = 1/(1 + x)."""
    x = as_tensor(x)
    return Tensor.from_op(np.log1p(x.data), (x,), lambda g, out: (g / (x + 1.0),))


def sqrt(x) -> Tensor:
    """Square root; d/dx = 1/(2 sqrt(x))."""
    x = as_tensor(x)
    return Tensor.from_op(np.sqrt(x.data), (x,), lambda g, out: (g / (out * 2.0),))


def abs(x) -> Tensor:
    """``|x|``; the gradient is sign(x): 0 at 0, a valid subgradient (any value in [-1, 1]
    is), as in PyTorch."""
    x = as_tensor(x)
    return Tensor.from_op(np.abs(x.data), (x,), lambda g, out: (g * np.sign(x.data),))


def relu(x) -> Tensor:
    """max(x, 0); the gradient passes where x > 0 (0 at x = 0, as in PyTorch)."""
    x = as_tensor(x)
    return Tensor.from_op(np.maximum(x.data, 0), (x,), lambda g, out: (g * (x.data > 0),))


def tanh(x) -> Tensor:
    """Hyperbolic tangent; d/dx = 1 - tanh(x)^2."""
    x = as_tensor(x)
    return Tensor.from_op(np.tanh(x.data), (x,), lambda g, out: (g * (1.0 - out * out),))


def sigmoid(x) -> Tensor:
    """Logistic sigmoid 1/(1 + e^-x), computed without overflow; d/dx = s(1 - s)."""
    x = as_tensor(x)
    z = np.exp(-np.abs(x.data))
    s = np.where(x.data >= 0, 1.0 / (1.0 + z), z / (1.0 + z)).astype(x.dtype, copy=False)
    return Tensor.from_op(s, (x,), lambda g, out: (g * out * (1.0 - out),))


def maximum(a, b) -> Tensor:
    """Elementwise max(a, b); the gradient goes to the larger, all of it to a on ties
    (PyTorch splits it in halves; both are valid subgradients)."""
    a, b = _operands(a, b, "maximum")
    a_wins = _broadcast("maximum", np.greater_equal, a, b)

    def backward(g, out):
        return (sum_to_shape(g * a_wins, a.shape) if needs_grad(a) else None,
                sum_to_shape(g * ~a_wins, b.shape) if needs_grad(b) else None)

    return Tensor.from_op(_broadcast("maximum", np.maximum, a, b), (a, b), backward)


def minimum(a, b) -> Tensor:
    """Elementwise min(a, b); the gradient goes to the smaller, all of it to a on ties
    (PyTorch splits it in halves)."""
    a, b = _operands(a, b, "minimum")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise _broadcast_error("minimum", a, b) from None
    return neg(maximum(neg(a), neg(b)))


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (condition is a constant boolean array)."""
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    a, b = _operands(a, b, "where")

    def backward(g, out):
        return (sum_to_shape(g * condition, a.shape) if needs_grad(a) else None,
                sum_to_shape(g * ~condition, b.shape) if needs_grad(b) else None)

    try:
        data = np.where(condition, a.data, b.data)
    except ValueError:
        raise ValueError(f"where: shapes {condition.shape} (condition), {a.shape} and {b.shape} do not "
                         "broadcast together") from None
    return Tensor.from_op(data, (a, b), backward)


def astype(x, dtype) -> Tensor:
    """The same values in another dtype; the gradient is cast back.

    A cast to an integer or boolean dtype is a step function: its result is a constant,
    with no gradient (as in PyTorch). ``dtype``: bool, an integer type, float32 or float64.
    """
    x = as_tensor(x)
    dtype = _check_dtype(dtype, "astype: dtype")
    if dtype == x.dtype:
        return x
    if dtype.kind != "f":
        return Tensor(x.data.astype(dtype))
    return Tensor.from_op(x.data.astype(dtype), (x,), lambda g, out: (astype(g, x.dtype),))


# ---------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------


def sum(x, axis=None, keepdims=False) -> Tensor:
    """Sum over ``axis`` (all axes by default); the gradient is copied back to each term."""
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)
    kept_shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))

    def backward(g, out):
        return (broadcast_to(reshape(g, kept_shape), x.shape),)

    return Tensor.from_op(x.data.sum(axis=axes, keepdims=keepdims), (x,), backward)


def squared_norm(x) -> Tensor:
    """The squared L2 norm of all entries, sum(x²), as one node (the L2 penalty's core).

    Forward: one dot product of the flattened array with itself; backward: 2·g·x. The
    same value as ``sum(x * x)`` with one pass over the data each way instead of three.
    """
    x = as_tensor(x)
    flat = x.data.reshape(-1)

    def backward(g, out):
        return (x * (g * 2.0),)

    return Tensor.from_op(np.asarray(np.dot(flat, flat), dtype=x.data.dtype), (x,), backward)


def mean(x, axis=None, keepdims=False) -> Tensor:
    """Arithmetic mean over ``axis``: the sum times 1/n for n terms; each term gets g/n back.

    A primitive rather than ``sum(x) * (1/n)``: one node fewer at the end of every loss.
    """
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    if count == 0:  # it used to return 0; NumPy and PyTorch return NaN
        raise ValueError(f"mean: no values to average over axis={axis} of a tensor of shape {x.shape}")
    scale = 1.0 / count
    kept_shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))

    def backward(g, out):
        return (broadcast_to(reshape(g * scale, kept_shape), x.shape),)

    return Tensor.from_op(x.data.sum(axis=axes, keepdims=keepdims) * scale, (x,), backward)


def var(x, axis=None, keepdims=False, ddof=0) -> Tensor:
    """Variance over ``axis``: sum (x - mean)^2 / (count - ddof). ``ddof=0`` is the biased
    estimate that batch norm uses, ``ddof=1`` the unbiased one (``np.var``'s argument)."""
    x = as_tensor(x)
    count = math.prod(x.shape[a] for a in _normalize_axis(axis, x.ndim))
    ddof = check_int(ddof, "var: ddof", minimum=0)
    if count - ddof < 1:
        raise ValueError(f"var: ddof={ddof} needs more than {ddof} values per variance, got {count}")
    centered = x - mean(x, axis, keepdims=True)
    return sum(centered * centered, axis, keepdims) * (1.0 / (count - ddof))


def max(x, axis=None, keepdims=False) -> Tensor:
    """Maximum over ``axis``. The gradient goes to the maximal entries, shared equally
    among ties (a valid subgradient; PyTorch does the same in ``max()`` and ``amax``, but
    ``max(dim)`` gives it all to one entry)."""
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)
    top = np.max(x.data, axis=axes, keepdims=True)

    def backward(g, out):
        is_max = (x.data == top).astype(x.dtype)
        share = is_max / is_max.sum(axis=axes, keepdims=True)
        return (broadcast_to(reshape(g, top.shape), x.shape) * share,)

    data = top if keepdims else np.squeeze(top, axis=axes)
    return Tensor.from_op(data, (x,), backward)


def min(x, axis=None, keepdims=False) -> Tensor:
    """Minimum over ``axis``; ties share the gradient equally, as in :func:`max`."""
    return neg(max(neg(x), axis, keepdims))


def _max_shift(x: Tensor, axis) -> np.ndarray:
    """max(x) along ``axis`` (kept), 0 where it is not finite: a constant shift for
    stable exponentials."""
    shift = x.data.max(axis=axis, keepdims=True)
    return np.where(np.isfinite(shift), shift, 0).astype(x.dtype, copy=False)


def logsumexp(x, axis=-1, keepdims=False) -> Tensor:
    """log sum_i exp(x_i), computed as m + log sum_i exp(x_i - m) with m = max x.

    The shift m is a constant for differentiation: the result does not depend on it,
    so the gradient, softmax(x), comes out right.
    """
    x = as_tensor(x)
    axis = _normalize_axis(axis, x.ndim)
    shift = _max_shift(x, axis)
    out = log(sum(exp(x - shift), axis=axis, keepdims=True)) + shift
    if not keepdims:
        out = reshape(out, np.squeeze(out.data, axis=axis).shape)
    return out


def softmax(x, axis=-1) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along ``axis``."""
    return exp(log_softmax(x, axis))


def log_softmax(x, axis=-1) -> Tensor:
    """x_i - log sum_j exp(x_j) along ``axis``, as (x_i - m) - log sum_j exp(x_j - m)
    with m = max x, so that large logits lose no precision.

    A primitive (one node rather than five: it sits under every cross-entropy loss).
    With y = log_softmax(x), dy_i/dx_k = [i = k] - softmax(x)_k, so the gradient is

        dL/dx = g - softmax(x) * sum_i g_i,   softmax(x) = exp(y),

    written with ``out`` (y), so that it can be differentiated again.
    """
    x = as_tensor(x)
    axis = _normalize_axis(axis, x.ndim)
    shifted = x.data - _max_shift(x, axis)
    data = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g, out):
        return (g - exp(out) * sum(g, axis=axis, keepdims=True),)

    return Tensor.from_op(data, (x,), backward)


def softplus(x) -> Tensor:
    """log(1 + e^x), computed as ``max(x, 0) + log(1 + e^-|x|)`` so that it never overflows.

    Its derivative is the sigmoid, which is also how the gradient is computed (the
    stable formula has kinks at 0 that would give a wrong subgradient there).
    """
    x = as_tensor(x)
    data = np.maximum(x.data, 0) + np.log1p(np.exp(-np.abs(x.data)))
    return Tensor.from_op(data, (x,), lambda g, out: (g * sigmoid(x),))


def dropout(x, keep, rng) -> Tensor:
    """Inverted dropout: ``y = x * m / keep`` with ``m ~ Bernoulli(keep)`` for each entry.

    The mask comes from the compiled kernel :func:`minireg.kernels.dropout` (or its NumPy
    twin), drawn from ``rng``, a ``numpy.random.Generator``: one seed, one mask. Dividing
    by ``keep`` during training makes ``E[y] = x``, so that inference needs no rescaling:
    the weight scaling rule of Deep Learning 7.11 (published 7.12) moved to training time.
    ``keep`` is the probability of *keeping* an entry (``torch.nn.functional.dropout``'s
    ``p`` is ``1 - keep``).

    Backward: ``dL/dx = g * m / keep``, with the mask of the forward pass. The same op
    serves DropConnect (Wan et al. 2013), applied to a weight instead of activations.
    """
    x = as_tensor(x)
    y, mask = _kernels.dropout(x.data, keep, rng)
    scale = x.dtype.type(1.0 / keep)  # in x's dtype: float32 stays float32

    def backward(g, out):
        return (mul(g, mask) * scale,)

    return Tensor.from_op(y, (x,), backward)


# ---------------------------------------------------------------------------------------
# Shapes and indexing
# ---------------------------------------------------------------------------------------


def reshape(x, shape) -> Tensor:
    """The same values in another shape."""
    x = as_tensor(x)
    try:
        data = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {tuple(shape)}") from None
    return Tensor.from_op(data, (x,), lambda g, out: (reshape(g, x.shape),))


def transpose(x, axes=None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None)."""
    x = as_tensor(x)
    if axes is None:  # reversing the axes is its own inverse (and the transpose of every backward)
        return Tensor.from_op(x.data.transpose(), (x,), lambda g, out: (transpose(g),))
    axes = _normalize_axis(axes, x.ndim, "axes")
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes={axes} is not a permutation of the {x.ndim} axes")
    inverse = tuple(sorted(range(x.ndim), key=axes.__getitem__))  # axes[inverse[i]] == i
    return Tensor.from_op(x.data.transpose(axes), (x,), lambda g, out: (transpose(g, inverse),))


def swapaxes(x, axis1, axis2) -> Tensor:
    """Exchange two axes."""
    x = as_tensor(x)
    (axis1,), (axis2,) = _normalize_axis(axis1, x.ndim, "axis1"), _normalize_axis(axis2, x.ndim, "axis2")
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def broadcast_to(x, shape) -> Tensor:
    """Stretch ``x`` to ``shape`` by NumPy broadcasting (a read-only view)."""
    x = as_tensor(x)
    shape = tuple(shape)
    if x.shape == shape:
        return x
    try:
        data = np.broadcast_to(x.data, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    return Tensor.from_op(data, (x,), lambda g, out: (sum_to_shape(g, x.shape),))


def _plain_index(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index.data if isinstance(index, Tensor) else index


def _index_repeats_nothing(index) -> bool:
    """True for indices (ints, slices, None, Ellipsis, boolean masks) that pick each
    element at most once, so the gradient can be written instead of accumulated."""
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, np.ndarray) and part.dtype != bool:
            return False
        if isinstance(part, (list, range)):
            return False
    return True


def getitem(x, index) -> Tensor:
    """``x[index]`` with NumPy's basic and advanced indexing."""
    x = as_tensor(x)
    index = _plain_index(index)
    return Tensor.from_op(x.data[index], (x,), lambda g, out: (index_add_to_zeros(g, x.shape, index),))


def index_add_to_zeros(values, shape, index) -> Tensor:
    """A zero tensor of ``shape`` with ``values`` added at ``index`` (the adjoint of
    ``getitem``: the two are each other's backward)."""
    values = as_tensor(values)
    result = np.zeros(shape, dtype=values.dtype)
    if _index_repeats_nothing(index):
        result[index] = values.data
    else:
        np.add.at(result, index, values.data)
    return Tensor.from_op(result, (values,), lambda g, out: (getitem(g, index),))


def concatenate(tensors, axis=0) -> Tensor:
    """Join tensors along an existing axis."""
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    tensors = [t if isinstance(t, Tensor) or like is None else _constant_like(t, like) for t in tensors]
    tensors = [as_tensor(t) for t in tensors]
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"concatenate: tensors have different dtypes {sorted(map(str, dtypes))}")
    axis = _normalize_axis(axis, tensors[0].ndim)[0]
    try:
        data = np.concatenate([t.data for t in tensors], axis=axis)
    except ValueError as error:
        raise ValueError(f"concatenate: {error} (shapes {[t.shape for t in tensors]})") from None
    bounds = np.cumsum([0] + [t.shape[axis] for t in tensors])

    def backward(g, out):
        lead = (slice(None),) * axis
        return tuple(getitem(g, lead + (slice(int(lo), int(hi)),)) if needs_grad(t) else None
                     for t, lo, hi in zip(tensors, bounds[:-1], bounds[1:]))

    return Tensor.from_op(data, tuple(tensors), backward)


def stack(tensors, axis=0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    shape = tensors[0].shape
    if any(t.shape != shape for t in tensors):
        raise ValueError(f"stack: tensors must have one shape, got {[t.shape for t in tensors]}")
    (axis,) = _normalize_axis(axis, len(shape) + 1)  # the new axis may come after the last
    expanded = shape[:axis] + (1,) + shape[axis:]
    return concatenate([reshape(t, expanded) for t in tensors], axis=axis)


# ---------------------------------------------------------------------------------------
# Matrix product
# ---------------------------------------------------------------------------------------


def matmul(a, b) -> Tensor:
    """Matrix product ``a @ b``; leading axes broadcast as in ``numpy.matmul``.

    Backward: dL/da = g b^T and dL/db = a^T g (summed over broadcast batch axes).
    """
    a, b = _operands(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: operands must have at least one dimension (use * for scalars)")
    if a.ndim == 1 or b.ndim == 1:
        # as numpy.matmul: a vector is a row (on the left) or a column (on the right)
        # matrix whose extra axis is dropped from the result
        out = matmul(reshape(a, (1, -1)) if a.ndim == 1 else a,
                     reshape(b, (-1, 1)) if b.ndim == 1 else b)
        shape = out.shape
        if b.ndim == 1:
            shape = shape[:-1]
        if a.ndim == 1:
            shape = shape[:-1] if b.ndim == 1 else shape[:-2] + shape[-1:]
        return reshape(out, shape)
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not fit "
            f"(a.shape[-1]={a.shape[-1]} must equal b.shape[-2]={b.shape[-2]})"
        )

    def backward(g, out):
        return (sum_to_shape(matmul(g, swapaxes(b, -1, -2)), a.shape) if needs_grad(a) else None,
                sum_to_shape(matmul(swapaxes(a, -1, -2), g), b.shape) if needs_grad(b) else None)

    return Tensor.from_op(a.data @ b.data, (a, b), backward)


def linear(x, weight, bias=None) -> Tensor:
    """The affine map of a dense layer, ``x @ weight + bias``, as one node.

    ``x`` is (N, in), ``weight`` (in, out), ``bias`` (out,) or None. Backward:
    dL/dx = g weight^T, dL/dweight = x^T g, dL/dbias = sum_n g_n -- those of matmul and
    of the broadcast add, in one node instead of two (a dense layer runs on every step).
    """
    x, weight = _operands(x, weight, "linear")
    if x.ndim != 2 or weight.ndim != 2 or x.shape[1] != weight.shape[0]:
        raise ValueError(f"linear: x must be (N, in) and weight (in, out); got shapes {x.shape} and {weight.shape}")
    data = x.data @ weight.data
    parents = (x, weight)
    if bias is not None:
        if not isinstance(bias, Tensor):
            bias = _constant_like(bias, weight)
        if bias.shape != (weight.shape[1],) or bias.dtype != weight.dtype:
            raise ValueError(f"linear: bias must have shape ({weight.shape[1]},) and dtype {weight.dtype}; "
                             f"got shape {bias.shape} and dtype {bias.dtype}")
        data += bias.data
        parents = (x, weight, bias)

    def backward(g, out):
        return (matmul(g, transpose(weight)) if needs_grad(x) else None,
                matmul(transpose(x), g) if needs_grad(weight) else None,
                sum(g, axis=0) if bias is not None and needs_grad(bias) else None)

    return Tensor.from_op(data, parents, backward)


# ---------------------------------------------------------------------------------------
# Convolution and pooling
# ---------------------------------------------------------------------------------------
#
# All three operations unfold the input with im2col (minireg.kernels) and then do something
# simple with the columns: a matrix product (convolution), a max or a mean over the
# window (pooling). im2col and col2im are linear maps and each other's adjoint, so each
# one's backward is the other, and a convolution can be differentiated twice.
# Layout: inputs are NCHW; a conv weight is stored as (in_channels, out_channels, KH, KW)
# (PyTorch's (out, in, KH, KW) is ours.transpose(1, 0, 2, 3)), so that its "row view"
# weight.reshape(in_channels, -1) has one row per input channel (GrOWL, eq. (4)).
# conv2d itself, written for speed, lives in minireg/conv_fast.py (imported above).
# Kernel size, stride and padding are (height, width) pairs; an int k means (k, k).


def _check_image(x: Tensor, function: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{function}: x must have shape (N, C, H, W), got shape {x.shape}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{function}: x must be float32 or float64, got {x.dtype}")


def _window_geometry(x_shape, kernel_size, stride, padding) -> tuple:
    """The checked window of a convolution or pooling over images of ``x_shape``.

    Returns ``(kernel, stride, padding, out_size)``, each a (height, width) pair of ints,
    with ``out_size`` = (OH, OW), OH = (H + 2 ph - KH) // sh + 1.
    """
    kernel = check_pair(kernel_size, "kernel_size", minimum=1)
    stride = check_pair(stride, "stride", minimum=1)
    padding = check_pair(padding, "padding", minimum=0)
    out_size = tuple(_kernels.conv_output_size(size, k, s, p, name)
                     for size, k, s, p, name in zip(x_shape[2:], kernel, stride, padding, ("height", "width")))
    return kernel, stride, padding, out_size


# The kernels take one stride and one padding for both axes. A pair that differs is built
# from them: unequal padding pads the image first (and crops after folding); an unequal
# stride (sh, sw) unfolds at their greatest common divisor and keeps every (sh/gcd)-th
# window down and (sw/gcd)-th across (folding spreads the columns back onto that finer
# grid, zeros between). Equal pairs, the usual case, go straight to the kernel.


def _unfold(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """kernels.im2col of ``x`` (N, C, H, W) for (height, width) pairs."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if ph != pw:
        x, ph = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))), 0
    step = math.gcd(sh, sw)
    cols = _kernels.im2col(x, kh, kw, step, ph)
    if sh == sw:
        return cols
    fine_h, fine_w = ((size + 2 * ph - k) // step + 1 for size, k in zip(x.shape[2:], kernel))
    strided = cols.reshape(cols.shape[0], x.shape[0], fine_h, fine_w)[:, :, ::sh // step, ::sw // step]
    return np.ascontiguousarray(strided).reshape(cols.shape[0], -1)


def _fold(cols: np.ndarray, x_shape, kernel, stride, padding) -> np.ndarray:
    """The adjoint of :func:`_unfold`: kernels.col2im for (height, width) pairs."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n_batch, channels, height, width = x_shape
    step = math.gcd(sh, sw)
    if sh != sw:
        fine_h, fine_w = ((size + 2 * p - k) // step + 1 for size, k, p in zip((height, width), kernel, padding))
        fine = np.zeros((cols.shape[0], n_batch, fine_h, fine_w), dtype=cols.dtype)
        strided = fine[:, :, ::sh // step, ::sw // step]
        strided[...] = cols.reshape(strided.shape)
        cols = fine.reshape(cols.shape[0], -1)
    if ph == pw:
        return _kernels.col2im(cols, x_shape, kh, kw, step, ph)
    padded = _kernels.col2im(cols, (n_batch, channels, height + 2 * ph, width + 2 * pw), kh, kw, step, 0)
    return np.ascontiguousarray(padded[:, :, ph:ph + height, pw:pw + width])


def im2col(x, kernel_size, stride=1, padding=0) -> Tensor:
    """Unfold the patches of an image batch into the columns of a matrix.

    Parameters
    ----------
    x : Tensor of shape (N, C, H, W)
    kernel_size : int or (int, int)
        Window height and width (KH, KW).
    stride : int or (int, int)
        Step between windows, (sh, sw).
    padding : int or (int, int)
        Zeros added above and below (ph) and left and right (pw).

    Returns
    -------
    Tensor of shape (C*KH*KW, N*OH*OW)
        With OH = (H + 2 ph - KH) // sh + 1 (likewise OW):
        ``cols[(c*KH + ky)*KW + kx, (n*OH + oh)*OW + ow] = x_padded[n, c, oh*sh + ky, ow*sw + kx]``.
        im2col is linear, and its vector-Jacobian product is its adjoint :func:`col2im`
        (and vice versa).
    """
    x = as_tensor(x)
    _check_image(x, "im2col")
    kernel, stride, padding, _ = _window_geometry(x.shape, kernel_size, stride, padding)
    x_shape = x.shape

    def backward(g, out):
        return (col2im(g, x_shape, kernel, stride, padding),)

    return Tensor.from_op(_unfold(x.data, kernel, stride, padding), (x,), backward)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0) -> Tensor:
    """Add the columns of ``cols`` back into an image of shape ``x_shape``.

    The adjoint of :func:`im2col`: ``<im2col(x), c> = <x, col2im(c)>``. Each input pixel
    receives the sum of the column entries that were copied from it (a pixel lies in up
    to KH*KW windows). Its vector-Jacobian product is :func:`im2col`.
    """
    cols = as_tensor(cols)
    x_shape = tuple(int(n) for n in x_shape)
    kernel, stride, padding, _ = _window_geometry(x_shape, kernel_size, stride, padding)

    def backward(g, out):
        return (im2col(g, kernel, stride, padding),)

    return Tensor.from_op(_fold(cols.data, x_shape, kernel, stride, padding), (cols,), backward)


def _check_pool_padding(kernel, padding, where: str) -> None:
    """Refuse pooling padding above half the kernel on either axis (as PyTorch does), so
    that every window holds a pixel of the image; ``kernel`` and ``padding`` are pairs."""
    if 2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]:
        raise ValueError(
            f"{where}: padding must be at most half the kernel size, got padding={padding} "
            f"for kernel_size={kernel}"
        )


def _pool_windows(x: Tensor, function: str, kernel_size, stride, padding):
    """Validate a pooling call and unfold every channel of every image separately.

    Returns (windows, (kernel, stride, padding), out_shape): ``windows`` has shape
    (KH*KW, N*C, OH*OW), one row per position in the window, and ``out_shape`` is
    (N, C, OH, OW). Padding (a pair)
    is refused above half the kernel, so that every window holds a pixel of ``x``.
    """
    x = as_tensor(x)
    _check_image(x, function)
    stride = kernel_size if stride is None else stride  # non-overlapping windows
    kernel, stride, padding, (out_h, out_w) = _window_geometry(x.shape, kernel_size, stride, padding)
    _check_pool_padding(kernel, padding, function)
    n_batch, channels, height, width = x.shape
    # Channels pool independently: treat each of the N*C planes as a one-channel image,
    # so that column (n*C + c)*OH*OW + oh*OW + ow of im2col is output pixel (n, c, oh, ow).
    planes = reshape(x, (n_batch * channels, 1, height, width))
    windows = reshape(im2col(planes, kernel, stride, padding), (kernel[0] * kernel[1], n_batch * channels, out_h * out_w))
    return windows, (kernel, stride, padding), (n_batch, channels, out_h, out_w)


def max_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Max pooling: the largest value in each KH x KW window (Deep Learning, draft and
    published book sec. 9.3).

    Parameters
    ----------
    x : Tensor of shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to the kernel size (non-overlapping windows).
    padding : int or (int, int)
        Implicit padding with -inf (never the maximum), at most half the kernel size on
        each axis, so every window holds at least one pixel of ``x``.

    Returns
    -------
    Tensor of shape (N, C, OH, OW). The gradient flows to the maximal pixels of each
    window, shared equally among exact ties (PyTorch gives it all to one of them; both
    are valid subgradients, see :func:`max`).
    """
    windows, (kernel, stride, padding), out_shape = _pool_windows(x, "max_pool2d", kernel_size, stride, padding)
    if any(padding):
        # the window positions that fall on the padding: the zeros in an unfolded image of ones
        ones = np.ones((1, 1) + as_tensor(x).shape[2:], dtype=windows.dtype)
        outside = _unfold(ones, kernel, stride, padding) == 0  # (KH*KW, OH*OW)
        windows = where(outside[:, None, :], -np.inf, windows)
    return reshape(max(windows, axis=0), out_shape)


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Average pooling: the mean of each KH x KW window.

    Zero padding counts in the average (each output divides by KH*KW), as in PyTorch's
    default ``count_include_pad=True``. ``stride`` defaults to the kernel size;
    ``kernel_size``, ``stride`` and ``padding`` are ints or (height, width) pairs.

    Returns a Tensor of shape (N, C, OH, OW).
    """
    windows, ((kh, kw), _, _), out_shape = _pool_windows(x, "avg_pool2d", kernel_size, stride, padding)
    return reshape(sum(windows, axis=0) * (1.0 / (kh * kw)), out_shape)
