"""Regularizers, one file per place in the training step (see ``base.py``).

* :mod:`minireg.regularizers.base` -- the hook protocol (:class:`Regularizer`)
* :mod:`minireg.regularizers.proximal` -- proximal operators (soft threshold, group
  Lasso, OWL, GrOWL) applied after an update (place 5)
"""
from minireg.regularizers.base import Regularizer

__all__ = ["Regularizer"]
