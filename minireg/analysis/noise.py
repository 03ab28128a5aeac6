"""Noise as a penalty (Deep Learning 7.6, published 7.5).

Training on inputs with small Gaussian noise of variance :math:`\\nu` adds, to second
order (eq. 7.17 of 7.6.1),

.. math:: \\nu\\,\\mathbb E[(\\hat y(x) - y)\\,\\mathrm{tr}\\,\\nabla_x^2 \\hat y(x)] + \\nu\\,\\mathbb E\\lVert\\nabla_x \\hat y(x)\\rVert^2

to the squared error; noise of variance :math:`\\eta` on the weights adds the same two terms
with :math:`\\nabla_W` in place of :math:`\\nabla_x` (eq. 7.22 of 7.6.2). For a linear model the
input-noise penalty is :math:`\\nu\\lVert w\\rVert^2` exactly: weight decay.

* ``7.17-linear`` -- input noise on a linear model is exactly ``L2(alpha=2 nu)``;
* ``7.17`` -- input noise against both terms of eq. 7.17 on a tanh network, the
  expectation over the noise by Gauss-Hermite quadrature (exact to far beyond the
  second order), the gradient term by :class:`~minireg.regularizers.InputGradientPenalty`;
* ``7.22`` -- weight noise (:class:`~minireg.nn.WeightNoise`, Monte-Carlo) against both
  terms of eq. 7.22, the gradient term by
  :class:`~minireg.regularizers.WeightGradientPenalty` (``estimator="exact"``).

The cost is the chapter's :math:`J = \\mathbb E[(\\hat y(x) - y)^2]` (eq. 7.14), without the ½.
"""
from __future__ import annotations

import itertools

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from minireg import functional as F
from minireg import nn
from minireg.analysis.curvature import gradient, hessian_matrix, penalized_objective
from minireg.analysis.problems import linear_model, small_mlp
from minireg.analysis.results import Comparison, compare
from minireg.datasets import DataLoader
from minireg.optim import Adam
from minireg.regularizers import L2, InputGradientPenalty, WeightGradientPenalty
from minireg.tensor import Tensor, grad, no_grad
from minireg.training import Trainer


def squared_error(outputs, targets):
    """:math:`J = \\frac{1}{N}\\sum_n (\\hat y_n - y_n)^2`, eq. 7.14."""
    difference = outputs - targets
    return (difference * difference).mean()


def gaussian_nodes(variance: float, dimension: int, per_axis: int):
    """Gauss-Hermite nodes and weights for :math:`\\mathbb E_{\\epsilon \\sim N(0, \\nu I)} f(\\epsilon)`
    in ``dimension`` dimensions: ``per_axis`` nodes per axis integrate every polynomial of
    degree below ``2 per_axis`` in each coordinate exactly. Returns ``(nodes (M, d), weights (M,))``."""
    points, weights = hermegauss(per_axis)
    weights = weights / weights.sum()
    nodes = np.array(list(itertools.product(points, repeat=dimension))) * np.sqrt(variance)
    return nodes, np.prod(np.array(list(itertools.product(weights, repeat=dimension))), axis=1)


def noisy_input_objective(model, X, y, variance: float, per_axis: int):
    """``objective() -> Tensor``: :math:`\\mathbb E_\\epsilon \\frac{1}{N}\\sum_n (\\hat y(x_n + \\epsilon) - y_n)^2`
    by quadrature: the model sees every example at every node, each weighted."""
    nodes, weights = gaussian_nodes(variance, X.shape[1], per_axis)
    shifted = (X[None, :, :] + nodes[:, None, :]).reshape(-1, X.shape[1])
    targets = np.broadcast_to(y[None], (len(nodes),) + y.shape).reshape(-1, y.shape[1])
    weight_of_row = np.repeat(weights, len(X))[:, None] / len(X)

    def objective():
        difference = model(Tensor(shifted)) - targets
        return (difference * difference * weight_of_row).sum()

    return objective


def input_noise_is_weight_decay():
    """Eq. 7.17 for :math:`\\hat y = w^\\top x + b`: the value and gradient of the input-noise
    objective (quadrature, exact for a quadratic) against :math:`J + \\nu\\lVert w\\rVert^2`,
    i.e. ``L2(alpha=2 nu)``."""
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    nu = 0.05
    model = linear_model(3, seed=2, bias=True)
    model.bias.data[...] = 0.3
    params = model.parameters()
    noisy = noisy_input_objective(model, X, y, nu, per_axis=2)
    decayed = penalized_objective(model, squared_error, X, y, [L2(2 * nu)])
    penalty = penalized_objective(model, squared_error, X, y, [InputGradientPenalty(nu)])
    values = [float(objective().item()) for objective in (noisy, decayed, penalty)]
    return compare("[value, gradient] of E_eps J(x + eps), noise variance nu = 0.05 (2 nodes per axis)",
                   np.concatenate([[values[0]], gradient(noisy, params)]),
                   "[value, gradient] of J + L2(alpha = 2 nu), i.e. J + nu |w|^2",
                   np.concatenate([[values[1]], gradient(decayed, params)]), 1e-12,
                   f"J + InputGradientPenalty(nu) = {values[2]:.12g} too; the bias is not decayed: the "
                   "gradient with respect to b is the plain one")


