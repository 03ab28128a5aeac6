"""Initial values for weights.

Every function returns a new NumPy array of the requested ``shape`` and ``dtype``;
the random ones draw from the ``numpy.random.Generator`` passed in, so that a seed
reproduces a model exactly.

Fans
----
Weights are stored (in, out) for dense layers and (in, out, kh, kw) for convolutions,
so :func:`compute_fans` reads

* ``fan_in  = shape[0] * kh * kw`` -- the number of inputs a unit sums over,
* ``fan_out = shape[1] * kh * kw`` -- the number of units an input feeds,

(with ``kh * kw = 1`` for a dense weight).

Schemes
-------
* Glorot / Xavier (Glorot & Bengio, 2010): keeps the variance of activations and of
  gradients roughly constant across layers of a linear (or tanh, near 0) network;
  Var[w] = 2 / (fan_in + fan_out). The uniform version draws from
  U(-sqrt(6 / (fan_in + fan_out)), +sqrt(6 / (fan_in + fan_out))), the "normalized
  initialization" of Deep Learning, eq. 8.23.
* He / Kaiming (He et al., 2015): a ReLU zeroes half of its inputs, so the variance
  must be twice as large to keep the activations' scale: Var[w] = 2 / fan_in.

Both take a ``gain`` (see :func:`calculate_gain`) that multiplies the standard
deviation: 1 for linear and sigmoid units, 5/3 for tanh, sqrt(2) for ReLU.

Defaults of the layers
----------------------
Linear, Conv2d and Maxout draw their weights with :func:`kaiming_uniform`
(fan_in, ReLU gain): ReLU is the hidden unit of most models in this project, and
He et al. derived the scale for it. Biases start at zero (the usual choice, which
keeps every unit's initial output centred; symmetry is already broken by the random
weights). BatchNorm's scale starts at one and its shift at zero, so that a fresh
layer just standardizes. Pass another array through the layer's ``weight.data`` to
use another scheme.
"""
from __future__ import annotations

import math

import numpy as np

from minireg.checks import check_float_dtype, check_number

_GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}


def _check_shape(shape):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(shape)
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ValueError(f"shape must be a tuple of non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got {type(rng).__name__}"
        )
    return rng


def compute_fans(shape) -> tuple:
    """``(fan_in, fan_out)`` of a weight of shape (in, out) or (in, out, kh, kw, ...).

    Raises ValueError for shapes with fewer than two axes (a bias has no fans).
    """
    shape = _check_shape(shape)
    if len(shape) < 2:
        raise ValueError(
            f"fans are defined for weights of shape (in, out) or (in, out, kh, kw); got shape {shape}"
        )
    receptive_field = int(np.prod(shape[2:], dtype=np.int64))
    return shape[0] * receptive_field, shape[1] * receptive_field


def calculate_gain(nonlinearity: str) -> float:
    """The recommended gain for ``nonlinearity`` in {"linear", "sigmoid", "tanh", "relu"}."""
    if nonlinearity not in _GAINS:
        raise ValueError(f"nonlinearity must be one of {sorted(_GAINS)}, got {nonlinearity!r}")
    return _GAINS[nonlinearity]


def _fan(shape, mode):
    """fan_in, fan_out, or (mode "fan_in + fan_out", Glorot's) their sum; never zero."""
    fan_in, fan_out = compute_fans(shape)
    if mode == "fan_in":
        fan = fan_in
    elif mode == "fan_out":
        fan = fan_out
    elif mode == "fan_in + fan_out":
        fan = fan_in + fan_out
    else:
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    if fan == 0:
        raise ValueError(f"cannot initialize a weight of shape {shape}: its {mode} is zero")
    return fan


# ---- constants ------------------------------------------------------------------------------


def zeros(shape, dtype=np.float32) -> np.ndarray:
    """All zeros (biases, batch-norm shift)."""
    return np.zeros(_check_shape(shape), dtype=check_float_dtype(dtype, "dtype"))


def ones(shape, dtype=np.float32) -> np.ndarray:
    """All ones (batch-norm scale)."""
    return np.ones(_check_shape(shape), dtype=check_float_dtype(dtype, "dtype"))


# ---- plain distributions ----------------------------------------------------------------------


def normal(shape, rng, mean=0.0, std=1.0, dtype=np.float32) -> np.ndarray:
    """Independent draws from N(mean, std^2)."""
    mean, std = check_number(mean, "mean"), check_number(std, "std", minimum=0.0)
    values = _check_rng(rng).normal(mean, std, size=_check_shape(shape))
    return values.astype(check_float_dtype(dtype, "dtype"))


def uniform(shape, rng, low=0.0, high=1.0, dtype=np.float32) -> np.ndarray:
    """Independent draws from U(low, high)."""
    low, high = check_number(low, "low"), check_number(high, "high")
    if not low <= high:
        raise ValueError(f"uniform needs low <= high, got low={low}, high={high}")
    values = _check_rng(rng).uniform(low, high, size=_check_shape(shape))
    return values.astype(check_float_dtype(dtype, "dtype"))


# ---- Glorot / Xavier ----------------------------------------------------------------------------


def xavier_uniform(shape, rng, gain=1.0, dtype=np.float32) -> np.ndarray:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010;
    Deep Learning, eq. 8.23)."""
    bound = check_number(gain, "gain", minimum=0.0) * math.sqrt(6.0 / _fan(shape, "fan_in + fan_out"))
    return uniform(shape, rng, -bound, bound, dtype)


def xavier_normal(shape, rng, gain=1.0, dtype=np.float32) -> np.ndarray:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    std = check_number(gain, "gain", minimum=0.0) * math.sqrt(2.0 / _fan(shape, "fan_in + fan_out"))
    return normal(shape, rng, 0.0, std, dtype)


glorot_uniform = xavier_uniform
glorot_normal = xavier_normal


# ---- He / Kaiming --------------------------------------------------------------------------------


def kaiming_uniform(shape, rng, mode="fan_in", nonlinearity="relu", dtype=np.float32) -> np.ndarray:
    """U(-a, a) with a = gain * sqrt(3 / fan), so that Var[w] = gain^2 / fan (He et al. 2015).

    ``mode="fan_in"`` keeps the scale of the forward activations, ``"fan_out"`` that
    of the backward gradients.
    """
    bound = calculate_gain(nonlinearity) * math.sqrt(3.0 / _fan(shape, mode))
    return uniform(shape, rng, -bound, bound, dtype)


def kaiming_normal(shape, rng, mode="fan_in", nonlinearity="relu", dtype=np.float32) -> np.ndarray:
    """N(0, std^2) with std = gain / sqrt(fan) (He et al. 2015)."""
    std = calculate_gain(nonlinearity) / math.sqrt(_fan(shape, mode))
    return normal(shape, rng, 0.0, std, dtype)


he_uniform = kaiming_uniform
he_normal = kaiming_normal


def make_rng(rng) -> np.random.Generator:
    """The Generator a layer draws its initial weights from.

    ``rng`` may be a Generator (used as is), an int seed, or None (fresh entropy from
    the operating system: a different model each time).
    """
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    return _check_rng(rng)
