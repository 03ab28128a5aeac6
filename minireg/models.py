"""Model builders for the experiments of the GrOWL paper (Zhang et al., ICLR 2018).

* :func:`mlp` -- the 784-300-10 network of §4.2 and Table 1, with batch norm after the
  hidden layer as an option (the authors' public code has it);
* :func:`lenet` -- a LeNet-style convolutional network for 28 x 28 images, on which
  GrOWL acts on the input-channel rows of the second convolution (eq. 4);
* :func:`vgg16_bn` -- the VGG-16 of §4.3 and Table 3 (Zagoruyko's CIFAR-10 variant:
  13 convolutions with batch norm, then two small fully connected layers with batch
  norm after the first, no dropout), scaled down with ``width`` and ``blocks``.

Each returns a :class:`~minireg.nn.Sequential`, whose layers are named ``"layers.0"``,
``"layers.3"`` ... (``model.named_modules()``), the names regularizers select with
``params={name: 1.0}`` and :func:`~minireg.compression.tie_rows` takes.
"""
from __future__ import annotations

import numpy as np

from minireg import nn
from minireg.checks import check_int, check_number

# Table 3 of the paper: the output channels of the 13 convolutions, in 5 blocks each
# followed by 2 x 2 max pooling (the parameter counts of Table 3 are those of this
# list; its "channels in & out" column is shifted by one row from conv5 to conv7)
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def mlp(batch_norm: bool = True, hidden: int = 300, rng=None, inputs: int = 784, classes: int = 10):
    """``Linear(784, 300) [BatchNorm1d(300)] ReLU Linear(300, 10)`` (GrOWL §4.2).

    The GrOWL rows are those of layer ``"layers.0"``: one per input pixel.
    """
    rng = nn.init.make_rng(rng)
    hidden = check_int(hidden, "hidden", minimum=1)
    norm = [nn.BatchNorm1d(hidden)] if batch_norm else []
    return nn.Sequential(nn.Linear(inputs, hidden, rng=rng), *norm, nn.ReLU(), nn.Linear(hidden, classes, rng=rng))


def lenet(width: float = 1.0, batch_norm: bool = True, rng=None, classes: int = 10):
    """A LeNet-style network for (N, 1, 28, 28) images: two 5 x 5 convolutions of 20 and
    50 channels (times ``width``), each followed by [batch norm,] ReLU and 2 x 2 max
    pooling, then a dense layer of 500 units (times ``width``) and the classifier.

    :func:`regularized_layers` lists the layers whose rows GrOWL groups: the second
    convolution (its rows are the first one's channels) and the hidden dense layer; not
    the first convolution, whose one input channel is a single row, nor the classifier.
    """
    rng = nn.init.make_rng(rng)
    width = check_number(width, "width", minimum=0.0, include_minimum=False)
    c1, c2, units = (max(1, round(c * width)) for c in (20, 50, 500))
    layers = []
    for c_in, c_out in ((1, c1), (c1, c2)):
        layers += [nn.Conv2d(c_in, c_out, 5, rng=rng), *([nn.BatchNorm2d(c_out)] if batch_norm else []),
                   nn.ReLU(), nn.MaxPool2d(2)]
    layers += [nn.Flatten(), nn.Linear(c2 * 4 * 4, units, rng=rng), *([nn.BatchNorm1d(units)] if batch_norm else []),
               nn.ReLU(), nn.Linear(units, classes, rng=rng)]
    return nn.Sequential(*layers)


def vgg16_bn(width: float = 1.0, blocks: int = 5, fc: int = 512, rng=None, classes: int = 10,
             image_size: int = 32, in_channels: int = 3):
    """VGG-16 with batch norm for CIFAR-10 (GrOWL §4.3, Table 3).

    ``blocks`` of :data:`VGG16_BLOCKS` (all 5: the 13 convolutions of Table 3), each
    3 x 3 convolution (padding 1) followed by batch norm and ReLU, each block by 2 x 2
    max pooling; then ``Linear(., fc)``, batch norm, ReLU and ``Linear(fc, classes)``.
    ``width`` multiplies every channel count and ``fc`` (at least 1 each), to scale the
    network to a CPU. With fewer than 5 blocks the feature map left (``image_size /
    2**blocks`` pixels a side) is averaged to 1 x 1 before the dense layers, so that
    the dense layers keep their size.
    """
    rng = nn.init.make_rng(rng)
    width = check_number(width, "width", minimum=0.0, include_minimum=False)
    blocks = check_int(blocks, "blocks", minimum=1, maximum=len(VGG16_BLOCKS))
    image_size = check_int(image_size, "image_size", minimum=2 ** blocks)
    layers, channels = [], check_int(in_channels, "in_channels", minimum=1)
    for block in VGG16_BLOCKS[:blocks]:
        for out in block:
            out = max(1, round(out * width))
            layers += [nn.Conv2d(channels, out, 3, padding=1, rng=rng), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        layers.append(nn.MaxPool2d(2))
    left = image_size // 2 ** blocks
    if left > 1:
        layers.append(nn.AvgPool2d(left))
    units = max(1, round(check_int(fc, "fc", minimum=1) * width))
    layers += [nn.Flatten(), nn.Linear(channels, units, rng=rng), nn.BatchNorm1d(units), nn.ReLU(),
               nn.Linear(units, classes, rng=rng)]
    return nn.Sequential(*layers)


def weight_layers(model) -> list:
    """``[(name, layer)]`` of the Linear and Conv2d layers of ``model``, in order."""
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv2d))]


def regularized_layers(model) -> list:
    """The names of the layers GrOWL acts on in the paper's conv recipe (Table 2, the
    layers marked with an asterisk): every Linear and Conv2d layer but the first (whose
    rows are the image's colour channels) and the last (the classifier)."""
    return [name for name, _ in weight_layers(model)[1:-1]]


def count_parameters(model) -> int:
    """The number of entries of every parameter of ``model`` (weights, biases, batch norm)."""
    return int(sum(np.prod(p.shape) for p in model.parameters()))
