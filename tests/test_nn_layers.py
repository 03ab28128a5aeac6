"""Layers: outputs and gradients against PyTorch CPU and closed forms, first- and
second-order finite-difference checks in float64, initializers."""
import math

import numpy as np
import pytest
import torch

from minireg import functional as F
from minireg import nn
from minireg.gradcheck import check_gradients, check_hessian_vector
from minireg.tensor import Tensor

RNG = np.random.default_rng(20240601)


def randn(*shape):
    return RNG.standard_normal(shape)


def with_parameters(layer, **tensors):
    """Point the layer's attributes at the given Tensors, so that a gradient check can
    differentiate with respect to them (the layer reads ``self.weight`` etc.)."""
    for name, value in tensors.items():
        setattr(layer, name, value)
    return layer


# ---- Linear -------------------------------------------------------------------------------------


def test_linear_stores_weight_as_in_by_out_and_matches_torch():
    layer = nn.Linear(5, 3, rng=0)
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (3,)
    layer.bias.data[:] = randn(3).astype(np.float32)
    x = randn(4, 5).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32
    upstream = randn(4, 3).astype(np.float32)
    out.backward(upstream)

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.weight.data, requires_grad=True)
    tb = torch.tensor(layer.bias.data, requires_grad=True)
    reference = torch.nn.functional.linear(tx, tw.T, tb)  # torch stores (out, in)
    reference.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, reference.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.weight.grad.data, tw.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.bias.grad.data, tb.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_without_bias_has_only_a_weight():
    layer = nn.Linear(3, 2, bias=False, rng=0)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = randn(2, 3).astype(np.float32)
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data, rtol=1e-6)


def test_linear_gradients_first_and_second_order():
    layer = nn.Linear(3, 2, dtype=np.float64, rng=0)

    def fn(x, w, b):
        # tanh makes the second derivative non-trivial in every argument
        return F.tanh(with_parameters(layer, weight=w, bias=b)(x))

    inputs = [randn(4, 3), randn(3, 2), randn(2)]
    check_gradients(fn, inputs)
    check_hessian_vector(fn, inputs)


