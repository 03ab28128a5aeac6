"""Dense layers, activations, reshaping, and the residual connection.

Weight layout: a dense weight is stored (in_features, out_features) and a layer computes
``x @ W + b``. Row i of W then holds everything input feature i sends forward (what
GrOWL groups, eq. (3)); column j holds the incoming weights of unit j (what a max-norm
constraint bounds). See ``docs/nn.md``.
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg.checks import check_float_dtype, check_int
from minireg.nn import init
from minireg.nn.module import Module, Parameter


def check_input_dtype(x, weight, layer):
    """Raise a clear error when a floating-point input and the weights differ in dtype
    (minireg never promotes silently: a float32 model stays float32)."""
    if x.dtype.kind == "f" and x.dtype != weight.dtype:
        raise TypeError(
            f"{layer} has {weight.dtype} weights but got a {x.dtype} input; convert the input "
            f"with x.astype(np.{weight.dtype}) or the model with model.to(np.{x.dtype})"
        )


def _check_input(x, layer, ndim, meaning, size=None):
    """Raise a clear error when ``x`` does not have ``ndim`` axes or the feature size."""
    if x.ndim != ndim:
        raise ValueError(f"{layer} expects input of shape {meaning}, got shape {x.shape}")
    if size is not None and x.shape[1] != size:
        raise ValueError(f"{layer} expects {size} features on axis 1, got input of shape {x.shape}")


class Linear(Module):
    """Affine map y = x W + b with W of shape (in_features, out_features).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Add the bias b (kind ``"bias"``, initialized to 0).
    rng : numpy.random.Generator, int or None
        Source of the initial weights (He uniform, fan_in; see :mod:`minireg.nn.init`).
    dtype : float dtype
        float32 (default) or float64.

    Input (N, in_features) -> output (N, out_features).
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.out_features = check_int(out_features, "out_features", minimum=1)
        dtype = check_float_dtype(dtype, "dtype")
        shape = (self.in_features, self.out_features)
        self.weight = Parameter(init.kaiming_uniform(shape, init.make_rng(rng), dtype=dtype), kind="weight")
        self.bias = Parameter(init.zeros(self.out_features, dtype), kind="bias") if bias else None

    def forward(self, x):
        x = F.as_tensor(x)
        _check_input(x, "Linear", 2, "(N, in_features)", self.in_features)
        check_input_dtype(x, self.weight, "Linear")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Maxout(Module):
    """Maxout units (Goodfellow et al., 2013): each output is the max of k affine pieces.

    h_j(x) = max_{p = 1..k} (x W_{:, (j, p)} + b_{(j, p)})

    The weight is stored (in_features, out_features * pieces), column ``j * pieces + p``
    being piece p of unit j, so the k pieces of every unit come from one matrix
    product and a row is still one input feature.

    Parameters
    ----------
    in_features, out_features : int
    pieces : int
        k >= 1 affine pieces per unit.
    bias, rng, dtype
        As in :class:`Linear`.
    """

    def __init__(self, in_features, out_features, pieces, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.out_features = check_int(out_features, "out_features", minimum=1)
        self.pieces = check_int(pieces, "pieces", minimum=1)
        dtype = check_float_dtype(dtype, "dtype")
        shape = (self.in_features, self.out_features * self.pieces)
        self.weight = Parameter(init.kaiming_uniform(shape, init.make_rng(rng), dtype=dtype), kind="weight")
        self.bias = Parameter(init.zeros(shape[1], dtype), kind="bias") if bias else None

    def forward(self, x):
        x = F.as_tensor(x)
        _check_input(x, "Maxout", 2, "(N, in_features)", self.in_features)
        check_input_dtype(x, self.weight, "Maxout")
        z = x @ self.weight
        if self.bias is not None:
            z = z + self.bias
        z = F.reshape(z, (x.shape[0], self.out_features, self.pieces))
        return F.max(z, axis=2)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


class Flatten(Module):
    """Collapse every axis from ``start_axis`` on: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_axis=1):
        super().__init__()
        self.start_axis = check_int(start_axis, "start_axis", minimum=0)

    def forward(self, x):
        x = F.as_tensor(x)
        if x.ndim < self.start_axis:
            raise ValueError(f"Flatten(start_axis={self.start_axis}) got an input of shape {x.shape}")
        return F.reshape(x, x.shape[: self.start_axis] + (-1,))

    def extra_repr(self):
        return f"start_axis={self.start_axis}"


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x):
        return F.relu(x)


class Tanh(Module):
    """Hyperbolic tangent, elementwise."""

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    """Logistic sigmoid 1 / (1 + e^-x), elementwise."""

    def forward(self, x):
        return F.sigmoid(x)


class Residual(Module):
    """A residual connection: y = body(x) + shortcut(x) (He et al., 2016).

    Parameters
    ----------
    body : Module
        The residual branch, e.g. ``Sequential(Linear(d, d), ReLU(), Linear(d, d))``.
    shortcut : Module or None
        The skip path: the identity when None, or a module (such as a Linear or a 1x1
        Conv2d) that maps x to the shape of ``body(x)``.
    """

    def __init__(self, body, shortcut=None):
        super().__init__()
        if not isinstance(body, Module):
            raise TypeError(f"Residual(body=...) must be a Module, got {type(body).__name__}")
        if shortcut is not None and not isinstance(shortcut, Module):
            raise TypeError(f"Residual(shortcut=...) must be a Module or None, got {type(shortcut).__name__}")
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        x = F.as_tensor(x)
        branch = self.body(x)
        skip = x if self.shortcut is None else self.shortcut(x)
        if branch.shape != skip.shape:
            raise ValueError(
                f"Residual: body(x) has shape {branch.shape} but the shortcut gives {skip.shape}; "
                "pass a shortcut module that maps x to the body's output shape"
            )
        return branch + skip
