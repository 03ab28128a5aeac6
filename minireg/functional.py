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
import math

import numpy as np

from minireg.tensor import Tensor

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
    a, b = _operands(a, b, "minimum")
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

    return Tensor.from_op(x.data.sum(axis=axes, keepdims=keepdims), (x,), backward)


def mean(x, axis=None, keepdims=False) -> Tensor:
    """Arithmetic mean over ``axis``: the sum times 1/n for n terms; each term gets g/n back.

    A primitive rather than ``sum(x) * (1/n)``: one node fewer at the end of every loss.
    """
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)
    scale = 1.0 / builtins.max(math.prod(x.shape[a] for a in axes), 1)
    kept_shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))

    def backward(g, out):
        return (broadcast_to(reshape(g * scale, kept_shape), x.shape),)

    return Tensor.from_op(x.data.sum(axis=axes, keepdims=keepdims) * scale, (x,), backward)


def var(x, axis=None, keepdims=False, ddof=0) -> Tensor:
    """Variance over ``axis`` (``ddof=0``: the biased estimate that batch norm uses)."""
    x = as_tensor(x)
    count = math.prod(x.shape[a] for a in _normalize_axis(axis, x.ndim))
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
    shifted = x.data - _max_shift(x, axis)
    data = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g, out):
        return (g - exp(out) * sum(g, axis=axis, keepdims=True),)

    return Tensor.from_op(data, (x,), backward)


def softplus(x) -> Tensor:
    """log(1 + e^x), computed as max(x, 0) + log(1 + e^-|x|) so that it never overflows.

    Its derivative is the sigmoid, which is also how the gradient is computed (the
    stable formula has kinks at 0 that would give a wrong subgradient there).
    """
    x = as_tensor(x)
    data = np.maximum(x.data, 0) + np.log1p(np.exp(-np.abs(x.data)))
    return Tensor.from_op(data, (x,), lambda g, out: (g * sigmoid(x),))


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
        return (sum_to_shape(matmul(g, swapaxes(b, -1, -2)), a.shape) if a.requires_grad else None,
                sum_to_shape(matmul(swapaxes(a, -1, -2), g), b.shape) if b.requires_grad else None)

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
        return (matmul(g, transpose(weight)) if x.requires_grad else None,
                matmul(transpose(x), g) if weight.requires_grad else None,
                sum(g, axis=0) if bias is not None and bias.requires_grad else None)

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

from minireg import kernels as _kernels  # noqa: E402  (kernels imports nothing of minireg)

from minireg import threads as _threads  # noqa: E402
from minireg.tensor import is_grad_enabled  # noqa: E402


def _kernel_pair(kernel_size) -> tuple:
    """``kernel_size`` given as an int k or a pair (kh, kw), returned as a pair of ints."""
    pair = (kernel_size, kernel_size) if isinstance(kernel_size, (int, np.integer)) else kernel_size
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in pair)):
        raise TypeError(f"kernel_size must be an int or a pair of ints (kh, kw), got {kernel_size!r}")
    if pair[0] < 1 or pair[1] < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size!r}")
    return int(pair[0]), int(pair[1])


