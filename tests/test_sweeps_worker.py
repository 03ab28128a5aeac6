"""Sweeps: one run on a worker (files returned as bytes, output captured, BLAS threads held)."""
import json
import sys
import threading

from threadpoolctl import threadpool_info, threadpool_limits

from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import run_experiment
from minireg.sweeps import worker
from minireg.sweeps.worker import Job, run_job

NAME = "early-stopping-synthetic"
TINY = {"n_subtrain": 60, "n_val": 40, "n_test": 50, "hidden": 8, "epochs": 4, "patience": 2,
        "continue_max_epochs": 1.0}


def blas_threads():
    return max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")


def without_times(document: dict) -> dict:
    return {key: value for key, value in document.items() if key not in ("started", "seconds")}


def test_a_job_returns_the_run_folder_as_bytes_equal_to_a_run_on_one_blas_thread(tmp_path):
    outcome = run_job(Job(NAME, {**TINY, "seed": 5}, threads_per_run=1))
    assert outcome["ok"] and outcome["error"] is None
    files = outcome["files"]
    assert {"config.json", "results.json", "report.md", "loss_curves.png", "output.log", "worker.json"} <= set(files)
    with threadpool_limits(limits=1):
        folder = run_experiment(EXPERIMENTS[NAME], EXPERIMENTS[NAME].config_class(**TINY, seed=5), runs_dir=tmp_path)
    assert without_times(json.loads(files["results.json"])) == without_times(
        json.loads((folder / "results.json").read_text()))
    assert files["loss_curves.png"] == (folder / "loss_curves.png").read_bytes()
    # the epoch lines went into output.log, not onto the terminal
    assert f"epoch {TINY['epochs']}/{TINY['epochs']}" in files["output.log"].decode()   # the run's progress
    assert json.loads(files["worker.json"])["blas_threads"] == 1


def test_a_refused_option_value_is_a_failed_run_with_its_traceback():
    outcome = run_job(Job(NAME, {**TINY, "lr": -1.0}, threads_per_run=1))
    assert not outcome["ok"]
    assert outcome["error"] == "ValueError: lr must be a finite number in (0.0, inf), got -1.0"
    assert b"Traceback" in outcome["files"]["error.txt"] and "results.json" not in outcome["files"]
    assert run_job(Job("nope", {}, 1))["error"] == "ValueError: this worker's minireg has no experiment 'nope'"


def recording_hold(events):
    return worker._ProcessWideHold(start=lambda key: events.append(("start", key)) or key,
                                   stop=lambda state: events.append(("stop", state)))


def test_a_hold_lasts_until_the_last_run_of_the_process_lets_go():
    events = []
    hold = recording_hold(events)
    first_in, second_in, first_may_leave, first_left = (threading.Event() for _ in range(4))

    def first():
        with hold.hold(1):
            first_in.set()
            first_may_leave.wait(10)
        events.append(("first left",))
        first_left.set()

    def second():
        first_in.wait(10)
        with hold.hold(1):
            second_in.set()
            first_left.wait(10)
            events.append(("second still in",))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    second_in.wait(10)
    first_may_leave.set()
    for thread in threads:
        thread.join(10)
    assert events == [("start", 1), ("first left",), ("second still in",), ("stop", 1)]


def test_the_blas_limit_is_set_for_the_run_and_restored_after():
    before = blas_threads()
    with worker.BLAS_LIMIT.hold(1):
        assert blas_threads() == 1
        with worker.BLAS_LIMIT.hold(1):  # a second run of the same process
            pass
        assert blas_threads() == 1
    assert blas_threads() == before


def test_a_run_whose_blas_threads_cannot_be_set_fails_instead_of_giving_other_numbers(monkeypatch):
    monkeypatch.setattr(worker, "_blas_threads", lambda: 3)
    outcome = run_job(Job(NAME, TINY, threads_per_run=1))
    assert not outcome["ok"]
    assert "runs on 3 threads, not the 1 this sweep asks for" in outcome["error"]
    assert "OPENBLAS_NUM_THREADS=1" in outcome["error"]


def test_a_run_with_another_thread_count_waits_for_the_process_to_be_free():
    events = []
    hold = recording_hold(events)
    first_in, first_may_leave = threading.Event(), threading.Event()

    def first():
        with hold.hold(1):
            first_in.set()
            first_may_leave.wait(10)
            events.append(("first leaves",))

    def other():
        first_in.wait(10)
        with hold.hold(2):
            events.append(("other runs",))

    threads = [threading.Thread(target=first), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    first_in.wait(10)
    threading.Timer(0.2, first_may_leave.set).start()
    for thread in threads:
        thread.join(10)
    assert events == [("start", 1), ("first leaves",), ("stop", 1), ("start", 2), ("other runs",), ("stop", 2)]


def test_each_thread_captures_its_own_output_and_the_others_print_as_usual(capsys):
    texts = {}

    def run(name):
        with worker.captured_output() as buffer:
            for _ in range(200):
                print(name, end=" ")
                sys.stderr.write(name.upper())
        texts[name] = buffer.getvalue()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    print("main")
    for thread in threads:
        thread.join(10)
    assert texts["a"].replace("A", "") == "a " * 200 and texts["a"].count("A") == 200
    assert texts["b"].replace("B", "") == "b " * 200
    assert capsys.readouterr().out == "main\n"
    assert not isinstance(sys.stdout, worker._ThreadOutput)
