"""Tests of minireg.tensor: construction, the dtype rule, and the autograd engine.

References are independent of minireg: closed-form derivatives, finite differences
computed here with NumPy, and plain NumPy arithmetic.
"""
import numpy as np
import pytest

import minireg.functional as F
from minireg.tensor import Tensor, enable_grad, grad, is_grad_enabled, no_grad


def central_difference(f, x, eps=1e-6):
    """(f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for every i; f maps an array to a float."""
    x = np.array(x, dtype=np.float64)
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        up = f(x)
        x[i] = saved - eps
        down = f(x)
        x[i] = saved
        out[i] = (up - down) / (2 * eps)
    return out


# ---- construction and the dtype rule --------------------------------------------------------


def test_python_floats_and_float_lists_become_float32():
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor([[1.0, 2], [3, 4]]).dtype == np.float32
    np.testing.assert_array_equal(Tensor([1.0, 2.5]).data, np.array([1.0, 2.5], dtype=np.float32))


def test_arrays_keep_their_dtype_and_memory():
    for dtype in (np.float64, np.float32, np.int64, np.int32, np.bool_):
        array = np.zeros(3, dtype=dtype)
        t = Tensor(array)
        assert t.dtype == dtype
        assert t.data is array  # no copy


def test_integers_stay_integers_and_dtype_argument_converts():
    assert Tensor(3).dtype.kind == "i"
    assert Tensor([1, 2, 3]).dtype.kind == "i"
    assert Tensor(1.5, dtype=np.float64).dtype == np.float64
    assert Tensor(np.ones(2, dtype=np.float32), dtype=np.float64).dtype == np.float64


def test_requires_grad_on_integer_or_bool_data_raises():
    with pytest.raises(TypeError, match="requires_grad"):
        Tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="requires_grad"):
        Tensor(np.array([True, False]), requires_grad=True)
    with pytest.raises(TypeError, match="requires_grad"):
        Tensor(np.arange(3)).requires_grad_()


def test_shape_properties_item_and_detach():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.is_leaf
    y = (t * 2.0).sum()
    assert not y.is_leaf and y.requires_grad
    assert y.item() == pytest.approx(30.0)
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    with pytest.raises(ValueError, match="one element"):
        t.item()


@pytest.mark.parametrize("data", [
    np.array(["a", "b"]), np.zeros(2, dtype=np.float16), np.zeros(2, dtype=np.complex128),
    np.zeros(2, dtype=np.longdouble), np.array([object()]), [None], 1j, "text",
])
def test_tensor_holds_only_bool_integer_float32_and_float64(data):
    with pytest.raises(TypeError, match="bool, integer, float32 or float64"):
        Tensor(data)


@pytest.mark.parametrize("dtype", [str, np.float16, np.complex64, object])
def test_tensor_dtype_argument_takes_only_accepted_dtypes(dtype):
    with pytest.raises(TypeError, match=r"Tensor\(dtype=\.\.\.\) must be a dtype of bool, integer, float32"):
        Tensor(np.ones(2), dtype=dtype)


def test_cast_to_integer_or_bool_has_no_gradient_as_in_pytorch():
    w = Tensor(np.array([1.7, -2.2]), requires_grad=True)
    for dtype in (np.int32, np.int64, np.bool_):
        cast = w.astype(dtype)
        assert cast.dtype == dtype and not cast.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        w.astype(np.int32).sum().backward()
    assert w.astype(np.float32).requires_grad  # a float cast stays differentiable
    with pytest.raises(TypeError, match="astype: dtype must be a dtype of bool, integer, float32 or float64"):
        w.astype(np.float16)


def test_numpy_scalars_on_the_left_defer_to_tensor():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for left in (np.float64(2.0), np.array(2.0), np.ones(3)):
        y = left * x
        assert isinstance(y, Tensor) and y.dtype == np.float32
        y = left + x
        assert isinstance(y, Tensor) and y.dtype == np.float32


# ---- gradients of broadcast operations --------------------------------------------------------


