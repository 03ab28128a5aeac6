"""Early stopping as L2 regularization on a quadratic (Deep Learning 7.7, published 7.8,
eqs. 7.25-7.28).

Gradient descent from :math:`w^{(0)} = 0` with learning rate :math:`\\eta` on
:math:`\\hat J(w) = J(w^*) + \\frac{1}{2}(w - w^*)^\\top H (w - w^*)` follows, in the eigenvector
basis of :math:`H = Q\\Lambda Q^\\top`,

.. math:: Q^\\top w^{(\\tau)} = [I - (I - \\eta\\Lambda)^\\tau]\\, Q^\\top w^* \\qquad (7.26)

while L2 gives :math:`Q^\\top \\tilde w = [I - (\\Lambda + \\alpha I)^{-1}\\alpha]\\, Q^\\top w^*` (7.27);
when :math:`\\eta\\lambda_i \\ll 1` and :math:`\\lambda_i/\\alpha \\ll 1` the two agree for
:math:`\\alpha = 1/(\\tau\\eta)` (7.28).

* ``7.26`` -- the trajectory of minireg's SGD (full batch) against eq. 7.26, exactly;
* ``7.28`` -- the early-stopping trajectory against the path of L2 fits with
  :math:`\\alpha = 1/(\\tau\\eta)`, side by side.
"""
from __future__ import annotations

import numpy as np

from minireg.analysis.problems import half_mse, linear_model, linear_regression
from minireg.analysis.results import Comparison, compare, relative_difference
from minireg.analysis.weight_decay import ridge_fit
from minireg.optim import SGD
from minireg.training import Trainer

LEARNING_RATE = 0.001


def _trajectory(X, y, steps: int) -> np.ndarray:
    """``(steps + 1, D)``: the weights of full-batch gradient descent from 0, step by step,
    made by a Trainer with SGD (no momentum) at :data:`LEARNING_RATE`."""
    model = linear_model(X.shape[1])
    model.weight.data[...] = 0.0
    trainer = Trainer(model, half_mse, SGD(model.parameters(), lr=LEARNING_RATE))
    path = [model.weight.data[:, 0].copy()]
    for _ in range(steps):
        trainer.train_step(X, y)
        path.append(model.weight.data[:, 0].copy())
    return np.array(path)


def _eigenbasis(X, y):
    """``(eigenvalues, Q, w*)`` of the quadratic :math:`\\frac{1}{2N}\\lVert Xw - y\\rVert^2`."""
    eigenvalues, Q = np.linalg.eigh(X.T @ X / len(X))
    return eigenvalues, Q, np.linalg.lstsq(X, y[:, 0], rcond=None)[0]


def gradient_descent_trajectory():
    """Eq. 7.26: :math:`Q^\\top w^{(\\tau)}` of minireg's gradient descent for τ = 1 ... 300
    against :math:`[I - (I - \\eta\\Lambda)^\\tau] Q^\\top w^*`."""
    X, y = linear_regression()
    steps = 300
    path = _trajectory(X, y, steps)
    eigenvalues, Q, w_star = _eigenbasis(X, y)
    taus = np.arange(steps + 1)[:, None]
    predicted = (1 - (1 - LEARNING_RATE * eigenvalues) ** taus) * (Q.T @ w_star)
    return compare(f"Q^T w(tau), tau = 0 ... {steps}: minireg's SGD, lr {LEARNING_RATE}, from w = 0", path @ Q,
                   "[I - (I - eta Lambda)^tau] Q^T w*", predicted, 1e-10,
                   f"eigenvalues of H: {np.array2string(eigenvalues, precision=3)}; at tau = {steps} each "
                   f"component has reached 1 - (1 - eta lambda)^tau = "
                   f"{np.array2string(1 - (1 - LEARNING_RATE * eigenvalues) ** steps, precision=3)} of w*")


def early_stopping_as_l2():
    """Eq. 7.28: the weights after τ steps against minireg's L2 fit with α = 1/(τη), for
    the τ at which :math:`\\lambda_{max}\\tau\\eta \\le 0.1`; the relative gap is then
    :math:`\\approx \\lambda\\tau\\eta/2 \\le 0.05` (the next term of the two expansions), and
    grows beyond (see the note)."""
    X, y = linear_regression()
    eigenvalues = np.linalg.eigvalsh(X.T @ X / len(X))
    last = int(0.1 / (eigenvalues[-1] * LEARNING_RATE))
    later = [int(x / (eigenvalues[-1] * LEARNING_RATE)) for x in (0.5, 1.0, 3.0)]
    path = _trajectory(X, y, later[-1])
    taus = np.arange(1, last + 1)
    l2_path = np.array([ridge_fit(X, y, 1 / (tau * LEARNING_RATE)) for tau in taus])
    gaps = [relative_difference(path[tau], l2_path[tau - 1]) for tau in taus]
    beyond = [relative_difference(path[tau], ridge_fit(X, y, 1 / (tau * LEARNING_RATE))) for tau in later]
    return Comparison(f"w(tau), tau = 1 ... {last} (early stopping: gradient descent from 0, lr {LEARNING_RATE})",
                      path[1:last + 1], "w~ of L2(alpha = 1 / (tau eta)) at the same tau", l2_path, max(gaps), 0.06,
                      "max over tau of |w(tau) - w~| / |w~|",
                      f"lambda_max tau eta <= 0.1 for tau <= {last}; the gap at lambda_max tau eta = 0.5, 1, 3 "
                      f"(tau = {', '.join(map(str, later))}): " + ", ".join(f"{g:.2f}" for g in beyond)
                      + ": the equivalence is a first-order one")
