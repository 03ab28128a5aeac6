"""The small problems the checks are computed on: data, models and losses (float64).

Small on purpose: every check runs in seconds on one core, and the sizes are chosen so
that each side of an equation can be computed exactly (or, for expectations, to a
stated statistical precision).
"""
from __future__ import annotations

import numpy as np

from minireg import nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.training import Trainer


def half_mse(outputs, targets):
    """:math:`J = \\frac{1}{2N}\\lVert \\hat y - y \\rVert^2`: the gradient of the data term of
    a linear model is then :math:`X^\\top (Xw - y) / N` and its Hessian :math:`X^\\top X / N`."""
    difference = outputs - targets
    return 0.5 * (difference * difference).mean()


def linear_regression(n: int = 100, scales=(2.0, 1.5, 1.0, 0.7, 0.5), noise: float = 0.5, seed: int = 0):
    """``(X, y)``: n examples whose features have the given scales (so the Hessian's
    eigenvalues differ), targets ``X w_true + noise`` of shape (n, 1)."""
    rng = np.random.default_rng(seed)
    scales = np.asarray(scales, dtype=np.float64)
    X = rng.normal(size=(n, scales.size)) * scales
    w_true = rng.normal(size=(scales.size, 1)) * 2
    return X, X @ w_true + noise * rng.normal(size=(n, 1))


def linear_model(n_inputs: int, seed: int = 0, bias: bool = False):
    """A float64 ``Linear(n_inputs, 1)``: the linear model of the chapter's analyses."""
    return nn.Linear(n_inputs, 1, bias=bias, rng=seed, dtype=np.float64)


def small_mlp(n_inputs: int = 2, hidden: int = 8, seed: int = 0):
    """A float64 ``n_inputs - hidden (tanh) - 1`` network: smooth, so that its Hessians exist."""
    return nn.Sequential(nn.Linear(n_inputs, hidden, rng=seed, dtype=np.float64), nn.Tanh(),
                         nn.Linear(hidden, 1, rng=seed + 1, dtype=np.float64))


def full_batch_descent(model, loss_fn, X, y, regularizers, lr: float, steps: int, momentum: float = 0.0):
    """Train with :class:`~minireg.training.Trainer` on the whole set at every step
    (gradient descent, or heavy ball with ``momentum``), the regularizers at their
    places of the step; returns the trainer."""
    trainer = Trainer(model, loss_fn, SGD(model.parameters(), lr=lr, momentum=momentum), regularizers=regularizers)
    trainer.fit(DataLoader(X, y, len(X), shuffle=False), max_steps=steps)
    return trainer
