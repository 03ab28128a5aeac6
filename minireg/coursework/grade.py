"""Grade a submission of an assignment: run its tests, write Gradescope's ``results.json``.

This file is the autograder's grading script: ``minireg assignment build`` copies it
into the autograder as it is, so it uses the standard library and pytest only. The
autograder folder holds::

    grade.py            this script
    run_autograder      what Gradescope runs: python3 grade.py with its folders
    setup.sh            installs the dependencies (Gradescope runs it once, in the image)
    assignment.lock     the reference commit and the sha256 of every generated file
    tasks.json          tasks, points, graded and hidden tests (node ids), student files
    starter/            the starter package, as the students got it
    graded/             the graded test files, public and hidden (graded/tests/test_x.py)

Grading copies ``starter/`` to a fresh folder, puts the student's files over it (only
the files that hold targets, found at their path in the submission or at its top
level), adds the test files, and runs pytest there with ``-m "task_1 or task_2 ..."``.
A submission that carries an ``assignment.lock`` other than the autograder's was made
from another build of the assignment: it gets no points and a message saying so
(starter and autograder must come from one build). Each test is worth its task's
points divided by the number of the task's tests; the hidden ones are reported with
visibility ``after_published`` (Gradescope shows them when the grades are published).

results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/)::

    {"score": 7.5, "output": "...", "visibility": "visible", "stdout_visibility": "hidden",
     "tests": [{"name": "Task 1 (...): tests/test_x.py::test_y", "number": "1.1",
                "score": 0.5, "max_score": 0.5, "visibility": "visible",
                "tags": ["task_1"], "output": "(the failure, when it failed)"}, ...]}
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LOCK_FILE = "assignment.lock"
TASKS_FILE = "tasks.json"
STARTER_FOLDER = "starter"
GRADED_FOLDER = "graded"
OUTCOMES_VARIABLE = "MINIREG_ASSIGNMENT_OUTCOMES"   # as in the plugin (conftest.py)
PYTEST_TIMEOUT_S = 1200


class AutograderError(RuntimeError):
    """The autograder itself is damaged or mixed with another build."""


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_CACHES = {"__pycache__", ".pytest_cache", ".hypothesis"}


def hashes(folder: Path, skip=()) -> dict:
    """``{relative path: sha256}`` of every file under ``folder`` (``/`` separated, sorted),
    but those in ``skip`` and in the caches that running Python and pytest there leaves."""
    folder = Path(folder)
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and relative.as_posix() not in skip and not _CACHES & set(relative.parts):
            found[relative.as_posix()] = sha256(path)
    return found


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def autograder_hashes(autograder: Path) -> dict:
    """The hashes of the autograder's own files: the graded tests and tasks.json."""
    graded = {f"{GRADED_FOLDER}/{name}": digest for name, digest in hashes(autograder / GRADED_FOLDER).items()}
    return {**graded, TASKS_FILE: sha256(autograder / TASKS_FILE)}


def check_autograder(autograder: Path) -> dict:
    """The lock of ``autograder``, after checking that its starter, tests and tasks are the
    files it locks (else :class:`AutograderError` naming the files that differ)."""
    autograder = Path(autograder)
    lock = read_json(autograder / LOCK_FILE)
    found = {"starter": hashes(autograder / STARTER_FOLDER), "autograder": autograder_hashes(autograder)}
    for part, files in found.items():
        expected = dict(lock[part])
        if part == "starter":
            expected[LOCK_FILE] = sha256(autograder / LOCK_FILE)
        differ = sorted(set(files) ^ set(expected) | {name for name in files if files[name] != expected.get(name)})
        if differ:
            raise AutograderError(f"the autograder's {part} files do not match its {LOCK_FILE} (built for commit "
                                  f"{lock['reference_commit'][:12]}): {', '.join(differ[:10])}; rebuild it with "
                                  "`minireg assignment build`")
    return lock


def _submission_lock(submission: Path):
    """The ``assignment.lock`` in a submission (at its top or one folder down), or None."""
    for candidate in [submission / LOCK_FILE, *sorted(submission.glob(f"*/{LOCK_FILE}"))]:
        if candidate.is_file():
            return candidate
    return None


def _student_file(submission: Path, relative: str):
    """Where the submission holds the student file ``relative``: at that path, under one top
    folder (a zipped starter), or at its top level (files uploaded one by one)."""
    for candidate in [submission / relative, *sorted(submission.glob(f"*/{relative}")),
                      submission / Path(relative).name]:
        if candidate.is_file():
            return candidate
    return None


def prepare(autograder: Path, submission: Path, work: Path, extra_files=()) -> list:
    """Fill ``work`` with the starter, the student's files over it, the graded tests and
    ``extra_files`` (``(source, relative path)`` pairs); return the student files not found."""
    shutil.copytree(autograder / STARTER_FOLDER, work, dirs_exist_ok=True)
    missing = []
    for relative in read_json(autograder / TASKS_FILE)["student_files"]:
        found = _student_file(submission, relative)
        if found is None:
            missing.append(relative)
        else:
            shutil.copyfile(found, work / relative)
    shutil.copytree(autograder / GRADED_FOLDER, work, dirs_exist_ok=True)
    shutil.copyfile(autograder / TASKS_FILE, work / TASKS_FILE)
    for source, relative in extra_files:
        shutil.copyfile(source, work / relative)
    return missing


