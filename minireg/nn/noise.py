"""Noise injection inside the network (Deep Learning 7.6, published 7.5).

* :class:`GaussianNoise` adds ``std * eps``, eps ~ N(0, 1), to whatever enters it: put it
  first for noise on the inputs (7.6.1), after a hidden layer for noise on hidden units.
* :class:`WeightNoise` perturbs the weights of the module it wraps at every training
  step (7.6.2): the forward *and* the backward pass of that step use ``W + std * eps``,
  and the gradient, taken at the perturbed weights, updates W. For small noise of
  variance eta and the squared error, the expected cost is, to second order,
  J + eta E[(y_hat - y) grad_W^2 y_hat] + eta E||grad_W y_hat(x)||^2 (eq. 7.22): near
  the optimum, a penalty on the output's sensitivity to the weights, which favours
  flat regions of the cost. For a linear y_hat = x w the expansion is exact:
  J + eta ||x||^2 (``tests/test_noise_pooling_depth.py``).

Both are the identity in evaluation mode and draw from their own ``rng`` (saved in
checkpoints).
"""
from __future__ import annotations

from minireg import functional as F
from minireg.checks import check_number
from minireg.nn.dropout import StochasticLayer
from minireg.nn.module import Module, Parameter


def _check_std(std, layer: str) -> float:
    return check_number(std, f"{layer}(std=...)", minimum=0.0)


class GaussianNoise(StochasticLayer):
    """``y = x + std * eps`` with eps ~ N(0, 1) per entry in training; ``y = x`` in evaluation.

    Parameters
    ----------
    std : float >= 0
        Standard deviation of the noise.
    rng : numpy.random.Generator, int or None
        Where the noise comes from. The noise has the input's dtype (float32 stays float32).
    """

    def __init__(self, std, rng=None):
        super().__init__(rng)
        self.std = _check_std(std, "GaussianNoise")

    def forward(self, x):
        x = F.as_tensor(x)
        if not self.training or self.std == 0.0:
            return x
        noise = self.rng.standard_normal(x.shape, dtype=x.dtype)
        noise *= x.dtype.type(self.std)
        return x + noise

    def extra_repr(self):
        return f"std={self.std}"


class WeightNoise(StochasticLayer):
    """Wrap a module so that each training forward pass uses noisy weights ``W + std * eps``.

    Every Parameter of kind ``"weight"`` inside ``module`` (a Linear, a Conv2d, a whole
    Sequential) gets fresh noise at each call; biases, batch-norm scales and shifts are
    left alone. The noisy weight is ``W + noise`` in the graph, so the gradient of the
    step (computed at the noisy weights) reaches W. A weight shared by two layers gets
    one noise. In evaluation mode the module runs with its own weights.

    Parameters
    ----------
    module : Module
    std : float >= 0
    rng : numpy.random.Generator, int or None
    """

    def __init__(self, module, std, rng=None):
        super().__init__(rng)
        if not isinstance(module, Module):
            raise TypeError(f"WeightNoise(module=...) must be a Module, got {type(module).__name__}")
        self.module = module
        self.std = _check_std(std, "WeightNoise")

    def _weight_slots(self):
        """``[(owner module, attribute name, weight)]`` for every weight attribute inside."""
        return [(owner, name, value) for owner in self.module.modules() for name, value in vars(owner).items()
                if isinstance(value, Parameter) and value.kind == "weight"]

    def forward(self, *inputs):
        if not self.training or self.std == 0.0:
            return self.module(*inputs)
        slots = self._weight_slots()
        noisy = {}
        for _, _, weight in slots:
            if id(weight) not in noisy:
                noise = self.rng.standard_normal(weight.shape, dtype=weight.dtype)
                noise *= weight.dtype.type(self.std)
                noisy[id(weight)] = weight + noise
        try:
            for owner, name, weight in slots:
                setattr(owner, name, noisy[id(weight)])
            return self.module(*inputs)
        finally:
            for owner, name, weight in slots:
                setattr(owner, name, weight)

    def extra_repr(self):
        return f"std={self.std}"
