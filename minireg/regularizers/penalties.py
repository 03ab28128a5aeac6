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
from minireg.checks import check_choice, check_number, check_probability
from minireg.regularizers.base import Regularizer
from minireg.tensor import Tensor, grad, is_grad_enabled


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
        """α Ω(θ) = α/2 Σ_l c_l ||w_l - w_l^(o)||² (eq. 7.2; the origin when no reference),
        a scalar Tensor that autograd differentiates."""
        total = None
        for index, (_, w, c) in enumerate(self.selected):
            d = w if self.points is None else w - self.points[index]
            term = (0.5 * self.alpha * c) * F.squared_norm(d)
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
        """α Ω(θ) = α Σ_l c_l ||w_l||₁ (eq. 7.9), a scalar Tensor that autograd differentiates."""
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


# --------------------------------------------------------------------------------------
# Penalties on a layer's activations: Deep Learning 7.9 (published 7.10), eq. 7.29
# --------------------------------------------------------------------------------------


class ActivationPenalty(Regularizer):
    r"""Base of the penalties on a representation :math:`h`: :math:`\tilde J = J + \alpha\,\Omega(h)`.

    Deep Learning 7.9 (published 7.10), eq. 7.29. The layer is named as in
    ``model.named_modules()`` (``"layers.1"``); the penalty reads its output through a
    forward hook (:meth:`minireg.nn.Module.register_forward_hook`), so the model is used
    as it is. :math:`\Omega` is averaged over the examples of the batch, as the data
    loss is. A subclass defines :meth:`omega`, which maps the layer's output (N, ...) to
    a scalar Tensor.

    Parameters
    ----------
    alpha : float
        :math:`\alpha \ge 0`.
    layer : str
        The name of the module whose output is :math:`h`.
    """

    def __init__(self, alpha, layer):
        self.alpha = _check_alpha(alpha)
        if not isinstance(layer, str):
            raise TypeError(f"layer must be a module's name as in model.named_modules(), got {layer!r}")
        self.layer = layer
        self._handle = None
        self._output = None

    def attach(self, model):
        modules = dict(model.named_modules())
        if self.layer not in modules or self.layer == "":
            raise ValueError(f"layer={self.layer!r} is not a module of the model; its modules are "
                             f"{[name for name in modules if name]}")
        if self._handle is not None:          # attached to an earlier trainer
            self._handle.remove()
        self._handle = modules[self.layer].register_forward_hook(self._keep)

    def _keep(self, module, inputs, output):
        if module.training and is_grad_enabled():
            self._output = output

    def penalty(self, step):
        h, self._output = self._output, None
        if h is None:
            raise RuntimeError(f"{type(self).__name__}: the layer {self.layer!r} did not run in training mode "
                               "in this step's forward pass")
        return self.alpha * self.omega(h)

    def omega(self, h):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(alpha={self.alpha}, layer={self.layer!r})"


class ActivationL1(ActivationPenalty):
    r""":math:`\Omega(h) = \lVert h \rVert_1 = \sum_i |h_i|` (Deep Learning 7.9, published 7.10, after eq. 7.29):
    an L1 penalty on the representation induces *representational* sparsity, many
    units exactly or nearly zero for each example."""

    def omega(self, h):
        n = h.shape[0]
        return F.abs(h).sum() / n


class ActivationL2(ActivationPenalty):
    r""":math:`\Omega(h) = \tfrac12 \lVert h \rVert_2^2`: small activations, without sparsity."""

    def omega(self, h):
        n = h.shape[0]
        return F.squared_norm(h) * (0.5 / n)


class StudentTPenalty(ActivationPenalty):
    r""":math:`\Omega(h) = \sum_i \log(1 + h_i^2 / s^2)`, the negative log of a Student-t prior
    on each unit (up to constants; Olshausen and Field 1996, Bergstra 2011; Deep Learning
    7.9, published 7.10). It grows only logarithmically, so a few large activations cost little while
    many small ones are pushed to zero: a sparsity penalty heavier-tailed than L1.

    Parameters
    ----------
    alpha : float
    layer : str
    scale : float
        :math:`s > 0`, the activation size at which the penalty bends.
    """

    def __init__(self, alpha, layer, scale=1.0):
        super().__init__(alpha, layer)
        self.scale = check_number(scale, "scale", minimum=0.0, include_minimum=False)

    def omega(self, h):
        n = h.shape[0]
        return F.log1p((h * h) * (1.0 / self.scale ** 2)).sum() / n