BROADCAST_PATTERNS = [
    ((3, 4), ()),          # scalar
    ((3, 4), (4,)),        # row
    ((3, 4), (1, 4)),      # row, kept axis
    ((3, 4), (3, 1)),      # column
    ((2, 3, 4), (3, 4)),   # leading axis
    ((2, 3, 4), (1, 3, 1)),  # leading and trailing, kept axes
    ((2, 1, 4), (3, 1)),   # both operands stretched
]


@pytest.mark.parametrize("shape_a, shape_b", BROADCAST_PATTERNS)
def test_broadcast_gradients_match_closed_form(shape_a, shape_b):
    """For L = sum(c * (a * b)): dL/da = sum over stretched axes of c * b (and vice versa)."""
    rng = np.random.default_rng(0)
    a0, b0 = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    out_shape = np.broadcast_shapes(shape_a, shape_b)
    c = rng.standard_normal(out_shape)

    def unbroadcast(full, shape):
        """Sum a full-shape array down to ``shape`` the long way, with np.add.at."""
        result = np.zeros(shape)
        padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
        for i in np.ndindex(out_shape):
            j = tuple(0 if n == 1 else k for k, n in zip(i, padded))[len(out_shape) - len(shape):]
            result[j] += full[i]
        return result

    for op, da, db in [
        (F.add, lambda: c + 0 * b0, lambda: c + 0 * a0),
        (F.sub, lambda: c + 0 * b0, lambda: -c + 0 * a0),
        (F.mul, lambda: c * b0, lambda: c * a0),
        (F.div, lambda: c / b0, lambda: -c * a0 / b0 ** 2),
    ]:
        a, b = Tensor(a0, requires_grad=True), Tensor(b0, requires_grad=True)
        (op(a, b) * c).sum().backward()
        assert a.grad.shape == shape_a and b.grad.shape == shape_b
        np.testing.assert_allclose(a.grad.data, unbroadcast(np.broadcast_to(da(), out_shape), shape_a), rtol=1e-12)
        np.testing.assert_allclose(b.grad.data, unbroadcast(np.broadcast_to(db(), out_shape), shape_b), rtol=1e-12)


def test_broadcast_gradient_of_constant_operand_is_not_computed():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones(3))  # constant
    (a * b).sum().backward()
    assert b.grad is None
    np.testing.assert_array_equal(a.grad.data, np.ones((2, 3)))


# ---- accumulation, no_grad, grad() ------------------------------------------------------------


def test_gradients_accumulate_over_two_backward_calls():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 2 * x.data)
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 2 * x.data + 3.0)


def test_backward_twice_through_the_same_graph_doubles_the_gradient():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    loss = F.exp(x).sum()
    loss.backward(retain_graph=True)  # as in PyTorch, a graph is kept for a second pass only on request
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(x.data), rtol=1e-14)


def test_a_second_backward_through_a_released_graph_raises_as_in_pytorch():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    loss = F.exp(x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="pass retain_graph=True"):
        loss.backward()
    with pytest.raises(RuntimeError, match="pass retain_graph=True"):
        grad(loss, x)
    np.testing.assert_allclose(x.grad.data, np.exp(x.data), rtol=1e-14)  # the first pass only


def test_backward_releases_the_values_the_graph_holds():
    import weakref

    x = Tensor(np.ones(1000), requires_grad=True)
    hidden = F.exp(x)
    loss = (hidden * hidden).sum()
    alive = weakref.ref(hidden)
    del hidden
    assert alive() is not None  # held by the graph of loss
    loss.backward()
    assert alive() is None      # freed at once: the graph holds no reference cycles


def test_a_leaf_changed_in_place_after_the_graph_was_built_is_detected():
    """The issue's case: backward again after an update of the leaves. Released without
    retain_graph; with it, the version check refuses the gradient of the new values."""
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    w.data -= 0.5 * w.grad.data  # an optimizer step...
    w._bump_version()            # ...says that it changed w
    assert w._version == 1
    with pytest.raises(RuntimeError, match=r"input 0 \(shape \(2,\)\) of the op 'mul' was changed in place"):
        loss.backward()
    with pytest.raises(RuntimeError, match="changed in place"):  # not "released": a failed pass keeps the graph
        grad(loss, w)
    w.grad = None
    (w * w).sum().backward()  # a new forward pass sees the new values
    np.testing.assert_array_equal(w.grad.data, 2 * w.data)


