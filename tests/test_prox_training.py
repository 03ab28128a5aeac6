"""Proximal regularizers in training reach the solutions of independent solvers:
scikit-learn's Lasso and MultiTaskLasso, and SciPy on a small SLOPE (OWL) problem."""
import itertools

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.linear_model import Lasso, MultiTaskLasso

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.regularizers import L2, Regularizer
from minireg.regularizers.proximal import (ProxGroupLasso, ProxGrOWL, ProxL1, ProxOSCAR, ProxOWL,
                                           growl_weights, owl_norm, prox_growl, soft_threshold)
from minireg.tensor import Tensor, grad
from minireg.training import Trainer


def half_mse(outputs, targets):
    """(1 / 2N) ‖Y − XW‖²_F: scikit-learn's data term for Lasso and MultiTaskLasso."""
    targets = targets.reshape(outputs.shape)
    d = outputs - targets
    return 0.5 * (d * d).sum() / outputs.shape[0]


def regression(n=60, d=8, tasks=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = np.zeros((d, tasks))
    W[:3] = rng.normal(size=(3, tasks)) * 2           # three relevant features
    Y = X @ W + 0.1 * rng.normal(size=(n, tasks))
    return X, Y


def proximal_gradient(regularizer, X, Y, steps=3000):
    """Full-batch proximal gradient descent (ISTA) with step 1/L through the Trainer."""
    model = nn.Linear(X.shape[1], Y.shape[1], bias=False, rng=0).to(np.float64)
    lr = 1.0 / np.linalg.eigvalsh(X.T @ X / len(X)).max()
    trainer = Trainer(model, half_mse, SGD(model.parameters(), lr=lr), regularizers=[regularizer])
    loader = DataLoader(X, Y, len(X), shuffle=False)
    trainer.fit(loader, max_steps=steps)
    return model.weight.data


def test_one_sgd_step_with_the_l1_prox_is_soft_thresholding_of_the_plain_step():
    X, Y = regression()
    model = nn.Linear(8, 1, bias=False, rng=0).to(np.float64)
    w0 = model.weight.data.copy()
    g = grad(half_mse(model(Tensor(X)), Y), [model.weight])[0].data
    trainer = Trainer(model, half_mse, SGD(model.parameters(), lr=0.1), regularizers=[ProxL1(0.3)])
    trainer.train_step(X, Y)
    np.testing.assert_array_equal(model.weight.data, soft_threshold(w0 - 0.1 * g, 0.1 * 0.3))


def test_the_l1_prox_converges_to_sklearn_lasso():
    X, Y = regression()
    alpha = 0.2
    w = proximal_gradient(ProxL1(alpha), X, Y)
    reference = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100000).fit(X, Y[:, 0]).coef_
    np.testing.assert_allclose(w[:, 0], reference, atol=1e-7)
    assert np.sum(w == 0) == np.sum(reference == 0) >= 3       # the same exact zeros


def test_the_group_lasso_prox_on_rows_converges_to_sklearn_multitask_lasso():
    X, Y = regression(tasks=3)
    alpha = 0.3
    W = proximal_gradient(ProxGroupLasso(alpha), X, Y)
    reference = MultiTaskLasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100000).fit(X, Y).coef_.T
    np.testing.assert_allclose(W, reference, atol=1e-7)
    zero_rows = np.all(W == 0, axis=1)
    assert zero_rows.sum() >= 3 and np.array_equal(zero_rows, np.all(reference == 0, axis=1))


def slope_by_scipy(X, y, lam):
    """min (1/2N)‖y − Xw‖² + Σ λᵢ|w|₍ᵢ₎ as a smooth problem with linear constraints:
    s ≥ |w| and t ≥ Σ λᵢ s_σ(i) for every permutation σ (the OWL norm is their maximum)."""
    n, d = X.shape

    def objective(v):
        w, t = v[:d], v[-1]
        r = X @ w - y
        return 0.5 * r @ r / n + t

    constraints = [{"type": "ineq", "fun": lambda v: v[d:2 * d] - v[:d]},
                   {"type": "ineq", "fun": lambda v: v[d:2 * d] + v[:d]}]
    for perm in itertools.permutations(range(d)):
        weights = np.zeros(d)
        weights[list(perm)] = lam
        constraints.append({"type": "ineq", "fun": lambda v, c=weights: v[-1] - c @ v[d:2 * d]})
    start = np.concatenate([np.zeros(d), np.ones(d), [10.0]])
    result = minimize(objective, start, constraints=constraints, method="SLSQP",
                      options={"maxiter": 2000, "ftol": 1e-14})
    assert result.success, result.message
    return result.x[:d], result.fun


def test_the_owl_prox_reaches_the_slope_objective_of_scipy():
    X, Y = regression(n=40, d=4)
    lam = growl_weights(4, 0.05, 0.1, 4)                  # OSCAR weights over the 4 entries
    w = proximal_gradient(ProxOWL(0.05, 0.1, p=1.0), X, Y)[:, 0]
    ours = 0.5 * np.sum((X @ w - Y[:, 0]) ** 2) / len(X) + owl_norm(w, lam)
    w_scipy, theirs = slope_by_scipy(X, Y[:, 0], lam)
    assert ours == pytest.approx(theirs, abs=1e-8)
    assert ours <= theirs + 1e-10                         # ours is at least as good
    np.testing.assert_allclose(w, w_scipy, atol=1e-4)


