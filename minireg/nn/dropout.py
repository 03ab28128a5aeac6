"""Dropout (Srivastava et al. 2014; Deep Learning 7.11, published 7.12) and its inference rules.

Training: each unit of the layer's input is kept with probability ``keep`` and the
kept ones are divided by ``keep`` ("inverted dropout"):

    y = x * m / keep,      m_i ~ Bernoulli(keep) independently,      so E[y] = x.

``keep`` is the chapter's "probability of including a unit" (typically 0.8 for an
input unit, 0.5 for a hidden unit). PyTorch's ``torch.nn.Dropout(p)`` takes the
*drop* probability: ``torch.nn.Dropout(p)`` is ``Dropout(keep=1 - p)``. To leave no
doubt, :class:`Dropout` takes its probability only by the name ``keep``.

Inference, three ways (:func:`dropout_predict`):

* ``"weight_scaling"`` (the default): evaluation mode, one deterministic pass. With
  inverted dropout the layer is then the identity; it is the chapter's weight scaling
  rule (weights times ``keep``), moved to training time.
* ``"arithmetic"``: the arithmetic mean of the predicted distributions of ``masks``
  sampled sub-networks, (1/k) sum_i p(y | x; m_i) (Monte-Carlo dropout).
* ``"geometric"``: the renormalized geometric mean of the same k distributions,
  Deep Learning eq. 7.30: p(y | x) proportional to (prod_i p(y | x; m_i))^(1/k),
  computed as the softmax of the mean log-probabilities.

For softmax regression, the geometric mean over *all* 2^n masks equals weight scaling
exactly (the chapter's derivation after eq. 7.30; ``tests/test_dropout.py`` enumerates
the masks). The tutorial uses 10-20 masks for Monte-Carlo inference; the default is 20.
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg.checks import check_choice, check_int, check_probability
from minireg.kernels import dropout_threshold
from minireg.nn.init import make_rng
from minireg.nn.module import Module
from minireg.tensor import Tensor, no_grad


def check_keep(keep, name: str) -> float:
    """``keep`` as a float in (0, 1], fine enough for the kernel's 16-bit draws."""
    keep = check_probability(keep, name, include_zero=False, include_one=True)
    dropout_threshold(keep)  # refuses keep below 2**-17, which would round to "never keep"
    return keep


class StochasticLayer(Module):
    """A layer that draws random numbers in training mode from its own Generator.

    ``rng`` (a ``numpy.random.Generator``, an int seed, or None for fresh entropy) is
    kept as the attribute ``rng``: checkpoints save and restore it, so a resumed run
    draws the same masks as an uninterrupted one. ``model.eval(stochastic=True)``
    leaves these layers drawing (Monte-Carlo prediction).
    """

    stochastic = True

    def __init__(self, rng=None):
        super().__init__()
        self.rng = make_rng(rng)


class Dropout(StochasticLayer):
    """Inverted dropout on the layer's input: ``y = x * m / keep`` in training, ``y = x``
    in evaluation (the weight scaling rule).

    Parameters
    ----------
    keep : float in (0, 1], keyword only
        The probability of keeping (including) each unit -- not PyTorch's drop
        probability: ``torch.nn.Dropout(p)`` is ``Dropout(keep=1 - p)``. Typical: 0.8
        for input units, 0.5 for hidden units (Srivastava et al. 2014).
    rng : numpy.random.Generator, int or None
        Where the masks come from (see :class:`StochasticLayer`).

    The masks are made by the compiled kernel :func:`minireg.kernels.dropout`, one
    independent bit per entry of the input; the backward pass multiplies by the same
    mask divided by ``keep``. A float32 input gives a float32 output.
    """

    def __init__(self, *args, keep=None, rng=None, **others):
        if args or keep is None or others:
            given = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in others.items()])
            raise TypeError(
                f"Dropout takes the probability of keeping a unit by name, e.g. Dropout(keep=0.8); got "
                f"Dropout({given}). PyTorch's Dropout(p) drops with probability p: use keep = 1 - p."
            )
        super().__init__(rng)
        self.keep = check_keep(keep, "Dropout(keep=...)")

    def forward(self, x):
        """``x * m / keep`` with a fresh mask ``m`` (each entry kept with probability
        ``keep``) in training; ``x`` itself in evaluation or when ``keep == 1``."""
        x = F.as_tensor(x)
        if not self.training or self.keep == 1.0:
            return x
        return F.dropout(x, self.keep, self.rng)

    def extra_repr(self):
        return f"keep={self.keep}"


INFERENCE_RULES = ("weight_scaling", "arithmetic", "geometric")
"""The inference rules of :func:`dropout_predict`."""


def dropout_predict(model, X, rule="weight_scaling", masks=None, batch_size=1000) -> np.ndarray:
    """Predicted class probabilities of a model with dropout (or any stochastic layers).

    Parameters
    ----------
    model : Module whose output is a matrix of logits (N, classes)
    X : array (N, ...) of inputs
    rule : {"weight_scaling", "arithmetic", "geometric"}
        ``"weight_scaling"``: softmax of the evaluation-mode logits, one pass.
        ``"arithmetic"``: (1/k) sum_i softmax(z_i), the mean of k sampled sub-networks'
        distributions. ``"geometric"``: softmax((1/k) sum_i log softmax(z_i)), the
        renormalized geometric mean (Deep Learning eq. 7.30).
    masks : int >= 1, optional
        k, the number of sampled sub-networks for the two Monte-Carlo rules (default
        20; the tutorial suggests 10-20). Not accepted with ``"weight_scaling"``.
    batch_size : int
        Inputs per forward pass; k masks cost k forward passes.

    The Monte-Carlo rules put the model in ``eval(stochastic=True)`` mode: batch
    normalization uses its running statistics while the stochastic layers draw from
    their generators. The model's modes are restored afterwards. Returns a NumPy array
    (N, classes) whose rows sum to 1.
    """
    check_choice(rule, "rule", INFERENCE_RULES)
    if rule == "weight_scaling":
        if masks is not None:
            raise ValueError("masks is the number of Monte-Carlo samples; rule='weight_scaling' takes none")
        k = 1
    else:
        k = check_int(20 if masks is None else masks, "masks", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    modes = [(module, module.training) for module in model.modules()]
    model.eval(stochastic=rule != "weight_scaling")
    try:
        with no_grad():
            parts = [_predict_batch(model, X[start:start + batch_size], rule, k)
                     for start in range(0, len(X), batch_size)]
    finally:
        for module, mode in modes:
            module.training = mode
    return np.concatenate(parts, axis=0)


def _predict_batch(model, x, rule, k):
    total = None
    for _ in range(k):
        logits = model(Tensor(x))
        if logits.ndim != 2:
            raise ValueError(f"dropout_predict needs a model whose output is (N, classes) logits, "
                             f"got shape {logits.shape}")
        term = F.softmax(logits, axis=1) if rule == "arithmetic" else F.log_softmax(logits, axis=1)
        total = term.data if total is None else total + term.data
    mean = total / np.asarray(k, dtype=total.dtype)
    return mean if rule == "arithmetic" else F.softmax(Tensor(mean), axis=1).data