class KLSparsity(ActivationPenalty):
    r"""KL divergence sparsity for units in (0, 1): :math:`\Omega(h) = \sum_j \mathrm{KL}(\rho \,\Vert\, \hat\rho_j)`.

    .. math::

        \hat\rho_j = \frac1N \sum_n h_{nj}, \qquad
        \mathrm{KL}(\rho \Vert \hat\rho_j) = \rho \log\frac{\rho}{\hat\rho_j}
        + (1 - \rho) \log\frac{1 - \rho}{1 - \hat\rho_j}

    Each unit's mean activation over the batch is pulled towards the target rate
    :math:`\rho` (Lee et al. 2008; Larochelle and Bengio 2008; Deep Learning 7.9, published 7.10: for
    representations "constrained to lie on the unit interval", such as sigmoid units).
    The lecture's dropout table lists it at 1.55 % MNIST error.

    Parameters
    ----------
    alpha : float
    layer : str
        A layer whose outputs lie in [0, 1] (a sigmoid, say); other values are refused.
    rho : float
        The target mean activation, in (0, 1).
    """

    def __init__(self, alpha, layer, rho):
        super().__init__(alpha, layer)
        self.rho = check_probability(rho, "rho", include_zero=False, include_one=False)

    def omega(self, h):
        values = h.data
        if values.min() < 0 or values.max() > 1:
            raise ValueError(f"KLSparsity needs the outputs of layer {self.layer!r} in [0, 1] (sigmoid units); "
                             f"they range from {values.min():.4g} to {values.max():.4g}")
        rho = self.rho
        rate = F.minimum(F.maximum(h.mean(axis=0), 1e-7), 1 - 1e-7)     # log stays finite
        return (rho * F.log(rho / rate) + (1 - rho) * F.log((1 - rho) / (1 - rate))).sum()

    def __repr__(self):
        return f"KLSparsity(alpha={self.alpha}, layer={self.layer!r}, rho={self.rho})"


# --------------------------------------------------------------------------------------
# Penalties on gradients, by double backpropagation: Deep Learning 7.6 (published 7.5)
# --------------------------------------------------------------------------------------


def _output_cotangents(outputs, k: int) -> np.ndarray:
    """The one-hot cotangent that selects output column ``k`` of every example."""
    cotangent = np.zeros(outputs.shape, dtype=outputs.dtype)
    cotangent.reshape(outputs.shape[0], -1)[:, k] = 1
    return cotangent


class InputGradientPenalty(Regularizer):
    r"""The input-gradient penalty :math:`\nu\, \mathbb E\, \lVert \nabla_x \hat y(x) \rVert^2`.

    The last term of Deep Learning eq. 7.17 (7.6.1; published 7.5): to second order,
    training with small Gaussian noise of variance :math:`\nu` on the inputs adds this
    penalty, which makes the function flat around the training examples. It is computed
    by double backpropagation: the gradient with respect to the inputs is itself built
    in the graph (``create_graph=True``), and ``backward`` differentiates its norm.

    For a model with K outputs, :math:`\lVert \nabla_x \hat y \rVert^2` is the squared
    Frobenius norm of the Jacobian, :math:`\sum_k \lVert \nabla_x \hat y_k \rVert^2`: K
    backward passes (``of="outputs"``). ``of="loss"`` penalizes
    :math:`\lVert \nabla_x \ell(x, y) \rVert^2` instead, the gradient of each example's
    loss (Drucker and LeCun 1992), with one pass.

    Both read each example's gradient off one batch gradient, which assumes that an
    example's outputs depend on its own inputs only (no batch normalization in training
    mode) and, for ``of="loss"``, that the loss is the batch mean.

    Parameters
    ----------
    nu : float
        :math:`\nu \ge 0`.
    of : {"outputs", "loss"}
    """

    needs_input_grad = True

    def __init__(self, nu, of="outputs"):
        self.nu = check_number(nu, "nu", minimum=0.0)
        self.of = check_choice(of, "of", ("outputs", "loss"))

    def penalty(self, step):
        x, outputs = step.inputs, step.outputs
        n = x.shape[0]
        if self.of == "loss":
            g = grad(step.data_loss, [x], create_graph=True)[0]
            return (self.nu * n) * (g * g).sum()        # ∇ of the mean is each ∇ℓ_n / n
        total = None
        for k in range(int(np.prod(outputs.shape[1:]))):
            g = grad(outputs, [x], gradient=_output_cotangents(outputs, k), create_graph=True)[0]
            term = (g * g).sum()
            total = term if total is None else total + term
        return (self.nu / n) * total

    def __repr__(self):
        return f"InputGradientPenalty(nu={self.nu}, of={self.of!r})"


