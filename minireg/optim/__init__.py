"""Optimizers (:mod:`minireg.optim.optimizers`) and learning-rate schedules
(:mod:`minireg.optim.schedules`). The update rules and formulas are written out in
``docs/optim.md``."""
from minireg.optim.optimizers import SGD, Adam, Optimizer
from minireg.optim.schedules import (
    ConstantSchedule,
    CosineWarmRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LinearDecay,
    MultiStepDecay,
    StepDecay,
)

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "ConstantSchedule",
    "StepDecay",
    "MultiStepDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LinearDecay",
    "CosineWarmRestarts",
]