def test_linear_rejects_wrong_input_and_bad_sizes():
    layer = nn.Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match="3 features"):
        layer(np.ones((4, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, in_features\)"):
        layer(np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="float32 weights but got a float64 input"):
        layer(np.ones((4, 3)))
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(3, 0)
    with pytest.raises(TypeError, match="in_features"):  # a wrong type: TypeError (minireg.checks)
        nn.Linear(2.5, 3)


def test_same_seed_same_model():
    a, b, c = nn.Linear(4, 3, rng=7), nn.Linear(4, 3, rng=7), nn.Linear(4, 3, rng=8)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    generator = np.random.default_rng(7)
    np.testing.assert_array_equal(nn.Linear(4, 3, rng=generator).weight.data, a.weight.data)


# ---- Maxout -------------------------------------------------------------------------------------


def test_maxout_is_the_max_of_its_affine_pieces():
    layer = nn.Maxout(4, 3, pieces=2, rng=0, dtype=np.float64)
    assert layer.weight.shape == (4, 6)
    layer.bias.data[:] = randn(6)
    x = randn(5, 4)
    pieces = (x @ layer.weight.data + layer.bias.data).reshape(5, 3, 2)
    np.testing.assert_allclose(layer(x).data, pieces.max(axis=2), rtol=1e-12)

    # PyTorch reference for the gradient: the same computation with torch ops
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.weight.data, requires_grad=True)
    tb = torch.tensor(layer.bias.data, requires_grad=True)
    reference = (tx @ tw + tb).reshape(5, 3, 2).amax(dim=2)
    upstream = randn(5, 3)
    reference.backward(torch.tensor(upstream))
    layer(x).backward(upstream)
    np.testing.assert_allclose(layer.weight.grad.data, tw.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.bias.grad.data, tb.grad.numpy(), rtol=1e-10)


def test_maxout_gradients_first_and_second_order():
    layer = nn.Maxout(3, 2, pieces=3, dtype=np.float64, rng=0)

    def fn(x, w, b):
        return F.tanh(with_parameters(layer, weight=w, bias=b)(x))

    inputs = [randn(4, 3), randn(3, 6), randn(6)]  # random values: no ties among pieces
    check_gradients(fn, inputs)
    check_hessian_vector(fn, inputs)


# ---- activations, Flatten, Residual -----------------------------------------------------------


@pytest.mark.parametrize(
    "layer, reference",
    [(nn.ReLU(), torch.relu), (nn.Tanh(), torch.tanh), (nn.Sigmoid(), torch.sigmoid)],
)
def test_activations_match_torch_and_are_twice_differentiable(layer, reference):
    x = randn(3, 4) * 3
    tx = torch.tensor(x, requires_grad=True)
    expected = reference(tx)
    expected.sum().backward()
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    out.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    check_gradients(layer, [x])
    check_hessian_vector(layer, [x])


def test_flatten_keeps_the_batch_axis():
    x = randn(2, 3, 4, 5)
    out = nn.Flatten()(x)
    np.testing.assert_array_equal(out.data, x.reshape(2, 60))
    check_gradients(lambda t: nn.Flatten()(t) * 2.0, [randn(2, 3, 2)])
    assert nn.Flatten(start_axis=2)(x).shape == (2, 3, 20)


def test_residual_adds_the_identity_shortcut():
    body = nn.Sequential(nn.Linear(3, 3, dtype=np.float64, rng=0), nn.Tanh())
    block = nn.Residual(body)
    x = randn(4, 3)
    np.testing.assert_allclose(block(x).data, body(x).data + x, rtol=1e-12)
    assert len(block.parameters()) == 2

    def fn(x, w):
        body.layers[0].weight = w
        return block(x)

    check_gradients(fn, [x, randn(3, 3)])
    check_hessian_vector(fn, [x, randn(3, 3)])


def test_residual_with_a_projection_shortcut():
    body = nn.Linear(3, 2, dtype=np.float64, rng=0)
    shortcut = nn.Linear(3, 2, bias=False, dtype=np.float64, rng=1)
    block = nn.Residual(body, shortcut)
    x = randn(4, 3)
    np.testing.assert_allclose(block(x).data, body(x).data + x @ shortcut.weight.data, rtol=1e-12)
    assert [n for n, _ in block.named_weights()] == ["body.weight", "shortcut.weight"]
    with pytest.raises(ValueError, match="shortcut"):
        nn.Residual(body)(x)
    with pytest.raises(TypeError, match="body"):
        nn.Residual(lambda x: x)


# ---- Conv2d and pooling (over minireg.functional.conv2d / max_pool2d / avg_pool2d) -------------


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 2), (2, 1), ((2, 1), (0, 2)), ((1, 3), 1)])
def test_conv2d_matches_torch(stride, padding):
    layer = nn.Conv2d(3, 4, kernel_size=3, stride=stride, padding=padding, rng=0)
    assert layer.weight.shape == (3, 4, 3, 3)  # (in, out, kh, kw)
    layer.bias.data[:] = randn(4).astype(np.float32)
    x = randn(2, 3, 7, 6).astype(np.float32)
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    assert out.dtype == np.float32

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.weight.data.transpose(1, 0, 2, 3).copy(), requires_grad=True)  # torch: (out, in, kh, kw)
    tb = torch.tensor(layer.bias.data, requires_grad=True)
    reference = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    assert out.shape == tuple(reference.shape)
    upstream = randn(*out.shape).astype(np.float32)
    out.backward(upstream)
    reference.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, reference.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.weight.grad.data, tw.grad.numpy().transpose(1, 0, 2, 3), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.bias.grad.data, tb.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv2d_rectangular_kernel_and_no_bias():
    layer = nn.Conv2d(2, 3, kernel_size=(3, 2), bias=False, dtype=np.float64, rng=0)
    x = randn(2, 2, 5, 4)
    expected = torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(layer.weight.data.transpose(1, 0, 2, 3).copy())
    )
    np.testing.assert_allclose(layer(x).data, expected.numpy(), rtol=1e-10, atol=1e-12)
    assert layer.bias is None and len(layer.parameters()) == 1


def test_conv2d_gradients_first_and_second_order():
    layer = nn.Conv2d(2, 2, kernel_size=2, stride=1, padding=1, dtype=np.float64, rng=0)

    def fn(x, w, b):
        return F.tanh(with_parameters(layer, weight=w, bias=b)(x))

    inputs = [randn(2, 2, 3, 3), randn(2, 2, 2, 2), randn(2)]
    check_gradients(fn, inputs)
    check_hessian_vector(fn, inputs)


