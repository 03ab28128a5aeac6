"""Parameter norm penalties in closed form: ridge, soft thresholding, and the MAP reading.

* ``7.2.1`` -- training with :class:`~minireg.regularizers.L2` lands on the solution of
  the ridge normal equations (Deep Learning 7.2.1, published 7.1.1).
* ``7.2.2`` -- under a diagonal Hessian, the L1-penalized minimum is the soft threshold
  of the unpenalized one, coordinate by coordinate (Deep Learning 7.2.2, published 7.1.2).
* ``7.2.3-l2`` and ``7.2.3-l1`` -- the L2- and L1-penalized fits are the maximum a
  posteriori estimates under a Gaussian and a Laplace prior (Deep Learning 7.2.3,
  published 7.1.2; eq. 7.1 of Deep Learning 7.1, published 5.6).
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from minireg.analysis.curvature import newton_minimum, penalized_objective
from minireg.analysis.problems import full_batch_descent, half_mse, linear_model, linear_regression
from minireg.analysis.results import compare
from minireg.regularizers import L2, ProxL1


def ridge_normal_equations():
    """The weights trained with an L2 penalty against the ridge normal equations.

    Objective :math:`\\frac{1}{2N}\\lVert Xw - y\\rVert^2 + \\frac{\\alpha}{2}\\lVert w\\rVert^2`,
    minimized by heavy-ball gradient descent in :class:`~minireg.training.Trainer` with
    ``L2(alpha)`` at place 3; the minimizer solves :math:`(X^\\top X + N\\alpha I) w = X^\\top y`,
    the chapter's :math:`w = (X^\\top X + \\alpha I)^{-1} X^\\top y` with its :math:`\\alpha`
    written :math:`N\\alpha` (the chapter sums the squared errors, we average them).
    """
    X, y = linear_regression()
    n, d = X.shape
    alpha = 0.1
    model = linear_model(d)
    full_batch_descent(model, half_mse, X, y, [L2(alpha)], lr=0.2, steps=400, momentum=0.9)
    closed_form = np.linalg.solve(X.T @ X + n * alpha * np.eye(d), X.T @ y)
    unpenalized = np.linalg.lstsq(X, y, rcond=None)[0]
    return compare("weights trained with L2(alpha=0.1), 400 full-batch heavy-ball steps",
                   model.weight.data[:, 0], "(X^T X + N alpha I)^-1 X^T y", closed_form[:, 0], 1e-7,
                   f"N={n}, D={d}; every weight is pulled towards 0: |w| / |w_lstsq| = "
                   f"{np.array2string(np.abs(closed_form[:, 0] / unpenalized[:, 0]), precision=3)}")


def soft_thresholding():
    """Proximal gradient descent with :class:`~minireg.regularizers.ProxL1` on a quadratic
    with a diagonal Hessian against the chapter's closed form.

    :math:`\\hat J(w) = \\sum_i \\frac{\\gamma_i}{2}(w_i - w_i^*)^2 + \\beta\\lVert w\\rVert_1` is a
    linear regression whose design is :math:`\\sqrt{N}\\,\\mathrm{diag}(\\sqrt{\\gamma})`; its
    minimizer is :math:`w_i = \\mathrm{sign}(w_i^*)\\max(|w_i^*| - \\beta/\\gamma_i, 0)`.
    """
    gamma = np.array([0.5, 1.0, 2.0, 4.0, 1.0, 0.5, 3.0, 2.0])
    w_star = np.array([1.5, -0.3, 0.2, -2.0, 0.9, -0.1, 0.05, -1.2])
    beta = 0.4
    n = gamma.size
    X = np.sqrt(n) * np.diag(np.sqrt(gamma))
    model = linear_model(n)
    full_batch_descent(model, half_mse, X, (X @ w_star)[:, None], [ProxL1(beta)], lr=0.2, steps=400)
    closed_form = np.sign(w_star) * np.maximum(np.abs(w_star) - beta / gamma, 0)
    return compare("ProxL1(alpha=0.4) after 400 proximal gradient steps (lr 0.2)", model.weight.data[:, 0],
                   "sign(w*) max(|w*| - beta / gamma, 0)", closed_form, 1e-9,
                   f"gamma = {gamma.tolist()}, w* = {w_star.tolist()}; {int(np.sum(closed_form == 0))} of {n} "
                   "weights are exactly 0 (|w*_i| <= beta / gamma_i)")


def _posterior_problem():
    """Data for the MAP checks: y = X w + noise of standard deviation sigma."""
    X, y = linear_regression(n=60, scales=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0), noise=1.5, seed=3)
    return X, y, 1.5


def map_gaussian_prior():
    """The MAP estimate under a Gaussian prior against the L2-penalized fit.

    :math:`\\log p(w | X, y) = \\log p(y | X, w) + \\log p(w) + c` (eq. 7.1) with
    :math:`y \\sim N(Xw, \\sigma^2)` and :math:`w \\sim N(0, \\lambda^{-1} I)`, maximized by BFGS on
    SciPy's log-densities; against minireg's minimum of
    :math:`\\frac{1}{2N}\\lVert Xw - y\\rVert^2 + \\frac{\\alpha}{2}\\lVert w\\rVert^2` (by Newton's
    method on its autograd Hessian), with :math:`\\alpha = \\sigma^2\\lambda / N`.
    """
    X, y, sigma = _posterior_problem()
    precision = 4.0
    n, d = X.shape

    def negative_log_posterior(w):
        return -(stats.norm.logpdf(y[:, 0], X @ w, sigma).sum() + stats.norm.logpdf(w, 0, precision**-0.5).sum())

    def its_gradient(w):
        return -X.T @ (y[:, 0] - X @ w) / sigma**2 + precision * w

    posterior_mode = optimize.minimize(negative_log_posterior, np.zeros(d), jac=its_gradient, method="BFGS",
                                       options={"gtol": 1e-11}).x
    model = linear_model(d)
    alpha = sigma**2 * precision / n
    fit = newton_minimum(penalized_objective(model, half_mse, X, y, [L2(alpha)]), model.parameters())
    return compare(f"minireg: argmin J + L2, alpha = sigma^2 lambda / N = {alpha:.4g}", fit,
                   "argmax log N(y; Xw, sigma^2) + log N(w; 0, 1/lambda)", posterior_mode, 1e-7,
                   f"sigma = {sigma}, prior precision lambda = {precision}, N = {n}")


def map_laplace_prior():
    """The MAP estimate under a Laplace prior against the L1-penalized fit.

    Prior :math:`w_i \\sim \\mathrm{Laplace}(0, b)`, :math:`\\log p(w) = -\\lVert w\\rVert_1 / b + c`:
    the negative log posterior, written with :math:`w = u - v`, :math:`u, v \\ge 0` (so that
    :math:`|w_i| = u_i + v_i` at the optimum and the problem is smooth), is minimized by
    L-BFGS-B; against minireg's proximal gradient descent with ``ProxL1(alpha)``,
    :math:`\\alpha = \\sigma^2 / (bN)`.
    """
    X, y, sigma = _posterior_problem()
    scale = 0.05
    n, d = X.shape

    def negative_log_posterior(uv):
        u, v = uv[:d], uv[d:]
        return -stats.norm.logpdf(y[:, 0], X @ (u - v), sigma).sum() + (u + v).sum() / scale + d * np.log(2 * scale)

    def its_gradient(uv):
        data = -X.T @ (y[:, 0] - X @ (uv[:d] - uv[d:])) / sigma**2
        return np.concatenate([data, -data]) + 1 / scale

    found = optimize.minimize(negative_log_posterior, np.zeros(2 * d), jac=its_gradient, method="L-BFGS-B",
                              bounds=[(0, None)] * (2 * d), options={"ftol": 1e-15, "gtol": 1e-12,
                                                                      "maxiter": 10000})
    posterior_mode = found.x[:d] - found.x[d:]
    model = linear_model(d)
    alpha = sigma**2 / (scale * n)
    full_batch_descent(model, half_mse, X, y, [ProxL1(alpha)], lr=0.5, steps=400)
    return compare(f"minireg: ProxL1(alpha = sigma^2 / (b N) = {alpha:.4g}), 400 proximal gradient steps",
                   model.weight.data[:, 0], "argmax log N(y; Xw, sigma^2) + log Laplace(w; 0, b)",
                   posterior_mode, 1e-6,
                   f"sigma = {sigma}, prior scale b = {scale}, N = {n}; the MAP estimate has "
                   f"{int(np.sum(np.abs(posterior_mode) < 1e-8))} of {d} weights at 0")
