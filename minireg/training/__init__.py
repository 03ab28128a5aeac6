"""Training: the step with its five places for regularizers, the callbacks around it
(early stopping, schedules, checkpoints, progress), and the procedures that reuse the
validation data after early stopping (Deep Learning, Algorithms 7.1-7.3), and ensembles
(bagging; Deep Learning 7.10, published 7.11).

See ``docs/training.md``.
"""
from minireg.training.callbacks import (Callback, Checkpoint, EarlyStopping, History,
                                        LearningRateSchedule, StopAtTarget)
from minireg.training.ensembles import (Ensemble, bootstrap_indices, ensemble_errors, error_decomposition,
                                        expected_distinct_fraction, fit_ensemble)
from minireg.training.procedures import (ContinueResult, LearnToShareResult, RetrainResult, continue_on_all_data,
                                         learn_to_share, retrain_on_all_data, retrain_steps)
from minireg.training.progress import ProgressBar
from minireg.training.trainer import Trainer, TrainingInterrupted, zero_one_error

__all__ = [
    "Trainer", "TrainingInterrupted", "zero_one_error",
    "Callback", "History", "EarlyStopping", "StopAtTarget", "LearningRateSchedule",
    "Checkpoint", "ProgressBar",
    "retrain_on_all_data", "retrain_steps", "continue_on_all_data", "RetrainResult", "ContinueResult",
    "learn_to_share", "LearnToShareResult",
    "Ensemble", "fit_ensemble", "bootstrap_indices", "expected_distinct_fraction", "ensemble_errors",
    "error_decomposition",
]
