"""Stochastic depth (Huang et al. 2016): residual blocks dropped at random while training.

Block l of L computes ``H_l = x + b_l f_l(x)`` with ``b_l ~ Bernoulli(p_l)`` in training
and ``H_l = x + p_l f_l(x)`` at test time (the expected block; the paper's test rule).
The survival probabilities decay linearly with depth (the paper's eq. 4):

    p_l = 1 - (l / L) (1 - p_L),      l = 1 ... L,

from p_0 = 1 (the input is never dropped) to p_L at the last block (0.5 in the paper).
A dropped block (mode ``"batch"``) is skipped entirely: its body is not computed, which
is where the training speed-up comes from.

torchvision's ``ops.stochastic_depth(input, p, mode, training)`` is the inverted form
applied to a branch's output: it drops with probability p (= 1 - survival) and divides
the kept outputs by 1 - p in training, the identity at test. In expectation both forms
give the same network; ours keeps the paper's test-time scaling.
"""
from __future__ import annotations

from minireg import functional as F
from minireg.checks import check_choice, check_int, check_probability
from minireg.nn.dropout import StochasticLayer
from minireg.nn.init import make_rng
from minireg.nn.module import Module, Sequential

DEPTH_MODES = ("batch", "row")


def linear_survival(depth, last=0.5) -> list:
    """``[p_1, ..., p_L]`` with p_l = 1 - (l / L)(1 - p_L) (Huang et al. 2016, eq. 4)."""
    depth = check_int(depth, "depth", minimum=1)
    last = check_probability(last, "last", include_zero=False, include_one=True)
    return [1.0 - (l / depth) * (1.0 - last) for l in range(1, depth + 1)]


class StochasticDepth(StochasticLayer):
    """A residual block ``x + b f(x)`` that survives with probability ``survival``.

    Parameters
    ----------
    body : Module
        f, the residual branch; its output has the shape of its input.
    survival : float in (0, 1]
        p_l, the probability that the block is kept in a training step.
    mode : {"batch", "row"}
        ``"batch"``: one draw for the whole minibatch (the paper; a dropped body is not
        computed). ``"row"``: one draw per example (torchvision's ``mode="row"``).
    rng : numpy.random.Generator, int or None
    """

    def __init__(self, body, survival, mode="batch", rng=None):
        super().__init__(rng)
        if not isinstance(body, Module):
            raise TypeError(f"StochasticDepth(body=...) must be a Module, got {type(body).__name__}")
        self.body = body
        self.survival = check_probability(survival, "StochasticDepth(survival=...)", include_zero=False,
                                          include_one=True)
        self.mode = check_choice(mode, "StochasticDepth(mode=...)", DEPTH_MODES)

    def forward(self, x):
        x = F.as_tensor(x)
        if not self.training:
            return x + self._branch(x) * x.dtype.type(self.survival)
        if self.mode == "batch":
            return x + self._branch(x) if self.rng.random() < self.survival else x
        kept = self.rng.random(x.shape[0]) < self.survival
        kept = kept.reshape((-1,) + (1,) * (x.ndim - 1))
        return x + self._branch(x) * kept

    def _branch(self, x):
        branch = self.body(x)
        if branch.shape != x.shape:
            raise ValueError(f"StochasticDepth: body(x) has shape {branch.shape}, the input {x.shape}; "
                             "the residual branch must keep the shape")
        return branch

    def extra_repr(self):
        return f"survival={self.survival:.4g}, mode={self.mode!r}"


def stochastic_depth_blocks(bodies, last=None, survival=None, mode="batch", rng=None) -> Sequential:
    """A Sequential of :class:`StochasticDepth` blocks, one per body, sharing one Generator.

    Give either ``last`` (p_L; the survivals decay linearly, :func:`linear_survival`) or
    ``survival``, one probability per block, which must not increase with depth (a deeper
    block is dropped at least as often; the paper's argument: early layers extract
    low-level features that later ones use).
    """
    bodies = list(bodies)
    if not bodies:
        raise ValueError("stochastic_depth_blocks needs at least one body")
    if (last is None) == (survival is None):
        raise ValueError("stochastic_depth_blocks takes exactly one of last=p_L (linear decay) "
                         "or survival=[p_1, ..., p_L]")
    if last is not None:
        survival = linear_survival(len(bodies), last)
    else:
        survival = [check_probability(p, f"survival[{i}]", include_zero=False, include_one=True)
                    for i, p in enumerate(survival)]
        if len(survival) != len(bodies):
            raise ValueError(f"survival has {len(survival)} probabilities for {len(bodies)} bodies")
        for i in range(1, len(survival)):
            if survival[i] > survival[i - 1]:
                raise ValueError(f"survival must not increase with depth: survival[{i}] = {survival[i]} "
                                 f"after survival[{i - 1}] = {survival[i - 1]}")
    generator = make_rng(rng)
    return Sequential(*[StochasticDepth(body, p, mode, generator) for body, p in zip(bodies, survival)])

