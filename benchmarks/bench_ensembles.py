"""How much faster `minireg run ensembles --quick` finishes on 2 worker processes than on 1.

    python benchmarks/bench_ensembles.py --data-root PATH              # --workers 1 2, 3 rounds
    python benchmarks/bench_ensembles.py --data-root PATH --workers 1 2 4 --rounds 5

Each round runs the command once per worker count (their order reversed every other
round), each with one BLAS thread per training run (``--threads 1``) in a fresh runs
folder, and times it as a user sees it: from starting the interpreter to the written
report. The 9 training runs of ``--quick`` (4 seed members, 4 bagged members, the
dropout network) are what the workers share; loading MNIST, the evaluation and the
report stay on the client. Prints each time with the cores that *other* jobs kept busy
meanwhile (as ``bench_sweeps.py`` does), the medians, and each median as a fraction of
the median on the first count. Every run's results must be the same: the script checks
that too.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_sweeps import busy_cpu_seconds, compare_workers, load, own_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]


def time_run(workers: int, data_root) -> tuple:
    """(seconds, cores other jobs kept busy meanwhile, the run's results) of one --quick run."""
    command = [sys.executable, "-m", "minireg", "run", "ensembles", "--quick", "--threads", "1", "--no-progress",
               "--workers", str(workers)]
    if data_root:
        command += ["--data-root", str(data_root)]
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as scratch:
        busy, own, start = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
        subprocess.run(command + ["--runs-dir", scratch], check=True, env=environment, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        others = None if busy is None else (busy_cpu_seconds() - busy - (own_cpu_seconds() - own)) / seconds
        results = json.loads(next(Path(scratch).rglob("results.json")).read_text())["results"]
    return seconds, others, results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each times every worker count once)")
    parser.add_argument("--data-root", default="", help="folder with the MNIST files")
    arguments = parser.parse_args(argv)
    print(f"minireg run ensembles --quick --threads 1; cores: {os.cpu_count()}; {load()}")
    first = {}

    def time_one(workers):
        seconds, others, results = time_run(workers, arguments.data_root)
        if results != first.setdefault("results", results):
            raise RuntimeError(f"--workers {workers} gave other results than the first run")
        return seconds, others

    compare_workers(time_one, arguments.workers, arguments.rounds)
    print(f"\nthe results of every run are the same; {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
