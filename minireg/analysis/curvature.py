"""The tools of the checks: a model's penalized objective, its gradient, Hessian-vector
products by double backpropagation, the explicit Hessian, the Lanczos method for the top
of the spectrum, and minimizers.

The parameters of a model are handled as one flat float64 vector ``theta`` (the
parameters' entries one after the other, in ``model.parameters()`` order), which is
what the linear algebra of Deep Learning 7.2.1 (published 7.1.1) works with: the
Hessian :math:`H = \\nabla^2_\\theta J` is a (P, P) matrix.

A Hessian-vector product costs two backward passes and no (P, P) matrix:
:math:`Hv = \\nabla_\\theta (\\nabla_\\theta J \\cdot v)`, the gradient of the
gradient's inner product with ``v``, which :func:`minireg.tensor.grad` computes with
``create_graph=True`` (the first gradient stays in the graph). :func:`lanczos` needs
only those products.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy.linalg import eigh_tridiagonal

from minireg.checks import check_int
from minireg.regularizers.base import StepContext
from minireg.tensor import Tensor, grad, no_grad


def penalized_objective(model, loss_fn, x, y, regularizers=()):
    """``objective() -> Tensor``: :math:`\\tilde J(\\theta) = J(\\theta; X, y) + \\sum \\alpha\\Omega(\\theta)`
    (Deep Learning, eq. 7.2) at the model's current parameters, on the whole of ``(x, y)``.

    The penalties are those the trainer adds at place 3 of its step: each regularizer is
    attached to ``model`` here and its ``penalty(step)`` hook is called with a
    :class:`~minireg.regularizers.StepContext` of the batch, exactly as in
    :meth:`minireg.training.Trainer.train_step`. Hooks of other places play no part.
    """
    regularizers = list(regularizers)
    for regularizer in regularizers:
        regularizer.attach(model)
    needs_input_grad = any(r.needs_input_grad for r in regularizers)

    def objective():
        step = StepContext(model, loss_fn, np.random.default_rng(0), 0, 0, 0.0)
        step.inputs = Tensor(x, requires_grad=needs_input_grad)
        step.targets = y
        step.outputs = model(step.inputs)
        step.data_loss = total = loss_fn(step.outputs, y)
        for regularizer in regularizers:
            term = regularizer.penalty(step)
            if term is not None:
                total = total + term
        return total

    return objective


def get_theta(params) -> np.ndarray:
    """The parameters' values as one flat float64 vector."""
    return np.concatenate([p.data.ravel() for p in params]).astype(np.float64)


def set_theta(params, theta) -> None:
    """Write the flat vector ``theta`` back into the parameters, in place."""
    start = 0
    for p in params:
        p.data[...] = np.asarray(theta[start:start + p.size]).reshape(p.shape)
        p._bump_version()
        start += p.size


def _flat(tensors, params) -> np.ndarray:
    """Gradients as one flat vector; ``None`` (no dependence) as zeros."""
    return np.concatenate([np.zeros(p.size) if t is None else t.data.ravel().astype(np.float64)
                           for t, p in zip(tensors, params)])


def gradient(objective, params) -> np.ndarray:
    """:math:`\\nabla_\\theta \\tilde J` at the current parameters, flat."""
    return _flat(grad(objective(), params, allow_unused=True), params)


def hessian_vector_product(objective, params, v) -> np.ndarray:
    """:math:`H v` by double backpropagation: the gradient of :math:`\\nabla_\\theta J \\cdot v`."""
    first = grad(objective(), params, create_graph=True, allow_unused=True)
    start, inner = 0, None
    for p, g in zip(params, first):
        if g is None:
            start += p.size
            continue
        piece = Tensor(np.asarray(v[start:start + p.size]).reshape(p.shape).astype(p.dtype))
        term = (g * piece).sum()
        inner = term if inner is None else inner + term
        start += p.size
    return _flat(grad(inner, params, allow_unused=True), params)


