"""Sweeps over seeds and hyperparameters, on local processes or on a Dask cluster.

::

    minireg sweep early-stopping-synthetic --grid lr=0.01,0.005 --grid depth=1,2 --seeds 0-4 \\
        --epochs 40 --workers 2

runs the experiment at every point of the grid for every seed, one run folder each,
and summarizes every metric as mean ± std over the seeds (markdown, CSV, JSON, plots).
The same from Python::

    from minireg import sweeps
    outcome = sweeps.sweep("early-stopping-synthetic", grid={"lr": [0.01, 0.005]}, seeds=range(5),
                           options={"epochs": 40}, workers=2)
    outcome.summary["points"][0]["metrics"]["test.early_stopping.error"]   # mean, std, n, values

The parts, one module each: :mod:`~minireg.sweeps.grid` (what a sweep is, parsing the
grid), :mod:`~minireg.sweeps.worker` (one run on a worker, returned as files),
:mod:`~minireg.sweeps.local` and :mod:`~minireg.sweeps.dask_cluster` (where the runs
go), :mod:`~minireg.sweeps.runner` (the driver: folder, resume, progress),
:mod:`~minireg.sweeps.summary` and :mod:`~minireg.sweeps.cli`. Dask is imported only
when a scheduler is asked for. See ``docs/sweeps.md``.
"""
from __future__ import annotations

from minireg.sweeps.grid import Run, SweepError, SweepSpec, parse_grid, parse_seeds
from minireg.sweeps.runner import SweepOutcome, read_spec, run_sweep
from minireg.sweeps.summary import collect, write_summary


def sweep(experiment: str, grid=None, seeds=(), options=None, threads_per_run: int = 1, **where) -> SweepOutcome:
    """Build a :class:`SweepSpec` and run it with :func:`run_sweep` (``where``: its other arguments).

    ``grid`` is ``{option: [values]}``, ``seeds`` an iterable of ints, ``options`` the
    fixed options.
    """
    spec = SweepSpec(experiment=experiment, grid=dict(grid or {}), seeds=list(seeds), options=dict(options or {}),
                     threads_per_run=threads_per_run)
    return run_sweep(spec, **where)


__all__ = ["Run", "SweepError", "SweepOutcome", "SweepSpec", "collect", "parse_grid", "parse_seeds", "read_spec",
           "run_sweep", "sweep", "write_summary"]
