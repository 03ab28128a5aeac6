"""``minireg assignment build|check|list``: the command line of :mod:`minireg.coursework`.

:mod:`minireg.cli` adds the parser (:func:`add_parser`) and calls :func:`run`; a
:class:`CommandError` becomes its one-line error (exit status 1).
"""
from __future__ import annotations

from pathlib import Path


class CommandError(Exception):
    """An expected failure: a bad spec, a build that cannot go on, bad options."""


def add_parser(commands, parser_class) -> None:
    """Add ``assignment`` to the subcommands ``commands`` of the ``minireg`` parser."""
    parser = commands.add_parser("assignment", help="coursework: minireg assignment build|check|list",
                                 description="Coursework generated from the reference code: a starter package, "
                                             "an autograder and a lock per assignments/NAME.toml "
                                             "(docs/coursework.md).")
    parser.add_argument("--root", default=None, help="the minireg source checkout (default: the one imported)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class, required=True)
    build = actions.add_parser("build", help="write OUT/NAME/starter and OUT/NAME/autograder")
    build.add_argument("name", help="an assignment: assignments/NAME.toml")
    build.add_argument("--out", default="coursework", help="the folder to build into (default: coursework)")
    build.add_argument("--commit", default=None, help="the reference commit to export (default: HEAD, refused "
                                                      "when the assignment's files have uncommitted changes)")
    check = actions.add_parser("check", help="prove assignments sound: the reference passes, each blank fails "
                                             "its task, the starter fails nothing else")
    check.add_argument("names", nargs="*", help="assignments to check (or --all)")
    check.add_argument("--all", action="store_true", help="check every assignment in assignments/")
    check.add_argument("--jobs", type=int, default=2, help="pytest processes side by side (default: 2)")
    check.add_argument("--commit", default=None, help="as for build")
    actions.add_parser("list", help="the assignments, with their titles")


def run(arguments, out) -> int:
    """Carry out the parsed ``arguments``; write to ``out``; return the exit status."""
    from minireg.coursework import build, check, spec

    root = Path(arguments.root) if arguments.root else Path(__file__).resolve().parents[2]
    try:
        if arguments.action == "list":
            for name in spec.available(root):
                out.write(f"{name}: {spec.load(root, name).title}\n")
            return 0
        if arguments.action == "build":
            built = build.build(root, arguments.name, arguments.out, commit=arguments.commit)
            out.write(f"wrote {built.starter} and {built.autograder} (reference commit "
                      f"{built.lock['reference_commit'][:12]})\n")
            return 0
        if arguments.all == bool(arguments.names):
            raise CommandError("minireg assignment check: give assignment names or --all (not both)")
        if arguments.jobs < 1:
            raise CommandError(f"--jobs must be an integer >= 1, got {arguments.jobs}")
        names = spec.available(root) if arguments.all else arguments.names
        for name in names:
            spec.load(root, name)                   # every spec read before any work
    except (spec.SpecError, build.BuildError, ValueError) as error:
        raise CommandError(str(error)) from None
    reports = []
    for name in names:
        try:
            reports.append(check.check(root, name, jobs=arguments.jobs, commit=arguments.commit))
        except (build.BuildError, ValueError) as error:    # reported with the others' results
            reports.append(check.Report(name=name, problems=[f"cannot build it: {error}"], lines=[name], seconds=0.0))
        out.write(_report_text(reports[-1]))
        out.flush()
    failed = [report.name for report in reports if not report.ok]
    total = sum(report.seconds for report in reports)
    out.write(f"{len(reports) - len(failed)} of {len(reports)} assignments sound in {total:.0f} s"
              + (f"; problems in {', '.join(failed)}\n" if failed else "\n"))
    return 1 if failed else 0


def _report_text(report) -> str:
    verdict = "sound" if report.ok else "PROBLEMS:\n" + "".join(f"  - {problem}\n" for problem in report.problems)
    return "\n".join(report.lines) + f"\n  {report.seconds:.1f} s: {verdict}\n"