def test_conv2d_rejects_wrong_channels():
    layer = nn.Conv2d(3, 4, kernel_size=3, rng=0)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        layer(np.ones((1, 2, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="stride"):
        nn.Conv2d(3, 4, kernel_size=3, stride=0)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(3, 4, kernel_size=(3, 3, 3))


@pytest.mark.parametrize("make", [
    lambda: nn.Parameter(np.zeros(3, dtype=np.float16)),
    lambda: nn.Parameter([1.0, 2.0], dtype=np.float16),
    lambda: nn.Linear(3, 2, dtype=np.float16),
    lambda: nn.Maxout(3, 2, 2, dtype=np.float16),
    lambda: nn.BatchNorm1d(3, dtype=np.float16),
    lambda: nn.Linear(3, 2, dtype=np.complex64),
])
def test_float16_and_complex_parameters_are_refused(make):
    """float16 passed the old dtype check, and Adam then turned the weights into NaN."""
    with pytest.raises(TypeError, match="float32 or float64"):
        make()


def test_conv_and_pool_layers_keep_height_width_pairs():
    layer = nn.Conv2d(1, 2, kernel_size=3, stride=(2, 1), padding=(1, 0), rng=0)
    assert (layer.kernel_size, layer.stride, layer.padding) == ((3, 3), (2, 1), (1, 0))
    assert "stride=(2, 1)" in repr(layer)
    pool = nn.MaxPool2d((2, 3))
    assert (pool.kernel_size, pool.stride, pool.padding) == ((2, 3), (2, 3), (0, 0))


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Conv2d(3, 4, 3, stride=(1, 0)), ValueError, r"stride\[1\] must be an integer >= 1"),
    (lambda: nn.Conv2d(3, 4, 3, padding=(0, -1)), ValueError, r"padding\[1\] must be an integer >= 0"),
    (lambda: nn.Conv2d(3, 4, 3, stride=True), TypeError, "stride must be an integer or a pair"),
    (lambda: nn.Conv2d(3, 4, 3, padding=1.0), TypeError, "padding must be an integer or a pair"),
    (lambda: nn.Conv2d(True, 4, 3), TypeError, "in_channels must be an integer"),
    (lambda: nn.Conv2d(3, 4, 3, dtype=np.float16), TypeError, "dtype must be float32 or float64, got float16"),
    (lambda: nn.MaxPool2d(2, padding=(0, 2)), ValueError, "padding must be at most half the kernel size"),
    (lambda: nn.AvgPool2d((2, 2), stride=(2, 2, 2)), ValueError, r"stride must be an integer or a pair"),
    (lambda: nn.AvgPool2d(np.nan), TypeError, "kernel_size must be an integer"),
])
def test_conv_and_pool_layers_check_every_constructor_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize(
    "layer, reference",
    [
        (nn.MaxPool2d(2), lambda t: torch.nn.functional.max_pool2d(t, 2)),
        (nn.MaxPool2d(3, stride=2, padding=1), lambda t: torch.nn.functional.max_pool2d(t, 3, 2, 1)),
        (nn.AvgPool2d(2), lambda t: torch.nn.functional.avg_pool2d(t, 2)),
        (nn.AvgPool2d(3, stride=2), lambda t: torch.nn.functional.avg_pool2d(t, 3, 2)),
        (nn.MaxPool2d((3, 2), stride=(1, 2), padding=(1, 0)),
         lambda t: torch.nn.functional.max_pool2d(t, (3, 2), (1, 2), (1, 0))),
        (nn.AvgPool2d((2, 3), padding=(0, 1)), lambda t: torch.nn.functional.avg_pool2d(t, (2, 3), padding=(0, 1))),
    ],
)
def test_pooling_matches_torch(layer, reference):
    x = randn(2, 3, 6, 7).astype(np.float32)
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    assert out.dtype == np.float32
    tx = torch.tensor(x, requires_grad=True)
    expected = reference(tx)
    upstream = randn(*expected.shape).astype(np.float32)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [nn.MaxPool2d(2), nn.AvgPool2d(2, stride=1)])
def test_pooling_gradients_first_and_second_order(layer):
    def fn(x):
        return F.tanh(layer(x))

    check_gradients(fn, [randn(1, 2, 4, 4)])
    check_hessian_vector(fn, [randn(1, 2, 4, 4)])


def test_lenet_style_model_stays_float32():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 5, padding=2, rng=0), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1, rng=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(6 * 3 * 3, 10, rng=2),
    )
    x = randn(3, 1, 12, 12).astype(np.float32)
    out = model(x)
    assert out.shape == (3, 10) and out.dtype == np.float32
    out.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad.dtype == np.float32 and p.grad.shape == p.shape, name
    assert [n for n, _ in model.named_weights()] == ["layers.0.weight", "layers.4.weight", "layers.8.weight"]


