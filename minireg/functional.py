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

import builtins

import numpy as np

from minireg.tensor import Tensor

# ---------------------------------------------------------------------------------------
# Helpers: operands, broadcasting
# ---------------------------------------------------------------------------------------


def as_tensor(x, dtype=None) -> Tensor:
    """``x`` itself if it is a Tensor, else a constant Tensor (no gradient) holding it."""
    return x if isinstance(x, Tensor) else Tensor(x, dtype=dtype)


def _constant_like(x, like: Tensor) -> Tensor:
    """A number or array met by the Tensor ``like``: a constant of ``like``'s float dtype."""
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


def sum_to_shape(g: Tensor, shape: tuple) -> Tensor:
    """Undo broadcasting: sum ``g`` over the axes along which an input of ``shape`` was
    stretched, so that the gradient has the input's shape."""
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1
    )
    g = sum(g, axis=axes, keepdims=True) if axes else g
    return reshape(g, shape)


def _normalize_axis(axis, ndim: int, name: str = "axis"):
    """Axis argument as a tuple of non-negative ints (None means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normalized = []
    for a in axes:
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
        return (sum_to_shape(g, a.shape) if a.requires_grad else None,
                sum_to_shape(g, b.shape) if b.requires_grad else None)

    return Tensor.from_op(a.data + b.data, (a, b), backward)


def sub(a, b) -> Tensor:
    """a - b, with broadcasting."""
    a, b = _operands(a, b, "sub")

    def backward(g, out):
        return (sum_to_shape(g, a.shape) if a.requires_grad else None,
                sum_to_shape(neg(g), b.shape) if b.requires_grad else None)

    return Tensor.from_op(a.data - b.data, (a, b), backward)


def mul(a, b) -> Tensor:
    """a * b (elementwise), with broadcasting."""
    a, b = _operands(a, b, "mul")

    def backward(g, out):
        return (sum_to_shape(g * b, a.shape) if a.requires_grad else None,
                sum_to_shape(g * a, b.shape) if b.requires_grad else None)

    return Tensor.from_op(a.data * b.data, (a, b), backward)


def div(a, b) -> Tensor:
    """a / b (elementwise), with broadcasting."""
    a, b = _operands(a, b, "div")

    def backward(g, out):
        return (sum_to_shape(g / b, a.shape) if a.requires_grad else None,
                sum_to_shape(neg(g) * a / (b * b), b.shape) if b.requires_grad else None)

    return Tensor.from_op(a.data / b.data, (a, b), backward)


def neg(x) -> Tensor:
    """-x."""
    x = as_tensor(x)
    return Tensor.from_op(-x.data, (x,), lambda g, out: (neg(g),))


def power(x, exponent) -> Tensor:
    """x ** exponent for a constant (number) exponent: d/dx = p x^(p-1)."""
    x = as_tensor(x)
    if isinstance(exponent, Tensor) or not np.isscalar(exponent):
        raise TypeError(f"power: the exponent must be a number, got {type(exponent).__name__}")
    p = float(exponent)
    if p == int(p):
        p = int(p)  # integer powers of negative numbers stay defined

    def backward(g, out):
        return (g * p * power(x, p - 1),)

    return Tensor.from_op(x.data ** p, (x,), backward)


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
    """|x|; the gradient is sign(x) (0 at 0, the subgradient minireg uses)."""
    x = as_tensor(x)
    return Tensor.from_op(np.abs(x.data), (x,), lambda g, out: (g * np.sign(x.data),))


def relu(x) -> Tensor:
    """max(x, 0); the gradient passes where x > 0."""
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
    """Elementwise max(a, b); the gradient goes to the larger (to a on ties)."""
    a, b = _operands(a, b, "maximum")
    a_wins = a.data >= b.data

    def backward(g, out):
        return (sum_to_shape(g * a_wins, a.shape) if a.requires_grad else None,
                sum_to_shape(g * ~a_wins, b.shape) if b.requires_grad else None)

    return Tensor.from_op(np.maximum(a.data, b.data), (a, b), backward)


def minimum(a, b) -> Tensor:
    """Elementwise min(a, b)."""
    return neg(maximum(neg(a), neg(b)))


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (condition is a constant boolean array)."""
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    a, b = _operands(a, b, "where")

    def backward(g, out):
        return (sum_to_shape(g * condition, a.shape) if a.requires_grad else None,
                sum_to_shape(g * ~condition, b.shape) if b.requires_grad else None)

    return Tensor.from_op(np.where(condition, a.data, b.data), (a, b), backward)


