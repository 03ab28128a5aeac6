"""conv2d, max_pool2d, avg_pool2d and the im2col / col2im Tensor ops (minireg.functional,
with conv2d's fast path in minireg.conv_fast).

References: PyTorch CPU (outputs and input/weight/bias gradients; float64 tight, float32
loose), central finite differences in float64 (first order), and finite differences of
gradients for Hessian-vector products (second order: conv2d is differentiable twice
because im2col and col2im are each other's backward).
"""
import numpy as np
import pytest
import torch

from minireg import conv_fast
from minireg import functional as F
from minireg import kernels
from minireg.gradcheck import check_gradients, check_hessian_vector
from minireg.tensor import Tensor, grad

torch.set_num_threads(1)


def torch_weight(weight):
    """minireg stores (in, out, KH, KW); PyTorch wants (out, in, KH, KW)."""
    return np.ascontiguousarray(weight.transpose(1, 0, 2, 3))


# (N, C, H, W, out_channels, KH, KW, stride, padding)
CONV_CASES = [
    (2, 3, 7, 6, 4, 3, 3, 1, 0),
    (2, 3, 7, 6, 4, 3, 3, 1, 1),
    (1, 2, 8, 9, 3, 3, 2, 2, 1),
    (3, 1, 5, 5, 2, 5, 5, 1, 2),
    (2, 2, 9, 7, 3, 4, 3, 3, 2),
    (2, 4, 6, 6, 5, 1, 1, 2, 0),
    # (height, width) pairs for stride and padding; unequal strides take the kernels' gcd path
    (2, 3, 9, 8, 4, 3, 2, (2, 1), (1, 0)),
    (2, 2, 10, 9, 3, 3, 3, (1, 3), (2, 1)),
    (1, 2, 9, 11, 2, 2, 3, (3, 2), (0, 1)),
    (2, 2, 8, 8, 3, 3, 3, (2, 2), (1, 1)),
]


def run_conv_both(case, dtype, with_bias=True, seed=0):
    """Forward and backward of one convolution in minireg and in PyTorch."""
    n_batch, channels, height, width, out_channels, kh, kw, stride, padding = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_batch, channels, height, width)).astype(dtype)
    w = rng.standard_normal((channels, out_channels, kh, kw)).astype(dtype)
    b = rng.standard_normal(out_channels).astype(dtype) if with_bias else None

    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    bt = Tensor(b, requires_grad=True) if with_bias else None
    out = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    upstream = rng.standard_normal(out.shape).astype(dtype)
    out.backward(upstream)

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(torch_weight(w), requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if with_bias else None
    reference = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    reference.backward(torch.tensor(upstream))
    ours = (out, xt.grad, wt.grad, bt.grad if with_bias else None)
    theirs = (reference.detach().numpy(), tx.grad.numpy(), tw.grad.numpy().transpose(1, 0, 2, 3),
              tb.grad.numpy() if with_bias else None)
    return ours, theirs


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("use_compiled", [True, False])
def test_conv2d_matches_torch_in_float64(case, use_compiled):
    previous = kernels.use_compiled(use_compiled)
    try:
        ours, theirs = run_conv_both(case, np.float64)
    finally:
        kernels.use_compiled(previous)
    assert ours[0].shape == theirs[0].shape
    for name, mine, reference in zip(["output", "x.grad", "weight.grad", "bias.grad"], ours, theirs):
        assert mine.dtype == np.float64, name
        np.testing.assert_allclose(mine.data, reference, rtol=1e-10, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("case", CONV_CASES[:3])
def test_conv2d_matches_torch_in_float32_and_stays_float32(case):
    ours, theirs = run_conv_both(case, np.float32, seed=1)
    for name, mine, reference in zip(["output", "x.grad", "weight.grad", "bias.grad"], ours, theirs):
        assert mine.dtype == np.float32, name
        np.testing.assert_allclose(mine.data, reference, rtol=1e-4, atol=1e-4, err_msg=name)


def test_conv2d_without_bias_matches_torch():
    ours, theirs = run_conv_both(CONV_CASES[2], np.float64, with_bias=False, seed=2)
    for mine, reference in zip(ours[:3], theirs[:3]):
        np.testing.assert_allclose(mine.data, reference, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, 2), ((2, 1), (0, 1))])
