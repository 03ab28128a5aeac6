"""Fast dropout and DropConnect: the Gaussian moments against Monte-Carlo dropout, the
masks on the weights, the inference rules, gradients with the noise held fixed."""
import copy

import numpy as np
import pytest
from scipy import stats

from minireg import functional as F
from minireg import kernels, nn
from minireg.gradcheck import check_gradients
from minireg.tensor import Tensor
from stochastic_helpers import assert_mean, assert_variance

KEEP = 0.6


def problem(n=40, out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(1, n)), rng.normal(size=(n, out)) / np.sqrt(n), rng.normal(size=out)


def test_dropout_moments_match_monte_carlo_dropout_of_the_inputs():
    x, W, b = problem()
    mean, variance = nn.dropout_moments(Tensor(x), Tensor(W), Tensor(b), KEEP)
    rng = np.random.default_rng(1)
    samples = np.stack([F.dropout(Tensor(x), KEEP, rng).data @ W + b for _ in range(20000)])[:, 0]
    keep = kernels.dropout_threshold(KEEP) / 2**16          # the kernel's exact keep probability
    assert_mean(samples, (x @ W) * keep / KEEP + b, "E[u]")
    assert_variance(samples, (x * x) @ (W * W) * keep * (1 - keep) / KEEP**2, "Var[u]")
    np.testing.assert_allclose(mean.data, x @ W + b)
    np.testing.assert_allclose(variance.data, (x * x) @ (W * W) * (1 - KEEP) / KEEP)


def test_fast_dropout_samples_the_gaussian_in_training_and_returns_its_mean_in_evaluation():
    layer = nn.FastDropoutLinear(40, 3, keep=KEEP, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(1, 40))
    mean, variance = nn.dropout_moments(Tensor(x), layer.weight, layer.bias, KEEP)
    samples = layer(np.repeat(x, 20000, axis=0)).data
    assert_mean(samples, mean.data[0], "fast dropout mean")
    assert_variance(samples, variance.data[0], "fast dropout variance")
    layer.eval()
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data + layer.bias.data)


def test_dropconnect_masks_the_weight_once_per_minibatch_through_the_kernel():
    layer = nn.DropConnectLinear(6, 4, keep=KEEP, rng=0)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    replay = copy.deepcopy(layer.rng)
    W = layer.weight.data.copy()
    y = layer(x)
    masked, mask = kernels.dropout(W, KEEP, replay)
    np.testing.assert_allclose(y.data, x @ masked + layer.bias.data, rtol=1e-6)
    g = np.random.default_rng(2).normal(size=y.shape).astype(np.float32)
    (y * g).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.data, (x.T @ g) * mask / np.float32(KEEP), rtol=1e-5)
    assert y.dtype == np.float32 and layer.weight.grad.dtype == np.float32


def test_dropconnect_per_example_gives_every_example_its_own_mask():
    layer = nn.DropConnectLinear(6, 4, keep=KEEP, per_example=True, rng=0)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    replay = copy.deepcopy(layer.rng)
    y = layer(x).data
    masked, mask = kernels.dropout(np.broadcast_to(layer.weight.data, (5, 6, 4)), KEEP, replay)
    expected = np.einsum("ni,nio->no", x, masked) + layer.bias.data
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert not all(np.array_equal(mask[0], mask[n]) for n in range(1, 5))


@pytest.mark.parametrize("make_layer", [
    lambda: nn.FastDropoutLinear(5, 3, keep=KEEP, rng=0, dtype=np.float64),
    lambda: nn.DropConnectLinear(5, 3, keep=KEEP, activation=F.tanh, rng=0, dtype=np.float64),
    lambda: nn.DropConnectLinear(5, 3, keep=KEEP, per_example=True, rng=0, dtype=np.float64),
], ids=["fast dropout", "DropConnect", "DropConnect per example"])
def test_gradient_with_the_noise_held_fixed(make_layer):
    layer = make_layer()

    def fixed_noise(x, W, b):
        layer.rng = np.random.default_rng(4)      # the same draws at every evaluation
        layer.weight, layer.bias = W, b
        return layer(x)

    x = np.random.default_rng(1).normal(size=(4, 5))
    check_gradients(fixed_noise, [x, layer.weight.data, layer.bias.data])


def test_dropconnect_inference_rules():
    """Weight scaling is a(x W + b); the sampling rule averages a(u) over Gaussian draws
    of u, which for a ReLU has the closed form E[relu(u)] = mu Phi(mu/s) + s phi(mu/s)."""
    layer = nn.DropConnectLinear(30, 4, keep=KEEP, activation=nn.ReLU(), samples=20000, rng=0,
                                 dtype=np.float64).eval()
    x = np.random.default_rng(1).normal(size=(3, 30))
    np.testing.assert_allclose(layer(x).data, np.maximum(x @ layer.weight.data + layer.bias.data, 0))
    layer.inference = "sampling"
    mean, variance = nn.dropout_moments(Tensor(x), layer.weight, layer.bias, KEEP)
    mu, s = mean.data, np.sqrt(variance.data)
    exact = mu * stats.norm.cdf(mu / s) + s * stats.norm.pdf(mu / s)
    second_moment = (mu**2 + s**2) * stats.norm.cdf(mu / s) + mu * s * stats.norm.pdf(mu / s)
    se = np.sqrt((second_moment - exact**2) / layer.samples)
    assert np.all(np.abs(layer(x).data - exact) <= 6 * se)


@pytest.mark.parametrize("call, message", [
    (lambda: nn.FastDropoutLinear(3, 2, keep=0), "FastDropoutLinear\\(keep=...\\)"),
    (lambda: nn.FastDropoutLinear(3, 2, 0.5), "positional"),
    (lambda: nn.DropConnectLinear(3, 2, keep=1.2), "DropConnectLinear\\(keep=...\\)"),
    (lambda: nn.DropConnectLinear(3, 2, keep=0.5, inference="mean"), "inference=...\\) must be one of"),
    (lambda: nn.DropConnectLinear(3, 2, keep=0.5, samples=0), "samples=...\\) must be an integer >= 1"),
    (lambda: nn.DropConnectLinear(3, 2, keep=0.5, activation="relu"), "activation=...\\) must be a Module"),
    (lambda: nn.DropConnectLinear(3, 2, keep=0.5, per_example=1), "per_example=...\\) takes True or False"),
])
def test_bad_arguments_are_refused_by_name(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
