"""Sweeps that run: local processes, resume after a kill, failures, and a real Dask cluster
on 127.0.0.1 (a scheduler and two workers started as subprocesses), all with the same numbers."""
import concurrent.futures
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from minireg import sweeps
from minireg.sweeps import SweepError, SweepSpec, cli, run_sweep, runner
from minireg.sweeps.local import LocalProcesses
from minireg.sweeps.runner import make_backend
from minireg.sweeps.worker import Job

ROOT = Path(__file__).resolve().parents[1]
NAME = "early-stopping-synthetic"
TINY = {"n_subtrain": 60, "n_val": 40, "n_test": 50, "hidden": 8, "epochs": 4, "patience": 2,
        "continue_max_epochs": 1.0}
TINY_ARGS = ["--n-subtrain", "60", "--n-val", "40", "--n-test", "50", "--hidden", "8", "--epochs", "4",
             "--patience", "2", "--continue-max-epochs", "1"]
SPEC = SweepSpec(NAME, grid={"lr": [0.01, 0.02]}, seeds=[0, 1], options=TINY)  # 4 runs
METRICS = ["test.early_stopping.*"]  # few plots: the summary stays quick


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment() -> dict:
    """This checkout first on the path of every subprocess (workers import minireg from it)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def numbers(folder: Path) -> dict:
    """Every run's files that hold its numbers, without the times: {run/file: content}."""
    found = {}
    for path in sorted(folder.glob("*/seed=*/*")):
        key = path.relative_to(folder).as_posix()
        if path.name in ("results.json", "config.json"):
            document = json.loads(path.read_text())
            found[key] = {k: v for k, v in document.items() if k not in ("started", "seconds")}
        elif path.suffix == ".png":
            found[key] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def on_two_processes(tmp_path_factory):
    """SPEC swept on 2 local worker processes (what the other sweeps are compared with)."""
    return sweeps.sweep(NAME, grid={"lr": [0.01, 0.02]}, seeds=range(2), options=TINY, workers=2, progress=False,
                        folder=tmp_path_factory.mktemp("local") / "sweep", metrics=METRICS)


def test_two_local_processes_run_every_point_and_summarize(on_two_processes):
    outcome = on_two_processes
    assert (outcome.skipped, outcome.finished, outcome.failed) == (0, 4, {})
    assert outcome.summary["counts"] == {"runs": 4, "finished": 4, "failed": 0, "missing": 0}
    for run in SPEC.runs():
        folder = outcome.folder / run.folder
        results = json.loads((folder / "results.json").read_text())
        assert results["config"]["lr"] == run.values["lr"] and results["config"]["seed"] == run.seed
        assert json.loads((folder / "worker.json").read_text())["blas_threads"] == 1
        assert "epoch 4/4" in (folder / "output.log").read_text()
    assert {path.name for path in outcome.folder.iterdir()} >= {"sweep.json", "summary.md", "summary.csv",
                                                                "summary.json", "plots"}
    assert len(numbers(outcome.folder)) == 4 * 4


def test_a_refused_value_fails_its_runs_only_and_the_rest_equal_a_sweep_elsewhere(on_two_processes, tmp_path,
                                                                                   capsys):
    folder = tmp_path / "sweep"
    status = cli.main([NAME, "--grid", "lr=0.01,-1", "--seeds", "0", *TINY_ARGS, "--workers", "1",
                       "--folder", str(folder), "--metrics", *METRICS])
    assert status == 1
    captured = capsys.readouterr()
    assert "failed: 01_lr=-1.0/seed=0: ValueError: lr must be a finite number in (0.0, inf)" in captured.err
    # the bar: runs done / total, elapsed < time left, running, failed
    assert "| 2/2 [" in captured.err and "running 0, failed 1]" in captured.err
    assert "| 0/2 [00:00<?" in captured.err and "running 1, failed 0]" in captured.err
    assert "1 of 2 runs finished (0 before this call), 1 failed, 0 missing" in captured.out
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["failed"] == [{"run": "01_lr=-1.0/seed=0",
                                  "error": "ValueError: lr must be a finite number in (0.0, inf), got -1.0"}]
    # one worker here, two there: the same bits
    mine, theirs = numbers(folder), numbers(on_two_processes.folder)
    assert mine and all(mine[key] == theirs[key] for key in mine)
    # the same command again: the finished run is kept, the failed one is tried again
    assert cli.main(["early-stopping-synthetic", "--grid", "lr=0.01,-1", "--seeds", "0", *TINY_ARGS, "--no-bar",
                     "--folder", str(folder), "--metrics", *METRICS]) == 1
    assert "1 of 2 runs finished (1 before this call), 1 failed" in capsys.readouterr().out
    assert numbers(folder) == mine