def _check_int(value, name: str, smallest: int) -> int:
    """``value`` as an int, which must be >= ``smallest``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < smallest:
        raise ValueError(f"{name} must be an int >= {smallest}, got {value}")
    return int(value)


def _check_image(x: Tensor, function: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{function}: x must have shape (N, C, H, W), got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{function}: x must be float32 or float64, got {x.dtype}")


def im2col(x, kernel_size, stride=1, padding=0) -> Tensor:
    """Unfold the patches of an image batch into the columns of a matrix.

    Parameters
    ----------
    x : Tensor of shape (N, C, H, W)
    kernel_size : int or (int, int)
        Window height and width (KH, KW).
    stride : int
        Step between windows.
    padding : int
        Zeros added on every side.

    Returns
    -------
    Tensor of shape (C*KH*KW, N*OH*OW), with OH = (H + 2 padding - KH) // stride + 1
    (likewise OW): ``cols[(c*KH + ky)*KW + kx, (n*OH + oh)*OW + ow] =
    x_padded[n, c, oh*stride + ky, ow*stride + kx]``. im2col is linear, and its
    vector-Jacobian product is its adjoint :func:`col2im` (and vice versa).
    """
    x = as_tensor(x)
    _check_image(x, "im2col")
    kh, kw = _kernel_pair(kernel_size)
    stride, padding = _check_int(stride, "stride", 1), _check_int(padding, "padding", 0)
    x_shape = x.shape

    def backward(g, out):
        return (col2im(g, x_shape, (kh, kw), stride, padding),)

    return Tensor.from_op(_kernels.im2col(x.data, kh, kw, stride, padding), (x,), backward)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0) -> Tensor:
    """Add the columns of ``cols`` back into an image of shape ``x_shape``.

    The adjoint of :func:`im2col`: ``<im2col(x), c> = <x, col2im(c)>``. Each input pixel
    receives the sum of the column entries that were copied from it (a pixel lies in up
    to KH*KW windows). Its vector-Jacobian product is :func:`im2col`.
    """
    cols = as_tensor(cols)
    kh, kw = _kernel_pair(kernel_size)
    stride, padding = _check_int(stride, "stride", 1), _check_int(padding, "padding", 0)
    x_shape = tuple(int(n) for n in x_shape)

    def backward(g, out):
        return (im2col(g, (kh, kw), stride, padding),)

    return Tensor.from_op(_kernels.col2im(cols.data, x_shape, kh, kw, stride, padding), (cols,), backward)


# conv2d goes through the batch a few images at a time: the unfolded rows of one chunk
# (and the matrix products made from them) stay in the CPU's cache between the unfolding
# and the product, instead of a batch-sized matrix (80 MB for LeNet's second layer at
# batch 128) going out to memory and back. Several chunks run at once, one per thread
# (minireg.threads), so a batch is cut into at least _CONV_MIN_CHUNKS chunks to share.
# The chunks do not depend on the number of threads, and each matrix product runs on one
# BLAS thread, so conv2d gives the same bits on any number of threads. The sizes were
# tuned on LeNet's layers; see benchmarks/README.md.
_CONV_CHUNK_BYTES = 2 << 20
_CONV_MIN_CHUNKS = 32


def _batch_chunks(n_batch: int, bytes_per_image: int) -> list:
    """Split range(n_batch) into consecutive (start, stop) chunks of about
    _CONV_CHUNK_BYTES of unfolded rows each, and at least _CONV_MIN_CHUNKS of them
    (or one image each)."""
    images = builtins.min(_CONV_CHUNK_BYTES // builtins.max(1, bytes_per_image), n_batch // _CONV_MIN_CHUNKS)
    images = builtins.max(1, images)
    return [(start, builtins.min(n_batch, start + images)) for start in range(0, n_batch, images)]


def _padded_nhwc(x: np.ndarray, padding: int) -> np.ndarray:
    """``x`` (N, C, H, W) copied into channels-last order (N, H + 2p, W + 2p, C), zero-padded."""
    n_batch, channels, height, width = x.shape
    padded = np.zeros((n_batch, height + 2 * padding, width + 2 * padding, channels), dtype=x.dtype)
    padded[:, padding:padding + height, padding:padding + width, :] = x.transpose(0, 2, 3, 1)
    return padded


def conv2d(x, weight, bias=None, stride=1, padding=0) -> Tensor:
    """2-D convolution (cross-correlation, as in every deep-learning framework).

    ``out[n, o, i, j] = bias[o] + sum_{c, ky, kx} weight[c, o, ky, kx]
    * x_padded[n, c, i*stride + ky, j*stride + kx]`` (the strided multi-channel
    convolution of Deep Learning, sec. 9.5, eq. 9.8, with indices from 0).

    A convolution is one matrix product with the unfolded input:
    ``out2d = W_rows @ cols``, with ``cols = im2col(x)`` of shape (C*KH*KW, N*OH*OW) and
    ``W_rows`` = weight as (out_channels, C*KH*KW). With ``g2d`` the upstream gradient
    laid out like ``out2d``, the backward pass (Deep Learning, sec. 9.5, eqs. 9.11-9.13) is

        dL/dW_rows = g2d @ cols^T,   dL/dx = col2im(W_rows^T @ g2d),   dL/dbias = sum of g.

    The forward pass and the usual backward pass compute the same products in the
    transposed orientation, which runs faster: ``rows = im2row(x_padded)`` unfolds the
    channels-last padded input with one row per output pixel, and ``rows @ W_matrix``
    (W_matrix of shape (KH*KW*C, out_channels)) is the output in NHWC order. They go
    through the batch a few images at a time, so that each chunk's rows stay in the CPU
    cache between the unfolding and the product.

    conv2d is one op. Its backward pass comes in two versions that compute the same
    numbers: with ``create_graph=True`` it is written in differentiable Tensor ops
    (:func:`im2col`, :func:`matmul`, :func:`col2im`), so the convolution can be
    differentiated twice (input-gradient penalties, Hessian-vector products); otherwise it
    works on the arrays, chunk by chunk, and unfolds ``x`` again instead of keeping the
    rows in the graph.

    Parameters
    ----------
    x : Tensor of shape (N, C, H, W)
    weight : Tensor of shape (C, out_channels, KH, KW)
        minireg's layout; PyTorch's weight is ``weight.transpose(1, 0, 2, 3)``.
    bias : Tensor of shape (out_channels,), optional
    stride, padding : int

    Returns
    -------
    Tensor of shape (N, out_channels, OH, OW).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    _check_image(x, "conv2d")
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d: weight must have shape (in_channels, out_channels, KH, KW), got shape {weight.shape}"
        )
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: x has dtype {x.dtype} but weight has dtype {weight.dtype}")
    in_channels, out_channels, kh, kw = weight.shape
    if x.shape[1] != in_channels:
        raise ValueError(
            f"conv2d: x has {x.shape[1]} channels (x.shape[1]) but weight has {in_channels} input "
            f"channels (weight.shape[0]; minireg stores weights as (in, out, KH, KW))"
        )
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (out_channels,):
            raise ValueError(f"conv2d: bias must have shape ({out_channels},), got shape {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"conv2d: bias has dtype {bias.dtype} but x has dtype {x.dtype}")
    stride, padding = _check_int(stride, "stride", 1), _check_int(padding, "padding", 0)
    geometry = (kh, kw, stride, padding)
    out = _conv2d_forward_in_arrays(x.data, weight.data, None if bias is None else bias.data, geometry)

    def backward(g, out):
        if is_grad_enabled():  # create_graph=True: the backward pass must itself be differentiable
            grads = _conv2d_backward_in_tensor_ops(g, x, weight, geometry)
        else:
            grads = _conv2d_backward_in_arrays(g.data, x, weight, geometry)
        if bias is None:
            return grads
        return grads + (sum(g, axis=(0, 2, 3)),)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(out, parents, backward)


def _conv2d_forward_in_arrays(x, weight, bias, geometry):
    """conv2d's output on arrays, computed in the row layout a chunk of images at a time.

    ``rows = im2row(x_padded)`` has one row per output pixel, so ``rows @ W_matrix``, with
    ``W_matrix`` the weight as (KH*KW*C, out_channels), is the chunk's output in NHWC order;
    it is copied to NCHW with the bias added on the way.
    """
    kh, kw, stride, padding = geometry
    in_channels, out_channels = weight.shape[:2]
    n_batch, _, height, width = x.shape
    out_h = _kernels.conv_output_size(height, kh, stride, padding, "height")
    out_w = _kernels.conv_output_size(width, kw, stride, padding, "width")
    window = kh * kw * in_channels
    weight_matrix = weight.transpose(2, 3, 0, 1).reshape(window, out_channels)  # rows (ky, kx, c)
    out = np.empty((n_batch, out_channels, out_h, out_w), dtype=x.dtype)
    chunks = _batch_chunks(n_batch, out_h * out_w * window * x.dtype.itemsize)

    def forward_chunk(i):
        start, stop = chunks[i]
        rows = _kernels.im2row(_padded_nhwc(x[start:stop], padding), kh, kw, stride)
        product = (rows @ weight_matrix).reshape(stop - start, out_h, out_w, out_channels)
        if bias is None:
            out[start:stop] = product.transpose(0, 3, 1, 2)
        else:
            np.add(product.transpose(0, 3, 1, 2), bias.reshape(1, out_channels, 1, 1), out=out[start:stop])

    _threads.run_chunks(forward_chunk, len(chunks), _threads.blas_threads())
    return out


def _conv2d_backward_in_tensor_ops(g, x, weight, geometry):
    """(dL/dx, dL/dweight) of conv2d in Tensor ops, recorded for double backprop."""
    kh, kw, stride, padding = geometry
    in_channels, out_channels = weight.shape[:2]
    g2d = reshape(transpose(g, (1, 0, 2, 3)), (out_channels, -1))  # (OC, N*OH*OW)
    weight_rows = reshape(transpose(weight, (1, 0, 2, 3)), (out_channels, -1))
    grad_x = col2im(matmul(transpose(weight_rows), g2d), x.shape, (kh, kw), stride, padding) \
        if x.requires_grad else None
    grad_weight = None
    if weight.requires_grad:
        grad_rows = matmul(g2d, transpose(im2col(x, (kh, kw), stride, padding)))  # (OC, C*KH*KW)
        grad_weight = transpose(reshape(grad_rows, (out_channels, in_channels, kh, kw)), (1, 0, 2, 3))
    return grad_x, grad_weight


def _conv2d_backward_in_arrays(g, x, weight, geometry):
    """The same gradients as :func:`_conv2d_backward_in_tensor_ops`, computed on arrays.

    In the row layout of the forward pass (``rows = im2row(x_padded)``, one row per
    output pixel, and ``g_pixels`` the upstream gradient in NHWC order, one row per
    output pixel too), the gradients are

        dL/dW_matrix = rows^T @ g_pixels,    dL/dx_padded = row2im(g_pixels @ W_matrix^T),

    computed a chunk of images at a time, like the forward pass. Each chunk unfolds its
    images again (cheaper than keeping the whole batch's rows in the graph) and writes its
    own term of the weight gradient; the terms are summed in chunk order at the end, so
    the result does not depend on which thread ran which chunk.
    """
    kh, kw, stride, padding = geometry
    in_channels, out_channels = weight.shape[:2]
    n_batch, _, out_h, out_w = g.shape
    _, _, height, width = x.shape
    window, pixels = kh * kw * in_channels, out_h * out_w
    chunks = _batch_chunks(n_batch, pixels * window * g.dtype.itemsize)
    if weight.requires_grad:
        grad_terms = np.empty((len(chunks), window, out_channels), dtype=g.dtype)
    if x.requires_grad:
        weight_matrix_t = weight.data.transpose(1, 2, 3, 0).reshape(out_channels, window)  # W_matrix^T
        grad_x = np.empty(x.shape, dtype=g.dtype)

    def backward_chunk(i):
        start, stop = chunks[i]
        g_pixels = np.ascontiguousarray(g[start:stop].transpose(0, 2, 3, 1)).reshape(-1, out_channels)
        if weight.requires_grad:
            rows = _kernels.im2row(_padded_nhwc(x.data[start:stop], padding), kh, kw, stride)
            np.matmul(rows.T, g_pixels, out=grad_terms[i])
        if x.requires_grad:
            padded_shape = (stop - start, height + 2 * padding, width + 2 * padding, in_channels)
            grad_x_padded = _kernels.row2im(g_pixels @ weight_matrix_t, padded_shape, kh, kw, stride)
            inside = grad_x_padded[:, padding:padding + height, padding:padding + width, :]
            grad_x[start:stop] = inside.transpose(0, 3, 1, 2)  # NHWC -> NCHW

    _threads.run_chunks(backward_chunk, len(chunks), _threads.blas_threads())
    grad_weight = None
    if weight.requires_grad:
        grad_matrix = grad_terms.sum(axis=0)  # (KH*KW*C, OC), rows (ky, kx, c)
        grad_weight = Tensor(np.ascontiguousarray(
            grad_matrix.reshape(kh, kw, in_channels, out_channels).transpose(2, 3, 0, 1)))
    return (Tensor(grad_x) if x.requires_grad else None), grad_weight


def _pool_windows(x: Tensor, function: str, kernel_size, stride, padding):
    """Validate a pooling call and unfold every channel of every image separately.

    Returns (windows, (kh, kw, stride, padding), out_shape): ``windows`` has shape
    (KH*KW, N*C, OH*OW), one row per position in the window, and ``out_shape`` is
    (N, C, OH, OW).
    """
    x = as_tensor(x)
    _check_image(x, function)
    kh, kw = _kernel_pair(kernel_size)
    if stride is None:  # non-overlapping windows
        if kh != kw:
            raise ValueError(f"{function}: give stride explicitly for a non-square kernel {kernel_size}")
        stride = kh
    stride, padding = _check_int(stride, "stride", 1), _check_int(padding, "padding", 0)
    if 2 * padding > builtins.min(kh, kw):
        raise ValueError(
            f"{function}: padding must be at most half the kernel size, got padding={padding} "
            f"for kernel_size={kernel_size}"
        )
    n_batch, channels, height, width = x.shape
    out_h = _kernels.conv_output_size(height, kh, stride, padding, "height")
    out_w = _kernels.conv_output_size(width, kw, stride, padding, "width")
    # Channels pool independently: treat each of the N*C planes as a one-channel image,
    # so that column (n*C + c)*OH*OW + oh*OW + ow of im2col is output pixel (n, c, oh, ow).
    planes = reshape(x, (n_batch * channels, 1, height, width))
    windows = reshape(im2col(planes, (kh, kw), stride, padding), (kh * kw, n_batch * channels, out_h * out_w))
    return windows, (kh, kw, stride, padding), (n_batch, channels, out_h, out_w)


def max_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Max pooling: the largest value in each KH x KW window (Deep Learning, sec. 9.3).

    Parameters
    ----------
    x : Tensor of shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int, optional
        Defaults to the kernel size (non-overlapping windows).
    padding : int
        Implicit padding with -inf (never the maximum), at most half the kernel size,
        so every window holds at least one pixel of ``x``.

    Returns
    -------
    Tensor of shape (N, C, OH, OW). The gradient flows to the maximal pixel of each
    window (shared equally among exact ties, a valid subgradient).
    """
    windows, (kh, kw, stride, padding), out_shape = _pool_windows(x, "max_pool2d", kernel_size, stride, padding)
    if padding:
        # the window positions that fall on the padding: the zeros in an unfolded image of ones
        ones = np.ones((1, 1) + as_tensor(x).shape[2:], dtype=windows.dtype)
        outside = _kernels.im2col(ones, kh, kw, stride, padding) == 0  # (KH*KW, OH*OW)
        windows = where(outside[:, None, :], -np.inf, windows)
    return reshape(max(windows, axis=0), out_shape)


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Average pooling: the mean of each KH x KW window.

    Zero padding counts in the average (each output divides by KH*KW), as in PyTorch's
    default ``count_include_pad=True``. ``stride`` defaults to the kernel size.

    Returns a Tensor of shape (N, C, OH, OW).
    """
    windows, (kh, kw, _, _), out_shape = _pool_windows(x, "avg_pool2d", kernel_size, stride, padding)
    return reshape(sum(windows, axis=0) * (1.0 / (kh * kw)), out_shape)
