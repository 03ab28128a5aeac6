"""Build an assignment: the starter package, the autograder and the lock that ties them.

``build(root, name, out)`` writes ``out/NAME/starter`` and ``out/NAME/autograder``:

1. **Export** the reference at a pinned commit (``git archive``; ``HEAD`` unless a commit
   is given). With ``HEAD``, a working tree whose pinned files (the targets' modules, the
   test files, the handout) differ from the commit is refused: the build would not be
   what you have been testing. An archive holds no generated C and no compiled kernel.
2. **Collect** the tests of the spec's files in the export (``pytest --collect-only``)
   and resolve each selection to node ids; a selection that matches nothing, or a test
   graded by two tasks, is an error.
3. **Starter**: the export without ``benchmarks/``, ``.ci/``, ``assignments/`` and the
   tests the spec does not ship (hidden ones included), each target blanked
   (:mod:`.blank`), and, for a blanked NumPy twin ``P/kernels/X.py``, without its Cython
   source ``P/_ext/X.pyx``, so that no compiled kernel can answer for the student (minireg
   then uses the twin, and warns once). Added: ``HANDOUT.md``, ``conftest.py`` (the task
   markers, :mod:`.plugin`), ``tasks.json`` (public tests only) and the lock.
4. **Autograder**: ``grade.py`` (:mod:`.grade`), ``run_autograder``, ``setup.sh``, the
   starter, the graded test files, public and hidden, and ``tasks.json`` with all of them.
5. **Lock** (``assignment.lock``, the same file in both): the reference commit, the spec's
   sha256 and the sha256 of every generated file, so that a submission made from another
   build is recognized, and a damaged autograder refuses to grade.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from minireg import __version__
from minireg.coursework import blank, grade, spec as specs

EXCLUDED_FOLDERS = ("benchmarks", ".ci", specs.SPEC_FOLDER, "build")
TESTS_FOLDER = "tests"
HANDOUT_FILE = "HANDOUT.md"
_HERE = Path(__file__).resolve().parent
RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this in /autograder/source (the autograder's files); the submission is
# in /autograder/submission, and results.json goes to /autograder/results.
set -euo pipefail
cd "$(dirname "$0")"
python3 grade.py --submission /autograder/submission --results /autograder/results/results.json
"""


class BuildError(RuntimeError):
    """A build that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Built:
    spec: specs.Spec
    starter: Path
    autograder: Path
    lock: dict
    reference: dict          # {relative path: reference text} of the files that hold targets


def git(root, *arguments, binary: bool = False):
    finished = subprocess.run(["git", "-C", str(root), *arguments], capture_output=True, text=not binary)
    if finished.returncode:
        message = finished.stderr if not binary else finished.stderr.decode(errors="replace")
        raise BuildError(f"git {' '.join(arguments)} failed in {root}: {message.strip()}")
    return finished.stdout


def export(root, commit: str, destination: Path) -> None:
    """The files of ``commit`` (as ``git archive`` gives them) into ``destination``."""
    archive = git(root, "archive", "--format=tar", commit, binary=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")


def pinned_files(spec: specs.Spec, root) -> list:
    files = {target.file_in(root) for target, _ in spec.targets}
    return sorted(files | set(spec.test_files) | set(spec.hidden_test_files) | {spec.handout})


def resolve_commit(root, spec: specs.Spec, commit) -> str:
    """The full hash of ``commit``; without one, of HEAD, after refusing a working tree whose
    pinned files have changes that are not committed."""
    if commit is None:
        changed = git(root, "status", "--porcelain", "--", *pinned_files(spec, root)).rstrip("\n")
        if changed:
            raise BuildError(f"the working tree has uncommitted changes in files of assignment {spec.name}: "
                             f"{', '.join(line[3:] for line in changed.splitlines())}; commit them (the "
                             "build exports a commit), or name the commit to build with --commit")
    return git(root, "rev-parse", "--verify", f"{commit or 'HEAD'}^{{commit}}").strip()


def collect(folder: Path, selection_options=(), files=()) -> list:
    """The node ids pytest collects in ``folder`` from ``files`` with ``selection_options``."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               "--rootdir", str(folder), *files, *selection_options]
    finished = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(folder)})
    if finished.returncode not in (0, 5):           # 5: nothing collected
        raise BuildError(f"collecting the tests {' '.join(files)} failed:\n{finished.stdout[-3000:]}{finished.stderr[-2000:]}")
    nodes = (line.strip() for line in finished.stdout.splitlines() if "::" in line and not line.startswith(" "))
    return list(dict.fromkeys(nodes))             # in order, once (a warning may name a test again)