class WeightGradientPenalty(Regularizer):
    r"""The weight-gradient penalty :math:`\nu\, \mathbb E\, \lVert \nabla_W \hat y(x) \rVert^2`.

    The last term of Deep Learning eq. 7.22 (7.6.2; published 7.5.1): to second order,
    noise of variance :math:`\nu` on the weights adds this penalty, which prefers
    parameters where small perturbations of the weights change the output little -- flat
    minima (Hochreiter and Schmidhuber 1995). By double backpropagation.

    Unlike the input gradient, each example's gradient with respect to the weights is
    not part of the batch gradient (that is their sum), so the expectation over
    examples needs one backward pass per example and output:

    * ``estimator="exact"``: N·K passes (for small batches, and for tests);
    * ``estimator="rademacher"``: one pass, with random signs
      :math:`v_{nk} \in \{\pm 1\}` drawn from the trainer's generator:
      :math:`\mathbb E_v \lVert \nabla_W \sum_{nk} v_{nk} \hat y_{nk} \rVert^2
      = \sum_{nk} \lVert \nabla_W \hat y_{nk} \rVert^2`, since the cross terms have
      mean zero. Unbiased, with its own variance, at the cost of one double backward.

    Parameters
    ----------
    nu : float
        :math:`\nu \ge 0`.
    params : None, "all", list of Parameters, or dict
        :math:`W`: the weights by default; a per-layer coefficient weights each
        parameter's part of the norm.
    estimator : {"rademacher", "exact"}
    """

    def __init__(self, nu, params=None, estimator="rademacher"):
        self.nu = check_number(nu, "nu", minimum=0.0)
        self.params = params
        self.estimator = check_choice(estimator, "estimator", ("rademacher", "exact"))

    def _squared_norm(self, outputs, cotangent):
        weights = [w for _, w, _ in self.selected]
        grads = grad(outputs, weights, gradient=cotangent, create_graph=True, allow_unused=True)
        total = None
        for g, (_, _, c) in zip(grads, self.selected):
            if g is not None:
                term = c * (g * g).sum()
                total = term if total is None else total + term
        return total

    def penalty(self, step):
        outputs = step.outputs
        n = outputs.shape[0]
        if self.estimator == "rademacher":
            signs = step.rng.integers(0, 2, size=outputs.shape) * 2 - 1
            return (self.nu / n) * self._squared_norm(outputs, signs.astype(outputs.dtype))
        total = None
        flat = outputs.data.reshape(n, -1)
        for example in range(n):
            for k in range(flat.shape[1]):
                cotangent = np.zeros(flat.shape, dtype=outputs.dtype)
                cotangent[example, k] = 1
                term = self._squared_norm(outputs, cotangent.reshape(outputs.shape))
                total = term if total is None else total + term
        return (self.nu / n) * total

    def __repr__(self):
        return f"WeightGradientPenalty(nu={self.nu}, estimator={self.estimator!r})"


# --------------------------------------------------------------------------------------
# Adversarial training: Deep Learning 7.13 (published 7.13); Goodfellow et al. (2015)
# --------------------------------------------------------------------------------------


