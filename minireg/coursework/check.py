"""Prove an assignment sound: ``minireg assignment check NAME``.

The assignment is built into a temporary folder, and its autograder grades submissions
made for the purpose, each in its own pytest process (``jobs`` at a time):

* the **reference** (every target's reference body pasted back) must pass every graded
  and hidden test;
* each target **blanked alone** must fail every test of its task, public and hidden: a
  test that still passes would give points for nothing -- which is also how a compiled
  kernel answering for a blanked NumPy twin is caught, since each submission is graded
  with the compiled kernels of the reference checkout that the starter still ships the
  sources of (as a student who ran ``pip install -e .`` would have them);
* the **starter** runs every test of the public test files but the deselected ones, and
  must fail exactly the union of the tests the single blanks fail; a failing test that
  belongs to no task is reported: the spec must grade it or deselect it;
* each **known-wrong body** of the spec must fail at least one test of its task.

Problems come back as lines of text; none means the assignment is sound.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from minireg.coursework import blank, build as builder, grade

# One BLAS / OpenMP thread per pytest process: the check runs ``jobs`` processes side by side.
_SINGLE_THREADED = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass
class Variant:
    """A submission to grade: a label, the text of each student file, and whether every
    test of the public files runs (the starter) or the graded ones only."""

    label: str
    files: dict
    everything: bool = False
    wrong_for_task: str = ""           # a known-wrong body: the id of the task it must fail
    failed: set = field(default_factory=set)
    outcomes: dict = field(default_factory=dict)


@dataclass
class Report:
    name: str
    problems: list
    lines: list
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


def variants(built: builder.Built) -> list:
    """Reference, each target blanked alone, the starter, and each known-wrong body."""
    reference = built.reference
    found = [Variant("reference", dict(reference))]
    for target, task in built.spec.targets:
        relative = target.file_in(built.starter)
        text = blank.blank(reference[relative], [(target.qualname, task.id)], relative)
        found.append(Variant(f"blank {target}", {**reference, relative: text}))
    starter = {relative: (built.starter / relative).read_text(encoding="utf-8") for relative in reference}
    found.append(Variant("starter", starter, everything=True))
    for task in built.spec.tasks:
        for number, wrong in enumerate(task.wrong, start=1):
            relative = wrong.target.file_in(built.starter)
            text = blank.replace_body(reference[relative], wrong.target.qualname, wrong.body, relative)
            found.append(Variant(f"wrong {wrong.target} #{number} ({wrong.why})", {**reference, relative: text},
                                 wrong_for_task=task.id))
    return found


def compiled_kernels(root: Path, starter: Path) -> list:
    """``(built extension, relative path)`` for each Cython source the starter ships that
    the reference checkout has built: a student who builds the starter has these."""
    found = []
    for pyx in sorted(starter.glob("**/_ext/*.pyx")):
        relative = pyx.relative_to(starter)
        for extension in sorted((root / relative.parent).glob(f"{pyx.stem}.*.so")):
            found.append((extension, (relative.parent / extension.name).as_posix()))
    return found


def grade_variant(variant: Variant, built: builder.Built, folder: Path, extra_files) -> Variant:
    submission = folder / "submission"
    for relative, text in variant.files.items():
        (submission / relative).parent.mkdir(parents=True, exist_ok=True)
        (submission / relative).write_text(text, encoding="utf-8", newline="")
    shutil.copyfile(built.starter / grade.LOCK_FILE, submission / grade.LOCK_FILE)
    graded = grade.grade(built.autograder, submission, folder / "results.json", folder / "junit.xml",
                         extra_files=extra_files, everything=variant.everything, env=_SINGLE_THREADED)
    variant.outcomes = graded["outcomes"]
    variant.failed = {node for node, record in graded["outcomes"].items() if record["outcome"] != "passed"}
    return variant


def judge(built: builder.Built, graded: list) -> list:
    """The problems that the graded variants show (see the module docstring)."""
    tasks = grade.read_json(built.autograder / grade.TASKS_FILE)
    task_tests = {task["id"]: set(task["tests"]) | set(task["hidden"]) for task in tasks["tasks"]}
    graded_tests = set().union(*task_tests.values())
    by_label = {variant.label: variant for variant in graded}
    problems = []
    reference = by_label["reference"]
    if reference.failed:
        problems.append(f"the reference fails {len(reference.failed)} graded test(s): {_some(reference.failed)}"
                        f"{_first_output(reference)}")
    union = set()
    for target, task in built.spec.targets:
        failed = by_label[f"blank {target}"].failed
        union |= failed
        free = task_tests[task.id] - failed
        if free:
            problems.append(f"free points: with {target} blanked, {len(free)} test(s) of task {task.id} still "
                            f"pass: {_some(free)} (grade it with tests that call it, or drop the compiled kernel "
                            "that answers for it)")
    starter = by_label["starter"]
    starter_graded = starter.failed & graded_tests
    if starter_graded != union:
        extra, missing = starter_graded - union, union - starter_graded
        if extra:
            problems.append(f"the starter fails {len(extra)} graded test(s) that no single blank fails: {_some(extra)}")
        if missing:
            problems.append(f"the starter passes {len(missing)} test(s) that a single blank fails: {_some(missing)}")
    orphans = starter.failed - graded_tests
    if orphans:
        problems.append(f"the starter fails {len(orphans)} test(s) that belong to no task: {_some(orphans)}; "
                        "grade them in a task or list them in deselect")
    for variant in graded:
        if variant.wrong_for_task and not variant.failed & task_tests[variant.wrong_for_task]:
            problems.append(f"{variant.label} passes every test of task {variant.wrong_for_task}: the tests cannot "
                            "tell it from the reference")
    return problems


def check(root, name: str, jobs: int = 1, commit=None) -> Report:
    """Build assignment ``name`` of ``root`` in a temporary folder and check it."""
    start = time.perf_counter()
    root = Path(root).resolve()
    with tempfile.TemporaryDirectory(prefix=f"minireg-check-{name}-") as folder:
        folder = Path(folder)
        built = builder.build(root, name, folder / "out", commit=commit)
        extra = compiled_kernels(root, built.starter)
        todo = variants(built)
        for number, variant in enumerate(todo):
            (folder / f"v{number}").mkdir()
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            graded = list(pool.map(lambda item: grade_variant(item[1], built, folder / f"v{item[0]}", extra),
                                   enumerate(todo)))
        problems = judge(built, graded)
        tasks = grade.read_json(built.autograder / grade.TASKS_FILE)
    lines = [f"{name}: {len(tasks['tasks'])} tasks, {sum(len(t['tests']) + len(t['hidden']) for t in tasks['tasks'])} "
             f"graded tests, {len(todo)} submissions graded"]
    lines += [f"  {variant.label}: {len(variant.failed)} failing" for variant in graded]
    return Report(name=name, problems=problems, lines=lines, seconds=time.perf_counter() - start)


def _some(nodes, count: int = 4) -> str:
    nodes = sorted(nodes)
    return ", ".join(nodes[:count]) + (f" and {len(nodes) - count} more" if len(nodes) > count else "")


def _first_output(variant: Variant) -> str:
    node = sorted(variant.failed)[0]
    return "\n    " + json.dumps(variant.outcomes[node]["output"][-600:])