def test_conv2d_gradients_match_finite_differences(stride, padding):
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(3)]
    check_gradients(lambda x, w, b: F.conv2d(x, w, b, stride, padding), inputs)


@pytest.mark.parametrize("stride, padding", [(2, 1), ((1, 2), (1, 0))])
def test_conv2d_hessian_vector_product_matches_finite_differences(stride, padding):
    """conv2d is bilinear in (x, weight); through tanh the Hessian has every block."""
    rng = np.random.default_rng(4)
    inputs = [rng.standard_normal((2, 2, 4, 5)), 0.5 * rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(3)]
    check_hessian_vector(lambda x, w, b: F.tanh(F.conv2d(x, w, b, stride=stride, padding=padding)), inputs)


def test_conv2d_hessian_vector_product_with_pairs_matches_torch():
    """H v of sum(tanh(conv2d(x, w))^2) in (x, w), stride and padding as (height, width)
    pairs, against torch.autograd.grad with create_graph=True."""
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 2, 7, 6)), 0.5 * rng.standard_normal((2, 3, 3, 2))
    vx, vw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    stride, padding = (2, 1), (1, 0)
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    gx, gw = grad((F.tanh(F.conv2d(xt, wt, stride=stride, padding=padding)) ** 2).sum(), [xt, wt],
                  create_graph=True)
    hx, hw = grad((gx * vx).sum() + (gw * vw).sum(), [xt, wt])
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(torch_weight(w), requires_grad=True)
    out = torch.nn.functional.conv2d(tx, tw, stride=stride, padding=padding)
    tgx, tgw = torch.autograd.grad((torch.tanh(out) ** 2).sum(), [tx, tw], create_graph=True)
    thx, thw = torch.autograd.grad((tgx * torch.tensor(vx)).sum() + (tgw * torch.tensor(torch_weight(vw))).sum(),
                                   [tx, tw])
    np.testing.assert_allclose(hx.data, thx.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hw.data, thw.numpy().transpose(1, 0, 2, 3), rtol=1e-10, atol=1e-12)


