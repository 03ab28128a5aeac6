"""Run a sweep: send its runs to workers, write what comes back, resume, summarize.

:func:`run_sweep` is the whole of ``minireg sweep``, from Python:

1. The sweep folder: a new ``RUNS_DIR/sweeps/NAME/<time>/``, or the one given. If it
   holds a ``sweep.json`` already, the spec must be the same (else an error says what
   differs), and the runs whose ``results.json`` exists are skipped: an interrupted
   sweep resumes where it was.
2. The runs still to do go to the workers -- local processes
   (:class:`~minireg.sweeps.local.LocalProcesses`) or a Dask cluster
   (:class:`~minireg.sweeps.dask_cluster.DaskCluster`) -- never more at a time than the
   workers can run, so that "running" means running.
3. What a worker returns is written into the run's folder, each file atomically,
   ``results.json`` last: a run folder with a ``results.json`` is a finished run. A
   run that failed gets its ``error.txt`` instead, is reported at once, and the others
   go on; it is run again when the sweep is.
4. A progress bar (tqdm, on stderr) shows runs done / total, running, failed, elapsed
   time and the time left.
5. At the end, and also after Ctrl-C, the summary (:mod:`minireg.sweeps.summary`).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from minireg import io
from minireg.checks import check_int, check_number
from minireg.experiments.base import RESULTS_FILE, new_run_folder
from minireg.sweeps.grid import SweepError, SweepSpec
from minireg.sweeps.local import LocalProcesses
from minireg.sweeps.summary import write_summary
from minireg.sweeps.worker import ERROR_FILE, Job, run_job

SPEC_FILE = "sweep.json"
REFRESH_SECONDS = 1.0


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    folder : Path
        The sweep folder.
    skipped : int
        Runs finished before this call (by an earlier, interrupted, call).
    finished : int
        Runs finished by this call.
    failed : dict
        ``{run folder: error}`` of the runs that failed in this call.
    summary : dict
        What ``summary.json`` holds (:func:`minireg.sweeps.summary.collect`).
    """

    folder: Path
    skipped: int
    finished: int
    failed: dict
    summary: dict


