"""The chapter's derivations as executable checks: ``minireg verify``.

Each check computes both sides of an equation of *Deep Learning* ch. 7 (the draft in
``shared/references``; the published book's section beside it) or of the lecture
slides, on real numbers, with minireg's own regularizers, optimizers and autograd on
one side wherever the equation is about them, and says whether they agree within a
stated tolerance. A check is a function of one of the family modules:

* :mod:`minireg.analysis.penalties` -- ridge, soft thresholding, MAP (7.2.1-7.2.3)
* :mod:`minireg.analysis.weight_decay` -- the Hessian view of weight decay (eqs. 7.6-7.8)
* :mod:`minireg.analysis.under_constrained` -- the pseudoinverse, separable data (7.4)
* :mod:`minireg.analysis.early_stopping` -- early stopping as L2 (eqs. 7.25-7.28)
* :mod:`minireg.analysis.noise` -- input and weight noise as penalties (eqs. 7.17, 7.22)
* :mod:`minireg.analysis.ensembles` -- bagging and weight scaling (7.10, eq. 7.30)
* :mod:`minireg.analysis.bias_variance` -- the decomposition of the slides

with the tools they share in :mod:`~minireg.analysis.curvature` (Hessian-vector
products, Lanczos, Newton) and :mod:`~minireg.analysis.problems`. :data:`CHECKS` lists
them by id, the draft's equation or section number (with a suffix where one number has
several checks); :meth:`Check.run` runs one and returns a
:class:`~minireg.analysis.results.CheckResult`. Nothing here prints.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from minireg.analysis import (bias_variance, early_stopping, ensembles, noise, penalties, under_constrained,
                              weight_decay)
from minireg.analysis.results import CheckResult, Comparison, as_text


@dataclass(frozen=True)
class Check:
    """One check: its id (the command's argument), what it checks, where the equation is,
    and the function that computes both sides (``function() -> Comparison``)."""

    id: str
    title: str
    source: str
    function: Callable[[], Comparison]

    def run(self) -> CheckResult:
        """Compute both sides; the result carries the verdict and the time taken."""
        start = time.perf_counter()
        comparison = self.function()
        return CheckResult(self.id, self.title, self.source, comparison, time.perf_counter() - start)


_DL = "Deep Learning"
CHECKS = {check.id: check for check in (
    Check("7.2.1", "training with L2 lands on the ridge normal equations",
          f"{_DL} 7.2.1 (published 7.1.1)", penalties.ridge_normal_equations),
    Check("7.6-7.7", "weight decay rescales w* along the Hessian's eigenvectors by lambda/(lambda + alpha): "
                     "linear regression", f"{_DL} eqs. 7.6-7.7, 7.2.1 (published 7.1.1)",
          weight_decay.rescaling_linear_regression),
    Check("7.6-7.7-mlp", "the same on a trained MLP: Hessian-vector products and Lanczos",
          f"{_DL} eqs. 7.6-7.7, 7.2.1 (published 7.1.1)", weight_decay.rescaling_mlp),
    Check("7.8", "the effective number of parameters sum lambda/(lambda + alpha) against alpha",
          f"{_DL} eq. 7.8, 7.2.1 (published 7.1.1)", weight_decay.effective_number_of_parameters),
    Check("7.2.2", "L1 under a diagonal Hessian is soft thresholding",
          f"{_DL} 7.2.2 (published 7.1.2)", penalties.soft_thresholding),
    Check("7.2.3-l2", "the L2-penalized fit is the MAP estimate under a Gaussian prior",
          f"{_DL} 7.2.3 (published 7.1.2) and eq. 7.1", penalties.map_gaussian_prior),
    Check("7.2.3-l1", "the L1-penalized fit is the MAP estimate under a Laplace prior",
          f"{_DL} 7.2.3 (published 7.1.2) and eq. 7.1", penalties.map_laplace_prior),
    Check("7.4", "the pseudoinverse is the limit of ridge regression as alpha -> 0",
          f"{_DL} 7.4 (published 7.3)", under_constrained.pseudoinverse_limit),
    Check("7.4-separable", "logistic regression on separable data: the weights grow without bound, towards "
                           "the maximum-margin direction", f"{_DL} 7.4 (published 7.3)",
          under_constrained.separable_growth),
    Check("7.4-decay", "weight decay stops the growth where the likelihood's slope equals the decay",
          f"{_DL} 7.4 (published 7.3)", under_constrained.decay_stops_growth),
    Check("7.26", "the gradient-descent trajectory on a quadratic in the Hessian's eigenbasis",
          f"{_DL} eqs. 7.25-7.26, 7.7 (published 7.8)", early_stopping.gradient_descent_trajectory),
    Check("7.28", "early stopping after tau steps is L2 with alpha = 1/(tau eta)",
          f"{_DL} eqs. 7.27-7.28, 7.7 (published 7.8)", early_stopping.early_stopping_as_l2),
    Check("7.17-linear", "input noise on a linear model is exactly weight decay",
          f"{_DL} eq. 7.17, 7.6.1 (published 7.5)", noise.input_noise_is_weight_decay),
    Check("7.17", "input noise adds the input-gradient penalty (and a curvature term) to second order",
          f"{_DL} eqs. 7.15-7.17, 7.6.1 (published 7.5)", noise.input_noise_expansion),
    Check("7.22", "weight noise adds the weight-gradient penalty (and a curvature term) to second order",
          f"{_DL} eqs. 7.19-7.22, 7.6.2 (published 7.5)", noise.weight_noise_expansion),
    Check("7.10", "the ensemble's squared error is v/k + (k-1)c/k",
          f"{_DL} 7.10 (published 7.11)", ensembles.ensemble_error),
    Check("7.10-bootstrap", "a bootstrap resample holds about 63.2 % of the distinct examples",
          f"{_DL} 7.10 (published 7.11)", ensembles.bootstrap_distinct_fraction),
    Check("7.30", "weight scaling is exact for softmax regression (all 2^n masks)",
          f"{_DL} eq. 7.30, 7.11 (published 7.12)", ensembles.weight_scaling_softmax_regression),
    Check("bias-variance", "test error = bias^2 + variance + noise over resampled training sets",
          "the lecture slides (bias-variance trade-off)", bias_variance.bias_variance_decomposition),
)}
"""Every check, by id, in the order of the chapter."""


def select(check_id: str | None = None) -> list:
    """The checks ``minireg verify [ID]`` runs: all of them without an id; the check of that
    id; or, for an id that is a prefix, every check whose id starts with it and a hyphen
    (``7.4`` is one check, ``7.2.3`` the two MAP checks). An unknown id raises ValueError
    naming the ids there are."""
    if check_id is None:
        return list(CHECKS.values())
    if check_id in CHECKS:
        return [CHECKS[check_id]]
    family = [check for key, check in CHECKS.items() if key.startswith(check_id + "-")]
    if not family:
        raise ValueError(f"no check {check_id!r}; the checks are: {', '.join(CHECKS)}")
    return family


__all__ = ["CHECKS", "Check", "CheckResult", "Comparison", "as_text", "select"]
