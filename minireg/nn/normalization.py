"""Batch normalization (Ioffe & Szegedy, 2015; Deep Learning, sec. 8.7.1).

For each feature (dense input) or channel (image input), with the statistics taken
over the batch (and the spatial positions):

    mu      = mean(x)
    sigma^2 = mean((x - mu)^2)                        (biased: divide by the count m)
    x_hat   = (x - mu) / sqrt(sigma^2 + eps)
    y       = gamma * x_hat + beta

gamma (the *scale*) and beta (the *shift*) are Parameters of kinds ``"scale"`` and
``"shift"``, not weights, so ``model.weights()`` leaves them out.

Training mode normalizes with the batch statistics, and the gradient flows through mu
and sigma^2 as well (the layer is written in Tensor operations, so it is twice
differentiable). It also updates the running estimates that evaluation mode uses:

    running_mean <- (1 - momentum) * running_mean + momentum * mu
    running_var  <- (1 - momentum) * running_var  + momentum * sigma^2 * m / (m - 1)

(the unbiased variance, as PyTorch does). Evaluation mode normalizes with the running
estimates, so the output of an example does not depend on the rest of the batch.
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg.checks import check_float_dtype, check_int, check_number
from minireg.nn import init
from minireg.nn.layers import check_input_dtype
from minireg.nn.module import Module, Parameter
from minireg.tensor import Tensor, no_grad


class _BatchNorm(Module):
    """The computation shared by BatchNorm1d and BatchNorm2d.

    Subclasses set ``input_ndim`` (2 or 4) and ``input_layout`` (for error messages).
    The statistics are taken over every axis but axis 1.
    """

    input_ndim = None
    input_layout = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, dtype=np.float32):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", minimum=1)
        self.eps = check_number(eps, "eps", minimum=0.0, include_minimum=False)
        self.momentum = check_number(momentum, "momentum", minimum=0.0, maximum=1.0)
        if not isinstance(affine, (bool, np.bool_)):
            raise TypeError(f"affine must be True or False, got {affine!r}")
        dtype = check_float_dtype(dtype, "dtype")
        if affine:
            self.scale = Parameter(init.ones(self.num_features, dtype), kind="scale")
            self.shift = Parameter(init.zeros(self.num_features, dtype), kind="shift")
        else:
            self.scale = None
            self.shift = None
        self.register_buffer("running_mean", init.zeros(self.num_features, dtype))
        self.register_buffer("running_var", init.ones(self.num_features, dtype))

    def _check(self, x):
        if x.ndim != self.input_ndim or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects input of shape "
                f"{self.input_layout.format(C=self.num_features)}, got shape {x.shape}"
            )

    def forward(self, x):
        x = F.as_tensor(x)
        self._check(x)
        if x.dtype.kind != "f":  # integer or boolean data: computed in the layer's dtype
            x = F.astype(x, self.running_mean.dtype)
        check_input_dtype(x, self.running_mean, type(self).__name__)
        axes = (0,) + tuple(range(2, x.ndim))              # every axis but the features
        stat_shape = (1, self.num_features) + (1,) * (x.ndim - 2)  # broadcasts against x
        if self.training:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError(
                    f"{type(self).__name__} in training mode needs more than one value per "
                    f"feature to estimate a variance, got input of shape {x.shape}"
                )
            mean = F.mean(x, axis=axes, keepdims=True)
            centered = x - mean
            var = F.mean(centered * centered, axis=axes, keepdims=True)  # biased
            x_hat = centered * (var + self.eps) ** -0.5
            self._update_running_stats(mean.data.reshape(-1), var.data.reshape(-1), count)
        else:
            mean = Tensor(self.running_mean.reshape(stat_shape).astype(x.dtype, copy=False))
            inv_std = 1.0 / np.sqrt(self.running_var.astype(x.dtype, copy=False) + x.dtype.type(self.eps))
            x_hat = (x - mean) * Tensor(inv_std.reshape(stat_shape))
        if self.scale is None:
            return x_hat
        return x_hat * F.reshape(self.scale, stat_shape) + F.reshape(self.shift, stat_shape)

    def _update_running_stats(self, batch_mean, batch_var, count):
        """Exponential moving averages of the batch statistics (no gradient)."""
        with no_grad():
            m = self.momentum
            unbiased_var = batch_var * (count / (count - 1))
            dtype = self.running_mean.dtype
            self.running_mean = ((1 - m) * self.running_mean + m * batch_mean).astype(dtype, copy=False)
            self.running_var = ((1 - m) * self.running_var + m * unbiased_var).astype(dtype, copy=False)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.scale is not None}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of dense activations (N, C): statistics over the batch.

    Parameters
    ----------
    num_features : int
        C, the number of features.
    eps : float
        Added to the variance before the square root: finite and > 0.
    momentum : float
        Weight of the newest batch in the running statistics, in [0, 1].
    affine : bool
        Learn a scale (init 1) and a shift (init 0) per feature.
    dtype : float32 or float64
    """

    input_ndim = 2
    input_layout = "(N, {C})"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of images (N, C, H, W): statistics per channel, over the batch
    and every spatial position (so a convolution's weight sharing is respected).

    Parameters are those of :class:`BatchNorm1d`, with ``num_features`` the number of
    channels C.
    """

    input_ndim = 4
    input_layout = "(N, {C}, H, W)"
