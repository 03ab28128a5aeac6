"""Constraints after the step (place 5): project the parameters back into a set.

Deep Learning 7.3 (published 7.2): instead of a penalty, take a step downhill on
:math:`J` and then project :math:`\\theta` back to the nearest point that satisfies
:math:`\\Omega(\\theta) < k`. Explicit constraints with reprojection do not push weights
towards the origin when they are inside the set (a penalty always does), and they keep
a high learning rate from growing the weights in a feedback loop.

* :class:`MaxNorm` -- each unit's incoming weight vector in a ball of radius c
  (Srebro and Shraibman 2005; Hinton et al. 2012, used with dropout);
* :class:`NormBall` -- a whole parameter in a ball of radius c.
"""
from __future__ import annotations

import numpy as np

from minireg.checks import check_number
from minireg.regularizers.base import Regularizer


def unit_norms(weight: np.ndarray) -> np.ndarray:
    """The L2 norm of each unit's incoming weights, shaped to broadcast against ``weight``.

    minireg stores a dense weight (in, out): unit j's incoming vector is column j. A
    convolution weight is (in, out, kh, kw): output channel o's filter is
    ``weight[:, o, :, :]``.
    """
    if weight.ndim == 2:
        axes = (0,)
    elif weight.ndim == 4:
        axes = (0, 2, 3)
    else:
        raise ValueError(f"max-norm needs a dense (in, out) or conv (in, out, kh, kw) weight, "
                         f"got shape {weight.shape}")
    return np.sqrt(np.sum(np.square(weight), axis=axes, keepdims=True))


def _shrink_to(array: np.ndarray, norms: np.ndarray, radius: float) -> None:
    """Scale, in place, the parts of ``array`` whose norm exceeds ``radius`` onto the sphere."""
    factor = np.minimum(1.0, radius / np.maximum(norms, np.finfo(array.dtype).tiny))
    array *= factor.astype(array.dtype, copy=False)


class MaxNorm(Regularizer):
    r"""Max-norm: :math:`\lVert w_{:,j} \rVert_2 \le c` for every unit :math:`j`, after each step.

    Each unit's incoming vector (a column of a dense weight, a filter of a conv
    weight) that leaves the ball of radius :math:`c` is scaled back onto it; vectors
    inside are left unchanged. Srivastava et al. (2014) combine it with dropout for
    the best result of their MNIST table (the lecture's slide: 1.05 % error).

    Parameters
    ----------
    max_norm : float
        :math:`c > 0`.
    params : None, list of Parameters, or dict
        The constrained weights (dense or conv); the weights by default. A per-layer
        coefficient multiplies :math:`c` for that layer.
    """

    def __init__(self, max_norm, params=None):
        self.max_norm = check_number(max_norm, "max_norm", minimum=0.0, include_minimum=False)
        self.params = params

    def attach(self, model):
        super().attach(model)
        for name, w, c in self.selected:
            if w.ndim not in (2, 4):
                raise ValueError(f"MaxNorm constrains dense or conv weights; {name!r} has shape {w.shape}")
            if c <= 0:
                raise ValueError(f"MaxNorm: the coefficient of {name!r} must be > 0 (a radius), got {c}")

    def after_step(self, step):
        for _, w, c in self.selected:
            _shrink_to(w.data, unit_norms(w.data), self.max_norm * c)
            w._bump_version()

    def __repr__(self):
        return f"MaxNorm(max_norm={self.max_norm})"


class NormBall(Regularizer):
    r"""Reproject each parameter onto :math:`\{w : \lVert w \rVert_2 \le c\}` after each step.

    The explicit constraint of Deep Learning 7.3 (published 7.2) with
    :math:`\Omega = \lVert\cdot\rVert_2` taken over the whole parameter: the projection
    is :math:`w \leftarrow w \min(1, c / \lVert w \rVert_2)`.

    Parameters
    ----------
    radius : float
        :math:`c > 0`.
    params : None, "all", list of Parameters, or dict
        The constrained parameters; a per-layer coefficient multiplies the radius.
    """

    def __init__(self, radius, params=None):
        self.radius = check_number(radius, "radius", minimum=0.0, include_minimum=False)
        self.params = params

    def attach(self, model):
        super().attach(model)
        for name, _, c in self.selected:
            if c <= 0:
                raise ValueError(f"NormBall: the coefficient of {name!r} must be > 0 (a radius), got {c}")

    def after_step(self, step):
        """Project each parameter in place onto the ball of radius c_l times ``radius``:
        w ← w min(1, c / ||w||₂) (Deep Learning 7.3, published 7.2)."""
        for _, w, c in self.selected:
            _shrink_to(w.data, np.linalg.norm(w.data.ravel()), self.radius * c)
            w._bump_version()

    def __repr__(self):
        return f"NormBall(radius={self.radius})"
