"""Stochastic pooling (Zeiler and Fergus 2013).

For a pooling region R with non-negative activations a_i (after a ReLU), let
p_i = a_i / sum_{k in R} a_k.

* Training: the region outputs a_l for one index l drawn with probability p_l (a
  multinomial draw); the gradient flows to that activation only.
* Evaluation: the probability-weighted average sum_i p_i a_i = sum_i a_i^2 / sum_i a_i
  (0 for a region of zeros).
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg.nn.conv import _Pool2d
from minireg.nn.init import make_rng


class StochasticPool2d(_Pool2d):
    """Stochastic pooling over kh x kw windows of an (N, C, H, W) input (no padding).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to the kernel size (non-overlapping regions, as in the paper).
    rng : numpy.random.Generator, int or None
        Where the draws come from (saved in checkpoints as ``rng``).

    The input must be non-negative (the p_i are probabilities); a negative value is an
    error.
    """

    stochastic = True

    def __init__(self, kernel_size, stride=None, rng=None):
        super().__init__(kernel_size, stride, padding=0)
        self.rng = make_rng(rng)

    def forward(self, x):
        x = F.as_tensor(x)
        windows, _, out_shape = F._pool_windows(x, "StochasticPool2d", self.kernel_size, self.stride, 0)
        if windows.size and windows.data.min() < 0:
            raise ValueError(
                f"StochasticPool2d needs non-negative activations (put it after a ReLU); the input's "
                f"smallest value is {float(windows.data.min())}"
            )
        if self.training:
            return F.reshape(self._sample(windows), out_shape)
        total = F.sum(windows, axis=0)
        empty = (total.data == 0).astype(total.dtype)  # a region of zeros outputs 0
        return F.reshape(F.sum(windows * windows, axis=0) / (total + empty), out_shape)

    def _sample(self, windows):
        """One activation per region (column), drawn with probability a_i / sum a."""
        cumulative = np.cumsum(windows.data, axis=0, dtype=np.float64)  # (K, regions, positions)
        u = self.rng.random(cumulative.shape[1:]) * cumulative[-1]
        # the first i with cumulative[i] > u; entries with a_i = 0 are never chosen
        chosen = np.minimum((cumulative <= u).sum(axis=0), len(cumulative) - 1)
        regions, positions = np.indices(chosen.shape, sparse=True)
        return F.getitem(windows, (chosen, regions, positions))
