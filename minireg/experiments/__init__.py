"""The experiments that ``minireg run NAME`` can run, by name.

An explicit dictionary, so that a reader sees every experiment in one place; each
entry is an :class:`~minireg.experiments.base.Experiment` (config, run, report).
"""
from minireg.experiments import early_stopping
from minireg.experiments.base import Experiment

EXPERIMENTS = {
    "early-stopping-synthetic": Experiment(
        name="early-stopping-synthetic",
        description="U-shaped validation loss and early stopping (Alg. 7.1-7.3) on generated data; "
                    "offline, under a minute",
        config_class=early_stopping.SyntheticConfig,
        run=early_stopping.run,
        report=early_stopping.report,
    ),
    "early-stopping": Experiment(
        name="early-stopping",
        description="R4: Deep Learning Fig. 7.3 on MNIST: learning curves, early stopping, "
                    "Algorithms 7.2 and 7.3",
        config_class=early_stopping.MnistConfig,
        run=early_stopping.run,
        report=early_stopping.report,
    ),
}

__all__ = ["EXPERIMENTS", "Experiment"]