class Selections:
    """Resolves the spec's test selections to node ids, collecting each file once and each
    ``-k``/``-m`` selection with its own pytest run."""

    def __init__(self, folder: Path, files):
        self.folder = folder
        self.nodes = collect(folder, files=sorted(files))

    def resolve(self, selection: str, where: str) -> list:
        words = shlex.split(selection)
        if len(words) > 1:
            found = collect(self.folder, words[1:], files=[words[0]])
        else:
            found = [node for node in self.nodes if _matches(node, selection)]
        if not found:
            raise BuildError(f"{where}: the selection {selection!r} matches no test")
        return found


def _matches(node: str, selection: str) -> bool:
    if selection.endswith("*"):
        return node.startswith(selection[:-1])
    return node == selection or node.startswith(selection + "[") or node.startswith(selection + "::")


def resolve_tests(spec: specs.Spec, folder: Path) -> dict:
    """``tasks.json`` of the autograder: each task's graded and hidden node ids, the
    deselected ones, the test files and the student files."""
    selections = Selections(folder, spec.test_files + spec.hidden_test_files)
    graded_by, tasks = {}, []
    for task in spec.tasks:
        entry = {"id": task.id, "name": task.name, "points": task.points}
        for key in ("tests", "hidden"):
            nodes = []
            for selection in getattr(task, key):
                for node in selections.resolve(selection, f"task {task.id} {key}"):
                    if node in graded_by and graded_by[node] != task.id:
                        raise BuildError(f"{node} is graded by tasks {graded_by[node]} and {task.id}: a test "
                                         "counts for one task only")
                    graded_by[node] = task.id
                    if node not in nodes:
                        nodes.append(node)
            entry[key] = nodes
        tasks.append(entry)
    deselected = sorted({node for selection in spec.deselect for node in selections.resolve(selection, "deselect")}
                        - set(graded_by))
    return {"assignment": spec.name, "title": spec.title, "tasks": tasks, "test_files": list(spec.test_files),
            "deselected": deselected, "student_files": sorted({target.file_in(folder) for target, _ in spec.targets})}


def public_tasks(tasks: dict) -> dict:
    """``tasks.json`` of the starter: as the autograder's, without the hidden tests."""
    return {**tasks, "tasks": [{**task, "hidden": []} for task in tasks["tasks"]]}


def blanked_files(spec: specs.Spec, folder: Path) -> dict:
    """``{relative path: text}`` of each file that holds targets, with every target blanked."""
    by_file = {}
    for target, task in spec.targets:
        by_file.setdefault(target.file_in(folder), []).append((target.qualname, task.id))
    try:
        return {relative: blank.blank((folder / relative).read_text(encoding="utf-8"), targets, relative)
                for relative, targets in by_file.items()}
    except FileNotFoundError as error:
        raise BuildError(f"a target's module does not exist at that commit: {error.filename}") from None


def compiled_twins(relative_files) -> list:
    """The Cython sources whose compiled kernels would answer for blanked twins: a target in
    ``P/kernels/X.py`` (a NumPy twin) means ``P/_ext/X.pyx``."""
    twins = []
    for relative in relative_files:
        path = Path(relative)
        if path.parent.name == "kernels" and path.stem != "__init__":
            twins.append((path.parent.parent / "_ext" / f"{path.stem}.pyx").as_posix())
    return twins