def _check_clip(clip, name="clip"):
    """``None`` or a pair ``(low, high)`` of finite numbers with ``low < high``, as floats."""
    if clip is None:
        return None
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise ValueError(f"{name} must be None or a pair (low, high) with low < high, got {clip!r}")
    low, high = check_number(clip[0], f"{name}[0]"), check_number(clip[1], f"{name}[1]")
    if not low < high:
        raise ValueError(f"{name} must be None or a pair (low, high) with low < high, got {clip!r}")
    return low, high


def input_gradient(model, loss_fn, x, y) -> np.ndarray:
    r""":math:`\nabla_x J(\theta; x, y)`, the gradient of ``loss_fn(model(x), y)`` with respect to
    the inputs, as an array of ``x``'s shape and the model's dtype.

    One forward and one backward pass in the model's current mode: call ``model.eval()``
    first to attack a trained model as it predicts. With the batch-mean loss, row n is
    :math:`\nabla_{x_n} \ell_n / N`: each example's own gradient, scaled.
    """
    inputs = Tensor(x, requires_grad=True)
    return grad(loss_fn(model(inputs), y), [inputs])[0].data


def fast_gradient_sign(x, gradient, epsilon, clip=(0.0, 1.0)) -> np.ndarray:
    r""":math:`x' = \mathrm{clip}(x + \epsilon\, \mathrm{sign}(g))` for a given gradient :math:`g`:
    the step of :func:`fgsm` once :math:`\nabla_x J` is known. ``x``'s dtype is kept."""
    epsilon = check_number(epsilon, "epsilon", minimum=0.0)
    clip = _check_clip(clip)
    x = np.asarray(x)
    adversarial = x + np.asarray(epsilon, dtype=x.dtype) * np.sign(gradient).astype(x.dtype, copy=False)
    return adversarial if clip is None else np.clip(adversarial, *clip).astype(x.dtype, copy=False)


def fgsm(model, loss_fn, x, y, epsilon, clip=(0.0, 1.0)) -> np.ndarray:
    r"""The fast gradient sign method: adversarial examples for ``model`` on the batch ``(x, y)``.

    .. math::

        x' = \mathrm{clip}_{[a, b]}\big(x + \epsilon\, \mathrm{sign}(\nabla_x J(\theta; x, y))\big)

    Goodfellow, Shlens and Szegedy (2015), "Explaining and harnessing adversarial
    examples", section 4; Deep Learning 7.13 (published 7.13), Fig. 7.7. It is the max-norm
    ball's best step for the linearization of :math:`J` around :math:`x`:
    :math:`\max_{\lVert\eta\rVert_\infty \le \epsilon} \eta^\top \nabla_x J = \epsilon \lVert \nabla_x J \rVert_1`,
    reached at :math:`\eta = \epsilon\,\mathrm{sign}(\nabla_x J)`. So before clipping
    :math:`\lVert x' - x \rVert_\infty = \epsilon` (where the gradient is not zero) and
    :math:`J(x') - J(x) = \epsilon \lVert \nabla_x J \rVert_1 + O(\epsilon^2)`. Clipping to the
    valid pixel range :math:`[a, b]` keeps :math:`x'` an image.

    The gradient is taken in the model's current mode (:func:`input_gradient`); call
    ``model.eval()`` first to attack a trained model as it predicts.

    Parameters
    ----------
    model : Module
    loss_fn : callable
        ``loss_fn(outputs, targets) -> scalar Tensor``, e.g. :func:`minireg.losses.cross_entropy`.
    x : numpy.ndarray
        The inputs, of any shape the model takes (flat vectors, images).
    y : numpy.ndarray
        Their targets.
    epsilon : float
        The max-norm :math:`\epsilon \ge 0` of the perturbation.
    clip : (float, float) or None
        The valid range :math:`[a, b]` of the inputs (``(0, 1)``: MNIST as minireg loads
        it); ``None`` for no clipping.

    Returns
    -------
    numpy.ndarray
        :math:`x'`, of ``x``'s shape and dtype.
    """
    epsilon = check_number(epsilon, "epsilon", minimum=0.0)      # refused before the passes
    clip = _check_clip(clip)
    return fast_gradient_sign(x, input_gradient(model, loss_fn, x, y), epsilon, clip)


