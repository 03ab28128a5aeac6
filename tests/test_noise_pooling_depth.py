"""Gaussian and weight noise, stochastic pooling, stochastic depth: their statistics,
evaluation rules, gradients with the randomness held fixed, and bad input."""
import copy

import numpy as np
import pytest
from scipy import stats

from minireg import functional as F
from minireg import nn
from minireg.gradcheck import check_gradients
from minireg.tensor import Tensor
from stochastic_helpers import assert_mean, assert_proportion, assert_variance

# --------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------


def test_gaussian_noise_has_mean_zero_and_the_given_std_and_is_off_in_evaluation():
    layer = nn.GaussianNoise(0.3, rng=0)
    x = np.random.default_rng(1).normal(size=(1000, 1000)).astype(np.float32)
    y = layer(x).data
    assert y.dtype == np.float32
    noise = (y - x).ravel()
    assert_mean(noise, 0.0, "noise mean")
    assert_variance(noise, 0.09, "noise variance")
    assert abs(np.corrcoef(noise[:-1], noise[1:])[0, 1]) < 6 / np.sqrt(noise.size)
    assert layer.eval()(x).data is x


def test_weight_noise_uses_the_noisy_weight_forward_and_backward():
    linear = nn.Linear(4, 3, rng=0, dtype=np.float64)
    layer = nn.WeightNoise(linear, 0.5, rng=1)
    W = linear.weight
    replay = copy.deepcopy(layer.rng)
    x = np.random.default_rng(2).normal(size=(6, 4))
    y = layer(x)
    noisy = W.data + 0.5 * replay.standard_normal(W.shape)
    np.testing.assert_allclose(y.data, x @ noisy + linear.bias.data)
    g = np.random.default_rng(3).normal(size=y.shape)
    (y * g).sum().backward()
    np.testing.assert_allclose(W.grad.data, x.T @ g)                 # d(x W~)/dW~, reaching W
    np.testing.assert_allclose(linear.bias.grad.data, g.sum(axis=0))
    assert linear.weight is W and layer.parameters() == [W, linear.bias]
    layer.eval()
    np.testing.assert_allclose(layer(x).data, x @ W.data + linear.bias.data)


def test_weight_noise_gives_a_shared_weight_one_noise_and_its_gradient_reaches_the_weights():
    first, second = nn.Linear(3, 3, rng=0, dtype=np.float64), nn.Linear(3, 3, rng=1, dtype=np.float64)
    second.weight = first.weight
    layer = nn.WeightNoise(nn.Sequential(first, nn.Tanh(), second), 0.2, rng=2)
    seen = []
    second.register_forward_hook(lambda module, inputs, output: seen.append(module.weight))
    first.register_forward_hook(lambda module, inputs, output: seen.append(module.weight))
    layer(np.ones((2, 3)))
    assert seen[0] is seen[1] and seen[0] is not first.weight

    def fixed_noise(x):
        layer.rng = np.random.default_rng(5)
        return layer(x)

    check_gradients(fixed_noise, [np.random.default_rng(0).normal(size=(2, 3))])


def test_weight_noise_adds_eta_times_the_input_norm_to_a_linear_models_squared_error():
    """Deep Learning eq. 7.22 with y_hat = x w: grad_w y_hat = x and the Hessian is 0, so
    E[(x (w + eps) - y)^2] = (x w - y)^2 + eta ||x||^2 exactly, with eta = std^2."""
    std, draws = 0.3, 20000
    linear = nn.Linear(5, 1, bias=False, rng=0, dtype=np.float64)
    layer = nn.WeightNoise(linear, std, rng=1)
    x, y = np.random.default_rng(2).normal(size=(1, 5)), 0.7
    losses = [((layer(x).data - y) ** 2).item() for _ in range(draws)]
    assert_mean(losses, ((x @ linear.weight.data).item() - y) ** 2 + std**2 * (x**2).sum(), "E[cost]")


@pytest.mark.parametrize("call", [lambda: nn.GaussianNoise(-0.1), lambda: nn.WeightNoise(nn.ReLU(), -1.0)])
def test_negative_std_is_refused(call):
    with pytest.raises(ValueError, match=r"\(std=...\) must be a finite number in \[0.0, inf\)"):
        call()


def test_weight_noise_wraps_modules_only():
    with pytest.raises(TypeError, match="WeightNoise\\(module=...\\) must be a Module"):
        nn.WeightNoise(np.ones(3), 0.1)


# --------------------------------------------------------------------------------------
# Stochastic pooling
# --------------------------------------------------------------------------------------


def test_stochastic_pooling_samples_in_proportion_to_the_activations():
    region = np.array([[0.0, 1.0], [3.0, 6.0]])
    x = np.broadcast_to(region, (1, 20000, 2, 2)).astype(np.float32)
    out = nn.StochasticPool2d(2, rng=0)(x).data.ravel()
    values, counts = np.unique(out, return_counts=True)
    assert list(values) == [1.0, 3.0, 6.0]                     # a zero activation is never drawn
    test = stats.chisquare(counts, f_exp=np.array([1, 3, 6]) / 10 * out.size)
    assert test.pvalue > 1e-6, test


