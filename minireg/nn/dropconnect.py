"""Dense layers with dropout inside: fast dropout (Wang and Manning 2013) and DropConnect
(Wan et al. 2013).

Both rest on the same two moments. A dense unit whose inputs (or weights) are dropped
with inverted scaling computes ``u_j = sum_i x_i W_ij m_ij / keep + b_j`` with
independent ``m_ij ~ Bernoulli(keep)``, whose mean and variance are

    E[u_j]   = sum_i x_i W_ij + b_j                          (= x W + b)
    Var[u_j] = (1 - keep) / keep * sum_i x_i^2 W_ij^2        (= (x*x)(W*W) (1-keep)/keep)

(:func:`dropout_moments`). For dropout on the inputs, m_ij = m_i for every j; the moments
of one unit are the same, only the covariance between units differs. A sum of many
independent terms is close to Gaussian (central limit theorem); that is the
approximation both papers use.
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg.checks import check_choice, check_int
from minireg.nn.dropout import check_keep
from minireg.nn.init import make_rng
from minireg.nn.layers import Linear, _check_input, check_input_dtype


def dropout_moments(x, weight, bias, keep):
    """Mean and variance of a dense unit under inverted dropout of its inputs or weights
    (the module docstring): ``(x W + b, (x*x)(W*W) (1 - keep) / keep)``, both Tensors."""
    keep = check_keep(keep, "keep")
    mean = x @ weight
    if bias is not None:
        mean = mean + bias
    factor = x.dtype.type((1.0 - keep) / keep)
    variance = ((x * x) @ (weight * weight)) * factor
    return mean, variance


def _gaussian_sample(mean, variance, rng, draws=()):
    """``mean + sqrt(variance) * eps`` with eps ~ N(0, 1) drawn from ``rng`` in the dtype of
    ``mean``, with ``draws`` (a shape) independent samples stacked in front: differentiable
    in mean and variance (the reparameterization). A tiny offset under the root keeps its
    gradient finite where the variance is exactly 0."""
    dtype = mean.dtype
    eps = rng.standard_normal(tuple(draws) + mean.shape, dtype=dtype)
    return mean + F.sqrt(variance + np.finfo(dtype).tiny) * eps


SAMPLING_CHUNK = 2**22
"""At most this many Gaussian draws at a time in DropConnect's sampling rule (16 MB of float32)."""


class _DenseStochastic(Linear):
    """A Linear layer whose ``rng`` first draws the initial weights, then the noise: one
    seed gives both, and checkpoints save the generator (``rng``)."""

    stochastic = True

    def __init__(self, in_features, out_features, keep, bias, rng, dtype):
        generator = make_rng(rng)
        super().__init__(in_features, out_features, bias=bias, rng=generator, dtype=dtype)
        self.rng = generator
        self.keep = check_keep(keep, f"{type(self).__name__}(keep=...)")

    def _checked(self, x):
        x = F.as_tensor(x)
        _check_input(x, type(self).__name__, 2, "(N, in_features)", self.in_features)
        check_input_dtype(x, self.weight, type(self).__name__)
        return x

    def extra_repr(self):
        return f"{super().extra_repr()}, keep={self.keep}"


class FastDropoutLinear(_DenseStochastic):
    """Fast dropout (Wang and Manning 2013): a Linear layer whose inputs are dropped, with
    the dropout sum replaced by its Gaussian approximation.

    Training: ``u = mu + sigma * eps``, eps ~ N(0, 1) per unit and example, with mu and
    sigma^2 the mean and variance of the unit under inverted dropout of the inputs with
    probability ``keep`` of keeping each (:func:`dropout_moments`). One Gaussian draw per
    output unit replaces one Bernoulli draw per input unit, and the gradient flows
    through mu and sigma (reparameterization).

    Evaluation: ``u = mu = x W + b``, the mean of the Gaussian -- the paper's
    deterministic test-time rule for the layer (which is weight scaling, since the
    dropout is inverted).

    Parameters
    ----------
    in_features, out_features : int
    keep : float in (0, 1], keyword only
        Probability of keeping each input unit (PyTorch's drop p is 1 - keep).
    bias, dtype : as in :class:`~minireg.nn.Linear`
    rng : numpy.random.Generator, int or None
        Draws the initial weights, then the Gaussian noise.
    """

    def __init__(self, in_features, out_features, *, keep, bias=True, rng=None, dtype=np.float32):
        super().__init__(in_features, out_features, keep, bias, rng, dtype)

    def forward(self, x):
        x = self._checked(x)
        if not self.training:
            return super().forward(x)
        mean, variance = dropout_moments(x, self.weight, self.bias, self.keep)
        return _gaussian_sample(mean, variance, self.rng)


