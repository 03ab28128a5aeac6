"""Weight decay seen through the Hessian (Deep Learning 7.2.1, published 7.1.1, eqs. 7.6-7.8).

Near a minimum :math:`w^*` of :math:`J`, with :math:`H = Q\\Lambda Q^\\top` its Hessian, the
minimum of :math:`J + \\frac{\\alpha}{2}\\lVert w\\rVert^2` is
:math:`\\tilde w = (H + \\alpha I)^{-1} H w^*` (eq. 7.6): in the eigenvector basis each
component of :math:`w^*` is rescaled by :math:`\\lambda_i / (\\lambda_i + \\alpha)` (eq. 7.7), and
:math:`\\gamma = \\sum_i \\lambda_i / (\\lambda_i + \\alpha)` counts the directions that survive, the
effective number of parameters (eq. 7.8).

* ``7.6-7.7`` -- exactly, on linear regression (the objective is quadratic);
* ``7.6-7.7-mlp`` -- on a trained MLP, where the quadratic model holds for small
  :math:`\\alpha`: the Hessian only through Hessian-vector products (double backprop), its
  top eigenpairs by Lanczos;
* ``7.8`` -- :math:`\\gamma(\\alpha)` against the degrees of freedom of the fitted linear model,
  :math:`\\sum_n \\partial \\hat y_n / \\partial y_n` (the trace of the ridge hat matrix).
"""
from __future__ import annotations

import numpy as np

from minireg.analysis.curvature import (get_theta, hessian_matrix, hessian_vector_product, lanczos, minimize,
                                        newton_minimum, penalized_objective)
from minireg.analysis.problems import half_mse, linear_model, linear_regression, small_mlp
from minireg.analysis.results import compare
from minireg.regularizers import L2


def ridge_fit(X, y, alpha: float) -> np.ndarray:
    """minireg's minimum of :math:`\\frac{1}{2N}\\lVert Xw - y\\rVert^2 + \\frac{\\alpha}{2}\\lVert w\\rVert^2`
    (``L2(alpha)`` at place 3; Newton's method on the autograd Hessian), shape (D,)."""
    model = linear_model(X.shape[1])
    regularizers = [L2(alpha)] if alpha > 0 else []
    return newton_minimum(penalized_objective(model, half_mse, X, y, regularizers), model.parameters())


def rescaling_linear_regression():
    """Eq. 7.7 on linear regression: :math:`Q^\\top \\tilde w` of minireg's L2 fit against
    :math:`\\Lambda(\\Lambda + \\alpha I)^{-1} Q^\\top w^*`, with :math:`H` from Hessian-vector products."""
    X, y = linear_regression()
    alpha = 0.5
    model = linear_model(X.shape[1])
    objective = penalized_objective(model, half_mse, X, y)
    hessian = hessian_matrix(objective, model.parameters())
    eigenvalues, Q = np.linalg.eigh(hessian)
    w_star, w_tilde = ridge_fit(X, y, 0.0), ridge_fit(X, y, alpha)
    factors = eigenvalues / (eigenvalues + alpha)
    return compare("Q^T w~ (w~: minireg's fit with L2(alpha=0.5))", Q.T @ w_tilde,
                   "lambda / (lambda + alpha) * Q^T w*", factors * (Q.T @ w_star), 1e-10,
                   f"eigenvalues of H = X^T X / N: {np.array2string(eigenvalues, precision=3)}; factors "
                   f"lambda / (lambda + alpha): {np.array2string(factors, precision=3)}")


BASE_DECAY = 0.01
"""The L2 term of the MLP's own objective (see :func:`rescaling_mlp`)."""


def _trained_mlp():
    """A 2-8-1 tanh network at a minimum of the squared error plus ``L2(BASE_DECAY)`` on
    all parameters (SciPy's trust-region Newton, then Newton steps: gradient ~1e-15)."""
    rng = np.random.default_rng(4)
    X = rng.uniform(-2, 2, size=(40, 2))
    y = np.sin(1.5 * X[:, :1]) * np.cos(X[:, 1:]) + 0.1 * rng.normal(size=(40, 1))
    model = small_mlp(2, 8, seed=1)
    objective = penalized_objective(model, half_mse, X, y, [L2(BASE_DECAY, params="all")])
    minimize(objective, model.parameters())
    newton_minimum(objective, model.parameters(), steps=2)
    return model, X, y, objective