def hessian_matrix(objective, params) -> np.ndarray:
    """The explicit (P, P) Hessian, one Hessian-vector product per column (small models)."""
    size = sum(p.size for p in params)
    columns = [hessian_vector_product(objective, params, np.eye(size)[j]) for j in range(size)]
    hessian = np.stack(columns, axis=1)
    return (hessian + hessian.T) / 2


def lanczos(hvp, size: int, k: int, steps: int | None = None, rng=0):
    """The k largest eigenvalues of a symmetric operator and their eigenvectors, from
    Hessian-vector products only (the Lanczos method).

    Starting from a random unit vector :math:`q_1`, each step multiplies the last
    vector by the operator and orthogonalizes the product against all the vectors so
    far (full reorthogonalization, twice, which keeps them orthonormal in floating
    point); the coefficients make a tridiagonal matrix :math:`T` whose eigenvalues (the
    Ritz values) approach the operator's extreme eigenvalues first. With ``steps`` equal
    to ``size`` they are exact.

    Parameters
    ----------
    hvp : callable, ``hvp(v) -> H v`` for a flat vector v
    size : int, the dimension P
    k : int, how many of the largest eigenvalues to return
    steps : int, optional, the number of products (default ``min(size, max(3 k, 20))``)
    rng : int or numpy.random.Generator, for the starting vector

    Returns
    -------
    (eigenvalues, eigenvectors) : (k,) in decreasing order, and (size, k) orthonormal columns
    """
    size = check_int(size, "size", minimum=1)
    k = check_int(k, "k", minimum=1, maximum=size)
    steps = min(size, check_int(steps, "steps", minimum=k) if steps is not None else max(3 * k, 20))
    generator = np.random.default_rng(rng)
    basis = np.zeros((size, steps))
    diagonal, off_diagonal = [], []
    q = generator.normal(size=size)
    q /= np.linalg.norm(q)
    for j in range(steps):
        basis[:, j] = q
        w = np.asarray(hvp(q), dtype=np.float64)
        diagonal.append(float(q @ w))
        for _ in range(2):                                  # full reorthogonalization
            w -= basis[:, :j + 1] @ (basis[:, :j + 1].T @ w)
        norm = float(np.linalg.norm(w))
        if j == steps - 1 or norm <= 1e-12 * max(1.0, abs(diagonal[0])):
            break
        off_diagonal.append(norm)
        q = w / norm
    m = len(diagonal)
    ritz_values, ritz_vectors = eigh_tridiagonal(np.array(diagonal), np.array(off_diagonal[:m - 1]))
    order = np.argsort(ritz_values)[::-1][:k]
    return ritz_values[order], basis[:, :m] @ ritz_vectors[:, order]


def newton_minimum(objective, params, steps: int = 1) -> np.ndarray:
    """Newton's method, :math:`\\theta \\leftarrow \\theta - H^{-1} \\nabla \\tilde J`, written into ``params``.

    On a quadratic objective one step lands on the minimum exactly (up to round-off); near
    a minimum of any smooth objective each step squares the error, so a few steps from a
    good start reach the minimum to machine precision. Returns the last iterate.
    """
    for _ in range(steps):
        hessian = hessian_matrix(objective, params)
        set_theta(params, get_theta(params) - np.linalg.solve(hessian, gradient(objective, params)))
    return get_theta(params)


def minimize(objective, params, gtol: float = 1e-10) -> np.ndarray:
    """Minimize a smooth objective (an MLP's) with SciPy's trust-region Newton method
    ("trust-exact"), its gradient and Hessian from minireg's autograd; written into
    ``params``. Returns the minimizer."""

    def value(theta):
        set_theta(params, theta)
        with no_grad():
            return float(objective().item())

    def jacobian(theta):
        set_theta(params, theta)
        return gradient(objective, params)

    def hessian(theta):
        set_theta(params, theta)
        return hessian_matrix(objective, params)

    found = optimize.minimize(value, get_theta(params), jac=jacobian, hess=hessian, method="trust-exact",
                              options={"gtol": gtol, "maxiter": 200})
    set_theta(params, found.x)
    return found.x