class Watch(Regularizer):
    """For each step: which rows of the first weight were zero before it and the norms
    of their gradients (place 4); which rows are zero after the update and the prox (place
    5, listed after the prox)."""

    def __init__(self):
        self.before, self.grad_norms, self.after = [], [], []

    def transform_gradients(self, step):
        w = step.model[0].weight
        self.before.append(np.all(w.data == 0, axis=1))
        self.grad_norms.append(np.linalg.norm(w.grad.data.astype(np.float64), axis=1))


class WatchAfter(Regularizer):
    def __init__(self, watch):
        self.watch = watch

    def after_step(self, step):
        self.watch.after.append(np.all(step.model[0].weight.data == 0, axis=1))


def test_zero_rows_stay_exactly_zero_unless_the_data_pulls_harder_than_the_threshold():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 10)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)          # inputs 2..9 are noise
    model = nn.Sequential(nn.Linear(10, 8, rng=0), nn.Tanh(), nn.Linear(8, 2, rng=1))
    alpha = 0.2
    watch = Watch()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                      regularizers=[watch, ProxGroupLasso(alpha, params=[model[0].weight]), WatchAfter(watch)])
    trainer.fit(DataLoader(X, y, 50, rng=0), epochs=40)
    before, norms, after = np.array(watch.before), np.array(watch.grad_norms), np.array(watch.after)
    # plain SGD moves a zero row to -lr·g, and block soft thresholding at lr·α zeroes it
    # again exactly when ‖g‖ ≤ α: the row stays zero unless the data pulls harder
    np.testing.assert_array_equal(after[before], norms[before] <= alpha)
    assert (after[before]).sum() > 100 and (~after[before]).sum() > 0     # both happened
    assert after[-1, 2:].sum() >= 5 and not after[-1, :2].any()           # noise inputs switched off
    assert model[0].weight.data.dtype == np.float32


def test_once_per_epoch_the_prox_runs_after_the_last_step_with_the_learning_rate():
    X, Y = regression(n=30)
    model = nn.Linear(8, 1, bias=False, rng=0).to(np.float64)
    twin = nn.Linear(8, 1, bias=False, rng=0).to(np.float64)
    per_epoch = Trainer(model, half_mse, SGD(model.parameters(), lr=0.05),
                        regularizers=[ProxL1(0.5, every="epoch")])
    plain = Trainer(twin, half_mse, SGD(twin.parameters(), lr=0.05))
    for epoch in range(3):
        per_epoch.fit(DataLoader(X, Y, 10, shuffle=False), epochs=epoch + 1)
        plain.fit(DataLoader(X, Y, 10, shuffle=False), epochs=epoch + 1)
        twin.weight.data[...] = soft_threshold(twin.weight.data, 0.05 * 0.5)
        np.testing.assert_allclose(model.weight.data, twin.weight.data, rtol=1e-12, atol=1e-15)


def test_growl_combines_with_l2_and_acts_on_conv_input_channels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 4, 5, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=12)
    model = nn.Sequential(nn.Conv2d(4, 6, 3, rng=0), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 9, 3, rng=1))
    conv = model[0].weight
    before = conv.data.copy()
    g = grad(losses.cross_entropy(model(Tensor(X)), y), [conv])[0].data
    alpha, lr = 0.01, 0.2
    growl = ProxGrOWL(0.5, 0.1, p=2, params=[conv])
    Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=lr),
            regularizers=[L2(alpha, params=[conv]), growl]).train_step(X, y)
    plain = before - np.float32(lr) * (g + np.float32(alpha) * before)
    expected = prox_growl(plain, growl_weights(4, 0.5, 0.1, 2), lr)        # rows = the 4 input channels
    np.testing.assert_allclose(conv.data, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("build, message", [
    (lambda: ProxL1(-0.1), "alpha must be"),
    (lambda: ProxGroupLasso(0.1, every="batch"), "every must be one of 'step', 'epoch'; got 'batch'"),
    (lambda: ProxGrOWL(-1.0, 0.1), "lambda1 must be"),
    (lambda: ProxGrOWL(1.0, float("nan")), "lambda2 must be"),
    (lambda: ProxGrOWL(1.0, 0.1, p=1.5), r"p must be a finite number in \(0.0, 1.0\]"),
    (lambda: ProxOWL(1.0, 0.1, p=0.0), "p must be"),
])
def test_bad_arguments_are_refused_when_built(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_bad_choices_are_refused_when_the_trainer_is_built():
    model = nn.Sequential(nn.Linear(5, 3, rng=0), nn.ReLU(), nn.Linear(3, 2, rng=1))
    with pytest.raises(ValueError, match=r"p must be an int in 1 ... 3 \(the rows\)"):
        Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                regularizers=[ProxGrOWL(0.1, 0.1, p=4)])
    with pytest.raises(ValueError, match="rows of dense or conv weights; 'layers.0.bias'"):
        Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                regularizers=[ProxOSCAR(0.1, 0.1, params=[model[0].bias])])
