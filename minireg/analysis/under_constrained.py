"""Regularization and under-constrained problems (Deep Learning 7.4, published 7.3).

* ``7.4`` -- the Moore-Penrose pseudoinverse as the limit of ridge regression,
  :math:`X^+ = \\lim_{\\alpha \\searrow 0} (X^\\top X + \\alpha I)^{-1} X^\\top`: on a problem with
  fewer examples than features, minireg's L2 fits approach :math:`X^+ y`, the exact
  solution of least norm, in proportion to :math:`\\alpha`.
* ``7.4-separable`` -- logistic regression on linearly separable data has no minimum:
  gradient descent makes :math:`\\lVert w\\rVert` grow without bound (like :math:`\\log \\tau`), its
  direction turning to the maximum-margin separator (Soudry et al., 2018).
* ``7.4-decay`` -- with weight decay the growth stops where the slope of the likelihood
  equals the decay: :math:`\\nabla_w J(w) = -\\alpha w`.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize

from minireg.analysis.curvature import gradient, penalized_objective
from minireg.analysis.problems import linear_model
from minireg.analysis.results import compare
from minireg.analysis.weight_decay import ridge_fit
from minireg.losses import binary_cross_entropy_with_logits
from minireg.optim import SGD
from minireg.regularizers import L2
from minireg.training import Trainer


def pseudoinverse_limit():
    """Eq. of 7.4: minireg's L2 fits for α → 0 against :math:`X^+ y` (``numpy.linalg.pinv``, by SVD),
    on 6 examples of 10 features (many weight vectors fit the data exactly)."""
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(6, 10)), rng.normal(size=(6, 1))
    alphas = 10.0 ** -np.arange(1, 7)
    pseudoinverse_solution = np.linalg.pinv(X) @ y[:, 0]
    fits = [ridge_fit(X, y, alpha) for alpha in alphas]
    gaps = [np.linalg.norm(w - pseudoinverse_solution) / np.linalg.norm(pseudoinverse_solution) for w in fits]
    other = pseudoinverse_solution + (np.eye(10) - np.linalg.pinv(X) @ X) @ rng.normal(size=10)
    return compare(f"minireg's fit with L2(alpha={alphas[-1]:g})", fits[-1], "X^+ y (numpy.linalg.pinv)",
                   pseudoinverse_solution, 1e-4,
                   "relative gap to X^+ y at alpha = 1e-1 ... 1e-6: " + ", ".join(f"{g:.1e}" for g in gaps)
                   + f" (falls like alpha); max |X w - y| = {np.abs(X @ fits[-1] - y[:, 0]).max():.1e}; "
                   f"|X^+ y| = {np.linalg.norm(pseudoinverse_solution):.3f} < |w| = {np.linalg.norm(other):.3f} "
                   "of another exact solution")


def separable_data():
    """40 points in the plane, labelled by the side of a line through the origin, pushed
    0.3 away from it (so a margin separates the classes); labels in {0, 1}, shape (40, 1)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    normal = np.array([1.0, -0.5]) / np.sqrt(1.25)
    side = np.sign(X @ normal)
    X += 0.3 * side[:, None] * normal
    return X, (side > 0).astype(np.float64)[:, None]


def max_margin_direction(X, labels) -> np.ndarray:
    """The unit vector of the hard-margin separator through the origin:
    :math:`\\arg\\min \\lVert w\\rVert^2` subject to :math:`s_n w^\\top x_n \\ge 1` (SciPy's SLSQP)."""
    signs = 2 * labels[:, 0] - 1
    constraint = {"type": "ineq", "fun": lambda w: signs * (X @ w) - 1, "jac": lambda w: signs[:, None] * X}
    start = np.linalg.lstsq(X, signs, rcond=None)[0] * 10
    w = optimize.minimize(lambda w: 0.5 * w @ w, start, jac=lambda w: w, constraints=[constraint], method="SLSQP",
                          options={"ftol": 1e-14, "maxiter": 500}).x
    return w / np.linalg.norm(w)


def _descend(X, labels, regularizers, record_at):
    """Full-batch gradient descent (lr 1) on the logistic loss in a Trainer; the weight
    vector at each step of ``record_at``."""
    model = linear_model(2)
    trainer = Trainer(model, binary_cross_entropy_with_logits, SGD(model.parameters(), lr=1.0),
                      regularizers=regularizers)
    recorded = {}
    for step in range(1, max(record_at) + 1):
        trainer.train_step(X, labels)
        if step in record_at:
            recorded[step] = model.weight.data[:, 0].copy()
    return model, recorded


def separable_growth():
    """Unregularized logistic regression on separable data: the direction of :math:`w(\\tau)`
    after 3000 gradient steps against the maximum-margin direction, the norm still growing."""
    X, labels = separable_data()
    steps = (10, 100, 1000, 3000)
    _, recorded = _descend(X, labels, [], steps)
    w = recorded[steps[-1]]
    norms = ", ".join(f"{np.linalg.norm(recorded[s]):.2f} at {s}" for s in steps)
    return compare("w(tau) / |w(tau)| at tau = 3000 (no penalty)", w / np.linalg.norm(w),
                   "the maximum-margin direction (hard-margin SVM through 0)", max_margin_direction(X, labels),
                   0.01, f"|w(tau)| = {norms}: it grows like log tau and never stops (every 2w classifies as "
                         "well as w, with a higher likelihood)")


def decay_stops_growth():
    """With ``L2(alpha)`` the weights stop at the point where the slope of the likelihood
    equals the decay: :math:`\\nabla_w J(w) = -\\alpha w` (autograd gradient of the data loss)."""
    X, labels = separable_data()
    alpha = 0.01
    steps = (10, 100, 1000, 2000)
    model, recorded = _descend(X, labels, [L2(alpha)], steps)
    slope = gradient(penalized_objective(model, binary_cross_entropy_with_logits, X, labels), model.parameters())
    norms = ", ".join(f"{np.linalg.norm(recorded[s]):.4f} at {s}" for s in steps)
    return compare("grad_w J(w) of the data loss after 2000 steps with L2(alpha=0.01)", slope, "-alpha w",
                   -alpha * recorded[steps[-1]], 1e-9, f"|w(tau)| = {norms}: bounded")
