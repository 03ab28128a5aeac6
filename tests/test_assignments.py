"""The coursework generator (minireg.coursework): blanking, build, grading, lock, check.

Most tests build a small assignment of a toy repository made in tmp_path (a package of
four functions, a NumPy "twin" with its Cython source, five tests), so that they take
seconds; `minireg assignment check --all` proves the shipped assignments in CI.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from minireg import cli
from minireg.coursework import blank, build, check, grade, spec

CHECKOUT = Path(__file__).resolve().parents[1]

TOY_OPS = '''"""Toy operations."""


def square(x):
    """x squared."""
    return x * x


def cube(x):
    """x cubed: square(x) times x."""
    y = square(x)

    return y * x


def undocumented(x):
    return x


class Scale:
    """Multiply by k: y = k x."""

    def __init__(self, k):
        self.k = k

    def __call__(self, x):
        """k x."""
        return self.k * x

    def __repr__(self):
        return f"Scale({self.k})"


def twice(f):
    """The function x -> f(f(x))."""
    def composed(x):
        return f(f(x))
    return composed


def thrice(f):
    def composed(x):
        return f(f(f(x)))
    return composed
'''

TOY_TWIN = '''"""The readable twin of toy/_ext/twin.pyx."""


def double_numpy(x):
    """2 x."""
    return 2 * x
'''

TOY_TESTS = '''from toy import ops
from toy.kernels import twin


def test_square():
    assert ops.square(3) == 9


def test_square_of_a_negative():
    assert ops.square(-2) == 4


def test_cube():
    assert ops.cube(2) == 8


def test_scale_and_double():
    assert ops.Scale(3)(2) == 6 and twin.double_numpy(4) == 8


def test_unrelated():
    assert ops.undocumented(1) == 1
'''

TOY_HIDDEN = '''from toy import ops


def test_cube_of_three():
    assert ops.cube(3) == 27
'''

TOY_SPEC = '''title = "Toy powers"
handout = "docs/hw.md"
test_files = ["tests/test_ops.py"]
hidden_test_files = ["tests/test_hidden.py"]

[[task]]
id = "1"
name = "square"
points = 2
targets = ["toy.ops:square"]
tests = ["tests/test_ops.py -k square"]

[[task.wrong]]
target = "toy.ops:square"
why = "doubles instead"
body = "return x + x"

[[task]]
id = "2"
name = "cube"
points = 3
targets = ["toy.ops:cube"]
tests = ["tests/test_ops.py::test_cube"]
hidden = ["tests/test_hidden.py::test_cube_of_three"]

[[task]]
id = "3a"
name = "scale and double"
points = 1
targets = ["toy.ops:Scale.__call__", "toy.kernels.twin:double_numpy"]
tests = ["tests/test_ops.py::test_scale_and_double"]
'''


def _git(root, *arguments):
    subprocess.run(["git", "-C", str(root), *arguments], check=True, capture_output=True)


def make_toy(root: Path, spec_text: str = TOY_SPEC) -> Path:
    files = {"toy/__init__.py": "", "toy/ops.py": TOY_OPS, "toy/kernels/__init__.py": "",
             "toy/kernels/twin.py": TOY_TWIN, "toy/_ext/twin.pyx": "# the compiled kernel's source\n",
             "tests/test_ops.py": TOY_TESTS, "tests/test_hidden.py": TOY_HIDDEN,
             "tests/helpers.py": "HELP = 1\n", "docs/hw.md": "# Toy powers\n",
             "benchmarks/bench.py": "print('slow')\n",
             "pyproject.toml": '[project]\nname = "toy"\ndependencies = []\n'
                               '[project.optional-dependencies]\ntest = ["pytest"]\n',
             "assignments/hw.toml": spec_text}
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "toy")
    return root


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy repository, its build and the reference graded (one build for the module)."""
    root = make_toy(tmp_path_factory.mktemp("toy"))
    built = build.build(root, "hw", root.parent / "out")
    return root, built


def submit(built, folder: Path, files: dict, lock=True) -> Path:
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    if lock:
        (folder / grade.LOCK_FILE).write_bytes((built.starter / grade.LOCK_FILE).read_bytes())
    return folder


def grade_files(built, tmp_path, files, lock=True):
    submission = submit(built, tmp_path / "submission", files, lock)
    return grade.grade(built.autograder, submission, tmp_path / "results.json", tmp_path / "junit.xml")


# ---------------------------------------------------------------------------------------
# Blanking
# ---------------------------------------------------------------------------------------


