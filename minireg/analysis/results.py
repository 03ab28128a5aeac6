"""What a check returns: the two sides of an equation, how far apart they are, and the verdict.

A check (one function of the family modules of :mod:`minireg.analysis`) computes both
sides of an equation of the chapter on real numbers and returns a :class:`Comparison`;
:meth:`minireg.analysis.Check.run` adds the check's id, title and source and gives a
:class:`CheckResult`. Nothing here prints: :func:`as_text` formats a result for the
``minireg verify`` command.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Comparison:
    """The two sides of an equation as computed, and the discrepancy allowed between them.

    Attributes
    ----------
    left_label, right_label : str
        What each side is, in words ("minireg's fit with L2(alpha)", "the closed form").
    left, right : float or numpy.ndarray
        The two sides, as numbers or arrays.
    error : float
        How far apart they are, as ``measure`` says.
    tolerance : float
        The largest ``error`` that passes.
    measure : str
        How ``error`` is computed from the sides, e.g. ``"max |left - right| / max |right|"``.
    note : str
        A short text: the setting, and any other numbers worth seeing.
    """

    left_label: str
    left: object
    right_label: str
    right: object
    error: float
    tolerance: float
    measure: str
    note: str = ""

    @property
    def passed(self) -> bool:
        """Whether ``error <= tolerance`` (a NaN error fails)."""
        return bool(self.error <= self.tolerance)


def relative_difference(left, right) -> float:
    """``max |left - right| / max |right|``: 0 when the two sides agree exactly."""
    left, right = np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64)
    return float(np.max(np.abs(left - right)) / np.max(np.abs(right)))


def compare(left_label, left, right_label, right, tolerance, note="") -> Comparison:
    """A :class:`Comparison` whose error is :func:`relative_difference` of the sides."""
    return Comparison(left_label, left, right_label, right, relative_difference(left, right), tolerance,
                      "max |left - right| / max |right|", note)


@dataclass(frozen=True)
class CheckResult:
    """A check's outcome: which equation, its two sides, and the verdict.

    ``id`` is the draft chapter's equation or section number (the command's argument),
    ``title`` says what is checked, ``source`` where it is in the sources (draft and
    published sections).
    """

    id: str
    title: str
    source: str
    comparison: Comparison
    seconds: float

    @property
    def passed(self) -> bool:
        return self.comparison.passed


def _numbers(value, width: int = 80) -> str:
    """A side as one short line: a number, a vector (its first entries), or the last row
    of a matrix (a trajectory's end)."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return f"{float(array):.10g}"
    shown = array.reshape(-1, array.shape[-1])[-1] if array.ndim > 1 else array
    text = np.array2string(shown, precision=6, max_line_width=10**6, threshold=10**6, separator=" ")
    if len(text) > width:
        text = text[:width - 4].rsplit(" ", 1)[0] + " ...]"
    if array.ndim > 1:
        return f"{text}  (last row of shape {array.shape})"
    return f"{text}  (shape {array.shape})" if array.size > 8 else text


def as_text(result: CheckResult) -> str:
    """The result as ``minireg verify`` prints it: a header, both sides, the discrepancy
    against the tolerance, and the note."""
    c = result.comparison
    verdict = "PASS" if result.passed else "FAIL"
    lines = [f"[{verdict}] {result.id}  {result.title}",
             f"    source:    {result.source}",
             f"    left:      {c.left_label}",
             f"               {_numbers(c.left)}",
             f"    right:     {c.right_label}",
             f"               {_numbers(c.right)}",
             f"    error:     {c.error:.3g}  ({c.measure})  tolerance {c.tolerance:.3g}  "
             f"[{result.seconds:.2f} s]"]
    if c.note:
        lines.append(f"    note:      {c.note}")
    return "\n".join(lines)
