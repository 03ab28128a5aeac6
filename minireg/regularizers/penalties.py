"""Penalties on the loss (place 3 of the step): :math:`\\tilde J = J + \\alpha\\,\\Omega(\\theta)`.

Each class here returns, from its ``penalty(step)`` hook, a scalar Tensor built from the
parameters, which the trainer adds to the data loss before ``backward`` (Deep Learning,
eq. 7.2; published eq. 7.1). Autograd then differentiates it, so the gradient is the
chapter's closed form: :math:`\\alpha w` for L2 (eq. 7.3), :math:`\\alpha\\,\\mathrm{sign}(w)`
for L1 (eq. 7.10).

Which parameters are penalized is the ``params`` argument of each class (see
:func:`minireg.regularizers.base.select_parameters`): the weights by default, so that
the offsets stay unregularized (Deep Learning 7.2; published 7.1), a list of
parameters, or a coefficient per layer, ``{"layers.0": 1.0, "layers.2": 0.1}``, which
multiplies :math:`\\alpha` for that layer.

Section numbers are those of the draft chapter in ``shared/references``, with the
published book's beside them.
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg.checks import check_number
from minireg.regularizers.base import Regularizer
from minireg.tensor import Tensor


def _check_alpha(alpha, name="alpha"):
    return check_number(alpha, name, minimum=0.0)


class L2(Regularizer):
    r"""L2 parameter regularization, *weight decay*, towards the origin or a reference point.

    .. math::

        \alpha\,\Omega(\theta) = \frac{\alpha}{2} \sum_l c_l\, \lVert w_l - w_l^{(o)} \rVert_2^2

    Deep Learning 7.2.1 (published 7.1.1), eqs. 7.2-7.3: the gradient adds
    :math:`\alpha (w - w^{(o)})`, so a plain SGD step first shrinks the weights,
    :math:`w \leftarrow (1 - \epsilon\alpha) w - \epsilon \nabla_w J` (the update
    after eq. 7.3). The chapter's footnote 2 notes that any fixed point :math:`w^{(o)}` can take the origin's
    place, such as the weights of a model trained before (a pretrained network whose
    knowledge the new training should keep).

    Parameters
    ----------
    alpha : float
        :math:`\alpha \ge 0`.
    params : None, "all", list of Parameters, or dict
        The penalized parameters and a coefficient :math:`c_l` per layer
        (:func:`~minireg.regularizers.base.select_parameters`); the weights by default.
    reference : Module, dict or None
        :math:`w^{(o)}`: a model with parameters of the same names and shapes (a saved
        model loaded with ``Module.load``), or ``{parameter name: array}``. The values are
        copied when the trainer is built. ``None``: the origin.
    """

    def __init__(self, alpha, params=None, reference=None):
        self.alpha = _check_alpha(alpha)
        self.params = params
        if reference is not None and not isinstance(reference, dict) and not hasattr(reference, "named_parameters"):
            raise TypeError(f"reference must be None, a Module or a dict {{parameter name: array}}, "
                            f"got {type(reference).__name__}")
        self.reference = reference

    def attach(self, model):
        super().attach(model)
        self.points = None
        if self.reference is None:
            return
        given = (dict(self.reference) if isinstance(self.reference, dict)
                 else {name: p.data for name, p in self.reference.named_parameters()})
        self.points = []
        for name, p, _ in self.selected:
            if name not in given:
                raise ValueError(f"reference has no parameter {name!r}; it has {sorted(given)}")
            point = np.asarray(given[name])
            if point.shape != p.shape:
                raise ValueError(f"reference[{name!r}] has shape {point.shape}, but the parameter has {p.shape}")
            if not np.isfinite(point).all():
                raise ValueError(f"reference[{name!r}] has NaN or infinite values")
            self.points.append(Tensor(point.astype(p.dtype, copy=True)))

    def penalty(self, step):
        total = None
        for index, (_, w, c) in enumerate(self.selected):
            d = w if self.points is None else w - self.points[index]
            term = (0.5 * self.alpha * c) * (d * d).sum()
            total = term if total is None else total + term
        return total

    def __repr__(self):
        return f"L2(alpha={self.alpha}{', reference=...' if self.reference is not None else ''})"


class L1(Regularizer):
    r"""L1 regularization: :math:`\alpha\,\Omega(\theta) = \alpha \sum_l c_l \lVert w_l \rVert_1`.

    Deep Learning 7.2.2 (published 7.1.2), eqs. 7.9-7.10. Its gradient is the
    subgradient :math:`\alpha\,\mathrm{sign}(w)`, with sign(0) = 0: a gradient step
    moves every weight by the same amount towards zero, but rarely lands *on* zero, so
    the weights become small, not exactly zero. For exact zeros -- a sparse solution, as
    in the analytic solution of 7.2.2 under a diagonal Hessian -- use the proximal step
    of L1 (soft thresholding, ``minireg.regularizers.proximal.prox_l1``) instead.

    Parameters
    ----------
    alpha : float
        :math:`\alpha \ge 0`.
    params : None, "all", list of Parameters, or dict
        As for :class:`L2`; the weights by default.
    """

    def __init__(self, alpha, params=None):
        self.alpha = _check_alpha(alpha)
        self.params = params

    def penalty(self, step):
        total = None
        for _, w, c in self.selected:
            term = (self.alpha * c) * F.abs(w).sum()
            total = term if total is None else total + term
        return total

    def __repr__(self):
        return f"L1(alpha={self.alpha})"


class ParameterTying(Regularizer):
    r"""Keep pairs of parameters close: :math:`\alpha \sum_k \lVert w_k^{(A)} - w_k^{(B)} \rVert_2^2`.

    Deep Learning 7.8 (published 7.9), the penalty
    :math:`\Omega(w^{(a)}, w^{(b)}) = \lVert w^{(a)} - w^{(b)} \rVert_2^2`: two models for
    related tasks whose parameters should be close to each other (Lasserre et al. 2006). Both members of a
    pair receive a gradient; a member that the optimizer does not update (a parameter of
    a fixed model) acts as a moving reference point.

    Parameters
    ----------
    alpha : float
        :math:`\alpha \ge 0`.
    pairs : list of (Tensor, Tensor)
        The pairs :math:`(w^{(A)}_k, w^{(B)}_k)`, of equal shapes; the first of each
        pair must be a parameter of the trained model (two layers of one model, or a
        layer of it and one of another model).

    See :meth:`between` for the weights of two models of the same architecture.
    """

    def __init__(self, alpha, pairs):
        self.alpha = _check_alpha(alpha)
        self.pairs = list(pairs)
        if not self.pairs:
            raise ValueError("pairs must hold at least one (w_A, w_B) pair")
        for index, pair in enumerate(self.pairs):
            if len(pair) != 2 or not all(isinstance(t, Tensor) for t in pair):
                raise TypeError(f"pairs[{index}] must be a pair of Tensors (parameters)")
            if pair[0].shape != pair[1].shape:
                raise ValueError(f"pairs[{index}] holds parameters of shapes {pair[0].shape} and {pair[1].shape}")
            if pair[0] is pair[1]:
                raise ValueError(f"pairs[{index}] pairs a parameter with itself")

    @classmethod
    def between(cls, alpha, model_a, model_b):
        """Tie each weight of ``model_a`` to the weight of the same name in ``model_b``."""
        weights_b = dict(model_b.named_weights())
        pairs = []
        for name, w in model_a.named_weights():
            if name not in weights_b:
                raise ValueError(f"model_b has no weight named {name!r}; it has {sorted(weights_b)}")
            pairs.append((w, weights_b[name]))
        return cls(alpha, pairs)

    def attach(self, model):
        own = {id(p) for p in model.parameters()}
        for index, (a, _) in enumerate(self.pairs):
            if id(a) not in own:
                raise ValueError(f"pairs[{index}][0] is not a parameter of the trained model")

    def penalty(self, step):
        total = None
        for a, b in self.pairs:
            d = a - b
            term = self.alpha * (d * d).sum()
            total = term if total is None else total + term
        return total

    def __repr__(self):
        return f"ParameterTying(alpha={self.alpha}, {len(self.pairs)} pairs)"