def test_stochastic_pooling_evaluation_is_the_probability_weighted_average():
    x = np.abs(np.random.default_rng(0).normal(size=(2, 3, 4, 6)))
    x[0, 0, :2, :3] = 0.0                                        # a region of zeros outputs 0
    out = nn.StochasticPool2d((2, 3), rng=0).eval()(x).data
    windows = x.reshape(2, 3, 2, 2, 2, 3).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 2, 2, 6)
    total = windows.sum(axis=-1)
    expected = np.where(total > 0, (windows**2).sum(axis=-1) / np.where(total > 0, total, 1), 0)
    np.testing.assert_allclose(out, expected)
    assert out[0, 0, 0, 0] == 0


@pytest.mark.parametrize("training", [True, False])
def test_stochastic_pooling_gradient_with_the_draws_held_fixed(training):
    layer = nn.StochasticPool2d(2, stride=1, rng=0).train(training)

    def fixed_draws(x):
        layer.rng = np.random.default_rng(9)
        return layer(x)

    check_gradients(fixed_draws, [np.random.default_rng(1).uniform(0.5, 2.0, size=(2, 2, 3, 3))])


def test_stochastic_pooling_training_gradient_goes_to_the_drawn_activation():
    x = Tensor(np.random.default_rng(1).uniform(0.1, 1.0, size=(3, 2, 4, 4)), requires_grad=True)
    y = nn.StochasticPool2d(2, rng=0)(x)
    y.sum().backward()
    windows = x.grad.data.reshape(3, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(3, 2, 2, 2, 4)
    assert np.all(windows.sum(axis=-1) == 1) and np.all((windows == 0) | (windows == 1))
    picked = x.data.reshape(3, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(3, 2, 2, 2, 4)
    np.testing.assert_array_equal((picked * windows).sum(axis=-1), y.data)


def test_stochastic_pooling_refuses_negative_activations():
    with pytest.raises(ValueError, match="non-negative activations"):
        nn.StochasticPool2d(2)(-np.ones((1, 1, 2, 2)))


# --------------------------------------------------------------------------------------
# Stochastic depth
# --------------------------------------------------------------------------------------


def test_linear_survival_is_the_papers_schedule():
    np.testing.assert_allclose(nn.linear_survival(4, 0.5), [0.875, 0.75, 0.625, 0.5])
    blocks = nn.stochastic_depth_blocks([nn.Linear(2, 2, rng=i) for i in range(3)], last=0.7, rng=0)
    assert [block.survival for block in blocks] == pytest.approx([0.9, 0.8, 0.7])
    assert len({id(block.rng) for block in blocks}) == 1


def test_batch_mode_drops_whole_blocks_at_the_survival_rate_without_computing_them():
    body = nn.Linear(3, 3, rng=0, dtype=np.float64)
    calls = []
    body.register_forward_hook(lambda module, inputs, output: calls.append(1))
    block = nn.StochasticDepth(body, 0.7, rng=1)
    x = np.random.default_rng(2).normal(size=(5, 3))
    full = x + body(x).data
    calls.clear()
    kept = 0
    for _ in range(5000):
        y = block(x).data
        if np.array_equal(y, x):
            continue
        np.testing.assert_allclose(y, full)
        kept += 1
    assert len(calls) == kept
    assert_proportion(kept, 5000, 0.7, "blocks kept")


def test_row_mode_drops_examples_independently_and_evaluation_scales_by_survival():
    body = nn.Linear(3, 3, rng=0, dtype=np.float64)
    block = nn.StochasticDepth(body, 0.3, mode="row", rng=1)
    x = np.random.default_rng(2).normal(size=(20000, 3))
    branch = body(x).data
    y = block(x).data
    kept = np.all(np.isclose(y, x + branch), axis=1)
    assert np.all(kept | np.all(y == x, axis=1))
    assert_proportion(np.count_nonzero(kept), len(x), 0.3, "rows kept")
    np.testing.assert_allclose(block.eval()(x).data, x + 0.3 * branch)      # = E[training output]


def test_stochastic_depth_gradient_with_the_draws_held_fixed():
    block = nn.StochasticDepth(nn.Sequential(nn.Linear(3, 3, rng=0), nn.Tanh()), 0.5, mode="row").to(np.float64)

    def fixed_draws(x):
        block.rng = np.random.default_rng(2)
        return block(x)

    check_gradients(fixed_draws, [np.random.default_rng(1).normal(size=(6, 3))])


@pytest.mark.parametrize("call, message", [
    (lambda: nn.stochastic_depth_blocks([nn.ReLU(), nn.ReLU()], survival=[0.5, 0.9]), "must not increase"),
    (lambda: nn.stochastic_depth_blocks([nn.ReLU()], last=0.0), "last must be"),
    (lambda: nn.stochastic_depth_blocks([nn.ReLU()], last=0.5, survival=[1.0]), "exactly one of"),
    (lambda: nn.stochastic_depth_blocks([nn.ReLU()], survival=[0.5, 0.4]), "2 probabilities for 1"),
    (lambda: nn.StochasticDepth(nn.ReLU(), 1.5), "StochasticDepth\\(survival=...\\)"),
    (lambda: nn.StochasticDepth(nn.ReLU(), 0.5, mode="example"), "StochasticDepth\\(mode=...\\)"),
    (lambda: nn.StochasticDepth(F.relu, 0.5), "body=...\\) must be a Module"),
    (lambda: nn.StochasticDepth(nn.Linear(3, 2), 0.5).eval()(np.ones((1, 3), np.float32)), "must keep the shape"),
])
def test_bad_depth_arguments_are_refused_by_name(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
