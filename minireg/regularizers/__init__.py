"""Regularizers, one file per place in the training step (see ``base.py``).

* :mod:`minireg.regularizers.base` -- the hook protocol (:class:`Regularizer`), the
  :class:`StepContext` the hooks see, and :func:`select_parameters`
* :mod:`minireg.regularizers.data` -- the data side (place 1): augmentation by random
  affine maps, label smoothing, mixup, random erasing and cutout, CutMix, RandAugment
* :mod:`minireg.regularizers.penalties` -- penalties added to the loss (place 3): L2 (also
  towards a reference point), L1, parameter tying; on a layer's activations (L1, L2,
  Student-t, KL sparsity); on input and weight gradients (double backpropagation);
  adversarial training with the fast gradient sign method (:func:`fgsm`)
* :mod:`minireg.regularizers.gradient` -- the gradient side (place 4): decoupled weight
  decay, gradient-norm clipping
* :mod:`minireg.regularizers.constraints` -- projections after the step (place 5):
  max-norm, norm ball
* :mod:`minireg.regularizers.proximal` -- proximal operators (soft threshold, group
  Lasso, OWL, GrOWL) and the regularizers that apply them after an update or once per
  epoch (place 5): ProxL1, ProxGroupLasso, ProxOWL, ProxGrOWL, ProxOSCAR
"""
from minireg.regularizers.base import Regularizer, StepContext, select_parameters
from minireg.regularizers.constraints import MaxNorm, NormBall
from minireg.regularizers.data import (CutMix, Cutout, LabelSmoothing, Mixup, RandAugment, RandomAffine,
                                       RandomErasing)
from minireg.regularizers.gradient import ClipGradientNorm, DecoupledWeightDecay
from minireg.regularizers.proximal import (ProxGroupLasso, ProxGrOWL, ProximalRegularizer, ProxL1,
                                           ProxOSCAR, ProxOWL)
from minireg.regularizers.penalties import (L1, L2, ActivationL1, ActivationL2, AdversarialTraining,
                                            InputGradientPenalty, KLSparsity, ParameterTying, StudentTPenalty,
                                            WeightGradientPenalty, fgsm)

__all__ = ["Regularizer", "StepContext", "select_parameters",
           "L2", "L1", "ParameterTying", "ActivationL1", "ActivationL2", "StudentTPenalty", "KLSparsity",
           "InputGradientPenalty", "WeightGradientPenalty", "AdversarialTraining", "fgsm",
           "DecoupledWeightDecay", "ClipGradientNorm",
           "MaxNorm", "NormBall",
           "ProximalRegularizer", "ProxL1", "ProxGroupLasso", "ProxOWL", "ProxGrOWL", "ProxOSCAR",
           "RandomAffine", "LabelSmoothing", "Mixup", "RandomErasing", "Cutout", "CutMix", "RandAugment"]