def astype(x, dtype) -> Tensor:
    """The same values in another dtype; the gradient is cast back."""
    x = as_tensor(x)
    if np.dtype(dtype) == x.dtype:
        return x
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

    return Tensor.from_op(np.sum(x.data, axis=axes, keepdims=keepdims), (x,), backward)


def mean(x, axis=None, keepdims=False) -> Tensor:
    """Arithmetic mean over ``axis``."""
    x = as_tensor(x)
    count = int(np.prod([x.shape[a] for a in _normalize_axis(axis, x.ndim)], dtype=np.int64))
    return sum(x, axis, keepdims) * (1.0 / builtins.max(count, 1))


def var(x, axis=None, keepdims=False, ddof=0) -> Tensor:
    """Variance over ``axis`` (``ddof=0``: the biased estimate that batch norm uses)."""
    x = as_tensor(x)
    count = int(np.prod([x.shape[a] for a in _normalize_axis(axis, x.ndim)], dtype=np.int64))
    centered = x - mean(x, axis, keepdims=True)
    return sum(centered * centered, axis, keepdims) * (1.0 / builtins.max(count - ddof, 1))


def max(x, axis=None, keepdims=False) -> Tensor:
    """Maximum over ``axis``. The gradient goes to the maximal entries, shared equally
    among ties (a valid subgradient)."""
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
    """Minimum over ``axis``."""
    return neg(max(neg(x), axis, keepdims))


def logsumexp(x, axis=-1, keepdims=False) -> Tensor:
    """log sum_i exp(x_i), computed as m + log sum_i exp(x_i - m) with m = max x.

    The shift m is a constant for differentiation: the result does not depend on it,
    so the gradient, softmax(x), comes out right.
    """
    x = as_tensor(x)
    shift = np.max(x.data, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0).astype(x.dtype, copy=False)
    out = log(sum(exp(x - shift), axis=axis, keepdims=True)) + shift
    if not keepdims:
        out = reshape(out, np.squeeze(out.data, axis=axis).shape)
    return out


def softmax(x, axis=-1) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along ``axis``."""
    return exp(log_softmax(x, axis))


def log_softmax(x, axis=-1) -> Tensor:
    """x_i - log sum_j exp(x_j) along ``axis`` (stable for large logits)."""
    x = as_tensor(x)
    return x - logsumexp(x, axis=axis, keepdims=True)


def softplus(x) -> Tensor:
    """log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), stable for any x."""
    x = as_tensor(x)
    return relu(x) + log1p(exp(neg(abs(x))))


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
    axes = tuple(reversed(range(x.ndim))) if axes is None else _normalize_axis(axes, x.ndim, "axes")
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes={axes} is not a permutation of the {x.ndim} axes")
    inverse = tuple(np.argsort(axes))
    return Tensor.from_op(x.data.transpose(axes), (x,), lambda g, out: (transpose(g, inverse),))


def swapaxes(x, axis1, axis2) -> Tensor:
    """Exchange two axes."""
    x = as_tensor(x)
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
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
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
        return tuple(getitem(g, lead + (slice(int(lo), int(hi)),)) if t.requires_grad else None
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
    axis = axis % (len(shape) + 1)
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
    if a.ndim == 1:
        return reshape(matmul(reshape(a, (1, -1)), b), b.shape[:-2] + b.shape[-1:])
    if b.ndim == 1:
        return reshape(matmul(a, reshape(b, (-1, 1))), a.shape[:-1])
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not fit "
            f"(a.shape[-1]={a.shape[-1]} must equal b.shape[-2]={b.shape[-2]})"
        )

    def backward(g, out):
        return (sum_to_shape(matmul(g, swapaxes(b, -1, -2)), a.shape) if a.requires_grad else None,
                sum_to_shape(matmul(swapaxes(a, -1, -2), g), b.shape) if b.requires_grad else None)

    return Tensor.from_op(a.data @ b.data, (a, b), backward)
