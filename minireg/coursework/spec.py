"""The spec of an assignment: ``assignments/NAME.toml``, read and checked.

A spec names what students implement and how it is graded; the library's code carries
no answer markers. Its keys (docs/coursework.md shows a whole file)::

    title = "Autograd"                           # one line, for the handout and results
    handout = "docs/assignments/autograd.md"     # the handout page (copied into the starter)
    test_files = ["tests/test_functional.py"]    # public tests: in the starter and the autograder
    hidden_test_files = []                       # optional: in the autograder only
    deselect = ["tests/test_functional.py::*"]   # optional: tests of test_files that the
                                                 # assignment leaves out (graded ones stay in)

    [[task]]
    id = "1"                                     # pytest -m task_1 runs its tests
    name = "the backward of mul"
    points = 2
    targets = ["minireg.functional:mul.backward"]        # module:qualified name
    tests = ["tests/test_functional.py::test_x",         # node ids (a prefix ending in *),
             "tests/test_functional.py -k mul"]          # or a file with -k / -m
    hidden = []                                  # optional: selections in hidden_test_files

    [[task.wrong]]                               # optional: a body that must fail the task
    target = "minireg.functional:mul.backward"
    why = "forgets to undo broadcasting"
    body = "return (g * b, g * a)"

Everything is checked when the spec is read, with the file and key in each message;
whether the targets exist is checked when they are blanked (:mod:`.blank`), and whether
the selections match tests when the tests are collected (:mod:`.build`).
"""
from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SPEC_FOLDER = "assignments"
_TASK_ID = re.compile(r"^[A-Za-z0-9_]+$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TOP_KEYS = {"title", "handout", "test_files", "hidden_test_files", "deselect", "task"}
_TASK_KEYS = {"id", "name", "points", "targets", "tests", "hidden", "wrong"}
_WRONG_KEYS = {"target", "why", "body"}


class SpecError(ValueError):
    """A spec that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Target:
    """A function to blank: ``module`` (dotted) and ``qualname`` (``mul.backward``)."""

    module: str
    qualname: str

    @classmethod
    def parse(cls, text: str) -> "Target":
        module, qualname = text.split(":")
        return cls(module, qualname)

    def file_in(self, root: Path) -> str:
        """The module's file, relative to the repository ``root``: ``a/b.py``, or
        ``a/b/__init__.py`` when ``a.b`` is a package there."""
        stem = self.module.replace(".", "/")
        return f"{stem}/__init__.py" if (Path(root) / stem / "__init__.py").exists() else f"{stem}.py"

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}"


@dataclass(frozen=True)
class WrongBody:
    """A known-wrong body of ``target``: the check requires that it fails its task."""

    target: Target
    why: str
    body: str


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    points: float
    targets: tuple
    tests: tuple
    hidden: tuple = ()
    wrong: tuple = ()


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    handout: str
    test_files: tuple
    hidden_test_files: tuple
    deselect: tuple
    tasks: tuple
    source: Path = field(compare=False)

    @property
    def targets(self) -> list:
        """Every target, with the task it belongs to: ``[(target, task), ...]``."""
        return [(target, task) for task in self.tasks for target in task.targets]


def spec_path(root, name: str) -> Path:
    return Path(root) / SPEC_FOLDER / f"{name}.toml"


def available(root) -> list:
    """The names of the assignments whose spec is in ``root/assignments``, sorted."""
    return sorted(path.stem for path in (Path(root) / SPEC_FOLDER).glob("*.toml"))


def load(root, name: str) -> Spec:
    """Read and check ``root/assignments/NAME.toml``."""
    path = spec_path(root, name)
    if not _NAME.match(name or ""):
        raise SpecError(f"assignment name {name!r}: use lower-case letters, digits, - and _ "
                        f"(the spec is assignments/NAME.toml)")
    if not path.is_file():
        choices = ", ".join(available(root)) or "none yet"
        raise SpecError(f"no assignment {name!r}: {path} does not exist; the assignments are: {choices}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML: {error}") from None
    return parse(data, name, path)


def parse(data: dict, name: str, path: Path) -> Spec:
    """The :class:`Spec` of a parsed TOML table ``data`` (``path`` is named in errors)."""
    where = str(path)
    _no_unknown_keys(data, _TOP_KEYS, where)
    tasks = tuple(_task(entry, f"{where}: [[task]] #{i + 1}")
                  for i, entry in enumerate(_list(data, "task", where, tables=True)))
    if not tasks:
        raise SpecError(f"{where}: no [[task]]: an assignment needs at least one")
    _unique([task.id for task in tasks], "task id", where)
    _unique([str(target) for task in tasks for target in task.targets], "target", where)
    test_files = _paths(data, "test_files", where, required=True)
    hidden_files = _paths(data, "hidden_test_files", where)
    if set(test_files) & set(hidden_files):
        raise SpecError(f"{where}: {sorted(set(test_files) & set(hidden_files))} listed both in test_files "
                        "and hidden_test_files")
    for task in tasks:
        _within(task.tests, test_files, f"{where}: task {task.id} tests", "test_files")
        _within(task.hidden, hidden_files, f"{where}: task {task.id} hidden", "hidden_test_files")
    deselect = tuple(_selection(text, f"{where}: deselect") for text in _list(data, "deselect", where))
    _within(deselect, test_files, f"{where}: deselect", "test_files")
    return Spec(name=name, title=_text(data, "title", where), handout=_text(data, "handout", where),
                test_files=test_files, hidden_test_files=hidden_files, deselect=deselect, tasks=tasks,
                source=Path(path))


def selection_file(selection: str) -> str:
    """The test file a selection is about: ``tests/x.py::test_y`` and ``tests/x.py -k y``
    are both about ``tests/x.py``."""
    return shlex.split(selection)[0].split("::")[0]


def _task(entry: dict, where: str) -> Task:
    _no_unknown_keys(entry, _TASK_KEYS, where)
    task_id = str(entry.get("id", ""))
    if not _TASK_ID.match(task_id):
        raise SpecError(f"{where}: id {task_id!r} must be letters, digits and _ (it names the marker task_<id>)")
    where = f"{where} (id {task_id})"
    points = entry.get("points")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
        raise SpecError(f"{where}: points must be a number > 0, got {points!r}")
    targets = tuple(_target(text, f"{where}: targets") for text in _list(entry, "targets", where))
    if not targets:
        raise SpecError(f"{where}: targets is empty; name at least one function as module:qualname")
    tests = tuple(_selection(text, f"{where}: tests") for text in _list(entry, "tests", where))
    if not tests:
        raise SpecError(f"{where}: tests is empty; a task is graded by at least one test")
    wrong = tuple(_wrong(item, f"{where}: [[task.wrong]] #{i + 1}", targets)
                  for i, item in enumerate(_list(entry, "wrong", where, tables=True)))
    return Task(id=task_id, name=_text(entry, "name", where), points=float(points), targets=targets,
                tests=tests, hidden=tuple(_selection(text, f"{where}: hidden") for text in _list(entry, "hidden", where)),
                wrong=wrong)


def _wrong(entry: dict, where: str, targets: tuple) -> WrongBody:
    _no_unknown_keys(entry, _WRONG_KEYS, where)
    target = _target(_text(entry, "target", where), f"{where}: target")
    if target not in targets:
        raise SpecError(f"{where}: target {target} is not one of the task's targets "
                        f"({', '.join(map(str, targets))})")
    return WrongBody(target=target, why=_text(entry, "why", where), body=_text(entry, "body", where))


def _target(text, where: str) -> Target:
    if not isinstance(text, str) or not _TARGET.match(text):
        raise SpecError(f"{where}: {text!r} is not module:qualname, e.g. 'minireg.functional:mul.backward' "
                        "or 'minireg.optim.optimizers:SGD.step'")
    return Target.parse(text)


def _selection(text, where: str) -> str:
    """A test selection: a node id (``tests/x.py::name``, a prefix if it ends in ``*``), or a
    test file followed by ``-k EXPRESSION`` and/or ``-m EXPRESSION``."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{where}: {text!r} is not a test selection")
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise SpecError(f"{where}: {text!r}: {error}") from None
    if not words[0].split("::")[0].endswith(".py"):
        raise SpecError(f"{where}: {text!r} must start with a test file (tests/NAME.py)")
    options = words[1:]
    if len(options) % 2 or any(flag not in ("-k", "-m") for flag in options[::2]):
        raise SpecError(f"{where}: {text!r}: after the file only -k EXPRESSION and -m EXPRESSION are accepted")
    if options and "::" in words[0]:
        raise SpecError(f"{where}: {text!r}: give either a node id or a file with -k/-m, not both")
    return text