def read_spec(folder) -> SweepSpec:
    """The :class:`SweepSpec` saved in ``folder/sweep.json``."""
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        raise SweepError(f"{folder} holds no {SPEC_FILE}, so it is not a sweep folder")
    try:
        return SweepSpec.from_json(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as error:
        raise SweepError(f"{path} is not valid JSON: {error}") from None


def prepare_folder(spec: SweepSpec, folder=None, runs_dir="runs") -> Path:
    """The sweep folder, with its ``sweep.json``: new, or an earlier one of the same spec."""
    if folder is None:
        folder = new_run_folder(Path(runs_dir) / "sweeps", spec.experiment)
    folder = Path(folder)
    if (folder / SPEC_FILE).is_file():
        saved = read_spec(folder).to_json()
        differences = [key for key, value in spec.to_json().items() if saved[key] != value]
        if differences:
            raise SweepError(f"{folder} holds a sweep with another {', '.join(differences)} "
                             f"(see its {SPEC_FILE}); give a new folder, or the same sweep to resume it")
        return folder
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise SweepError(f"{folder} exists and is not a sweep folder; give a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    io.atomic_write_text(folder / SPEC_FILE, json.dumps(spec.to_json(), indent=2) + "\n")
    return folder


def write_run_files(run_folder: Path, files: dict) -> None:
    """Replace the content of ``run_folder`` by ``files`` (``{relative path: bytes}``),
    each file atomically and ``results.json`` last."""
    for name in files:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError(f"a worker returned a file outside its run folder: {name!r}")
    run_folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(run_folder.rglob("*"), reverse=True):  # what an earlier, failed try left
        old.rmdir() if old.is_dir() else old.unlink()
    for name in sorted(files, key=lambda name: name == RESULTS_FILE):
        path = run_folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        io.atomic_write_bytes(path, files[name])


def check_where(workers: int = 1, scheduler=None, connect_timeout: float = 5.0) -> None:
    """A SweepError naming the argument if the workers, scheduler or timeout cannot be used."""
    try:
        check_int(workers, "--workers", minimum=1)
        check_number(connect_timeout, "--connect-timeout", minimum=0.0, include_minimum=False)
    except (TypeError, ValueError) as error:
        raise SweepError(str(error)) from None
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise SweepError(f"--scheduler takes tcp://HOST:PORT or local, got {scheduler!r}")


def make_backend(workers: int = 1, scheduler=None, connect_timeout: float = 5.0, function=run_job):
    """Local processes, or a Dask cluster when ``scheduler`` is given (an address or "local"),
    whose workers call ``function`` with each job (a sweep's runs by default)."""
    check_where(workers, scheduler, connect_timeout)
    if scheduler is None:
        return LocalProcesses(workers, function)
    from minireg.sweeps.dask_cluster import DaskCluster
    return DaskCluster(scheduler.strip(), workers, connect_timeout, function)


def run_sweep(spec: SweepSpec, folder=None, runs_dir="runs", workers: int = 1, scheduler=None,
              connect_timeout: float = 5.0, progress: bool = True, metrics=None, out=None) -> SweepOutcome:
    """Run every run of ``spec`` not finished yet, write the summary, return a :class:`SweepOutcome`.

    Parameters
    ----------
    spec : SweepSpec
        The experiment, grid, seeds, fixed options and BLAS threads per run.
    folder : path, optional
        The sweep folder; by default a new ``runs_dir/sweeps/NAME/<time>/``. A folder of
        an earlier call with the same spec resumes that sweep.
    workers : int
        Local worker processes; with ``scheduler="local"``, the LocalCluster's processes.
    scheduler : str, optional
        ``"tcp://HOST:PORT"`` of a running Dask scheduler, or ``"local"``.
    connect_timeout : float
        Seconds to wait for the scheduler before giving up with an error.
    progress : bool
        Show the progress bar on stderr.
    metrics : sequence of str, optional
        Glob patterns of the metrics that the summary keeps (all by default).
    out : file, optional
        Where the bar, the failures and where the runs go are written (sys.stderr by default).

    Raises
    ------
    SweepError
        Bad input, a folder of another sweep, or a scheduler that cannot be reached.
    KeyboardInterrupt
        After Ctrl-C, once the workers are stopped and the summary is written; the
        sweep resumes when called again with the same folder.
    """
    out = sys.stderr if out is None else out
    if not isinstance(spec, SweepSpec):
        raise TypeError(f"spec must be a SweepSpec, got {type(spec).__name__}")
    check_where(workers, scheduler, connect_timeout)
    folder = prepare_folder(spec, folder, runs_dir)
    runs = spec.runs()
    todo = [run for run in runs if not (folder / run.folder / RESULTS_FILE).is_file()]
    failed, finished = {}, 0
    try:
        if todo:
            backend = make_backend(workers, scheduler, connect_timeout)
            bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc=f"sweep {spec.experiment}",
                       unit="run", file=out, disable=not progress, dynamic_ncols=True)
            report = lambda line: bar.write(line, file=out)  # noqa: E731 -- above the bar
            report(f"{len(todo)} runs to do ({len(runs) - len(todo)} finished before) on {backend.description}")
            try:
                finished = _drive(backend, spec, folder, todo, bar, failed, report)
            finally:
                bar.close()
    finally:
        summary = write_summary(folder, spec, metrics)
    return SweepOutcome(folder=folder, skipped=len(runs) - len(todo), finished=finished, failed=failed,
                        summary=summary)


def _drive(backend, spec, folder, todo, bar, failed, report) -> int:
    """Keep the workers busy with ``todo``, write what comes back; return how many finished."""
    pending, in_flight, finished = list(reversed(todo)), {}, 0

    def show(slots):
        waiting = "" if slots else ", waiting for workers to join"
        bar.set_postfix_str(f"running {min(len(in_flight), slots)}, failed {len(failed)}{waiting}", refresh=False)

    interrupted = True
    try:
        while pending or in_flight:
            slots = backend.slots()
            while pending and len(in_flight) < max(1, slots):
                run = pending.pop()
                in_flight[backend.submit(Job(spec.experiment, run.config, spec.threads_per_run))] = run
            show(slots)
            bar.refresh()  # also moves the elapsed time and the time left
            for future in backend.wait(list(in_flight), REFRESH_SECONDS):
                run = in_flight.pop(future)
                try:
                    outcome = backend.result(future)
                except Exception as error:  # noqa: BLE001 -- the worker died: this run failed
                    message = f"the worker running it stopped: {type(error).__name__}: {error}"
                    outcome = {"ok": False, "error": message, "files": {ERROR_FILE: (message + "\n").encode()}}
                write_run_files(folder / run.folder, outcome["files"])
                if outcome["ok"]:
                    finished += 1
                else:
                    failed[run.folder] = outcome["error"]
                    report(f"failed: {run.folder}: {outcome['error']}")
                show(slots)
                bar.update(1)
        interrupted = False
    finally:
        backend.close(now=interrupted)
    return finished
