"""minireg: a small deep-learning framework that makes regularization transparent.

The layers, from the bottom up (each imports only what is below it):

* :mod:`minireg.tensor` -- ``Tensor`` and reverse-mode autograd (``no_grad``, ``grad``)
* :mod:`minireg.functional` -- differentiable operations (imported as ``F``)
* :mod:`minireg.nn`, :mod:`minireg.losses`, :mod:`minireg.optim` -- layers, losses, optimizers
* :mod:`minireg.regularizers` -- the regularizers and their hook protocol
* :mod:`minireg.training` -- the training step with its five places, early stopping
* :mod:`minireg.experiments`, :mod:`minireg.cli` -- reproductions and the ``minireg`` command

:mod:`minireg.kernels` holds the hot paths twice (readable NumPy and compiled Cython).
"""
from minireg import functional  # first: minireg.tensor imports it (see the note there)
from minireg import functional as F
from minireg.tensor import Tensor, enable_grad, grad, no_grad, tensor
from minireg import losses, nn, optim

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "no_grad", "enable_grad", "grad", "functional", "F",
           "nn", "losses", "optim", "__version__"]