def test_blanking_changes_only_the_body_and_keeps_every_other_line_byte_for_byte():
    source = (CHECKOUT / "minireg" / "functional.py").read_text()
    for qualname in ("mul.backward", "sum_to_shape", "log_softmax.backward"):
        found = blank.find_body(source, qualname)
        lines = source.splitlines(keepends=True)
        blanked = blank.blank(source, [(qualname, "7")]).splitlines(keepends=True)
        assert blanked[:found.first - 1] == lines[:found.first - 1]
        assert blanked[found.first:] == lines[found.last:]
        assert blanked[found.first - 1] == f'{found.indent}raise NotImplementedError("Task 7: implement {qualname}")\n'


def test_blanking_keeps_signature_docstring_and_windows_line_endings():
    source = TOY_OPS.replace("\n", "\r\n")
    blanked = blank.blank(source, [("cube", "2"), ("Scale.__call__", "3")])
    expected = (source.replace('    y = square(x)\r\n\r\n    return y * x\r\n',
                               '    raise NotImplementedError("Task 2: implement cube")\r\n')
                .replace('        return self.k * x\r\n',
                         '        raise NotImplementedError("Task 3: implement Scale.__call__")\r\n'))
    assert blanked == expected


@pytest.mark.parametrize("qualname, message", [
    ("nothing", "no function or class 'nothing' (target nothing); the names there are: square, cube"),
    ("Scale.nothing", "no function or class 'nothing' in Scale"),
    ("Scale", "Scale is a class, not a function"),
    ("undocumented", "undocumented has no docstring, and a function needs its own"),
    ("Scale.__repr__", "Scale.__repr__ has no docstring, and a method needs its own (the class docstring "
                       "describes the class, not what the method computes)"),
    ("thrice.composed", "thrice.composed has no docstring, and neither has the function thrice that defines it"),
])
def test_targets_that_do_not_exist_or_have_no_docstring_are_refused(qualname, message):
    with pytest.raises(blank.TargetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        blank.find_body(TOY_OPS, qualname, "toy/ops.py")


def test_a_nested_function_is_documented_by_the_function_that_defines_it():
    blanked = blank.blank(TOY_OPS, [("twice.composed", "4")])
    assert blanked == TOY_OPS.replace("        return f(f(x))\n",
                                      '        raise NotImplementedError("Task 4: implement twice.composed")\n')


def test_overlapping_targets_and_a_body_on_the_def_line_are_refused():
    with pytest.raises(blank.TargetError, match="overlap"):
        blank.blank(TOY_OPS + "\n\ndef outer(x):\n    '''o'''\n    def inner():\n        return x\n    return inner\n",
                    [("outer", "1"), ("outer.inner", "2")])
    with pytest.raises(blank.TargetError, match="on the line of its def"):
        blank.find_body('def f(x):\n    """d."""; return x\n', "f")


def test_every_target_of_every_shipped_assignment_blanks_and_the_blanked_minireg_imports(tmp_path):
    copy = tmp_path / "minireg"
    import shutil
    shutil.copytree(CHECKOUT / "minireg", copy, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    for name in spec.available(CHECKOUT):
        assignment = spec.load(CHECKOUT, name)
        for relative, text in build.blanked_files(assignment, CHECKOUT).items():
            compile(text, relative, "exec")
            (tmp_path / relative).write_text(text)
            for task in assignment.tasks:                        # the known-wrong bodies compile too
                for wrong in task.wrong:
                    if wrong.target.file_in(CHECKOUT) == relative:
                        compile(blank.replace_body(text, wrong.target.qualname, wrong.body), relative, "exec")
    modules = "minireg, minireg.functional, minireg.optim, minireg.regularizers, minireg.training, minireg.nn"
    finished = subprocess.run([sys.executable, "-W", "ignore", "-c", f"import {modules}"], cwd=tmp_path,
                              env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr


# ---------------------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    (lambda s: s.replace('id = "3a"', 'id = "3-a"'), "id '3-a' must be letters, digits and _"),
    (lambda s: s.replace("points = 3", "points = 0"), "points must be a number > 0"),
    (lambda s: s.replace('"toy.ops:cube"]', '"toy.ops.cube"]'), "is not module:qualname"),
    (lambda s: s + "colour = 1\n", "unknown key"),
    (lambda s: s.replace('tests = ["tests/test_ops.py::test_cube"]', 'tests = ["tests/other.py::test_cube"]'),
     "which is not in test_files"),
    (lambda s: s.replace('target = "toy.ops:square"', 'target = "toy.ops:cube"'), "not one of the task's targets"),
])
def test_bad_specs_are_refused_naming_the_file_and_key(tmp_path, change, message):
    (tmp_path / "assignments").mkdir()
    (tmp_path / "assignments" / "hw.toml").write_text(change(TOY_SPEC))
    with pytest.raises(spec.SpecError, match=message):
        spec.load(tmp_path, "hw")


def test_an_unknown_assignment_names_the_ones_there_are():
    with pytest.raises(spec.SpecError, match="no assignment 'nope'.*the assignments are: adversarial, autograd, convolution"):
        spec.load(CHECKOUT, "nope")


# ---------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------


def test_the_starter_has_blanked_targets_public_tests_only_and_no_compiled_twin(toy):
    root, built = toy
    starter = built.starter
    files = sorted(path.relative_to(starter).as_posix() for path in starter.rglob("*") if path.is_file())
    assert "toy/_ext/twin.pyx" not in files                     # its twin is blanked
    assert "tests/test_hidden.py" not in files and "tests/test_ops.py" in files and "tests/helpers.py" in files
    assert not any(name.startswith(("benchmarks/", "assignments/")) for name in files)
    assert {"HANDOUT.md", "conftest.py", "tasks.json", "assignment.lock"} <= set(files)
    text = (starter / "toy/ops.py").read_text()
    assert 'raise NotImplementedError("Task 1: implement square")' in text
    assert 'raise NotImplementedError("Task 3a: implement Scale.__call__")' in text
    assert "def undocumented(x):\n    return x\n" in text
    assert "hidden" not in (starter / "tasks.json").read_text().replace('"hidden": []', "")
    # the starter imports, and its own tests select by task
    finished = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "task_1"],
                              cwd=starter, env={"PYTHONPATH": str(starter), "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True)
    assert "2 failed, 3 deselected" in finished.stdout, finished.stdout


def test_the_lock_holds_the_commit_and_the_hash_of_every_generated_file(toy):
    root, built = toy
    lock = json.loads((built.starter / grade.LOCK_FILE).read_text())
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert lock["reference_commit"] == head
    assert lock["student_files"] == ["toy/kernels/twin.py", "toy/ops.py"]
    assert lock["starter"]["toy/ops.py"] == grade.sha256(built.starter / "toy/ops.py")
    assert set(lock["autograder"]) == {"graded/tests/test_ops.py", "graded/tests/test_hidden.py", "tasks.json"}
    assert (built.autograder / grade.LOCK_FILE).read_bytes() == (built.starter / grade.LOCK_FILE).read_bytes()


def test_uncommitted_changes_in_the_assignments_files_are_refused_unless_a_commit_is_named(tmp_path):
    root = make_toy(tmp_path / "repo")
    (root / "toy" / "ops.py").write_text(TOY_OPS + "\n# edited\n")
    with pytest.raises(build.BuildError, match="uncommitted changes in files of assignment hw: toy/ops.py"):
        build.build(root, "hw", tmp_path / "out")
    built = build.build(root, "hw", tmp_path / "out", commit="HEAD")
    assert "# edited" not in (built.starter / "toy" / "ops.py").read_text()      # the commit's file


def test_a_selection_that_matches_no_test_is_refused(tmp_path):
    root = make_toy(tmp_path / "repo", TOY_SPEC.replace("tests/test_ops.py::test_cube", "tests/test_ops.py::test_cub"))
    with pytest.raises(build.BuildError, match="'tests/test_ops.py::test_cub' matches no test"):
        build.build(root, "hw", tmp_path / "out")


# ---------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------


def test_the_reference_pasted_back_gets_full_points_in_gradescopes_shape(toy, tmp_path):
    _, built = toy
    graded = grade_files(built, tmp_path, built.reference)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results == graded["results"]
    assert results["score"] == pytest.approx(6.0)
    assert set(results) == {"score", "output", "visibility", "stdout_visibility", "tests"}
    assert "Hidden tests are graded later: 1 tests worth 1.5 points" in results["output"]
    by_name = {test["name"]: test for test in results["tests"]}
    assert sorted(by_name) == [
        "Task 1 (square): tests/test_ops.py::test_square",
        "Task 1 (square): tests/test_ops.py::test_square_of_a_negative",
        "Task 2 (cube): tests/test_hidden.py::test_cube_of_three",
        "Task 2 (cube): tests/test_ops.py::test_cube",
        "Task 3a (scale and double): tests/test_ops.py::test_scale_and_double"]
    hidden = by_name["Task 2 (cube): tests/test_hidden.py::test_cube_of_three"]
    assert hidden["visibility"] == "after_published" and hidden["max_score"] == 1.5
    assert {test["visibility"] for name, test in by_name.items() if "hidden" not in name} == {"visible"}
    assert all(set(test) == {"name", "number", "score", "max_score", "visibility", "tags"} for test in results["tests"])
    assert "<testsuite" in (tmp_path / "junit.xml").read_text()


def test_the_starter_scores_nothing_and_each_failure_says_why(toy, tmp_path):
    _, built = toy
    files = {relative: (built.starter / relative).read_text() for relative in built.reference}
    results = grade_files(built, tmp_path, files)["results"]
    assert results["score"] == 0
    assert all("NotImplementedError: Task" in test["output"] for test in results["tests"])


def test_a_submission_from_another_build_is_detected_and_not_graded(toy, tmp_path):
    _, built = toy
    submission = submit(built, tmp_path / "submission", built.reference)
    lock = json.loads((submission / grade.LOCK_FILE).read_text())
    lock["reference_commit"] = "0" * 40
    (submission / grade.LOCK_FILE).write_text(json.dumps(lock))
    results = grade.grade(built.autograder, submission, tmp_path / "r.json", tmp_path / "j.xml")["results"]
    assert results["score"] == 0
    assert "comes from another build of this assignment (commit 000000000000" in results["output"]


def test_files_uploaded_one_by_one_without_a_lock_are_graded(toy, tmp_path):
    _, built = toy
    flat = {Path(relative).name: text for relative, text in built.reference.items()}
    results = grade_files(built, tmp_path, flat, lock=False)["results"]
    assert results["score"] == pytest.approx(6.0)
    assert "No assignment.lock in the submission" in results["output"]


def test_an_autograder_whose_files_differ_from_its_lock_refuses_to_grade(tmp_path):
    root = make_toy(tmp_path / "repo")
    built = build.build(root, "hw", tmp_path / "out")
    (built.autograder / "graded" / "tests" / "test_hidden.py").write_text("def test_free():\n    pass\n")
    with pytest.raises(grade.AutograderError, match="graded/tests/test_hidden.py"):
        grade_files(built, tmp_path, built.reference)


# ---------------------------------------------------------------------------------------
# Check
# ---------------------------------------------------------------------------------------


def test_check_passes_a_sound_assignment(toy):
    root, _ = toy
    report = check.check(root, "hw", jobs=2)
    assert report.ok, report.problems
    assert any("blank toy.kernels.twin:double_numpy" in line for line in report.lines)


def test_check_finds_free_points_orphans_and_a_wrong_body_that_passes(tmp_path):
    spec_text = (TOY_SPEC.replace('tests = ["tests/test_ops.py::test_cube"]',
                                  'tests = ["tests/test_ops.py::test_cube", "tests/test_ops.py::test_unrelated"]')
                 .replace('body = "return x + x"', 'body = "return x ** 2"')
                 .replace('tests = ["tests/test_ops.py::test_scale_and_double"]',
                          'tests = ["tests/test_ops.py::test_square_of_a_negative"]')
                 .replace('tests = ["tests/test_ops.py -k square"]', 'tests = ["tests/test_ops.py::test_square"]'))
    root = make_toy(tmp_path / "repo", spec_text)
    problems = "\n".join(check.check(root, "hw").problems)
    assert "free points: with toy.ops:cube blanked, 1 test(s) of task 2 still pass: tests/test_ops.py::test_unrelated" \
        in problems
    assert "with toy.ops:Scale.__call__ blanked, 1 test(s) of task 3a still pass" in problems
    assert "the starter fails 1 test(s) that belong to no task: tests/test_ops.py::test_scale_and_double" in problems
    assert "wrong toy.ops:square #1 (doubles instead) passes every test of task 1" in problems


def test_the_compiled_kernels_of_the_shipped_cython_sources_go_into_each_graded_submission(tmp_path):
    starter, root = tmp_path / "starter", tmp_path / "root"
    for folder in (starter, root):
        (folder / "pkg" / "_ext").mkdir(parents=True)
        (folder / "pkg" / "_ext" / "kept.pyx").write_text("")
    (root / "pkg" / "_ext" / "kept.cpython-311-x86_64-linux-gnu.so").write_text("")
    (root / "pkg" / "_ext" / "dropped.cpython-311-x86_64-linux-gnu.so").write_text("")   # its .pyx is not shipped
    assert check.compiled_kernels(root, starter) == [
        (root / "pkg" / "_ext" / "kept.cpython-311-x86_64-linux-gnu.so", "pkg/_ext/kept.cpython-311-x86_64-linux-gnu.so")]


def test_cli_assignment_build_and_its_errors(tmp_path, capsys):
    root = make_toy(tmp_path / "repo")
    assert cli.main(["assignment", "--root", str(root), "build", "hw", "--out", str(tmp_path / "out")]) == 0
    assert "wrote " in capsys.readouterr().out and (tmp_path / "out" / "hw" / "autograder" / "grade.py").is_file()
    assert cli.main(["assignment", "--root", str(root), "check"]) == 1
    assert "give assignment names or --all" in capsys.readouterr().err
    assert cli.main(["assignment", "--root", str(root), "build", "nope"]) == 1
    assert "minireg: error: no assignment 'nope'" in capsys.readouterr().err
    assert cli.main(["assignment", "--root", str(root), "list"]) == 0
    assert capsys.readouterr().out == "hw: Toy powers\n"
