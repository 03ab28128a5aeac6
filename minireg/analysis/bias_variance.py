"""Bias and variance over resampled training sets (the lecture slides).

"Variance of trained model: does it vary a lot if the training set changes? Bias of
trained model: is the average model close to the true solution? Generalization error
can be seen as the sum of the (squared) bias and the variance." With a noisy target
:math:`y = f(x) + \\epsilon`, :math:`\\mathrm{Var}\\,\\epsilon = \\sigma^2`, and fits
:math:`\\hat f_D` trained on resampled training sets :math:`D`,

.. math:: \\mathbb E_{D,\\epsilon}\\,(\\hat f_D(x) - y)^2 = (\\mathbb E_D \\hat f_D(x) - f(x))^2 + \\mathrm{Var}_D \\hat f_D(x) + \\sigma^2 .

The check (``bias-variance``) resamples the targets of a fixed design (new noise each
time) and fits minireg's L2-penalized polynomial regression to each; for this linear
smoother the three terms also have closed forms, which the measured ones must match.
Weight decay trades one for the other: as :math:`\\alpha` grows the bias grows and the
variance falls ("regularizers trade increased bias for reduced variance").
"""
from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre

from minireg import nn
from minireg.analysis.curvature import gradient, hessian_matrix, penalized_objective
from minireg.analysis.problems import half_mse, linear_model
from minireg.analysis.results import compare
from minireg.regularizers import L2


def _fits(features, targets, alpha):
    """minireg's L2-penalized least-squares fits to every column of ``targets`` at once,
    shape (D, resamples): one Newton step from 0.

    A ``Linear(D, resamples)`` model holds one weight column per training set; its
    objective, ``resamples`` times the mean, is the sum of the columns' objectives, so one
    backward pass gives every column's gradient. The Hessian, the same for every column,
    comes from a one-column model.
    """
    d, resamples = features.shape[1], targets.shape[1]
    one = linear_model(d)
    one.weight.data[...] = 0.0
    hessian = hessian_matrix(penalized_objective(one, half_mse, features, targets[:, :1], [L2(alpha)]),
                             one.parameters())
    many = nn.Linear(d, resamples, bias=False, dtype=np.float64)
    many.weight.data[...] = 0.0
    objective = penalized_objective(many, lambda outputs, y: resamples * half_mse(outputs, y), features, targets,
                                    [L2(alpha)])
    return -np.linalg.solve(hessian, gradient(objective, many.parameters()).reshape(d, resamples))


def bias_variance_decomposition():
    """Bias², variance and test error of L2-penalized degree-7 polynomial fits, measured over
    2000 resampled training sets, against their closed forms (bias² + variance + σ² for
    the error), for α = 0.001, 0.01, 0.1."""
    degree, sigma, resamples = 7, 0.3, 2000
    rng = np.random.default_rng(17)
    x = np.linspace(-1, 1, 20)
    x_test = np.linspace(-1, 1, 50)
    truth, truth_test = np.sin(np.pi * x), np.sin(np.pi * x_test)
    features, features_test = legendre.legvander(x, degree), legendre.legvander(x_test, degree)
    targets = truth[:, None] + sigma * rng.normal(size=(len(x), resamples))
    test_noise = sigma * rng.normal(size=(len(x_test), resamples))
    alphas = np.array([1e-3, 1e-2, 1e-1])
    measured, closed = [], []
    for alpha in alphas:
        predictions = features_test @ _fits(features, targets, alpha)        # (test points, resamples)
        measured.append([np.mean((predictions.mean(axis=1) - truth_test) ** 2), np.mean(predictions.var(axis=1)),
                         np.mean((predictions - truth_test[:, None] - test_noise) ** 2)])
        smoother = features_test @ np.linalg.solve(features.T @ features + len(x) * alpha * np.eye(degree + 1),
                                                   features.T)
        bias2, variance = np.mean((smoother @ truth - truth_test) ** 2), sigma**2 * np.mean(np.sum(smoother**2, 1))
        closed.append([bias2, variance, bias2 + variance + sigma**2])
    measured, closed = np.array(measured), np.array(closed)
    table = "; ".join(f"alpha {a:g}: bias^2 {m[0]:.4f}, variance {m[1]:.4f}, error {m[2]:.4f}"
                      for a, m in zip(alphas, measured))
    return compare(f"[bias^2, variance, test error] per alpha, measured over {resamples} training sets",
                   measured, "[bias^2, variance, bias^2 + variance + sigma^2] in closed form", closed, 0.03,
                   f"sigma^2 = {sigma**2:.2f}; {table}")