def test_a_change_before_the_graph_was_built_is_no_error():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    w._bump_version()
    loss = (w * w).sum()
    np.testing.assert_array_equal(grad(loss, w).data, 2 * w.data)


def test_double_backprop_keeps_the_graph_it_needs():
    """create_graph=True retains the forward graph (retain_graph defaults to it), so the
    gradient can be differentiated, and the total backward after it works once."""
    w = Tensor(np.array([0.3, -0.7]), requires_grad=True)
    loss = F.tanh(w).sum()
    g = grad(loss, w, create_graph=True)
    total = loss + (g * g).sum()
    total.backward()
    t = np.tanh(w.data)
    np.testing.assert_allclose(w.grad.data, (1 - t ** 2) + 2 * (1 - t ** 2) * (-2 * t * (1 - t ** 2)), rtol=1e-12)
    with pytest.raises(RuntimeError, match="retain_graph"):
        total.backward()


def test_leaf_gradients_do_not_share_memory():
    """Each leaf owns its .grad: an in-place change of one (clipping, weight decay added
    into the gradient) must not change another leaf's gradient or the caller's array."""
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    a.grad.data *= 10.0
    np.testing.assert_array_equal(b.grad.data, np.ones(3))

    upstream = np.ones(3)
    c = Tensor(np.ones(3), requires_grad=True)
    d = Tensor(np.ones(3), requires_grad=True)
    (c + d).backward(upstream)  # today c.grad is d.grad, and its array is `upstream`
    c.grad.data *= 10.0
    np.testing.assert_array_equal(d.grad.data, np.ones(3))
    np.testing.assert_array_equal(upstream, np.ones(3))


def test_no_grad_records_nothing_and_enable_grad_reopens():
    x = Tensor(np.ones(2), requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2.0
        assert not y.requires_grad and y.is_leaf
        with enable_grad():
            assert is_grad_enabled()
            z = x * 2.0
            assert z.requires_grad
        assert not is_grad_enabled()
    assert is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    assert is_grad_enabled()


def test_no_grad_as_decorator():
    @no_grad()
    def evaluate(t):
        return t * 3.0

    x = Tensor(np.ones(2), requires_grad=True)
    assert not evaluate(x).requires_grad
    assert is_grad_enabled()


def test_grad_returns_without_accumulating_and_allow_unused():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    unused = Tensor(np.array([5.0]), requires_grad=True)
    loss = (x * x).sum()
    gx = grad(loss, x, retain_graph=True)
    np.testing.assert_array_equal(gx.data, [2.0, 4.0])
    assert x.grad is None
    with pytest.raises(ValueError, match="allow_unused"):
        grad(loss, [x, unused], retain_graph=True)
    gx, gu = grad(loss, [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_array_equal(gx.data, [2.0, 4.0])


def test_grad_with_respect_to_an_intermediate_tensor():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    h = x * 2.0
    loss = (h * h).sum()
    gh, gx = grad(loss, [h, x])
    np.testing.assert_array_equal(gh.data, 2 * h.data)
    np.testing.assert_array_equal(gx.data, 8 * x.data)


def test_grad_rejects_non_tensor_inputs():
    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match=r"inputs\[0\]"):
        grad(x.sum(), [np.ones(2)])


def test_grad_of_something_other_than_a_tensor_says_so():
    with pytest.raises(TypeError, match="grad: output must be a Tensor, got ndarray"):
        grad(np.ones(1), [Tensor(np.ones(1), requires_grad=True)])


def test_grad_with_respect_to_a_leaf_without_requires_grad_says_so():
    x = Tensor(np.ones(2), requires_grad=True)
    constant = Tensor(np.ones(2))
    with pytest.raises(ValueError, match=r"inputs\[1\] does not require grad"):
        grad((x * constant).sum(), [x, constant])


def test_backward_through_non_scalar_without_gradient_raises():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(ValueError, match=r"gradient=.*\(2, 3\)|\(2, 3\).*gradient"):
        y.backward()
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3)))


def test_backward_on_a_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match="require"):
        Tensor(np.ones(1)).backward()


