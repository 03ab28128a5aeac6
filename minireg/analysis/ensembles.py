"""Bagging and dropout as ensembles (Deep Learning 7.10, published 7.11; and 7.11, published 7.12).

* ``7.10`` -- k members whose errors have variance :math:`v` and covariance :math:`c` make an
  ensemble whose expected squared error is :math:`v/k + (k-1)c/k`: measured on bagged
  networks (:func:`~minireg.training.fit_ensemble`) against the formula with the
  :math:`v` and :math:`c` of :func:`~minireg.training.ensembles.error_decomposition`;
* ``7.10-bootstrap`` -- a bootstrap resample of n examples holds on average a fraction
  :math:`1 - (1 - 1/n)^n \\approx 1 - 1/e = 63.2\\,\\%` of the distinct examples (the chapter's
  "around 2/3");
* ``7.30`` -- for softmax regression, the renormalized geometric mean of the predictions
  of all :math:`2^n` sub-networks (eq. 7.30) is the weight-scaled network.
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg import nn
from minireg.analysis.problems import half_mse, small_mlp
from minireg.analysis.results import Comparison, compare
from minireg.optim import Adam
from minireg.tensor import Tensor, no_grad
from minireg.training import Trainer, fit_ensemble
from minireg.training import ensembles as bagging


def ensemble_error():
    """The squared error of a bagged ensemble of 5 networks, measured, against
    :math:`v/k + (k-1)c/k` with :math:`v, c` measured from the members' errors."""
    rng = np.random.default_rng(10)
    X = rng.uniform(-2, 2, size=(60, 1))
    y = np.sin(2 * X) + 0.3 * rng.normal(size=(60, 1))
    X_test = np.linspace(-2, 2, 200)[:, None]
    y_test = np.sin(2 * X_test)

    def build(i):
        model = small_mlp(1, 16, seed=20 + 2 * i)
        return Trainer(model, half_mse, Adam(model.parameters(), lr=0.02))

    k = 5
    ensemble = fit_ensemble(build, X, y, k, batch_size=60, bootstrap=True, rng=11, max_steps=200)
    with no_grad():
        predictions = np.stack([member(Tensor(X_test)).data for member in ensemble.members])
    measured = float(np.mean((predictions.mean(axis=0) - y_test) ** 2))
    parts = bagging.error_decomposition(predictions, y_test)
    members = np.mean((predictions - y_test[None]) ** 2, axis=(1, 2))
    return compare(f"the squared error of the average of k = {k} bagged networks (on 200 test points)", measured,
                   "v / k + (k - 1) c / k", parts["v"] / k + (k - 1) * parts["c"] / k, 1e-10,
                   f"v = {parts['v']:.4f} (the members' mean error; each: {np.array2string(members, precision=4)}), "
                   f"c = {parts['c']:.4f}: the ensemble gains where the members' errors are not correlated")


def bootstrap_distinct_fraction():
    """The mean fraction of distinct examples in 400 bootstrap resamples of n = 1000
    (:func:`~minireg.training.ensembles.bootstrap_indices`) against :math:`1 - (1 - 1/n)^n`,
    within four standard errors."""
    n, resamples = 1000, 400
    rng = np.random.default_rng(12)
    distinct = np.array([len(np.unique(bagging.bootstrap_indices(n, rng))) / n for _ in range(resamples)])
    expected = 1 - (1 - 1 / n) ** n
    q1, q2 = (1 - 1 / n) ** n, (1 - 2 / n) ** n
    variance = (n * q1 + n * (n - 1) * q2 - n**2 * q1**2) / n**2       # of one resample's fraction
    standard_error = np.sqrt(variance / resamples)
    return Comparison(f"mean fraction of distinct examples, {resamples} bootstrap resamples of n = {n}",
                      distinct.mean(), "1 - (1 - 1/n)^n", expected, abs(distinct.mean() - expected) / standard_error,
                      4.0, "|left - right| / standard error",
                      f"1 - 1/e = {1 - np.exp(-1):.4f}; standard error {standard_error:.2g}; the resamples ranged "
                      f"from {distinct.min():.3f} to {distinct.max():.3f}")


def weight_scaling_softmax_regression():
    """Eq. 7.30: the renormalized geometric mean over all :math:`2^n` masks of a softmax
    regression with :class:`~minireg.nn.Dropout` (keep = 1/2) on its n = 6 inputs, against
    :func:`~minireg.nn.dropout_predict`'s weight scaling.

    Each sub-network's prediction is the model's own training-mode output: 2000 copies of
    each input go through the dropout layer, a forward hook reads the mask each copy
    drew, and every one of the 64 masks is met (the chance that one is missed is below
    :math:`10^{-12}`).
    """
    n_inputs, keep, copies = 6, 0.5, 2000
    model = nn.Sequential(nn.Dropout(keep=keep, rng=13), nn.Linear(n_inputs, 3, rng=14, dtype=np.float64))
    model[1].bias.data[:] = np.random.default_rng(15).normal(size=3)
    v = np.random.default_rng(16).normal(size=(4, n_inputs)) * 2
    seen = []
    handle = model[0].register_forward_hook(lambda module, inputs, output: seen.append(output.data != 0))
    with no_grad():
        log_p = F.log_softmax(model.train()(Tensor(np.repeat(v, copies, axis=0))), axis=1).data
    handle.remove()
    codes = seen[0].astype(np.int64) @ (2 ** np.arange(n_inputs))
    geometric = []
    for example in range(len(v)):
        rows = slice(example * copies, (example + 1) * copies)
        _, first = np.unique(codes[rows], return_index=True)
        if len(first) != 2**n_inputs:
            raise RuntimeError(f"only {len(first)} of the {2**n_inputs} masks were drawn")
        mean_log = log_p[rows][first].mean(axis=0)                     # the 2^n-th root of the product
        geometric.append(np.exp(mean_log) / np.exp(mean_log).sum())
    scaled = nn.dropout_predict(model, v)
    return compare(f"renormalized geometric mean over all 2^{n_inputs} sub-networks (training-mode outputs)",
                   np.array(geometric), "dropout_predict(model, v): weight scaling", scaled, 1e-12,
                   "softmax regression with Dropout(keep=0.5) on 6 inputs, 4 input vectors, 3 classes")