# ---- initializers -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(30, 20), (3, 8, 5, 5), (16, 4, 3, 2)])
def test_fans_agree_with_torch(shape):
    # torch stores dense (out, in) and conv (out, in, kh, kw): swap the first two axes
    torch_shape = (shape[1], shape[0]) + shape[2:]
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(torch_shape))
    assert nn.init.compute_fans(shape) == expected


def test_fans_need_a_weight_shape():
    with pytest.raises(ValueError, match="fans"):
        nn.init.compute_fans((5,))


@pytest.mark.parametrize(
    "draw, std",
    [
        (lambda rng: nn.init.xavier_uniform((400, 600), rng), math.sqrt(2 / 1000)),
        (lambda rng: nn.init.xavier_normal((400, 600), rng), math.sqrt(2 / 1000)),
        (lambda rng: nn.init.glorot_uniform((400, 600), rng, gain=5 / 3), 5 / 3 * math.sqrt(2 / 1000)),
        (lambda rng: nn.init.kaiming_uniform((400, 600), rng), math.sqrt(2 / 400)),
        (lambda rng: nn.init.kaiming_normal((400, 600), rng), math.sqrt(2 / 400)),
        (lambda rng: nn.init.he_normal((20, 30, 5, 5), rng, mode="fan_out"), math.sqrt(2 / 750)),
        (lambda rng: nn.init.kaiming_uniform((20, 30, 5, 5), rng, nonlinearity="tanh"), 5 / 3 / math.sqrt(500)),
        (lambda rng: nn.init.normal((300, 300), rng, 0.0, 0.05), 0.05),
    ],
)
def test_initializers_have_the_documented_scale(draw, std):
    values = draw(np.random.default_rng(0))
    assert values.dtype == np.float32
    # 2.4e5 draws or more: the sample std is within 1 % of the true one
    assert abs(values.std() / std - 1) < 0.01
    assert abs(values.mean()) < 0.01 * std


def test_uniform_initializers_respect_their_bounds():
    rng = np.random.default_rng(0)
    bound = math.sqrt(6 / (30 + 20))
    values = nn.init.xavier_uniform((30, 20), rng, dtype=np.float64)
    assert values.dtype == np.float64 and np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    he_bound = math.sqrt(2) * math.sqrt(3 / (3 * 25))
    conv = nn.init.kaiming_uniform((3, 8, 5, 5), rng)
    assert np.abs(conv).max() <= he_bound * (1 + 1e-6)
    np.testing.assert_array_equal(nn.init.zeros((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(nn.init.ones(4), np.ones(4, np.float32))


def test_initializers_reject_bad_arguments():
    with pytest.raises(TypeError, match="Generator"):
        nn.init.xavier_uniform((3, 3), 0)
    with pytest.raises(ValueError, match="mode"):
        nn.init.kaiming_normal((3, 3), np.random.default_rng(0), mode="fan")
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.init.kaiming_normal((3, 3), np.random.default_rng(0), nonlinearity="gelu")
    with pytest.raises(TypeError, match="dtype"):
        nn.init.zeros(3, dtype=np.int32)
    with pytest.raises(ValueError, match="std"):
        nn.init.normal(3, np.random.default_rng(0), std=-1.0)


@pytest.mark.parametrize("draw, message", [
    (lambda rng: nn.init.normal(3, rng, std=float("inf")), "std must be a finite number"),
    (lambda rng: nn.init.normal(3, rng, mean=float("nan")), "mean must be a finite number"),
    (lambda rng: nn.init.uniform(3, rng, low=float("-inf")), "low must be a finite number"),
    (lambda rng: nn.init.xavier_normal((3, 3), rng, gain=float("nan")), "gain must be a finite number"),
    (lambda rng: nn.init.xavier_uniform((0, 0), rng), "fan_in \\+ fan_out is zero"),
    (lambda rng: nn.init.zeros(3, dtype=np.float16), "dtype must be float32 or float64"),
])
def test_initializers_refuse_non_finite_numbers_and_empty_fans(draw, message):
    with pytest.raises((ValueError, TypeError), match=message):
        draw(np.random.default_rng(0))


def test_layer_default_initialization_is_he_uniform_with_zero_bias():
    layer = nn.Linear(200, 300, rng=0)
    bound = math.sqrt(6 / 200)
    assert np.abs(layer.weight.data).max() <= bound
    assert abs(layer.weight.data.std() / (bound / math.sqrt(3)) - 1) < 0.02
    assert not layer.bias.data.any()
