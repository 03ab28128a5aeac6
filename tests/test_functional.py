"""Tests of every op in minireg.functional.

For each op, on several shapes (broadcasting included), in float64:

* its value against NumPy / SciPy;
* its gradient against central finite differences (``check_gradients``);
* its Hessian-vector product from double backprop against finite differences of
  gradients (``check_hessian_vector``);
* in float32, the result and the gradient stay float32.

Then the special cases: ties in max, repeated integer indices, boolean masks,
negative axes, keepdims, numerical stability, and the error messages.
"""
import inspect

import numpy as np
import pytest
import scipy.special
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minireg.functional as F
from minireg.kernels import dropout_numpy
from minireg.gradcheck import check_gradients, check_hessian_vector
from minireg.tensor import Tensor, grad

# ---- input makers (each takes a Generator and a shape) ----------------------------------------


def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    """Away from 0, for log, sqrt, negative powers and denominators."""
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng, shape):
    """|x| >= 0.3, so finite differences do not cross the kink of abs/relu at 0."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)


def distinct(rng, shape):
    """Values at least 0.1 apart, so the arg-max is unique and stays put under eps."""
    n = int(np.prod(shape, dtype=np.int64))
    return ((rng.permutation(n) - n // 2) * 0.1).reshape(shape)  # on the grid 0.1 Z


def distinct_offset(rng, shape):
    """Like ``distinct`` but on the grid shifted by 0.05: never within 0.05 of it."""
    return distinct(rng, shape) + 0.05


# ---- the cases: (op name, id, fn on Tensors, input makers with shapes, NumPy reference) -------

INDEX_REPEATED = np.array([0, 2, 2, -1, 0])
MASK_2x3 = np.array([[True, False, True], [False, False, True]])
CONDITION = np.array([[True, False, True, True], [False, True, False, False], [True, True, False, True]])


def case(op, name, fn, inputs, reference):
    return pytest.param(op, fn, inputs, reference, id=f"{op}-{name}")


BINARY_SHAPES = [("same", (3, 4), (3, 4)), ("row", (3, 4), (4,)),
                 ("outer", (2, 3, 1), (1, 4)), ("scalar", (), (2, 3))]

CASES = []
for label, sa, sb in BINARY_SHAPES:
    CASES += [
        case("add", label, F.add, [(normal, sa), (normal, sb)], np.add),
        case("sub", label, F.sub, [(normal, sa), (normal, sb)], np.subtract),
        case("mul", label, F.mul, [(normal, sa), (normal, sb)], np.multiply),
        case("div", label, F.div, [(normal, sa), (away_from_zero, sb)], np.divide),
        case("maximum", label, F.maximum, [(distinct, sa), (distinct_offset, sb)], np.maximum),
        case("minimum", label, F.minimum, [(distinct, sa), (distinct_offset, sb)], np.minimum),
    ]
CASES += [
    case("where", "same", lambda a, b: F.where(CONDITION, a, b), [(normal, (3, 4)), (normal, (3, 4))],
         lambda a, b: np.where(CONDITION, a, b)),
    case("where", "broadcast", lambda a, b: F.where(CONDITION, a, b), [(normal, (3, 1)), (normal, (4,))],
         lambda a, b: np.where(CONDITION, a, b)),
    case("neg", "2d", F.neg, [(normal, (2, 3))], np.negative),
    case("power", "square", lambda x: F.power(x, 2), [(normal, (2, 3))], lambda x: x ** 2),
    case("power", "cube", lambda x: F.power(x, 3), [(normal, (4,))], lambda x: x ** 3),
    case("power", "half", lambda x: F.power(x, 0.5), [(positive, (2, 3))], np.sqrt),
    case("power", "negative", lambda x: F.power(x, -1.5), [(positive, (5,))], lambda x: x ** -1.5),
    case("power", "tensor-exponent", F.power, [(positive, (2, 3)), (normal, (2, 3))], np.power),
    case("power", "broadcast-exponent", lambda x, p: x ** p, [(positive, (3, 4)), (normal, (4,))], np.power),
    case("power", "number-base", lambda p: 2.0 ** p, [(normal, (2, 3))], lambda p: 2.0 ** p),
    case("clip", "both", lambda x: F.clip(x, -0.25, 0.35), [(distinct, (3, 4))], lambda x: np.clip(x, -0.25, 0.35)),
    case("clip", "low", lambda x: x.clip(low=0.05), [(distinct, (3, 4))], lambda x: np.clip(x, 0.05, None)),
    case("clip", "high", lambda x: F.clip(x, high=-0.15), [(distinct, (3, 4))], lambda x: np.clip(x, None, -0.15)),
    case("exp", "2d", F.exp, [(normal, (2, 3))], np.exp),
    case("log", "2d", F.log, [(positive, (2, 3))], np.log),
    case("log1p", "1d", F.log1p, [(positive, (5,))], np.log1p),
    case("sqrt", "3d", F.sqrt, [(positive, (2, 2, 2))], np.sqrt),
    case("abs", "2d", F.abs, [(away_from_zero, (3, 4))], np.abs),
    case("relu", "2d", F.relu, [(away_from_zero, (3, 4))], lambda x: np.maximum(x, 0)),
    case("tanh", "2d", F.tanh, [(normal, (3, 4))], np.tanh),
    case("sigmoid", "2d", F.sigmoid, [(lambda r, s: 3 * normal(r, s), (3, 4))], scipy.special.expit),
    case("astype", "round-trip", lambda x: F.astype(F.astype(x, np.float32), x.dtype),
         [(normal, (2, 3))], lambda x: x.astype(np.float32).astype(x.dtype)),
    case("sum", "all", F.sum, [(normal, (2, 3, 4))], np.sum),
    case("squared_norm", "tensor", F.squared_norm, [(normal, (2, 3, 4))], lambda x: np.sum(x * x)),
    case("squared_norm", "vector", F.squared_norm, [(normal, (5,))], lambda x: np.dot(x, x)),
    case("sum", "axis0", lambda x: F.sum(x, axis=0), [(normal, (2, 3, 4))], lambda x: np.sum(x, axis=0)),
    case("sum", "axes-keepdims", lambda x: F.sum(x, axis=(0, -1), keepdims=True), [(normal, (2, 3, 4))],
         lambda x: np.sum(x, axis=(0, -1), keepdims=True)),
    case("mean", "all", F.mean, [(normal, (3, 4))], np.mean),
    case("mean", "axis-1", lambda x: F.mean(x, axis=-1), [(normal, (3, 4))], lambda x: np.mean(x, axis=-1)),
    case("var", "all", F.var, [(normal, (3, 4))], np.var),
    case("var", "axis0-keepdims", lambda x: F.var(x, axis=0, keepdims=True), [(normal, (3, 4))],
         lambda x: np.var(x, axis=0, keepdims=True)),
    case("var", "ddof1", lambda x: F.var(x, axis=1, ddof=1), [(normal, (3, 4))], lambda x: np.var(x, axis=1, ddof=1)),
    case("var", "method-ddof2", lambda x: x.var(0, True, 2), [(normal, (5, 3))],
         lambda x: np.var(x, axis=0, keepdims=True, ddof=2)),
    case("max", "all", F.max, [(distinct, (3, 4))], np.max),
    case("max", "axis1", lambda x: F.max(x, axis=1), [(distinct, (3, 4))], lambda x: np.max(x, axis=1)),
    case("max", "axes-keepdims", lambda x: F.max(x, axis=(0, 2), keepdims=True), [(distinct, (2, 3, 4))],
         lambda x: np.max(x, axis=(0, 2), keepdims=True)),
    case("min", "all", F.min, [(distinct, (3, 4))], np.min),
    case("min", "axis-1", lambda x: F.min(x, axis=-1), [(distinct, (2, 3, 4))], lambda x: np.min(x, axis=-1)),
    case("logsumexp", "last", F.logsumexp, [(normal, (3, 4))], lambda x: scipy.special.logsumexp(x, axis=-1)),
    case("logsumexp", "axis0-keepdims", lambda x: F.logsumexp(x, axis=0, keepdims=True), [(normal, (3, 4))],
         lambda x: scipy.special.logsumexp(x, axis=0, keepdims=True)),
    case("logsumexp", "all", lambda x: F.logsumexp(x, axis=None), [(normal, (2, 3))],
         lambda x: scipy.special.logsumexp(x)),
    case("softmax", "last", F.softmax, [(normal, (3, 4))], lambda x: scipy.special.softmax(x, axis=-1)),
    case("softmax", "axis0", lambda x: F.softmax(x, axis=0), [(normal, (3, 4))],
         lambda x: scipy.special.softmax(x, axis=0)),
    case("log_softmax", "axis1", lambda x: F.log_softmax(x, axis=1), [(normal, (2, 5, 3))],
         lambda x: scipy.special.log_softmax(x, axis=1)),
    case("softplus", "2d", F.softplus, [(lambda r, s: 4 * normal(r, s), (3, 4))], lambda x: np.logaddexp(0, x)),
    case("reshape", "2d", lambda x: F.reshape(x, (3, 4)), [(normal, (2, 6))], lambda x: x.reshape(3, 4)),
    case("reshape", "flatten", lambda x: F.reshape(x, (-1,)), [(normal, (2, 3, 2))], lambda x: x.reshape(-1)),
    case("transpose", "reverse", F.transpose, [(normal, (2, 3, 4))], np.transpose),
    case("transpose", "axes", lambda x: F.transpose(x, (1, 0, 2)), [(normal, (2, 3, 4))],
         lambda x: np.transpose(x, (1, 0, 2))),
    case("transpose", "cycle", lambda x: x.transpose(2, 0, 1), [(normal, (2, 3, 4))],
         lambda x: np.transpose(x, (2, 0, 1))),
    case("swapaxes", "negative", lambda x: F.swapaxes(x, 0, -1), [(normal, (2, 3, 4))],
         lambda x: np.swapaxes(x, 0, -1)),
    case("broadcast_to", "row", lambda x: F.broadcast_to(x, (2, 3)), [(normal, (3,))],
         lambda x: np.broadcast_to(x, (2, 3))),
    case("broadcast_to", "column", lambda x: F.broadcast_to(x, (4, 2, 3)), [(normal, (2, 1))],
         lambda x: np.broadcast_to(x, (4, 2, 3))),
    case("sum_to_shape", "row", lambda x: F.sum_to_shape(x, (1, 3)), [(normal, (2, 4, 3))],
         lambda x: x.sum(axis=(0, 1)).reshape(1, 3)),
    case("getitem", "slice", lambda x: x[1:, ::2], [(normal, (3, 4))], lambda x: x[1:, ::2]),
    case("getitem", "int-negative", lambda x: x[-1], [(normal, (3, 4))], lambda x: x[-1]),
    case("getitem", "repeated-ints", lambda x: F.getitem(x, INDEX_REPEATED), [(normal, (3, 2))],
         lambda x: x[INDEX_REPEATED]),
    case("getitem", "pairs", lambda x: x[np.array([0, 1, 0]), np.array([2, 0, 2])], [(normal, (2, 3))],
         lambda x: x[np.array([0, 1, 0]), np.array([2, 0, 2])]),
    case("getitem", "mask", lambda x: x[MASK_2x3], [(normal, (2, 3))], lambda x: x[MASK_2x3]),
    case("getitem", "ellipsis-newaxis", lambda x: x[..., None, 1], [(normal, (2, 3))], lambda x: x[..., None, 1]),
    case("index_add_to_zeros", "repeated", lambda v: F.index_add_to_zeros(v, (3, 2), INDEX_REPEATED),
         [(normal, (5, 2))], lambda v: _add_at(np.zeros((3, 2)), INDEX_REPEATED, v)),
    case("index_add_to_zeros", "mask", lambda v: F.index_add_to_zeros(v, (2, 3), MASK_2x3),
         [(normal, (3,))], lambda v: _add_at(np.zeros((2, 3)), MASK_2x3, v)),
    case("concatenate", "axis0", lambda a, b: F.concatenate([a, b], axis=0), [(normal, (2, 3)), (normal, (1, 3))],
         lambda a, b: np.concatenate([a, b], axis=0)),
    case("concatenate", "axis-1", lambda a, b, c: F.concatenate([a, b, c], axis=-1),
         [(normal, (2, 1)), (normal, (2, 3)), (normal, (2, 2))], lambda a, b, c: np.concatenate([a, b, c], axis=-1)),
    case("stack", "axis0", lambda a, b: F.stack([a, b]), [(normal, (2, 3)), (normal, (2, 3))],
         lambda a, b: np.stack([a, b])),
    case("stack", "axis-1", lambda a, b: F.stack([a, b], axis=-1), [(normal, (3,)), (normal, (3,))],
         lambda a, b: np.stack([a, b], axis=-1)),
    case("matmul", "matrix", F.matmul, [(normal, (3, 4)), (normal, (4, 2))], np.matmul),
    case("matmul", "batch-matrix", F.matmul, [(normal, (2, 3, 4)), (normal, (4, 5))], np.matmul),
    case("matmul", "matrix-batch", F.matmul, [(normal, (3, 4)), (normal, (2, 4, 5))], np.matmul),
    case("matmul", "broadcast-batches", F.matmul, [(normal, (2, 1, 3, 4)), (normal, (3, 4, 2))], np.matmul),
    case("matmul", "vector-matrix", F.matmul, [(normal, (4,)), (normal, (4, 3))], np.matmul),
    case("matmul", "matrix-vector", F.matmul, [(normal, (3, 4)), (normal, (4,))], np.matmul),
    case("matmul", "vector-vector", F.matmul, [(normal, (4,)), (normal, (4,))], np.matmul),
    # a fresh generator of one seed at each call: the same mask, so the op is a fixed function
    case("dropout", "mask-held-fixed", lambda x: F.dropout(x, 0.6, np.random.default_rng(3)), [(normal, (3, 5))],
         lambda x: dropout_numpy(x, 0.6, np.random.default_rng(3))[0]),
    case("linear", "bias", F.linear, [(normal, (3, 4)), (normal, (4, 2)), (normal, (2,))],
         lambda x, w, b: x @ w + b),
    case("linear", "no-bias", lambda x, w: F.linear(x, w), [(normal, (3, 4)), (normal, (4, 2))], np.matmul),
]


def _add_at(target, index, values):
    np.add.at(target, index, values)
    return target


def make_inputs(inputs, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [np.asarray(maker(rng, shape), dtype=dtype) for maker, shape in inputs]


# Ops that the convolution engineer appends to functional.py and tests in their own files.
CONVOLUTION_FAMILY = ("conv", "pool", "im2col", "col2im")
NOT_OPS = {"as_tensor"}  # a conversion helper, not a differentiable op


def test_every_public_op_has_a_case():
    covered = {p.values[0] for p in CASES}
    public = {name for name, obj in vars(F).items()
              if inspect.isfunction(obj) and obj.__module__ == F.__name__ and not name.startswith("_")}
    owned_elsewhere = {name for name in public if any(word in name for word in CONVOLUTION_FAMILY)}
    missing = public - covered - owned_elsewhere - NOT_OPS
    assert not missing, f"ops without a test case: {sorted(missing)}"


@pytest.mark.parametrize("op, fn, inputs, reference", CASES)
def test_value_matches_numpy(op, fn, inputs, reference):
    arrays = make_inputs(inputs)
    out = fn(*[Tensor(a) for a in arrays])
    expected = reference(*arrays)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("op, fn, inputs, reference", CASES)
def test_gradient_matches_finite_differences(op, fn, inputs, reference):
    arrays = make_inputs(inputs)
    tolerance = dict(eps=1e-2, atol=1e-4) if op == "astype" else {}  # float32 round-off in f
    check_gradients(fn, arrays, **tolerance)
    # the gradients have the shapes of the inputs (a broadcast-shaped gradient would
    # pass the comparison above by broadcasting)
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    grads = grad(F.sum(out * np.ones(out.shape)), tensors)
    for g, a in zip(grads, arrays):
        assert g.shape == a.shape


@pytest.mark.parametrize("op, fn, inputs, reference", CASES)
def test_hessian_vector_product_matches_finite_differences(op, fn, inputs, reference):
    check_hessian_vector(fn, make_inputs(inputs, seed=1))


@pytest.mark.parametrize("op, fn, inputs, reference", CASES)
def test_float32_in_float32_out(op, fn, inputs, reference):
    tensors = [Tensor(a, requires_grad=True) for a in make_inputs(inputs, dtype=np.float32)]
    out = fn(*tensors)
    assert out.dtype == np.float32
    F.sum(out * np.float64(1.5)).backward()
    for t in tensors:
        assert t.grad.dtype == np.float32


# ---- hypothesis: broadcasting, indexing, reductions ---------------------------------------------


@settings(max_examples=30, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       op=st.sampled_from(["add", "sub", "mul", "div"]), seed=st.integers(0, 2**16))
def test_binary_ops_any_broadcast_pattern(shapes, op, seed):
    shape_a, shape_b = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape_a), away_from_zero(rng, shape_b)
    fn = getattr(F, op)
    np.testing.assert_allclose(fn(Tensor(a), Tensor(b)).data, getattr(np, {"sub": "subtract", "mul": "multiply",
                                                                          "div": "divide"}.get(op, op))(a, b))
    check_gradients(fn, [a, b])


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_getitem_with_random_integer_indices_accumulates(data):
    n = data.draw(st.integers(1, 6), label="n")
    index = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=12), label="index"))
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((n, 2))
    upstream = rng.standard_normal((len(index), 2))
    x = Tensor(x0, requires_grad=True)
    picked = F.getitem(x, index)
    np.testing.assert_array_equal(picked.data, x0[index])
    picked.backward(upstream)
    expected = np.zeros((n, 2))
    for k, i in enumerate(index):  # the definition: every pick adds its upstream gradient
        expected[i] += upstream[k]
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-14)


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data())
def test_reductions_with_random_axis_and_keepdims(shape, data):
    ndim = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                               st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
                               .map(tuple)), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    x0 = distinct(np.random.default_rng(1), shape)
    for op, reference in (("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min), ("var", np.var)):
        out = getattr(F, op)(Tensor(x0), axis=axis, keepdims=keepdims)
        np.testing.assert_allclose(out.data, reference(x0, axis=axis, keepdims=keepdims), rtol=1e-12, atol=1e-15)
    check_gradients(lambda t: F.max(t, axis=axis, keepdims=keepdims), [x0])
    check_gradients(lambda t: F.var(t, axis=axis, keepdims=keepdims), [x0])


# ---- ties, repeats, masks, axes ----------------------------------------------------------------


def test_max_ties_share_the_gradient():
    x = Tensor(np.array([1.0, 3.0, 3.0, 2.0]), requires_grad=True)
    F.max(x).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5, 0.0])


def test_max_ties_along_an_axis():
    x = Tensor(np.array([[2.0, 2.0, 2.0], [0.0, 5.0, 1.0]]), requires_grad=True)
    F.max(x, axis=1).backward(np.array([3.0, 1.0]))
    np.testing.assert_allclose(x.grad.data, [[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]], rtol=1e-15)


def test_min_ties_share_the_gradient():
    x = Tensor(np.array([[4.0, -1.0], [-1.0, 0.0]]), requires_grad=True)
    F.min(x).backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.5], [0.5, 0.0]])


def test_maximum_tie_gives_the_gradient_to_one_operand_only():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([1.0, 0.0]), requires_grad=True)
    F.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data + b.grad.data, [1.0, 1.0])  # total slope 1
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0])


# The subgradients minireg picks at kinks, beside PyTorch's (docs/autograd.md, "Kinks"): each
# row is (op on minireg Tensors, op on torch tensors, input values, minireg's gradient,
# PyTorch's gradient), for the gradient of sum(op(x)).
KINKS = [
    ("max ties", lambda x: F.max(x), lambda x: x.max(), [1.0, 3.0, 3.0], [0, 0.5, 0.5], [0, 0.5, 0.5]),
    ("max ties on an axis", lambda x: F.max(x, axis=0), lambda x: x.max(dim=0).values,
     [1.0, 3.0, 3.0], [0, 0.5, 0.5], [0, 1, 0]),
    ("min ties", lambda x: F.min(x), lambda x: x.min(), [2.0, 2.0, 5.0], [0.5, 0.5, 0], [0.5, 0.5, 0]),
    ("maximum tie (x, 1)", lambda x: F.maximum(x, 1.0), lambda x: torch.maximum(x, torch.tensor(1.0, dtype=x.dtype)),
     [1.0, 2.0], [1, 1], [0.5, 1]),
    ("minimum tie (x, 1)", lambda x: F.minimum(x, 1.0), lambda x: torch.minimum(x, torch.tensor(1.0, dtype=x.dtype)),
     [1.0, 0.0], [1, 1], [0.5, 1]),
    ("abs at 0", F.abs, torch.abs, [0.0, -2.0], [0, -1], [0, -1]),
    ("relu at 0", F.relu, torch.relu, [0.0, 2.0], [0, 1], [0, 1]),
    ("clip at the bounds", lambda x: F.clip(x, 0.0, 1.0), lambda x: torch.clamp(x, 0.0, 1.0),
     [0.0, 1.0, 2.0], [1, 1, 0], [1, 1, 0]),
    ("max_pool2d ties", lambda x: F.max_pool2d(F.reshape(x, (1, 1, 2, 2)), 2),
     lambda x: torch.nn.functional.max_pool2d(x.reshape(1, 1, 2, 2), 2), [1.0, 1.0, 0.0, 1.0],
     [1 / 3, 1 / 3, 0, 1 / 3], [1, 0, 0, 0]),
]


@pytest.mark.parametrize("kink, ours, theirs, values, our_gradient, torch_gradient", KINKS, ids=[k[0] for k in KINKS])
def test_kinks_take_the_documented_subgradient(kink, ours, theirs, values, our_gradient, torch_gradient):
    x = Tensor(np.array(values), requires_grad=True)
    F.sum(ours(x)).backward()
    np.testing.assert_allclose(x.grad.data, our_gradient, rtol=1e-15)
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    theirs(tx).sum().backward()
    np.testing.assert_allclose(tx.grad.numpy(), torch_gradient, rtol=1e-15)


def test_repeated_integer_indices_accumulate_in_two_dimensions():
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    rows, cols = np.array([0, 0, 1, 0]), np.array([1, 1, 2, 1])
    x[rows, cols].backward(np.array([1.0, 2.0, 5.0, 4.0]))
    np.testing.assert_array_equal(x.grad.data, [[0.0, 7.0, 0.0], [0.0, 0.0, 5.0]])


def test_repeated_indices_as_a_python_list_accumulate():
    x = Tensor(np.zeros(3), requires_grad=True)
    x[[2, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 2.0])


def test_boolean_mask_gradient_is_the_mask():
    x0 = np.array([[-1.0, 2.0], [3.0, -4.0]])
    x = Tensor(x0, requires_grad=True)
    x[x0 > 0].sum().backward()
    np.testing.assert_array_equal(x.grad.data, (x0 > 0).astype(float))
    y = Tensor(x0, requires_grad=True)
    y[y > 0].sum().backward()  # a comparison of Tensors gives the mask directly
    np.testing.assert_array_equal(y.grad.data, (x0 > 0).astype(float))


def test_negative_axes_equal_positive_axes():
    x0 = np.random.default_rng(5).standard_normal((2, 3, 4))
    for op in (F.sum, F.mean, F.max, F.logsumexp, F.softmax, F.log_softmax):
        results = []
        for axis in (-1, 2):
            x = Tensor(x0, requires_grad=True)
            out = op(x, axis=axis)
            F.sum(out * out).backward()
            results.append((out.data, x.grad.data))
        np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-15)
        np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-15)


def test_keepdims_shapes():
    x = Tensor(np.ones((2, 3, 4)))
    assert F.sum(x, axis=1, keepdims=True).shape == (2, 1, 4)
    assert F.mean(x, axis=(0, 2), keepdims=True).shape == (1, 3, 1)
    assert F.max(x, axis=None, keepdims=True).shape == (1, 1, 1)
    assert F.var(x, axis=-1, keepdims=False).shape == (2, 3)
    assert F.logsumexp(x, axis=1, keepdims=True).shape == (2, 1, 4)
    assert F.sum(x).shape == ()


# ---- numerical stability -----------------------------------------------------------------------


def test_logsumexp_softmax_stable_for_large_logits():
    x0 = np.array([[1000.0, 1000.0, -1000.0], [-1e4, 0.0, 1e4]])
    x = Tensor(x0, requires_grad=True)
    lse = F.logsumexp(x, axis=1)
    np.testing.assert_allclose(lse.data, scipy.special.logsumexp(x0, axis=1), rtol=1e-15)
    # softmax = exp(x - logsumexp(x)): the rounding of logsumexp (ulp(1000) ~ 1e-13) shows
    np.testing.assert_allclose(F.softmax(x).data, scipy.special.softmax(x0, axis=1), rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(x).data, scipy.special.log_softmax(x0, axis=1), rtol=1e-12)
    lse.sum().backward()
    assert np.all(np.isfinite(x.grad.data))
    np.testing.assert_allclose(x.grad.data, scipy.special.softmax(x0, axis=1), rtol=1e-12)


def test_logsumexp_float32_large_logits():
    x0 = np.array([[80.0, 90.0, 100.0]], dtype=np.float32)  # exp overflows float32 past ~88
    out = F.logsumexp(Tensor(x0))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, scipy.special.logsumexp(x0.astype(np.float64), axis=-1), rtol=1e-6)


def test_logsumexp_of_all_minus_infinity_is_minus_infinity():
    with np.errstate(divide="ignore"):  # log(0) on the way to -inf
        out = F.logsumexp(Tensor(np.array([-np.inf, -np.inf])))
    assert out.item() == -np.inf


def test_sigmoid_and_softplus_extremes():
    x0 = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    with np.errstate(over="raise"):
        s = F.sigmoid(Tensor(x0))
        sp = F.softplus(Tensor(x0))
    np.testing.assert_allclose(s.data, scipy.special.expit(x0), rtol=1e-15)
    np.testing.assert_allclose(sp.data, np.logaddexp(0, x0), rtol=1e-15)
    x = Tensor(x0, requires_grad=True)
    F.sum(F.sigmoid(x) + F.softplus(x)).backward()
    assert np.all(np.isfinite(x.grad.data))


def test_softplus_gradient_is_sigmoid_everywhere_including_zero():
    """softplus is smooth: its derivative at 0 is sigmoid(0) = 1/2, not a subgradient."""
    x0 = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    x = Tensor(x0, requires_grad=True)
    F.softplus(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, scipy.special.expit(x0), rtol=1e-14)


# ---- constants meet tensors --------------------------------------------------------------------


@pytest.mark.parametrize("op", [F.maximum, F.minimum, F.add, F.mul, F.sub, F.div])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_ops_accept_number_constants_in_the_tensor_dtype(op, dtype):
    x = Tensor(np.array([0.2, 0.9], dtype=dtype), requires_grad=True)
    for constant in (0.5, np.float64(0.5), np.float32(0.5), np.array(0.5), 1, np.int64(1)):
        for out in (op(x, constant), op(constant, x)):
            assert out.dtype == dtype


def test_minimum_with_a_constant_clips():
    x0 = np.array([0.2, 0.9, 1.5])
    x = Tensor(x0, requires_grad=True)
    F.minimum(x, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 0.0])


# ---- errors ------------------------------------------------------------------------------------


def test_matmul_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 2\)"):
        F.matmul(Tensor(np.ones((3, 4))), Tensor(np.ones((5, 2))))
    with pytest.raises(ValueError, match="at least one dimension"):
        F.matmul(Tensor(np.ones(())), Tensor(np.ones((2, 2))))


def test_linear_errors_name_the_shapes_and_dtypes():
    x, w = Tensor(np.ones((3, 4))), Tensor(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"linear: x must be \(N, in\).*\(3, 4\) and \(5, 2\)"):
        F.linear(x, Tensor(np.ones((5, 2))))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\) and dtype float64; got shape \(3,\)"):
        F.linear(x, w, np.ones(3))
    with pytest.raises(ValueError, match=r"got shape \(2,\) and dtype float32"):
        F.linear(x, w, Tensor(np.ones(2, dtype=np.float32)))
    with pytest.raises(TypeError, match="linear: operands have dtypes float32 and float64"):
        F.linear(Tensor(np.ones((3, 4), dtype=np.float32)), w)


def test_reshape_error_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        F.reshape(Tensor(np.ones((2, 3))), (4, 2))


def test_concatenate_errors():
    with pytest.raises(TypeError, match="dtype"):
        F.concatenate([Tensor(np.ones(2, dtype=np.float32)), Tensor(np.ones(2))])
    with pytest.raises(ValueError, match=r"shapes"):
        F.concatenate([Tensor(np.ones((2, 3))), Tensor(np.ones((2, 4)))], axis=0)
    with pytest.raises(ValueError, match="at least one"):
        F.concatenate([])
    with pytest.raises(ValueError, match="one shape"):
        F.stack([Tensor(np.ones(2)), Tensor(np.ones(3))])


def test_axis_and_permutation_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="axis=2"):
        F.sum(x, axis=2)
    with pytest.raises(ValueError, match="axis=-3"):
        F.max(x, axis=-3)
    with pytest.raises(ValueError, match="permutation"):
        F.transpose(x, (0, 0))
    with pytest.raises(ValueError, match=r"broadcast.*\(2, 3\).*\(4, 3\)"):
        F.broadcast_to(x, (4, 3))


@pytest.mark.parametrize("call, error, message", [
    (lambda x: F.sum(x, axis=True), TypeError, "axis must be an integer"),  # was axis 1
    (lambda x: F.max(x, axis=(0, np.True_)), TypeError, "axis must be an integer"),
    (lambda x: F.mean(x, axis=1.0), TypeError, "axis must be an integer"),
    (lambda x: F.softmax(x, axis=True), TypeError, "axis must be an integer"),
    (lambda x: F.logsumexp(x, axis=2), ValueError, "axis=2 is out of range"),
    (lambda x: F.log_softmax(x, axis=-3), ValueError, "axis=-3 is out of range"),
    (lambda x: F.stack([x, x], axis=4), ValueError, "axis=4 is out of range"),  # was taken modulo 4
    (lambda x: F.swapaxes(x, 0, 2), ValueError, "axis2=2 is out of range"),
])
def test_axes_are_integers_in_range(call, error, message):
    with pytest.raises(error, match=message):
        call(Tensor(np.ones((2, 3))))


def test_stack_takes_a_new_last_axis_and_negative_axes():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.zeros((2, 3)))
    assert F.stack([a, b], axis=2).shape == (2, 3, 2)
    assert F.stack([a, b], axis=-3).shape == (2, 2, 3)


def test_power_refuses_a_non_finite_or_non_numeric_exponent():
    with pytest.raises(ValueError, match="power: exponent must be a finite number"):
        F.power(Tensor(np.ones(2)), float("nan"))
    with pytest.raises(ValueError, match="power: exponent must be a finite number"):
        Tensor(np.ones(2)) ** float("inf")
    with pytest.raises(TypeError, match="power: exponent"):
        F.power(Tensor(np.ones(2)), "2")


def test_clip_refuses_bad_bounds():
    x = Tensor(np.ones(2))
    with pytest.raises(ValueError, match="give low, high or both"):
        F.clip(x)
    with pytest.raises(ValueError, match=r"low must be <= high, got low=1.0, high=0.0"):
        x.clip(1.0, 0.0)
    with pytest.raises(ValueError, match="clip: low must be a finite number"):
        F.clip(x, float("nan"), 1.0)
    with pytest.raises(TypeError, match="clip: high"):
        F.clip(x, 0.0, True)


def test_var_refuses_a_ddof_that_leaves_nothing_and_mean_of_nothing():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="var: ddof=3 needs more than 3 values per variance, got 3"):
        x.var(axis=1, ddof=3)
    with pytest.raises(ValueError, match="var: ddof must be an integer >= 0"):
        x.var(ddof=-1)
    with pytest.raises(TypeError, match="var: ddof"):
        x.var(ddof=True)
    with pytest.raises(ValueError, match="mean: no values to average"):
        F.mean(Tensor(np.ones((0, 3))), axis=0)


@pytest.mark.parametrize("op, call", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("maximum", F.maximum), ("minimum", F.minimum), ("power", lambda a, b: a ** b),
])
def test_broadcast_errors_name_the_op_and_both_shapes(op, call):
    a, b = Tensor(np.ones((3, 4)), requires_grad=True), Tensor(np.ones((2, 4)))
    with pytest.raises(ValueError, match=rf"{op}: shapes \(3, 4\) and \(2, 4\) do not broadcast"):
        call(a, b)


def test_where_broadcast_error_names_the_three_shapes():
    with pytest.raises(ValueError, match=r"where: shapes \(3,\) \(condition\), \(3, 4\) and \(\)"):
        F.where(np.ones(3, dtype=bool), Tensor(np.ones((3, 4))), 0.0)


# ---- new ops against PyTorch in float64: value, gradient, Hessian-vector product -----------------

TORCH_CASES = [
    ("clip", lambda x: F.clip(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7), [(3, 4)]),
    ("clip-method-low", lambda x: x.clip(low=0.0), lambda x: torch.clamp(x, min=0.0), [(5,)]),
    ("power-tensor", lambda x, p: x ** p, lambda x, p: x ** p, [(3, 4), (3, 4)]),
    ("power-broadcast", F.power, torch.pow, [(2, 3), (3,)]),
    ("rpow", lambda p: 2.0 ** p, lambda p: 2.0 ** p, [(4,)]),
    ("var-ddof1", lambda x: x.var(1, True, 1), lambda x: x.var(dim=1, keepdim=True, correction=1), [(3, 5)]),
    ("var-all-ddof0", lambda x: x.var(), lambda x: x.var(correction=0), [(2, 3)]),
]


@pytest.mark.parametrize("name, ours, theirs, shapes", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_new_ops_match_torch_to_second_order(name, ours, theirs, shapes):
    """sum(w * tanh(op(...))): its value, gradient, and the Hessian-vector product from
    double backprop, against torch.autograd.grad(create_graph=True)."""
    rng = np.random.default_rng(12)
    arrays = [rng.uniform(0.3, 2.0, shape) if name.startswith("power") and i == 0 else rng.standard_normal(shape)
              for i, shape in enumerate(shapes)]
    directions = [rng.standard_normal(shape) for shape in shapes]

    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = ours(*tensors)
    weights = rng.standard_normal(out.shape)
    value = (F.tanh(out) * weights).sum()
    grads = grad(value, tensors, create_graph=True)
    hvp = grad(F.sum(F.stack([(g * v).sum() for g, v in zip(grads, directions)])), tensors)

    torch_tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    torch_out = theirs(*torch_tensors)
    torch_value = (torch.tanh(torch_out) * torch.tensor(weights)).sum()
    torch_grads = torch.autograd.grad(torch_value, torch_tensors, create_graph=True)
    torch_hvp = torch.autograd.grad(sum((g * torch.tensor(v)).sum() for g, v in zip(torch_grads, directions)),
                                    torch_tensors)
    np.testing.assert_allclose(out.data, torch_out.detach().numpy(), rtol=1e-13)
    for mine, reference in zip(grads, torch_grads):
        np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-12, atol=1e-14)
    for mine, reference in zip(hvp, torch_hvp):
        np.testing.assert_allclose(mine.data, reference.numpy(), rtol=1e-11, atol=1e-13)


def test_power_at_a_zero_base_has_pytorchs_exponent_gradient():
    """d(x^p)/dp = x^p log x is 0 at x = 0, p >= 0 (the limit from x > 0; PyTorch's choice),
    and d(x^p)/dx = 0 at x = 0, p = 0, with no NaN in the gradient or in its derivative."""
    x0, p0 = np.array([0.0, 0.0, 1.5, 2.0]), np.array([2.0, 0.0, 0.5, -1.0])
    x, p = Tensor(x0, requires_grad=True), Tensor(p0, requires_grad=True)
    gx, gp = grad((x ** p).sum(), [x, p], create_graph=True)
    tx, tp = torch.tensor(x0, requires_grad=True), torch.tensor(p0, requires_grad=True)
    tgx, tgp = torch.autograd.grad((tx ** tp).sum(), [tx, tp], create_graph=True)
    np.testing.assert_allclose(gp.data, tgp.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(gx.data, tgx.detach().numpy(), rtol=1e-14)
    # second order: PyTorch's is NaN at x = 0; ours is the derivative of the 0 taken there
    hp = grad(gp.sum(), p)
    torch_hp = torch.autograd.grad(tgp.sum(), tp)[0].numpy()
    np.testing.assert_allclose(hp.data[2:], torch_hp[2:], rtol=1e-14)
    np.testing.assert_array_equal(hp.data[:2], [0.0, 0.0])
