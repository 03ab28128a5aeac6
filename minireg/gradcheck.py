"""Check gradients against finite differences.

Autograd is only as good as each backward function. These checks compare it with the
definition of the derivative, in float64:

* first order: the central difference (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for
  every coordinate i, against the gradient from :meth:`Tensor.backward`;
* second order: the Hessian-vector product H v from double backpropagation
  (``create_graph=True``) against (grad f(x + eps v) - grad f(x - eps v)) / (2 eps).

A function with a non-scalar output is reduced to the scalar <f(x), r> with a fixed
random r, which checks the whole vector-Jacobian product.
"""
from __future__ import annotations

import numpy as np

from minireg.tensor import Tensor, grad


def _scalar_function(fn, inputs, seed):
    """Wrap ``fn`` so it returns a scalar Tensor: <fn(*inputs), r> for a fixed random r."""
    probe = {}

    def scalar(*tensors):
        out = fn(*tensors)
        if out.size == 1:
            return out.sum()
        if "r" not in probe:
            probe["r"] = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
        return (out * probe["r"]).sum()

    return scalar


def _as_float64_inputs(inputs):
    arrays = [np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]
    return arrays


def numerical_gradient(fn, arrays, eps=1e-6):
    """Central-difference gradient of the scalar function ``fn(*Tensors)`` at ``arrays``."""
    grads = []
    for k, array in enumerate(arrays):
        g = np.zeros_like(array)
        flat, gflat = array.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + eps
            up = fn(*[Tensor(a) for a in arrays]).item()
            flat[i] = saved - eps
            down = fn(*[Tensor(a) for a in arrays]).item()
            flat[i] = saved
            gflat[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def check_gradients(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5, seed=0):
    """Assert that autograd's gradient of ``fn`` matches central differences.

    Parameters
    ----------
    fn : callable
        Takes one Tensor per input and returns a Tensor.
    inputs : sequence of array_like
        Points at which to check (converted to float64).

    Returns the largest absolute difference found; raises AssertionError if any
    difference exceeds ``atol + rtol * |numerical|``.
    """
    arrays = _as_float64_inputs(inputs)
    scalar = _scalar_function(fn, arrays, seed)
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    analytic = grad(scalar(*tensors), tensors, allow_unused=True)
    numeric = numerical_gradient(scalar, arrays, eps)
    worst = 0.0
    for k, (a, n) in enumerate(zip(analytic, numeric)):
        a = np.zeros_like(n) if a is None else a.data
        if a.shape != n.shape:
            raise AssertionError(f"gradient of input {k} has shape {a.shape}, the input has shape {n.shape}")
        diff = np.abs(a - n)
        worst = max(worst, float(np.max(diff, initial=0.0)))
        if not np.all(diff <= atol + rtol * np.abs(n)):
            i = tuple(int(j) for j in np.unravel_index(np.argmax(diff - rtol * np.abs(n)), n.shape))
            raise AssertionError(
                f"gradient of input {k} differs from finite differences at {i}: "
                f"autograd {a[i]:.8g}, numerical {n[i]:.8g} (max abs diff {diff.max():.3g})"
            )
    return worst


def check_hessian_vector(fn, inputs, eps=1e-5, atol=1e-5, rtol=1e-4, seed=0):
    """Assert that double backpropagation gives the Hessian-vector product H v.

    For a random direction v (one block per input), compares ``grad(<grad f, v>)``
    with the central difference of gradients along v. Returns the largest absolute
    difference.
    """
    arrays = _as_float64_inputs(inputs)
    scalar = _scalar_function(fn, arrays, seed)
    rng = np.random.default_rng(seed + 1)
    direction = [rng.standard_normal(a.shape) for a in arrays]

    def gradient_at(points, create_graph=False):
        tensors = [Tensor(p, requires_grad=True) for p in points]
        grads = grad(scalar(*tensors), tensors, create_graph=create_graph, allow_unused=True)
        return tensors, grads

    tensors, grads = gradient_at(arrays, create_graph=True)
    projection = None
    for g, v in zip(grads, direction):
        if g is not None and g.requires_grad:
            term = (g * v).sum()
            projection = term if projection is None else projection + term
    if projection is None:
        analytic = [np.zeros_like(a) for a in arrays]  # gradient constant in x: H = 0
    else:
        analytic = [np.zeros_like(a) if h is None else h.data
                    for a, h in zip(arrays, grad(projection, tensors, allow_unused=True))]

    up = gradient_at([a + eps * v for a, v in zip(arrays, direction)])[1]
    down = gradient_at([a - eps * v for a, v in zip(arrays, direction)])[1]
    worst = 0.0
    for k, (h, gu, gd, a) in enumerate(zip(analytic, up, down, arrays)):
        gu = np.zeros_like(a) if gu is None else gu.data
        gd = np.zeros_like(a) if gd is None else gd.data
        numeric = (gu - gd) / (2 * eps)
        if h.shape != numeric.shape:
            raise AssertionError(f"Hessian-vector product for input {k} has shape {h.shape}, expected {numeric.shape}")
        diff = np.abs(h - numeric)
        worst = max(worst, float(np.max(diff, initial=0.0)))
        if not np.all(diff <= atol + rtol * np.abs(numeric)):
            raise AssertionError(
                f"Hessian-vector product for input {k} differs from finite differences of "
                f"gradients (max abs diff {diff.max():.3g})"
            )
    return worst