class AdversarialTraining(Regularizer):
    r"""Adversarial training with the fast gradient sign method, as a penalty (place 3).

    .. math::

        \tilde J(\theta; x, y) = \alpha J(\theta; x, y) + (1 - \alpha) J(\theta; x', y)
        = J(\theta; x, y) + (1 - \alpha)\,\big[J(\theta; x', y) - J(\theta; x, y)\big],

    with :math:`x'` the fast-gradient-sign example of :func:`fgsm` at the current
    parameters. Goodfellow, Shlens and Szegedy (2015), section 6 (they use
    :math:`\alpha = 0.5` and, on MNIST, :math:`\epsilon = 0.25`); Deep Learning 7.13
    (published 7.13): training on adversarially perturbed examples makes the network
    locally constant around the training data, against its "excessive linearity".

    **Why here.** This class is a penalty -- it lives in this file and nowhere else --
    because :math:`x'` needs :math:`\nabla_x J` on the very batch being trained on, at the
    current parameters: at place 3 the forward pass on :math:`x` is made, the inputs
    require gradients (``needs_input_grad``) and the loss function is at hand (see
    :mod:`minireg.regularizers.base`). Besides the plain step's passes, the step makes a
    backward pass to the inputs (through the graph that is kept), a forward pass on
    :math:`x'` and the backward pass through it: about three plain steps on the 784-300-10
    MLP, as for PyTorch's same step (``benchmarks/bench_regularizers.py``).

    **x' is a constant.** As in Goodfellow et al.'s training, no gradient flows through
    the perturbation: :math:`x'` is a new leaf. Since :math:`\mathrm{sign}` is piecewise
    constant, :math:`\partial x' / \partial \theta = 0` wherever it exists, so the
    parameter gradient is the exact gradient of :math:`\tilde J` as well; what the
    choice changes is the gradient with respect to the inputs, which stays
    :math:`\alpha \nabla_x J(x)` (no :math:`J(x')` term).

    The pass on :math:`x'` is made in training mode, like the one on :math:`x`: dropout
    draws new masks for it, and batch normalization normalizes :math:`x'` by its own
    batch statistics and updates its running averages a second time. The gradient of
    each example is read off the batch gradient, which assumes that an example's
    outputs depend on its own inputs only (no batch normalization in training mode).

    Parameters
    ----------
    epsilon : float
        The max-norm :math:`\epsilon \ge 0` of the perturbation.
    alpha : float
        The weight :math:`\alpha \in [0, 1]` of the clean loss; 1 is plain training.
    clip : (float, float) or None
        The valid input range, ``(0, 1)`` for MNIST as minireg loads it; ``None``: no clipping.
    """

    needs_input_grad = True

    def __init__(self, epsilon, alpha=0.5, clip=(0.0, 1.0)):
        self.epsilon = check_number(epsilon, "epsilon", minimum=0.0)
        self.alpha = check_number(alpha, "alpha", minimum=0.0, maximum=1.0)
        self.clip = _check_clip(clip)

    def penalty(self, step):
        """(1 − α) [J(θ; x', y) − J(θ; x, y)], with x' the FGSM example of the step's batch as a
        constant: added to the step's data loss J(θ; x, y), it gives the objective J̃ above."""
        if self.alpha == 1.0:
            return None
        gradient = grad(step.data_loss, [step.inputs], retain_graph=True)[0].data
        adversarial = Tensor(fast_gradient_sign(step.inputs.data, gradient, self.epsilon, self.clip))
        adversarial_loss = step.loss_fn(step.model(adversarial), step.targets)
        return (1.0 - self.alpha) * (adversarial_loss - step.data_loss)

    def __repr__(self):
        return f"AdversarialTraining(epsilon={self.epsilon}, alpha={self.alpha}, clip={self.clip})"