def test_a_killed_sweep_resumes_without_redoing_its_finished_runs(on_two_processes, tmp_path):
    folder = tmp_path / "sweep"
    command = [sys.executable, "-m", "minireg.sweeps", NAME, "--grid", "lr=0.01,0.02", "--seeds", "0-1",
               *TINY_ARGS, "--workers", "1", "--no-bar", "--folder", str(folder), "--metrics", *METRICS]
    process = subprocess.Popen(command, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("*/seed=*/results.json"))) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "the sweep did not finish two runs in two minutes"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the client and its workers, as a machine going down would
        process.wait(30)
    done = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in folder.glob("*/seed=*/results.json")}
    assert 2 <= len(done) < 4

    resume = [sys.executable, "-m", "minireg.sweeps", "--resume", str(folder), "--workers", "2", "--no-bar",
              "--metrics", *METRICS]
    done_again = subprocess.run(resume, env=environment(), capture_output=True, text=True, timeout=300)
    assert done_again.returncode == 0, done_again.stderr
    assert f"4 of 4 runs finished ({len(done)} before this call), 0 failed, 0 missing" in done_again.stdout
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in done} == done
    assert numbers(folder) == numbers(on_two_processes.folder)


@pytest.fixture
def dask_cluster(tmp_path):
    """A Dask scheduler and two one-thread workers, on 127.0.0.1 only; stopped at the end."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    processes = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
                                   str(port), "--idle-timeout", "300", *common], env=environment(), cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for index in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-nanny", "--death-timeout", "60", "--name", f"worker-{index}",
                 "--local-directory", str(tmp_path / f"worker-{index}"), *common],
                env=environment(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client
        deadline = time.monotonic() + 60
        while True:  # the scheduler may not listen yet
            try:
                with Client(address, timeout=5, set_as_default=False) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                break
            except OSError:
                assert time.monotonic() < deadline, "the Dask scheduler did not start within a minute"
                time.sleep(0.2)
        yield address
    finally:  # the workers first, while their scheduler still answers, then the scheduler
        for group in (processes[1:], processes[:1]):
            for process in group:
                process.terminate()
            for process in group:
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


def test_a_dask_cluster_of_two_workers_gives_the_same_bits_as_local_processes(dask_cluster, on_two_processes,
                                                                                tmp_path):
    outcome = run_sweep(SPEC, folder=tmp_path / "sweep", scheduler=dask_cluster, progress=False, metrics=METRICS)
    assert (outcome.finished, outcome.failed) == (4, {})
    assert numbers(outcome.folder) == numbers(on_two_processes.folder)
    threads = {json.loads(path.read_text())["blas_threads"] for path in outcome.folder.glob("*/seed=*/worker.json")}
    assert threads == {1}
    assert (outcome.folder / "summary.md").read_text() == (on_two_processes.folder / "summary.md").read_text()


def test_a_dask_local_cluster_gives_the_same_bits_too(on_two_processes, tmp_path):
    spec = SweepSpec(NAME, grid=SPEC.grid, seeds=[1], options=TINY)  # the same folder names, one seed
    outcome = run_sweep(spec, folder=tmp_path / "sweep", scheduler="local", workers=2, progress=False,
                        metrics=METRICS)
    assert outcome.finished == 2
    mine, theirs = numbers(outcome.folder), numbers(on_two_processes.folder)
    assert len(mine) == 2 * 4 and all(mine[key] == theirs[key] for key in mine)


def silent_server():
    """A socket that accepts connections (the kernel does) and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    return server


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_a_scheduler_that_does_not_answer_fails_fast_with_one_clear_line(kind, tmp_path, capsys):
    server = silent_server() if kind == "silent" else None
    port = server.getsockname()[1] if server else free_port()
    try:
        start = time.monotonic()
        status = cli.main([NAME, "--seeds", "0", *TINY_ARGS, "--scheduler", f"tcp://127.0.0.1:{port}",
                           "--connect-timeout", "1", "--folder", str(tmp_path / "sweep"), "--no-bar"])
        elapsed = time.monotonic() - start
    finally:
        if server:
            server.close()
    assert status == 2 and elapsed < 10
    error = capsys.readouterr().err.splitlines()[-1]
    expected = ("does not answer (no reply within 1 s)" if kind == "silent" else "Connection refused")
    assert error.startswith(f"minireg sweep: ") and f"127.0.0.1:{port}" in error and expected in error