def rescaling_mlp():
    """Eqs. 7.6-7.7 on a trained MLP: the shift :math:`Q_k^\\top(w^* - \\tilde w)` of the minimum
    that one more ``L2(alpha, params="all")`` causes, along the top k eigenvectors of the
    Hessian (Lanczos on Hessian-vector products), against
    :math:`\\alpha / (\\lambda_i + \\alpha)\\, q_i^\\top w^*` (eq. 7.7:
    :math:`q_i^\\top \\tilde w = \\lambda_i/(\\lambda_i + \\alpha)\\, q_i^\\top w^*`).

    The minimum of an MLP's plain squared error leaves directions that the data do not
    determine (Hessian eigenvalues ~1e-6 here), along which any :math:`\\alpha` moves the
    minimum far beyond where the quadratic model (eq. 7.4) holds. So :math:`J` is here the
    squared error plus a small L2 term (``BASE_DECAY``), whose minimum is well
    determined, and :math:`\\alpha = 10^{-5}` is added on top; the quadratic model's error
    is then of order :math:`\\alpha`.
    """
    model, X, y, objective = _trained_mlp()
    params = model.parameters()
    w_star = get_theta(params)
    k = 4
    eigenvalues, Q = lanczos(lambda v: hessian_vector_product(objective, params, v), w_star.size, k, steps=24)
    alpha = 1e-5
    w_tilde = newton_minimum(penalized_objective(model, half_mse, X, y, [L2(BASE_DECAY, params="all"),
                                                                        L2(alpha, params="all")]), params, steps=3)
    predicted = alpha / (eigenvalues + alpha) * (Q.T @ w_star)
    gamma = {a: float(np.sum(eigenvalues / (eigenvalues + a))) for a in (1e-3, 1e-2, 1e-1, 1.0)}
    return compare(f"Q_k^T (w* - w~): the shift of the minimum by L2(alpha={alpha:g}), top {k} eigenvectors",
                   Q.T @ (w_star - w_tilde), "alpha / (lambda_i + alpha) * q_i^T w*", predicted, 0.01,
                   f"a 2-8-1 tanh network, {w_star.size} parameters, J = squared error + L2({BASE_DECAY}); top "
                   f"eigenvalues of its Hessian (Lanczos, 24 Hessian-vector products): "
                   f"{np.array2string(eigenvalues, precision=4)}; their part of gamma(alpha) (eq. 7.8): "
                   + ", ".join(f"{g:.3f} at {a:g}" for a, g in gamma.items()))


def effective_number_of_parameters():
    """Eq. 7.8: :math:`\\gamma(\\alpha) = \\sum_i \\lambda_i/(\\lambda_i + \\alpha)` against
    :math:`\\sum_n \\partial \\hat y_n / \\partial y_n` of minireg's L2 fits, for several α.

    The fit is linear in the targets, so :math:`\\partial \\hat y_n / \\partial y_n` is the change
    of the fitted :math:`\\hat y_n` when :math:`y_n` alone grows by 1 (one fit per example).
    """
    X, y = linear_regression(n=30)
    alphas = np.array([0.0, 0.1, 0.5, 2.0, 10.0])
    eigenvalues = np.linalg.eigvalsh(X.T @ X / len(X))
    gamma = np.array([np.sum(eigenvalues / (eigenvalues + alpha)) for alpha in alphas])
    degrees = []
    for alpha in alphas:
        fitted = X @ ridge_fit(X, y, alpha)
        degrees.append(sum((X[n] @ ridge_fit(X, y + np.eye(len(X))[:, n:n + 1], alpha)) - fitted[n]
                           for n in range(len(X))))
    return compare("sum_n d y^_n / d y_n of minireg's fits with L2(alpha), alpha = 0, 0.1, 0.5, 2, 10",
                   np.array(degrees), "gamma = sum_i lambda_i / (lambda_i + alpha)", gamma, 1e-9,
                   f"N = {len(X)}, D = {X.shape[1]}: gamma falls from D (alpha = 0) towards 0 as alpha grows")
