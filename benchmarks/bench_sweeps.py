"""How much faster a sweep finishes on more worker processes.

    python benchmarks/bench_sweeps.py                   # 8 runs, --workers 1 against 2, 5 rounds
    python benchmarks/bench_sweeps.py --workers 1 4 8 16 --rounds 3

Each round runs the same sweep once per worker count, in a fresh folder, the counts in
turn (their order reversed every other round, so that a change of the machine's load
falls on all of them alike); the whole sweep is timed, from starting the worker
processes to the summary. Prints each round's times, the median per count, and each
median as a fraction of the median on one worker. The sweep: early-stopping-synthetic
at 4 learning rates times 2 seeds (8 runs) with a shorter training than its default,
one BLAS thread per run (the default).

The ratio means little on a machine busy with other work, so each time is printed
with the number of cores that *other* jobs kept busy meanwhile (on Linux: the
machine's busy CPU time from /proc/stat, less this process's and its workers').
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minireg.sweeps import SweepSpec, run_sweep  # noqa: E402

SPEC = SweepSpec("early-stopping-synthetic", grid={"lr": [0.01, 0.005, 0.002, 0.001]}, seeds=[0, 1],
                 options={"epochs": 25, "continue_max_epochs": 10.0, "progress": False})


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the worker processes)."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def time_sweep(workers: int) -> tuple:
    """Seconds of one sweep on ``workers`` processes, and the cores other jobs kept busy meanwhile."""
    with tempfile.TemporaryDirectory() as scratch:
        busy, own, start = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
        outcome = run_sweep(SPEC, folder=Path(scratch) / "sweep", workers=workers, progress=False,
                            metrics=["test.early_stopping.error"], out=io.StringIO())
        seconds = time.perf_counter() - start
        others = None if busy is None else (busy_cpu_seconds() - busy - (own_cpu_seconds() - own)) / seconds
    if outcome.failed or outcome.finished != len(SPEC.runs()):
        raise RuntimeError(f"the sweep on {workers} workers did not finish every run: {outcome.failed}")
    return seconds, others


def compare_workers(time_one, worker_counts, rounds) -> dict:
    """``{workers: [seconds per round]}``: ``time_one(workers)`` -> (seconds, cores other jobs
    used) for every count in every round (the order reversed every other round); prints
    each round and the table of medians."""
    times = {workers: [] for workers in worker_counts}
    for round_index in range(rounds):
        order = worker_counts if round_index % 2 == 0 else worker_counts[::-1]
        others = {}
        for workers in order:
            seconds, others[workers] = time_one(workers)
            times[workers].append(seconds)
        print(f"round {round_index + 1}: " + ", ".join(
            f"{w} workers {times[w][-1]:.2f} s" + ("" if others[w] is None else f" (other jobs: {others[w]:.2f} cores)")
            for w in worker_counts), flush=True)
    base = statistics.median(times[worker_counts[0]])
    print(f"\n| workers | median (s) | range (s) | / median on {worker_counts[0]} |")
    print("| --- | --- | --- | --- |")
    for workers, measured in times.items():
        median = statistics.median(measured)
        print(f"| {workers} | {median:.2f} | {min(measured):.2f}-{max(measured):.2f} | {median / base:.2f} |")
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (each times every worker count once)")
    arguments = parser.parse_args(argv)
    print(f"{len(SPEC.runs())} runs of {SPEC.experiment}, options {SPEC.options}; cores: {os.cpu_count()}; {load()}")
    compare_workers(time_sweep, arguments.workers, arguments.rounds)
    print(f"\n{load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
