"""The pytest plugin of an assignment, shipped as ``conftest.py`` at the root of the starter
and of the autograder's working copy (``minireg assignment build`` copies this file as it is).

* marks each graded test with its task, from ``tasks.json`` beside it, so that
  ``pytest -m task_1`` runs the tests of task 1 (as minitorch's courses do), and
  deselects the tests of the shipped files that the assignment does not use;
* loads a hypothesis profile that derandomizes property tests (the same examples on
  every run: a grade does not depend on luck) and turns off the example database;
* when ``MINIREG_ASSIGNMENT_OUTCOMES`` names a file, writes there the outcome of every
  test that ran (``{node id: {"outcome": "passed" | "failed" | "skipped", "output": ...}}``),
  which the grading script reads.
"""
import json
import os
from pathlib import Path

import pytest

TASKS_FILE = Path(__file__).parent / "tasks.json"       # beside conftest.py
OUTCOMES_VARIABLE = "MINIREG_ASSIGNMENT_OUTCOMES"
_OUTPUT_CHARACTERS = 2000
_tasks = {"tasks": [], "deselected": []}
_outcomes = {}


def pytest_configure(config):
    _tasks.update(json.loads(TASKS_FILE.read_text(encoding="utf-8")))
    for task in _tasks["tasks"]:
        config.addinivalue_line("markers", f"task_{task['id']}: Task {task['id']}, {task['name']} "
                                           f"({task['points']:g} points)")
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("assignment", derandomize=True, database=None, deadline=None)
    settings.load_profile("assignment")


def pytest_collection_modifyitems(config, items):
    task_of = {node: task["id"] for task in _tasks["tasks"] for node in task["tests"] + task["hidden"]}
    unused = set(_tasks["deselected"])
    for item in items:
        if item.nodeid in task_of:
            item.add_marker(getattr(pytest.mark, f"task_{task_of[item.nodeid]}"))
    if unused:
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid in unused])
        items[:] = [item for item in items if item.nodeid not in unused]


def pytest_runtest_logreport(report):
    record = _outcomes.setdefault(report.nodeid, {"outcome": "passed", "output": ""})
    if report.failed or (report.skipped and record["outcome"] == "passed"):
        record["outcome"] = "failed" if report.failed else "skipped"
        record["output"] = str(report.longrepr)[-_OUTPUT_CHARACTERS:]


def pytest_sessionfinish(session):
    path = os.environ.get(OUTCOMES_VARIABLE)
    if path:
        Path(path).write_text(json.dumps(_outcomes, indent=1), encoding="utf-8")