def _laplacian_term(model, X, y) -> float:
    """:math:`\\frac{1}{N}\\sum_n (\\hat y_n - y_n)\\,\\mathrm{tr}\\,\\nabla_x^2 \\hat y_n`: one double
    backward per input coordinate (each example's output depends on its own input only)."""
    x = Tensor(X, requires_grad=True)
    outputs = model(x)
    first = grad(outputs.sum(), [x], create_graph=True)[0]
    trace = sum(grad(first[:, k].sum(), [x], retain_graph=True)[0].data[:, k] for k in range(X.shape[1]))
    return float(np.mean((outputs.data[:, 0] - y[:, 0]) * trace))


def input_noise_expansion():
    """Eq. 7.17 on a 2-8-1 tanh network: the cost that input noise adds, by quadrature,
    against :math:`\\nu\\mathbb E[(\\hat y - y)\\mathrm{tr}\\nabla_x^2\\hat y] + \\nu\\mathbb E\\lVert\\nabla_x\\hat y\\rVert^2`;
    the neglected terms are :math:`O(\\nu^2)`."""
    rng = np.random.default_rng(7)
    X = rng.uniform(-1.5, 1.5, size=(30, 2))
    y = np.sin(2 * X[:, :1]) + 0.2 * rng.normal(size=(30, 1))
    model = small_mlp(2, 8, seed=3)
    nu = 1e-3
    clean = float(squared_error(model(Tensor(X)), y).item())
    added = float(noisy_input_objective(model, X, y, nu, per_axis=8)().item()) - clean
    gradient_term = float(penalized_objective(model, squared_error, X, y, [InputGradientPenalty(nu)])().item()) - clean
    curvature_term = nu * _laplacian_term(model, X, y)
    scale = abs(gradient_term) + abs(curvature_term)
    return Comparison("E_eps J(x + eps) - J (quadrature, 8 x 8 nodes), nu = 1e-3", added,
                      "nu E[(y^ - y) tr grad_x^2 y^] + InputGradientPenalty(nu)", curvature_term + gradient_term,
                      abs(added - curvature_term - gradient_term) / scale, 0.01,
                      "|left - right| / (|gradient term| + |curvature term|)",
                      f"gradient term {gradient_term:.4g}, curvature term {curvature_term:.4g} (an untrained "
                      "network: the chapter drops the curvature term at the minimum of J, where "
                      "E[y^ - y | x] = O(nu), leaving the gradient penalty)")


def _weight_trace_term(model, X, y) -> float:
    """:math:`\\frac{1}{N}\\sum_n (\\hat y_n - y_n)\\,\\mathrm{tr}\\,\\nabla_W^2 \\hat y_n`, the residuals
    held fixed: the trace of the Hessian of :math:`\\frac{1}{N}\\sum_n r_n \\hat y_n` over the weights."""
    with no_grad():
        residuals = model(Tensor(X)).data - y
    weights = model.weights()
    return float(np.trace(hessian_matrix(lambda: F.mean(model(Tensor(X)) * residuals), weights)))


def weight_noise_expansion():
    """Eq. 7.22 on a 2-8-1 tanh network: the cost that weight noise of variance η adds,
    by Monte-Carlo over :class:`~minireg.nn.WeightNoise`'s draws, against
    :math:`\\eta\\mathbb E[(\\hat y - y)\\mathrm{tr}\\nabla_W^2\\hat y] + \\eta\\mathbb E\\lVert\\nabla_W\\hat y\\rVert^2`.
    The tolerance is four standard errors of the Monte-Carlo mean plus 2 % for the
    neglected :math:`O(\\eta^2)` terms. The network is trained near a minimum of :math:`J`
    first: the first-order term :math:`\\epsilon^\\top \\nabla_W J` has mean zero but a
    variance :math:`\\eta \\lVert\\nabla_W J\\rVert^2` that would swamp the second-order terms."""
    rng = np.random.default_rng(8)
    X = rng.uniform(-1.5, 1.5, size=(20, 2))
    y = np.sin(2 * X[:, :1]) + 0.2 * rng.normal(size=(20, 1))
    model = small_mlp(2, 8, seed=5)
    trainer = Trainer(model, squared_error, Adam(model.parameters(), lr=0.01))
    trainer.fit(DataLoader(X, y, len(X), shuffle=False), max_steps=1500)    # near a minimum: see above
    eta, draws = 1e-3, 4000
    noisy = nn.WeightNoise(model, eta**0.5, rng=9).train()
    with no_grad():
        clean = float(squared_error(model(Tensor(X)), y).item())
        samples = np.array([float(squared_error(noisy(Tensor(X)), y).item()) - clean for _ in range(draws)])
    gradient_term = float(penalized_objective(model, squared_error, X, y,
                                              [WeightGradientPenalty(eta, estimator="exact")])().item()) - clean
    curvature_term = eta * _weight_trace_term(model, X, y)
    predicted = gradient_term + curvature_term
    scale = abs(gradient_term) + abs(curvature_term)
    standard_error = samples.std(ddof=1) / np.sqrt(draws)
    return Comparison(f"E_eps J(W + eps) - J, Monte-Carlo over {draws} draws of WeightNoise(std = sqrt(eta)), "
                      "eta = 1e-3", samples.mean(), "eta E[(y^ - y) tr grad_W^2 y^] + WeightGradientPenalty(eta)",
                      predicted, abs(samples.mean() - predicted) / scale, 4 * standard_error / scale + 0.02,
                      "|left - right| / (|gradient term| + |curvature term|)",
                      f"gradient term {gradient_term:.4g}, curvature term {curvature_term:.4g}; standard error of "
                      f"the Monte-Carlo mean {standard_error:.2g}")