def make_starter(spec: specs.Spec, export_folder: Path, starter: Path, tasks: dict, blanked: dict) -> None:
    shipped_tests = set(spec.test_files)
    for path in sorted(export_folder.rglob("*")):
        relative = path.relative_to(export_folder)
        top = relative.parts[0]
        if path.is_dir() or top in EXCLUDED_FOLDERS:
            continue
        unshipped_test = relative.name.startswith("test_") and relative.as_posix() not in shipped_tests
        if (top == TESTS_FOLDER and unshipped_test) or relative.as_posix() in spec.hidden_test_files:
            continue
        if relative.suffix in (".c", ".so", ".pyd") or relative.as_posix() in compiled_twins(blanked):
            continue
        (starter / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, starter / relative)
    for relative, text in blanked.items():
        (starter / relative).write_text(text, encoding="utf-8", newline="")
    if not (export_folder / spec.handout).is_file():
        raise BuildError(f"the handout {spec.handout} of assignment {spec.name} does not exist at that commit")
    shutil.copyfile(export_folder / spec.handout, starter / HANDOUT_FILE)
    shutil.copyfile(_HERE / "plugin.py", starter / "conftest.py")
    _write_json(starter / grade.TASKS_FILE, public_tasks(tasks))


def make_autograder(spec: specs.Spec, export_folder: Path, starter: Path, autograder: Path, tasks: dict) -> None:
    shutil.copytree(starter, autograder / grade.STARTER_FOLDER)
    for relative in spec.test_files + spec.hidden_test_files:
        graded = autograder / grade.GRADED_FOLDER / relative
        graded.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(export_folder / relative, graded)
    _write_json(autograder / grade.TASKS_FILE, tasks)
    shutil.copyfile(_HERE / "grade.py", autograder / "grade.py")
    (autograder / "run_autograder").write_text(RUN_AUTOGRADER, encoding="utf-8")
    (autograder / "run_autograder").chmod(0o755)
    (autograder / "setup.sh").write_text(_setup_script(export_folder), encoding="utf-8")


def _setup_script(export_folder: Path) -> str:
    """setup.sh: pip installs the reference's runtime and test dependencies (from its
    pyproject.toml), not minireg itself: the grader imports the student's copy."""
    project = tomllib.loads((export_folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", [])) + list(project.get("optional-dependencies", {}).get("test", []))
    return ("#!/usr/bin/env bash\n# Gradescope runs this once, to make the image.\nset -euo pipefail\n"
            f"python3 -m pip install {' '.join(shlex.quote(r) for r in requirements)}\n")


def make_lock(spec: specs.Spec, commit: str, starter: Path, autograder: Path) -> dict:
    lock = {"assignment": spec.name, "title": spec.title, "reference_commit": commit,
            "spec_sha256": hashlib.sha256(spec.source.read_bytes()).hexdigest(),
            "generated_by": f"minireg {__version__}",
            "student_files": grade.read_json(autograder / grade.TASKS_FILE)["student_files"],
            "starter": grade.hashes(starter, skip=(grade.LOCK_FILE,)),
            "autograder": grade.autograder_hashes(autograder)}
    for folder in (starter, autograder, autograder / grade.STARTER_FOLDER):
        _write_json(folder / grade.LOCK_FILE, lock)
    return lock


def build(root, name: str, out, commit=None, export_folder=None) -> Built:
    """Build assignment ``name`` of the repository ``root`` into ``out/NAME/`` (replacing
    what a previous build left there). ``export_folder``: an empty folder to export into
    (kept, for :mod:`.check`); by default one under ``out/NAME``, removed at the end."""
    root, out = Path(root).resolve(), Path(out).resolve()
    spec = specs.load(root, name)
    commit = resolve_commit(root, spec, commit)
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    keep_export = export_folder is not None
    export_folder = Path(export_folder) if keep_export else folder / ".export"
    export_folder.mkdir(parents=True, exist_ok=True)
    try:
        export(root, commit, export_folder)
        blanked = blanked_files(spec, export_folder)
        tasks = resolve_tests(spec, export_folder)
        starter, autograder = folder / "starter", folder / "autograder"
        make_starter(spec, export_folder, starter, tasks, blanked)
        make_autograder(spec, export_folder, starter, autograder, tasks)
        lock = make_lock(spec, commit, starter, autograder)
        reference = {relative: (export_folder / relative).read_text(encoding="utf-8") for relative in blanked}
    finally:
        if not keep_export:
            shutil.rmtree(export_folder, ignore_errors=True)
    return Built(spec=spec, starter=starter, autograder=autograder, lock=lock, reference=reference)


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