def run_tests(work: Path, tasks: dict, junit: Path, everything: bool = False, env=None) -> tuple:
    """Run the graded tests in ``work`` (or, with ``everything``, every test of the public
    test files but the deselected ones, and the hidden graded tests); return ``({node id: outcome record}, pytest's output)``.
    A graded test that did not run (its file failed to import) counts as failed."""
    graded = [node for task in tasks["tasks"] for node in task["tests"] + task["hidden"]]
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o", "addopts=",
               "--rootdir", str(work), "--junitxml", str(Path(junit).resolve())]
    if everything:
        hidden = [node for task in tasks["tasks"] for node in task["hidden"]]
        command += [*tasks["test_files"], *hidden]           # conftest.py leaves out the deselected
    else:
        command += [*sorted({node.split("::")[0] for node in graded}),
                    "-m", " or ".join(f"task_{task['id']}" for task in tasks["tasks"])]
    outcomes_file = Path(work) / ".outcomes.json"
    environment = {**os.environ, **(env or {}), "PYTHONPATH": str(work), OUTCOMES_VARIABLE: str(outcomes_file)}
    environment.pop("PYTHONSTARTUP", None)
    finished = subprocess.run(command, cwd=work, env=environment, capture_output=True, text=True,
                              timeout=PYTEST_TIMEOUT_S)
    outcomes = read_json(outcomes_file) if outcomes_file.is_file() else {}
    for node in graded:
        outcomes.setdefault(node, {"outcome": "failed", "output": "did not run (see the output of pytest)"})
    return outcomes, finished.stdout + finished.stderr


def results(tasks: dict, outcomes: dict, notes=()) -> dict:
    """Gradescope's results.json for the tests' ``outcomes`` (see the module docstring)."""
    entries, hidden_count, hidden_points = [], 0, 0.0
    for task in tasks["tasks"]:
        nodes = [(node, "visible") for node in task["tests"]] + [(node, "after_published") for node in task["hidden"]]
        share = task["points"] / len(nodes)
        for number, (node, visibility) in enumerate(nodes, start=1):
            record = outcomes.get(node, {"outcome": "failed", "output": "did not run"})
            passed = record["outcome"] == "passed"
            entry = {"name": f"Task {task['id']} ({task['name']}): {node}", "number": f"{task['id']}.{number}",
                     "score": share if passed else 0.0, "max_score": share, "visibility": visibility,
                     "tags": [f"task_{task['id']}"]}
            if not passed:
                entry["output"] = record["output"] or record["outcome"]
            entries.append(entry)
            if visibility == "after_published":
                hidden_count, hidden_points = hidden_count + 1, hidden_points + share
    lines = list(notes)
    if hidden_count:
        lines.append(f"Hidden tests are graded later: {hidden_count} tests worth {hidden_points:g} points are "
                     "shown when the grades are published; the score here counts them already.")
    return {"score": round(sum(entry["score"] for entry in entries), 6), "output": "\n".join(lines),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": entries}


def grade(autograder, submission, results_path, junit_path, extra_files=(), everything=False, env=None) -> dict:
    """Grade ``submission`` with ``autograder``; write results.json and the JUnit XML file;
    return ``{"results": ..., "outcomes": ..., "output": pytest's output}``."""
    autograder, submission = Path(autograder), Path(submission)
    lock = check_autograder(autograder)
    tasks = read_json(autograder / TASKS_FILE)
    submitted_lock = _submission_lock(submission)
    notes, outcomes, output = [], {}, ""
    if submitted_lock is not None and read_json(submitted_lock) != lock:
        notes.append(f"Your {LOCK_FILE} comes from another build of this assignment (commit "
                     f"{read_json(submitted_lock).get('reference_commit', '?')[:12]}, the autograder's is "
                     f"{lock['reference_commit'][:12]}): get the current starter from your instructor and "
                     "submit your work in it. Nothing was graded.")
    else:
        if submitted_lock is None:
            notes.append(f"No {LOCK_FILE} in the submission: graded as if it came from the current starter.")
        with tempfile.TemporaryDirectory(prefix="minireg-grade-") as folder:
            work = Path(folder)
            missing = prepare(autograder, submission, work, extra_files)
            if missing:
                notes.append(f"Not in the submission (the starter's version was graded): {', '.join(missing)}")
            outcomes, output = run_tests(work, tasks, junit_path, everything, env)
    graded = results(tasks, outcomes, notes)
    Path(results_path).parent.mkdir(parents=True, exist_ok=True)
    Path(results_path).write_text(json.dumps(graded, indent=2), encoding="utf-8")
    return {"results": graded, "outcomes": outcomes, "output": output}


def main(argv=None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description="Grade a submission of a minireg assignment.")
    parser.add_argument("--submission", default="/autograder/submission", help="the student's files")
    parser.add_argument("--results", default="/autograder/results/results.json", help="where results.json goes")
    parser.add_argument("--junit", default=None, help="where the JUnit XML goes (default: beside results.json)")
    arguments = parser.parse_args(argv)
    junit = arguments.junit or str(Path(arguments.results).with_name("junit.xml"))
    graded = grade(here, arguments.submission, arguments.results, junit)["results"]
    print(f"score {graded['score']:g}; wrote {arguments.results} and {junit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
