"""Convolution and pooling layers: thin Modules over :func:`minireg.functional.conv2d`,
:func:`~minireg.functional.max_pool2d` and :func:`~minireg.functional.avg_pool2d`.

Images are NCHW: (batch, channels, height, width). A conv weight is stored
(in_channels, out_channels, kh, kw) -- the dense layout (in, out) with the kernel
window appended -- so that ``weight.reshape(in_channels, -1)`` has one row per input
channel, the group GrOWL acts on (GrOWL, eq. (4); :func:`minireg.nn.row_view`).
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg.checks import check_float_dtype, check_int, check_pair
from minireg.nn import init
from minireg.nn.layers import check_input_dtype
from minireg.nn.module import Module, Parameter


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    y[n, o, i, j] = b[o] + sum_{c, u, v} W[c, o, u, v] * x_pad[n, c, i*sh + u, j*sw + v]

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
        (kh, kw); an int k means a square k x k window.
    stride : int or (int, int)
        Step between windows, (sh, sw), each >= 1.
    padding : int or (int, int)
        Zeros added above and below (ph) and left and right (pw), each >= 0.
    bias : bool
        One bias per output channel (kind ``"bias"``, initialized to 0).
    rng : numpy.random.Generator, int or None
        Source of the initial weights: He uniform with fan_in = in_channels * kh * kw
        (:mod:`minireg.nn.init`).
    dtype : float32 or float64

    Input (N, in_channels, H, W) -> output (N, out_channels, OH, OW) with
    OH = (H + 2 * ph - kh) // sh + 1 (and OW likewise). ``kernel_size``, ``stride`` and
    ``padding`` are kept as (height, width) pairs.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.out_channels = check_int(out_channels, "out_channels", minimum=1)
        self.kernel_size = check_pair(kernel_size, "kernel_size", minimum=1)
        self.stride = check_pair(stride, "stride", minimum=1)
        self.padding = check_pair(padding, "padding", minimum=0)
        dtype = check_float_dtype(dtype, "dtype")
        shape = (self.in_channels, self.out_channels) + self.kernel_size
        self.weight = Parameter(init.kaiming_uniform(shape, init.make_rng(rng), dtype=dtype), kind="weight")
        self.bias = Parameter(init.zeros(self.out_channels, dtype), kind="bias") if bias else None

    def forward(self, x):
        x = F.as_tensor(x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d expects input of shape (N, {self.in_channels}, H, W), got shape {x.shape}"
            )
        check_input_dtype(x, self.weight, "Conv2d")
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class _Pool2d(Module):
    """What the pooling layers share: a window, its stride and padding, each kept as a
    (height, width) pair (an int k means (k, k)). ``stride`` defaults to the window, and
    ``padding`` may be at most half the window on each axis."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = check_pair(kernel_size, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else check_pair(stride, "stride", minimum=1)
        self.padding = check_pair(padding, "padding", minimum=0)
        F._check_pool_padding(self.kernel_size, self.padding, type(self).__name__)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Maximum over each kh x kw window (stride defaults to kernel_size).

    Padding counts as minus infinity: a padded position is never the maximum.
    """

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)


class AvgPool2d(_Pool2d):
    """Mean over each kh x kw window (stride defaults to kernel_size); zero padding counts
    in the mean."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)