def _within(selections, files, where: str, key: str) -> None:
    for selection in selections:
        if selection_file(selection) not in files:
            raise SpecError(f"{where}: {selection!r} is in {selection_file(selection)}, which is not in {key} "
                            f"({', '.join(files) or 'empty'})")


def _no_unknown_keys(table: dict, known: set, where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; accepted: {', '.join(sorted(known))}")


def _text(table: dict, key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _list(table: dict, key: str, where: str, tables: bool = False) -> list:
    """``table[key]``: a list (empty when absent) of strings, or of tables if ``tables``."""
    value = table.get(key, [])
    kind, example = (dict, f"[[{key}]] tables") if tables else (str, "strings")
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        raise SpecError(f"{where}: {key} must be a list of {example}, got {value!r}")
    return value


def _paths(data: dict, key: str, where: str, required: bool = False) -> tuple:
    paths = tuple(_list(data, key, where))
    if required and not paths:
        raise SpecError(f"{where}: {key} is empty; list the test files (tests/NAME.py)")
    for path in paths:
        if not isinstance(path, str) or not path.endswith(".py") or "::" in path:
            raise SpecError(f"{where}: {key} entry {path!r} must be a test file path such as tests/test_x.py")
    _unique(paths, key + " entry", where)
    return paths


def _unique(values, what: str, where: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise SpecError(f"{where}: {what} {value!r} appears twice")
        seen.add(value)
