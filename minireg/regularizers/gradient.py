"""The gradient side (place 4 of the step): regularizers that change ``p.grad`` or
act beside the gradient, after ``backward`` and before ``optimizer.step``.

* :class:`DecoupledWeightDecay` -- weight decay applied apart from the loss's gradient
  (Loshchilov and Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019; AdamW);
* :class:`ClipGradientNorm` -- rescale the gradients when their joint norm exceeds a
  bound (Deep Learning 10.11.1 discusses clipping; with a high learning rate it keeps
  one large gradient from throwing the parameters far away).
"""
from __future__ import annotations

import numpy as np

from minireg.checks import check_number
from minireg.regularizers.base import Regularizer


class DecoupledWeightDecay(Regularizer):
    r"""Shrink the parameters directly: :math:`w \leftarrow w - \eta\,\lambda\,w`, then step.

    With plain SGD this equals the L2 penalty :math:`\frac{\lambda}{2}\lVert w\rVert^2`
    (Deep Learning eq. 7.3 and the update after it). With an adaptive optimizer it does not: Adam divides an L2
    gradient by :math:`\sqrt{\hat v}` like any other gradient, so weights with large
    gradients are decayed less. Decoupling applies the same relative shrinkage to every
    weight, which is what ``torch.optim.AdamW`` does (decay first, then the Adam update).

    Parameters
    ----------
    weight_decay : float
        :math:`\lambda \ge 0`, multiplied by the learning rate :math:`\eta` of the step.
    params : None, "all", list of Parameters, or dict
        The decayed parameters, with a coefficient per layer; the weights by default.
    """

    def __init__(self, weight_decay, params=None):
        self.weight_decay = check_number(weight_decay, "weight_decay", minimum=0.0)
        self.params = params

    def transform_gradients(self, step):
        for _, w, c in self.selected:
            factor = 1.0 - step.lr * self.weight_decay * c
            w.data *= w.data.dtype.type(factor)
            w._bump_version()

    def __repr__(self):
        return f"DecoupledWeightDecay(weight_decay={self.weight_decay})"


class ClipGradientNorm(Regularizer):
    r"""Rescale the gradients so that their joint L2 norm is at most ``max_norm``.

    .. math::

        g \leftarrow g \cdot \min\left(1, \frac{c}{\lVert g \rVert_2 + 10^{-6}}\right)

    where :math:`\lVert g \rVert_2` is the norm of all the selected gradients taken as
    one vector; the :math:`10^{-6}` keeps the division finite and is the value
    ``torch.nn.utils.clip_grad_norm_`` uses, so that both give the same numbers. The
    direction of the step is kept; only its length is bounded.

    Parameters
    ----------
    max_norm : float
        :math:`c > 0`.
    params : "all" (default), None, list of Parameters, or dict
        The gradients clipped together: every parameter by default (``None`` would mean
        the weights only).
    """

    def __init__(self, max_norm, params="all"):
        self.max_norm = check_number(max_norm, "max_norm", minimum=0.0, include_minimum=False)
        self.params = params

    def transform_gradients(self, step):
        grads = [p.grad.data for _, p, _ in self.selected if p.grad is not None]
        norm = float(np.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads)))
        self.last_norm = norm
        scale = self.max_norm / (norm + 1e-6)
        if scale < 1.0:
            for g in grads:
                g *= g.dtype.type(scale)

    def __repr__(self):
        return f"ClipGradientNorm(max_norm={self.max_norm})"