# ---- graph structure ----------------------------------------------------------------------------


def test_diamond_graph_sums_the_gradients_of_shared_subexpressions():
    """L = sum(u * v + u) with u = x^2, v = exp(x): dL/dx = 2x exp(x) + x^2 exp(x) + 2x."""
    x0 = np.array([0.3, -1.2, 2.0])
    x = Tensor(x0, requires_grad=True)
    u = x * x
    v = F.exp(x)
    (u * v + u).sum().backward()
    expected = 2 * x0 * np.exp(x0) + x0 ** 2 * np.exp(x0) + 2 * x0
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-13)


def test_same_tensor_used_twice_in_one_op():
    x = Tensor(np.array([1.0, -3.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, -6.0])
    y = Tensor(np.array([2.0]), requires_grad=True)
    (y + y + y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [3.0])


def test_deep_chain_of_ten_thousand_ops_does_not_hit_recursion_limit():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0001 ** 10_000], rtol=1e-10)
    del y  # freeing the chain must not recurse either


def test_deep_chain_with_create_graph():
    x = Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y + x * x * 1e-4  # y = x + x^2: dy/dx = 1 + 2x, d2y/dx2 = 2
    (g,) = grad(y.sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.data, [2.0], rtol=1e-10)
    (h,) = grad(g.sum(), [x])
    np.testing.assert_allclose(h.data, [2.0], rtol=1e-10)


# ---- higher-order gradients --------------------------------------------------------------------


def test_hessian_of_quadratic_form_is_a_plus_a_transpose():
    rng = np.random.default_rng(1)
    n = 5
    A = rng.standard_normal((n, n))
    x = Tensor(rng.standard_normal(n), requires_grad=True)
    f = F.sum(x * F.matmul(Tensor(A), x))  # x^T A x
    (g,) = grad(f, [x], create_graph=True)
    np.testing.assert_allclose(g.data, (A + A.T) @ x.data, rtol=1e-13)
    rows = [grad(g[i], [x], retain_graph=True)[0].data for i in range(n)]  # one graph, n passes
    np.testing.assert_array_equal(np.stack(rows), A + A.T)


def test_hessian_vector_product_of_quadratic_form():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((4, 4))
    v = rng.standard_normal(4)
    x = Tensor(rng.standard_normal(4), requires_grad=True)
    f = F.sum(x * F.matmul(Tensor(A), x))
    (g,) = grad(f, [x], create_graph=True)
    (hv,) = grad(F.sum(g * v), [x])
    np.testing.assert_allclose(hv.data, (A + A.T) @ v, rtol=1e-13)


