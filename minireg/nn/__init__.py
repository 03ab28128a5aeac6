"""Layers and models: :class:`Module`, :class:`Parameter`, and the layers built on them.

* :mod:`minireg.nn.module` -- Module, Parameter, Sequential, row_view
* :mod:`minireg.nn.layers` -- Linear, Maxout, Flatten, ReLU, Tanh, Sigmoid, Residual
* :mod:`minireg.nn.conv` -- Conv2d, MaxPool2d, AvgPool2d
* :mod:`minireg.nn.normalization` -- BatchNorm1d, BatchNorm2d
* :mod:`minireg.nn.dropout` -- Dropout and its inference rules (dropout_predict)
* :mod:`minireg.nn.dropconnect` -- FastDropoutLinear, DropConnectLinear
* :mod:`minireg.nn.noise` -- GaussianNoise, WeightNoise
* :mod:`minireg.nn.stochastic_pooling` -- StochasticPool2d
* :mod:`minireg.nn.stochastic_depth` -- StochasticDepth, stochastic_depth_blocks
* :mod:`minireg.nn.init` -- initializers

Weight layouts and the choice of defaults are explained in ``docs/nn.md``.
"""
from minireg.nn import init
from minireg.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from minireg.nn.layers import Flatten, Linear, Maxout, ReLU, Residual, Sigmoid, Tanh
from minireg.nn.module import PARAMETER_KINDS, Module, Parameter, Sequential, row_view
from minireg.nn.normalization import BatchNorm1d, BatchNorm2d
from minireg.nn.dropout import Dropout, StochasticLayer, dropout_predict
from minireg.nn.dropconnect import DropConnectLinear, FastDropoutLinear, dropout_moments
from minireg.nn.noise import GaussianNoise, WeightNoise
from minireg.nn.stochastic_depth import StochasticDepth, linear_survival, stochastic_depth_blocks
from minireg.nn.stochastic_pooling import StochasticPool2d

__all__ = [
    "init",
    "Module",
    "Parameter",
    "PARAMETER_KINDS",
    "Sequential",
    "row_view",
    "Linear",
    "Maxout",
    "Flatten",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Residual",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "StochasticLayer",
    "Dropout",
    "dropout_predict",
    "FastDropoutLinear",
    "DropConnectLinear",
    "dropout_moments",
    "GaussianNoise",
    "WeightNoise",
    "StochasticPool2d",
    "StochasticDepth",
    "linear_survival",
    "stochastic_depth_blocks",
]
