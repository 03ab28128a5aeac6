"""One run of a sweep, as a worker does it: in a temporary folder, returned as data.

:func:`run_job` is what a local worker process or a Dask worker calls. It runs the
experiment with :func:`~minireg.experiments.base.run_experiment` into a temporary
folder, reads every file of the run folder back as bytes, and returns them; the
client writes them into the sweep folder. So a worker needs no disk shared with the
client, and what it leaves behind is nothing.

Two things are held for the whole run, process-wide, and released when the last run
of this process ends (a Dask worker with several threads runs several at a time):

* **the BLAS thread count** (threadpoolctl): a run's numbers depend on how many threads
  split its matrix products, so every run of a sweep runs with the sweep's
  ``threads_per_run``, wherever it runs. Runs that ask for another count wait until
  the process is free of runs with the current one. The count is checked once set:
  OpenBLAS (0.3.31, NumPy's) ignores a change asked for from a thread other than the
  main one once the main thread has changed it, and a run that cannot get its thread
  count fails and says how to start the worker, rather than give other numbers.
* **the output**: what the run prints on stdout and stderr (the epoch lines) goes into
  the run's ``output.log`` instead of the terminal, each thread's into its own log.

A run that raises (a config value the experiment refuses, a crash in training)
returns ``ok=False`` with the error and its traceback in ``error.txt``; the sweep goes on.
"""
from __future__ import annotations

import contextlib
import io
import json
import platform
import socket
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from minireg import kernels
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import run_experiment

OUTPUT_FILE = "output.log"
WORKER_FILE = "worker.json"
ERROR_FILE = "error.txt"


@dataclass(frozen=True)
class Job:
    """What a worker needs for one run: plain data, sent to the worker by pickle.

    Attributes
    ----------
    experiment : str
        The experiment's name in :data:`minireg.experiments.EXPERIMENTS`.
    config : dict
        The options given (the others keep their defaults).
    threads_per_run : int
        The BLAS threads of the run.
    """

    experiment: str
    config: dict
    threads_per_run: int


class _ProcessWideHold:
    """Something set for the whole process while at least one run uses it.

    ``hold(key)`` waits while other runs hold it with another ``key``; the first run to
    hold it calls ``start(key)``, the last one to let go calls ``stop(state)``.
    """

    def __init__(self, start, stop):
        self._start, self._stop = start, stop
        self._condition = threading.Condition()
        self._key, self._state, self._holders = None, None, 0

    @contextlib.contextmanager
    def hold(self, key):
        with self._condition:
            self._condition.wait_for(lambda: self._holders == 0 or self._key == key)
            if self._holders == 0:
                self._key, self._state = key, self._start(key)
            self._holders += 1
        try:
            yield
        finally:
            with self._condition:
                self._holders -= 1
                if self._holders == 0:
                    self._stop(self._state)
                    self._key = self._state = None
                    self._condition.notify_all()


BLAS_LIMIT = _ProcessWideHold(start=lambda threads: threadpool_limits(limits=threads),
                              stop=lambda limiter: limiter.restore_original_limits())
"""Every thread pool (BLAS and OpenMP) of the process limited to a run's ``threads_per_run``."""


class _ThreadOutput(io.TextIOBase):
    """Stands for sys.stdout or sys.stderr: a thread that captures writes to its buffer,
    every other thread to the original stream."""

    def __init__(self, original, captures):
        self.original, self._captures = original, captures

    def write(self, text):
        buffer = getattr(self._captures, "buffer", None)
        return (buffer if buffer is not None else self.original).write(text)

    def flush(self):
        if getattr(self._captures, "buffer", None) is None:
            self.original.flush()


_captures = threading.local()


def _install_output(_):
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ThreadOutput(sys.stdout, _captures), _ThreadOutput(sys.stderr, _captures)
    return saved


def _restore_output(saved):
    sys.stdout, sys.stderr = saved


OUTPUT_REDIRECT = _ProcessWideHold(start=_install_output, stop=_restore_output)


@contextlib.contextmanager
def captured_output():
    """Collect what this thread writes on stdout and stderr into a StringIO (yielded)."""
    buffer = io.StringIO()
    with OUTPUT_REDIRECT.hold("threads"):
        _captures.buffer = buffer
        try:
            yield buffer
        finally:
            _captures.buffer = None


def _blas_threads() -> int:
    """The most threads any BLAS of this process uses now (0 if none is loaded)."""
    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=0)


def _folder_files(folder: Path) -> dict:
    """``{relative path: bytes}`` of every file under ``folder``."""
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def run_job(job: Job) -> dict:
    """Run one job and return ``{"ok": bool, "error": str or None, "files": {path: bytes}}``.

    ``files`` holds the run folder's files (``config.json``, ``results.json``,
    ``report.md``, plots), ``output.log`` (what the run printed) and ``worker.json``
    (where and how it ran: host, BLAS threads, compiled kernels, seconds); after a
    failure, ``error.txt`` (the traceback) instead of the run folder's files. Never
    raises for a failure of the run itself.
    """
    start = time.perf_counter()
    files, error = {}, None
    with captured_output() as output, BLAS_LIMIT.hold(job.threads_per_run):
        blas_threads = _blas_threads()
        try:
            if blas_threads not in (0, job.threads_per_run):
                raise RuntimeError(
                    f"the BLAS of this worker runs on {blas_threads} threads, not the {job.threads_per_run} this "
                    "sweep asks for, and threadpoolctl could not change that from this thread; start the worker "
                    f"with OPENBLAS_NUM_THREADS={job.threads_per_run} OMP_NUM_THREADS={job.threads_per_run} "
                    f"MKL_NUM_THREADS={job.threads_per_run}")
            if job.experiment not in EXPERIMENTS:
                raise ValueError(f"this worker's minireg has no experiment {job.experiment!r}")
            experiment = EXPERIMENTS[job.experiment]
            config = experiment.config_class(**job.config)
            with tempfile.TemporaryDirectory(prefix="minireg-sweep-") as scratch:
                files = _folder_files(run_experiment(experiment, config, runs_dir=scratch))
        except Exception as exception:  # noqa: BLE001 -- reported as the run's failure
            error = "".join(traceback.format_exception_only(type(exception), exception)).strip()
            files = {ERROR_FILE: traceback.format_exc().encode("utf-8")}
    worker = {"host": socket.gethostname(), "python": platform.python_version(), "numpy": np.__version__,
              "blas_threads": blas_threads, "kernels": kernels.compiled_status(),
              "seconds": round(time.perf_counter() - start, 3)}
    files[OUTPUT_FILE] = output.getvalue().encode("utf-8")
    files[WORKER_FILE] = (json.dumps(worker, indent=2) + "\n").encode("utf-8")
    return {"ok": error is None, "error": error, "files": files}
