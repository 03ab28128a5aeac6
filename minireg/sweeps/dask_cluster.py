"""Runs of a sweep on a Dask distributed cluster (``--scheduler tcp://HOST:PORT`` or ``local``).

Dask is optional (``pip install "minireg[distributed]"``): this module imports it only
when a sweep asks for a scheduler. Each run is one Dask task calling
:func:`minireg.sweeps.worker.run_job`; the task returns the run's files, and the client
writes them, so the workers need minireg (the same version) but no shared disk.

A worker thread runs one run at a time with ``threads_per_run`` BLAS threads, so a
worker started with ``--nthreads 4`` runs four runs at once. Start workers with one
thread per ``threads_per_run`` cores they are given.

``--scheduler local`` starts a :class:`distributed.LocalCluster` of ``workers``
processes of one thread each, listening on 127.0.0.1 only, and stops it at the end.

Connecting is bounded in time: Dask's client waits without limit for the scheduler's
greeting once a TCP connection is open (distributed 2026.8, ``comm.core.connect``), so
for ``tcp://`` addresses :func:`_check_scheduler_answers` first checks, within the
timeout, that the server greets as a Dask server does (it writes first).
"""
from __future__ import annotations

import socket
import time

from minireg.sweeps.grid import SweepError
from minireg.sweeps.worker import run_job

INSTALL_HINT = 'Dask is not installed; to run sweeps on a Dask cluster: pip install "minireg[distributed]"'


def import_distributed():
    """The ``distributed`` module, or a SweepError that says how to install it."""
    try:
        import distributed
    except ImportError:
        raise SweepError(INSTALL_HINT) from None
    return distributed


def _check_scheduler_answers(address: str, timeout: float) -> None:
    """Raise a SweepError unless a server at the ``tcp://`` ``address`` greets within ``timeout`` s."""
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme != "tcp":
        return
    try:
        host, port = parse_host_port(location)
    except ValueError as error:
        raise SweepError(f"--scheduler {address!r} is not an address tcp://HOST:PORT: {error}") from None
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as probe:
            probe.settimeout(max(0.01, deadline - time.monotonic()))
            greeting = probe.recv(1)
    except socket.timeout:
        raise SweepError(f"the Dask scheduler at {address} does not answer (no reply within {timeout:g} s)") from None
    except OSError as error:
        raise SweepError(f"cannot reach the Dask scheduler at {address}: {error.strerror or error}") from None
    if not greeting:
        raise SweepError(f"the server at {address} closed the connection without answering as a Dask scheduler")


class DaskCluster:
    """A Dask client (and the LocalCluster it started, if any), with the interface the
    sweep's driver uses (``slots``, ``submit``, ``wait``, ``result``, ``close``, ``description``).

    ``function`` is what a worker calls with each job: :func:`~minireg.sweeps.worker.run_job`
    for a sweep (another module-level function for an ensemble's members)."""

    def __init__(self, scheduler: str, workers: int, timeout: float, function=run_job):
        self.function = function
        distributed = import_distributed()
        self._distributed = distributed
        self._cluster = None
        self._futures = set()  # submitted, result not taken yet
        if scheduler == "local":
            self._cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                     host="127.0.0.1", dashboard_address=None)
            address = self._cluster.scheduler_address
            self.description = f"a Dask LocalCluster of {workers} process{'es' if workers > 1 else ''} ({address})"
        else:
            address = scheduler if "://" in scheduler else "tcp://" + scheduler
            _check_scheduler_answers(address, timeout)
            self.description = f"the Dask scheduler at {address}"
        try:
            self._client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            self._close_cluster()
            raise SweepError(f"cannot connect to the Dask scheduler at {address}: {error}") from None

    def slots(self) -> int:
        """The threads of the workers connected now (0 while none has joined)."""
        return sum(self._client.nthreads().values())

    def submit(self, job):
        """Send ``function(job)`` to the cluster; return its future."""
        future = self._client.submit(self.function, job, pure=False)
        self._futures.add(future)
        return future

    def wait(self, futures, timeout: float) -> list:
        """The futures among ``futures`` that are done, waiting at most ``timeout`` seconds for one."""
        try:
            with self._client.as_current():  # distributed.wait uses the current client
                self._distributed.wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass
        return [future for future in futures if future.done()]

    def result(self, future) -> dict:
        """What ``run_job`` returned (raises if the worker died, e.g. ``KilledWorker``)."""
        self._futures.discard(future)
        return future.result()

    def close(self, now: bool = False) -> None:
        """Cancel what is still running (``now``) and disconnect; stop the LocalCluster we started."""
        try:
            if now and self._futures:
                self._client.cancel(list(self._futures), force=True)
            self._client.close()
        finally:
            self._close_cluster()

    def _close_cluster(self):
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