def test_input_gradient_penalty_through_conv2d_is_differentiable():
    """d/dw of ||d loss / dx||^2 (Deep Learning, eq. 7.17 style) against finite differences."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 5, 5))
    w0 = 0.5 * rng.standard_normal((2, 2, 3, 3))

    def penalty(w_array, create_graph):
        w = Tensor(w_array, requires_grad=True)
        xt = Tensor(x, requires_grad=True)
        loss = (F.tanh(F.conv2d(xt, w, padding=1)) ** 2).sum()
        gx = grad(loss, xt, create_graph=True)
        value = (gx * gx).sum()
        return value, (grad(value, w) if create_graph else None)

    value, dw = penalty(w0, create_graph=True)
    direction = rng.standard_normal(w0.shape)
    eps = 1e-6
    numeric = (penalty(w0 + eps * direction, False)[0].item()
               - penalty(w0 - eps * direction, False)[0].item()) / (2 * eps)
    np.testing.assert_allclose(np.vdot(dw.data, direction), numeric, rtol=1e-6)


# ---- im2col / col2im as Tensor ops ------------------------------------------------------------


@pytest.mark.parametrize("kernel_size, stride, padding", [
    (3, 1, 1), ((2, 3), 2, 0), (3, 3, 2), ((3, 2), (1, 2), (2, 0)), (2, (3, 2), (0, 1)),
])
def test_im2col_and_col2im_ops_have_each_other_as_gradient(kernel_size, stride, padding):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, 5, 6))
    cols_shape = F.im2col(Tensor(x), kernel_size, stride, padding).shape
    check_gradients(lambda t: F.im2col(t, kernel_size, stride, padding), [x])
    check_gradients(lambda c: F.col2im(c, x.shape, kernel_size, stride, padding), [rng.standard_normal(cols_shape)])
    # second order: the gradient of a quadratic through im2col is itself differentiated
    check_hessian_vector(lambda t: F.im2col(t, kernel_size, stride, padding) ** 2, [x])


def test_im2col_op_agrees_with_the_kernel_and_keeps_float32():
    x = np.random.default_rng(7).standard_normal((2, 3, 6, 6)).astype(np.float32)
    cols = F.im2col(Tensor(x), 3, stride=1, padding=1)
    assert cols.dtype == np.float32 and cols.shape == (27, 72)
    np.testing.assert_array_equal(cols.data, kernels.im2col_numpy(x, 3, 3, 1, 1))
    back = F.col2im(cols, x.shape, 3, stride=1, padding=1)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back.data, kernels.col2im_numpy(cols.data, x.shape, 3, 3, 1, 1))


@pytest.mark.parametrize("stride, padding", [((2, 1), (1, 0)), ((1, 3), (0, 2)), ((2, 3), (1, 1))])
def test_im2col_with_pairs_is_torch_unfold(stride, padding):
    """im2col with (height, width) pairs holds torch.nn.functional.unfold's numbers
    (torch puts the batch first: (N, C*KH*KW, OH*OW))."""
    x = np.random.default_rng(10).standard_normal((2, 3, 7, 8))
    cols = F.im2col(Tensor(x), (3, 2), stride, padding)
    reference = torch.nn.functional.unfold(torch.tensor(x), (3, 2), padding=padding, stride=stride).numpy()
    np.testing.assert_array_equal(cols.data, reference.transpose(1, 0, 2).reshape(cols.shape))


# ---- pooling ----------------------------------------------------------------------------------

# (kernel_size, stride, padding)
POOL_CASES = [(2, None, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0), (3, None, 0), ((2, 3), 2, 1),
              ((2, 3), None, 0), ((3, 2), (2, 1), (1, 0)), (3, (1, 2), (0, 1)), ((3, 3), (3, 2), (1, 1))]


def run_pool_both(pool, torch_pool, case, dtype, seed=0):
    kernel_size, stride, padding = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 7, 8)).astype(dtype)  # continuous values: no ties for the max
    xt = Tensor(x, requires_grad=True)
    out = pool(xt, kernel_size, stride=stride, padding=padding)
    upstream = rng.standard_normal(out.shape).astype(dtype)
    out.backward(upstream)
    tx = torch.tensor(x, requires_grad=True)
    reference = torch_pool(tx, kernel_size, stride=stride, padding=padding)
    reference.backward(torch.tensor(upstream))
    return (out, xt.grad), (reference.detach().numpy(), tx.grad.numpy())


POOLS = [(F.max_pool2d, torch.nn.functional.max_pool2d), (F.avg_pool2d, torch.nn.functional.avg_pool2d)]


@pytest.mark.parametrize("pool, torch_pool", POOLS, ids=["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_matches_torch_in_float64(pool, torch_pool, case):
    (out, gx), (reference, reference_grad) = run_pool_both(pool, torch_pool, case, np.float64)
    assert out.shape == reference.shape
    np.testing.assert_allclose(out.data, reference, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gx.data, reference_grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("pool, torch_pool", POOLS, ids=["max", "avg"])
def test_pooling_matches_torch_in_float32_and_stays_float32(pool, torch_pool):
    (out, gx), (reference, reference_grad) = run_pool_both(pool, torch_pool, (3, 2, 1), np.float32, seed=1)
    assert out.dtype == np.float32 and gx.dtype == np.float32
    np.testing.assert_allclose(out.data, reference, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gx.data, reference_grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d], ids=["max", "avg"])
@pytest.mark.parametrize("kernel_size, stride, padding", [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0))])
def test_pooling_gradients_match_finite_differences(pool, kernel_size, stride, padding):
    x = np.random.default_rng(8).standard_normal((2, 2, 5, 6))
    check_gradients(lambda t: pool(t, kernel_size, stride, padding), [x])
    # pooling is piecewise linear: the Hessian of a square through it is still exact
    check_hessian_vector(lambda t: pool(t, kernel_size, stride, padding) ** 2, [x])


@pytest.mark.parametrize("pool, torch_pool", POOLS, ids=["max", "avg"])
def test_pooling_hessian_vector_product_with_pairs_matches_torch(pool, torch_pool):
    rng = np.random.default_rng(11)
    x, v = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((2, 2, 7, 6))
    settings = dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))
    xt = Tensor(x, requires_grad=True)
    g = grad((F.tanh(pool(xt, **settings)) ** 2).sum(), xt, create_graph=True)
    hv = grad((g * v).sum(), xt)
    tx = torch.tensor(x, requires_grad=True)
    tg, = torch.autograd.grad((torch.tanh(torch_pool(tx, **settings)) ** 2).sum(), [tx], create_graph=True)
    thv, = torch.autograd.grad((tg * torch.tensor(v)).sum(), [tx])
    np.testing.assert_allclose(hv.data, thv.numpy(), rtol=1e-10, atol=1e-12)


def test_max_pool_padding_is_never_the_maximum():
    x = -np.ones((1, 1, 2, 2))  # every pixel below the zeros a zero padding would add
    out = F.max_pool2d(Tensor(x), 2, stride=1, padding=1)
    np.testing.assert_array_equal(out.data, -np.ones((1, 1, 3, 3)))


def test_avg_pool_counts_zero_padding_in_the_mean():
    out = F.avg_pool2d(Tensor(np.ones((1, 1, 2, 2))), 2, stride=1, padding=1)
    expected = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    np.testing.assert_allclose(out.data[0, 0], expected)


# ---- errors -----------------------------------------------------------------------------------


def test_conv2d_rejects_bad_arguments():
    x = Tensor(np.zeros((2, 3, 6, 6), dtype=np.float32))
    w = Tensor(np.zeros((3, 4, 3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"x has 2 channels .* weight has 3 input channels"):
        F.conv2d(Tensor(np.zeros((2, 2, 6, 6), dtype=np.float32)), w)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\)"):
        F.conv2d(Tensor(np.zeros((3, 6, 6), dtype=np.float32)), w)
    with pytest.raises(ValueError, match="weight must have shape"):
        F.conv2d(x, Tensor(np.zeros((3, 4, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.conv2d(x, w, Tensor(np.zeros(3, dtype=np.float32)))
    with pytest.raises(TypeError, match="dtype"):
        F.conv2d(x, Tensor(np.zeros((3, 4, 3, 3))))
    with pytest.raises(TypeError, match="dtype"):
        F.conv2d(x, w, Tensor(np.zeros(4)))
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(TypeError, match="stride must be an int"):
        F.conv2d(x, w, stride=1.5)
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.conv2d(Tensor(np.zeros((2, 3, 2, 2), dtype=np.float32)), w)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.conv2d(Tensor(np.zeros((2, 3, 6, 6), dtype=np.int64)), w)
    with pytest.raises(ValueError, match=r"stride\[0\] must be an integer >= 1"):
        F.conv2d(x, w, stride=(0, 1))
    with pytest.raises(ValueError, match=r"padding must be an integer or a pair \(height, width\)"):
        F.conv2d(x, w, padding=(1, 1, 1))
    with pytest.raises(TypeError, match="stride must be an integer or a pair"):
        F.conv2d(x, w, stride=True)
    with pytest.raises(ValueError, match="larger than the padded input width"):
        F.conv2d(Tensor(np.zeros((2, 3, 6, 2), dtype=np.float32)), w, padding=(1, 0))


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_rejects_bad_arguments(pool):
    x = Tensor(np.zeros((1, 2, 6, 6)))
    with pytest.raises(ValueError, match="padding must be at most half the kernel size"):
        pool(x, 2, padding=2)
    with pytest.raises(ValueError, match="kernel_size must be an integer >= 1"):
        pool(x, 0)
    with pytest.raises(ValueError, match=r"kernel_size must be an integer or a pair \(height, width\)"):
        pool(x, (2, 2, 2))
    with pytest.raises(ValueError, match="stride"):
        pool(x, 2, stride=0)
    with pytest.raises(ValueError, match="padding must be at most half the kernel size"):
        pool(x, (4, 2), padding=(2, 2))
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\)"):
        pool(Tensor(np.zeros((2, 6, 6))), 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        pool(x, 7)


# conv2d goes through the batch in chunks of images (several at once, on threads); the
# results must not depend on where the chunks start and stop, or on how they are run.
CHUNKINGS = {
    "one chunk": [(0, 7)],
    "ragged": [(0, 3), (3, 6), (6, 7)],
    "single images": [(i, i + 1) for i in range(7)],
}


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("use_compiled", [True, False])
def test_conv2d_matches_torch_for_any_chunking(monkeypatch, chunking, use_compiled):
    monkeypatch.setattr(conv_fast, "_batch_chunks", lambda n_batch, bytes_per_image: CHUNKINGS[chunking])
    previous = kernels.use_compiled(use_compiled)
    try:
        ours, theirs = run_conv_both((7, 3, 6, 5, 4, 3, 3, 2, 1), np.float64, seed=4)
    finally:
        kernels.use_compiled(previous)
    for name, mine, reference in zip(["output", "x.grad", "weight.grad", "bias.grad"], ours, theirs):
        np.testing.assert_allclose(mine.data, reference, rtol=1e-10, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("n_batch, bytes_per_image", [
    (128, 627_200), (128, 78_400), (7, 100), (7, 10**9), (1, 5), (0, 10), (300, 0),
])
def test_batch_chunks_cover_the_batch_in_order(n_batch, bytes_per_image):
    chunks = conv_fast._batch_chunks(n_batch, bytes_per_image)
    if n_batch == 0:
        assert chunks == []
        return
    assert [start for start, _ in chunks] == [0] + [stop for _, stop in chunks[:-1]]  # consecutive
    assert chunks[-1][1] == n_batch
    sizes = [stop - start for start, stop in chunks]
    assert all(size >= 1 for size in sizes)
    assert all(size * bytes_per_image <= conv_fast._CONV_CHUNK_BYTES for size in sizes) or max(sizes) == 1
    assert len(chunks) >= min(n_batch, conv_fast._CONV_MIN_CHUNKS)  # enough chunks to share among threads


def test_conv2d_gives_the_same_bits_on_one_thread_and_on_two():
    """On two threads the chunks run in parallel, each product on one BLAS thread; on one
    thread they run in order. The chunks and the products are the same, so are the bits."""
    from threadpoolctl import threadpool_limits

    from minireg import threads

    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    upstream = rng.standard_normal((40, 4, 9, 9)).astype(np.float32)

    def gradients():
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        out = F.conv2d(xt, wt, padding=1)
        out.backward(upstream)
        return out.data, xt.grad.data, wt.grad.data

    with threadpool_limits(limits=2, user_api="blas"):
        assert threads.blas_threads() == 2
        on_two = gradients()
    with threadpool_limits(limits=1, user_api="blas"):
        assert threads.blas_threads() == 1
        on_one = gradients()
    for a, b in zip(on_two, on_one):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("needs", ["x", "weight"])
def test_conv2d_computes_only_the_gradients_asked_for(needs):
    """An input gradient alone (adversarial examples, saliency) or a weight gradient alone
    (a frozen input): the one asked for matches PyTorch, the other stays None."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((5, 3, 8, 7)), rng.standard_normal((3, 4, 3, 3))
    upstream = rng.standard_normal((5, 4, 4, 4))
    xt, wt = Tensor(x, requires_grad=needs == "x"), Tensor(w, requires_grad=needs == "weight")
    F.conv2d(xt, wt, stride=2, padding=1).backward(upstream)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(torch_weight(w), requires_grad=True)
    torch.nn.functional.conv2d(tx, tw, stride=2, padding=1).backward(torch.tensor(upstream))
    if needs == "x":
        assert wt.grad is None
        np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-11)
    else:
        assert xt.grad is None
        np.testing.assert_allclose(wt.grad.data, tw.grad.numpy().transpose(1, 0, 2, 3), rtol=1e-10, atol=1e-11)
