"""Runs of a sweep on local worker processes (the default: ``--workers N``).

A pool of ``N`` processes started with ``spawn`` (a fresh interpreter each: no state
copied from the client, as on any other machine), each running one run at a time
through :func:`minireg.sweeps.worker.run_job`. With ``threads_per_run`` BLAS threads a
run, the sweep uses ``N * threads_per_run`` cores: choose ``N`` as the cores you give
it divided by ``threads_per_run``.

If a worker process dies (killed, out of memory), the runs then in the pool fail with
that error, and the pool is started again for the runs still to do.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
from concurrent.futures.process import BrokenProcessPool

from minireg.sweeps.worker import run_job


class LocalProcesses:
    """``workers`` local processes, with the interface the sweep's driver uses
    (``slots``, ``submit``, ``wait``, ``result``, ``close``, ``description``).

    ``function`` is what a worker calls with each job (a module-level function, so that
    the worker processes can import it): :func:`~minireg.sweeps.worker.run_job`.
    """

    def __init__(self, workers: int, function=run_job):
        self.workers, self.function = workers, function
        self.description = f"{workers} local process{'es' if workers > 1 else ''}"
        self._pool = None

    def _new_pool(self):
        return concurrent.futures.ProcessPoolExecutor(max_workers=self.workers,
                                                      mp_context=multiprocessing.get_context("spawn"))

    def slots(self) -> int:
        """How many runs can run at once."""
        return self.workers

    def submit(self, job):
        """Start ``function(job)`` on a worker; return its future."""
        if self._pool is None:
            self._pool = self._new_pool()
        try:
            return self._pool.submit(self.function, job)
        except BrokenProcessPool:  # a worker died earlier: the runs left get a new pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(self.function, job)

    @staticmethod
    def wait(futures, timeout: float) -> list:
        """The futures among ``futures`` that are done, waiting at most ``timeout`` seconds for one."""
        done, _ = concurrent.futures.wait(futures, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)
        return list(done)

    @staticmethod
    def result(future) -> dict:
        """What ``function`` returned (raises BrokenProcessPool if the worker process died)."""
        return future.result()

    def close(self, now: bool = False) -> None:
        """Stop the workers when their runs are done, or at once (``now``, after Ctrl-C:
        the runs in progress are dropped)."""
        if self._pool is None:
            return
        if now:
            if hasattr(self._pool, "terminate_workers"):  # Python >= 3.14
                self._pool.terminate_workers()
            else:  # the pool's own record of its processes, {pid: Process}
                for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                    process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None