DROPCONNECT_INFERENCE = ("weight_scaling", "sampling")


class DropConnectLinear(_DenseStochastic):
    """DropConnect (Wan et al. 2013): a Linear layer whose *weights* are dropped,
    ``r = a(x (M * W) / keep + b)`` with ``M_ij ~ Bernoulli(keep)``.

    Training draws the mask with the compiled dropout kernel (:func:`minireg.functional.dropout`
    applied to the weight), so the gradient reaches W through the same mask. By default
    one mask serves the whole minibatch (cost: one in x out mask per step). With
    ``per_example=True`` every example gets its own mask, as in the paper: N masks, a
    batched product of N (1, in) x (in, out) matrices and N * in * out floats of memory
    (411 MB in float32 for N = 128 and 784 x 1024), so keep it for small layers.

    Inference (evaluation mode):

    * ``"weight_scaling"`` (default): ``a(x W + b)``, the mean network;
    * ``"sampling"``: the paper's rule. Each unit's input u is approximated by a Gaussian
      with the mean and variance of :func:`dropout_moments`; ``samples`` values of u are
      drawn, passed through the activation, and averaged: (1/Z) sum_z a(u_z).

    Parameters
    ----------
    in_features, out_features : int
    keep : float in (0, 1], keyword only
        Probability of keeping each weight.
    activation : Module or callable on Tensors, optional
        a, applied inside the layer (the sampling rule averages after it); identity if None.
    per_example : bool
    inference : {"weight_scaling", "sampling"}
    samples : int >= 1
        Z for the sampling rule (default 100).
    bias, dtype : as in :class:`~minireg.nn.Linear` (the bias is not dropped)
    rng : numpy.random.Generator, int or None
        Draws the initial weights, then the masks and the inference samples.
    """

    def __init__(self, in_features, out_features, *, keep, activation=None, per_example=False,
                 inference="weight_scaling", samples=100, bias=True, rng=None, dtype=np.float32):
        super().__init__(in_features, out_features, keep, bias, rng, dtype)
        if activation is not None and not callable(activation):
            raise TypeError(f"DropConnectLinear(activation=...) must be a Module or a callable on Tensors, "
                            f"got {type(activation).__name__}")
        if not isinstance(per_example, (bool, np.bool_)):
            raise TypeError(f"DropConnectLinear(per_example=...) takes True or False, got {per_example!r}")
        self.activation = activation
        self.per_example = bool(per_example)
        self.inference = check_choice(inference, "DropConnectLinear(inference=...)", DROPCONNECT_INFERENCE)
        self.samples = check_int(samples, "DropConnectLinear(samples=...)", minimum=1)

    def _activate(self, u):
        return u if self.activation is None else self.activation(u)

    def forward(self, x):
        x = self._checked(x)
        if self.training:
            return self._activate(self._masked_product(x))
        if self.inference == "weight_scaling":
            return self._activate(super().forward(x))
        mean, variance = dropout_moments(x, self.weight, self.bias, self.keep)
        chunk = max(1, SAMPLING_CHUNK // max(1, mean.size))
        total = 0.0
        for start in range(0, self.samples, chunk):
            draws = min(chunk, self.samples - start)
            total = total + F.sum(self._activate(_gaussian_sample(mean, variance, self.rng, (draws,))), axis=0)
        return total * mean.dtype.type(1.0 / self.samples)

    def _masked_product(self, x):
        if not self.per_example:
            u = x @ F.dropout(self.weight, self.keep, self.rng)
        else:
            n = x.shape[0]
            weights = F.dropout(F.broadcast_to(self.weight, (n,) + self.weight.shape), self.keep, self.rng)
            u = F.reshape(F.reshape(x, (n, 1, self.in_features)) @ weights, (n, self.out_features))
        return u if self.bias is None else u + self.bias

    def extra_repr(self):
        return f"{super().extra_repr()}, per_example={self.per_example}, inference={self.inference!r}"