def test_without_dask_local_processes_work_and_a_scheduler_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now fails
    assert make_backend(workers=2).slots() == 2
    with pytest.raises(SweepError, match=r'pip install "minireg\[distributed\]"'):
        make_backend(scheduler="local")
    done = subprocess.run([sys.executable, "-c", "import sys, minireg.sweeps, minireg.sweeps.cli; "
                                                 "print('dask' in sys.modules, 'distributed' in sys.modules)"],
                          env=environment(), capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False False", done.stderr


def exit_when_told(job):
    """A job function for a worker process: dies on lr=-1, as a worker killed for memory would."""
    if job.config["lr"] == -1.0:
        os._exit(3)
    return {"ok": True, "error": None, "files": {"results.json": b'{"results": {}}'}}


def test_a_dead_worker_process_fails_its_run_and_a_new_pool_runs_the_rest():
    backend = LocalProcesses(1, function=exit_when_told)
    try:
        dying = backend.submit(Job(NAME, {"lr": -1.0}, 1))
        assert backend.wait([dying], 60) == [dying]
        with pytest.raises(BrokenProcessPool):
            backend.result(dying)
        after = backend.submit(Job(NAME, {"lr": 0.1}, 1))
        assert backend.wait([after], 60) == [after] and backend.result(after)["ok"]
    finally:
        backend.close()


class DyingBackend:
    """In-process stand-in for a pool whose worker dies on lr=-1 (what the driver sees)."""

    description = "a stand-in"

    def __init__(self):
        self.closed_now = None

    def slots(self):
        return 2

    def submit(self, job):
        future = concurrent.futures.Future()
        if job.config["lr"] == -1.0:
            future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
        else:
            future.set_result({"ok": True, "error": None, "files": {"results.json": b'{"results": {"x": 1}}'}})
        return future

    def wait(self, futures, timeout):
        return [future for future in futures if future.done()]

    def result(self, future):
        return future.result()

    def close(self, now=False):
        self.closed_now = now


def test_a_run_whose_worker_died_is_reported_failed_and_the_others_finish(tmp_path, monkeypatch):
    backend = DyingBackend()
    monkeypatch.setattr(runner, "make_backend", lambda *args: backend)
    out = io.StringIO()
    outcome = run_sweep(SweepSpec(NAME, grid={"lr": [0.1, -1.0, 0.2]}, seeds=[], options={}), folder=tmp_path / "s",
                        out=out)
    message = "the worker running it stopped: BrokenProcessPool: a child process terminated abruptly"
    assert outcome.failed == {"01_lr=-1.0": message}
    assert outcome.finished == 2 and backend.closed_now is False
    assert (tmp_path / "s" / "01_lr=-1.0" / "error.txt").read_text() == message + "\n"
    assert f"failed: 01_lr=-1.0: {message}" in out.getvalue()
