"""Replace the body of a function by another, through the syntax tree, changing no other line.

The function is found by its qualified name in the module's syntax tree (``ast``): a
function, a method (``SGD.step``) or a function nested in one (``mul.backward``, the
closure an op hands to autograd). Its *body* is the lines from the one after the
docstring to the end of its last statement; those lines, and only those, are replaced.
The signature, the decorators, the docstring and every other line of the file stay byte
for byte, line endings included.

A target must have a docstring of its own, since its docstring is what tells the
student what to implement, with one exception: a function nested in a function (an
op's ``backward`` closure) is documented by the function that defines it, whose
docstring states the operation. A method (``SGD._update``) needs its own: the class
docstring describes the class, not what the method must compute.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


class TargetError(ValueError):
    """A target that cannot be blanked; the message names it and says why."""


@dataclass(frozen=True)
class BodyLines:
    """Where a function's body is: lines ``first`` to ``last`` (1-based, inclusive), and
    the indentation of its statements."""

    first: int
    last: int
    indent: str


def not_implemented(task_id: str, qualname: str) -> str:
    """The one statement a blanked body holds."""
    return f'raise NotImplementedError("Task {task_id}: implement {qualname}")'


def find_body(source: str, qualname: str, where: str = "<module>") -> BodyLines:
    """The body of the function ``qualname`` in ``source``; :class:`TargetError` when it does
    not exist, has no docstring (see the module docstring), or shares the line of its ``def``."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise TargetError(f"{where}: cannot parse the module: {error}") from None
    parents, node = [], tree
    for depth, name in enumerate(qualname.split(".")):
        found = _child_named(node, name)
        if found is None:
            inside = f" in {'.'.join(qualname.split('.')[:depth])}" if depth else ""
            raise TargetError(f"{where}: no function or class {name!r}{inside} (target {qualname}); "
                              f"the names there are: {', '.join(_child_names(node)) or 'none'}")
        parents.append(node)
        node = found
    if not isinstance(node, _FUNCTIONS):
        raise TargetError(f"{where}: {qualname} is a class, not a function; name one of its methods "
                          f"({qualname}.NAME)")
    docstring = ast.get_docstring(node, clean=False) is not None
    if not docstring:
        _check_documented_by_enclosing(parents[-1], qualname, where)
    statements = node.body[1:] if docstring else node.body
    if not statements:
        raise TargetError(f"{where}: {qualname} has nothing but its docstring: there is no body to blank")
    lines = source.splitlines()
    start = statements[0]
    indent = lines[start.lineno - 1][:start.col_offset]
    if indent.strip():
        raise TargetError(f"{where}: {qualname} has its body on the line of its def or docstring; put it on "
                          "lines of its own")
    first = node.body[0].end_lineno + 1 if docstring else start.lineno
    return BodyLines(first=first, last=statements[-1].end_lineno, indent=indent)


def replace_body(source: str, qualname: str, body: str, where: str = "<module>") -> str:
    """``source`` with the body of ``qualname`` replaced by ``body`` (Python statements,
    any indentation; they are dedented and indented as the old body was)."""
    lines = source.splitlines(keepends=True)
    found = find_body(source, qualname, where)
    newline = _line_ending(lines[found.last - 1])
    statements = textwrap.dedent(body).strip("\n").splitlines()
    new = [(found.indent + line if line.strip() else "") + newline for line in statements]
    return "".join(lines[:found.first - 1] + new + lines[found.last:])


def blank(source: str, targets, where: str = "<module>") -> str:
    """``source`` with the body of each ``(qualname, task_id)`` in ``targets`` replaced by
    :func:`not_implemented`. Targets may not contain one another."""
    spans = sorted(((find_body(source, name, where), name, task) for name, task in targets),
                   key=lambda item: item[0].first, reverse=True)
    for (outer, outer_name, _), (inner, inner_name, _) in zip(spans, spans[1:]):
        if inner.last >= outer.first:
            raise TargetError(f"{where}: targets {inner_name} and {outer_name} overlap; blank one of them")
    for _, name, task in spans:                 # bottom up, so line numbers above stay valid
        source = replace_body(source, name, not_implemented(task, name), where)
    return source


def _check_documented_by_enclosing(enclosing, qualname: str, where: str) -> None:
    """Accept a target without a docstring only when it is nested in a documented function."""
    if isinstance(enclosing, _FUNCTIONS):
        if ast.get_docstring(enclosing) is not None:
            return
        reason = f"and neither has the function {enclosing.name} that defines it"
    elif isinstance(enclosing, ast.ClassDef):
        reason = ("and a method needs its own (the class docstring describes the class, not what the "
                  "method computes)")
    else:
        reason = "and a function needs its own"
    raise TargetError(f"{where}: {qualname} has no docstring, {reason}; a target keeps its docstring to tell "
                      "the student what to implement: write one (a line or two: what it computes, with the "
                      "equation) first")


def _child_named(node, name):
    for child in _children(node):
        if child.name == name:
            return child
    return None


def _child_names(node) -> list:
    return [child.name for child in _children(node)]


def _children(node):
    """The functions and classes defined directly in ``node``'s body (inside if/try/with
    blocks too, but not inside other functions or classes)."""
    stack = list(reversed(node.body))
    while stack:
        child = stack.pop()
        if isinstance(child, (*_FUNCTIONS, ast.ClassDef)):
            yield child
        elif not isinstance(child, ast.Lambda):
            for block in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(reversed([item for item in getattr(child, block, []) if isinstance(item, ast.AST)]))


def _line_ending(line: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if line.endswith(ending):
            return ending
    return "\n"
