"""Coursework generated from the reference code: ``minireg assignment build|check``.

An assignment is a spec file, ``assignments/NAME.toml`` (read by :mod:`.spec`), kept
outside the library so that the code students read carries no answer markers. From it:

* :mod:`.blank` replaces the body of each target (a function, a method, a nested
  function such as an op's ``backward``) by ``raise NotImplementedError(...)``, through
  the syntax tree, keeping the signature, the docstring and every other line of the file;
* :mod:`.build` writes the starter package (an export of the reference at a pinned
  commit, blanked), the autograder (graded and hidden tests, the grading script) and the
  lock file that ties the two together;
* :mod:`.grade` is the autograder's grading script (standard library and pytest only, it
  is copied into the autograder as it is): it runs the tests of a submission and writes
  Gradescope's ``results.json`` and a JUnit XML file;
* :mod:`.check` proves an assignment sound: the reference passes, each blanked target
  fails every test of its task, the starter fails nothing else, wrong bodies fail.

docs/coursework.md is the instructors' page.
"""
