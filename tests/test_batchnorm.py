"""Batch normalization: training and evaluation outputs, gradients and running statistics
against PyTorch CPU; first- and second-order finite-difference checks."""
import numpy as np
import pytest
import torch

from minireg import functional as F
from minireg import nn
from minireg.gradcheck import check_gradients, check_hessian_vector
from minireg.tensor import Tensor

RNG = np.random.default_rng(7)


def make_pair(kind, channels, momentum=0.1, eps=1e-5, dtype=np.float32):
    """A minireg batch-norm layer and a torch one with the same random scale and shift."""
    ours = (nn.BatchNorm1d if kind == "1d" else nn.BatchNorm2d)(channels, eps=eps, momentum=momentum, dtype=dtype)
    theirs = (torch.nn.BatchNorm1d if kind == "1d" else torch.nn.BatchNorm2d)(channels, eps=eps, momentum=momentum)
    theirs = theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    ours.scale.data[:] = RNG.uniform(0.5, 2.0, channels)
    ours.shift.data[:] = RNG.standard_normal(channels)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.scale.data))
        theirs.bias.copy_(torch.tensor(ours.shift.data))
    return ours, theirs


def batch(kind, channels, dtype=np.float32):
    shape = (6, channels) if kind == "1d" else (4, channels, 3, 5)
    # per-channel offsets and scales, so that normalizing matters
    offsets = RNG.standard_normal(channels) * 3
    scales = RNG.uniform(0.5, 4.0, channels)
    view = (1, channels) + (1,) * (len(shape) - 2)
    return (RNG.standard_normal(shape) * scales.reshape(view) + offsets.reshape(view)).astype(dtype)


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_training_mode_matches_torch_outputs_and_gradients(kind):
    ours, theirs = make_pair(kind, 3)
    x = batch(kind, 3)
    xt = Tensor(x, requires_grad=True)
    out = ours(xt)
    assert out.dtype == np.float32
    upstream = RNG.standard_normal(x.shape).astype(np.float32)
    out.backward(upstream)

    tx = torch.tensor(x, requires_grad=True)
    expected = theirs(tx)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(ours.scale.grad.data, theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.shift.grad.data, theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_running_statistics_and_eval_mode_match_torch_after_several_steps(kind):
    ours, theirs = make_pair(kind, 4, momentum=0.3, dtype=np.float64)
    for _ in range(5):
        x = batch(kind, 4, np.float64)
        ours(x)
        theirs(torch.tensor(x))
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)  # unbiased

    ours.eval()
    theirs.eval()
    x = batch(kind, 4, np.float64)
    xt = Tensor(x, requires_grad=True)
    out = ours(xt)
    upstream = RNG.standard_normal(x.shape)
    out.backward(upstream)
    tx = torch.tensor(x, requires_grad=True)
    expected = theirs(tx)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.scale.grad.data, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    # evaluation mode does not touch the running statistics
    before = ours.running_mean.copy()
    ours(x)
    np.testing.assert_array_equal(ours.running_mean, before)


def test_training_output_is_standardized_per_channel():
    layer = nn.BatchNorm2d(3, dtype=np.float64)
    x = batch("2d", 3, np.float64)
    out = layer(x).data
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-4)  # biased variance, minus eps


@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("training", [True, False])
def test_gradients_first_and_second_order(kind, training):
    layer = (nn.BatchNorm1d if kind == "1d" else nn.BatchNorm2d)(2, dtype=np.float64)
    layer.running_mean = RNG.standard_normal(2)
    layer.running_var = RNG.uniform(0.5, 2.0, 2)
    layer.train(training)
    x = RNG.standard_normal((4, 2) if kind == "1d" else (3, 2, 2, 2))

    def fn(x, scale, shift):
        layer.scale, layer.shift = scale, shift
        return F.tanh(layer(x))  # tanh: a non-trivial Hessian in the output too

    inputs = [x, RNG.uniform(0.5, 2.0, 2), RNG.standard_normal(2)]
    check_gradients(fn, inputs, atol=1e-5)
    check_hessian_vector(fn, inputs)


def test_scale_and_shift_are_not_weights_and_buffers_are_saved():
    layer = nn.BatchNorm1d(3)
    assert layer.weights() == []
    assert [(n, p.kind) for n, p in layer.named_parameters()] == [("scale", "scale"), ("shift", "shift")]
    assert list(layer.state_dict()) == ["scale", "shift", "running_mean", "running_var"]


def test_without_affine_there_are_no_parameters():
    layer = nn.BatchNorm1d(3, affine=False, dtype=np.float64)
    assert layer.parameters() == []
    x = batch("1d", 3, np.float64)
    expected = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12)


def test_float32_is_kept_in_outputs_gradients_and_running_statistics():
    layer = nn.BatchNorm2d(3)
    x = Tensor(batch("2d", 3), requires_grad=True)
    out = layer(x)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == layer.scale.grad.dtype == np.float32
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float32
    layer.eval()
    assert layer(x).dtype == np.float32


def test_bad_inputs_and_hyperparameters_are_named():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        nn.BatchNorm2d(3)(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        nn.BatchNorm1d(3)(np.ones((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="more than one value"):
        nn.BatchNorm1d(3)(np.ones((1, 3), dtype=np.float32))
    nn.BatchNorm1d(3).eval()(np.ones((1, 3), dtype=np.float32))  # one example is fine in eval mode
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        nn.BatchNorm1d(3, eps=0)
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm2d(0)


def test_inputs_of_another_float_dtype_are_refused_and_integers_converted():
    layer = nn.BatchNorm1d(2)
    with pytest.raises(TypeError, match="float32 weights but got a float64 input"):
        layer(np.ones((3, 2)))
    layer.eval()
    with pytest.raises(TypeError, match="float64 input"):  # evaluation used to cast the statistics instead
        nn.BatchNorm1d(2, affine=False).eval()(np.ones((3, 2)))
    out = layer(np.array([[1, 2], [3, 4]]))  # integers: computed in the layer's float32, not cast to int
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, np.array([[1, 2], [3, 4]]) / np.sqrt(1 + 1e-5), rtol=1e-6)


@pytest.mark.parametrize("arguments, error, message", [
    (dict(eps=float("inf")), ValueError, r"eps must be a finite number in \(0.0, inf\)"),
    (dict(eps=float("nan")), ValueError, "eps must be a finite number"),
    (dict(eps=-1e-5), ValueError, "eps"),
    (dict(momentum=float("nan")), ValueError, r"momentum must be a finite number in \[0.0, 1.0\]"),
    (dict(momentum=-0.1), ValueError, "momentum"),
    (dict(momentum=True), TypeError, "momentum"),
    (dict(num_features=2.0), TypeError, "num_features must be an integer"),
    (dict(num_features=True), TypeError, "num_features must be an integer"),
    (dict(affine="yes"), TypeError, "affine must be True or False"),
    (dict(dtype=np.float16), TypeError, "dtype must be float32 or float64, got float16"),
])
@pytest.mark.parametrize("layer", [nn.BatchNorm1d, nn.BatchNorm2d])
def test_every_constructor_argument_is_checked(layer, arguments, error, message):
    arguments = {"num_features": 3, **arguments}
    with pytest.raises(error, match=message):
        layer(**arguments)