def test_gradient_norm_penalty_is_differentiable():
    """d/dx ||grad_x f(x)||^2 for f(x) = sum tanh(W x) against finite differences
    (the input-gradient penalty of Deep Learning, eq. 7.17, in miniature)."""
    rng = np.random.default_rng(3)
    W = rng.standard_normal((4, 3))

    def penalty_and_gradient(x0):
        x = Tensor(x0, requires_grad=True)
        f = F.sum(F.tanh(F.matmul(Tensor(W), x)))
        (g,) = grad(f, [x], create_graph=True)
        penalty = F.sum(g * g)
        (d_penalty,) = grad(penalty, [x])
        return penalty.item(), d_penalty.data

    x0 = rng.standard_normal(3)
    _, analytic = penalty_and_gradient(x0)
    numeric = central_difference(lambda x: penalty_and_gradient(x)[0], x0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_backward_with_create_graph_gives_differentiable_grad():
    x = Tensor(np.array([0.7, -0.4]), requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    np.testing.assert_allclose(x.grad.data, 3 * x.data ** 2, rtol=1e-14)
    (h,) = grad(x.grad.sum(), [x])
    np.testing.assert_allclose(h.data, 6 * x.data, rtol=1e-14)


def test_without_create_graph_the_gradient_has_no_graph():
    x = Tensor(np.array([0.7]), requires_grad=True)
    (g,) = grad((x ** 3).sum(), [x])
    assert not g.requires_grad


# ---- float32 stays float32; no silent promotion ---------------------------------------------------


def test_float32_mlp_step_stays_float32_with_float64_constants():
    """A whole forward + backward + manual SGD update of a small MLP in float32, with
    np.float64 scalars and 0-d float64 arrays as constants: nothing may become float64."""
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((8, 5)).astype(np.float32))
    y = rng.integers(0, 3, size=8)
    w1 = Tensor(rng.standard_normal((5, 6)).astype(np.float32), requires_grad=True)
    b1 = Tensor(np.zeros(6, dtype=np.float32), requires_grad=True)
    w2 = Tensor(rng.standard_normal((6, 3)).astype(np.float32), requires_grad=True)
    b2 = Tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    params = [w1, b1, w2, b2]
    scale, shift, lr = np.float64(0.5), np.array(0.1), np.float64(0.05)

    h = F.relu(x @ w1 + b1) * scale - shift
    h = F.maximum(h, np.float64(-1.0)) + np.int64(1)
    logits = F.tanh(h @ w2 + b2) / np.array(0.9) + 2.0
    log_p = F.log_softmax(logits, axis=1)
    nll = -F.mean(log_p[np.arange(8), y])
    loss = nll + np.float64(1e-3) * F.sum(w1 ** 2) + np.array(1e-3) * F.sum(F.sqrt(w2 * w2 + 1.0))
    for t in (h, logits, log_p, nll, loss):
        assert t.dtype == np.float32, t
    loss.backward()
    for p in params:
        assert p.grad.dtype == np.float32
    with no_grad():
        updated = [p - lr * p.grad for p in params]
    for p, u in zip(params, updated):
        assert u.dtype == np.float32
        assert not u.requires_grad
        np.testing.assert_allclose(u.data, p.data - np.float32(lr) * p.grad.data, rtol=1e-6)


def test_mixing_float32_and_float64_tensors_raises():
    a = Tensor(np.ones(2, dtype=np.float32))
    b = Tensor(np.ones(2, dtype=np.float64))
    for op in (F.add, F.sub, F.mul, F.div, F.maximum, F.matmul):
        with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
            op(a, b)
    with pytest.raises(TypeError, match="dtype"):
        a + b


def test_integer_tensor_meeting_float_tensor_takes_the_float_dtype():
    a = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    i = Tensor(np.array([1, 2]))
    y = a * i
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 2.0])


def test_float64_works_end_to_end():
    x = Tensor(np.array([[0.1, 0.2]]), requires_grad=True)
    w = Tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    loss = F.sum(F.sigmoid(x @ w) * 0.5)
    loss.backward()
    assert loss.dtype == x.grad.dtype == w.grad.dtype == np.float64


def test_the_builtin_abs_is_the_differentiable_abs():
    from minireg import functional as F
    x = Tensor(np.array([-2.0, 0.5, 3.0]), requires_grad=True)
    assert np.array_equal(abs(x).data, F.abs(x).data)
    abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.sign(x.data))


def test_grad_computes_only_the_gradients_on_a_path_to_the_inputs_asked_for():
    from minireg.tensor import needs_grad
    asked = []

    def spy_mul(a, b):
        def backward(g, out):
            asked.append((needs_grad(a), needs_grad(b)))
            return (g * b if needs_grad(a) else None, g * a if needs_grad(b) else None)
        return Tensor.from_op(a.data * b.data, (a, b), backward)

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = Tensor(np.array([3.0, -1.0]), requires_grad=True)
    gx, = grad(spy_mul(x, w).sum(), [x])                 # the weight's gradient is not computed
    np.testing.assert_array_equal(gx.data, w.data)
    assert asked == [(True, False)]
    spy_mul(x, w).sum().backward()                       # backward wants every leaf
    assert asked[-1] == (True, True)
    np.testing.assert_array_equal(w.grad.data, x.data)
    # and a second-order graph built by grad(..., create_graph=True) still reaches the weight
    g, = grad((spy_mul(x, w) ** 2).sum(), [x], create_graph=True)
    (g * g).sum().backward()
    np.testing.assert_allclose(w.grad.data, x.data + 16 * x.data ** 2 * w.data ** 3)   # x from before, + d/dw Σ4x²w⁴
